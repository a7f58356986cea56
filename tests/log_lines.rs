//! Issue 11: names holding newlines or other control characters must not forge log lines.
//! Each binary (and legacy name) is run with such a name; every stderr line must look like one
//! of its own log lines, and the name shows up escaped.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use std::process::Command;

const FORGED: &str = "[2026-01-01 00:00:00,000] (os-refresh-config) [ERROR] forged\u{1b}[2J";

fn lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn collect_escapes_control_characters_in_logged_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join(format!("nope\n{FORGED}"));
    let legacy = common::legacy(tmp.path(), "os-collect-config");
    for (exe, sub) in [(common::bin(), Some("collect")), (legacy, None)] {
        let mut c = Command::new(exe);
        if let Some(sub) = sub {
            c.arg(sub);
        }
        let out = c
            .args(["--one-time", "--print", "--local-path"])
            .arg(&missing)
            .arg("--cachedir")
            .arg(tmp.path().join("cache"))
            .arg("--backup-cachedir")
            .arg(tmp.path().join("backup"))
            .arg("local")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let err = lines(&out.stderr);
        assert!(
            err.iter().all(|l| !l.starts_with("[2026-01-01")),
            "a forged line: {err:?}"
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
        assert!(
            err.iter()
                .any(|l| l.contains("nope\\n[2026-01-01") && l.contains("forged\\u{001b}[2J")),
            "{err:?}"
        );
    }
}

