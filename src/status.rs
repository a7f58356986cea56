//! `heat-agent status`: deployments, results and signal delivery, for humans and machines.
//!
//! Reads the deploy runner's journal (`<state_dir>/journal/<id>.json`: `id`, `name`, `group`,
//! `action`, `state`, `started_at`, `finished_at`, `exit_code`, `duration`, `error`) and the
//! signal outbox (`<state_dir>/outbox/<id>.json`), and joins them by deployment id.
//! Exit status: 0 when nothing failed and every signal is delivered; 1 when a deployment failed
//! or was interrupted, a signal is still queued or failed permanently, or a file is unreadable.

use crate::notify::outbox::{self, Outbox, State};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const JOURNAL_DIR: &str = "journal";

pub fn command() -> clap::Command {
    clap::Command::new("heat-agent status")
        .about("List deployments, their results and signal delivery")
        .long_about(
            "Lists every deployment the agent knows (journal and signal outbox in the state \
             directory): id, name, group, action, state, exit code, duration, signal delivery and \
             the last error. Exit status 1 when a deployment failed or was interrupted, a signal \
             is undelivered (queued or failed permanently), or a result was not saved (a journal \
             record left running with no deployment run active); 0 otherwise.",
        )
        .arg(
            clap::Arg::new("json")
                .long("json")
                .action(clap::ArgAction::SetTrue)
                .help("print one JSON document (schema in docs/compatibility.md)"),
        )
        .arg(
            clap::Arg::new("state_dir")
                .long("state-dir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("state directory (default: $HEAT_AGENT_STATE_DIR or /var/lib/heat-agent)"),
        )
}

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

impl Row {
    /// Something an operator must look at.
    pub fn is_problem(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "interrupted")
            || self
                .signal
                .as_ref()
                .is_some_and(|s| s.state != State::Delivered)
    }

    fn sort_key(&self) -> f64 {
        self.started_at
            .or(self.signal.as_ref().map(|s| s.created_at))
            .unwrap_or(0.0)
    }

    pub fn signal_text(&self) -> String {
        match &self.signal {
            None => "-".into(),
            Some(s) => match s.state {
                State::Delivered if s.transport == "none" => "none".into(),
                State::Delivered => format!("delivered ({})", s.transport),
                State::Queued => format!("queued ({}, {} attempts)", s.transport, s.attempts),
                State::Failed => match s.last_status {
                    Some(code) => format!("FAILED ({}, {code})", s.transport),
                    None => format!("FAILED ({})", s.transport),
                },
            },
        }
    }

    pub fn to_json(&self) -> Value {
        let signal = match &self.signal {
            None => Value::Null,
            Some(s) => json!({
                "state": s.state.as_str(),
                "transport": s.transport,
                "attempts": s.attempts,
                "created_at": s.created_at,
                "last_attempt_at": s.last_attempt_at,
                "next_attempt_at": s.next_attempt_at,
                "delivered_at": s.delivered_at,
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
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "signal": signal,
        })
    }
}

fn text(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(crate::pyjson::py_str(other)),
    }
}

fn float(m: &Map<String, Value>, k: &str) -> Option<f64> {
    m.get(k).and_then(Value::as_f64)
}

/// A journal file as a row (no signal yet).
pub fn row_from_journal(v: &Value, fallback_id: &str) -> Result<Row, String> {
    let m = v.as_object().ok_or("not a JSON object")?;
    Ok(Row {
        id: text(m, "id").unwrap_or_else(|| fallback_id.to_string()),
        name: text(m, "name"),
        group: text(m, "group"),
        action: text(m, "action"),
        state: text(m, "state").unwrap_or_else(|| "unknown".into()),
        exit_code: m.get("exit_code").and_then(Value::as_i64),
        duration: float(m, "duration"),
        started_at: float(m, "started_at"),
        finished_at: float(m, "finished_at"),
        error: text(m, "error"),
        signal: None,
    })
}

