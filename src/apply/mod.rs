//! os-apply-config: render templates into files, look up keys
//! (docs/compatibility.md, "os-apply-config").
//!
//! `heat-agent apply` and the legacy names `os-apply-config` / `os-config-applier` share one
//! front end and its flags (`cli::apply`). Beyond the reference: unchanged files are not rewritten, writes are
//! atomic and durable, `--diff` previews changes, `.tera` templates render with tera.

pub mod diff;
pub mod metadata;
pub mod oac;
pub mod tree;
pub mod value_types;

use crate::pyjson;
use crate::render::mustache;
use serde_json::Value;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

pub const DEFAULT_TEMPLATES_DIR: &str = "/usr/libexec/os-apply-config/templates";
const DEPRECATED_TEMPLATES_DIRS: [&str; 2] = [
    "/opt/stack/os-apply-config/templates",
    "/opt/stack/os-config-applier/templates",
];
pub const DEFAULT_OS_CONFIG_FILES_PATH: &str = "/var/lib/os-collect-config/os_config_files.json";
pub const OLD_OS_CONFIG_FILES_PATH: &str = "/var/run/os-collect-config/os_config_files.json";
pub const FALLBACK_METADATA: [&str; 3] = [
    "/var/cache/heat-cfntools/last_metadata",
    "/var/lib/heat-cfntools/cfn-init-data",
    "/var/lib/cloud/data/cfn-init-data",
];
/// What `--version` prints under the legacy names (the reference release we match).
pub const REFERENCE_VERSION: &str = "14.1.0";

/// Log lines on stderr through [`crate::logging`] (the reference's format,
/// `[2026/11/23 03:46:24 AM] [INFO] msg`, under the legacy names), or collected (tests).
#[derive(Default)]
pub struct Log {
    captured: Option<RefCell<Vec<String>>>,
}

impl Log {
    pub fn stderr() -> Log {
        Log { captured: None }
    }

    pub fn capture() -> Log {
        Log {
            captured: Some(RefCell::new(Vec::new())),
        }
    }

    /// Captured lines (`LEVEL message`).
    pub fn lines(&self) -> Vec<String> {
        self.captured
            .as_ref()
            .map(|c| c.borrow().clone())
            .unwrap_or_default()
    }

    fn emit(&self, level: &str, msg: &str) {
        self.emit_all(level, std::iter::once(msg));
    }

    /// Log several lines at one level with a single write (one syscall instead of one per
    /// line when many files are reported).
    fn emit_all<'m>(&self, level: &str, msgs: impl IntoIterator<Item = &'m str>) {
        match &self.captured {
            Some(c) => {
                let mut c = c.borrow_mut();
                for msg in msgs {
                    c.push(format!("{level} {}", crate::logging::log_text(msg)));
                }
            }
            None => crate::logging::write_lines(
                crate::logging::Style::OsApplyConfig,
                match level {
                    "ERROR" => log::Level::Error,
                    "WARNING" => log::Level::Warn,
                    _ => log::Level::Info,
                },
                msgs,
            ),
        }
    }

    /// [`Log::info`] for many lines at once.
    pub fn info_all<'m>(&self, msgs: impl IntoIterator<Item = &'m str>) {
        self.emit_all("INFO", msgs)
    }

    pub fn info(&self, msg: &str) {
        self.emit("INFO", msg)
    }

    pub fn warn(&self, msg: &str) {
        self.emit("WARNING", msg)
    }

    pub fn error(&self, msg: &str) {
        self.emit("ERROR", msg)
    }
}

/// The default template root and the deprecation warning to print, if any
/// (docs/compatibility.md, "Command line and metadata selection").
pub fn templates_dir(
    env_value: Option<String>,
    is_dir: impl Fn(&str) -> bool,
) -> (String, Option<String>) {
    if let Some(v) = env_value {
        return (v, None);
    }
    let candidate = if is_dir(DEPRECATED_TEMPLATES_DIRS[0]) {
        DEPRECATED_TEMPLATES_DIRS[0]
    } else {
        DEPRECATED_TEMPLATES_DIRS[1]
    };
    if is_dir(candidate) && !is_dir(DEFAULT_TEMPLATES_DIR) {
        let warning = format!(
            "WARNING:root:Template directory {candidate} is deprecated.  The recommended location for template files is {DEFAULT_TEMPLATES_DIR}"
        );
        return (candidate.to_string(), Some(warning));
    }
    (DEFAULT_TEMPLATES_DIR.to_string(), None)
}

/// Parsed options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub templates: String,
    pub output: String,
    pub metadata: Vec<String>,
    pub fallback: Vec<String>,
    pub validate: bool,
    pub diff: bool,
    pub subhash: Option<String>,
    pub key: Option<String>,
    pub value_type: String,
    pub key_default: Option<String>,
    pub boolean_key: Option<String>,
    /// `--os-config-files`; `None` means the default.
    pub os_config_files: Option<String>,
}

