//! One typed `Settings` value, from (highest precedence first): the command line, the
//! `OS_<GROUP>__<OPT>` environment variables, the legacy oslo-style INI files
//! (`/etc/os-collect-config.conf` + `.conf.d`), the native TOML files
//! (`/etc/heat-agent/config.toml` + `config.d/*.toml`), and the defaults below.
//!
//! Field names follow the reference's option dest names (docs/configuration.md, "Options") so that
//! INI keys, TOML keys and `OS_GROUP__OPT` variables map onto them one to one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

mod cli;
mod ini;
mod interp;
mod load;
mod options;
pub mod vars;

pub use cli::command;
pub use vars::process_env;

/// `[DEFAULT]` and every group of os-collect-config, plus the native-only sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub command: Option<String>,
    pub cachedir: PathBuf,
    pub backup_cachedir: PathBuf,
    pub collectors: Vec<String>,
    pub one_time: bool,
    pub min_polling_interval: f64,
    pub polling_interval: f64,
    pub print_cachedir: bool,
    pub force: bool,
    pub print_only: bool,
    pub deployment_key: Vec<String>,
    pub splay: f64,
    /// Config files actually read: their MD5 decides re-exec after a command run
    /// (docs/compatibility.md, "os-collect-config: cache, command and poll loop").
    pub config_files: Vec<PathBuf>,
    /// Config dirs read (native extension: their files are hashed too).
    pub config_dirs: Vec<PathBuf>,
    pub ec2: Ec2,
    pub cfn: Cfn,
    pub heat: Heat,
    pub heat_local: HeatLocal,
    pub local: Local,
    pub request: Request,
    pub zaqar: Zaqar,
    pub keystone: Keystone,
    pub http: Http,
    pub deploy: Deploy,
    /// Log level name given with `--log-level`/`-v`/`--debug` (None: the front end's default).
    pub log_level: Option<String>,
    /// oslo.log `--log-file` (the reference ignores it; the front end may append logs there).
    pub log_file: Option<PathBuf>,
    /// The native configuration directory read (`/etc/heat-agent`): its `config.toml` and
    /// `config.d/*.toml` are hashed by [`config_hash`] too.
    pub native_config_dir: Option<PathBuf>,
    /// Configuration warnings (unknown keys, ...) raised before a logger was installed; the
    /// front end logs them with [`log_deferred_warnings`] once logging is set up.
    pub deferred_warnings: Vec<String>,
}

/// The collectors polled when none are configured (the reference's `DEFAULT_COLLECTORS`);
/// each must be valid (`collectors::NAMES`, checked by a test there).
pub const DEFAULT_COLLECTORS: &[&str] = &[
    "heat_local",
    "ec2",
    "cfn",
    "heat",
    "request",
    "local",
    "zaqar",
];

