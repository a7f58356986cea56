//! Differential test: the same INI files, flags and environment given to the real
//! oslo.config (through os-collect-config 14.1.0's `setup_conf()` in the reference venv) and
//! to our parser must give the same values.

mod common;
use heat_agent::config::{parse_collect_args, Invocation, Settings};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const DUMP: &str = r#"
import json, sys
from oslo_config import cfg
from os_collect_config import collect
collect.setup_conf()
try:
    cfg.CONF(sys.argv[1:], prog='os-collect-config', version='14.1.0')
    c = cfg.CONF
    def grp(g, names):
        return {n: getattr(getattr(c, g), n) for n in names}
    out = {
        'command': c.command, 'cachedir': c.cachedir, 'backup_cachedir': c.backup_cachedir,
        'collectors': c.collectors, 'one_time': c.one_time, 'print_only': c.print_only,
        'polling_interval': c.polling_interval, 'min_polling_interval': c.min_polling_interval,
        'splay': c.splay, 'deployment_key': c.deployment_key,
        'cfn': grp('cfn', ['metadata_url', 'stack_name', 'path', 'secret_access_key',
                           'access_key_id', 'deployment_key', 'timeout', 'ca_certificate']),
        'heat': grp('heat', ['user_id', 'password', 'project_id', 'auth_url', 'stack_id',
                             'resource_name', 'region_name']),
        'request': grp('request', ['metadata_url', 'timeout']),
        'zaqar': grp('zaqar', ['user_id', 'password', 'project_id', 'auth_url', 'queue_id',
                               'region_name', 'use_websockets', 'ssl_certificate_validation']),
        'heat_local': grp('heat_local', ['path']),
        'keystone': grp('keystone', ['cache_dir', 'cache_ttl']),
    }
    print(json.dumps({'ok': out}))
except SystemExit as e:
    if isinstance(e.code, str):
        print(json.dumps({'exit': 1, 'message': e.code}))
    else:
        print(json.dumps({'exit': e.code}))
except Exception as e:
    print(json.dumps({'exit': 1, 'error': type(e).__name__}))
"#;

fn venv() -> Option<PathBuf> {
    let python = common::reference_venv(&["bin/python"])?.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import os_collect_config.collect"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok || !common::reference_required(),
        "{} cannot import os_collect_config (HEAT_AGENT_REQUIRE_REFERENCE=1)",
        python.display()
    );
    ok.then_some(python)
}

struct Case<'a> {
    name: &'a str,
    files: &'a [&'a str],
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    /// Files of a `--config-dir` (name, text), passed after the config files.
    dir: &'a [(&'a str, &'a str)],
}

