//! `heat-agent hook salt` with a real `salt-call` (salt from PyPI in tests/.venv-salt, made by
//! tests/setup.sh; HEAT_AGENT_TEST_SALT_VENV overrides), the ported cases of heat-agents'
//! tests/test_hook_salt.py, and a differential run against the reference hook-salt.py (run by
//! the salt venv's python, which has salt's API). Required in CI
//! (HEAT_AGENT_REQUIRE_REFERENCE=1); skipped with a note otherwise.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

const SLS_OK: &str = "\ntestit:\n  environ.setenv:\n  - name: does_not_matter\n  - value:\n      foo: {{ opts['fooval'] }}\n      bar: {{ opts['barval'] }}\n";
const SLS_FAIL: &str = "\nfailure:\n  test.echo:\n  - text: I don't work\n";
const SLS_NOT_ALLOWED: &str =
    "\ndefault to accept:\n  iptables.set_policy:\n    - chain: INPUT\n    - policy: REJECT\n";

fn salt_venv() -> Option<PathBuf> {
    let dir = std::env::var_os("HEAT_AGENT_TEST_SALT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.venv-salt"));
    support::tool(dir.join("bin/salt-call").to_str().unwrap())?;
    Some(dir)
}

/// The reference test's set-up: a working dir and a minion config with its own cachedir.
struct Salt {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    venv: PathBuf,
}

