//! The small hooks: `json-file` (write JSON files), `hiera` (hiera.yaml + data files) and
//! `apply-config` (run os-apply-config over all metadata).

use super::{Context, HookError, HookResult, Outcome, ToolRun};
use crate::fsutil::{self, Owner};
use crate::process::Spec;
use crate::pyjson::{self, DumpOptions};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// `json.dump(data, indent=4, sort_keys=True, separators=(',', ': '))`
fn pretty_sorted(v: &Value) -> String {
    pyjson::dumps_with(
        v,
        DumpOptions {
            indent: Some(4),
            sort_keys: true,
            ensure_ascii: true,
        },
    )
}

fn ok_response() -> Outcome {
    Outcome::Printed(json!({"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0}))
}

/// `json-file`: config maps absolute paths to data; each written as pretty sorted JSON
/// (atomically; an existing file keeps its mode, a new one gets 0644 like the reference's umask).
pub(super) fn json_file(entry: &Value, _ctx: &Context) -> HookResult {
    let Some(files) = entry.get("config").and_then(Value::as_object) else {
        return Err(HookError::new(
            "json-file: config must map file paths to data",
            1,
        ));
    };
    for (name, data) in files {
        let path = Path::new(name);
        if !path.is_absolute() {
            return Err(HookError::new(
                format!("json-file: {name:?} is not an absolute path"),
                1,
            ));
        }
        if let Some(parent) = path.parent() {
            super::prepare_dir(parent)?;
        }
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        fsutil::atomic_write(path, pretty_sorted(data).as_bytes(), mode, Owner::default())?;
        log::info!("wrote {}", path.display());
    }
    Ok(ok_response())
}

/// Legacy os-apply-config hiera data present? Then the hook refuses (status 1), as the
/// reference. A check command that cannot run means "no legacy data".
fn legacy_hiera(ctx: &Context) -> Option<Outcome> {
    let check = crate::config::vars::hiera_element_check_cmd();
    let mut words = check.split(' ');
    let mut spec = Spec::new(words.next()?);
    spec.args = words.map(Into::into).collect();
    let sub = Context {
        timeout: Some(Duration::from_secs(120)),
        ..ctx.clone()
    };
    let f = match super::run_tool(spec, &sub, "hiera legacy check") {
        ToolRun::Done(f) => f,
        _ => return None,
    };
    let out = String::from_utf8_lossy(&f.stdout).trim_end().to_string();
    if out == "empty" {
        return None;
    }
    let msg = format!(
        "Legacy hieradata from os-apply-config has been detected - {out}. Please update all of your \
         interfaces to use the new heat-agents hiera hook before proceeding"
    );
    log::error!("{msg}");
    Some(Outcome::Printed(json!({
        "deploy_stdout": String::from_utf8_lossy(&f.stdout),
        "deploy_stderr": msg,
        "deploy_status_code": 1,
    })))
}

pub(super) fn hiera(entry: &Value, ctx: &Context) -> HookResult {
    let crate::config::vars::HieraHook {
        datadir,
        config_file,
    } = crate::config::vars::hiera_hook();
    let Some(c) = entry.get("config").and_then(Value::as_object) else {
        return Err(HookError::new(
            "hiera: config must be a map (hierarchy, datafiles)",
            1,
        ));
    };
    if let Some(refusal) = legacy_hiera(ctx) {
        return Ok(refusal);
    }
    super::prepare_dir(&datadir)?;
    if let Some(h) = c.get("hierarchy") {
        let mut text = format!(
            "\n---\n:backends:\n  - json\n:json:\n  :datadir: {}\n:hierarchy:\n",
            datadir.display()
        );
        let items: Vec<Value> = match h {
            Value::Array(a) => a.clone(),
            Value::Null => Vec::new(),
            other => vec![other.clone()],
        };
        for item in items {
            text.push_str(&format!("  - {}\n", pyjson::py_str(&item)));
        }
        fsutil::atomic_write(&config_file, text.as_bytes(), 0o600, Owner::default())?;
    }
    if let Some(files) = c.get("datafiles") {
        let Some(files) = files.as_object() else {
            return Err(HookError::new("hiera: datafiles must be a map", 1));
        };
        for (name, data) in files {
            if name.is_empty() || name.contains('/') || name.contains('\0') {
                return Err(HookError::new(
                    format!("hiera: unusable datafile name {name:?}"),
                    1,
                ));
            }
            let path = datadir.join(format!("{name}.json"));
            fsutil::atomic_write(
                &path,
                pretty_sorted(data).as_bytes(),
                0o600,
                Owner::default(),
            )?;
        }
    }
    Ok(ok_response())
}

/// `apply-config`: run os-apply-config (`HEAT_APPLY_CONFIG_CMD`) with no arguments.
pub(super) fn apply_config(_entry: &Value, ctx: &Context) -> HookResult {
    let cmd = crate::config::vars::apply_config_cmd();
    let spec = Spec::new(&cmd);
    log::debug!("Running {}", Path::new(&cmd).display());
    let f = match super::run_tool(spec, ctx, "apply-config hook") {
        ToolRun::Done(f) => f,
        ToolRun::NotStarted(e) => return Err(e),
        ToolRun::Cancelled => return Ok(Outcome::Cancelled),
    };
    if f.success() {
        log::info!("Completed apply-config.");
    } else {
        log::error!("Error running apply-config: [{}]", f.describe());
    }
    let (out, err) = super::tool_texts(&f, ctx);
    Ok(Outcome::Printed(json!({
        "deploy_stdout": out,
        "deploy_stderr": err,
        "deploy_status_code": super::tool_status(&f),
    })))
}