/// Everything in `state_dir`, oldest first; plus the problems met reading it.
pub fn collect(state_dir: &Path) -> (Vec<Row>, Vec<String>) {
    let mut problems = Vec::new();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let journal = state_dir.join(JOURNAL_DIR);
    for p in crate::fsutil::json_files(&journal) {
        let stem = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| crate::pyjson::from_str::<Value>(&t))
            .and_then(|v| row_from_journal(&v, &stem));
        match parsed {
            Ok(row) => {
                rows.insert(row.id.clone(), row);
            }
            Err(e) => problems.push(format!("{}: {e}", p.display())),
        }
    }
    if state_dir.join(outbox::OUTBOX_DIR).is_dir() {
        if let Ok(ob) = Outbox::open(state_dir) {
            let (summaries, unreadable) = ob.read_summaries();
            problems.extend(unreadable);
            for s in summaries {
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
    (rows, problems)
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

fn first_line(s: &str, max: usize) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut out: String = line.chars().take(max).collect();
    if line.chars().count() > max {
        out.push('…');
    }
    out
}

/// The human table.
pub fn to_table(rows: &[Row], problems: &[String]) -> String {
    let header = [
        "ID",
        "NAME",
        "GROUP",
        "ACTION",
        "STATE",
        "EXIT",
        "DURATION",
        "SIGNAL",
        "LAST ERROR",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let err = r
            .error
            .clone()
            .or_else(|| {
                r.signal
                    .as_ref()
                    .filter(|s| s.state != State::Delivered)
                    .and_then(|s| s.last_error.clone())
            })
            .map(|e| first_line(&e, 80))
            .unwrap_or_else(|| "-".into());
        lines.push(vec![
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
            err,
        ]);
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
    for l in &lines {
        let mut line = String::new();
        for (c, cell) in l.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no deployments recorded)\n");
    }
    for p in problems {
        out.push_str(&format!("unreadable: {p}\n"));
    }
    out
}

pub fn main(args: Vec<OsString>) -> i32 {
    let mut cmd = command();
    if let Some(name) = args.first() {
        cmd = cmd.bin_name(name.to_string_lossy().into_owned());
    }
    let matches = match cmd.try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let state_dir = matches
        .get_one::<PathBuf>("state_dir")
        .cloned()
        .unwrap_or_else(crate::notify::state_dir);
    let (rows, problems) = collect(&state_dir);
    let doc = to_json(&rows, &problems);
    if matches.get_flag("json") {
        crate::output::println(crate::pyjson::dumps_indent(&doc, 2));
    } else {
        crate::output::print(to_table(&rows, &problems));
    }
    if doc["ok"] == json!(true) {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_rows_parse_leniently() {
        let v = json!({"id": "a", "name": "n", "group": "script", "action": "CREATE", "state": "failed",
                       "started_at": 1.5, "finished_at": 3.0, "exit_code": 2, "duration": 1.5, "error": null});
        let r = row_from_journal(&v, "x").unwrap();
        assert_eq!(
            (r.id.as_str(), r.state.as_str(), r.exit_code),
            ("a", "failed", Some(2))
        );
        assert!(r.is_problem());
        let r = row_from_journal(&json!({"state": "succeeded"}), "stem").unwrap();
        assert_eq!(r.id, "stem");
        assert!(!r.is_problem());
        assert!(row_from_journal(&json!([1]), "x").is_err());
    }

    #[test]
    fn table_has_one_line_per_deployment() {
        let r = Row {
            id: "abc".into(),
            state: "succeeded".into(),
            exit_code: Some(0),
            duration: Some(2.0),
            ..Row::default()
        };
        let t = to_table(&[r], &[]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID"));
        assert!(
            lines[1].contains("succeeded") && lines[1].contains("2.0s") && lines[1].ends_with("-")
        );
    }

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }
}
