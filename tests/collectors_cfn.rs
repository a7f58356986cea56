//! `cfn` collector against a loopback heat-api-cfn that verifies the AWS signature v2
//! server-side (ports of test_cfn.py, plus the W-C1 crash paths).

mod collectors_support;
mod common;

use base64::Engine;
use collectors_support::*;
use common::{Request, Response, Server};
use heat_agent::config::Settings;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;

const SECRET: &str = "d5Iq^VEFAGKE&ooNRjRi8Bd!od%z2wz^";
const ACCESS_KEY: &str = "0c2c34a783dc498fbd162b0df22d5054";

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn aws_quote(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The server's own check, written independently of the agent's signer.
fn signature_ok(req: &Request) -> bool {
    let params: Vec<(String, String)> = req
        .query()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (form_decode(k), form_decode(v)))
        .collect();
    let Some(given) = params
        .iter()
        .find(|p| p.0 == "Signature")
        .map(|p| p.1.clone())
    else {
        return false;
    };
    let sorted: BTreeMap<&str, &str> = params
        .iter()
        .filter(|p| p.0 != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let canonical: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", aws_quote(k), aws_quote(v)))
        .collect();
    let host = req.header("host").unwrap_or("");
    let to_sign = format!("GET\n{host}\n{}\n{}", req.path(), canonical.join("&"));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()) == given
}

fn param(req: &Request, key: &str) -> Option<String> {
    req.query()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| form_decode(v))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn describe_response(resource: &str, metadata: &Value) -> String {
    format!(
        "<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail>\
         <Description></Description><LogicalResourceId>{resource}</LogicalResourceId>\
         <Metadata>{}</Metadata><ResourceStatus>CREATE_COMPLETE</ResourceStatus>\
         </StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>",
        xml_escape(&metadata.to_string())
    )
}

/// A heat-api-cfn: 403 on a bad signature, else metadata per LogicalResourceId.
fn cfn_server(metadata: Value) -> Server {
    Server::start(move |req| {
        if req.path() != "/v1/" || !signature_ok(req) {
            return Response::new(403, "<ErrorResponse>SignatureDoesNotMatch</ErrorResponse>");
        }
        let resource = param(req, "LogicalResourceId").unwrap_or_default();
        let md = metadata
            .get(&resource)
            .cloned()
            .unwrap_or_else(|| metadata.clone());
        Response::new(200, describe_response(&resource, &md))
            .header("Content-Type", "application/xml; charset=UTF-8")
    })
}

fn settings(srv: &Server, paths: &[&str]) -> Settings {
    let mut s = Settings::default();
    s.cfn.metadata_url = Some(srv.url("/v1/"));
    s.cfn.access_key_id = Some(ACCESS_KEY.into());
    s.cfn.secret_access_key = Some(SECRET.into());
    s.cfn.stack_name = Some("cfn-cfn".into());
    s.cfn.path = paths.iter().map(|p| p.to_string()).collect();
    s.cfn.heat_metadata_hint = "/nonexistent/cfn-metadata-server".into();
    s
}

#[test]
fn test_collect_cfn() {
    capture_logs();
    let srv = cfn_server(meta_data());
    let dir = tempfile::tempdir().unwrap();
    let hint = dir.path().join("cfn-metadata-server");
    std::fs::write(&hint, format!("http://{}\n", srv.addr)).unwrap();
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.metadata_url = None;
    s.cfn.heat_metadata_hint = hint;
    let entries = collect("cfn", &s).unwrap();
    assert_eq!(entries, vec![("cfn".to_string(), meta_data())]);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path(), "/v1/");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(param(r, "SignatureVersion").as_deref(), Some("2"));
    assert_eq!(param(r, "Action").as_deref(), Some("DescribeStackResource"));
    assert_eq!(param(r, "LogicalResourceId").as_deref(), Some("foo"));
    assert!(param(r, "Signature").is_some());
    assert!(signature_ok(r));
    assert!(visible_logs().is_empty(), "{:?}", logs());
}

