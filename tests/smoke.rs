mod common;

use std::process::Command;

#[test]
fn version_names_revision_and_features() {
    let out = Command::new(common::bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("heat-agent 0."), "{s}");
    assert!(s.contains("git ") && s.contains("features: rustls"), "{s}");
}

#[test]
fn unknown_subcommand_is_usage_error() {
    let out = Command::new(common::bin()).arg("bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command 'bogus'"));
}

#[test]
fn loopback_server_records_requests() {
    let srv =
        common::Server::start(|r| common::Response::new(200, format!("you said {}", r.method)));
    let body = ureq::get(&srv.url("/x?y=1"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert_eq!(body, "you said GET");
    assert_eq!(srv.requests()[0].query(), "y=1");
}
