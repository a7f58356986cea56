//! `heat-agent status`: deployments, results and signal delivery, for humans and machines.
//!
//! Reads the deploy runner's journal (`<state_dir>/journal/<id>.json`, the typed
//! [`journal::Record`]) and the signal outbox (`<state_dir>/outbox/<id>.json`), and joins them by
//! deployment id. `status ID` shows one deployment in full, `--wait` waits until every known
//! deployment has ended and its signal is delivered. The front end is `cli/status.rs`.

use crate::deploy::journal;
use crate::notify::outbox::{self, Outbox, State};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const JOURNAL_DIR: &str = "journal";
/// How often `--wait` looks again.
const WAIT_POLL: Duration = Duration::from_secs(1);
/// Lines of a hook's stdout and stderr `status ID` shows.
const TAIL_LINES: usize = 20;

/// One deployment as `status` shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub id: String,
    pub name: Option<String>,
    pub group: Option<String>,
    pub action: Option<String>,
    /// running | succeeded | failed | interrupted (journal); pending | unknown (no journal).
    pub state: String,
    pub exit_code: Option<i64>,
    pub duration: Option<f64>,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub error: Option<String>,
    pub signal: Option<outbox::Summary>,
}

/// A NO_SIGNAL deployment: its record says delivered, but nothing was sent.
fn no_signal(s: &outbox::Summary) -> bool {
    s.state == State::Delivered && s.transport == "none"
}

/// An RFC 3339 timestamp in local time, or null.
fn time_json(t: Option<f64>) -> Value {
    match t.and_then(crate::logging::local_time) {
        Some(z) => Value::String(crate::logging::rfc3339(&z)),
        None => Value::Null,
    }
}

/// `2026-11-23T03:46:57.507+00:00 (Mon 2026-11-23 03:46:57 UTC)`: ISO 8601 and local time.
fn time_text(t: Option<f64>) -> String {
    match t.and_then(crate::logging::local_time) {
        Some(z) => format!(
            "{} ({})",
            crate::logging::rfc3339(&z),
            z.strftime("%a %Y-%m-%d %H:%M:%S %Z")
        ),
        None => "-".into(),
    }
}

impl Row {
    /// A journal record as a row (no signal yet).
    pub fn from_record(rec: journal::Record) -> Row {
        let state = match rec.state {
            journal::State::Running => "running",
            journal::State::Succeeded => "succeeded",
            journal::State::Failed => "failed",
            journal::State::Interrupted => "interrupted",
        };
        Row {
            id: rec.id,
            name: rec.name,
            group: Some(rec.group),
            action: rec.action,
            state: state.into(),
            exit_code: rec.exit_code,
            duration: rec.duration,
            started_at: Some(rec.started_at),
            finished_at: rec.finished_at,
            error: rec.error,
            signal: None,
        }
    }

    /// Something an operator must look at.
    pub fn is_problem(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "interrupted")
            || self
                .signal
                .as_ref()
                .is_some_and(|s| s.state != State::Delivered)
    }

    /// Still going: the hook runs, or the signal waits to be delivered.
    pub fn is_open(&self) -> bool {
        matches!(self.state.as_str(), "running" | "pending")
            || self
                .signal
                .as_ref()
                .is_some_and(|s| s.state == State::Queued)
    }

    fn sort_key(&self) -> f64 {
        self.started_at
            .or(self.signal.as_ref().map(|s| s.created_at))
            .unwrap_or(0.0)
    }

    pub fn signal_text(&self) -> String {
        match &self.signal {
            None => "-".into(),
            Some(s) if no_signal(s) => "none".into(),
            Some(s) => match s.state {
                State::Delivered => format!("delivered ({})", s.transport),
                State::Queued => format!("queued ({}, {} attempts)", s.transport, s.attempts),
                State::Failed => match s.last_status {
                    Some(code) => format!("FAILED ({}, {code})", s.transport),
                    None => format!("FAILED ({})", s.transport),
                },
            },
        }
    }

    /// Why it needs a look: the deployment's error, else an undelivered signal's.
    fn reason(&self) -> Option<String> {
        self.error.clone().or_else(|| {
            self.signal
                .as_ref()
                .filter(|s| s.state != State::Delivered)
                .and_then(|s| s.last_error.clone())
        })
    }

    pub fn to_json(&self) -> Value {
        let signal = match &self.signal {
            None => Value::Null,
            Some(s) => json!({
                "state": if no_signal(s) { "no_signal" } else { s.state.as_str() },
                "transport": s.transport,
                "attempts": s.attempts,
                "created_at": time_json(Some(s.created_at)),
                "last_attempt_at": time_json(s.last_attempt_at),
                "next_attempt_at": time_json(s.next_attempt_at),
                "delivered_at": time_json(s.delivered_at.filter(|_| !no_signal(s))),
                "last_status": s.last_status,
                "last_error": s.last_error,
            }),
        };
        json!({
            "id": self.id,
            "name": self.name,
            "group": self.group,
            "action": self.action,
            "state": self.state,
            "exit_code": self.exit_code,
            "duration": self.duration,
            "started_at": time_json(self.started_at),
            "finished_at": time_json(self.finished_at),
            "error": self.error,
            "signal": signal,
        })
    }
}

