//! `heat-agent status`: journal files written here the way the deploy runner writes them,
//! outbox records made through the public outbox API.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use heat_agent::notify::Outbox;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn journal(
    state: &Path,
    id: &str,
    name: &str,
    st: &str,
    exit_code: Value,
    error: Value,
    started: f64,
) {
    let dir = state.join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    let v = json!({"id": id, "name": name, "group": "script", "action": "CREATE", "state": st,
                   "started_at": started, "finished_at": started + 1.5, "exit_code": exit_code,
                   "duration": 1.5, "error": error});
    std::fs::write(
        dir.join(format!("{id}.json")),
        serde_json::to_vec(&v).unwrap(),
    )
    .unwrap();
}

fn entry(id: &str, inputs: Value) -> Value {
    json!({"id": id, "name": format!("name-{id}"), "group": "script", "inputs": inputs})
}

fn status(state: &Path, json_out: bool) -> (Output, String) {
    let mut c = Command::new(common::bin());
    c.arg("status").env("HEAT_AGENT_STATE_DIR", state);
    if json_out {
        c.arg("--json");
    }
    let out = c.output().unwrap();
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    (out, text)
}

fn by_id<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == json!(id))
        .unwrap()
}

#[test]
fn all_succeeded_and_delivered_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    journal(
        state,
        "a1",
        "first",
        "succeeded",
        json!(0),
        Value::Null,
        100.0,
    );
    journal(
        state,
        "b2",
        "second",
        "succeeded",
        json!(0),
        Value::Null,
        200.0,
    );
    let ob = Outbox::open(state).unwrap();
    // NO_SIGNAL records count as delivered
    ob.enqueue(
        "a1",
        &entry("a1", json!([])),
        &json!({"deploy_status_code": 0}),
    )
    .unwrap();
    ob.enqueue(
        "b2",
        &entry("b2", json!([])),
        &json!({"deploy_status_code": 0}),
    )
    .unwrap();

    let (out, text) = status(state, true);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["ok"], json!(true));
    assert_eq!(doc["summary"]["deployments"], json!(2));
    let ids: Vec<&str> = doc["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a1", "b2"], "oldest first");
    let a = by_id(&doc, "a1");
    assert_eq!(a["name"], json!("first"));
    assert_eq!(a["group"], json!("script"));
    assert_eq!(a["action"], json!("CREATE"));
    assert_eq!(a["state"], json!("succeeded"));
    assert_eq!(a["exit_code"], json!(0));
    assert_eq!(a["duration"], json!(1.5));
    // issue 14: NO_SIGNAL is not reported as delivered; times are RFC 3339
    assert_eq!(a["signal"]["state"], json!("no_signal"));
    assert_eq!(a["signal"]["transport"], json!("none"));
    assert_eq!(a["signal"]["delivered_at"], Value::Null);
    let started = a["started_at"].as_str().unwrap();
    let t: jiff::Timestamp = started.parse().unwrap();
    assert_eq!(t.as_millisecond(), 100_000, "{started}");
    let finished: jiff::Timestamp = a["finished_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(finished.as_millisecond(), 101_500);
    assert!(a["signal"]["created_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());

    let (out, table) = status(state, false);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("SIGNAL"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("a1") && lines[1].contains("first") && lines[1].contains("succeeded"),
        "{table}"
    );
}

#[test]
fn failed_deployment_and_undelivered_signals_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    journal(
        state,
        "ok1",
        "good",
        "succeeded",
        json!(0),
        Value::Null,
        100.0,
    );
    journal(
        state,
        "bad1",
        "broken",
        "failed",
        json!(2),
        json!("hook exited with status 2"),
        200.0,
    );
    journal(
        state,
        "run1",
        "busy",
        "running",
        Value::Null,
        Value::Null,
        300.0,
    );
    let ob = Outbox::open(state).unwrap();
    ob.enqueue("ok1", &entry("ok1", json!([])), &json!({}))
        .unwrap();
    // a signal for a receiver that is not there: queued, never attempted
    let url =
        json!([{"name": "deploy_signal_id", "value": "http://127.0.0.1:9/sig?Signature=SiGsIg"}]);
    ob.enqueue(
        "bad1",
        &entry("bad1", url.clone()),
        &json!({"deploy_status_code": 2}),
    )
    .unwrap();
    // signalled by `notify` alone, no journal
    ob.enqueue("lone", &entry("lone", url), &json!({})).unwrap();

    let (out, text) = status(state, true);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["ok"], json!(false));
    assert_eq!(
        doc["summary"],
        json!({"deployments": 4, "failed": 1, "running": 1, "signals_queued": 2, "signals_failed": 0})
    );
    let bad = by_id(&doc, "bad1");
    assert_eq!(bad["state"], json!("failed"));
    assert_eq!(bad["exit_code"], json!(2));
    assert_eq!(bad["error"], json!("hook exited with status 2"));
    assert_eq!(bad["signal"]["state"], json!("queued"));
    assert_eq!(bad["signal"]["transport"], json!("cfn"));
    assert_eq!(bad["signal"]["attempts"], json!(0));
    let lone = by_id(&doc, "lone");
    assert_eq!(lone["state"], json!("pending"));
    assert_eq!(lone["name"], json!("name-lone"));
    assert_eq!(by_id(&doc, "run1")["signal"], Value::Null);

    let (out, table) = status(state, false);
    assert_eq!(out.status.code(), Some(1));
    // the reason has a line of its own, under its deployment's
    let lines: Vec<&str> = table.lines().collect();
    let row = lines.iter().position(|l| l.starts_with("bad1")).unwrap();
    assert_eq!(
        lines[row + 1],
        "    reason: hook exited with status 2",
        "{table}"
    );
    assert!(table.contains("queued (cfn, 0 attempts)"), "{table}");
    assert!(!table.contains("SiGsIg"), "{table}");
}

