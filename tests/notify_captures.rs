//! Requests compared with what the reference agent sent to a real Heat (captures of a
//! CFN-signalled and a Heat-signalled stack: metadata inputs and the agent's requests).
//! The captured values are inlined so the tests run anywhere; only the host is moved to loopback.

mod common;

use common::{Response, Server};
use serde_json::{json, Value};
use std::process::Command;

/// The signal body the reference sent for revision 1 (both captures), byte for byte.
const CAPTURED_BODY: &str = r#"{"result": "rev1:hello:CREATE", "deploy_stdout": "revision 1 action CREATE message hello\n", "deploy_stderr": "to stderr\n", "deploy_status_code": 0}"#;

fn run_notify(config: &Value, stdin: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, serde_json::to_vec(config).unwrap()).unwrap();
    let mut c = Command::new(common::legacy(dir.path(), "heat-config-notify"));
    c.arg(&cfg)
        .env("HEAT_AGENT_STATE_DIR", dir.path().join("state"))
        .env("HEAT_AGENT_NOTIFY_WAIT", "0")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY");
    common::output_with_stdin(&mut c, stdin.as_bytes())
}

fn inputs(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(n, v)| json!({"name": n, "value": v, "type": "String"}))
            .collect(),
    )
}

#[test]
fn cfn_signal_matches_the_capture() {
    let srv = Server::start(|_| {
        Response::new(200, "").header("Content-Type", "text/html; charset=UTF-8")
    });
    let raw_uri = "/v1/signal/arn%3Aopenstack%3Aheat%3A%3Af0648ce32cff4ac59ee78cd112e15667%3Astacks/cfn-cfn/685bd710-3e39-4626-916f-89c49f049a7c/resources/deployment?SignatureMethod=HmacSHA256&SignatureVersion=2&AWSAccessKeyId=e9fc0f8039514bcb92be46402379ee26&Timestamp=2026-11-23T04%3A58%3A23Z&Signature=XvlG3QzsJ6LPb5%2FqPvpazmdo1zxGn9MzU0%2BMD5wvGbM%3D";
    let config = json!({
        "id": "9adc0b4a-d28d-426a-a77b-a4596bed4bca",
        "name": "cfn-cfn-config-pquo6fsu3kp5",
        "group": "script",
        "inputs": inputs(&[
            ("deploy_server_id", "893a1a89-be2e-446d-a54a-3c7a7343f7ae"),
            ("deploy_action", "CREATE"),
            ("deploy_stack_id", "cfn-cfn/685bd710-3e39-4626-916f-89c49f049a7c"),
            ("deploy_resource_name", "deployment"),
            ("deploy_signal_transport", "CFN_SIGNAL"),
            ("deploy_signal_id", &srv.url(raw_uri)),
            ("deploy_signal_verb", "POST"),
        ]),
    });
    let out = run_notify(&config, CAPTURED_BODY);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, raw_uri);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("content-length"), Some("149"));
    assert_eq!(String::from_utf8_lossy(&r.body), CAPTURED_BODY);
}

#[test]
fn heat_signal_matches_the_capture() {
    const PROJECT: &str = "14ad48c00cce4926a2c6a588f455972d";
    const USER: &str = "4a47c20f80144b2fa512a65dc220811b";
    let srv = Server::start(|_| Response::new(500, ""));
    let base = srv.url("");
    srv.set_handler(move |r| {
        if r.path() == "/v3/auth/tokens" {
            // the captured catalog's shape, endpoints moved to the loopback server
            let ep = |iface: &str, url: String| json!({"id": "x", "interface": iface, "region_id": "RegionOne", "url": url, "region": "RegionOne"});
            let catalog = json!([
                {"endpoints": [ep("public", base.clone()), ep("internal", base.clone())], "type": "identity", "name": "keystone"},
                {"endpoints": [ep("public", format!("{base}/v1/{PROJECT}")), ep("internal", format!("{base}/v1/{PROJECT}")),
                               ep("admin", format!("{base}/v1/{PROJECT}"))], "id": "d7e5", "type": "orchestration", "name": "heat"},
                {"endpoints": [ep("public", format!("{base}/v1"))], "type": "cloudformation", "name": "heat-cfn"},
            ]);
            return Response::json(201, &json!({"token": {"methods": ["password"], "catalog": catalog,
                                                         "expires_at": "2026-11-24T04:59:29.000000Z"}}))
                .header("X-Subject-Token", "gAAAAABrA8gyBIqC_8_tikEwAHsLAduTSFX");
        }
        Response::json(200, &Value::Null)
    });
    let config = json!({
        "id": "e3c4a1c2-0000-4000-8000-000000000001",
        "group": "script",
        "inputs": inputs(&[
            ("deploy_server_id", "95df1e92-5909-4457-a3ab-4f207df4b3f1"),
            ("deploy_action", "CREATE"),
            ("deploy_stack_id", "heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e"),
            ("deploy_resource_name", "deployment"),
            ("deploy_signal_transport", "HEAT_SIGNAL"),
            ("deploy_auth_url", &srv.url("/v3/")),
            ("deploy_username", "heat-heat-deployment-snt7rju2blf3"),
            ("deploy_user_id", USER),
            ("deploy_password", "not-the-captured-password"),
            ("deploy_project_id", PROJECT),
            ("deploy_region_name", "RegionOne"),
        ]),
    });
    let out = run_notify(&config, CAPTURED_BODY);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let auth = &reqs[0];
    assert_eq!(
        (auth.method.as_str(), auth.target.as_str()),
        ("POST", "/v3/auth/tokens")
    );
    assert_eq!(auth.header("content-type"), Some("application/json"));
    assert_eq!(auth.header("accept"), Some("application/json"));
    assert_eq!(
        auth.body_json(),
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": "not-the-captured-password", "id": USER}}},
                        "scope": {"project": {"id": PROJECT}}}})
    );
    // byte for byte what keystoneclient sent in the capture (key order included)
    assert_eq!(
        String::from_utf8_lossy(&auth.body),
        format!(
            r#"{{"auth": {{"identity": {{"methods": ["password"], "password": {{"user": {{"password": "not-the-captured-password", "id": "{USER}"}}}}}}, "scope": {{"project": {{"id": "{PROJECT}"}}}}}}}}"#
        )
    );
    let sig = &reqs[1];
    assert_eq!(sig.method, "POST");
    assert_eq!(
        sig.target,
        format!("/v1/{PROJECT}/stacks/heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e/resources/deployment/signal")
    );
    assert_eq!(
        sig.header("x-auth-token"),
        Some("gAAAAABrA8gyBIqC_8_tikEwAHsLAduTSFX")
    );
    assert_eq!(sig.header("content-type"), Some("application/json"));
    assert_eq!(sig.header("accept"), Some("application/json"));
    assert_eq!(sig.header("content-length"), Some("149"));
    assert_eq!(String::from_utf8_lossy(&sig.body), CAPTURED_BODY);
}
