//! Built-in hooks, listed once in `builtin_hooks!` below. Same working/outputs dirs,
//! environment overrides, file names and argv as
//! the reference hooks; the runner calls them in-process, `heat-agent hook NAME` runs the same
//! code for external use (deployment JSON on stdin, result JSON on stdout; its front end is
//! `cli::hook`). What each keeps of the reference hook and what it fixes:
//! (docs/compatibility.md, "The deployment runner (55-heat-config) and the hooks").

pub mod contract;
mod pyyaml;

use crate::process::{self, Finished, Spec};
use crate::pyjson;
pub use contract::is_builtin;
use contract::{decode_tail, file_stem, secret_values, valid_id};
use serde_json::{Map, Value};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// How long a hook's processes get between SIGTERM and SIGKILL when the runner is told to
/// stop (SIGTERM/SIGINT/SIGHUP to `deploy`): time to clean up, well within systemd's stop
/// timeout.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How the runner wants the hook's tools run.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub timeout: Option<Duration>,
    pub stop: Option<Arc<AtomicBool>>,
    /// Bound on captured stdout/stderr of the tool (the tail is kept).
    pub capture: usize,
}

/// What the hook produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The JSON object a reference hook prints.
    Printed(Value),
    /// Nothing printed (e.g. ansible with an empty playbook): the runner signals `{}`.
    Nothing,
    /// The caller's stop flag killed the tool.
    Cancelled,
}

/// What a built-in hook is: a deployment entry and how to run its tools, to what it did.
type Run = fn(&Value, &Context) -> HookResult;

/// The one list of built-in hooks. `module: "name" => function;` declares `mod module;` (the
/// file `src/hooks/module.rs`) and makes `name` a built-in that runs `module::function`
/// (a [`Run`]); one module may hold several hooks, comma-separated. From it come
/// [`BUILTIN`] (`heat-agent hook --list` and `--wrapper`, its help, packaging, the element,
/// recognising wrappers) and [`run_builtin`]'s dispatch.
macro_rules! builtin_hooks {
    ($($module:ident: $($name:literal => $run:ident),+;)+) => {
        $(mod $module;)+

        /// Every built-in hook, in `heat-agent hook --list` order.
        pub const BUILTIN: &[&str] = &[$($($name),+),+];

        /// The function behind built-in hook `name`.
        fn builtin(name: &str) -> Option<Run> {
            match name {
                $($($name => Some($module::$run as Run),)+)+
                _ => None,
            }
        }
    };
}

builtin_hooks! {
    script: "script" => run;
    ansible: "ansible" => run;
    puppet: "puppet" => run;
    salt: "salt" => run;
    chef: "chef" => run;
    files: "json-file" => json_file, "hiera" => hiera, "apply-config" => apply_config;
}

/// Run built-in hook `name` on a deployment entry.
pub fn run_builtin(name: &str, entry: &Value, ctx: &Context) -> Outcome {
    let result = match builtin(name) {
        Some(run) => run(entry, ctx),
        None => Err(HookError::new(
            format!("no built-in hook named {name}"),
            contract::STATUS_NOT_FOUND,
        )),
    };
    match result {
        Ok(o) => o,
        Err(e) => Outcome::Printed(failure(&e.message, e.status)),
    }
}

/// A hook that could not do its job: reported as `deploy_status_code` = `status`.
#[derive(Debug)]
pub struct HookError {
    pub message: String,
    pub status: i64,
}

impl HookError {
    pub fn new(message: impl Into<String>, status: i64) -> HookError {
        HookError {
            message: message.into(),
            status,
        }
    }
}

impl From<io::Error> for HookError {
    fn from(e: io::Error) -> HookError {
        HookError::new(e.to_string(), 1)
    }
}

pub type HookResult = Result<Outcome, HookError>;

pub fn failure(message: &str, status: i64) -> Value {
    log::error!("{message}");
    serde_json::json!({"deploy_stdout": "", "deploy_stderr": message, "deploy_status_code": status})
}

/// Run built-in hook `name` on a deployment entry given as JSON text (`heat-agent hook NAME`
/// reads it from stdin): the entry's secrets are masked in the log from here on.
pub fn run_on_json(name: &str, input: &str, ctx: &Context) -> Result<Outcome, String> {
    let entry = match pyjson::loads(input, "stdin") {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Err("stdin: expected a JSON object (a deployment entry)".into()),
        Err(e) => return Err(e.to_string()),
    };
    for s in secret_values(&entry) {
        crate::logging::register_secret(&s);
    }
    Ok(run_builtin(name, &entry, ctx))
}

// ----- helpers shared by the hooks -----

/// Create a hook dir 0700 if absent.
pub(crate) fn prepare_dir(path: &Path) -> Result<(), HookError> {
    crate::fsutil::ensure_dir(path, 0o700).map_err(HookError::from)
}