#[test]
fn permanently_failed_signal_is_shown_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    journal(
        state,
        "d1",
        "cfg",
        "succeeded",
        json!(0),
        Value::Null,
        100.0,
    );
    let srv = common::Server::start(|_| common::Response::new(404, "no such stack"));
    let ob = Outbox::open(state).unwrap();
    let inputs = json!([{"name": "deploy_signal_id", "value": srv.url("/sig")}]);
    ob.enqueue("d1", &entry("d1", inputs), &json!({})).unwrap();
    let s = ob.deliver_due(&heat_agent::config::Settings::default(), None);
    assert_eq!((s.delivered, s.pending, s.failed), (0, 0, 1));

    let (out, text) = status(state, true);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let d = by_id(&doc, "d1");
    assert_eq!(d["signal"]["state"], json!("failed"));
    assert_eq!(d["signal"]["last_status"], json!(404));
    assert!(d["signal"]["last_error"]
        .as_str()
        .unwrap()
        .contains("no such stack"));
    assert_eq!(doc["summary"]["signals_failed"], json!(1));
    let (_, table) = status(state, false);
    assert!(table.contains("FAILED (cfn, 404)"), "{table}");
}

#[test]
fn interrupted_or_unreadable_journal_exits_one_and_empty_dir_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (out, table) = status(dir.path(), false);
    assert_eq!(out.status.code(), Some(0));
    assert!(table.contains("no deployments recorded"));

    journal(
        dir.path(),
        "i1",
        "cut",
        "interrupted",
        Value::Null,
        json!("agent restarted"),
        1.0,
    );
    let (out, _) = status(dir.path(), true);
    assert_eq!(out.status.code(), Some(1));

    let d2 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d2.path().join("journal")).unwrap();
    std::fs::write(d2.path().join("journal/x.json"), "{trunc").unwrap();
    let (out, text) = status(d2.path(), true);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["problems"][0].as_str().unwrap().contains("x.json"));

    // a damaged outbox record is a problem too
    let d3 = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d3.path().join("outbox")).unwrap();
    std::fs::write(d3.path().join("outbox/y.json"), "[]").unwrap();
    let (out, text) = status(d3.path(), true);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(
        doc["problems"][0].as_str().unwrap().contains("y.json"),
        "{doc}"
    );
}

