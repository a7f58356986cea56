//! One deployment entry: validation, String-input sanitising, component resolution, hook name,
//! and turning a hook's result into signal data
//! (docs/compatibility.md, "What stays exactly as the reference").
//! Pure logic: no files, no processes.

use crate::hooks::contract::{decode_tail, valid_id};
use crate::pyjson;
use serde_json::{json, Map, Value};

/// Groups that never had a hook: no marker, no signal, silently retried on every run
/// (the reference whitelists `os-apply-config`; `Heat::Ungrouped` is handled by the
/// os-apply-config side too, see docs/compatibility.md).
pub const GROUPS_WITHOUT_HOOK: [&str; 2] = ["os-apply-config", "Heat::Ungrouped"];

/// A deployment entry checked and sanitised, ready for the hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// The sanitised entry (what the marker holds and what the hook reads on stdin).
    pub entry: Value,
    pub id: String,
    pub group: String,
    /// Input name → value, in input order (`value` missing → null).
    pub inputs: Vec<(String, Value)>,
}

impl Deployment {
    pub fn input(&self, name: &str) -> Option<&Value> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The `deploy_action` input as text.
    pub fn action(&self) -> Option<String> {
        self.input("deploy_action").map(pyjson::py_str)
    }

    pub fn name(&self) -> Option<String> {
        self.entry
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
}

/// What to do with one raw entry of the deployments list.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    Run(Deployment),
    /// A `component` with no config for the current action: skipped, no marker, no signal.
    NoComponentForAction {
        id: String,
        action: Option<String>,
    },
}

/// Sanitise, validate and resolve one raw entry. `Err` is a one-line reason (the entry is
/// skipped and logged; the other deployments still run).
pub fn prepare(raw: &Value) -> Result<Prepared, String> {
    let Some(obj) = raw.as_object() else {
        return Err(format!("not a JSON object but {}", type_name(raw)));
    };
    let mut obj = obj.clone();
    let id = match obj.get("id") {
        Some(Value::String(s)) if valid_id(s) => s.clone(),
        Some(Value::String(s)) => return Err(format!("unusable id {s:?}")),
        Some(other) => return Err(format!("id is {} (expected a string)", type_name(other))),
        None => return Err("no id".to_string()),
    };
    sanitise_string_inputs(&mut obj).map_err(|e| format!("{id}: {e}"))?;
    let inputs = input_values(&obj).map_err(|e| format!("{id}: {e}"))?;
    let group = match obj.get("group") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => "Heat::Ungrouped".to_string(),
        Some(other) => {
            return Err(format!(
                "{id}: group is {} (expected a string)",
                type_name(other)
            ))
        }
    };
    let mut dep = Deployment {
        entry: Value::Null,
        id: id.clone(),
        group,
        inputs,
    };
    if dep.group == "component" {
        let action = dep.input("deploy_action").cloned();
        match resolve_component(obj.get("config"), action.as_ref()) {
            Some((config, tool)) => {
                obj.insert("config".into(), config);
                obj.insert("group".into(), Value::String(tool.clone()));
                dep.group = tool;
            }
            None => {
                return Ok(Prepared::NoComponentForAction {
                    id,
                    action: action.as_ref().map(pyjson::py_str),
                })
            }
        }
    }
    dep.entry = Value::Object(obj);
    Ok(Prepared::Run(dep))
}

/// Bug 1333992: every `String`-typed input whose value is not a string gets Python's `str()`
/// of it, written back into the entry (so the marker and the hook see the sanitised form).
pub fn sanitise_string_inputs(obj: &mut Map<String, Value>) -> Result<(), String> {
    match obj.get_mut("inputs") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(inputs)) => {
            for input in inputs.iter_mut() {
                let Some(input) = input.as_object_mut() else {
                    continue;
                };
                if input.get("type").and_then(Value::as_str) != Some("String") {
                    continue;
                }
                if let Some(v) = input.get_mut("value") {
                    if !v.is_string() {
                        *v = Value::String(pyjson::py_str(v));
                    }
                }
            }
            Ok(())
        }
        Some(other) => Err(format!("inputs is {} (expected a list)", type_name(other))),
    }
}

/// Input name → value. Missing `inputs` or `value` are tolerated (null-tolerant, Appendix B.6).
pub fn input_values(obj: &Map<String, Value>) -> Result<Vec<(String, Value)>, String> {
    let Some(Value::Array(inputs)) = obj.get("inputs") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let Some(input) = input.as_object() else {
            return Err(format!(
                "input #{i} is {} (expected an object)",
                type_name(input)
            ));
        };
        let Some(name) = input.get("name").and_then(Value::as_str) else {
            return Err(format!("input #{i} has no name"));
        };
        out.push((
            name.to_string(),
            input.get("value").cloned().unwrap_or(Value::Null),
        ));
    }
    Ok(out)
}

