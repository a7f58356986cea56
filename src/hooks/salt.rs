//! The `salt` hook (heat-agents' hook-salt.py): the config is the state `<working>/<id>.sls`,
//! applied with `salt-call --local state.sls <id>` from a minion config that is the operator's
//! (`SALT_MINION_CONFIG`) with `file_roots` = the working dir, `file_client: local` and every
//! input as a minion option on top (states read them as `opts['name']` or `config.get`).
//! The reference calls salt's Python API; `--metadata --out json` gives the same result dict
//! (`return`, `retcode`, `jid`, ...), and its `return` goes to Heat as PyYAML would dump it.

use super::{Context, HookError, HookResult, Outcome, ToolRun};
use crate::process::Spec;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub(super) fn run(entry: &Value, ctx: &Context) -> HookResult {
    let crate::config::vars::SaltHook {
        working,
        minion_config,
        cmd,
    } = crate::config::vars::salt_hook();
    super::prepare_dir(&working)?;
    let id = super::entry_id(entry)?;

    // A mapping config is dumped as YAML (as the reference); the reference crashes on a null one.
    let state = match entry.get("config") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v @ (Value::Object(_) | Value::Array(_))) => super::pyyaml::safe_dump(v),
        Some(_) => {
            return Err(HookError::new(
                "config must be a salt state (a string or a mapping)",
                1,
            ))
        }
    };
    let confdir = write_minion_config(entry, &working, &id, &minion_config)?;
    let state_file = working.join(format!("{id}.sls"));
    super::write_file(&state_file, state.as_bytes(), 0o700)?;

    let mut spec = Spec::new(&cmd)
        .arg("--local")
        .arg("--config-dir")
        .arg(&confdir)
        .arg("--metadata")
        .arg("--out")
        .arg("json")
        .arg("state.sls")
        .arg(&id);
    spec.cwd = Some(working.clone());
    log::debug!("Applying Salt state {id}.sls");
    let f = match super::run_tool(spec, ctx, "salt hook (is salt-call installed?)") {
        ToolRun::Done(f) => f,
        ToolRun::NotStarted(e) => return Err(e),
        ToolRun::Cancelled => return Ok(Outcome::Cancelled),
    };
    log::info!("salt-call: {}", f.describe());
    let (out, err) = super::tool_texts(&f, ctx);
    let ret = if f.timed_out {
        None
    } else {
        crate::pyjson::loads(&out, "salt-call output")
            .ok()
            .and_then(|v| v.get("local").cloned())
            .filter(|r| r.get("retcode").is_some_and(Value::is_i64))
    };
    let Some(ret) = ret else {
        // No result dict (salt crashed, timed out): the reference would crash too; report
        // what salt-call said instead.
        let status = match super::tool_status(&f) {
            0 => 1,
            s => s,
        };
        log::error!("Error applying Salt state {id}.sls: no result from salt-call [{status}]");
        let mut response = Map::new();
        for name in output_names(entry) {
            response.insert(name, Value::Null);
        }
        response.insert("deploy_stdout".into(), Value::String(out));
        response.insert("deploy_stderr".into(), Value::String(err));
        response.insert("deploy_status_code".into(), status.into());
        return Ok(Outcome::Printed(Value::Object(response)));
    };
    let (stdout, stderr, status) = judge(&ret);
    if status == 0 {
        log::info!("Completed applying salt state {id}.sls");
    } else {
        log::error!("Error applying Salt state {id}.sls. [{status}]");
    }
    let mut response = Map::new();
    for name in output_names(entry) {
        let v = ret.get(&name).cloned().unwrap_or(Value::Null);
        response.insert(name, v);
    }
    response.insert("deploy_stdout".into(), stdout);
    response.insert("deploy_stderr".into(), stderr);
    response.insert("deploy_status_code".into(), status.into());
    Ok(Outcome::Printed(Value::Object(response)))
}

