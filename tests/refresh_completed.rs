//! Issue 14: TripleO's `99-refresh-completed`, shipped as the post-configure.d script
//! `heat-agent notify --refresh-completed`: the real binary (through the shipped script)
//! against a loopback Heat.

mod common;

use common::{Response, Server};
use serde_json::json;
use std::process::{Command, Output};

const SHIM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/elements/heat-agent/os-refresh-config/post-configure.d/99-refresh-completed"
);

/// Run the shipped post-configure.d script with `metadata` as the only metadata file and the
/// built binary first on PATH as `heat-agent`.
fn run_shim(metadata: &serde_json::Value) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("metadata.json");
    std::fs::write(&md, metadata.to_string()).unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    common::legacy(&bin, "heat-agent");
    Command::new(SHIM)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("OS_CONFIG_FILES", &md)
        .env("HEAT_AGENT_STATE_DIR", tmp.path().join("state"))
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn a_completed_refresh_is_reported_to_the_handle_and_the_signal() {
    let heat = Server::start(|_| Response::new(200, ""));
    let out = run_shim(&json!({
        "instance-id": "i-0042",
        "completion-handle": heat.url("/v1/waitcondition/handle?Signature=s3cret"),
        "completion-signal": heat.url("/v1/signal/res"),
    }));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let requests = heat.requests();
    let seen: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path()))
        .collect();
    assert_eq!(
        seen,
        [
            ("PUT", "/v1/waitcondition/handle"),
            ("POST", "/v1/signal/res")
        ]
    );
    for r in &requests {
        assert_eq!(
            r.body_json(),
            json!({"Status": "SUCCESS", "Reason": "Configuration Complete",
                   "UniqueId": "i-0042", "Data": "Finished os-refresh-config."})
        );
    }
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn without_an_instance_id_or_a_target_nothing_is_sent() {
    let heat = Server::start(|_| Response::new(200, ""));
    for metadata in [
        json!({"completion-handle": heat.url("/h"), "completion-signal": heat.url("/s")}),
        json!({"instance-id": "i-1"}),
        json!({}),
    ] {
        let out = run_shim(&metadata);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(heat.requests().is_empty());
}

#[test]
fn a_refused_completion_fails_the_script_naming_the_url() {
    let heat = Server::start(|_| Response::new(403, "denied"));
    let out = run_shim(&json!({
        "instance-id": "i-1",
        "completion-handle": heat.url("/v1/waitcondition/h?Signature=s3cret"),
    }));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("refresh completion not reported"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("/v1/waitcondition/h") && line.contains("403"),
        "{line}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
