//! Issue 14: under journald (`JOURNAL_STREAM` names stderr's own device and inode) every line
//! heat-agent writes on stderr starts with its sd-daemon priority (`<3>` err, `<4>` warning,
//! `<6>` info, `<7>` debug) and carries no time of its own, under each of its names, so
//! `journalctl -p warning` finds every failure. Each command runs the real binary with stderr
//! going to a file and `JOURNAL_STREAM` naming that file, as systemd sets it.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One stderr line under journald: its priority and the rest.
struct Line {
    priority: u8,
    text: String,
}

/// Run `cmd` under journald (stderr a fresh file in `dir`, `JOURNAL_STREAM` its dev:inode;
/// stdin from `stdin` or empty) and return the exit code and its non-empty stderr lines,
/// after checking each starts with `<N>` and has no timestamp.
fn under_journald(cmd: &mut Command, dir: &Path, stdin: Option<&[u8]>) -> (i32, Vec<Line>) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let path = dir.join(format!("stderr-{n}"));
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(file);
    match stdin {
        Some(data) => {
            let input = dir.join(format!("stdin-{n}"));
            std::fs::write(&input, data).unwrap();
            cmd.stdin(std::fs::File::open(&input).unwrap());
        }
        None => {
            cmd.stdin(Stdio::null());
        }
    }
    let status = cmd.status().unwrap();
    let err = std::fs::read_to_string(&path).unwrap();
    let prefixed = regex::Regex::new(r"^<([0-7])>(.*)$").unwrap();
    let mut lines = Vec::new();
    for line in err.lines().filter(|l| !l.is_empty()) {
        let Some(c) = prefixed.captures(line) else {
            panic!("a line without a priority: {line:?} in\n{err}");
        };
        let text = c[2].to_string();
        // journald stamps each line itself
        assert!(
            !text.starts_with("[20") && !text.contains(" UTC 20"),
            "a timestamp under journald: {line:?}"
        );
        lines.push(Line {
            priority: c[1].parse().unwrap(),
            text,
        });
    }
    assert!(!lines.is_empty(), "nothing on stderr ({cmd:?})");
    (status.code().unwrap_or(-1), lines)
}

/// The lines containing `needle`: at least one, each at `want` or more severe (lower).
fn at_most(lines: &[Line], needle: &str, want: u8) {
    let found: Vec<&Line> = lines.iter().filter(|l| l.text.contains(needle)).collect();
    let all: Vec<String> = lines
        .iter()
        .map(|l| format!("<{}>{}", l.priority, l.text))
        .collect();
    assert!(!found.is_empty(), "no line with {needle:?} in {all:#?}");
    for l in found {
        assert!(
            l.priority <= want,
            "<{}>{} should be at <{want}> or lower",
            l.priority,
            l.text
        );
    }
}

/// Every line whose own text says it is an error (`ERROR`, `[ERROR]`) is at err or lower.
fn errors_at_err(lines: &[Line]) {
    for l in lines {
        if l.text.contains("ERROR") {
            assert!(l.priority <= 3, "<{}>{}", l.priority, l.text);
        }
    }
}

