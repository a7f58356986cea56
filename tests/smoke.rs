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

fn run(program: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// `heat-agent version` is `--version`; `gen-man --help` and `gen-completions --help` exit 0.
#[test]
fn version_subcommand_and_gen_help() {
    let want = run(&common::bin(), &["--version"]).stdout;
    let out = run(&common::bin(), &["version"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, want);
    for gen in ["gen-man", "gen-completions"] {
        let out = run(&common::bin(), &[gen, "--help"]);
        assert!(out.status.success(), "{gen}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("usage: heat-agent {gen} DIR"))
        );
    }
}

/// Every legacy name's `--version` says which agent is installed, exit 0. Where the reference
/// tool has a `--version` (os-collect-config, os-apply-config), stdout stays its release, as tools
/// compare it, and the agent is named on stderr.
#[test]
fn every_legacy_name_answers_version_with_the_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let version = String::from_utf8(run(&common::bin(), &["--version"]).stdout).unwrap();
    let version = version.trim();
    for name in ["os-collect-config", "os-apply-config", "os-config-applier"] {
        let out = run(&common::legacy(tmp.path(), name), &["--version"]);
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "14.1.0\n", "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(version),
            "{name}: {out:?}"
        );
    }
    for name in [
        "os-refresh-config",
        "dib-run-parts",
        "55-heat-config",
        "heat-config-notify",
    ] {
        let out = run(&common::legacy(tmp.path(), name), &["--version"]);
        assert!(out.status.success(), "{name}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            version,
            "{name}"
        );
    }
    for sub in ["refresh", "run-parts", "deploy", "notify", "apply"] {
        let out = run(&common::bin(), &[sub, "--version"]);
        assert!(out.status.success(), "{sub}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            version,
            "{sub}"
        );
    }
}