/// `component`: the first `configs[]` element whose `actions` contain the deploy action.
fn resolve_component(config: Option<&Value>, action: Option<&Value>) -> Option<(Value, String)> {
    let configs = config?.get("configs")?.as_array()?;
    let action = action?;
    for c in configs {
        let Some(actions) = c.get("actions").and_then(Value::as_array) else {
            continue;
        };
        if actions.iter().any(|a| a == action) {
            let tool = c.get("tool").map(pyjson::py_str).unwrap_or_default();
            return Some((c.get("config").cloned().unwrap_or(Value::Null), tool));
        }
    }
    None
}

/// Hook file name for a group: only ASCII `[A-Za-z0-9_-]` kept; empty → no hook (W23).
pub fn hook_name(group: &str) -> Option<String> {
    let name: String = group
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Signal data from an external hook's result: valid JSON object on stdout wins
/// whatever the exit code; otherwise stdout/stderr/status; `{}` for rc 0 with empty stdout.
/// Deviation: JSON that is not an object (a list, a string) is treated like non-JSON, since
/// Heat cannot use it.
pub fn signal_from_hook(
    rc: i32,
    stdout: &[u8],
    stdout_dropped: u64,
    stderr: &[u8],
    stderr_dropped: u64,
) -> Value {
    if stdout_dropped == 0 && !stdout.is_empty() {
        if let Ok(text) = std::str::from_utf8(stdout) {
            if let Ok(v @ Value::Object(_)) = pyjson::parse_value(text) {
                return v;
            }
        } else if let Ok(v @ Value::Object(_)) =
            pyjson::parse_value(&String::from_utf8_lossy(stdout))
        {
            return v;
        }
    }
    if rc == 0 && stdout.is_empty() {
        return pyjson::empty_object();
    }
    json!({
        "deploy_stdout": decode_tail(stdout, stdout_dropped),
        "deploy_stderr": decode_tail(stderr, stderr_dropped),
        "deploy_status_code": rc,
    })
}

/// A failure produced by the runner itself (no hook, timeout, interrupted ...).
pub fn failure_signal(stdout: String, stderr: String, code: i64) -> Value {
    json!({"deploy_stdout": stdout, "deploy_stderr": stderr, "deploy_status_code": code})
}

/// How Heat will judge the signal: failed iff `deploy_status_code` is truthy and its `str()`
/// is not `"0"`, or a declared `error_output` is present
/// (docs/compatibility.md, "Journal semantics (exact)").
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub failed: bool,
    /// `deploy_status_code` as an integer when it is one (or a string holding one).
    pub exit_code: Option<i64>,
    pub error: Option<String>,
}