/// Input name → value (`value` missing → `""`, as the reference hooks).
pub(crate) fn inputs(entry: &Value) -> Vec<(String, Value)> {
    entry
        .get("inputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    let name = i.get("name")?.as_str()?.to_string();
                    Some((
                        name,
                        i.get("value")
                            .cloned()
                            .unwrap_or_else(|| Value::String(String::new())),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `options`, with null/absent/non-object as `{}` (W12).
pub(crate) fn options(entry: &Value) -> Map<String, Value> {
    entry
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// An option's text when Python-truthy (the reference's `if value:`), else None.
pub(crate) fn option_text(opts: &Map<String, Value>, key: &str) -> Option<String> {
    opts.get(key)
        .filter(|v| pyjson::truthy(v))
        .map(pyjson::py_str)
}

/// The entry id as the hooks' file name (working script, outputs path): the id itself, as the
/// reference hooks name them, except for ids that cannot be one ([`contract::file_stem`]).
pub(crate) fn entry_id(entry: &Value) -> Result<String, HookError> {
    match entry.get("id").and_then(Value::as_str) {
        Some(id) if valid_id(id) => Ok(file_stem(id)),
        _ => Err(HookError::new("deployment has no usable id", 1)),
    }
}

/// One rendering of input values for environment variables and facts (W12): strings as is,
/// lists and maps as JSON (`json.dumps`), other scalars Python-`str()` style (`5`, `True`,
/// `None`), matching what String-typed inputs already look like after sanitising.
pub(crate) fn env_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => pyjson::dumps(v),
        other => pyjson::py_str(other),
    }
}

/// Whether `name=value` can be put in an environment.
pub(crate) fn env_ok(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0') && !value.contains('\0')
}

/// The config text (`config` string; null/absent → "").
pub(crate) fn config_text(entry: &Value) -> Result<String, HookError> {
    match entry.get("config") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(HookError::new("config must be a string for this hook", 1)),
    }
}

/// Write a working file (temp + rename; no fsync: regenerated on every run).
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), HookError> {
    use crate::fsutil::{replace, Durability, Owner};
    replace(path, data, mode, Owner::default(), Durability::Atomic)
        .map_err(|e| HookError::new(e.to_string(), 1))
}

/// Declared outputs read from `<heat_outputs_path>.<name>` (missing files skipped).
pub(crate) fn collect_outputs(
    entry: &Value,
    heat_outputs_path: &Path,
    response: &mut Map<String, Value>,
) {
    let Some(outputs) = entry.get("outputs").and_then(Value::as_array) else {
        return;
    };
    for o in outputs {
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        let mut p = heat_outputs_path.as_os_str().to_owned();
        p.push(".");
        p.push(name);
        if let Some((bytes, dropped)) = read_tail(Path::new(&p), OUTPUT_FILE_LIMIT) {
            if dropped > 0 {
                log::warn!(
                    "output {name}: {} bytes; only the last {} are kept",
                    dropped + bytes.len() as u64,
                    bytes.len()
                );
            }
            response.insert(
                name.to_string(),
                Value::String(decode_tail(&bytes, dropped)),
            );
        }
    }
}

/// Bound on a declared output file, like the hook's captured stdout: the tail is kept (Heat
/// takes at most ~1 MiB per signal anyway).
pub const OUTPUT_FILE_LIMIT: usize = contract::CAPTURE_LIMIT;

/// The last `limit` bytes of a file (starting at a UTF-8 character boundary when cut), and
/// how many bytes before them were dropped. None when it cannot be read (absent).
fn read_tail(path: &Path, limit: usize) -> Option<(Vec<u8>, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let mut skip = len.saturating_sub(limit as u64);
    if skip > 0 {
        f.seek(SeekFrom::Start(skip)).ok()?;
    }
    let mut bytes = Vec::new();
    f.take(limit as u64).read_to_end(&mut bytes).ok()?;
    if skip > 0 {
        let partial = bytes
            .iter()
            .take(3)
            .take_while(|b| (**b & 0xC0) == 0x80)
            .count();
        bytes.drain(..partial);
        skip += partial as u64;
    }
    Some((bytes, skip))
}

/// How a tool run ended, from the hook's point of view.
pub(crate) enum ToolRun {
    Done(Finished),
    /// The tool could not be started (not installed, not executable).
    NotStarted(HookError),
    Cancelled,
}

/// Run a tool under the runner's timeout/stop, with bounded capture and empty stdin.
/// A busy text file (just written script, forked elsewhere) is retried briefly.
pub(crate) fn run_tool(mut spec: Spec, ctx: &Context, what: &str) -> ToolRun {
    spec = spec.capture(if ctx.capture == 0 {
        process::DEFAULT_CAPTURE
    } else {
        ctx.capture
    });
    spec.stdin = Some(Vec::new());
    spec.timeout = ctx.timeout;
    spec.stop_grace = STOP_GRACE;
    let mut attempts = 0;
    loop {
        match process::run(&spec, ctx.stop.as_ref()) {
            Ok(f) if f.cancelled => return ToolRun::Cancelled,
            Ok(f) => {
                log_tail("stdout", &f.stdout, log::Level::Info);
                log_tail("stderr", &f.stderr, log::Level::Debug);
                return ToolRun::Done(f);
            }
            Err(e) if errno(&e) == Some(nix::libc::ETXTBSY) && attempts < 20 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                let status = if e.kind() == io::ErrorKind::NotFound {
                    127
                } else {
                    126
                };
                // process::run wraps the error (naming the program), so the errno is in the text
                let enoexec = e.raw_os_error() == Some(nix::libc::ENOEXEC)
                    || e.to_string()
                        .contains(&format!("os error {}", nix::libc::ENOEXEC));
                let hint = if enoexec {
                    " (a script needs a #! line)"
                } else {
                    ""
                };
                return ToolRun::NotStarted(HookError::new(format!("{what}: {e}{hint}"), status));
            }
        }
    }
}

