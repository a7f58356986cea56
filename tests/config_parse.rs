//! The os-collect-config configuration API: command line + environment + legacy INI + native
//! TOML → Settings (docs/configuration.md, and where it differs from the reference
//! (docs/compatibility.md, "Configuration and the os-collect-config command line")).

use heat_agent::collectors::NAMES;
use heat_agent::config::{
    config_hash, load_native, parse_collect_args, ConfigError, Invocation, Settings,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A temp root standing in for $HOME and /etc, so the real /etc is never read.
struct Root {
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        let mut vars = HashMap::new();
        vars.insert(
            "HOME".to_string(),
            dir.path().join("home").display().to_string(),
        );
        vars.insert(
            "HEAT_AGENT_SYSCONFDIR".to_string(),
            dir.path().join("etc").display().to_string(),
        );
        Root { dir, vars }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    fn set(&mut self, k: &str, v: &str) {
        self.vars.insert(k.into(), v.into());
    }
    fn parse(&self, args: &[&str]) -> Result<Invocation, ConfigError> {
        let mut argv: Vec<OsString> = vec!["os-collect-config".into()];
        argv.extend(args.iter().map(OsString::from));
        let vars = self.vars.clone();
        parse_collect_args(&argv, &move |k| vars.get(k).cloned(), NAMES)
    }
    fn run(&self, args: &[&str]) -> Settings {
        match self.parse(args) {
            Ok(Invocation::Run(s)) => *s,
            other => panic!("expected Run for {args:?}, got {other:?}"),
        }
    }
    fn err(&self, args: &[&str]) -> ConfigError {
        match self.parse(args) {
            Err(e) => e,
            other => panic!("expected an error for {args:?}, got {other:?}"),
        }
    }
}

// ---- a logger that records warnings, to check that ignored keys are reported ----

struct Recorder;
static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        LINES
            .get_or_init(Default::default)
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn warnings_about(needle: &str) -> Vec<String> {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = log::set_logger(&Recorder);
        log::set_max_level(log::LevelFilter::Trace);
    });
    LINES
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains(needle))
        .cloned()
        .collect()
}

fn install_logger() {
    warnings_about("");
}

// ---- reference tests (os-collect-config tests/test_collect.py) ----

#[test]
fn test_setup_conf() {
    let root = Root::new();
    let s = root.run(&["--config-file", "/dev/null"]);
    assert_eq!(s.cachedir, PathBuf::from("/var/lib/os-collect-config"));
    assert_eq!(
        s.backup_cachedir,
        PathBuf::from("/var/run/os-collect-config")
    );
    assert_eq!(
        s.collectors,
        [
            "heat_local",
            "ec2",
            "cfn",
            "heat",
            "request",
            "local",
            "zaqar"
        ]
    );
    assert_eq!(
        s.ec2.metadata_url,
        "http://169.254.169.254/latest/meta-data"
    );
    assert_eq!(
        s.cfn.heat_metadata_hint,
        PathBuf::from("/var/lib/heat-cfntools/cfn-metadata-server")
    );
    assert_eq!(s.polling_interval, 30.0);
    assert_eq!(s.min_polling_interval, 1.0);
    assert_eq!(s.keystone.cache_ttl, 1800);
    assert!(!s.zaqar.ssl_certificate_validation);
    assert_eq!(s.config_files, vec![PathBuf::from("/dev/null")]);
}

fn hash_of(files: &[PathBuf]) -> String {
    let s = Settings {
        config_files: files.to_vec(),
        ..Settings::default()
    };
    config_hash(&s)
}