/// The minion config dir `<working>/.<id>.minion`: the inputs (with the file roots and the local
/// file client) in `heat-inputs.conf`, and a `minion` file including the operator's config
/// before them.
fn write_minion_config(
    entry: &Value,
    working: &Path,
    id: &str,
    minion_config: &Path,
) -> Result<PathBuf, HookError> {
    let mut overrides = Map::new();
    overrides.insert(
        "file_roots".into(),
        serde_json::json!({"base": [working.to_string_lossy()]}),
    );
    overrides.insert("file_client".into(), "local".into());
    for (name, value) in super::inputs(entry) {
        overrides.insert(name, value);
    }
    let confdir = working.join(format!(".{id}.minion"));
    super::prepare_dir(&confdir)?;
    let overrides_file = confdir.join("heat-inputs.conf");
    super::write_file(
        &overrides_file,
        crate::pyjson::dumps_with(
            &Value::Object(overrides),
            crate::pyjson::DumpOptions {
                ensure_ascii: false,
                ..crate::pyjson::DumpOptions::COMPACT
            },
        )
        .as_bytes(),
        0o600,
    )?;
    super::write_file(
        &confdir.join("minion"),
        crate::pyjson::dumps(&minion_file(minion_config, &overrides_file)).as_bytes(),
        0o600,
    )?;
    Ok(confdir)
}

/// The generated minion config: the operator's file, its `minion.d/*.conf`, then ours (later
/// includes win, as the reference's assignments after `minion_config()`).
fn minion_file(operator: &Path, overrides: &Path) -> Value {
    let mut include: Vec<Value> = Vec::new();
    if operator.is_file() {
        include.push(operator.to_string_lossy().into());
    }
    let dropins: PathBuf = operator
        .parent()
        .map(|d| d.join("minion.d"))
        .unwrap_or_default();
    if dropins.is_dir() {
        include.push(dropins.join("*.conf").to_string_lossy().into());
    }
    include.push(overrides.to_string_lossy().into());
    serde_json::json!({ "include": include })
}

/// Declared output names, in order.
fn output_names(entry: &Value) -> Vec<String> {
    entry
        .get("outputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The reference's verdict on a salt result: (deploy_stdout, deploy_stderr, status). A
/// non-zero retcode is a failure only if some state's `result` is false; a `return` that is
/// not a mapping (render errors: a list of messages) is a failure with the messages on stderr
/// (the reference crashes on it).
fn judge(ret: &Value) -> (Value, Value, i64) {
    let retcode = ret.get("retcode").and_then(Value::as_i64).unwrap_or(1);
    let result = ret.get("return").cloned().unwrap_or(Value::Null);
    let output = Value::String(super::pyyaml::safe_dump(&result));
    if retcode == 0 {
        return (output, Value::Null, 0);
    }
    let failed = match &result {
        Value::Object(states) => states
            .values()
            .any(|data| !data.get("result").is_some_and(crate::pyjson::truthy)),
        _ => true,
    };
    if failed {
        (Value::Null, output, retcode)
    } else {
        (output, Value::Null, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::judge;
    use serde_json::json;

    #[test]
    fn verdict_follows_the_reference() {
        let ok = json!({"retcode": 0, "return": {"s": {"result": true}}});
        assert_eq!(judge(&ok), (json!("s:\n  result: true\n"), json!(null), 0));
        // salt says 2 but every state succeeded: success (the reference resets retcode)
        let odd = json!({"retcode": 2, "return": {"s": {"result": true}}});
        assert_eq!(judge(&odd).2, 0);
        let failed = json!({"retcode": 2, "return": {"s": {"result": false}}});
        assert_eq!(
            judge(&failed),
            (json!(null), json!("s:\n  result: false\n"), 2)
        );
        let render = json!({"retcode": 1, "return": ["Rendering SLS failed"]});
        assert_eq!(
            judge(&render),
            (json!(null), json!("- Rendering SLS failed\n"), 1)
        );
    }
}
