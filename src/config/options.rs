//! The option table: every option of os-collect-config (the oslo.log options it registers
//! included; docs/configuration.md, "Options") and the native-only options, with their types
//! and spellings. The INI reader, the environment, the TOML reader, the command line and
//! `--help` all read this table.

/// How a value is typed (oslo.config types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    /// `URIOpt`: needs a scheme and a host.
    Uri,
    Float,
    Int,
    Bool,
    /// `MultiStrOpt`: repeated keys append.
    Multi,
    /// oslo.log options the reference registers but never uses: accepted, not validated.
    Ignored,
}

/// Where an option comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Registered by the reference: INI, env, TOML and (when `cli` is set) the command line.
    Legacy,
    /// heat-agent only: TOML and env.
    Native,
}

#[derive(Debug)]
pub(crate) struct OptDef {
    /// `DEFAULT` or the group name.
    pub group: &'static str,
    /// The dest name: the INI key, the TOML key, the `OS_<GROUP>__<OPT>` suffix.
    pub name: &'static str,
    pub kind: Kind,
    /// Long command-line spelling without the group prefix ("" = not on the command line).
    pub cli: &'static str,
    pub short: Option<char>,
    /// Extra long spellings (deprecated names oslo still accepts).
    pub aliases: &'static [&'static str],
    pub origin: Origin,
    pub secret: bool,
    pub help: &'static str,
}

const fn opt(group: &'static str, name: &'static str, kind: Kind, cli: &'static str) -> OptDef {
    OptDef {
        group,
        name,
        kind,
        cli,
        short: None,
        aliases: &[],
        origin: Origin::Legacy,
        secret: false,
        help: "",
    }
}

const fn help(mut o: OptDef, text: &'static str) -> OptDef {
    o.help = text;
    o
}

const fn short(mut o: OptDef, c: char) -> OptDef {
    o.short = Some(c);
    o
}

const fn secret(mut o: OptDef) -> OptDef {
    o.secret = true;
    o
}

const fn native(mut o: OptDef) -> OptDef {
    o.origin = Origin::Native;
    o
}

const fn aliases(mut o: OptDef, a: &'static [&'static str]) -> OptDef {
    o.aliases = a;
    o
}

use Kind::*;

const D: &str = "DEFAULT";

/// The groups the reference registers (section names in the INI, tables in TOML).
pub(crate) const LEGACY_GROUPS: [&str; 8] = [
    "ec2",
    "cfn",
    "heat",
    "heat_local",
    "local",
    "request",
    "zaqar",
    "keystone",
];