/// `heat-agent status | head`: the reader goes away after the first bytes. The output ends
/// quietly with the same exit code as a full run, never a panic (exit 134).
#[test]
fn closed_stdout_ends_output_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    // well over a pipe buffer (64 KiB) of output, so the writer must meet the closed pipe
    for i in 0..1500 {
        journal(
            state,
            &format!("id-{i:05}-{}", "x".repeat(40)),
            &format!("name-{i}-{}", "y".repeat(40)),
            "succeeded",
            json!(0),
            Value::Null,
            100.0 + i as f64,
        );
    }
    let (full, _) = status(state, false);
    for json_out in [false, true] {
        let mut c = Command::new(common::bin());
        c.arg("status").env("HEAT_AGENT_STATE_DIR", state);
        if json_out {
            c.arg("--json");
        }
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 64];
        let mut stdout = child.stdout.take().unwrap();
        stdout.read_exact(&mut head).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            full.status.code(),
            "json={json_out} {:?} {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
    }
}

fn status_args(state: &Path, args: &[&str]) -> Output {
    Command::new(common::bin())
        .arg("status")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap()
}

/// Issue 14: a missing state dir is an error, never "(no deployments recorded)".
#[test]
fn missing_state_dir_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-state");
    for json_out in [false, true] {
        let args: &[&str] = if json_out { &["--json"] } else { &[] };
        let out = status_args(&missing, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("no deployments recorded"), "{stdout}");
        if json_out {
            let doc: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(doc["ok"], json!(false));
            assert!(doc["error"].as_str().unwrap().contains("no-such-state"));
        }
    }
    // a file where the dir should be
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    assert_eq!(status_args(&file, &[]).status.code(), Some(1));
}

