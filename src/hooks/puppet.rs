//! The `puppet` hook: inputs as `FACTER_*` (and optionally a hiera data file), the
//! manifest in `<working>/<id>.pp`, then `<cmd> apply --color false --detailed-exitcodes
//! --logdest console [--modulepath M] [--tags T] [--debug --logdest ...] [--verbose --logdest
//! ...] <manifest>`; exit codes 0 and 2 mean success.

use super::{Context, HookError, HookResult, Outcome, ToolRun};
use crate::process::Spec;
use serde_json::{Map, Value};
use std::time::Duration;

/// `enable_*` (code names) take precedence over the documented `use_*` spellings (W26).
fn flag(opts: &Map<String, Value>, name: &str, default: bool) -> bool {
    opts.get(&format!("enable_{name}"))
        .or_else(|| opts.get(&format!("use_{name}")))
        .map(crate::pyjson::truthy)
        .unwrap_or(default)
}

fn hostname_f() -> Option<String> {
    let mut spec = Spec::new("hostname").arg("-f").capture(4096);
    spec.stdin = Some(Vec::new());
    spec.timeout = Some(Duration::from_secs(10));
    let f = crate::process::run(&spec, None).ok()?;
    if !f.success() {
        log::warn!("Failed to retrieve 'hostname -f' output");
        return None;
    }
    let s = String::from_utf8_lossy(&f.stdout).trim().to_string();
    (!s.is_empty()).then_some(s)
}

pub(super) fn run(entry: &Value, ctx: &Context) -> HookResult {
    // W24: the reference logs into the legacy marker dir by default; we only write the log
    // files when HEAT_PUPPET_LOGDIR asks for them (the journal has the output anyway).
    let crate::config::vars::PuppetHook {
        working,
        outputs,
        cmd,
        logdir,
        hiera_datadir,
    } = crate::config::vars::puppet_hook();
    super::prepare_dir(&outputs)?;
    super::prepare_dir(&working)?;
    let id = super::entry_id(entry)?;

    let opts = super::options(entry);
    let use_hiera = flag(&opts, "hiera", false);
    let use_facter = flag(&opts, "facter", true);

    let mut facts: Vec<(String, String)> = Vec::new();
    if let Some(fqdn) = hostname_f() {
        facts.push(("FACTER_fqdn".into(), fqdn));
    }
    let mut hiera = Map::new();
    for (name, value) in super::inputs(entry) {
        if use_facter {
            facts.push((format!("FACTER_{name}"), super::env_value(&value)));
        }
        if use_hiera {
            hiera.insert(name, value);
        }
    }
    if use_hiera {
        let name = write_hiera_data(entry, hiera, &hiera_datadir)?;
        facts.push(("FACTER_deploy_config_name".into(), name));
    }
    let manifest = working.join(format!("{id}.pp"));
    let heat_outputs_path = outputs.join(&id);
    facts.push((
        "FACTER_heat_outputs_path".into(),
        heat_outputs_path.to_string_lossy().into_owned(),
    ));

    super::write_file(&manifest, super::config_text(entry)?.as_bytes(), 0o700)?;

    let mut spec = apply_spec(&cmd, &opts, &manifest);
    for (k, v) in &facts {
        if super::env_ok(k, v) {
            spec.env.push((k.into(), v.into()));
        } else {
            log::warn!("fact {k:?} cannot be an environment variable; not passed to puppet");
        }
    }
    spec.cwd = Some(working.clone());
    log::debug!(
        "Running {} apply ... {}",
        std::path::Path::new(&cmd).display(),
        manifest.display()
    );
    let f = match super::run_tool(spec, ctx, "puppet hook (is puppet installed?)") {
        ToolRun::Done(f) => f,
        ToolRun::NotStarted(e) => return Err(e),
        ToolRun::Cancelled => return Ok(Outcome::Cancelled),
    };
    log::info!("Return code {}", f.describe());
    let (out, err) = super::tool_texts(&f, ctx);
    if let Some(dir) = logdir {
        write_logs(&dir, entry, &id, &out, &err);
    }
    let status = match super::tool_status(&f) {
        0 | 2 => 0,
        other => other,
    };
    if status == 0 {
        log::info!("Completed {}", manifest.display());
    } else {
        log::error!("Error running {}. [{status}]", manifest.display());
    }
    let mut response = Map::new();
    response.insert("deploy_stdout".into(), Value::String(out));
    response.insert("deploy_stderr".into(), Value::String(err));
    super::collect_outputs(entry, &heat_outputs_path, &mut response);
    response.insert("deploy_status_code".into(), status.into());
    Ok(Outcome::Printed(Value::Object(response)))
}

/// `<datadir>/heat_config_<name>.json` with the inputs, for hiera; returns the name (the fact
/// `deploy_config_name`). The deployment's name must be usable as a file name.
fn write_hiera_data(
    entry: &Value,
    hiera: Map<String, Value>,
    hiera_datadir: &std::path::Path,
) -> Result<String, HookError> {
    let name = match entry.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() && !n.contains('/') && !n.contains('\0') => n.to_string(),
        _ => {
            return Err(HookError::new(
                "enable_hiera needs a deployment name usable as a file name",
                1,
            ))
        }
    };
    super::prepare_dir(hiera_datadir)?;
    let path = hiera_datadir.join(format!("heat_config_{name}.json"));
    super::write_file(
        &path,
        crate::pyjson::dumps(&Value::Object(hiera)).as_bytes(),
        0o600,
    )?;
    Ok(name)
}

/// `puppet apply` with the reference's flags and the options' modulepath, tags, debug and
/// verbose logs, for `manifest`.
fn apply_spec(cmd: &std::ffi::OsStr, opts: &Map<String, Value>, manifest: &std::path::Path) -> Spec {
    let modulepath = super::option_text(opts, "modulepath");
    let tags = super::option_text(opts, "tags");
    let debug = flag(opts, "debug", false);
    let verbose = flag(opts, "verbose", false);
    let mut spec = Spec::new(cmd)
        .arg("apply")
        .arg("--color")
        .arg("false")
        .arg("--detailed-exitcodes")
        .arg("--logdest")
        .arg("console");
    if let Some(m) = modulepath {
        spec = spec.arg("--modulepath").arg(m);
    }
    if let Some(t) = tags {
        spec = spec.arg("--tags").arg(t);
    }
    if debug {
        spec = spec
            .arg("--debug")
            .arg("--logdest")
            .arg("/var/log/puppet/heat-debug.log");
    }
    if verbose {
        spec = spec
            .arg("--verbose")
            .arg("--logdest")
            .arg("/var/log/puppet/heat-verbose.log");
    }
    spec.arg(manifest)
}

/// `<logdir>/<creation_time with ':'/'T' → '-'>-<id>-{stdout,stderr}.log`, as the reference.
fn write_logs(dir: &std::path::Path, entry: &Value, id: &str, out: &str, err: &str) {
    let ts: String = entry
        .get("creation_time")
        .and_then(Value::as_str)
        .unwrap_or("unknown-time")
        .chars()
        .map(|c| if c == ':' || c == 'T' { '-' } else { c })
        .filter(|c| *c != '/')
        .collect();
    if super::prepare_dir(dir).is_err() {
        log::warn!("cannot create puppet log dir {}", dir.display());
        return;
    }
    for (kind, text) in [("stdout", out), ("stderr", err)] {
        let p = dir.join(format!("{ts}-{id}-{kind}.log"));
        if let Err(e) = super::write_file(&p, text.as_bytes(), 0o600) {
            log::warn!("{}", e.message);
        }
    }
}