pub(crate) static OPTIONS: &[OptDef] = &[
    // [DEFAULT] of os-collect-config
    help(
        short(opt(D, "command", Str, "command"), 'c'),
        "Command to run on metadata changes. Without it, print the collected data as JSON and exit.",
    ),
    help(
        opt(D, "cachedir", Str, "cachedir"),
        "Directory in which to store the local cache of metadata.",
    ),
    help(
        opt(D, "backup_cachedir", Str, "backup-cachedir"),
        "Copy cache contents to this directory as well.",
    ),
    help(
        opt(D, "collectors", Multi, ""),
        "Collectors to use, in this order (default: heat_local ec2 cfn heat request local zaqar).",
    ),
    help(
        opt(D, "one_time", Bool, "one-time"),
        "Exit after one execution of the command.",
    ),
    help(
        opt(D, "min_polling_interval", Float, "min-polling-interval"),
        "Minimum seconds between collections (the first sleep).",
    ),
    help(
        short(opt(D, "polling_interval", Float, "polling-interval"), 'i'),
        "Maximum seconds between collections.",
    ),
    help(
        opt(D, "print_cachedir", Bool, "print-cachedir"),
        "Print the cache directory and exit.",
    ),
    help(
        opt(D, "force", Bool, "force"),
        "Run the command even if nothing changed. Implies --one-time.",
    ),
    help(
        opt(D, "print_only", Bool, "print"),
        "Print the collected data as a JSON map and exit, even when a command is set.",
    ),
    help(
        opt(D, "deployment_key", Multi, "deployment-key"),
        "Key(s) to explode into separate collected outputs.",
    ),
    help(
        opt(D, "splay", Float, "splay"),
        "Sleep a random number of seconds below this before the first collection (0: off).",
    ),
    // CLI-only in the reference; listed so `$config_dir`/`$config_file` interpolate.
    opt(D, "config_file", Ignored, ""),
    opt(D, "config_dir", Ignored, ""),
    // oslo.log options: accepted; only `debug` and `log_file` have an effect (docs/compatibility.md)
    help(
        short(opt(D, "debug", Bool, "debug"), 'd'),
        "Log at debug level (the reference ignores it; heat-agent honours it).",
    ),
    help(
        aliases(
            opt(D, "log_config_append", Str, "log-config-append"),
            &["log-config", "log_config"],
        ),
        "Accepted for compatibility; ignored.",
    ),
    help(
        opt(D, "log_date_format", Str, "log-date-format"),
        "Accepted for compatibility; ignored.",
    ),
    help(
        aliases(opt(D, "log_dir", Str, "log-dir"), &["logdir"]),
        "Accepted for compatibility; ignored.",
    ),
    help(
        aliases(opt(D, "log_file", Str, "log-file"), &["logfile"]),
        "Append log lines to this file (the reference ignores it).",
    ),
    help(
        opt(D, "use_syslog", Bool, "use-syslog"),
        "Accepted for compatibility; ignored.",
    ),
    help(
        opt(D, "use_journal", Bool, "use-journal"),
        "Accepted for compatibility; ignored (under systemd, lines carry no timestamp).",
    ),
    help(
        opt(D, "syslog_log_facility", Str, "syslog-log-facility"),
        "Accepted for compatibility; ignored.",
    ),
    help(
        opt(D, "use_json", Bool, "use-json"),
        "Accepted for compatibility; ignored.",
    ),
    help(
        opt(D, "shell_completion", Str, "shell_completion"),
        "oslo.config built-in (bash, zsh); accepted and ignored.",
    ),
    opt(D, "use_stderr", Ignored, ""),
    opt(D, "log_color", Ignored, ""),
    opt(D, "log_rotate_interval", Ignored, ""),
    opt(D, "log_rotate_interval_type", Ignored, ""),
    opt(D, "max_logfile_count", Ignored, ""),
    opt(D, "max_logfile_size_mb", Ignored, ""),
    opt(D, "log_rotation_type", Ignored, ""),
    opt(D, "logging_context_format_string", Ignored, ""),
    opt(D, "logging_default_format_string", Ignored, ""),
    opt(D, "logging_debug_format_suffix", Ignored, ""),
    opt(D, "logging_exception_prefix", Ignored, ""),
    opt(D, "logging_user_identity_format", Ignored, ""),
    opt(D, "default_log_levels", Ignored, ""),
    opt(D, "publish_errors", Ignored, ""),
    opt(D, "instance_format", Ignored, ""),
    opt(D, "instance_uuid_format", Ignored, ""),
    opt(D, "rate_limit_interval", Ignored, ""),
    opt(D, "rate_limit_burst", Ignored, ""),
    opt(D, "rate_limit_except_level", Ignored, ""),
    opt(D, "config_source", Ignored, ""),
    // native [DEFAULT]
    help(
        native(opt(D, "log_level", Str, "")),
        "Log level: error, warn, info, debug, trace.",
    ),
    // [ec2]
    help(
        opt("ec2", "metadata_url", Uri, "metadata-url"),
        "EC2 metadata service URL.",
    ),
    help(
        opt("ec2", "timeout", Float, "timeout"),
        "Seconds to wait for each EC2 metadata request.",
    ),
    // [cfn]
    help(
        opt("cfn", "metadata_url", Uri, "metadata-url"),
        "heat-api-cfn URL (e.g. http://host:8000/v1/).",
    ),
    help(
        opt("cfn", "heat_metadata_hint", Str, "heat-metadata-hint"),
        "File holding the heat-api-cfn server URL, used when metadata_url is unset.",
    ),
    help(
        opt("cfn", "ca_certificate", Str, "ca_certificate"),
        "CA bundle to verify the heat-api-cfn server.",
    ),
    help(
        opt("cfn", "stack_name", Str, "stack-name"),
        "Stack name to poll.",
    ),
    help(
        opt("cfn", "path", Multi, "path"),
        "Resource.Metadata path(s) to read (resource.field[.x.y]).",
    ),
    help(
        secret(opt("cfn", "secret_access_key", Str, "secret-access-key")),
        "EC2 secret key used to sign requests (secret).",
    ),
    help(
        opt("cfn", "access_key_id", Str, "access-key-id"),
        "EC2 access key id used to sign requests.",
    ),
    help(
        opt("cfn", "deployment_key", Multi, "deployment-key"),
        "Deployment key(s) the cfn collector explodes (deprecated; the reference's cfn uses this, not the global one).",
    ),
    help(
        opt("cfn", "timeout", Float, "timeout"),
        "Seconds to wait for heat-api-cfn.",
    ),
    // [heat]
    help(opt("heat", "user_id", Str, "user-id"), "Keystone user id."),
    help(
        secret(opt("heat", "password", Str, "password")),
        "Keystone password (secret).",
    ),
    help(opt("heat", "project_id", Str, "project-id"), "Keystone project id."),
    help(opt("heat", "auth_url", Uri, "auth-url"), "Keystone URL."),
    help(
        opt("heat", "stack_id", Str, "stack-id"),
        "Stack (name/id) holding the server resource.",
    ),
    help(
        opt("heat", "resource_name", Str, "resource-name"),
        "Server resource name.",
    ),
    help(
        opt("heat", "region_name", Str, "region-name"),
        "Region of the orchestration endpoint.",
    ),
    // [heat_local]
    help(
        opt("heat_local", "path", Multi, "path"),
        "Local metadata file(s) written by cloud-init/heat-cfntools.",
    ),
    // [local]
    help(
        opt("local", "path", Multi, "path"),
        "Directories of local JSON metadata files.",
    ),
    // [request]
    help(
        opt("request", "metadata_url", Uri, "metadata-url"),
        "URL (e.g. a Swift temp URL) returning the metadata JSON.",
    ),
    help(
        opt("request", "timeout", Float, "timeout"),
        "Seconds to wait for the metadata URL.",
    ),
    // [zaqar]
    help(opt("zaqar", "user_id", Str, "user-id"), "Keystone user id."),
    help(
        secret(opt("zaqar", "password", Str, "password")),
        "Keystone password (secret).",
    ),
    help(opt("zaqar", "project_id", Str, "project-id"), "Keystone project id."),
    help(opt("zaqar", "auth_url", Uri, "auth-url"), "Keystone URL."),
    help(opt("zaqar", "queue_id", Str, "queue-id"), "Zaqar queue to read."),
    help(
        opt("zaqar", "use_websockets", Bool, "use-websockets"),
        "Use the websocket API instead of polling.",
    ),
    help(
        opt("zaqar", "region_name", Str, "region-name"),
        "Region of the messaging endpoint.",
    ),
    help(
        opt(
            "zaqar",
            "ssl_certificate_validation",
            Bool,
            "ssl-certificate-validation",
        ),
        "Verify the Zaqar server's TLS certificate (reference default: off).",
    ),
    help(
        opt("zaqar", "ca_file", Str, "ca-file"),
        "CA bundle to verify the Zaqar server.",
    ),
    // [keystone]
    help(
        opt("keystone", "cache_dir", Str, "cache_dir"),
        "Directory for the Keystone token cache.",
    ),
    help(
        opt("keystone", "cache_ttl", Int, "cache_ttl"),
        "Seconds a cached Keystone token is trusted.",
    ),
    // native [http]
    help(
        native(opt("http", "connect_timeout", Float, "")),
        "Seconds to establish a connection.",
    ),
    help(
        native(opt("http", "timeout", Float, "")),
        "Seconds for a whole call where the collector has no timeout of its own.",
    ),
    help(
        native(opt("http", "ca_file", Str, "")),
        "CA bundle used where no per-collector CA is set.",
    ),
    // native [deploy]
    help(
        native(opt("deploy", "hook_timeout", Float, "")),
        "Seconds a hook may run before its process tree is killed.",
    ),
    help(
        native(opt("deploy", "rerun_interrupted", Bool, "")),
        "Re-run deployments interrupted by a crash or reboot instead of failing them.",
    ),
    help(
        native(opt("deploy", "state_dir", Str, "")),
        "Directory of the deployment journal and signal outbox.",
    ),
];

