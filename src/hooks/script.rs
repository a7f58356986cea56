//! The `script` hook: the config is written to `<working>/<id>` (0700) and executed
//! with every input as an environment variable plus `heat_outputs_path`.

use super::{Context, HookResult, Outcome, ToolRun};
use crate::config::vars::HookDirs;
use crate::process::Spec;
use serde_json::{Map, Value};

pub(super) fn run(entry: &Value, ctx: &Context) -> HookResult {
    let HookDirs { working, outputs } = crate::config::vars::script_hook();
    super::prepare_dir(&outputs)?;
    super::prepare_dir(&working)?;
    let id = super::entry_id(entry)?;
    let config = super::config_text(entry)?;

    let script = working.join(&id);
    let heat_outputs_path = outputs.join(&id);
    let mut spec = Spec::new(&script);
    spec.cwd = Some(working.clone());
    for (name, value) in super::inputs(entry) {
        let text = super::env_value(&value);
        if !super::env_ok(&name, &text) {
            log::warn!(
                "input {name:?} cannot be an environment variable; not passed to the script"
            );
            continue;
        }
        log::debug!("input {name} set");
        spec.env.push((name.into(), text.into()));
    }
    spec.env
        .push(("heat_outputs_path".into(), heat_outputs_path.clone().into()));

    super::write_file(&script, config.as_bytes(), 0o700)?;
    log::debug!("Running {}", script.display());
    let f = match super::run_tool(spec, ctx, "script hook") {
        ToolRun::Done(f) => f,
        ToolRun::NotStarted(e) => return Err(e),
        ToolRun::Cancelled => return Ok(Outcome::Cancelled),
    };
    if f.success() {
        log::info!("Completed {}", script.display());
    } else {
        log::error!("Error running {}. [{}]", script.display(), f.describe());
    }
    let (out, err) = super::tool_texts(&f, ctx);
    let mut response = Map::new();
    super::collect_outputs(entry, &heat_outputs_path, &mut response);
    response.insert("deploy_stdout".into(), Value::String(out));
    response.insert("deploy_stderr".into(), Value::String(err));
    response.insert("deploy_status_code".into(), super::tool_status(&f).into());
    Ok(Outcome::Printed(Value::Object(response)))
}