impl Salt {
    fn new() -> Option<Salt> {
        let venv = salt_venv()?;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("conf")).unwrap();
        std::fs::write(
            root.join("conf/minion"),
            format!(
                "cachedir: {}\nlog_level: DEBUG\n",
                root.join("cache").display()
            ),
        )
        .unwrap();
        Some(Salt {
            _tmp: tmp,
            root,
            venv,
        })
    }

    fn working(&self) -> PathBuf {
        self.root.join("working")
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let path = format!(
            "{}:{}",
            self.venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("HEAT_SALT_WORKING", self.working())
            .env("SALT_MINION_CONFIG", self.root.join("conf/minion"))
            .env("HOME", &self.root);
        c
    }

    /// Run `heat-agent hook salt`; (exit status, the JSON it printed).
    fn agent(&self, data: &Value) -> Value {
        let mut c = self.command(&common::bin());
        c.arg("hook").arg("salt");
        run_json(c, data)
    }

    /// Run the reference hook-salt.py; its stdout (it crashes on some inputs).
    fn reference(&self, data: &Value) -> (bool, String) {
        let venv = support::venv().expect("reference venv");
        let hook = venv.join("heat-agents/heat-config-salt/install.d/hook-salt.py");
        let mut c = self.command(&self.venv.join("bin/python"));
        c.arg(hook);
        let out = run(c, data);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

fn run(mut c: Command, data: &Value) -> std::process::Output {
    common::output_with_stdin(&mut c, data.to_string().as_bytes())
}

fn run_json(c: Command, data: &Value) -> Value {
    let out = run(c, data);
    assert!(
        out.status.success(),
        "hook exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hook printed no JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The reference test's deployment.
fn data(config: &str) -> Value {
    json!({
        "id": "fake_stack", "name": "fake_resource_name", "group": "salt",
        "inputs": [{"name": "fooval", "value": "bar"}, {"name": "barval", "value": "foo"}],
        "outputs": [{"name": "first_output"}, {"name": "second_output"}],
        "config": config
    })
}

fn yaml(text: &Value) -> Yaml {
    let text = text.as_str().expect("a YAML text");
    YamlLoader::load_from_str(text)
        .unwrap_or_else(|e| panic!("{e}: {text}"))
        .remove(0)
}

/// The one state's result in a salt `return` dumped as YAML.
fn only_state(text: &Value) -> Yaml {
    let doc = yaml(text);
    let map = doc.as_hash().expect("a mapping of states");
    assert_eq!(map.len(), 1, "{text}");
    map.values().next().unwrap().clone()
}

// ----- the reference's own cases (tests/test_hook_salt.py; skipped there, run here) -----

#[test]
fn ported_test_hook() {
    let Some(s) = Salt::new() else { return };
    let ret = s.agent(&data(SLS_OK));
    assert_eq!(ret["deploy_status_code"], 0, "{ret}");
    assert_eq!(ret["deploy_stderr"], Value::Null);
    assert!(ret["deploy_stdout"].is_string());
    let state = only_state(&ret["deploy_stdout"]);
    assert_eq!(state["result"], Yaml::Boolean(true));
    let changes = state["changes"].as_hash().unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(state["changes"]["bar"].as_str(), Some("foo"));
    assert_eq!(state["changes"]["foo"].as_str(), Some("bar"));
}

#[test]
fn ported_test_hook_salt_failed() {
    let Some(s) = Salt::new() else { return };
    let ret = s.agent(&data(SLS_FAIL));
    assert_eq!(ret["deploy_stdout"], Value::Null, "{ret}");
    assert_eq!(ret["deploy_status_code"], 2);
    let stderr = ret["deploy_stderr"].as_str().expect("stderr text");
    assert!(stderr.contains("was not found in SLS"), "{stderr}");
}

#[test]
fn ported_test_hook_salt_retcode() {
    let Some(s) = Salt::new() else { return };
    let ret = s.agent(&data(SLS_NOT_ALLOWED));
    assert_eq!(ret["deploy_stdout"], Value::Null, "{ret}");
    assert!(ret["deploy_stderr"].is_string());
    assert_eq!(
        only_state(&ret["deploy_stderr"])["result"],
        Yaml::Boolean(false)
    );
}

// ----- real salt: effects, outputs, failures -----

#[test]
fn state_writes_a_file_from_an_input() {
    let Some(s) = Salt::new() else { return };
    let target = s.root.join("made-by-salt.txt");
    let sls = format!(
        "write it:\n  file.managed:\n    - name: {}\n    - contents: \"greeting={{{{ opts['greeting'] }}}} via config.get={{{{ salt['config.get']('greeting') }}}}\"\n",
        target.display()
    );
    let mut d = data(&sls);
    d["inputs"] = json!([{"name": "greeting", "value": "hello"}]);
    d["outputs"] = json!([{"name": "retcode"}, {"name": "fun"}, {"name": "absent"}]);
    let ret = s.agent(&d);
    assert_eq!(ret["deploy_status_code"], 0, "{ret}");
    assert_eq!(ret["deploy_stderr"], Value::Null);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "greeting=hello via config.get=hello\n"
    );
    // outputs are keys of salt's result dict, as in the reference
    assert_eq!(ret["retcode"], 0);
    assert_eq!(ret["fun"], "state.sls");
    assert_eq!(ret["absent"], Value::Null);
    assert_eq!(
        only_state(&ret["deploy_stdout"])["result"],
        Yaml::Boolean(true)
    );
    // the state file is where the reference puts it, 0700; the inputs file is private
    assert_eq!(support::mode(&s.working().join("fake_stack.sls")), 0o700);
    assert_eq!(
        support::mode(&s.working().join(".fake_stack.minion/heat-inputs.conf")),
        0o600
    );
    // a later, shorter state in the same place applies cleanly (the reference leaves the old
    // file's tail behind: it opens without O_TRUNC)
    let short = format!(
        "w:\n  file.managed:\n    - name: {}\n    - contents: x\n",
        target.display()
    );
    let ret = s.agent(&data(&short));
    assert_eq!(ret["deploy_status_code"], 0, "{ret}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "x\n");
}

#[test]
fn failing_command_state_reports_salt_status_and_stderr() {
    let Some(s) = Salt::new() else { return };
    let ret = s.agent(&data(
        "boom:\n  cmd.run:\n    - name: 'echo out; echo err >&2; exit 3'\n",
    ));
    assert_eq!(ret["deploy_status_code"], 2, "{ret}");
    assert_eq!(ret["deploy_stdout"], Value::Null);
    let state = only_state(&ret["deploy_stderr"]);
    assert_eq!(state["result"], Yaml::Boolean(false));
    assert_eq!(state["changes"]["retcode"], Yaml::Integer(3));
    assert_eq!(state["changes"]["stderr"].as_str(), Some("err"));
}

#[test]
fn render_error_is_a_failure_not_a_crash() {
    let Some(s) = Salt::new() else { return };
    let ret = s.agent(&data("bad: [unclosed\n"));
    assert_eq!(ret["deploy_status_code"], 1, "{ret}");
    assert_eq!(ret["deploy_stdout"], Value::Null);
    let msgs = yaml(&ret["deploy_stderr"]);
    let first = msgs[0].as_str().expect("a list of messages");
    assert!(first.contains("Rendering SLS"), "{first}");
}

#[test]
fn missing_salt_call_is_a_clear_failure() {
    let Some(s) = Salt::new() else { return };
    let mut c = s.command(&common::bin());
    c.arg("hook")
        .arg("salt")
        .env("HEAT_SALT_CMD", s.root.join("no-such-salt-call"));
    let ret = run_json(c, &data(SLS_OK));
    assert_eq!(ret["deploy_status_code"], 127, "{ret}");
    assert!(ret["deploy_stderr"]
        .as_str()
        .unwrap()
        .contains("is salt-call installed"));
}

// ----- differential: reference hook-salt.py vs heat-agent on the same inputs -----

/// Run-specific values (timings, pids, job ids) blanked.
fn normalise(text: &str) -> String {
    let re =
        regex::Regex::new(r"(start_time: '[^']*'|duration: [0-9.]+|pid: [0-9]+|\d{20})").unwrap();
    re.replace_all(text, "<run>").into_owned()
}

#[test]
fn differential_against_reference_hook_salt() {
    let Some(s) = Salt::new() else { return };
    if support::venv().is_none() {
        return;
    }
    let cases = [
        SLS_OK,
        SLS_FAIL,
        SLS_NOT_ALLOWED,
        "boom:\n  cmd.run:\n    - name: 'echo out; echo err >&2; exit 3'\n",
        "ok:\n  cmd.run:\n    - name: echo hi\nbad:\n  cmd.run:\n    - name: 'false'\n",
        "long:\n  test.succeed_with_changes:\n    - name: 'a rather long name with spaces, colons: and #hashes that goes past eighty columns for sure'\n",
    ];
    for sls in cases {
        let mut d = data(sls);
        d["outputs"] = json!([{"name": "first_output"}, {"name": "retcode"}, {"name": "fun"}, {"name": "fun_args"}]);
        let _ = std::fs::remove_dir_all(s.working());
        let (ok, reference) = s.reference(&d);
        assert!(ok, "reference failed on {sls:?}");
        let _ = std::fs::remove_dir_all(s.working());
        let ours = s.agent(&d);
        assert_eq!(
            normalise(&serde_json::to_string(&ours).unwrap()),
            normalise(
                &serde_json::to_string(&serde_json::from_str::<Value>(&reference).unwrap())
                    .unwrap()
            ),
            "state {sls:?}"
        );
    }
}

// ----- through the runner: the shipped wrapper, a secret input, the runner's timeout -----

#[test]
fn deploy_runs_group_salt_through_the_shipped_wrapper() {
    let Some(s) = Salt::new() else { return };
    let mut site = support::Site::new();
    std::fs::write(
        site.hooks.join("salt"),
        common::hook_wrapper("salt", "/usr/bin/heat-agent"),
    )
    .unwrap();
    let target = s.root.join("via-runner.txt");
    let sls = format!(
        "w:\n  file.managed:\n    - name: {}\n    - contents: \"{{{{ opts['greeting'] }}}}\"\n",
        target.display()
    );
    let secret = "s3cr3t-salt-value";
    site.write_list(&json!([{
        "id": "salt1", "name": "salt-config", "group": "salt", "config": sls, "options": {},
        "inputs": [{"name": "greeting", "type": "String", "value": "hi"},
                   {"name": "db_password", "type": "String", "value": secret}],
        "outputs": [{"name": "retcode"}]
    }]));
    site.extra_env = vec![
        // the wrapper execs /usr/bin/heat-agent, which is not there: the runner must run it
        // in-process
        (
            "PATH".into(),
            format!("{}:/usr/bin:/bin", s.venv.join("bin").display()),
        ),
        (
            "HEAT_SALT_WORKING".into(),
            s.working().to_str().unwrap().into(),
        ),
        (
            "SALT_MINION_CONFIG".into(),
            s.root.join("conf/minion").to_str().unwrap().into(),
        ),
        ("HEAT_AGENT_LOG_LEVEL".into(), "debug".into()),
    ];
    let out = site.deploy();
    assert!(out.status.success());
    let signal = &site.signal_for("salt1")[0];
    assert_eq!(signal["deploy_status_code"], 0, "{signal}");
    assert_eq!(signal["retcode"], 0);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hi\n");
    // the secret is in the private inputs file, never in the agent's log
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains(secret), "secret leaked: {log}");
    let inputs = s.working().join(".salt1.minion/heat-inputs.conf");
    assert!(std::fs::read_to_string(&inputs).unwrap().contains(secret));
    assert_eq!(support::mode(&inputs), 0o600);
}

#[test]
fn runner_timeout_kills_salt_call() {
    let Some(s) = Salt::new() else { return };
    let mut site = support::Site::new();
    site.write_list(&json!([{
        "id": "slow1", "name": "slow", "group": "salt", "options": {},
        "config": "nap:\n  cmd.run:\n    - name: sleep 60\n",
        "inputs": [{"name": "deploy_timeout", "type": "Number", "value": 3}],
        "outputs": []
    }]));
    site.extra_env = vec![
        (
            "PATH".into(),
            format!("{}:/usr/bin:/bin", s.venv.join("bin").display()),
        ),
        (
            "HEAT_SALT_WORKING".into(),
            s.working().to_str().unwrap().into(),
        ),
        (
            "SALT_MINION_CONFIG".into(),
            s.root.join("conf/minion").to_str().unwrap().into(),
        ),
    ];
    let t0 = std::time::Instant::now();
    assert!(site.deploy().status.success());
    let signal = &site.signal_for("slow1")[0];
    assert_eq!(signal["deploy_status_code"], 124, "{signal}");
    assert!(signal["deploy_stderr"]
        .as_str()
        .unwrap()
        .contains("timed out"));
    assert!(t0.elapsed() < std::time::Duration::from_secs(50));
}