/// Look an option up by group and dest name.
pub(crate) fn find(group: &str, name: &str) -> Option<&'static OptDef> {
    OPTIONS.iter().find(|o| o.group == group && o.name == name)
}

pub(crate) fn group_exists(group: &str) -> bool {
    group == D || LEGACY_GROUPS.contains(&group) || native_group(group).is_some()
}

/// A native-only TOML table (`[http]`, `[deploy]`): a group of `native(…)` rows, so a new
/// group needs no list of its own.
pub(crate) fn native_group(group: &str) -> Option<&'static str> {
    OPTIONS
        .iter()
        .find(|o| o.origin == Origin::Native && o.group == group && group != D)
        .map(|o| o.group)
}

impl OptDef {
    /// The full long flag without dashes: `command`, `cfn-metadata-url`, `heat_local-path`.
    pub fn long(&self) -> Option<String> {
        if self.cli.is_empty() {
            None
        } else if self.group == D {
            Some(self.cli.to_string())
        } else {
            Some(format!("{}-{}", self.group, self.cli))
        }
    }

    /// The inverse flag of a bool option: `noone-time`, `zaqar-nouse-websockets`.
    pub fn long_negated(&self) -> Option<String> {
        if self.kind != Bool || self.cli.is_empty() {
            None
        } else if self.group == D {
            Some(format!("no{}", self.cli))
        } else {
            Some(format!("{}-no{}", self.group, self.cli))
        }
    }

    /// `OS_<GROUP>__<OPT>`.
    pub fn env_name(&self) -> String {
        format!(
            "OS_{}__{}",
            self.group.to_ascii_uppercase(),
            self.name.to_ascii_uppercase()
        )
    }

    pub fn is_native(&self) -> bool {
        self.origin == Origin::Native
    }
}
