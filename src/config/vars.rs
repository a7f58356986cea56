//! The process environment: every setting heat-agent takes from an environment variable is read
//! here, and nowhere else (tests/architecture.rs checks it). Each domain gets its variables
//! through a typed accessor below, with the reference's rules kept exactly: which variables
//! count when empty, which are read as text and which as raw bytes, and the defaults.
//!
//! The exceptions are the platform protocols, read by the platform module that speaks them
//! (a platform module may not name `config`): `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
//! `WATCHDOG_PID` (lifecycle, sd_notify), `JOURNAL_STREAM`, `TZ` and `RUST_LOG` (logging) and
//! `PATH` (process, program lookup). They are listed in [`VARIABLES`] all the same.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Every environment variable heat-agent reads, with what it does: the man pages' ENVIRONMENT
/// section and the list in docs/configuration.md (tests/packaging_docs.rs checks both against
/// the source).
pub const VARIABLES: &[(&str, &str)] = &[
    ("OS_<GROUP>__<OPT>", "any option of the configuration, e.g. OS_DEFAULT__SPLAY (docs/configuration.md)"),
    ("HEAT_AGENT_CONFIG_DIR", "directory of config.toml (default /etc/heat-agent)"),
    ("HEAT_AGENT_SYSCONFDIR", "where os-collect-config.conf is looked up (default /etc)"),
    ("HOME", "os-collect-config.conf and its .conf.d are also looked up here, first"),
    ("HEAT_AGENT_STATE_DIR", "state directory: deployment journal, signal outbox (default /var/lib/heat-agent)"),
    ("HEAT_AGENT_LOG_LEVEL", "heat-config-notify: log level (error, warn, info, debug, trace; default info)"),
    ("HEAT_AGENT_NOTIFY_WAIT", "heat-config-notify: seconds a signal is retried in the foreground before the outbox takes over"),
    ("HEAT_AGENT_NOTIFY_BACKOFF", "first retry step of the signal outbox, in seconds: the first retry comes after half of it to all of it, each later step doubles (default 2, capped at 300)"),
    ("HEAT_AGENT_BLKID", "blkid program of the config-drive collector"),
    ("HEAT_AGENT_MOUNT", "mount program of the config-drive collector"),
    ("HEAT_AGENT_UMOUNT", "umount program of the config-drive collector"),
    ("HEAT_AGENT_PROC_MOUNTS", "mount table read by the config-drive collector (default /proc/mounts)"),
    ("HEAT_AGENT_GIT_REV", "build time only: the git revision --version prints"),
    ("OS_CONFIG_FILES", "os-apply-config: metadata files, colon separated (set by the collector for the command it runs)"),
    ("OS_CONFIG_FILES_PATH", "os-apply-config: file listing the metadata files"),
    ("OS_CONFIG_APPLIER_TEMPLATES", "os-apply-config: template root"),
    ("OS_REFRESH_CONFIG_BASE_DIR", "os-refresh-config: phase directories root (default /usr/libexec/os-refresh-config)"),
    ("RUN_PARTS_REGEX", "os-refresh-config and run-parts: names of the scripts run (default ^[0-9A-Za-z_-]+$)"),
    ("HEAT_SHELL_CONFIG", "deploy: the rendered deployments file (default /var/run/heat-config/heat-config)"),
    ("HEAT_CONFIG_DEPLOYED", "deploy: deployment markers (default /var/lib/heat-config/deployed)"),
    ("HEAT_CONFIG_DEPLOYED_OLD", "deploy: markers of older installs, migrated (default /var/run/heat-config/deployed)"),
    ("HEAT_CONFIG_HOOKS", "deploy: hook directory searched first"),
    ("HEAT_CONFIG_NOTIFY", "deploy: signal command instead of the built-in heat-config-notify"),
    ("HEAT_SCRIPT_WORKING", "script hook: working directory"),
    ("HEAT_SCRIPT_OUTPUTS", "script hook: outputs directory"),
    ("HEAT_ANSIBLE_WORKING", "ansible hook: working directory"),
    ("HEAT_ANSIBLE_OUTPUTS", "ansible hook: outputs directory"),
    ("HEAT_ANSIBLE_CMD", "ansible hook: ansible-playbook command"),
    ("HEAT_ANSIBLE_INVENTORY", "ansible hook: inventory"),
    ("HEAT_PUPPET_WORKING", "puppet hook: working directory"),
    ("HEAT_PUPPET_OUTPUTS", "puppet hook: outputs directory"),
    ("HEAT_PUPPET_CMD", "puppet hook: puppet command"),
    ("HEAT_PUPPET_LOGDIR", "puppet hook: log directory"),
    ("HEAT_PUPPET_HIERA_DATADIR", "puppet and hiera hooks: hiera data directory"),
    ("HEAT_SALT_WORKING", "salt hook: working directory"),
    ("HEAT_SALT_CMD", "salt hook: salt-call command"),
    ("SALT_MINION_CONFIG", "salt hook: minion configuration (default /etc/salt/minion)"),
    ("HEAT_CHEF_WORKING", "chef hook: working directory"),
    ("HEAT_CHEF_OUTPUTS", "chef hook: outputs directory"),
    ("HEAT_HIERA_CONFIG", "hiera hook: hiera.yaml path"),
    ("HEAT_HIERA_ELEMENT_CHECK_CMD", "hiera hook: command deciding whether the hieradata element is present"),
    ("HEAT_APPLY_CONFIG_CMD", "apply-config hook: os-apply-config command"),
    ("NOTIFY_SOCKET", "systemd: where readiness and status are reported"),
    ("WATCHDOG_USEC", "systemd: the watchdog timeout the daemon pings within"),
    ("WATCHDOG_PID", "systemd: the process the watchdog is meant for"),
    ("JOURNAL_STREAM", "systemd: stderr is the journal (log lines then carry no time stamp)"),
    ("TZ", "time zone of log lines and dates (default /etc/localtime)"),
    ("RUST_LOG", "log filter for debugging, on top of the log level (env_logger syntax)"),
    ("PATH", "where the HEAT_CONFIG_NOTIFY program is looked up"),
];