/// The query carries the parameters in the order the Python agent sent them to real Heat.
#[test]
fn cfn_query_order_matches_real_heat_capture() {
    let srv = cfn_server(meta_data());
    collect("cfn", &settings(&srv, &["server.Metadata"])).unwrap();
    let q = srv.requests()[0].query().to_string();
    let keys: Vec<&str> = q
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "Action",
            "StackName",
            "LogicalResourceId",
            "AWSAccessKeyId",
            "SignatureVersion",
            "SignatureMethod",
            "Signature"
        ]
    );
    // same credentials as captures/cfn-cfn: the same signature as the reference sent
    let port_free = q.split("&Signature=").next().unwrap();
    assert_eq!(
        port_free,
        "Action=DescribeStackResource&StackName=cfn-cfn&LogicalResourceId=server&AWSAccessKeyId=0c2c34a783dc498fbd162b0df22d5054&SignatureVersion=2&SignatureMethod=HmacSHA256"
    );
}

#[test]
fn test_collect_with_ca_cert() {
    let srv = cfn_server(meta_data());
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.ca_certificate = Some("/nonexistent/ca.pem".into());
    let msg = not_available(collect("cfn", &s));
    assert!(
        msg.contains("/nonexistent/ca.pem"),
        "the CA file is used: {msg}"
    );
    assert!(srv.requests().is_empty());
}

#[test]
fn test_collect_cfn_fail() {
    let srv = Server::start(|_| Response::new(403, "nope"));
    let msg = not_available(collect("cfn", &settings(&srv, &["foo.Metadata"])));
    assert!(msg.contains("Forbidden"), "{msg}");
    assert!(!msg.contains(SECRET));
    assert!(msg.contains("Signature=***"), "signature redacted: {msg}");
}

#[test]
fn test_collect_cfn_no_path() {
    capture_logs();
    let srv = cfn_server(meta_data());
    let msg = not_configured(collect("cfn", &settings(&srv, &[])));
    assert_eq!(msg, "No path configured");
}

#[test]
fn test_collect_cfn_bad_path() {
    let srv = cfn_server(meta_data());
    let msg = not_configured(collect("cfn", &settings(&srv, &["foo"])));
    assert_eq!(msg, "Path not in format resource.field[.x.y] (foo)");
}

#[test]
fn test_collect_cfn_no_metadata_url() {
    capture_logs();
    let srv = cfn_server(meta_data());
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.metadata_url = None;
    let msg = not_configured(collect("cfn", &s));
    assert_eq!(msg, "No metadata_url configured.");
}

#[test]
fn cfn_missing_credentials_are_not_configured() {
    let srv = cfn_server(meta_data());
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.access_key_id = None;
    assert_eq!(
        not_configured(collect("cfn", &s)),
        "No Access Key ID configured."
    );
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.secret_access_key = Some(String::new());
    assert_eq!(
        not_configured(collect("cfn", &s)),
        "No Secret Access Key configured."
    );
    // W-C2: no stack name is "not configured", not a request Heat must refuse
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.stack_name = None;
    assert_eq!(
        not_configured(collect("cfn", &s)),
        "No stack_name configured."
    );
    assert!(srv.requests().is_empty());
}

#[test]
fn test_collect_cfn_missing_sub_path() {
    let srv = cfn_server(meta_data());
    let msg = not_available(collect("cfn", &settings(&srv, &["foo.Metadata.not_there"])));
    assert_eq!(
        msg,
        "Sub-key not_there does not exist. (foo.Metadata.not_there)"
    );
}

#[test]
fn test_collect_cfn_sub_path() {
    let srv = cfn_server(meta_data());
    let entries = collect("cfn", &settings(&srv, &["foo.Metadata.map_ab"])).unwrap();
    assert_eq!(
        entries,
        vec![("cfn".to_string(), json!({"a": "apple", "b": "banana"}))]
    );
}