/// The process environment the tool reads (injectable for tests).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub os_config_files: Option<String>,
    pub os_config_files_path: Option<String>,
    /// The deprecated fallback list (normally [`OLD_OS_CONFIG_FILES_PATH`]).
    pub old_os_config_files_path: String,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            os_config_files: crate::config::vars::os_config_files(),
            os_config_files_path: crate::config::vars::os_config_files_path(),
            old_os_config_files_path: OLD_OS_CONFIG_FILES_PATH.into(),
        }
    }
}

/// Which metadata files to read (docs/compatibility.md, "Command line and metadata selection").
pub fn choose_metadata(
    opts: &Options,
    env: &Environment,
    log: &Log,
) -> Result<Vec<String>, String> {
    if !opts.metadata.is_empty() {
        return Ok(opts.metadata.clone());
    }
    if let Some(v) = &env.os_config_files {
        return Ok(v.split(':').map(str::to_string).collect());
    }
    let default_path = env
        .os_config_files_path
        .clone()
        .unwrap_or_else(|| DEFAULT_OS_CONFIG_FILES_PATH.to_string());
    let path = opts
        .os_config_files
        .clone()
        .unwrap_or_else(|| default_path.clone());
    let list = metadata::load_list_from_json(&path)?;
    if list.is_empty() && path == default_path {
        log.warn(&format!(
            "DEPRECATED: falling back to {}",
            env.old_os_config_files_path
        ));
        return metadata::load_list_from_json(&env.old_os_config_files_path);
    }
    Ok(list)
}

/// How a run of os-apply-config ended (errors are logged where they happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Templates installed (or validated, or diffed), or `--key`'s value printed.
    Done,
    /// `--boolean-key`: the value is true, false, or not a boolean (`None`).
    Boolean(Option<bool>),
    /// The metadata, a template or the key could not be used.
    Failed,
}

/// Run a parsed invocation.
pub fn run(
    opts: Options,
    env: &Environment,
    log: &Log,
    stdout: &mut dyn std::io::Write,
) -> Applied {
    let files = match choose_metadata(&opts, env, log) {
        Ok(f) => f,
        Err(e) => {
            log.error(&e);
            return Applied::Failed;
        }
    };
    // an empty --key / --boolean-key counts as absent, as in the reference (`if opts.key:`)
    let key = opts.key.clone().filter(|k| !k.is_empty());
    let boolean_key = opts.boolean_key.clone().filter(|k| !k.is_empty());
    if key.is_some() && boolean_key.is_some() {
        log.warn("--key is not compatible with --boolean-key. --boolean-key ignored.");
    }
    let result = if let Some(k) = key {
        print_key(
            &files,
            &opts.fallback,
            &k,
            &opts.value_type,
            opts.key_default.as_deref(),
            stdout,
        )
    } else if let Some(k) = boolean_key {
        return match boolean_value(&files, &opts.fallback, &k) {
            Ok(value) => Applied::Boolean(value),
            Err(e) => {
                log.error(&e);
                Applied::Failed
            }
        };
    } else {
        install(&opts, &files, log, stdout).map(|()| log.info("success"))
    };
    match result {
        Ok(()) => Applied::Done,
        Err(e) => {
            log.error(&e);
            Applied::Failed
        }
    }
}

fn load(files: &[String], fallback: &[String]) -> Result<Value, String> {
    metadata::collect_config(files, fallback).map(Value::Object)
}

/// `--key`: print the value.
pub fn print_key(
    files: &[String],
    fallback: &[String],
    key: &str,
    value_type: &str,
    default: Option<&str>,
    stdout: &mut dyn std::io::Write,
) -> Result<(), String> {
    let config = load(files, fallback)?;
    let text = match metadata::extract_key(&config, key) {
        None => match default {
            Some(d) => d.to_string(),
            None => {
                let list = Value::Array(files.iter().cloned().map(Value::String).collect());
                return Err(format!(
                    "key {key} does not exist in {}",
                    pyjson::py_repr(&list)
                ));
            }
        },
        Some(v) => {
            value_types::ensure_type(&pyjson::py_str(v), value_type)?;
            match v {
                Value::Object(_) | Value::Array(_) | Value::Bool(_) => pyjson::dumps(v),
                other => pyjson::py_str(other),
            }
        }
    };
    writeln!(stdout, "{text}").map_err(|e| format!("cannot write to stdout: {e}"))
}

/// `--boolean-key`: the value when it is a boolean, `None` for anything else (missing too).
pub fn boolean_value(
    files: &[String],
    fallback: &[String],
    key: &str,
) -> Result<Option<bool>, String> {
    let config = load(files, fallback)?;
    Ok(match metadata::extract_key(&config, key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    })
}