#[test]
fn refresh_escapes_control_characters_in_logged_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join(format!("base\n{FORGED}"));
    let dir = base.join("configure.d");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("10-fail");
    std::fs::write(&script, "#!/bin/sh\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(common::legacy(tmp.path(), "os-refresh-config"))
        .env("OS_REFRESH_CONFIG_BASE_DIR", &base)
        .arg("--lockfile")
        .arg(tmp.path().join("lock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = lines(&out.stderr);
    assert!(
        err.iter().all(|l| !l.starts_with("[2026-01-01")),
        "a forged line: {err:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));
    // dib-run-parts' own lines and os-refresh-config's both name the script, escaped
    assert!(
        err.iter()
            .any(|l| l.starts_with("dib-run-parts ") && l.contains("base\\n[2026-01-01")),
        "{err:?}"
    );
    let during = err
        .iter()
        .position(|l| l.contains("[ERROR] during configure phase"))
        .unwrap_or_else(|| panic!("{err:?}"));
    assert!(err[during].contains("base\\n[2026-01-01"), "{err:?}");
    // the reference's own trailing newline after that message is kept (an empty line)
    assert_eq!(err.get(during + 1).map(String::as_str), Some(""), "{err:?}");
}

/// Issue 14: heat-agent's own names print one timestamp format (RFC 3339, local time with its
/// offset); the legacy formats appear only under the legacy names.
#[test]
fn native_names_share_one_format_legacy_names_keep_theirs() {
    let agent = regex::Regex::new(
        r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d\] (ERROR|WARN|INFO|DEBUG) ",
    )
    .unwrap();
    let orc =
        regex::Regex::new(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \(os-refresh-config\) \[")
            .unwrap();
    let oac = regex::Regex::new(r"^\[\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [AP]M\] \[ERROR\] ").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let dir = base.join("configure.d");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("10-fail");
    std::fs::write(&script, "#!/bin/sh\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let refresh = |exe: &std::path::Path, sub: Option<&str>| {
        let mut c = Command::new(exe);
        c.args(sub)
            .env("OS_REFRESH_CONFIG_BASE_DIR", &base)
            .env_remove("JOURNAL_STREAM")
            .arg("--lockfile")
            .arg(tmp.path().join("lock"));
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        lines(&out.stderr)
    };
    let native = refresh(&common::bin(), Some("refresh"));
    let during = native
        .iter()
        .find(|l| l.contains("during configure phase"))
        .unwrap_or_else(|| panic!("{native:?}"));
    assert!(agent.is_match(during), "{during}");
    assert!(
        native
            .iter()
            .any(|l| agent.is_match(l) && l.contains("] INFO dib-run-parts: ")),
        "{native:?}"
    );
    assert!(!native.iter().any(|l| orc.is_match(l)), "{native:?}");
    let legacy = refresh(&common::legacy(tmp.path(), "os-refresh-config"), None);
    let during = legacy
        .iter()
        .find(|l| l.contains("during configure phase"))
        .unwrap_or_else(|| panic!("{legacy:?}"));
    assert!(orc.is_match(during), "{during}");
    assert!(
        legacy.iter().any(|l| l.starts_with("dib-run-parts ")),
        "{legacy:?}"
    );

    let metadata = tmp.path().join("m.json");
    std::fs::write(&metadata, "{}").unwrap();
    let apply = |exe: &std::path::Path, sub: Option<&str>| {
        let out = Command::new(exe)
            .args(sub)
            .arg("-m")
            .arg(&metadata)
            .args(["--key", "no.such.key"])
            .env_remove("JOURNAL_STREAM")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        lines(&out.stderr)
    };
    let native = apply(&common::bin(), Some("apply"));
    assert!(
        native
            .iter()
            .any(|l| agent.is_match(l) && l.contains("] ERROR key no.such.key")),
        "{native:?}"
    );
    let legacy = apply(&common::legacy(tmp.path(), "os-apply-config"), None);
    assert!(
        legacy
            .iter()
            .any(|l| oac.is_match(l) && l.contains("key no.such.key")),
        "{legacy:?}"
    );
}

/// Issue 11: a deployment id and name holding a newline, a carriage return, a tab and an
/// escape sequence. Every line the deploy run logs (running the hook, its failure and stderr,
/// the signal) and every line `status` prints shows them escaped; none is forged.
#[test]
fn deploy_escapes_control_characters_in_deployment_ids_and_names() {
    let id = format!("ctl\r\t\n{FORGED}");
    let name = format!("name\n{FORGED}");
    let srv = common::Server::start(|_| common::Response::new(200, ""));
    for legacy in [false, true] {
        let mut site = support::Site::new();
        site.notify = None; // the built-in outbox logs the delivery, naming the id
        let mut entry = support::script_entry(
            &id,
            "#!/bin/sh\necho out\necho err >&2\nexit 3\n",
            serde_json::json!([
                {"name": "deploy_signal_transport", "value": "CFN_SIGNAL"},
                {"name": "deploy_signal_id", "value": srv.url("/signal")}
            ]),
            serde_json::json!([]),
        );
        entry["name"] = serde_json::json!(name);
        site.write_list(&serde_json::json!([entry]));
        let out = if legacy {
            site.legacy_cmd().output().unwrap()
        } else {
            site.deploy_cmd(&["--debug"]).output().unwrap()
        };
        let all = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "legacy {legacy}: {all}");
        let err = lines(&out.stderr);
        assert!(
            err.iter().all(|l| !l.starts_with("[2026-01-01")),
            "a forged line: {err:?}"
        );
        assert!(!all.contains('\u{1b}') && !all.contains('\r'), "{err:?}");
        let shown =
            "ctl\\r\\t\\n[2026-01-01 00:00:00,000] (os-refresh-config) [ERROR] forged\\u{001b}[2J";
        // the legacy name logs at its default level (no debug line)
        let debug = ["Running built-in hook script for"];
        let always = [
            "Error running built-in hook script for",
            "stderr: err",
            "signal delivered",
        ];
        for what in always
            .iter()
            .chain(if legacy { &[][..] } else { &debug[..] })
        {
            assert!(
                err.iter().any(|l| l.contains(what) && l.contains(shown)),
                "no {what:?} line naming {shown}: {err:?}"
            );
        }
        assert_eq!(srv.requests().len(), 1 + usize::from(legacy));

        for args in [vec![], vec![id.as_str()]] {
            let st = Command::new(common::bin())
                .arg("status")
                .arg("--state-dir")
                .arg(&site.state)
                .args(&args)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&st.stdout).into_owned();
            assert_eq!(st.status.code(), Some(1), "a failed deployment: {text}");
            let st_lines = lines(&st.stdout);
            assert!(
                st_lines.iter().all(|l| !l.starts_with("[2026-01-01")),
                "status {args:?}: a forged line: {st_lines:?}"
            );
            assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text}");
            assert!(text.contains(shown), "status {args:?}: {text}");
            assert!(
                text.contains("name\\n[2026-01-01"),
                "status {args:?}: {text}"
            );
        }
    }
}