/// The process environment as text, the lookup the configuration loaders take (a variable that
/// is not valid Unicode counts as unset, as in the reference's Python).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable as raw bytes, set even when empty.
fn raw(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// A variable as raw bytes, unless unset or empty.
fn non_empty(name: &str) -> Option<OsString> {
    raw(name).filter(|v| !v.is_empty())
}

/// A path from `name`, or `default` when unset or empty (the hooks' rule).
fn path_or(name: &str, default: &str) -> PathBuf {
    non_empty(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| default.into())
}

/// A command from `name`, or `default` when unset or empty.
fn command_or(name: &str, default: &str) -> OsString {
    non_empty(name).unwrap_or_else(|| default.into())
}

/// Seconds in `name` (surrounding blanks allowed), if a finite number `keep` accepts.
fn seconds(name: &str, keep: impl Fn(f64) -> bool) -> Option<f64> {
    process_env(name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && keep(*v))
}

// ----- deploy (heat-config) -----

/// The deployment runner's variables, as the reference's 55-heat-config reads them. Unset:
/// `None`, the runner's defaults apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeatConfig {
    /// `HEAT_SHELL_CONFIG` (even when empty).
    pub shell_config: Option<PathBuf>,
    /// `HEAT_CONFIG_DEPLOYED` (even when empty).
    pub deployed: Option<PathBuf>,
    /// `HEAT_CONFIG_DEPLOYED_OLD` (even when empty).
    pub deployed_old: Option<PathBuf>,
    /// `HEAT_CONFIG_HOOKS`, unless empty.
    pub hooks: Option<PathBuf>,
    /// `HEAT_CONFIG_NOTIFY` (even when empty).
    pub notify: Option<OsString>,
    /// `HEAT_AGENT_STATE_DIR`, unless empty (raw bytes: any path works).
    pub state_dir: Option<PathBuf>,
}

pub fn heat_config() -> HeatConfig {
    HeatConfig {
        shell_config: raw("HEAT_SHELL_CONFIG").map(PathBuf::from),
        deployed: raw("HEAT_CONFIG_DEPLOYED").map(PathBuf::from),
        deployed_old: raw("HEAT_CONFIG_DEPLOYED_OLD").map(PathBuf::from),
        hooks: non_empty("HEAT_CONFIG_HOOKS").map(PathBuf::from),
        notify: raw("HEAT_CONFIG_NOTIFY"),
        state_dir: non_empty("HEAT_AGENT_STATE_DIR").map(PathBuf::from),
    }
}