/// Render everything, then (unless validating) write or diff.
pub fn install(
    opts: &Options,
    files: &[String],
    log: &Log,
    stdout: &mut dyn std::io::Write,
) -> Result<(), String> {
    let users = oac::UserDb::default();
    let out_dir = PathBuf::from(&opts.output);
    let config = metadata::collect_config(files, &opts.fallback)?;
    let probe_dir = (!opts.validate).then_some(out_dir.as_path());
    let (prepared, existing) = tree::scan(Path::new(&opts.templates), probe_dir);
    // an executable template may change files while rendering: then look again afterwards
    let existing_valid = !prepared.iter().any(tree::Prepared::is_executable);
    let config = match &opts.subhash {
        Some(s) => metadata::strip_hash(config, s)?,
        None => config,
    };
    let config = Value::Object(config);
    let env = tree::RenderEnv {
        users: &users,
        partials: &mustache::CwdPartials,
        log,
    };
    let rendered = tree::render_all(prepared, &config, &env)?;
    if opts.validate {
        return Ok(());
    }
    let mut existing = existing.into_iter();
    let plans: Vec<tree::Planned> = rendered
        .iter()
        .map(|r| {
            let path = tree::output_path(&out_dir, &r.output);
            let action = match existing.next() {
                Some(e) if existing_valid => tree::plan_with(&path, r, e),
                _ => tree::plan(&path, r),
            };
            tree::Planned {
                path,
                rendered: r,
                action,
            }
        })
        .collect();
    if opts.diff {
        for p in &plans {
            let text = tree::describe_diff(&p.path, p.rendered, &p.action);
            stdout
                .write_all(text.as_bytes())
                .map_err(|e| format!("cannot write to stdout: {e}"))?;
        }
        return Ok(());
    }
    tree::write_all(&plans, log)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(list: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |p| list.contains(&p)
    }

    #[test]
    fn test_default_templates_dir_current() {
        let (d, w) = templates_dir(None, dirs(&["/usr/libexec/os-apply-config/templates"]));
        assert_eq!(d, "/usr/libexec/os-apply-config/templates");
        assert!(w.is_none());
    }

    #[test]
    fn test_default_templates_dir_deprecated() {
        let (d, w) = templates_dir(None, dirs(&["/opt/stack/os-apply-config/templates"]));
        assert_eq!(d, "/opt/stack/os-apply-config/templates");
        assert_eq!(
            w.unwrap(),
            "WARNING:root:Template directory /opt/stack/os-apply-config/templates is deprecated.  \
             The recommended location for template files is /usr/libexec/os-apply-config/templates"
        );
    }

    #[test]
    fn test_default_templates_dir_old_deprecated() {
        let (d, _) = templates_dir(None, dirs(&["/opt/stack/os-config-applier/templates"]));
        assert_eq!(d, "/opt/stack/os-config-applier/templates");
    }

    #[test]
    fn test_default_templates_dir_both() {
        let (d, w) = templates_dir(
            None,
            dirs(&[
                "/usr/libexec/os-apply-config/templates",
                "/opt/stack/os-apply-config/templates",
            ]),
        );
        assert_eq!(d, "/usr/libexec/os-apply-config/templates");
        assert!(w.is_none());
    }

    #[test]
    fn env_templates_dir_wins_even_empty() {
        assert_eq!(templates_dir(Some(String::new()), |_| true).0, "");
    }

    #[test]
    fn metadata_choice_rules() {
        let d = tempfile::tempdir().unwrap();
        let log = Log::capture();
        let mut env = Environment {
            old_os_config_files_path: d.path().join("old.json").to_string_lossy().into_owned(),
            os_config_files_path: Some(d.path().join("new.json").to_string_lossy().into_owned()),
            ..Default::default()
        };
        let opts = Options::default();
        // nothing anywhere: deprecated fallback warning, empty list
        assert!(choose_metadata(&opts, &env, &log).unwrap().is_empty());
        assert!(
            log.lines()[0].contains("DEPRECATED: falling back to"),
            "{:?}",
            log.lines()
        );
        std::fs::write(d.path().join("old.json"), r#"["/x.json"]"#).unwrap();
        assert_eq!(choose_metadata(&opts, &env, &log).unwrap(), vec!["/x.json"]);
        // an explicit non-default path does not fall back
        let explicit = Options {
            os_config_files: Some(d.path().join("other.json").to_string_lossy().into_owned()),
            ..Default::default()
        };
        assert!(choose_metadata(&explicit, &env, &log).unwrap().is_empty());
        // OS_CONFIG_FILES="" means [""]: no files, no fallback
        env.os_config_files = Some(String::new());
        assert_eq!(
            choose_metadata(&opts, &env, &log).unwrap(),
            vec![String::new()]
        );
        env.os_config_files = Some("a:b".into());
        assert_eq!(choose_metadata(&opts, &env, &log).unwrap(), vec!["a", "b"]);
        let with_m = Options {
            metadata: vec!["m".into()],
            ..Default::default()
        };
        assert_eq!(choose_metadata(&with_m, &env, &log).unwrap(), vec!["m"]);
    }
}