fn executable(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A refresh base dir whose pre-configure phase succeeds and configure phase fails (exit 3).
fn failing_base(root: &Path) -> std::path::PathBuf {
    let base = root.join("base");
    executable(
        &base.join("pre-configure.d/10-ok"),
        "#!/bin/sh\necho fine\n",
    );
    executable(&base.join("configure.d/20-fails"), "#!/bin/sh\nexit 3\n");
    base
}

#[test]
fn dib_run_parts_lines_carry_a_priority_and_its_failure_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let base = failing_base(tmp.path());
    for exe in [common::legacy(tmp.path(), "dib-run-parts"), common::bin()] {
        let native = exe == common::bin();
        let mut cmd = Command::new(&exe);
        if native {
            cmd.arg("run-parts");
        }
        let (code, lines) = under_journald(cmd.arg(base.join("configure.d")), tmp.path(), None);
        assert_eq!(code, 3);
        at_most(&lines, "Running ", 6);
        at_most(&lines, "20-fails failed with exit status 3", 3);
        // the successful directory: progress and the profile block, all at info
        let mut cmd = Command::new(&exe);
        if native {
            cmd.arg("run-parts");
        }
        let (code, lines) = under_journald(cmd.arg(base.join("pre-configure.d")), tmp.path(), None);
        assert_eq!(code, 0);
        assert!(lines.iter().all(|l| l.priority == 6), "not all at info");
        at_most(&lines, "PROFILING", 6);
        // a missing directory is an error too
        let mut cmd = Command::new(&exe);
        if native {
            cmd.arg("run-parts");
        }
        let (code, lines) = under_journald(cmd.arg(tmp.path().join("none.d")), tmp.path(), None);
        assert_ne!(code, 0);
        at_most(&lines, "must exist and be a directory", 3);
    }
}

#[test]
fn refresh_lines_carry_a_priority_under_both_names() {
    let tmp = tempfile::tempdir().unwrap();
    let base = failing_base(tmp.path());
    for (exe, sub) in [
        (common::legacy(tmp.path(), "os-refresh-config"), None),
        (common::bin(), Some("refresh")),
    ] {
        let (code, lines) = under_journald(
            Command::new(exe)
                .args(sub)
                .arg("--lockfile")
                .arg(tmp.path().join("lock"))
                .env("OS_REFRESH_CONFIG_BASE_DIR", &base),
            tmp.path(),
            None,
        );
        assert_eq!(code, 1);
        at_most(&lines, "Starting phase configure", 6);
        at_most(&lines, "20-fails failed with exit status 3", 3);
        at_most(&lines, "during configure phase", 3);
        at_most(&lines, "Aborting", 3);
        errors_at_err(&lines);
    }
}

#[test]
fn collect_and_run_lines_carry_a_priority_under_every_name() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("bad.json"), "{bad").unwrap();
    let collect = |exe: &Path, sub: Option<&str>| {
        let mut cmd = common::collect_local_once(
            exe,
            sub,
            &tmp.path().join("cache"),
            &tmp.path().join("backup"),
            &local,
            &[],
        );
        under_journald(&mut cmd, tmp.path(), None)
    };
    // os-collect-config's bare lines and heat-agent collect's own
    for (exe, sub) in [
        (common::legacy(tmp.path(), "os-collect-config"), None),
        (common::bin(), Some("collect")),
    ] {
        let (code, lines) = collect(&exe, sub);
        assert_eq!(code, 0);
        at_most(&lines, "is not valid JSON", 4);
        at_most(&lines, "Source [local] Unavailable.", 4);
    }

    // run: a command that fails is an error
    let good = tmp.path().join("good");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::write(good.join("a.json"), r#"{"a": 1}"#).unwrap();
    let (code, lines) = under_journald(
        Command::new(common::bin())
            .args(["run", "--config-file", "/dev/null", "--one-time"])
            .arg("--cachedir")
            .arg(tmp.path().join("run-cache"))
            .arg("--backup-cachedir")
            .arg(tmp.path().join("run-backup"))
            .arg("--local-path")
            .arg(&good)
            .args(["--command", "sh -c 'exit 3'", "local"]),
        tmp.path(),
        None,
    );
    assert_eq!(code, 3);
    at_most(&lines, "Executing ", 6);
    at_most(&lines, "Command failed", 3);
    errors_at_err(&lines);

    // a bad configuration value: written before logging starts, still an error
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("config.toml"),
        "[deploy]\nhook_timeout = \"soon\"\n",
    )
    .unwrap();
    for (exe, sub, want) in [
        (common::bin(), Some("run"), 78),
        (common::legacy(tmp.path(), "os-collect-config"), None, 1),
    ] {
        let (code, lines) = under_journald(
            Command::new(exe)
                .args(sub)
                .args(["--one-time", "local"])
                .env("HEAT_AGENT_CONFIG_DIR", &conf)
                .env("HEAT_AGENT_STATE_DIR", tmp.path().join("state")),
            tmp.path(),
            None,
        );
        assert_eq!(code, want);
        at_most(&lines, "key deploy.hook_timeout", 3);
    }
    // a usage error, argparse's text under the legacy name: every line at err
    let (code, lines) = under_journald(
        Command::new(common::legacy(tmp.path(), "os-collect-config")).arg("--no-such-flag"),
        tmp.path(),
        None,
    );
    assert_eq!(code, 2);
    assert!(lines.iter().all(|l| l.priority == 3));
    at_most(&lines, "unrecognized arguments: --no-such-flag", 3);
}