/// Issue 14: run without root, the state dir (mode 000, owned by root) cannot be read: an
/// error, not an empty success. Run as uid 65534 through setpriv.
#[test]
fn unreadable_state_dir_as_non_root_is_an_error() {
    use std::os::unix::fs::PermissionsExt;
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() || !nix::unistd::Uid::effective().is_root() {
        support::tool("/usr/bin/setpriv (and root to drop privileges)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    journal(
        &state,
        "a1",
        "first",
        "succeeded",
        json!(0),
        Value::Null,
        1.0,
    );
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o000)).unwrap();
    // the binary where uid 65534 may run it
    let exe = dir.path().join("heat-agent");
    std::fs::copy(common::bin(), &exe).unwrap();
    for json_out in [false, true] {
        let mut c = Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .arg("status")
            .arg("--state-dir")
            .arg(&state);
        if json_out {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&state.display().to_string()) && stderr.contains("ermission denied"),
            "{stderr}"
        );
        if json_out {
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["ok"], json!(false));
        }
    }
    // root can read it: the same dir is fine
    let out = status_args(&state, &[]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// `heat-agent status --state-dir <state> <args>` in `site`'s environment (its deployed dir).
fn status_at(site: &support::Site, args: &[&str]) -> Output {
    let mut c = Command::new(common::bin());
    site.env(&mut c);
    c.arg("status")
        .args(args)
        .arg("--state-dir")
        .arg(&site.state);
    c.output().unwrap()
}

fn signal_inputs(url: &str) -> Value {
    json!([
        {"name": "deploy_signal_transport", "type": "String", "value": "CFN_SIGNAL"},
        {"name": "deploy_signal_id", "type": "String", "value": url},
        {"name": "deploy_signal_verb", "type": "String", "value": "POST"}
    ])
}

/// Issue 14: `status ID` shows one deployment in full, from a real deploy run.
#[test]
fn status_id_shows_one_deployment_in_full() {
    let srv = common::Server::start(|_| common::Response::new(200, ""));
    let mut site = support::Site::new();
    site.notify = None;
    let config = "#!/bin/sh\nfor i in $(seq 1 30); do echo out-line-$i; done\n\
                  echo err-line-1 >&2\necho err-last >&2\n\
                  printf 42 > \"$heat_outputs_path.answer\"\nexit 3\n";
    site.write_list(&json!([support::script_entry(
        "d1",
        config,
        signal_inputs(&srv.url("/signal/d1?Signature=SeCrEtSiG")),
        json!([{"name": "answer"}])
    )]));
    let out = site.deploy();
    assert!(out.status.success());
    assert_eq!(srv.requests().len(), 1);

    let out = status_at(&site, &["d1"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "a failed deployment: {text}");
    let field = |k: &str| {
        text.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("{k}: {text}"))[14..]
            .to_string()
    };
    assert_eq!(field("deployment"), "d1");
    assert_eq!(field("hook"), "script");
    assert_eq!(field("state"), "failed");
    assert_eq!(field("exit status"), "3");
    for k in ["started", "ended"] {
        // ISO 8601 / RFC 3339, then local time
        let v = field(k);
        let (iso, local) = v.split_once(" (").unwrap();
        assert!(iso.parse::<jiff::Timestamp>().is_ok(), "{v}");
        assert!(local.ends_with(')') && local.contains(':'), "{v}");
    }
    assert!(field("signal").starts_with("delivered (cfn)"), "{text}");
    assert_eq!(field("  transport"), "cfn");
    assert_eq!(field("  attempts"), "1");
    assert_eq!(
        field("signal body"),
        site.notify_file("d1").display().to_string()
    );
    assert!(
        field("outbox record").ends_with("/outbox/d1.json"),
        "{text}"
    );
    assert!(text.contains("outputs:\n  answer: 42\n"), "{text}");
    assert!(text.contains("  err-line-1\n  err-last\n"), "{text}");
    assert!(text.contains("  out-line-30\n"), "{text}");
    assert!(
        !text.contains("out-line-10\n"),
        "only the last lines: {text}"
    );
    assert!(!text.contains("SeCrEtSiG"), "{text}");

    let out = status_at(&site, &["d1", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["outputs"]["answer"], json!("42"));
    assert!(doc["stderr_tail"].as_str().unwrap().ends_with("err-last"));
    assert_eq!(doc["signal"]["attempts"], json!(1));
    assert!(doc["started_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .is_ok());

    let out = status_at(&site, &["nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no deployment nope"));
}

/// Issue 14: `status --wait` returns once a deploy run in the background has ended and its
/// signal is delivered: 0 when it succeeded, 1 when it failed; `--timeout` bounds the wait.
#[test]
fn wait_returns_when_the_background_deploy_has_ended() {
    use std::time::{Duration, Instant};
    let srv = common::Server::start(|_| common::Response::new(200, ""));
    for (id, exit, expect) in [("ok1", 0, 0), ("bad1", 4, 1)] {
        let mut site = support::Site::new();
        site.notify = None;
        site.write_list(&json!([support::script_entry(
            id,
            &format!("#!/bin/sh\nsleep 2\nexit {exit}\n"),
            signal_inputs(&srv.url(&format!("/signal/{id}"))),
            json!([])
        )]));
        let mut deploy = site.deploy_cmd(&[]).spawn().unwrap();
        let journal = site.state.join("journal").join(format!("{id}.json"));
        let start = Instant::now();
        while !journal.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "deploy never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = status_args(&site.state, &["--wait", "--json"]);
        assert!(
            deploy.try_wait().unwrap().is_some(),
            "--wait returned while the deploy was still running"
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(expect), "{doc}");
        let d = by_id(&doc, id);
        assert_eq!(d["signal"]["state"], json!("delivered"), "{doc}");
        assert_ne!(d["state"], json!("running"));
    }

    // a signal that cannot be delivered: --timeout gives up
    let refusing = common::Server::start(|_| common::Response::new(503, "busy"));
    let mut site = support::Site::new();
    site.notify = None;
    site.extra_env
        .push(("HEAT_AGENT_NOTIFY_WAIT".into(), "0".into()));
    site.write_list(&json!([support::script_entry(
        "q1",
        "#!/bin/sh\ntrue\n",
        signal_inputs(&refusing.url("/signal/q1")),
        json!([])
    )]));
    assert!(site.deploy().status.success());
    let start = Instant::now();
    let out = status_args(&site.state, &["--wait", "--timeout", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out after 2s waiting for: q1"),
        "{stderr}"
    );
    assert!(start.elapsed() >= Duration::from_secs(2));
}