#[test]
fn test_getfilehash_nofile() {
    assert_eq!(hash_of(&[]), "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn test_getfilehash_onefile() {
    let root = Root::new();
    let a = root.write("a", "test string");
    assert_eq!(hash_of(&[a]), "6f8db599de986fab7a21625b7916589c");
}

#[test]
fn test_getfilehash_twofiles() {
    let root = Root::new();
    let a = root.write("a", "test string");
    let b = root.write("b", "test string2");
    assert_eq!(hash_of(&[a, b]), "a8e1b2b743037b1ec17b5d4b49369872");
}

#[test]
fn test_getfilehash_filenotfound() {
    let root = Root::new();
    let a = root.write("a", "test string");
    let b = root.write("b", "test string2");
    let missing = root.path("missing");
    assert_eq!(
        hash_of(&[a, missing, b]),
        "a8e1b2b743037b1ec17b5d4b49369872"
    );
}

#[test]
fn config_hash_covers_config_dir_and_native_files_extension() {
    let mut root = Root::new();
    let conf = root.write("c.conf", "[DEFAULT]\n");
    let native = root.path("native");
    root.set("HEAT_AGENT_CONFIG_DIR", native.to_str().unwrap());
    root.write("confd/a.conf", "[DEFAULT]\nsplay = 1\n");
    let s = root.run(&[
        "--config-file",
        conf.to_str().unwrap(),
        "--config-dir",
        root.path("confd").to_str().unwrap(),
    ]);
    let before = config_hash(&s);
    root.write("confd/b.conf", "[DEFAULT]\n");
    let with_dropin = config_hash(&s);
    assert_ne!(before, with_dropin, "a new .conf.d file changes the hash");
    root.write("native/config.d/10.toml", "splay = 2\n");
    assert_ne!(
        with_dropin,
        config_hash(&s),
        "a TOML drop-in changes the hash"
    );
}

#[test]
fn test_main_print_cachedir_needs_no_validation() {
    let root = Root::new();
    let s = root.run(&["--config-file", "/dev/null", "--print-cachedir", "bogus"]);
    assert!(s.print_cachedir);
    assert_eq!(s.collectors, ["bogus"]);
}

// ---- validation ----

/// The valid collectors as the reference's message spells a list: `['heat_local', 'ec2']`.
fn py_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", quoted.join(", "))
}

#[test]
fn unknown_collectors_exact_message_exit_1() {
    let root = Root::new();
    let e = root.err(&["--config-file", "/dev/null", "heat", "bogus"]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        format!(
            "Unknown collectors ['bogus']. Valid collectors are: {}",
            py_list(NAMES)
        )
    );
    // the reference's seven come first, in its order (new collectors are appended)
    assert_eq!(
        py_list(&NAMES[..7]),
        "['heat_local', 'ec2', 'cfn', 'heat', 'request', 'local', 'zaqar']"
    );
}

#[test]
fn comma_is_not_a_separator() {
    let root = Root::new();
    let f = root.write("c.conf", "[DEFAULT]\ncollectors = heat,local\n");
    let e = root.err(&["--config-file", f.to_str().unwrap()]);
    assert!(e.message.starts_with("Unknown collectors ['heat,local']."));
}

#[test]
fn force_implies_one_time() {
    let root = Root::new();
    let s = root.run(&["--config-file", "/dev/null", "--force"]);
    assert!(s.force && s.one_time);
    let s = root.run(&["--config-file", "/dev/null"]);
    assert!(!s.force && !s.one_time);
}

// ---- command line ----