#[test]
fn apply_lines_carry_a_priority_under_both_names() {
    let tmp = tempfile::tempdir().unwrap();
    let metadata = tmp.path().join("m.json");
    std::fs::write(&metadata, "{}").unwrap();
    for (exe, sub) in [
        (common::legacy(tmp.path(), "os-apply-config"), None),
        (common::bin(), Some("apply")),
    ] {
        let (code, lines) = under_journald(
            Command::new(exe)
                .args(sub)
                .arg("-m")
                .arg(&metadata)
                .args(["--key", "no.such.key"]),
            tmp.path(),
            None,
        );
        assert_eq!(code, 1);
        at_most(&lines, "key no.such.key", 3);
        errors_at_err(&lines);
    }
}

#[test]
fn notify_lines_carry_a_priority_under_both_names() {
    let tmp = tempfile::tempdir().unwrap();
    // a signal URL nothing listens on: queued after warnings
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/signal", listener.local_addr().unwrap());
    drop(listener);
    let config = tmp.path().join("config.json");
    std::fs::write(
        &config,
        json!({"id": "5555", "group": "script", "config": "x",
               "inputs": [{"name": "deploy_signal_id", "value": dead}]})
        .to_string(),
    )
    .unwrap();
    for (exe, sub) in [
        (common::legacy(tmp.path(), "heat-config-notify"), None),
        (common::bin(), Some("notify")),
    ] {
        let notify = |args: &[&Path], stdin: &[u8]| {
            let mut cmd = Command::new(&exe);
            cmd.args(sub)
                .args(args)
                .env("HEAT_AGENT_STATE_DIR", tmp.path().join("state"))
                .env("HEAT_AGENT_NOTIFY_BACKOFF", "0.05")
                .env("HEAT_AGENT_NOTIFY_WAIT", "1")
                .env("HEAT_AGENT_LOG_LEVEL", "debug");
            under_journald(&mut cmd, tmp.path(), Some(stdin))
        };
        let (code, lines) = notify(&[&config], br#"{"deploy_status_code": 1}"#);
        assert_eq!(code, 0);
        at_most(&lines, "not delivered", 4);
        let missing = tmp.path().join("nope.json");
        let (code, lines) = notify(&[&missing], b"{}");
        assert_eq!(code, 1);
        at_most(&lines, "nope.json", 3);
        errors_at_err(&lines);
    }
}

#[test]
fn deploy_lines_carry_a_priority_under_both_names() {
    let site = support::Site::new();
    site.write_list(&json!([support::script_entry(
        "t1",
        "#!/bin/sh\necho oops >&2\nexit 4\n",
        json!([]),
        json!([])
    )]));
    for legacy in [true, false] {
        let _ = std::fs::remove_dir_all(&site.deployed);
        let _ = std::fs::remove_dir_all(&site.state);
        let mut cmd = if legacy {
            site.legacy_cmd()
        } else {
            site.deploy_cmd(&[])
        };
        let (code, lines) = under_journald(&mut cmd, &site.root, None);
        assert_eq!(
            code, 0,
            "a failed deployment is signalled, not a failed run"
        );
        at_most(&lines, "deployment t1 stderr: oops", 3);
        errors_at_err(&lines);
    }
}