#[test]
fn test_collect_cfn_metadata_url_overrides_hint() {
    let srv = cfn_server(meta_data());
    let other = Server::start(|_| Response::new(500, "wrong server"));
    let dir = tempfile::tempdir().unwrap();
    let hint = dir.path().join("hint");
    std::fs::write(&hint, format!("http://{}", other.addr)).unwrap();
    let mut s = settings(&srv, &["foo.Metadata"]);
    s.cfn.heat_metadata_hint = hint;
    collect("cfn", &s).unwrap();
    assert_eq!(srv.requests().len(), 1);
    assert!(other.requests().is_empty());
}

#[test]
fn test_collect_cfn_software_config() {
    let srv = cfn_server(software_config_data());
    let entries = collect("cfn", &settings(&srv, &["server.Metadata"])).unwrap();
    assert_eq!(
        names(&entries),
        ["cfn", "dep-name1", "dep-name2", "dep-name3"]
    );
    assert_eq!(entries[0].1, software_config_data());
    assert_eq!(entries[0].1["deployments"].as_array().unwrap().len(), 4);
    assert_eq!(entries[1].1, json!({"config1": "value1"}));
    assert_eq!(entries[2].1, json!({"config2": "value2"}));
}

#[test]
fn test_collect_cfn_deployments_not_list() {
    capture_logs();
    let srv = cfn_server(software_config_imposter_data());
    let entries = collect("cfn", &settings(&srv, &["server.Metadata"])).unwrap();
    assert_eq!(
        entries,
        vec![("cfn".to_string(), software_config_imposter_data())]
    );
    assert!(logs().contains(
        &"WARN Deployment-key deployments was found but does not contain a list.".to_string()
    ));
}

/// cfn explodes with its own `[cfn] deployment_key`, not the global one (reference behaviour).
#[test]
fn cfn_uses_its_own_deployment_key() {
    let data = json!({"mine": [{"name": "m1", "config": {"k": 1}}],
                      "deployments": [{"name": "d1", "config": {"k": 2}}]});
    let srv = cfn_server(data);
    let mut s = settings(&srv, &["x.Metadata"]);
    s.cfn.deployment_key = vec!["mine".into()];
    s.deployment_key = vec!["deployments".into()];
    let entries = collect("cfn", &s).unwrap();
    assert_eq!(names(&entries), ["cfn", "m1"]);
}