/// The errno behind an error from `process::run`, which wraps the OS error in a message naming
/// the program (so `raw_os_error` is gone, but the text ends with `(os error N)`).
fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error().or_else(|| {
        let text = e.to_string();
        let start = text.rfind("(os error ")? + "(os error ".len();
        text[start..].split(')').next()?.parse().ok()
    })
}

/// Log the end of a tool's output (the whole of it goes to Heat in the signal; the log keeps
/// the last 4 KiB). Registered secrets are masked by the logger.
fn log_tail(what: &str, bytes: &[u8], level: log::Level) {
    const KEEP: usize = 4096;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let tail = &bytes[bytes.len().saturating_sub(KEEP)..];
    let text = String::from_utf8_lossy(tail);
    let cut = if bytes.len() > KEEP { "[...] " } else { "" };
    log::log!(level, "{what}: {cut}{}", text.trim_end());
}

/// `deploy_stdout`/`deploy_stderr` of a finished tool (lossy UTF-8; a note if the front was
/// dropped; a timeout line appended to stderr).
pub(crate) fn tool_texts(f: &Finished, ctx: &Context) -> (String, String) {
    let out = decode_tail(&f.stdout, f.stdout_dropped);
    let mut err = decode_tail(&f.stderr, f.stderr_dropped);
    if f.timed_out {
        if !err.is_empty() && !err.ends_with('\n') {
            err.push('\n');
        }
        err.push_str(&format!(
            "heat-agent: timed out after {}s; the processes were killed",
            ctx.timeout.map(|t| t.as_secs_f64()).unwrap_or_default()
        ));
    }
    (out, err)
}

/// The status code of a finished tool: its exit code, 124 on timeout, -N when killed by
/// signal N (as Python reports it).
pub(crate) fn tool_status(f: &Finished) -> i64 {
    if f.timed_out {
        contract::STATUS_TIMED_OUT
    } else {
        f.python_returncode() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(o: Outcome) -> Value {
        match o {
            Outcome::Printed(v) => v["deploy_status_code"].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_listed_hook_dispatches_and_only_those() {
        for name in BUILTIN {
            assert!(builtin(name).is_some(), "{name} is listed but runs nothing");
            assert!(is_builtin(name), "{name}");
        }
        assert!(builtin("nope").is_none() && !is_builtin("nope"));
        let ctx = Context::default();
        assert_eq!(status(run_builtin("nope", &json!({}), &ctx)), 127);
        // a listed hook through the same path (json-file with nothing to write)
        assert_eq!(
            status(run_builtin("json-file", &json!({"config": {}}), &ctx)),
            0
        );
    }

    #[test]
    fn env_rendering_never_fails_on_typed_values() {
        assert_eq!(env_value(&json!("s")), "s");
        assert_eq!(env_value(&json!(5)), "5");
        assert_eq!(env_value(&json!(1.5)), "1.5");
        assert_eq!(env_value(&json!(true)), "True");
        assert_eq!(env_value(&json!(null)), "None");
        assert_eq!(env_value(&json!({"key": "value"})), "{\"key\": \"value\"}");
        assert_eq!(env_value(&json!(["v1", 12])), "[\"v1\", 12]");
    }

    #[test]
    fn errno_survives_wrapping() {
        let e = io::Error::other("cannot run /x: Text file busy (os error 26)");
        assert_eq!(errno(&e), Some(26));
        assert_eq!(errno(&io::Error::from_raw_os_error(8)), Some(8));
        assert_eq!(errno(&io::Error::other("plain")), None);
    }

    #[test]
    fn options_null_is_empty_and_truthiness_decides() {
        assert!(options(&json!({"options": null})).is_empty());
        let o = options(&json!({"options": {"tags": "", "skip": "a", "n": 0}}));
        assert_eq!(option_text(&o, "tags"), None);
        assert_eq!(option_text(&o, "skip").as_deref(), Some("a"));
        assert_eq!(option_text(&o, "n"), None);
    }
}