/// What the reference answered: values, or an exit code.
fn reference(python: &Path, home: &Path, args: &[String], env: &[(&str, &str)]) -> (Value, String) {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(DUMP).args(args).env("HOME", home);
    for (k, _) in std::env::vars() {
        if k.starts_with("OS_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run reference python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "reference printed nothing; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let stderr_last = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    (
        serde_json::from_str(line).expect("reference JSON"),
        stderr_last,
    )
}

fn ours(home: &Path, etc: &Path, args: &[String], env: &[(&str, &str)]) -> (Value, String) {
    let mut argv: Vec<OsString> = vec!["os-collect-config".into()];
    argv.extend(args.iter().map(OsString::from));
    let home = home.display().to_string();
    let etc = etc.display().to_string();
    let native = format!("{etc}/heat-agent");
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| -> Option<String> {
        match k {
            "HOME" => Some(home.clone()),
            "HEAT_AGENT_SYSCONFDIR" => Some(etc.clone()),
            "HEAT_AGENT_CONFIG_DIR" => Some(native.clone()),
            _ => vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        }
    };
    match parse_collect_args(&argv, &lookup, heat_agent::collectors::NAMES) {
        Ok(Invocation::Run(s)) => (json!({ "ok": settings_json(&s) }), String::new()),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => (
            json!({ "exit": e.exit_code }),
            e.message.lines().last().unwrap_or("").to_string(),
        ),
    }
}

fn paths(p: &[PathBuf]) -> Value {
    json!(p
        .iter()
        .map(|x| x.display().to_string())
        .collect::<Vec<_>>())
}

fn settings_json(s: &Settings) -> Value {
    json!({
        "command": s.command, "cachedir": s.cachedir.display().to_string(),
        "backup_cachedir": s.backup_cachedir.display().to_string(),
        "collectors": s.collectors, "one_time": s.one_time, "print_only": s.print_only,
        "polling_interval": s.polling_interval, "min_polling_interval": s.min_polling_interval,
        "splay": s.splay, "deployment_key": s.deployment_key,
        "cfn": {
            "metadata_url": s.cfn.metadata_url, "stack_name": s.cfn.stack_name,
            "path": if s.cfn.path.is_empty() { Value::Null } else { json!(s.cfn.path) },
            "secret_access_key": s.cfn.secret_access_key, "access_key_id": s.cfn.access_key_id,
            "deployment_key": s.cfn.deployment_key, "timeout": s.cfn.timeout,
            "ca_certificate": s.cfn.ca_certificate.as_ref().map(|p| p.display().to_string()),
        },
        "heat": {
            "user_id": s.heat.user_id, "password": s.heat.password,
            "project_id": s.heat.project_id, "auth_url": s.heat.auth_url,
            "stack_id": s.heat.stack_id, "resource_name": s.heat.resource_name,
            "region_name": s.heat.region_name,
        },
        "request": { "metadata_url": s.request.metadata_url, "timeout": s.request.timeout },
        "zaqar": {
            "user_id": s.zaqar.user_id, "password": s.zaqar.password,
            "project_id": s.zaqar.project_id, "auth_url": s.zaqar.auth_url,
            "queue_id": s.zaqar.queue_id, "region_name": s.zaqar.region_name,
            "use_websockets": s.zaqar.use_websockets,
            "ssl_certificate_validation": s.zaqar.ssl_certificate_validation,
        },
        "heat_local": { "path": paths(&s.heat_local.path) },
        "keystone": {
            "cache_dir": s.keystone.cache_dir.as_ref().map(|p| p.display().to_string()),
            "cache_ttl": s.keystone.cache_ttl,
        },
    })
}

/// Numbers compare as f64 (Python prints 3.0 where we may hold 3).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

fn rendered_capture() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-heat-captures/heat-heat/rendered-os-collect-config.conf");
    std::fs::read_to_string(&p).unwrap_or_else(|_| {
        std::fs::read_to_string(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/real-heat-captures/heat-heat/rendered-os-collect-config.conf"),
        )
        .unwrap_or_else(|_| {
            "[DEFAULT]\ncommand = os-refresh-config\ncollectors = heat\ncollectors = local\n\n\n[heat]\nauth_url = http://127.0.0.1:5000/v3/\nuser_id = 2c5a5046d94640bcb9dbe6bed0239abf\npassword = 5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq\nproject_id = 14ad48c00cce4926a2c6a588f455972d\nstack_id = heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e\nresource_name = server\nregion_name = RegionOne\n".into()
        })
    })
}

#[test]
fn differential_against_oslo_config() {
    let Some(python) = venv() else { return };
    let rendered = rendered_capture();
    let cases = [
        Case {
            name: "defaults",
            files: &[],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "grammar",
            files: &["# comment\n; other\n[DEFAULT]\ncommand: os-refresh-config # not a comment\ncachedir = \"/srv/occ\"\nbackup_cachedir='/srv/bak'\npolling_interval = 1_0\nmin_polling_interval =  2.5 \ncollectors = heat\ncollectors = local\n\n[CFN]\nmetadata_url = http://127.0.0.1:8000/v1/\nstack_name = multi\n  line\n\tvalue\naccess_key_id=AK\nsecret_access_key = SK\npath = server.Metadata\npath = other.Metadata\n\n[Zaqar]\nuse_websockets = On\nssl_certificate_validation = no\nqueue_id = q1\n[keystone]\ncache_ttl = 60\ncache_dir = /k\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "interpolation",
            files: &["[DEFAULT]\ncachedir = /srv/c\ncommand = echo $$HOME \\$X ${cachedir}/x $cfn.stack_name [$heat.user_id] $ $9\n[cfn]\nstack_name = s-$timeout-${cachedir}\n[heat]\npassword = p$$w\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "multi-files-then-cli",
            files: &[
                "[DEFAULT]\nsplay = 1\ndeployment_key = a\n[cfn]\npath = a.b\ndeployment_key = c1\n",
                "[DEFAULT]\nsplay = 2\ndeployment_key = b\n[cfn]\npath = c.d\n",
            ],
            args: &["--cfn-path", "x.y", "--deployment-key", "z", "--cfn-deployment-key", "c2", "heat", "local"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "flags-prefixes-no-forms",
            files: &["[DEFAULT]\none_time = true\n"],
            args: &["--polling", "3", "--noone-time", "-dc", "run me", "--min=2", "--zaqar-use-websockets", "--zaqar-nouse-websockets", "--print", "--heat_local-path", "/hl", "--keystone-cache_ttl", "5", "--request-metadata-url", "http://127.0.0.1/x?sig=1", "--cfn-ca_certificate", "/ca"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "short-attached",
            files: &[],
            args: &["-i5", "-c", "-x y", "--command=a b"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "env-over-file",
            files: &["[DEFAULT]\nsplay = 3\n[cfn]\nstack_name = file\n"],
            args: &[],
            env: &[("OS_DEFAULT__SPLAY", "7"), ("OS_CFN__STACK_NAME", "from-env")],
            dir: &[],
        },
        Case {
            name: "config-dir-after-files",
            files: &["[DEFAULT]\nsplay = 1\ncommand = from-file\ncollectors = heat\n[cfn]\npath = f.Metadata\n"],
            args: &["--cfn-path", "cli.Metadata"],
            env: &[],
            dir: &[
                ("20-b.conf", "[DEFAULT]\nsplay = 3\ncollectors = local\n"),
                ("10-a.conf", "[DEFAULT]\nsplay = 2\ncommand = from-dir\n[cfn]\npath = d.Metadata\n"),
                ("30-c.txt", "[DEFAULT]\nsplay = 9\n"),
            ],
        },
        Case {
            name: "ignored-keys-and-sections",
            files: &["[default]\ncommand = lower\n[cfn]\nmetadata-url = http://127.0.0.1/\n[nosuch]\na = b\n[DEFAULT]\nbogus = 1\ndebug = true\nuse_stderr = false\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "rendered-capture",
            files: &[rendered.as_str()],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-bad-float",
            files: &["[DEFAULT]\nsplay = abc\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-bad-uri",
            files: &[],
            args: &["--cfn-metadata-url", "foo"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-bad-bool",
            files: &["[zaqar]\nuse_websockets = maybe\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-unknown-reference",
            files: &["[heat]\npassword = abc$def\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-unrecognized",
            files: &[],
            args: &["--bogus"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-second-positional-run",
            files: &[],
            args: &["heat", "--one-time", "local"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-ambiguous",
            files: &[],
            args: &["--no"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-explicit-flag-value",
            files: &[],
            args: &["--one-time=1"],
            env: &[],
            dir: &[],
        },
        Case {
            name: "error-parse",
            files: &["[DEFAULT]\nnovalue\n"],
            args: &[],
            env: &[],
            dir: &[],
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        let mut args: Vec<String> = Vec::new();
        if case.files.is_empty() {
            args.extend(["--config-file".to_string(), "/dev/null".to_string()]);
        }
        for (i, text) in case.files.iter().enumerate() {
            let p = dir.path().join(format!("{i}.conf"));
            std::fs::write(&p, text).unwrap();
            args.extend(["--config-file".to_string(), p.display().to_string()]);
        }
        if !case.dir.is_empty() {
            let d = dir.path().join("conf.d");
            std::fs::create_dir_all(&d).unwrap();
            for (name, text) in case.dir {
                std::fs::write(d.join(name), text).unwrap();
            }
            args.extend(["--config-dir".to_string(), d.display().to_string()]);
        }
        args.extend(case.args.iter().map(|s| s.to_string()));
        let (mut theirs, their_stderr) = reference(&python, &home, &args, case.env);
        // the reference's exception name is for diagnostics only; exit codes are compared
        let error_name = theirs
            .as_object_mut()
            .and_then(|o| o.remove("error"))
            .unwrap_or(Value::Null);
        // a message oslo exits with (bad values) must start our message (we may add the file)
        // (oslo prints it on stderr, then exits 1)
        let their_message = theirs
            .as_object_mut()
            .and_then(|o| o.remove("message"))
            .and_then(|m| m.as_str().map(str::to_string))
            .or_else(|| {
                (theirs.get("exit") == Some(&json!(1)) && their_stderr.starts_with("argument "))
                    .then(|| their_stderr.clone())
            });
        let (mine, our_message) = ours(&home, &etc, &args, case.env);
        if !same(&theirs, &mine) {
            failures.push(format!(
                "case {}:\n  reference: {theirs} ({error_name})\n  ours:      {mine}",
                case.name
            ));
        }
        if let Some(m) = their_message {
            if !our_message.starts_with(&m) {
                failures.push(format!(
                    "case {}: reference message {m:?}, ours {our_message:?}",
                    case.name
                ));
            }
        }
        // argparse errors (exit 2): the same `os-collect-config: error: ...` line
        if theirs.get("exit") == Some(&json!(2)) && their_stderr != our_message {
            failures.push(format!(
                "case {}: reference stderr {their_stderr:?}, ours {our_message:?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