#[test]
fn cfn_several_paths_shallow_merge_later_wins() {
    let data = json!({"a": {"x": 1, "shared": "from a"}, "b": {"y": 2, "shared": "from b"}});
    let srv = cfn_server(data);
    let entries = collect("cfn", &settings(&srv, &["a.Metadata", "b.Metadata"])).unwrap();
    assert_eq!(entries[0].1, json!({"x": 1, "shared": "from b", "y": 2}));
    let ids: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| param(r, "LogicalResourceId").unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn cfn_signature_survives_special_characters() {
    let srv = cfn_server(meta_data());
    let mut s = settings(&srv, &["Res Name+é.Metadata"]);
    s.cfn.stack_name = Some("my stack/ü~*".into());
    collect("cfn", &s).unwrap();
    let r = &srv.requests()[0];
    assert_eq!(param(r, "StackName").as_deref(), Some("my stack/ü~*"));
    assert_eq!(param(r, "LogicalResourceId").as_deref(), Some("Res Name+é"));
    assert!(
        r.query().contains("StackName=my+stack%2F%C3%BC~%2A"),
        "{}",
        r.query()
    );
}

/// W-C1: every shape the reference crashes on is "unavailable" with a clear message.
#[test]
fn cfn_hostile_responses_are_not_available() {
    let cases: Vec<(&str, &str)> = vec![
        ("not xml <<<", "not valid XML"),
        ("<a><b/></a>", "StackResourceDetail"),
        (
            "<R><DescribeStackResourceResult><StackResourceDetail><Other/></StackResourceDetail></DescribeStackResourceResult></R>",
            "Path foo.Metadata does not exist.",
        ),
        (
            "<R><DescribeStackResourceResult><StackResourceDetail><Metadata/></StackResourceDetail></DescribeStackResourceResult></R>",
            "Path foo.Metadata is empty.",
        ),
        (
            "<R><DescribeStackResourceResult><StackResourceDetail><Metadata>{\"a\": </Metadata></StackResourceDetail></DescribeStackResourceResult></R>",
            "Path foo.Metadata failed to parse as json. (",
        ),
        (
            "<R><DescribeStackResourceResult><StackResourceDetail><Metadata>[1, 2]</Metadata></StackResourceDetail></DescribeStackResourceResult></R>",
            "Path foo.Metadata is not a JSON object",
        ),
    ];
    for (body, expect) in cases {
        let body = body.to_string();
        let srv = Server::start(move |_| Response::new(200, body.clone()));
        let msg = not_available(collect("cfn", &settings(&srv, &["foo.Metadata"])));
        assert!(msg.contains(expect), "{expect:?} not in {msg:?}");
    }
    let srv = cfn_server(json!({"foo": {"m": "text"}}));
    let msg = not_available(collect("cfn", &settings(&srv, &["foo.Metadata.m.deeper"])));
    assert_eq!(
        msg,
        "Sub-key deeper does not exist. (foo.Metadata.m.deeper)"
    );
}

#[test]
fn cfn_secret_key_is_masked_in_logs() {
    let srv = cfn_server(meta_data());
    collect("cfn", &settings(&srv, &["foo.Metadata"])).unwrap();
    assert_eq!(heat_agent::logging::mask(&format!("k={SECRET}")), "k=***");
}

/// Issue 11: a reply nesting 30,000 elements overflowed the stack (exit 134) in `collect` and
/// `run`. Now it is one error line naming the URL (signature masked), a non-zero exit, and the
/// cache of the last good answer stays as it was.
#[test]
fn cfn_deeply_nested_reply_is_one_error_and_keeps_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = cfn_server(json!({"srv": {"good": 1}}));
    let cache = tmp.path().join("cache");
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "collect",
            "--config-file",
            "/dev/null",
            "--cachedir",
            cache.to_str().unwrap(),
            "--backup-cachedir",
            tmp.path().join("backup").to_str().unwrap(),
            "--cfn-metadata-url",
            &srv.url("/v1/"),
            "--cfn-access-key-id",
            ACCESS_KEY,
            "--cfn-secret-access-key",
            SECRET,
            "--cfn-stack-name",
            "st",
            "--cfn-path",
            "srv.Metadata",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push("cfn".into());
        std::process::Command::new(common::bin())
            .args(&args)
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    };
    let first = run(&["--one-time", "--command", "true"]);
    assert!(first.status.success(), "{first:?}");
    let cached = std::fs::read_to_string(cache.join("cfn.json")).unwrap();
    assert!(cached.contains("\"good\": 1"), "{cached}");

    let deep = format!("<R>{}{}</R>", "<a>".repeat(30_000), "</a>".repeat(30_000));
    srv.set_handler(move |_| Response::new(200, deep.clone()));
    for extra in [&["--one-time", "--command", "true"][..], &["--print"][..]] {
        let out = run(extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(134), "{stderr}");
        assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains("nested deeper than 256"))
            .unwrap_or_else(|| panic!("no depth error in {stderr}"));
        assert!(line.contains(&srv.url("/v1/")), "{line}");
        assert!(line.contains("Signature=***"), "{line}");
        assert!(!line.contains(SECRET), "{line}");
        assert_eq!(
            std::fs::read_to_string(cache.join("cfn.json")).unwrap(),
            cached
        );
    }
}