#[derive(Clone, Debug, PartialEq)]
pub struct Ec2 {
    pub metadata_url: String,
    pub timeout: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cfn {
    pub metadata_url: Option<String>,
    pub heat_metadata_hint: PathBuf,
    pub ca_certificate: Option<PathBuf>,
    pub stack_name: Option<String>,
    pub path: Vec<String>,
    pub secret_access_key: Option<String>,
    pub access_key_id: Option<String>,
    /// cfn's own (deprecated) deployment_key: the reference's cfn ignores the global one.
    pub deployment_key: Vec<String>,
    pub timeout: f64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Heat {
    pub user_id: Option<String>,
    pub password: Option<String>,
    pub project_id: Option<String>,
    pub auth_url: Option<String>,
    pub stack_id: Option<String>,
    pub resource_name: Option<String>,
    pub region_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HeatLocal {
    pub path: Vec<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Local {
    pub path: Vec<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub metadata_url: Option<String>,
    pub timeout: f64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Zaqar {
    pub user_id: Option<String>,
    pub password: Option<String>,
    pub project_id: Option<String>,
    pub auth_url: Option<String>,
    pub queue_id: Option<String>,
    pub region_name: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub use_websockets: bool,
    pub ssl_certificate_validation: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Keystone {
    pub cache_dir: Option<PathBuf>,
    pub cache_ttl: i64,
}

/// Native: HTTP behaviour shared by every collector and signal transport.
#[derive(Clone, Debug, PartialEq)]
pub struct Http {
    /// Seconds to establish a connection.
    pub connect_timeout: f64,
    /// Seconds for a whole call where the collector has no timeout option of its own
    /// (heat, zaqar, keystone; the reference has none there).
    pub timeout: f64,
    /// CA bundle used to verify TLS where no per-collector CA is set.
    pub ca_file: Option<PathBuf>,
}

/// Native: the deployment runner (heat-config replacement).
#[derive(Clone, Debug, PartialEq)]
pub struct Deploy {
    /// Seconds a hook may run before its process tree is killed (per deployment:
    /// input `deploy_timeout`).
    pub hook_timeout: f64,
    /// Re-run (instead of failing) deployments interrupted by a crash or reboot.
    pub rerun_interrupted: bool,
    /// Journal and outbox live here.
    pub state_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            command: None,
            cachedir: "/var/lib/os-collect-config".into(),
            backup_cachedir: "/var/run/os-collect-config".into(),
            collectors: DEFAULT_COLLECTORS.iter().map(|s| s.to_string()).collect(),
            one_time: false,
            min_polling_interval: 1.0,
            polling_interval: 30.0,
            print_cachedir: false,
            force: false,
            print_only: false,
            deployment_key: vec!["deployments".into()],
            splay: 0.0,
            config_files: Vec::new(),
            config_dirs: Vec::new(),
            ec2: Ec2 {
                metadata_url: "http://169.254.169.254/latest/meta-data".into(),
                timeout: 10.0,
            },
            cfn: Cfn {
                metadata_url: None,
                heat_metadata_hint: "/var/lib/heat-cfntools/cfn-metadata-server".into(),
                ca_certificate: None,
                stack_name: None,
                path: Vec::new(),
                secret_access_key: None,
                access_key_id: None,
                deployment_key: vec!["deployments".into()],
                timeout: 10.0,
            },
            heat: Heat::default(),
            heat_local: HeatLocal {
                path: vec!["/var/lib/heat-cfntools/cfn-init-data".into()],
            },
            local: Local {
                path: vec!["/var/lib/os-collect-config/local-data".into()],
            },
            request: Request {
                metadata_url: None,
                timeout: 10.0,
            },
            zaqar: Zaqar::default(),
            keystone: Keystone {
                cache_dir: None,
                cache_ttl: 1800,
            },
            http: Http {
                connect_timeout: 10.0,
                timeout: 60.0,
                ca_file: None,
            },
            deploy: Deploy {
                hook_timeout: 3600.0,
                rerun_interrupted: false,
                state_dir: "/var/lib/heat-agent".into(),
            },
            log_level: None,
            log_file: None,
            native_config_dir: None,
            deferred_warnings: Vec::new(),
        }
    }
}

/// What the os-collect-config command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Run with these settings (already validated; `force` has set `one_time`).
    Run(Box<Settings>),
    /// `-h/--help`: print this on stdout, exit 0.
    Help(String),
    /// `--version`: print this on stdout, exit 0.
    Version(String),
}

/// A configuration or usage error. `message` is the complete text for stderr (for usage errors:
/// the usage, then `<prog>: error: <why>`); print it as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub message: String,
    /// 2: usage error (argparse), 1: configuration error.
    pub exit_code: i32,
}

impl ConfigError {
    pub(crate) fn config(message: String) -> Self {
        ConfigError {
            message,
            exit_code: 1,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The version `--version` prints: the reference's for the legacy name.
const LEGACY_VERSION: &str = "14.1.0";

/// Where configuration files are searched. From the environment: `HOME` (for
/// `~/os-collect-config.conf`), `HEAT_AGENT_SYSCONFDIR` (instead of `/etc`, for tests and
/// relocated installs) and `HEAT_AGENT_CONFIG_DIR` (instead of `/etc/heat-agent`).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPaths {
    pub home: Option<PathBuf>,
    pub sysconfdir: PathBuf,
    pub native_dir: PathBuf,
}

impl SearchPaths {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let sysconfdir: PathBuf = env("HEAT_AGENT_SYSCONFDIR")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/etc".into())
            .into();
        let native_dir = env("HEAT_AGENT_CONFIG_DIR")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| sysconfdir.join("heat-agent"));
        SearchPaths {
            home: env("HOME").filter(|s| !s.is_empty()).map(PathBuf::from),
            sysconfdir,
            native_dir,
        }
    }

    /// First existing of `~/<name>` and `<sysconfdir>/<name>` (oslo's search without a project).
    fn find(&self, name: &str, want_dir: bool) -> Option<PathBuf> {
        let candidates = self
            .home
            .iter()
            .map(|h| h.join(name))
            .chain(std::iter::once(self.sysconfdir.join(name)));
        for c in candidates {
            let ok = if want_dir { c.is_dir() } else { c.exists() };
            if ok {
                return Some(c);
            }
        }
        None
    }
}

fn prog_name(args: &[OsString]) -> String {
    args.first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| a.to_string_lossy().into_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "os-collect-config".to_string())
}

/// Parse os-collect-config's command line (`args[0]` = program name) + environment + files.
/// `valid_collectors` are the names `collectors` may hold (`collectors::NAMES`, passed in by
/// the caller: the collectors depend on config, not the reverse).
pub fn parse_collect_args(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<String>,
    valid_collectors: &[&str],
) -> Result<Invocation, ConfigError> {
    let prog = prog_name(args);
    let usage_error = |why: String| ConfigError {
        message: format!("{}\n{prog}: error: {why}", cli::usage(&prog)),
        exit_code: 2,
    };
    let mut strings = Vec::with_capacity(args.len().saturating_sub(1));
    for a in args.iter().skip(1) {
        match a.to_str() {
            Some(s) => strings.push(s.to_string()),
            None => {
                return Err(usage_error(format!(
                    "argument is not valid UTF-8: {}",
                    a.to_string_lossy()
                )))
            }
        }
    }
    let parsed = match cli::parse(&strings) {
        Err(why) => return Err(usage_error(why)),
        Ok(cli::Outcome::Help) => {
            let mut cmd = command().bin_name(prog.clone());
            return Ok(Invocation::Help(cmd.render_help().to_string()));
        }
        Ok(cli::Outcome::Version) => {
            let v = if prog == "os-collect-config" {
                LEGACY_VERSION
            } else {
                env!("CARGO_PKG_VERSION")
            };
            return Ok(Invocation::Version(v.to_string()));
        }
        Ok(cli::Outcome::Parsed(p)) => p,
    };
    let paths = SearchPaths::from_env(env);
    load::take_deferred();
    let mut settings = build(parsed, env, &paths, valid_collectors)?;
    settings.deferred_warnings = load::take_deferred();
    Ok(Invocation::Run(Box::new(settings)))
}

fn build(
    parsed: cli::Parsed,
    env: &dyn Fn(&str) -> Option<String>,
    paths: &SearchPaths,
    valid_collectors: &[&str],
) -> Result<Settings, ConfigError> {
    use cli::ConfigSource;
    let mut sources = parsed.sources.clone();
    if !sources.iter().any(|s| matches!(s, ConfigSource::File(_))) {
        if let Some(f) = paths.find("os-collect-config.conf", false) {
            sources.insert(0, ConfigSource::File(f.to_string_lossy().into_owned()));
        }
    }
    if !sources.iter().any(|s| matches!(s, ConfigSource::Dir(_))) {
        if let Some(d) = paths.find("os-collect-config.conf.d", true) {
            sources.push(ConfigSource::Dir(d.to_string_lossy().into_owned()));
        }
    }
    let missing: Vec<&str> = sources
        .iter()
        .filter_map(|s| match s {
            ConfigSource::File(f) if !Path::new(f).exists() => Some(f.as_str()),
            _ => None,
        })
        .collect();
    if !missing.is_empty() {
        return Err(ConfigError::config(format!(
            "Failed to find some config files: {}",
            missing.join(",")
        )));
    }
    let mut layers = load::Layers {
        cli: parsed.layer,
        env: load::env_layer(env),
        ini: load::Layer::default(),
        toml: load::Layer::default(),
    };
    let mut settings = Settings::default();
    for s in &sources {
        match s {
            ConfigSource::File(f) => {
                load::read_ini(Path::new(f), &mut layers.ini)?;
                settings.config_files.push(PathBuf::from(f));
            }
            ConfigSource::Dir(d) => {
                let dir = Path::new(d);
                if !dir.is_dir() {
                    return Err(ConfigError::config(format!(
                        "Failed to read config file directory: {d}"
                    )));
                }
                for f in load::sorted_with_ext(dir, "conf") {
                    load::read_ini(&f, &mut layers.ini)?;
                }
                settings.config_dirs.push(dir.to_path_buf());
            }
        }
    }
    // oslo lets values refer to `$config_dir` (the last config dir given or found)
    if let (Some(dir), Some(def)) = (
        settings.config_dirs.last(),
        options::find("DEFAULT", "config_dir"),
    ) {
        layers
            .cli
            .push_raw(def, dir.to_string_lossy().into_owned(), "");
    }
    load::read_native(&paths.native_dir, &mut layers.toml)?;
    settings.native_config_dir = Some(paths.native_dir.clone());
    load::resolve_into(&layers, &mut settings)?;
    finish(&mut settings, valid_collectors)?;
    Ok(settings)
}

/// The reference's checks before polling (unknown collectors are an error, W-C20; `force`
/// implies `one_time`) and secret registration.
fn finish(s: &mut Settings, valid_collectors: &[&str]) -> Result<(), ConfigError> {
    if !s.print_cachedir {
        let mut unknown: Vec<String> = Vec::new();
        for c in &s.collectors {
            if !valid_collectors.contains(&c.as_str()) && !unknown.contains(c) {
                unknown.push(c.clone());
            }
        }
        if !unknown.is_empty() {
            let valid: Vec<String> = valid_collectors.iter().map(|c| c.to_string()).collect();
            return Err(ConfigError::config(format!(
                "Unknown collectors {}. Valid collectors are: {}",
                load::py_list_repr(&unknown),
                load::py_list_repr(&valid)
            )));
        }
    }
    if s.force {
        s.one_time = true;
    }
    register_secrets(s);
    Ok(())
}

fn register_secrets(s: &Settings) {
    for secret in [
        &s.heat.password,
        &s.zaqar.password,
        &s.cfn.secret_access_key,
    ]
    .into_iter()
    .flatten()
    {
        crate::logging::register_secret(secret);
    }
}

/// MD5 (hex) of the concatenated contents of the config files actually used (as the reference;
/// missing or unreadable files are skipped), then — a heat-agent extension (W-C24) — the
/// `*.conf` files of the config dirs in name order, then the native `config.toml` and
/// `config.d/*.toml`. With no config dir and no native files this equals the reference's hash.
pub fn config_hash(s: &Settings) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    let mut feed = |p: &Path| {
        if let Ok(bytes) = std::fs::read(p) {
            h.update(&bytes);
        }
    };
    for f in &s.config_files {
        feed(f);
    }
    for d in &s.config_dirs {
        for f in load::sorted_with_ext(d, "conf") {
            feed(&f);
        }
    }
    if let Some(dir) = &s.native_config_dir {
        for f in load::native_files(dir) {
            feed(&f);
        }
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Native configuration only (for `heat-agent deploy` and `status`, which have no INI and no
/// flags of their own here): `OS_<GROUP>__<OPT>` > `config.toml` + `config.d/*.toml` > defaults.
pub fn load_native(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let paths = SearchPaths::from_env(env);
    load::take_deferred();
    let mut layers = load::Layers {
        cli: load::Layer::default(),
        env: load::env_layer(env),
        ini: load::Layer::default(),
        toml: load::Layer::default(),
    };
    load::read_native(&paths.native_dir, &mut layers.toml)?;
    let mut settings = Settings {
        native_config_dir: Some(paths.native_dir.clone()),
        ..Settings::default()
    };
    load::resolve_into(&layers, &mut settings)?;
    if settings.force {
        settings.one_time = true;
    }
    if let Some(dir) = state_dir_override(env) {
        settings.deploy.state_dir = dir;
    }
    register_secrets(&settings);
    settings.deferred_warnings = load::take_deferred();
    Ok(settings)
}

/// `HEAT_AGENT_STATE_DIR` (when set and not empty): wins over `[deploy] state_dir`.
pub fn state_dir_override(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("HEAT_AGENT_STATE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Log the warnings that were raised while the configuration was read before logging was set
/// up (call right after `logging::init`). Warnings already logged are not repeated.
pub fn log_deferred_warnings(s: &Settings) {
    for w in &s.deferred_warnings {
        log::warn!("{w}");
    }
}