#[test]
fn every_flag_spelling() {
    let root = Root::new();
    let s = root.run(&[
        "--config-file",
        "/dev/null",
        "-c",
        "os-refresh-config",
        "--cachedir",
        "/c",
        "--backup-cachedir",
        "/b",
        "--one-time",
        "--print",
        "-i",
        "7",
        "--min-polling-interval",
        "2",
        "--splay",
        "3.5",
        "--deployment-key",
        "d1",
        "--deployment-key",
        "d2",
        "--heat_local-path",
        "/hl",
        "--local-path",
        "/l",
        "--keystone-cache_dir",
        "/k",
        "--keystone-cache_ttl",
        "60",
        "--cfn-access-key-id",
        "AK",
        "--cfn-secret-access-key",
        "SK",
        "--cfn-metadata-url",
        "http://127.0.0.1:8000/v1/",
        "--cfn-stack-name",
        "st",
        "--cfn-path",
        "server.Metadata",
        "--cfn-ca_certificate",
        "/ca",
        "--cfn-heat-metadata-hint",
        "/hint",
        "--cfn-deployment-key",
        "cd",
        "--cfn-timeout",
        "4",
        "--ec2-metadata-url",
        "http://127.0.0.1/latest",
        "--ec2-timeout",
        "5",
        "--request-metadata-url",
        "http://127.0.0.1/req",
        "--request-timeout",
        "6",
        "--heat-user-id",
        "u",
        "--heat-password",
        "hpw",
        "--heat-project-id",
        "p",
        "--heat-auth-url",
        "http://127.0.0.1:5000/v3",
        "--heat-stack-id",
        "s/1",
        "--heat-resource-name",
        "server",
        "--heat-region-name",
        "R",
        "--zaqar-user-id",
        "zu",
        "--zaqar-password",
        "zpw",
        "--zaqar-project-id",
        "zp",
        "--zaqar-auth-url",
        "http://127.0.0.1:5000",
        "--zaqar-queue-id",
        "q",
        "--zaqar-region-name",
        "ZR",
        "--zaqar-ca-file",
        "/zca",
        "--zaqar-use-websockets",
        "--zaqar-ssl-certificate-validation",
        "heat",
        "local",
    ]);
    assert_eq!(s.command.as_deref(), Some("os-refresh-config"));
    assert_eq!(s.cachedir, PathBuf::from("/c"));
    assert_eq!(s.backup_cachedir, PathBuf::from("/b"));
    assert!(s.one_time && s.print_only);
    assert_eq!(
        (s.polling_interval, s.min_polling_interval, s.splay),
        (7.0, 2.0, 3.5)
    );
    assert_eq!(s.deployment_key, ["d1", "d2"]);
    assert_eq!(s.heat_local.path, vec![PathBuf::from("/hl")]);
    assert_eq!(s.local.path, vec![PathBuf::from("/l")]);
    assert_eq!(s.keystone.cache_dir, Some(PathBuf::from("/k")));
    assert_eq!(s.keystone.cache_ttl, 60);
    assert_eq!(s.cfn.access_key_id.as_deref(), Some("AK"));
    assert_eq!(s.cfn.secret_access_key.as_deref(), Some("SK"));
    assert_eq!(
        s.cfn.metadata_url.as_deref(),
        Some("http://127.0.0.1:8000/v1/")
    );
    assert_eq!(s.cfn.stack_name.as_deref(), Some("st"));
    assert_eq!(s.cfn.path, ["server.Metadata"]);
    assert_eq!(s.cfn.ca_certificate, Some(PathBuf::from("/ca")));
    assert_eq!(s.cfn.heat_metadata_hint, PathBuf::from("/hint"));
    assert_eq!(s.cfn.deployment_key, ["cd"]);
    assert_eq!(s.cfn.timeout, 4.0);
    assert_eq!(s.ec2.metadata_url, "http://127.0.0.1/latest");
    assert_eq!(s.ec2.timeout, 5.0);
    assert_eq!(
        s.request.metadata_url.as_deref(),
        Some("http://127.0.0.1/req")
    );
    assert_eq!(s.request.timeout, 6.0);
    assert_eq!(s.heat.user_id.as_deref(), Some("u"));
    assert_eq!(s.heat.password.as_deref(), Some("hpw"));
    assert_eq!(s.heat.project_id.as_deref(), Some("p"));
    assert_eq!(s.heat.auth_url.as_deref(), Some("http://127.0.0.1:5000/v3"));
    assert_eq!(s.heat.stack_id.as_deref(), Some("s/1"));
    assert_eq!(s.heat.resource_name.as_deref(), Some("server"));
    assert_eq!(s.heat.region_name.as_deref(), Some("R"));
    assert_eq!(s.zaqar.user_id.as_deref(), Some("zu"));
    assert_eq!(s.zaqar.password.as_deref(), Some("zpw"));
    assert_eq!(s.zaqar.project_id.as_deref(), Some("zp"));
    assert_eq!(s.zaqar.auth_url.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(s.zaqar.queue_id.as_deref(), Some("q"));
    assert_eq!(s.zaqar.region_name.as_deref(), Some("ZR"));
    assert_eq!(s.zaqar.ca_file, Some(PathBuf::from("/zca")));
    assert!(s.zaqar.use_websockets && s.zaqar.ssl_certificate_validation);
    assert_eq!(s.collectors, ["heat", "local"]);
}

#[test]
fn prefix_abbreviations_and_attached_values() {
    let root = Root::new();
    let s = root.run(&[
        "--config-f",
        "/dev/null",
        "--polling",
        "3",
        "--one",
        "--min=2",
        "-dc",
        "cmd",
    ]);
    assert_eq!(s.polling_interval, 3.0);
    assert!(s.one_time);
    assert_eq!(s.min_polling_interval, 2.0);
    assert_eq!(s.command.as_deref(), Some("cmd"));
    assert_eq!(s.log_level.as_deref(), Some("debug"));
    let s = root.run(&["--config-file=/dev/null", "-i5", "--command=a b"]);
    assert_eq!(s.polling_interval, 5.0);
    assert_eq!(s.command.as_deref(), Some("a b"));
}

#[test]
fn no_forms_last_wins() {
    let root = Root::new();
    let s = root.run(&["--config-file", "/dev/null", "--one-time", "--noone-time"]);
    assert!(!s.one_time);
    let s = root.run(&[
        "--config-file",
        "/dev/null",
        "--zaqar-use-websockets",
        "--zaqar-nouse-websockets",
        "--zaqar-nossl-certificate-validation",
    ]);
    assert!(!s.zaqar.use_websockets && !s.zaqar.ssl_certificate_validation);
    let s = root.run(&["--config-file", "/dev/null", "--noprint", "--print"]);
    assert!(s.print_only);
}

#[test]
fn unknown_argument_is_a_usage_error() {
    let root = Root::new();
    let e = root.err(&["--config-file", "/dev/null", "--bogus"]);
    assert_eq!(e.exit_code, 2);
    assert!(
        e.message.starts_with("usage: os-collect-config [-h]"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .ends_with("\nos-collect-config: error: unrecognized arguments: --bogus"),
        "{}",
        e.message
    );
}

#[test]
fn ambiguous_prefix_is_a_usage_error() {
    let root = Root::new();
    let e = root.err(&["--no"]);
    assert_eq!(e.exit_code, 2);
    assert!(e
        .message
        .contains("os-collect-config: error: ambiguous option: --no could match --nodebug,"));
}

#[test]
fn version_and_help() {
    let root = Root::new();
    match root.parse(&["--version"]) {
        Ok(Invocation::Version(v)) => assert_eq!(v, "14.1.0"),
        other => panic!("{other:?}"),
    }
    match root.parse(&["-h"]) {
        Ok(Invocation::Help(h)) => {
            for flag in [
                "--heat_local-path",
                "--keystone-cache_dir",
                "--zaqar-nouse-websockets",
                "--noone-time",
                "--config-file",
                "--log-level",
            ] {
                assert!(h.contains(flag), "help lacks {flag}:\n{h}");
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn oslo_log_options_are_accepted() {
    let root = Root::new();
    let s = root.run(&[
        "--config-file",
        "/dev/null",
        "--use-syslog",
        "--nouse-journal",
        "--log-config",
        "/x",
        "--logfile",
        "/var/log/occ.log",
        "--log-dir",
        "/d",
        "--syslog-log-facility",
        "LOG_USER",
        "--log-date-format",
        "%Y",
        "--use-json",
        "--shell_completion",
        "bash",
    ]);
    assert_eq!(s.log_file, Some(PathBuf::from("/var/log/occ.log")));
    assert_eq!(s.log_level, None);
}

#[test]
fn native_verbosity_flags() {
    let root = Root::new();
    let s = root.run(&["--config-file", "/dev/null", "-v"]);
    assert_eq!(s.log_level.as_deref(), Some("info"));
    let s = root.run(&["--config-file", "/dev/null", "-vv", "--debug"]);
    assert_eq!(s.log_level.as_deref(), Some("debug"));
    let s = root.run(&["--config-file", "/dev/null", "-v", "--log-level", "warn"]);
    assert_eq!(s.log_level.as_deref(), Some("warn"));
    let e = root.err(&["--config-file", "/dev/null", "--log-level", "loud"]);
    assert_eq!(e.exit_code, 2);
}

#[test]
fn missing_config_file_and_dir_exit_1() {
    let root = Root::new();
    let e = root.err(&["--config-file", "/nonexistent/x.conf"]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        "Failed to find some config files: /nonexistent/x.conf"
    );
    let e = root.err(&[
        "--config-file",
        "/dev/null",
        "--config-dir",
        "/nonexistent/d",
    ]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        "Failed to read config file directory: /nonexistent/d"
    );
}

// ---- files ----

#[test]
fn discovery_prefers_home_then_sysconfdir() {
    let root = Root::new();
    root.write(
        "etc/os-collect-config.conf",
        "[DEFAULT]\ncommand = from-etc\n",
    );
    let s = root.run(&[]);
    assert_eq!(s.command.as_deref(), Some("from-etc"));
    assert_eq!(
        s.config_files,
        vec![root.path("etc/os-collect-config.conf")]
    );
    root.write(
        "home/os-collect-config.conf",
        "[DEFAULT]\ncommand = from-home\n",
    );
    let s = root.run(&[]);
    assert_eq!(
        s.command.as_deref(),
        Some("from-home"),
        "only the first is read"
    );
    assert_eq!(
        s.config_files,
        vec![root.path("home/os-collect-config.conf")]
    );
    // the .conf.d directory is discovered independently, and read after the file
    root.write(
        "etc/os-collect-config.conf.d/b.conf",
        "[DEFAULT]\ncommand = dir-b\n",
    );
    root.write(
        "etc/os-collect-config.conf.d/a.conf",
        "[DEFAULT]\ncommand = dir-a\n",
    );
    root.write(
        "etc/os-collect-config.conf.d/z.txt",
        "[DEFAULT]\ncommand = not-conf\n",
    );
    let s = root.run(&[]);
    assert_eq!(s.command.as_deref(), Some("dir-b"));
    assert_eq!(
        s.config_dirs,
        vec![root.path("etc/os-collect-config.conf.d")]
    );
}

#[test]
fn explicit_config_file_replaces_discovery() {
    let root = Root::new();
    root.write(
        "etc/os-collect-config.conf",
        "[DEFAULT]\ncommand = from-etc\n",
    );
    let f = root.write("mine.conf", "[DEFAULT]\nsplay = 4\n");
    let s = root.run(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(s.command, None);
    assert_eq!(s.splay, 4.0);
}

#[test]
fn later_files_override_and_multi_values_concatenate() {
    let root = Root::new();
    let a = root.write(
        "a.conf",
        "[DEFAULT]\nsplay = 1\ncollectors = heat\n[cfn]\npath = a.b\n",
    );
    let b = root.write(
        "b.conf",
        "[DEFAULT]\nsplay = 2\ncollectors = local\n[CFN]\npath = c.d\n",
    );
    let s = root.run(&[
        "--config-file",
        a.to_str().unwrap(),
        "--config-file",
        b.to_str().unwrap(),
        "--cfn-path",
        "x.y",
    ]);
    assert_eq!(s.splay, 2.0);
    assert_eq!(s.collectors, ["heat", "local"]);
    assert_eq!(s.cfn.path, ["a.b", "c.d", "x.y"]);
    // positional collectors replace the files' list
    let s = root.run(&["--config-file", a.to_str().unwrap(), "local"]);
    assert_eq!(s.collectors, ["local"]);
    // CLI multi values alone do not keep the default
    let s = root.run(&["--config-file", "/dev/null", "--cfn-deployment-key", "x"]);
    assert_eq!(s.cfn.deployment_key, ["x"]);
}

#[test]
fn real_rendered_conf_from_heat() {
    let root = Root::new();
    let captured = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-heat-captures/heat-heat/rendered-os-collect-config.conf");
    let fallback = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/real-heat-captures/heat-heat/rendered-os-collect-config.conf"
    ));
    let path = if captured.exists() {
        captured
    } else {
        fallback.to_path_buf()
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            // keep the exact capture in the test so it runs anywhere
            "[DEFAULT]\ncommand = os-refresh-config\ncollectors = heat\ncollectors = local\n\n\n[heat]\nauth_url = http://127.0.0.1:5000/v3/\nuser_id = 2c5a5046d94640bcb9dbe6bed0239abf\npassword = 5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq\nproject_id = 14ad48c00cce4926a2c6a588f455972d\nstack_id = heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e\nresource_name = server\nregion_name = RegionOne\n\n\n\n".to_string()
        }
    };
    let f = root.write("rendered.conf", &text);
    let s = root.run(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(s.command.as_deref(), Some("os-refresh-config"));
    assert_eq!(s.collectors, ["heat", "local"]);
    assert_eq!(
        s.heat.auth_url.as_deref(),
        Some("http://127.0.0.1:5000/v3/")
    );
    assert_eq!(
        s.heat.user_id.as_deref(),
        Some("2c5a5046d94640bcb9dbe6bed0239abf")
    );
    assert_eq!(
        s.heat.password.as_deref(),
        Some("5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq")
    );
    assert_eq!(
        s.heat.stack_id.as_deref(),
        Some("heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e")
    );
    assert_eq!(s.heat.resource_name.as_deref(), Some("server"));
    assert_eq!(s.heat.region_name.as_deref(), Some("RegionOne"));
    assert_eq!(s.cfn, Settings::default().cfn, "cfn not configured");
    // the password is registered as a secret once loaded
    assert_eq!(
        heat_agent::logging::mask("pw=5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq"),
        "pw=***"
    );
}

#[test]
fn heat_sections_of_nulls_mean_not_configured() {
    let root = Root::new();
    // what a template writes when Heat nulled the old transport's keys
    let f = root.write(
        "nulls.conf",
        "[DEFAULT]\ncommand = os-refresh-config\ncollectors = ec2\ncollectors = request\ncollectors = local\n\n[cfn]\nmetadata_url = \nstack_name = \nsecret_access_key = \naccess_key_id = \npath = \n\n[request]\nmetadata_url = http://127.0.0.1:8080/v1/AUTH_x/c/o?temp_url_sig=abc\n",
    );
    let s = root.run(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(s.cfn.metadata_url, None);
    assert_eq!(s.cfn.stack_name, None);
    assert_eq!(s.cfn.secret_access_key, None);
    assert_eq!(s.cfn.access_key_id, None);
    assert!(s.cfn.path.is_empty());
    assert_eq!(
        s.request.metadata_url.as_deref(),
        Some("http://127.0.0.1:8080/v1/AUTH_x/c/o?temp_url_sig=abc")
    );
}

#[test]
fn value_errors_have_the_reference_text() {
    let root = Root::new();
    let f = root.write("bad-float.conf", "[DEFAULT]\nsplay = abc\n");
    let e = root.err(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        format!(
            "argument --splay: Invalid Float value: abc (from {})",
            f.display()
        )
    );
    let e = root.err(&["--config-file", "/dev/null", "--splay", "abc"]);
    assert_eq!(e.message, "argument --splay: Invalid Float value: abc");
    let e = root.err(&["--config-file", "/dev/null", "--cfn-metadata-url", "foo"]);
    assert_eq!(e.message, "argument --metadata_url: Invalid URI value: foo");
    let f = root.write("bad-bool.conf", "[DEFAULT]\none_time = maybe\n");
    let e = root.err(&["--config-file", f.to_str().unwrap()]);
    assert!(e
        .message
        .starts_with("argument --one_time: Invalid Boolean value: maybe"));
    let f = root.write("bad-int.conf", "[keystone]\ncache_ttl = 1.5\n");
    let e = root.err(&["--config-file", f.to_str().unwrap()]);
    assert!(e
        .message
        .starts_with("argument --cache_ttl: Invalid Integer value: 1.5"));
}

#[test]
fn ini_parse_error_names_the_file() {
    let root = Root::new();
    let f = root.write("broken.conf", "[DEFAULT]\nnovalue\n");
    let e = root.err(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        format!(
            "Failed to parse {}: at line 2, No ':' or '=' found in assignment: 'novalue'",
            f.display()
        )
    );
}

#[test]
fn interpolation_from_files_and_command_line() {
    let root = Root::new();
    let f = root.write(
        "i.conf",
        "[DEFAULT]\ncachedir = /srv/occ\ncommand = echo $$HOME \\$X ${cachedir}/x\n[heat]\npassword = p$$w\n",
    );
    let s = root.run(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(s.command.as_deref(), Some("echo $HOME $X /srv/occ/x"));
    assert_eq!(s.heat.password.as_deref(), Some("p$w"));
    let e = root.err(&[
        "--config-file",
        "/dev/null",
        "--command",
        "echo $OS_CONFIG_FILES",
    ]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        "option [DEFAULT] command: no such option OS_CONFIG_FILES in group [DEFAULT] (write $$ for a literal $)"
    );
    assert!(!e.message.contains('\n'));
}

#[test]
fn unknown_keys_and_sections_are_warned_not_fatal() {
    install_logger();
    let root = Root::new();
    let f = root.write(
        "warn-me.conf",
        "[DEFAULT]\nbogus_key = 1\n[cfn]\nmetadata-url = http://127.0.0.1/\n[default]\ncommand = x\n[nosuch]\na = b\n",
    );
    let s = root.run(&["--config-file", f.to_str().unwrap()]);
    assert_eq!(s.cfn.metadata_url, None, "dashed key ignored");
    assert_eq!(s.command, None, "[default] is not [DEFAULT]");
    let w = warnings_about("warn-me.conf");
    assert!(w.iter().any(|l| l.contains("[DEFAULT] bogus_key")), "{w:?}");
    assert!(
        w.iter()
            .any(|l| l.contains("metadata-url") && l.contains("write metadata_url")),
        "{w:?}"
    );
    assert!(w.iter().any(|l| l.contains("[default]")), "{w:?}");
    assert!(w.iter().any(|l| l.contains("[nosuch]")), "{w:?}");
}

// ---- environment and TOML, precedence ----

#[test]
fn precedence_cli_env_ini_toml_default() {
    let mut root = Root::new();
    let native = root.path("native");
    root.set("HEAT_AGENT_CONFIG_DIR", native.to_str().unwrap());
    let ini = root.write("p.conf", "[DEFAULT]\n");
    let ini_arg = ini.to_str().unwrap().to_string();
    // default
    assert_eq!(root.run(&["--config-file", &ini_arg]).splay, 0.0);
    // TOML beats default
    root.write("native/config.toml", "splay = 1\n");
    assert_eq!(root.run(&["--config-file", &ini_arg]).splay, 1.0);
    // INI beats TOML
    root.write("p.conf", "[DEFAULT]\nsplay = 2\n");
    assert_eq!(root.run(&["--config-file", &ini_arg]).splay, 2.0);
    // env beats INI
    root.set("OS_DEFAULT__SPLAY", "3");
    assert_eq!(root.run(&["--config-file", &ini_arg]).splay, 3.0);
    // CLI beats env
    assert_eq!(
        root.run(&["--config-file", &ini_arg, "--splay", "4"]).splay,
        4.0
    );
}

#[test]
fn env_multi_values_split_on_whitespace_and_group_names() {
    let mut root = Root::new();
    root.set("OS_DEFAULT__COLLECTORS", "heat  local");
    root.set("OS_CFN__METADATA_URL", "http://127.0.0.1:8000/v1/");
    root.set("OS_ZAQAR__USE_WEBSOCKETS", "yes");
    let s = root.run(&["--config-file", "/dev/null"]);
    assert_eq!(s.collectors, ["heat", "local"]);
    assert_eq!(
        s.cfn.metadata_url.as_deref(),
        Some("http://127.0.0.1:8000/v1/")
    );
    assert!(s.zaqar.use_websockets);
}

#[test]
fn toml_dropins_in_name_order_later_wins() {
    let mut root = Root::new();
    let native = root.path("native");
    root.set("HEAT_AGENT_CONFIG_DIR", native.to_str().unwrap());
    root.write(
        "native/config.toml",
        "collectors = [\"heat\", \"local\"]\nlog_level = \"info\"\n[heat]\nuser_id = \"u0\"\n[http]\ntimeout = 5\n[deploy]\nhook_timeout = 60.5\nrerun_interrupted = true\nstate_dir = \"/srv/state\"\n",
    );
    root.write("native/config.d/20-b.toml", "[heat]\nuser_id = \"u20\"\n");
    root.write(
        "native/config.d/10-a.toml",
        "[heat]\nuser_id = \"u10\"\npassword = \"pw$with$dollars\"\n",
    );
    root.write(
        "native/config.d/30-c.txt",
        "[heat]\nuser_id = \"ignored\"\n",
    );
    let s = root.run(&["--config-file", "/dev/null"]);
    assert_eq!(s.collectors, ["heat", "local"]);
    assert_eq!(s.heat.user_id.as_deref(), Some("u20"));
    assert_eq!(
        s.heat.password.as_deref(),
        Some("pw$with$dollars"),
        "no interpolation in TOML"
    );
    assert_eq!(s.http.timeout, 5.0);
    assert_eq!(s.deploy.hook_timeout, 60.5);
    assert!(s.deploy.rerun_interrupted);
    assert_eq!(s.deploy.state_dir, PathBuf::from("/srv/state"));
    assert_eq!(s.log_level.as_deref(), Some("info"));
    assert_eq!(s.native_config_dir, Some(native.clone()));
}

#[test]
fn toml_type_error_names_file_and_key() {
    let mut root = Root::new();
    let native = root.path("native");
    root.set("HEAT_AGENT_CONFIG_DIR", native.to_str().unwrap());
    let f = root.write(
        "native/config.d/50-bad.toml",
        "[zaqar]\nuse_websockets = \"yes\"\n",
    );
    let e = root.err(&["--config-file", "/dev/null"]);
    assert_eq!(e.exit_code, 1);
    assert_eq!(
        e.message,
        format!(
            "{}: key zaqar.use_websockets: expected true or false, found string",
            f.display()
        )
    );
}

#[test]
fn toml_unknown_keys_are_warned() {
    install_logger();
    let mut root = Root::new();
    let native = root.path("native-warn");
    root.set("HEAT_AGENT_CONFIG_DIR", native.to_str().unwrap());
    root.write(
        "native-warn/config.toml",
        "bogus = 1\n[cfn]\nnope = 2\n[weird]\nx = 1\n",
    );
    root.run(&["--config-file", "/dev/null"]);
    let w = warnings_about("native-warn");
    assert!(w.iter().any(|l| l.contains("unknown key bogus")), "{w:?}");
    assert!(
        w.iter().any(|l| l.contains("unknown key cfn.nope")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|l| l.contains("unknown table [weird]")),
        "{w:?}"
    );
}

#[test]
fn load_native_reads_toml_and_env_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config.d")).unwrap();
    std::fs::write(
        dir.path().join("config.toml"),
        "[deploy]\nhook_timeout = 10\n[zaqar]\npassword = \"zaqar-secret-1\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config.d/1.toml"),
        "[http]\nconnect_timeout = 2.5\n",
    )
    .unwrap();
    let d = dir.path().display().to_string();
    let env = move |k: &str| match k {
        "HEAT_AGENT_CONFIG_DIR" => Some(d.clone()),
        "OS_DEPLOY__STATE_DIR" => Some("/srv/s".to_string()),
        _ => None,
    };
    let s = load_native(&env).unwrap();
    assert_eq!(s.deploy.hook_timeout, 10.0);
    assert_eq!(s.http.connect_timeout, 2.5);
    assert_eq!(s.deploy.state_dir, PathBuf::from("/srv/s"));
    assert!(s.config_files.is_empty());
    assert_eq!(heat_agent::logging::mask("x zaqar-secret-1"), "x ***");
}

#[test]
fn configuration_reference_documents_every_flag() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap();
    let cmd = heat_agent::config::command();
    let mut missing = Vec::new();
    for arg in cmd.get_arguments() {
        let mut names: Vec<String> = arg
            .get_long_and_visible_aliases()
            .unwrap_or_default()
            .into_iter()
            .map(|l| format!("`--{l}"))
            .collect();
        if let Some(c) = arg.get_short() {
            names.push(format!("`-{c}"));
        }
        for n in names {
            if !doc.contains(&n) {
                missing.push(n);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}

#[test]
fn help_text_renders_under_the_program_name() {
    let root = Root::new();
    let mut argv: Vec<OsString> = vec!["/usr/bin/os-collect-config".into(), "--help".into()];
    argv.truncate(2);
    let vars = root.vars.clone();
    match parse_collect_args(&argv, &move |k| vars.get(k).cloned(), NAMES) {
        Ok(Invocation::Help(h)) => assert!(h.contains("os-collect-config"), "{h}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_dir_can_be_interpolated() {
    let root = Root::new();
    root.write("d/x.conf", "[cfn]\nca_certificate = $config_dir/ca.pem\n");
    let d = root.path("d");
    let s = root.run(&[
        "--config-file",
        "/dev/null",
        "--config-dir",
        d.to_str().unwrap(),
    ]);
    assert_eq!(s.cfn.ca_certificate, Some(d.join("ca.pem")));
}

#[test]
fn list_options_across_sources() {
    let mut root = Root::new();
    let native = root.path("native");
    root.set("HEAT_AGENT_CONFIG_DIR", native.to_str().unwrap());
    root.write(
        "native/config.toml",
        "deployment_key = [\"t1\", \"t2\"]\n[cfn]\npath = \"toml.Metadata\"\n",
    );
    let ini = root.write("l.conf", "[cfn]\npath = ini.Metadata\n");
    let s = root.run(&[
        "--config-file",
        ini.to_str().unwrap(),
        "--deployment-key",
        "cli",
    ]);
    // the TOML list is the base the command line appends to
    assert_eq!(s.deployment_key, ["t1", "t2", "cli"]);
    // the INI list replaces the TOML one
    assert_eq!(s.cfn.path, ["ini.Metadata"]);
    // the environment replaces the INI list
    root.set("OS_CFN__PATH", "env.Metadata other.Metadata");
    let s = root.run(&["--config-file", ini.to_str().unwrap()]);
    assert_eq!(s.cfn.path, ["env.Metadata", "other.Metadata"]);
}
