//! Issue 11: `--log-file` / `log_file` was parsed and never used. Through the real binary
//! (`heat-agent collect` and `os-collect-config`): lines are appended to the file (created
//! 0600), in stderr's format with timestamps even under journald; a file that
//! cannot be opened is a clear error naming it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn collect(exe: &Path, sub: Option<&str>, root: &Path, extra: &[&str]) -> Output {
    common::collect_local_once(
        exe,
        sub,
        &root.join("cache"),
        &root.join("backup"),
        &root.join("missing-dir"),
        extra,
    )
    .env_remove("JOURNAL_STREAM")
    .output()
    .unwrap()
}

#[test]
fn log_file_gets_every_line_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let legacy = common::legacy(root, "os-collect-config");
    let log = root.join("agent.log");
    let log_arg = log.to_str().unwrap();
    for (exe, sub) in [(common::bin(), Some("collect")), (legacy.clone(), None)] {
        let out = collect(&exe, sub, root, &["--log-file", log_arg]);
        assert!(out.status.success(), "{out:?}");
        // stderr keeps its lines
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("missing-dir not found. Skipping"),
            "{out:?}"
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in &lines {
        assert!(l.starts_with("[20") && l.contains("] WARN "), "{l}");
        assert!(l.ends_with("missing-dir not found. Skipping"), "{l}");
    }
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // the alias and the journald case: still appended, still with a timestamp
    let out = Command::new(common::bin())
        .args([
            "collect",
            "--config-file",
            "/dev/null",
            "--one-time",
            "--print",
        ])
        .arg("--cachedir")
        .arg(root.join("cache"))
        .arg("--backup-cachedir")
        .arg(root.join("backup"))
        .arg("--local-path")
        .arg(root.join("missing-dir"))
        .args(["--logfile", log_arg, "local"])
        .env("JOURNAL_STREAM", "1:1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().last().unwrap().starts_with("[20"), "{text}");
}

#[test]
fn log_file_from_the_config_file_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let log = root.join("from-conf.log");
    let conf = root.join("os-collect-config.conf");
    std::fs::write(&conf, format!("[DEFAULT]\nlog_file = {}\n", log.display())).unwrap();
    let out = Command::new(common::bin())
        .args(["collect", "--config-file"])
        .arg(&conf)
        .args(["--one-time", "--print", "--cachedir"])
        .arg(root.join("cache"))
        .arg("--backup-cachedir")
        .arg(root.join("backup"))
        .arg("--local-path")
        .arg(root.join("missing-dir"))
        .arg("local")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert!(text.contains("missing-dir not found. Skipping"), "{text}");
}

#[test]
fn unopenable_log_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let bad = root.join("no-such-dir/agent.log");
    let out = collect(
        &common::bin(),
        Some("collect"),
        root,
        &["--log-file", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!root.join("cache").exists(), "nothing done after the error");
}