pub fn verdict(entry: &Value, signal: &Value) -> Verdict {
    let code = signal.get("deploy_status_code");
    let exit_code = code.and_then(|c| match c {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    });
    let mut reasons = Vec::new();
    if let Some(c) = code {
        if pyjson::truthy(c) && pyjson::py_str(c) != "0" {
            reasons.push(format!(
                "deploy_status_code : Deployment exited with non-zero status code: {}",
                pyjson::py_str(c)
            ));
        }
    }
    if let Some(outputs) = entry.get("outputs").and_then(Value::as_array) {
        for o in outputs {
            let Some(name) = o.get("name").and_then(Value::as_str) else {
                continue;
            };
            let is_error = o.get("error_output").is_some_and(pyjson::truthy);
            if is_error {
                if let Some(v) = signal.get(name) {
                    reasons.push(format!("{name} : {}", pyjson::py_str(v)));
                }
            }
        }
    }
    let failed = !reasons.is_empty();
    Verdict {
        failed,
        exit_code,
        error: failed.then(|| reasons.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11: a hook's JSON object with numbers Python reads as non-finite is its signal.
    #[test]
    fn hook_stdout_with_non_finite_numbers_is_the_signal() {
        let v = signal_from_hook(
            0,
            br#"{"deploy_stdout": "x", "n": [NaN, -Infinity]}"#,
            0,
            b"",
            0,
        );
        assert_eq!(
            pyjson::dumps(&v),
            r#"{"deploy_stdout": "x", "n": [NaN, -Infinity]}"#
        );
    }

    fn run(raw: Value) -> Deployment {
        match prepare(&raw).unwrap() {
            Prepared::Run(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn string_inputs_get_python_str() {
        let d = run(json!({"id": "1", "group": "script", "inputs": [
            {"name": "n", "type": "String", "value": 5},
            {"name": "f", "type": "String", "value": 1.5},
            {"name": "t", "type": "String", "value": true},
            {"name": "z", "type": "String", "value": null},
            {"name": "m", "type": "String", "value": {"a": 1}},
            {"name": "l", "type": "String", "value": ["a", 1]},
            {"name": "num", "type": "Number", "value": 5},
            {"name": "untyped", "value": 7}
        ]}));
        let vals: Vec<Value> = d.inputs.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            vals,
            vec![
                json!("5"),
                json!("1.5"),
                json!("True"),
                json!("None"),
                json!("{'a': 1}"),
                json!("['a', 1]"),
                json!(5),
                json!(7)
            ]
        );
        // written back into the entry
        assert_eq!(d.entry["inputs"][2]["value"], json!("True"));
    }

    #[test]
    fn component_resolution_by_action() {
        let raw = json!({"id": "c1", "group": "component", "config": {"configs": [
            {"actions": ["DELETE"], "config": "bye", "tool": "script"},
            {"actions": ["CREATE", "UPDATE"], "config": "hi", "tool": "ansible"}
        ]}, "inputs": [{"name": "deploy_action", "type": "String", "value": "UPDATE"}]});
        let d = run(raw.clone());
        assert_eq!(d.group, "ansible");
        assert_eq!(d.entry["config"], json!("hi"));
        assert_eq!(d.entry["group"], json!("ansible"));
        let mut other = raw;
        other["inputs"][0]["value"] = json!("SUSPEND");
        assert_eq!(
            prepare(&other).unwrap(),
            Prepared::NoComponentForAction {
                id: "c1".into(),
                action: Some("SUSPEND".into())
            }
        );
    }

    #[test]
    fn malformed_entries_are_errors_naming_the_problem() {
        assert!(prepare(&json!("x"))
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(prepare(&json!({"group": "script"}))
            .unwrap_err()
            .contains("no id"));
        assert!(prepare(&json!({"id": "../etc"}))
            .unwrap_err()
            .contains("unusable id"));
        assert!(prepare(&json!({"id": 5}))
            .unwrap_err()
            .contains("id is a number"));
        assert!(prepare(&json!({"id": "a", "inputs": {}}))
            .unwrap_err()
            .contains("inputs is an object"));
        assert!(prepare(&json!({"id": "a", "inputs": [{"value": 1}]}))
            .unwrap_err()
            .contains("no name"));
        // missing inputs and group are tolerated
        let d = run(json!({"id": "a"}));
        assert_eq!(d.group, "Heat::Ungrouped");
        assert!(d.inputs.is_empty());
    }

    #[test]
    fn hook_names_are_ascii_only_and_never_empty() {
        assert_eq!(hook_name("../script").as_deref(), Some("script"));
        assert_eq!(hook_name("json-file").as_deref(), Some("json-file"));
        assert_eq!(
            hook_name("Heat::Ungrouped").as_deref(),
            Some("HeatUngrouped")
        );
        assert_eq!(hook_name("::"), None);
        assert_eq!(hook_name("scrïpt").as_deref(), Some("scrpt"));
    }

    #[test]
    fn signal_rules_of_section_2_6() {
        assert_eq!(signal_from_hook(0, b"", 0, b"e", 0), json!({}));
        assert_eq!(
            signal_from_hook(0, b"{\"deploy_status_code\": 3}", 0, b"", 0),
            json!({"deploy_status_code": 3})
        );
        assert_eq!(
            signal_from_hook(2, b"{\"a\": 1}", 0, b"", 0),
            json!({"a": 1})
        );
        assert_eq!(
            signal_from_hook(0, b"not json", 0, b"err", 0),
            json!({"deploy_stdout": "not json", "deploy_stderr": "err", "deploy_status_code": 0})
        );
        assert_eq!(
            signal_from_hook(1, b"", 0, b"boom", 0),
            json!({"deploy_stdout": "", "deploy_stderr": "boom", "deploy_status_code": 1})
        );
        assert_eq!(
            signal_from_hook(0, b"[1]", 0, b"", 0)["deploy_stdout"],
            json!("[1]")
        );
        let s = signal_from_hook(1, b"tail", 10, b"", 0);
        assert_eq!(
            s["deploy_stdout"],
            json!("[heat-agent: 10 earlier bytes dropped]\ntail")
        );
    }

    #[test]
    fn verdict_follows_heat() {
        let e = json!({"outputs": [{"name": "bad", "error_output": true}, {"name": "ok"}]});
        assert!(!verdict(&e, &json!({})).failed);
        assert!(!verdict(&e, &json!({"deploy_status_code": "0"})).failed);
        assert!(!verdict(&e, &json!({"deploy_status_code": 0, "ok": "x"})).failed);
        let v = verdict(&e, &json!({"deploy_status_code": "-1"}));
        assert!(v.failed);
        assert_eq!(v.exit_code, Some(-1));
        let v = verdict(&e, &json!({"deploy_status_code": 0, "bad": ""}));
        assert!(v.failed);
        assert_eq!(v.error.as_deref(), Some("bad : "));
    }
}
