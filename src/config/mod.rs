//! One typed `Settings` value, from (highest precedence first): the command line, the
//! `OS_<GROUP>__<OPT>` environment variables, the legacy oslo-style INI files
//! (`/etc/os-collect-config.conf` + `.conf.d`), the native TOML files
//! (`/etc/heat-agent/config.toml` + `config.d/*.toml`), and the defaults below.
//!
//! Field names follow the reference's option dest names (spec os-config-tools §1.2) so that
//! INI keys, TOML keys and `OS_GROUP__OPT` variables map onto them one to one.

use std::path::PathBuf;

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
    /// Config files actually read (their MD5 decides re-exec after a command run, §1.9).
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
}

pub const DEFAULT_COLLECTORS: [&str; 7] = [
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
        }
    }
}