/// The state directory cannot be read: nothing it says can be trusted.
pub fn unreadable_state_dir(state_dir: &Path) -> Option<String> {
    match std::fs::read_dir(state_dir) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "cannot read the state directory {}: {e}",
            state_dir.display()
        )),
    }
}

/// The `*.json` files of `dir` (none when it does not exist); a directory that exists but
/// cannot be read is a problem.
fn records_in(dir: &Path, problems: &mut Vec<String>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(_) => crate::fsutil::json_files(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            Vec::new()
        }
    }
}

/// Everything in `state_dir`, oldest first; plus the problems met reading it. Err: the state
/// directory itself cannot be read.
pub fn collect(state_dir: &Path) -> Result<(Vec<Row>, Vec<String>), String> {
    if let Some(e) = unreadable_state_dir(state_dir) {
        return Err(e);
    }
    let mut problems = Vec::new();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let journal = state_dir.join(JOURNAL_DIR);
    for p in records_in(&journal, &mut problems) {
        match journal::read_record(&p) {
            Ok(Some(rec)) => {
                rows.insert(rec.id.clone(), Row::from_record(rec));
            }
            Ok(None) => {}
            Err(e) => problems.push(e.to_string()),
        }
    }
    let outbox_dir = state_dir.join(outbox::OUTBOX_DIR);
    if !records_in(&outbox_dir, &mut problems).is_empty() {
        match Outbox::open(state_dir) {
            Ok(ob) => {
                let (summaries, unreadable) = ob.read_summaries();
                problems.extend(unreadable);
                for s in summaries {
                    join_signal(&mut rows, s);
                }
            }
            Err(e) => problems.push(format!("{}: {e}", outbox_dir.display())),
        }
    }
    if !crate::deploy::runner_active(state_dir) {
        let kept = std::fs::read_dir(&journal).into_iter().flatten().flatten();
        for f in kept.filter(|f| f.path().extension().is_some_and(|x| x == "result")) {
            problems.push(format!(
                "{}: a result whose signal is not queued yet (the state dir was full?): the next \
                 deploy run queues it",
                f.path().display()
            ));
        }
        for row in rows.values().filter(|r| r.state == "running") {
            problems.push(format!(
                "deployment {}: journal says running but no deployment run is active; its result was \
                 not saved (crash or full disk): the next deploy run signals it",
                row.id
            ));
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    rows.sort_by(|a, b| {
        a.sort_key()
            .total_cmp(&b.sort_key())
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok((rows, problems))
}

fn join_signal(rows: &mut BTreeMap<String, Row>, s: outbox::Summary) {
    let row = rows.entry(s.id.clone()).or_insert_with(|| Row {
        id: s.id.clone(),
        name: s.name.clone(),
        group: s.group.clone(),
        action: s.action.clone(),
        // signalled outside the runner (e.g. `notify`): the result is in the signal
        state: if s.state == State::Queued {
            "pending"
        } else {
            "unknown"
        }
        .into(),
        ..Row::default()
    });
    row.action = row.action.clone().or(s.action.clone());
    row.signal = Some(s);
}

/// The `--json` document.
pub fn to_json(rows: &[Row], problems: &[String]) -> Value {
    let count = |f: &dyn Fn(&Row) -> bool| rows.iter().filter(|r| f(r)).count();
    let failed = count(&|r| matches!(r.state.as_str(), "failed" | "interrupted"));
    let running = count(&|r| r.state == "running");
    let queued = count(&|r| r.signal.as_ref().is_some_and(|s| s.state == State::Queued));
    let signal_failed = count(&|r| r.signal.as_ref().is_some_and(|s| s.state == State::Failed));
    json!({
        "ok": failed == 0 && queued == 0 && signal_failed == 0 && problems.is_empty(),
        "summary": {
            "deployments": rows.len(),
            "failed": failed,
            "running": running,
            "signals_queued": queued,
            "signals_failed": signal_failed,
        },
        "deployments": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "problems": problems,
    })
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

/// `text` indented, one output line per line, control characters escaped.
fn indented(text: &str, indent: &str) -> String {
    text.lines()
        .map(|l| format!("{indent}{}\n", crate::logging::log_text(l)))
        .collect()
}

/// The human table: one line per deployment, and under a failed one its reason in full.
pub fn to_table(rows: &[Row], problems: &[String]) -> String {
    let header = [
        "ID", "NAME", "GROUP", "ACTION", "STATE", "EXIT", "DURATION", "SIGNAL",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let mut reasons: Vec<Option<String>> = vec![None];
    for r in rows {
        lines.push(
            [
                r.id.clone(),
                opt(&r.name),
                opt(&r.group),
                opt(&r.action),
                r.state.clone(),
                r.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.duration
                    .map(|d| format!("{d:.1}s"))
                    .unwrap_or_else(|| "-".into()),
                r.signal_text(),
            ]
            .into_iter()
            // an id or name holding a newline must not forge a row
            .map(|cell| crate::logging::log_text(&cell))
            .collect(),
        );
        reasons.push(r.reason().filter(|e| !e.trim().is_empty()));
    }
    let cols = header.len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (l, reason) in lines.iter().zip(&reasons) {
        let mut line = String::new();
        for (c, cell) in l.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < cols {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(reason) = reason {
            out.push_str(&indented(reason.trim_end(), "    reason: "));
        }
    }
    if rows.is_empty() {
        out.push_str("(no deployments recorded)\n");
    }
    for p in problems {
        out.push_str(&format!("unreadable: {p}\n"));
    }
    out
}

/// Everything known about one deployment (`status ID`).
pub struct Detail {
    pub row: Row,
    /// The outbox record's payload: the signal as sent (trimmed to Heat's limit).
    pub payload: Option<Value>,
    /// The outbox record.
    pub outbox_file: Option<PathBuf>,
    /// `<deployed>/<id>.notify.json`: the whole signal body as the hook produced it.
    pub signal_file: Option<PathBuf>,
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn payload_text(payload: Option<&Value>, key: &str) -> Option<String> {
    match payload?.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(crate::pyjson::py_str(other)),
    }
}

/// The hook's outputs: the signal's keys besides the standard three.
fn outputs(payload: Option<&Value>) -> Map<String, Value> {
    let mut out = payload
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in ["deploy_stdout", "deploy_stderr", "deploy_status_code"] {
        out.shift_remove(k);
    }
    out
}

impl Detail {
    pub fn find(state_dir: &Path, rows: Vec<Row>, id: &str) -> Option<Detail> {
        let row = rows.into_iter().find(|r| r.id == id)?;
        let (payload, outbox_file) = match row
            .signal
            .as_ref()
            .and_then(|_| Outbox::open(state_dir).ok())
        {
            Some(ob) => (
                ob.record(id).ok().flatten().map(|r| r.payload),
                Some(ob.path(id)),
            ),
            None => (None, None),
        };
        let paths = crate::deploy::Paths::from_env(&crate::notify::settings().unwrap_or_default());
        let signal_file = Some(paths.notify_file(id)).filter(|p| p.is_file());
        let payload = payload.or_else(|| {
            let text = std::fs::read_to_string(signal_file.as_ref()?).ok()?;
            crate::pyjson::from_str::<Value>(&text).ok()
        });
        Some(Detail {
            row,
            payload,
            outbox_file,
            signal_file,
        })
    }

    pub fn to_json(&self) -> Value {
        let p = self.payload.as_ref();
        let mut v = self.row.to_json();
        let tail_of = |k| payload_text(p, k).map(|t| crate::logging::mask(&tail(&t, TAIL_LINES)));
        v["stdout_tail"] = json!(tail_of("deploy_stdout"));
        v["stderr_tail"] = json!(tail_of("deploy_stderr"));
        v["outputs"] = Value::Object(outputs(p));
        v["signal_file"] = json!(self.signal_file.as_ref().map(|f| f.display().to_string()));
        v["outbox_file"] = json!(self.outbox_file.as_ref().map(|f| f.display().to_string()));
        v
    }

    pub fn to_text(&self) -> String {
        let r = &self.row;
        let p = self.payload.as_ref();
        let mut out = String::new();
        let mut field = |k: &str, v: String| {
            out.push_str(&format!("{k:<14}{}\n", crate::logging::log_text(&v)));
        };
        field("deployment", r.id.clone());
        field("name", opt(&r.name));
        field("hook", opt(&r.group));
        field("action", opt(&r.action));
        field("state", r.state.clone());
        field(
            "exit status",
            r.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
        );
        field("started", time_text(r.started_at));
        field("ended", time_text(r.finished_at));
        field(
            "duration",
            r.duration
                .map(|d| format!("{d:.1}s"))
                .unwrap_or_else(|| "-".into()),
        );
        field("signal", r.signal_text());
        if let Some(s) = &r.signal {
            field("  transport", s.transport.clone());
            field("  attempts", s.attempts.to_string());
            field("  queued", time_text(Some(s.created_at)));
            if s.state == State::Queued {
                field("  next attempt", time_text(s.next_attempt_at));
            }
            if let Some(code) = s.last_status {
                field("  last status", code.to_string());
            }
            if let Some(e) = &s.last_error {
                field("  last error", e.clone());
            }
        }
        field(
            "signal body",
            self.signal_file
                .as_ref()
                .or(self.outbox_file.as_ref())
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "-".into()),
        );
        if let Some(f) = &self.outbox_file {
            field("outbox record", f.display().to_string());
        }
        if let Some(e) = &r.error {
            out.push_str("error:\n");
            out.push_str(&indented(e.trim_end(), "  "));
        }
        let outputs = outputs(p);
        if !outputs.is_empty() {
            out.push_str("outputs:\n");
            for (k, v) in &outputs {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => crate::pyjson::dumps(other),
                };
                out.push_str(&indented(&format!("{k}: {v}"), "  "));
            }
        }
        for (key, title) in [("deploy_stdout", "stdout"), ("deploy_stderr", "stderr")] {
            if let Some(t) = payload_text(p, key).filter(|t| !t.trim().is_empty()) {
                out.push_str(&format!("{title} (last {TAIL_LINES} lines):\n"));
                out.push_str(&indented(
                    &crate::logging::mask(&tail(&t, TAIL_LINES)),
                    "  ",
                ));
            }
        }
        out
    }
}

/// What [`collect`] found: the rows and the problems.
pub type Collected = (Vec<Row>, Vec<String>);

/// `--wait`: look every [`WAIT_POLL`] until nothing is open (and no deployment run is active).
/// Err: the timeout passed first (the rows last seen come with it).
pub fn wait(
    state_dir: &Path,
    id: Option<&str>,
    timeout: Option<Duration>,
) -> Result<Result<Collected, Collected>, String> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let (rows, problems) = collect(state_dir)?;
        let open = rows
            .iter()
            .any(|r| id.is_none_or(|id| r.id == id) && r.is_open())
            || crate::deploy::runner_active(state_dir);
        if !open {
            return Ok(Ok((rows, problems)));
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(Err((rows, problems)));
        }
        let nap = deadline.map_or(WAIT_POLL, |d| WAIT_POLL.min(d - now));
        std::thread::sleep(nap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: journal::State) -> journal::Record {
        journal::Record {
            id: "a".into(),
            name: Some("n".into()),
            group: "script".into(),
            action: Some("CREATE".into()),
            state,
            started_at: 1.5,
            finished_at: Some(3.0),
            exit_code: Some(2),
            duration: Some(1.5),
            error: Some("hook exited with status 2".into()),
        }
    }

    #[test]
    fn rows_come_from_typed_journal_records() {
        let r = Row::from_record(record(journal::State::Failed));
        assert_eq!(
            (r.id.as_str(), r.state.as_str(), r.exit_code),
            ("a", "failed", Some(2))
        );
        assert!(r.is_problem() && !r.is_open());
        let r = Row::from_record(record(journal::State::Running));
        assert!(r.is_open());
        let v = r.to_json();
        assert!(v["started_at"].as_str().unwrap().contains('T'), "{v}");
    }

    #[test]
    fn table_has_one_line_per_deployment_and_a_line_per_reason() {
        let ok = Row {
            id: "abc".into(),
            state: "succeeded".into(),
            exit_code: Some(0),
            duration: Some(2.0),
            ..Row::default()
        };
        let long = "x".repeat(200);
        let bad = Row {
            id: "bad".into(),
            state: "failed".into(),
            error: Some(format!("first\n{long}")),
            ..Row::default()
        };
        let t = to_table(&[ok, bad], &[]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(lines[0].starts_with("ID"));
        assert!(lines[1].contains("succeeded") && lines[1].contains("2.0s"));
        assert_eq!(lines[3], "    reason: first");
        assert_eq!(lines[4], format!("    reason: {long}"));
        assert!(!t.contains('…'));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
