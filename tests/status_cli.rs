//! `heat-agent status`: journal files written here the way the deploy runner writes them,
//! outbox records made through the public outbox API.

mod common;

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
    assert_eq!(a["signal"]["state"], json!("delivered"));
    assert_eq!(a["signal"]["transport"], json!("none"));

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
    assert!(table.contains("hook exited with status 2"), "{table}");
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
