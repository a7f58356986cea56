//! `heat-config-notify` / `heat-agent notify` against loopback receivers: the reference's
//! test_heat_config_notify.py ported, plus Zaqar and the exact wire format of every transport.

mod common;

use common::{Request, Response, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::NotifyDir as Env;

impl Env {
    fn cmd(&self, legacy: bool) -> Command {
        let mut c = if legacy {
            Command::new(common::legacy(self.dir.path(), "heat-config-notify"))
        } else {
            let mut c = Command::new(common::bin());
            c.arg("notify");
            c
        };
        c.env("HEAT_AGENT_STATE_DIR", self.state())
            .env("HEAT_AGENT_NOTIFY_BACKOFF", "0.05")
            .env("HEAT_AGENT_NOTIFY_WAIT", "20")
            .env("HEAT_AGENT_LOG_LEVEL", "debug")
            .env_remove("RUST_LOG")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY");
        c
    }
    /// Run with `args` and `stdin`.
    fn run(&self, legacy: bool, args: &[&Path], stdin: &[u8]) -> Output {
        common::output_with_stdin(self.cmd(legacy).args(args), stdin)
    }
    fn record(&self, id: &str) -> Value {
        let p = self.state().join("outbox").join(format!("{id}.json"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entry(inputs: &[(&str, Value)]) -> Value {
    let list: Vec<Value> = inputs
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({"id": "5555", "group": "script", "inputs": list, "config": "five"})
}

fn data_signal_id(url: &str) -> Value {
    entry(&[("deploy_signal_id", json!(url))])
}

#[test]
fn test_notify_missing_file() {
    let env = Env::new();
    let missing = env.dir.path().join("nope.json");
    let out = env.run(true, &[&missing], br#"{"foo": "bar"}"#);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("No config file"), "{}", stderr(&out));
}

#[test]
fn test_notify_missing_file_arg() {
    let env = Env::new();
    let out = env.run(true, &[], br#"{"foo": "bar"}"#);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Usage:"), "{}", stderr(&out));
    let out = env.run(false, &[], b"");
    assert_eq!(out.status.code(), Some(1));
}

fn ok_server(status: u16) -> Server {
    Server::start(move |_| Response::new(status, ""))
}

fn assert_one_signal(srv: &Server, method: &str, body: &str) -> Request {
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = reqs[0].clone();
    assert_eq!(r.method, method);
    assert_eq!(r.path(), "/foo");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(String::from_utf8_lossy(&r.body), body);
    assert!(r.header("x-auth-token").is_none());
    r
}

#[test]
fn test_notify_signal_id() {
    for legacy in [true, false] {
        let env = Env::new();
        let srv = ok_server(200);
        let cfg = env.config(&data_signal_id(&srv.url("/foo")));
        let out = env.run(legacy, &[&cfg], br#"{"foo": "bar"}"#);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_one_signal(&srv, "POST", r#"{"foo": "bar"}"#);
        let rec = env.record("5555");
        assert_eq!(rec["state"], json!("delivered"));
        assert_eq!(rec["transport"], json!("cfn"));
        assert_eq!(rec["attempts"], json!(1));
        assert_eq!(rec["last_status"], json!(200));
    }
}

#[test]
fn test_notify_signal_id_put() {
    let env = Env::new();
    let srv = ok_server(201);
    let cfg = env.config(&entry(&[
        ("deploy_signal_id", json!(srv.url("/foo"))),
        ("deploy_signal_verb", json!("PUT")),
    ]));
    let out = env.run(true, &[&cfg], br#"{"foo": "bar"}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_signal(&srv, "PUT", r#"{"foo": "bar"}"#);
    assert_eq!(env.record("5555")["transport"], json!("temp_url"));
}

#[test]
fn test_notify_signal_id_empty_data() {
    let env = Env::new();
    let srv = ok_server(200);
    let cfg = env.config(&data_signal_id(&srv.url("/foo")));
    let out = env.run(true, &[&cfg], b"");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_signal(&srv, "POST", "{}");
    assert!(stderr(&out).contains("No valid json found on stdin"));
}

#[test]
fn test_notify_signal_id_invalid_json_data() {
    let env = Env::new();
    let srv = ok_server(200);
    let cfg = env.config(&data_signal_id(&srv.url("/foo")));
    let signal = r#"{"foo": "bar"}"#;
    let stdin = format!("{signal}{}", &signal[..signal.len() - 3]);
    let out = env.run(true, &[&cfg], stdin.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_signal(&srv, "POST", "{}");
}

#[test]
fn cfn_signed_url_is_sent_verbatim_and_never_logged() {
    let env = Env::new();
    let srv = ok_server(200);
    let target = "/v1/signal/arn%3Aopenstack%3Aheat%3A%3Af06%3Astacks/cfn-cfn/685b/resources/deployment\
                  ?SignatureMethod=HmacSHA256&SignatureVersion=2&AWSAccessKeyId=e9fc0f80&Timestamp=2026-11-23T04%3A58%3A23Z\
                  &Signature=XvlG3QzsJ6LPb5%2FqPvpazmdo1zxGn9MzU0%2BMD5wvGbM%3D";
    let cfg = env.config(&data_signal_id(&srv.url(target)));
    let signal = r#"{"result": "rev1:h\u00e9llo", "deploy_stdout": "x\n", "deploy_stderr": "", "deploy_status_code": 0}"#;
    let out = env.run(true, &[&cfg], signal.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = srv.requests()[0].clone();
    assert_eq!(r.target, target);
    // Python json.dumps: ensure_ascii, ", " and ": " separators, key order kept
    assert_eq!(String::from_utf8_lossy(&r.body), signal);
    let err = stderr(&out);
    assert!(!err.contains("XvlG3QzsJ6LPb5"), "{err}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.state().join("outbox/5555.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // once delivered, the signed URL is no longer kept on disk
    let text = std::fs::read_to_string(env.state().join("outbox/5555.json")).unwrap();
    assert!(!text.contains("XvlG3QzsJ6LPb5"), "{text}");
    assert_eq!(env.record("5555")["state"], json!("delivered"));
}

/// A Keystone v3 + Heat + Zaqar pair on one loopback server. The catalog has two regions.
fn openstack() -> Server {
    let srv = Server::start(|_| Response::new(500, ""));
    let base = srv.url("");
    srv.set_handler(move |r| {
        if r.method == "POST" && r.path() == "/identity/v3/auth/tokens" {
            let ep = |svc: &str, region: &str| {
                json!({"interface": "public", "region_id": region, "region": region, "url": format!("{base}/{svc}-{region}/v1/proj")})
            };
            let catalog = json!([
                {"type": "identity", "endpoints": [ep("identity", "RegionOne")]},
                {"type": "orchestration", "endpoints": [
                    {"interface": "internal", "region_id": "RegionOne", "url": format!("{base}/internal")},
                    ep("heat", "RegionTwo"), ep("heat", "RegionOne")]},
                {"type": "messaging", "endpoints": [ep("zaqar", "RegionTwo")]},
            ]);
            return Response::json(201, &json!({"token": {"catalog": catalog, "expires_at": "2099-01-01T00:00:00Z"}}))
                .header("X-Subject-Token", "tok-secret-123456");
        }
        if r.path().contains("/signal") {
            return Response::json(200, &Value::Null);
        }
        if r.path().contains("/v2/queues/") && !r.path().contains("old-zaqar") {
            return Response::new(201, "");
        }
        if r.path().contains("/v1.1/queues/") {
            return Response::new(if r.method == "PUT" { 204 } else { 201 }, "");
        }
        Response::new(404, "not found")
    });
    srv
}

fn heat_inputs(auth_url: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("deploy_auth_url", json!(auth_url)),
        ("deploy_user_id", json!("aaaa")),
        ("deploy_password", json!("password-s3cret")),
        ("deploy_project_id", json!("bbbb")),
        ("deploy_stack_id", json!("cccc/1234")),
        ("deploy_resource_name", json!("the_resource")),
    ]
}

fn assert_keystone_auth(r: &Request) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/identity/v3/auth/tokens");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.body_json(),
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "aaaa", "password": "password-s3cret"}}},
                        "scope": {"project": {"id": "bbbb"}}}})
    );
}

fn do_test_notify_heat_signal(region: Option<Value>, expected_prefix: &str) {
    let env = Env::new();
    let srv = openstack();
    let mut inputs = heat_inputs(&srv.url("/identity/v3"));
    if let Some(r) = region {
        inputs.push(("deploy_region_name", r));
    }
    let cfg = env.config(&entry(&inputs));
    let out = env.run(true, &[&cfg], br#"{"foo": "bar"}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_keystone_auth(&reqs[0]);
    let s = &reqs[1];
    assert_eq!(s.method, "POST");
    assert_eq!(
        s.path(),
        format!("{expected_prefix}/stacks/cccc/1234/resources/the_resource/signal")
    );
    assert_eq!(s.header("x-auth-token"), Some("tok-secret-123456"));
    assert_eq!(s.header("content-type"), Some("application/json"));
    assert_eq!(s.header("accept"), Some("application/json"));
    assert_eq!(String::from_utf8_lossy(&s.body), r#"{"foo": "bar"}"#);
    let err = stderr(&out);
    assert!(
        !err.contains("password-s3cret") && !err.contains("tok-secret-123456"),
        "{err}"
    );
    assert_eq!(env.record("5555")["transport"], json!("heat"));
}

#[test]
fn test_notify_heat_signal() {
    do_test_notify_heat_signal(Some(json!("RegionOne")), "/heat-RegionOne/v1/proj");
}

#[test]
fn test_notify_heat_signal_no_region() {
    // no region: the first public orchestration endpoint, whatever its region
    do_test_notify_heat_signal(None, "/heat-RegionTwo/v1/proj");
}

#[test]
fn test_notify_heat_signal_unknown_region() {
    // a null region means "any region", like the reference's region_name=None
    do_test_notify_heat_signal(Some(Value::Null), "/heat-RegionTwo/v1/proj");
}

#[test]
fn heat_signal_region_missing_from_catalog_fails_permanently() {
    let env = Env::new();
    let srv = openstack();
    let mut inputs = heat_inputs(&srv.url("/identity/v3"));
    inputs.push(("deploy_region_name", json!("RegionNine")));
    let cfg = env.config(&entry(&inputs));
    let out = env.run(true, &[&cfg], br#"{"foo": "bar"}"#);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(srv.requests().len(), 1);
    let rec = env.record("5555");
    assert_eq!(rec["state"], json!("failed"));
    assert!(rec["last_error"].as_str().unwrap().contains("RegionNine"));
}

#[test]
fn zaqar_signal_posts_the_message_with_api_v2() {
    let env = Env::new();
    let srv = openstack();
    let mut inputs = heat_inputs(&srv.url("/identity/v3"));
    inputs.push(("deploy_queue_id", json!("q-1234")));
    let cfg = env.config(&entry(&inputs));
    let out = env.run(true, &[&cfg], br#"{"foo": "bar", "deploy_status_code": 0}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_keystone_auth(&reqs[0]);
    let post = &reqs[1];
    assert_eq!(
        (post.method.as_str(), post.path()),
        ("POST", "/zaqar-RegionTwo/v1/proj/v2/queues/q-1234/messages")
    );
    assert_eq!(post.header("x-auth-token"), Some("tok-secret-123456"));
    assert_eq!(post.header("x-project-id"), Some("bbbb"));
    assert_eq!(post.header("client-id").map(str::len), Some(36));
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(
        post.body_json(),
        json!({"messages": [{"body": {"foo": "bar", "deploy_status_code": 0}, "ttl": 3600}]})
    );
    assert_eq!(env.record("5555")["transport"], json!("zaqar"));
}

/// A Zaqar without API v2 (404 there): the reference's v1.1 exchange, PUT queue then POST.
#[test]
fn zaqar_signal_falls_back_to_v1_1_creating_the_queue() {
    let env = Env::new();
    let srv = openstack();
    let mut inputs = heat_inputs(&srv.url("/identity/v3"));
    inputs.push(("deploy_queue_id", json!("old-zaqar-q")));
    let cfg = env.config(&entry(&inputs));
    let out = env.run(true, &[&cfg], br#"{"foo": "bar", "deploy_status_code": 0}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    let (v2, put, post) = (&reqs[1], &reqs[2], &reqs[3]);
    assert_eq!(
        v2.path(),
        "/zaqar-RegionTwo/v1/proj/v2/queues/old-zaqar-q/messages"
    );
    assert_eq!(
        (put.method.as_str(), put.path()),
        ("PUT", "/zaqar-RegionTwo/v1/proj/v1.1/queues/old-zaqar-q")
    );
    assert_eq!(
        (post.method.as_str(), post.path()),
        (
            "POST",
            "/zaqar-RegionTwo/v1/proj/v1.1/queues/old-zaqar-q/messages"
        )
    );
    for r in [put, post] {
        assert_eq!(r.header("x-auth-token"), Some("tok-secret-123456"));
        assert_eq!(r.header("x-project-id"), Some("bbbb"));
    }
    let client = v2.header("client-id").unwrap();
    assert_eq!(put.header("client-id"), Some(client));
    assert_eq!(post.header("client-id"), Some(client));
    assert_eq!(
        post.body_json(),
        json!({"messages": [{"body": {"foo": "bar", "deploy_status_code": 0}, "ttl": 3600}]})
    );
}

#[test]
fn no_signal_inputs_send_nothing_and_succeed() {
    let env = Env::new();
    let cfg = env.config(&entry(&[("deploy_signal_transport", json!("NO_SIGNAL"))]));
    let out = env.run(true, &[&cfg], br#"{"foo": "bar"}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = env.record("5555");
    assert_eq!(
        (rec["state"].clone(), rec["transport"].clone()),
        (json!("delivered"), json!("none"))
    );
    assert_eq!(rec["attempts"], json!(0));
}

#[test]
fn unusable_state_dir_still_delivers() {
    let env = Env::new();
    let srv = ok_server(200);
    let cfg = env.config(&data_signal_id(&srv.url("/foo")));
    // a regular file where the state directory should be
    let blocker = env.dir.path().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let mut c = env.cmd(true);
    c.env("HEAT_AGENT_STATE_DIR", blocker.join("state"));
    c.arg(&cfg).stdin(Stdio::null());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_one_signal(&srv, "POST", "{}");
    assert!(stderr(&out).contains("without a durable copy"));
}

#[test]
fn help_lists_the_contract() {
    let out = Command::new(common::bin())
        .args(["notify", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CONFIG"));
}

/// The reference heat-config-notify from the venv, or None (skip) when it is not installed.
fn reference_notify() -> Option<(PathBuf, PathBuf)> {
    let script = "heat-agents/heat-config/bin/heat-config-notify";
    let venv = common::reference_venv(&["bin/python", script])?;
    Some((venv.join("bin/python"), venv.join(script)))
}

#[test]
fn differential_http_signal_matches_reference() {
    let Some((python, script)) = reference_notify() else {
        return;
    };
    let signals = [
        r#"{"deploy_stdout": "h\u00e9llo \ud83d\ude00\n\ttab \"q\" \\ \u0001", "deploy_stderr": "", "deploy_status_code": 0}"#,
        r#"{"result": [1, 2.5, 1e100, -0.0, 12345678901234567890, true, null, {"a": {}}], "deploy_status_code": "0"}"#,
        "not json",
    ];
    for verb in ["POST", "PUT"] {
        for signal in signals {
            let env = Env::new();
            let srv = ok_server(200);
            let cfg = env.config(&entry(&[
                ("deploy_signal_id", json!(srv.url("/foo?a=1&b=%2F"))),
                ("deploy_signal_verb", json!(verb)),
            ]));
            let out = env.run(true, &[&cfg], signal.as_bytes());
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            let mut child = Command::new(&python)
                .arg(&script)
                .arg(&cfg)
                .env_remove("HTTP_PROXY")
                .env_remove("http_proxy")
                .env_remove("ALL_PROXY")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(signal.as_bytes())
                .unwrap();
            let ref_out = child.wait_with_output().unwrap();
            assert_eq!(ref_out.status.code(), Some(0), "{}", stderr(&ref_out));
            let reqs = srv.requests();
            assert_eq!(reqs.len(), 2, "{reqs:?}");
            let (ours, theirs) = (&reqs[0], &reqs[1]);
            assert_eq!(ours.method, theirs.method);
            assert_eq!(ours.target, theirs.target);
            assert_eq!(ours.header("content-type"), theirs.header("content-type"));
            assert_eq!(
                String::from_utf8_lossy(&ours.body),
                String::from_utf8_lossy(&theirs.body),
                "{verb} {signal}"
            );
        }
    }
}
