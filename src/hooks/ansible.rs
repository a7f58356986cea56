//! The `ansible` hook: variables file + playbook file, then
//! `<cmd> -i <inventory> [--module-path M] [--skip-tags S] [--tags T] <playbook>
//! --extra-vars @<variables>` (the reference's exact order).

use super::{Context, HookError, HookResult, Outcome, ToolRun};
use crate::config::vars::AnsibleHook;
use crate::process::Spec;
use serde_json::{Map, Value};

pub(super) fn run(entry: &Value, ctx: &Context) -> HookResult {
    let AnsibleHook {
        working,
        outputs,
        cmd,
        mut inventory,
    } = crate::config::vars::ansible_hook();
    super::prepare_dir(&outputs)?;
    super::prepare_dir(&working)?;
    let id = super::entry_id(entry)?;

    let mut variables = Map::new();
    let raw_id = entry.get("id").cloned().unwrap_or(Value::Null);
    variables.insert("heat_config_id".into(), raw_id);
    for (name, value) in super::inputs(entry) {
        variables.insert(name, value);
    }
    let opts = super::options(entry);
    let tags = super::option_text(&opts, "tags");
    let skip_tags = super::option_text(&opts, "skip_tags");
    let modulepath = super::option_text(&opts, "modulepath");
    let callback_plugins = super::option_text(&opts, "callback_plugins");
    if let Some(inv) = super::option_text(&opts, "inventory") {
        inventory = working.join(inv).into_os_string();
    }
    let playbook = working.join(format!("{id}_playbook.yaml"));
    let vars_file = working.join(format!("{id}_variables.json"));
    let heat_outputs_path = outputs.join(&id);
    variables.insert(
        "heat_outputs_path".into(),
        Value::String(heat_outputs_path.to_string_lossy().into_owned()),
    );

    let config = match entry.get("config") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(HookError::new(
                "config must be a string (the playbook text)",
                1,
            ))
        }
    };
    if config.is_empty() {
        log::warn!("No 'config' input found, nothing to do.");
        return Ok(Outcome::Nothing);
    }
    super::write_file(
        &vars_file,
        crate::pyjson::dumps(&Value::Object(variables)).as_bytes(),
        0o600,
    )?;
    super::write_file(&playbook, config.as_bytes(), 0o600)?;

    let mut spec = Spec::new(&cmd).arg("-i").arg(inventory);
    if let Some(m) = modulepath {
        spec = spec.arg("--module-path").arg(m);
    }
    if let Some(s) = skip_tags {
        spec = spec.arg("--skip-tags").arg(s);
    }
    if let Some(t) = tags {
        spec = spec.arg("--tags").arg(t);
    }
    let mut extra = std::ffi::OsString::from("@");
    extra.push(&vars_file);
    spec = spec.arg(&playbook).arg("--extra-vars").arg(extra);
    if let Some(cb) = callback_plugins {
        spec = spec.env("ANSIBLE_CALLBACK_PLUGINS", cb);
    }
    spec.cwd = Some(working.clone());
    log::debug!("Running {}", std::path::Path::new(&cmd).display());
    let f = match super::run_tool(spec, ctx, "ansible hook (is ansible installed?)") {
        ToolRun::Done(f) => f,
        // W11: a missing tool is a failure (127), not a silent success.
        ToolRun::NotStarted(e) => return Err(e),
        ToolRun::Cancelled => return Ok(Outcome::Cancelled),
    };
    log::info!("Return code {}", f.describe());
    let (out, err) = super::tool_texts(&f, ctx);
    let mut response = Map::new();
    super::collect_outputs(entry, &heat_outputs_path, &mut response);
    response.insert("deploy_stdout".into(), Value::String(out));
    response.insert("deploy_stderr".into(), Value::String(err));
    response.insert("deploy_status_code".into(), super::tool_status(&f).into());
    Ok(Outcome::Printed(Value::Object(response)))
}
