//! The `chef` hook (heat-agents' hook-chef.py): `client.rb` (local mode, the kitchen's
//! cookbook/role/environment paths, `environment` from the input of that name, `node_path`),
//! the node JSON `<working>/node/<fqdn>.json` (the inputs except the deploy_* ones, plus
//! `run_list` = the config parsed as JSON), an optional `git clone` of the kitchen, then
//! `chef-client -z --config <client.rb> -j <node json>` with `heat_outputs_path` in its
//! environment; outputs are read from `<outputs>/<id>.<name>`.

use super::{Context, HookError, HookResult, Outcome, ToolRun};
use crate::process::Spec;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

const DEPLOY_KEYS: [&str; 7] = [
    "deploy_server_id",
    "deploy_action",
    "deploy_stack_id",
    "deploy_resource_name",
    "deploy_signal_transport",
    "deploy_signal_id",
    "deploy_signal_verb",
];

/// A `{deploy_status_code, deploy_stdout, deploy_stderr}` answer, in the reference's key order.
fn answer(status: i64, out: String, err: String) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("deploy_status_code".into(), status.into());
    m.insert("deploy_stdout".into(), Value::String(out));
    m.insert("deploy_stderr".into(), Value::String(err));
    m
}

/// Run a helper tool; `Err` carries the finished answer when it could not run.
fn helper(spec: Spec, ctx: &Context, what: &str) -> Result<crate::process::Finished, HookResult> {
    match super::run_tool(spec, ctx, what) {
        ToolRun::Done(f) => Ok(f),
        ToolRun::NotStarted(e) => Err(Err(e)),
        ToolRun::Cancelled => Err(Ok(Outcome::Cancelled)),
    }
}

pub(super) fn run(entry: &Value, ctx: &Context) -> HookResult {
    let crate::config::vars::HookDirs { working, outputs } = crate::config::vars::chef_hook();
    super::prepare_dir(&outputs)?;
    super::prepare_dir(&working)?;
    let id = super::entry_id(entry)?;
    let inputs = super::inputs(entry);

    let mut client_config = String::from(
        "log_level :debug\nlog_location STDOUT\nlocal_mode true\nchef_zero.enabled true",
    );
    let opts = super::options(entry);
    let kitchen = super::option_text(&opts, "kitchen");
    let kitchen_path = match opts.get("kitchen_path") {
        Some(Value::String(p)) => PathBuf::from(p),
        _ => working.join("kitchen"),
    };
    for (key, sub) in [
        ("cookbook_path", "cookbooks"),
        ("role_path", "roles"),
        ("environment_path", "environments"),
    ] {
        client_config.push_str(&format!(
            "\n{key} '{}'",
            kitchen_path.join(sub).to_string_lossy()
        ));
    }
    if let Some(kitchen) = kitchen {
        if let Some(failed) = clone_kitchen(&kitchen, &kitchen_path, &inputs, &working, ctx) {
            return failed;
        }
    }

    let mut spec = Spec::new("hostname").arg("-f");
    spec.cwd = Some(working.clone());
    let f = match helper(spec, ctx, "chef hook: hostname -f") {
        Ok(f) => f,
        Err(r) => return r,
    };
    if !f.success() {
        // the reference means to say this (it crashes on its own message instead)
        return Ok(Outcome::Printed(Value::Object(answer(
            super::tool_status(&f),
            String::new(),
            "Could not determine hostname with hostname -f".into(),
        ))));
    }
    let fqdn = String::from_utf8_lossy(&f.stdout).trim().to_string();
    if fqdn.is_empty() || fqdn.contains('/') {
        return Err(HookError::new(
            format!("hostname -f gave {fqdn:?}, not usable as a node file name"),
            1,
        ));
    }

    let mut node = Map::new();
    for (name, value) in &inputs {
        if name == "environment" {
            client_config.push_str(&format!("\nenvironment '{}'", crate::pyjson::py_str(value)));
        } else if !DEPLOY_KEYS.contains(&name.as_str()) {
            node.insert(name.clone(), value.clone());
        }
    }
    let config = super::config_text(entry)?;
    let run_list = crate::pyjson::loads(&config, "config (the chef run_list)")
        .map_err(|e| HookError::new(e, 1))?;
    node.insert("run_list".into(), run_list);
    let node_path = working.join("node");
    super::prepare_dir(&node_path)?;
    let node_file = node_path.join(format!("{fqdn}.json"));
    super::write_file(
        &node_file,
        crate::pyjson::dumps_indent(&Value::Object(node), 4).as_bytes(),
        0o600,
    )?;
    client_config.push_str(&format!("\nnode_path '{}'", node_path.to_string_lossy()));
    let config_path = working.join("client.rb");
    super::write_file(&config_path, client_config.as_bytes(), 0o600)?;

    let heat_outputs_path = outputs.join(&id);
    let mut spec = Spec::new("chef-client")
        .arg("-z")
        .arg("--config")
        .arg(&config_path)
        .arg("-j")
        .arg(&node_file)
        .env("heat_outputs_path", &heat_outputs_path);
    spec.cwd = Some(working.clone());
    let f = match helper(spec, ctx, "chef hook (is chef-client installed?)") {
        Ok(f) => f,
        Err(r) => return r,
    };
    let status = super::tool_status(&f);
    if status != 0 {
        log::error!("Chef return code {status}");
    }
    let (out, err) = super::tool_texts(&f, ctx);
    let mut response = answer(status, out, err);
    super::collect_outputs(entry, &heat_outputs_path, &mut response);
    Ok(Outcome::Printed(Value::Object(response)))
}

/// `git clone` of the kitchen into `kitchen_path` (afresh on UPDATE, as the reference does).
/// `Some` is the hook's answer when the clone could not be made.
fn clone_kitchen(
    kitchen: &str,
    kitchen_path: &Path,
    inputs: &[(String, Value)],
    working: &Path,
    ctx: &Context,
) -> Option<HookResult> {
    log::debug!("Cloning kitchen from {kitchen}");
    let action = inputs
        .iter()
        .find(|(n, _)| n == "deploy_action")
        .map(|(_, v)| v.clone());
    if action == Some(Value::String("UPDATE".into())) {
        // a fresh clone on update
        let _ = std::fs::remove_dir_all(kitchen_path);
    }
    let mut spec = Spec::new("git")
        .arg("clone")
        .arg(kitchen)
        .arg(kitchen_path);
    spec.cwd = Some(working.to_path_buf());
    let f = match helper(spec, ctx, "chef hook: git clone (is git installed?)") {
        Ok(f) => f,
        Err(r) => return Some(r),
    };
    if !f.success() {
        let (out, err) = super::tool_texts(&f, ctx);
        log::error!(
            "Error cloning kitchen from {kitchen} into {}: {err}",
            kitchen_path.display()
        );
        return Some(Ok(Outcome::Printed(Value::Object(answer(
            super::tool_status(&f),
            out,
            err,
        )))));
    }
    None
}