// ----- hooks -----

/// A hook's working and outputs directories.
#[derive(Clone, Debug, PartialEq)]
pub struct HookDirs {
    pub working: PathBuf,
    pub outputs: PathBuf,
}

/// `HEAT_SCRIPT_WORKING`, `HEAT_SCRIPT_OUTPUTS`.
pub fn script_hook() -> HookDirs {
    HookDirs {
        working: path_or(
            "HEAT_SCRIPT_WORKING",
            "/var/lib/heat-config/heat-config-script",
        ),
        outputs: path_or(
            "HEAT_SCRIPT_OUTPUTS",
            "/var/run/heat-config/heat-config-script",
        ),
    }
}

/// `HEAT_CHEF_WORKING`, `HEAT_CHEF_OUTPUTS`.
pub fn chef_hook() -> HookDirs {
    HookDirs {
        working: path_or("HEAT_CHEF_WORKING", "/var/lib/heat-config/heat-config-chef"),
        outputs: path_or("HEAT_CHEF_OUTPUTS", "/var/run/heat-config/heat-config-chef"),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AnsibleHook {
    pub working: PathBuf,
    pub outputs: PathBuf,
    /// `HEAT_ANSIBLE_CMD` (default `ansible-playbook`).
    pub cmd: OsString,
    /// `HEAT_ANSIBLE_INVENTORY` (default `localhost,`; an empty value is kept).
    pub inventory: OsString,
}

pub fn ansible_hook() -> AnsibleHook {
    AnsibleHook {
        working: path_or(
            "HEAT_ANSIBLE_WORKING",
            "/var/lib/heat-config/heat-config-ansible",
        ),
        outputs: path_or(
            "HEAT_ANSIBLE_OUTPUTS",
            "/var/run/heat-config/heat-config-ansible",
        ),
        cmd: command_or("HEAT_ANSIBLE_CMD", "ansible-playbook"),
        inventory: raw("HEAT_ANSIBLE_INVENTORY").unwrap_or_else(|| "localhost,".into()),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PuppetHook {
    pub working: PathBuf,
    pub outputs: PathBuf,
    /// `HEAT_PUPPET_CMD` (default `puppet`).
    pub cmd: OsString,
    /// `HEAT_PUPPET_LOGDIR`: log files are written only when it is set (W24).
    pub logdir: Option<PathBuf>,
    pub hiera_datadir: PathBuf,
}

pub fn puppet_hook() -> PuppetHook {
    PuppetHook {
        working: path_or(
            "HEAT_PUPPET_WORKING",
            "/var/lib/heat-config/heat-config-puppet",
        ),
        outputs: path_or(
            "HEAT_PUPPET_OUTPUTS",
            "/var/run/heat-config/heat-config-puppet",
        ),
        cmd: command_or("HEAT_PUPPET_CMD", "puppet"),
        logdir: non_empty("HEAT_PUPPET_LOGDIR").map(PathBuf::from),
        hiera_datadir: hiera_datadir(),
    }
}

fn hiera_datadir() -> PathBuf {
    path_or("HEAT_PUPPET_HIERA_DATADIR", "/etc/puppet/hieradata")
}

#[derive(Clone, Debug, PartialEq)]
pub struct SaltHook {
    pub working: PathBuf,
    /// `SALT_MINION_CONFIG` (default `/etc/salt/minion`).
    pub minion_config: PathBuf,
    /// `HEAT_SALT_CMD` (default `salt-call`).
    pub cmd: OsString,
}

pub fn salt_hook() -> SaltHook {
    SaltHook {
        working: path_or("HEAT_SALT_WORKING", "/var/lib/heat-config/heat-config-salt"),
        minion_config: path_or("SALT_MINION_CONFIG", "/etc/salt/minion"),
        cmd: command_or("HEAT_SALT_CMD", "salt-call"),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HieraHook {
    /// `HEAT_PUPPET_HIERA_DATADIR` (default `/etc/puppet/hieradata`).
    pub datadir: PathBuf,
    /// `HEAT_HIERA_CONFIG` (default `/etc/puppet/hiera.yaml`).
    pub config_file: PathBuf,
}

pub fn hiera_hook() -> HieraHook {
    HieraHook {
        datadir: hiera_datadir(),
        config_file: path_or("HEAT_HIERA_CONFIG", "/etc/puppet/hiera.yaml"),
    }
}

/// `HEAT_HIERA_ELEMENT_CHECK_CMD`: the command line (split on spaces) that prints whether
/// legacy hiera data is present; set (even empty) and valid Unicode, else the reference's.
pub fn hiera_element_check_cmd() -> String {
    process_env("HEAT_HIERA_ELEMENT_CHECK_CMD").unwrap_or_else(|| {
        "os-apply-config --key hiera.datafiles --type raw --key-default empty".into()
    })
}

/// `HEAT_APPLY_CONFIG_CMD` (default `os-apply-config`).
pub fn apply_config_cmd() -> OsString {
    command_or("HEAT_APPLY_CONFIG_CMD", "os-apply-config")
}

// ----- notify -----

/// `HEAT_AGENT_LOG_LEVEL`: heat-config-notify's log level name.
pub fn notify_log_level() -> Option<String> {
    process_env("HEAT_AGENT_LOG_LEVEL")
}

/// `HEAT_AGENT_NOTIFY_WAIT`: how long heat-config-notify retries in the foreground (at least
/// 0 s, at most a day); `None` when unset or not a number.
pub fn notify_foreground_wait() -> Option<Duration> {
    seconds("HEAT_AGENT_NOTIFY_WAIT", |v| v >= 0.0)
        .map(|v| Duration::from_secs_f64(v.min(86_400.0)))
}

/// `HEAT_AGENT_NOTIFY_BACKOFF`: the outbox's first retry step (over 0 s, at most 300 s);
/// `None` when unset or out of range.
pub fn notify_backoff() -> Option<Duration> {
    seconds("HEAT_AGENT_NOTIFY_BACKOFF", |v| v > 0.0 && v <= 300.0).map(Duration::from_secs_f64)
}

// ----- collectors -----

/// The config-drive collector's programs and mount table (`HEAT_AGENT_*`, for tests); each
/// `None` when unset or empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigDriveTools {
    pub blkid: Option<PathBuf>,
    pub mount: Option<PathBuf>,
    pub umount: Option<PathBuf>,
    pub proc_mounts: Option<PathBuf>,
}

pub fn config_drive_tools() -> ConfigDriveTools {
    let path = |name: &str| non_empty(name).map(PathBuf::from);
    ConfigDriveTools {
        blkid: path("HEAT_AGENT_BLKID"),
        mount: path("HEAT_AGENT_MOUNT"),
        umount: path("HEAT_AGENT_UMOUNT"),
        proc_mounts: path("HEAT_AGENT_PROC_MOUNTS"),
    }
}

// ----- os-apply-config -----

/// A variable that is set, even if not UTF-8 (then lossily converted): os-apply-config's rule.
fn lossy(name: &str) -> Option<String> {
    raw(name).map(|v| v.to_string_lossy().into_owned())
}

/// `OS_CONFIG_FILES`: the metadata files, colon separated.
pub fn os_config_files() -> Option<String> {
    lossy("OS_CONFIG_FILES")
}

/// `OS_CONFIG_FILES_PATH`: the file listing the metadata files.
pub fn os_config_files_path() -> Option<String> {
    lossy("OS_CONFIG_FILES_PATH")
}

/// `OS_CONFIG_APPLIER_TEMPLATES`: the template root.
pub fn os_config_applier_templates() -> Option<String> {
    lossy("OS_CONFIG_APPLIER_TEMPLATES")
}

// ----- os-refresh-config -----

/// `OS_REFRESH_CONFIG_BASE_DIR` (even when empty).
pub fn refresh_base_dir() -> Option<OsString> {
    raw("OS_REFRESH_CONFIG_BASE_DIR")
}

/// `RUN_PARTS_REGEX`, unless unset, empty or not Unicode.
pub fn run_parts_regex() -> Option<String> {
    process_env("RUN_PARTS_REGEX").filter(|s| !s.is_empty())
}
