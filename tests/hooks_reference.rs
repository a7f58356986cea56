//! The built-in hooks against the reference hooks' own tests (heat-agents tests/test_hook_*.py):
//! same environment overrides, files, argv and JSON answers. Run as `heat-agent hook NAME` and
//! under the legacy-style name `hook-NAME`.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{fixture, read_json};

struct HookRun {
    tmp: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl HookRun {
    fn new() -> HookRun {
        HookRun {
            tmp: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }
    fn dir(&self, name: &str) -> PathBuf {
        let d = self.tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    fn set(&mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) {
        self.env
            .push((k.to_string(), v.as_ref().to_string_lossy().into_owned()));
    }
    fn state_path(&self) -> PathBuf {
        self.tmp.path().join("test_state.json")
    }
    /// Run hook `name` with `data` on stdin; returns (exit code, parsed stdout or Null, stderr).
    fn run(&self, name: &str, data: &Value, legacy: bool) -> (i32, Value, String) {
        let mut cmd = if legacy {
            Command::new(common::legacy(self.tmp.path(), &format!("hook-{name}")))
        } else {
            let mut c = Command::new(common::bin());
            c.arg("hook").arg(name);
            c
        };
        cmd.env("TEST_STATE_PATH", self.state_path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(data).unwrap().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let v = if stdout.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
        };
        (
            out.status.code().unwrap_or(-1),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn state(&self) -> Value {
        read_json(&self.state_path())
    }
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

// ---------------------------------------------------------------- script (test_hook_script.py)

fn script_setup() -> (HookRun, PathBuf, PathBuf, Value, String) {
    let mut h = HookRun::new();
    let working = h.dir("working");
    let outputs = h.dir("outputs");
    h.set("HEAT_SCRIPT_WORKING", &working);
    h.set("HEAT_SCRIPT_OUTPUTS", &outputs);
    let tool = std::fs::read_to_string(fixture("config-tool-fake.py")).unwrap();
    let data = json!({
        "id": "1234",
        "group": "script",
        "inputs": [
            {"name": "foo", "value": "bar"},
            {"name": "another", "value": "input"},
            {"name": "a_dict", "value": "{\"key\": \"value\"}"},
            {"name": "a_list", "value": "[\"v1\", 12]"}
        ],
        "outputs": [{"name": "first_output"}, {"name": "second_output"}],
        "config": tool
    });
    (h, working, outputs, data, tool)
}

fn assert_script_state(h: &HookRun, working: &Path, outputs: &Path, tool: &str) {
    let state = h.state();
    let script = working.join("1234");
    assert_eq!(std::fs::read_to_string(&script).unwrap(), tool);
    assert_eq!(support::mode(&script), 0o700);
    assert_eq!(state["args"], json!([s(&script)]));
    assert_eq!(state["env"]["foo"], "bar");
    assert_eq!(state["env"]["another"], "input");
    assert_eq!(state["env"]["a_dict"], "{\"key\": \"value\"}");
    assert_eq!(state["env"]["a_list"], "[\"v1\", 12]");
    assert_eq!(state["env"]["heat_outputs_path"], s(&outputs.join("1234")));
}

#[test]
fn test_hook_script_test_hook() {
    let (mut h, working, outputs, data, tool) = script_setup();
    h.set(
        "TEST_RESPONSE",
        json!({"stdout": "script success", "stderr": "thing happened", "files": {
            s(&outputs.join("1234.first_output")): "output 1",
            s(&outputs.join("1234.second_output")): "output 2"}})
        .to_string(),
    );
    for legacy in [false, true] {
        let _ = std::fs::remove_file(h.state_path());
        let (rc, out, err) = h.run("script", &data, legacy);
        assert_eq!(rc, 0, "{err}");
        assert_eq!(
            out,
            json!({"deploy_stdout": "script success", "deploy_stderr": "thing happened",
                   "deploy_status_code": 0, "first_output": "output 1", "second_output": "output 2"})
        );
        assert_script_state(&h, &working, &outputs, &tool);
    }
}

#[test]
fn test_hook_script_test_hook_failed() {
    let (mut h, working, outputs, data, tool) = script_setup();
    h.set(
        "TEST_RESPONSE",
        json!({"stdout": "script failed", "stderr": "bad thing happened", "returncode": 1})
            .to_string(),
    );
    let (rc, out, err) = h.run("script", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "script failed", "deploy_stderr": "bad thing happened", "deploy_status_code": 1})
    );
    assert_script_state(&h, &working, &outputs, &tool);
}

/// W12: typed inputs render Python-str style instead of crashing the hook.
#[test]
fn script_hook_typed_inputs_never_crash() {
    let (h, working, _outputs, mut data, _) = script_setup();
    data["inputs"] = json!([
        {"name": "num", "type": "Number", "value": 5},
        {"name": "flag", "type": "Boolean", "value": true},
        {"name": "nothing", "value": null},
        {"name": "map", "type": "Json", "value": {"a": [1, 2]}},
        {"name": "bad=name", "value": "x"}
    ]);
    let (rc, out, err) = h.run("script", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out["deploy_status_code"], 0, "{out}");
    let env = &h.state()["env"];
    assert_eq!(env["num"], "5");
    assert_eq!(env["flag"], "True");
    assert_eq!(env["nothing"], "None");
    assert_eq!(env["map"], "{\"a\": [1, 2]}");
    assert!(working.join("1234").exists());
}

#[test]
fn script_without_shebang_fails_clearly() {
    let (h, _w, _o, mut data, _) = script_setup();
    data["config"] = json!("echo no shebang");
    let (rc, out, _) = h.run("script", &data, false);
    assert_eq!(rc, 0);
    assert_eq!(out["deploy_status_code"], 126, "{out}");
    assert!(
        out["deploy_stderr"].as_str().unwrap().contains("#! line"),
        "{out}"
    );
}

// -------------------------------------------------------------- ansible (test_hook_ansible.py)

fn ansible_data(options: Value) -> Value {
    json!({
        "id": "1234",
        "name": "fake_resource_name",
        "group": "ansible",
        "options": options,
        "inputs": [{"name": "foo", "value": "bar"}, {"name": "another", "value": "input"}],
        "config": "the ansible playbook"
    })
}

fn ansible_setup() -> (HookRun, PathBuf, PathBuf) {
    let mut h = HookRun::new();
    let working = h.dir("working");
    let outputs = h.dir("outputs");
    h.set("HEAT_ANSIBLE_WORKING", &working);
    h.set("HEAT_ANSIBLE_OUTPUTS", &outputs);
    h.set("HEAT_ANSIBLE_CMD", fixture("config-tool-fake.py"));
    (h, working, outputs)
}

fn ansible_hook_run(options: Value, expected_opts: &[&str]) -> Value {
    let (mut h, working, outputs) = ansible_setup();
    h.set(
        "TEST_RESPONSE",
        json!({"stdout": "ansible success", "stderr": "thing happened"}).to_string(),
    );
    if let Some(cb) = options.get("callback_plugins") {
        h.set("ANSIBLE_CALLBACK_PLUGINS", cb.as_str().unwrap());
    }
    let (rc, out, err) = h.run("ansible", &ansible_data(options), false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "ansible success", "deploy_stderr": "thing happened", "deploy_status_code": 0})
    );
    let state = h.state();
    let playbook = working.join("1234_playbook.yaml");
    let vars = working.join("1234_variables.json");
    let mut expected = vec![
        s(&fixture("config-tool-fake.py")),
        "-i".into(),
        "localhost,".into(),
    ];
    expected.extend(expected_opts.iter().map(|o| o.to_string()));
    expected.extend([
        s(&playbook),
        "--extra-vars".into(),
        format!("@{}", s(&vars)),
    ]);
    assert_eq!(state["args"], json!(expected));
    let variables = read_json(&vars);
    assert_eq!(variables["foo"], "bar");
    assert_eq!(variables["another"], "input");
    assert_eq!(variables["heat_config_id"], "1234");
    assert_eq!(variables["heat_outputs_path"], s(&outputs.join("1234")));
    assert_eq!(
        std::fs::read_to_string(&playbook).unwrap(),
        "the ansible playbook"
    );
    assert_eq!(support::mode(&vars), 0o600);
    state
}

#[test]
fn test_hook_ansible_test_hook() {
    ansible_hook_run(json!({}), &[]);
}

#[test]
fn test_hook_ansible_test_hook_tags() {
    ansible_hook_run(json!({"tags": "abc,def"}), &["--tags", "abc,def"]);
}

#[test]
fn test_hook_ansible_test_hook_skip_tags() {
    ansible_hook_run(json!({"skip_tags": "abc,def"}), &["--skip-tags", "abc,def"]);
}

#[test]
fn test_hook_ansible_test_hook_skip_tags_empty() {
    ansible_hook_run(json!({"skip_tags": ""}), &[]);
}

#[test]
fn test_hook_ansible_test_hook_tags_skip_tags() {
    ansible_hook_run(
        json!({"tags": "abc,def", "skip_tags": "abc"}),
        &["--skip-tags", "abc", "--tags", "abc,def"],
    );
}

#[test]
fn test_hook_ansible_test_hook_modulepath() {
    ansible_hook_run(
        json!({"modulepath": "/opt/ansible:/usr/share/ansible"}),
        &["--module-path", "/opt/ansible:/usr/share/ansible"],
    );
}

#[test]
fn test_hook_ansible_test_hook_tags_modulepath() {
    ansible_hook_run(
        json!({"modulepath": "/opt/ansible:/usr/share/ansible", "tags": "abc,def"}),
        &[
            "--module-path",
            "/opt/ansible:/usr/share/ansible",
            "--tags",
            "abc,def",
        ],
    );
}

#[test]
fn test_hook_ansible_test_hook_skip_tags_modulepath() {
    ansible_hook_run(
        json!({"modulepath": "/opt/ansible:/usr/share/ansible", "skip_tags": "abc,def"}),
        &[
            "--module-path",
            "/opt/ansible:/usr/share/ansible",
            "--skip-tags",
            "abc,def",
        ],
    );
}

#[test]
fn test_hook_ansible_test_hook_with_callback_plugins() {
    let state = ansible_hook_run(json!({"callback_plugins": "/usr/lib/python/foo"}), &[]);
    assert_eq!(
        state["env"]["ANSIBLE_CALLBACK_PLUGINS"],
        "/usr/lib/python/foo"
    );
}

#[test]
fn test_hook_ansible_test_hook_inventory() {
    let (mut h, working, _outputs) = ansible_setup();
    h.set("HEAT_ANSIBLE_INVENTORY", "localhost test_var=123,");
    h.set(
        "TEST_RESPONSE",
        json!({"stdout": "ansible success", "stderr": "thing happened"}).to_string(),
    );
    let (rc, out, err) = h.run("ansible", &ansible_data(json!({})), false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out["deploy_status_code"], 0);
    assert_eq!(
        h.state()["args"],
        json!([
            s(&fixture("config-tool-fake.py")),
            "-i",
            "localhost test_var=123,",
            s(&working.join("1234_playbook.yaml")),
            "--extra-vars",
            format!("@{}", s(&working.join("1234_variables.json")))
        ])
    );
}

#[test]
fn test_hook_ansible_test_hook_ansible_failed() {
    let (mut h, working, outputs) = ansible_setup();
    h.set(
        "TEST_RESPONSE",
        json!({"stdout": "ansible failed", "stderr": "bad thing happened", "returncode": 4})
            .to_string(),
    );
    let (rc, out, err) = h.run("ansible", &ansible_data(json!({})), true);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "ansible failed", "deploy_stderr": "bad thing happened", "deploy_status_code": 4})
    );
    let variables = read_json(&working.join("1234_variables.json"));
    assert_eq!(variables["heat_outputs_path"], s(&outputs.join("1234")));
}

#[test]
fn ansible_inventory_option_and_null_options() {
    let (mut h, working, _) = ansible_setup();
    h.set("TEST_RESPONSE", json!({}).to_string());
    let mut data = ansible_data(json!({"inventory": "hosts.ini"}));
    let (_, out, _) = h.run("ansible", &data, false);
    assert_eq!(out["deploy_status_code"], 0);
    assert_eq!(h.state()["args"][2], s(&working.join("hosts.ini")));
    // W12: options null does not crash
    std::fs::remove_file(h.state_path()).unwrap();
    data["options"] = Value::Null;
    let (rc, out, _) = h.run("ansible", &data, false);
    assert_eq!((rc, &out["deploy_status_code"]), (0, &json!(0)));
}

/// W11: no ansible-playbook → failure 127 with a clear message, not a silent success.
#[test]
fn ansible_missing_tool_is_status_127() {
    let (mut h, _, _) = ansible_setup();
    h.set("HEAT_ANSIBLE_CMD", "/nonexistent/ansible-playbook");
    let (rc, out, _) = h.run("ansible", &ansible_data(json!({})), false);
    assert_eq!(rc, 0);
    assert_eq!(out["deploy_status_code"], 127);
    assert!(
        out["deploy_stderr"]
            .as_str()
            .unwrap()
            .contains("is ansible installed?"),
        "{out}"
    );
}

#[test]
fn ansible_empty_config_prints_nothing() {
    let (h, _, _) = ansible_setup();
    let mut data = ansible_data(json!({}));
    data["config"] = json!("");
    let (rc, out, _) = h.run("ansible", &data, false);
    assert_eq!((rc, out), (0, Value::Null));
    assert!(!h.state_path().exists());
}

// ---------------------------------------------------------------- puppet (test_hook_puppet.py)

fn puppet_data() -> Value {
    json!({
        "id": "1234",
        "creation_time": "2015-07-16T11:40:20",
        "name": "fake_resource_name",
        "group": "puppet",
        "options": {"enable_hiera": true, "enable_facter": true, "enable_debug": true, "enable_verbose": true},
        "inputs": [{"name": "foo", "value": "bar"}, {"name": "another", "value": "input"}],
        "outputs": [{"name": "first_output"}, {"name": "second_output"}],
        "config": "the puppet script"
    })
}

struct Puppet {
    h: HookRun,
    working: PathBuf,
    outputs: PathBuf,
    logdir: PathBuf,
    hiera: PathBuf,
}

fn puppet_setup() -> Puppet {
    let mut h = HookRun::new();
    let working = h.dir("working");
    let outputs = h.dir("outputs");
    let logdir = h.dir("logs");
    let hiera = h.dir("hieradata");
    h.set("HEAT_PUPPET_WORKING", &working);
    h.set("HEAT_PUPPET_OUTPUTS", &outputs);
    h.set("HEAT_PUPPET_LOGDIR", &logdir);
    h.set("HEAT_PUPPET_HIERA_DATADIR", &hiera);
    h.set("HEAT_PUPPET_CMD", fixture("config-tool-fake.py"));
    Puppet {
        h,
        working,
        outputs,
        logdir,
        hiera,
    }
}

fn puppet_args(p: &Puppet, middle: &[&str]) -> Value {
    let mut a: Vec<String> = vec![
        s(&fixture("config-tool-fake.py")),
        "apply".into(),
        "--color".into(),
        "false".into(),
        "--detailed-exitcodes".into(),
        "--logdest".into(),
        "console".into(),
    ];
    a.extend(middle.iter().map(|m| m.to_string()));
    a.push(s(&p.working.join("1234.pp")));
    json!(a)
}

const DEBUG_ARGS: [&str; 3] = ["--debug", "--logdest", "/var/log/puppet/heat-debug.log"];
const VERBOSE_ARGS: [&str; 3] = ["--verbose", "--logdest", "/var/log/puppet/heat-verbose.log"];

fn success_with_outputs(p: &mut Puppet) {
    p.h.set(
        "TEST_RESPONSE",
        json!({"stdout": "puppet success", "stderr": "thing happened", "files": {
            s(&p.outputs.join("1234.first_output")): "output 1",
            s(&p.outputs.join("1234.second_output")): "output 2"}})
        .to_string(),
    );
}

#[test]
fn test_hook_puppet_test_hook() {
    let mut p = puppet_setup();
    success_with_outputs(&mut p);
    let (rc, out, err) = p.h.run("puppet", &puppet_data(), false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "puppet success", "deploy_stderr": "thing happened",
               "deploy_status_code": 0, "first_output": "output 1", "second_output": "output 2"})
    );
    let state = p.h.state();
    let mut middle = DEBUG_ARGS.to_vec();
    middle.extend(VERBOSE_ARGS);
    assert_eq!(state["args"], puppet_args(&p, &middle));
    assert_eq!(state["env"]["FACTER_foo"], "bar");
    assert_eq!(state["env"]["FACTER_another"], "input");
    assert_eq!(
        state["env"]["FACTER_heat_outputs_path"],
        s(&p.outputs.join("1234"))
    );
    assert_eq!(
        state["env"]["FACTER_deploy_config_name"],
        "fake_resource_name"
    );
    assert_eq!(
        std::fs::read_to_string(p.working.join("1234.pp")).unwrap(),
        "the puppet script"
    );
    // logs as the reference names them, when HEAT_PUPPET_LOGDIR is set
    assert_eq!(
        std::fs::read_to_string(p.logdir.join("2015-07-16-11-40-20-1234-stdout.log")).unwrap(),
        "puppet success"
    );
}

#[test]
fn test_hook_puppet_test_hook_no_debug() {
    let mut p = puppet_setup();
    p.h.set(
        "TEST_RESPONSE",
        json!({"stdout": "success", "stderr": ""}).to_string(),
    );
    let mut data = puppet_data();
    data["options"]["enable_debug"] = json!(false);
    let (rc, _, err) = p.h.run("puppet", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(p.h.state()["args"], puppet_args(&p, &VERBOSE_ARGS));
}

#[test]
fn test_hook_puppet_test_hook_no_verbose() {
    let mut p = puppet_setup();
    p.h.set(
        "TEST_RESPONSE",
        json!({"stdout": "success", "stderr": ""}).to_string(),
    );
    let mut data = puppet_data();
    data["options"]["enable_verbose"] = json!(false);
    let (rc, _, err) = p.h.run("puppet", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(p.h.state()["args"], puppet_args(&p, &DEBUG_ARGS));
}

#[test]
fn test_hook_puppet_test_hook_puppet_failed() {
    let mut p = puppet_setup();
    p.h.set(
        "TEST_RESPONSE",
        json!({"stdout": "puppet failed", "stderr": "bad thing happened", "returncode": 4})
            .to_string(),
    );
    let (rc, out, err) = p.h.run("puppet", &puppet_data(), true);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "puppet failed", "deploy_stderr": "bad thing happened", "deploy_status_code": 4})
    );
    let state = p.h.state();
    assert_eq!(state["env"]["FACTER_foo"], "bar");
    assert_eq!(
        state["env"]["FACTER_heat_outputs_path"],
        s(&p.outputs.join("1234"))
    );
}

#[test]
fn test_hook_puppet_test_hook_hiera() {
    let mut p = puppet_setup();
    success_with_outputs(&mut p);
    let mut data = puppet_data();
    let modulepath = s(&p.working);
    data["options"]["modulepath"] = json!(modulepath);
    data["options"]["tags"] = json!("package,file");
    let (rc, out, err) = p.h.run("puppet", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out["first_output"], "output 1");
    let mut middle = vec![
        "--modulepath",
        modulepath.as_str(),
        "--tags",
        "package,file",
    ];
    middle.extend(DEBUG_ARGS);
    middle.extend(VERBOSE_ARGS);
    assert_eq!(p.h.state()["args"], puppet_args(&p, &middle));
    let hiera_file = p.hiera.join("heat_config_fake_resource_name.json");
    assert_eq!(
        read_json(&hiera_file),
        json!({"foo": "bar", "another": "input"})
    );
    assert_eq!(support::mode(&hiera_file), 0o600);
}

#[test]
fn puppet_exit_2_is_success_use_spellings_and_missing_tool() {
    let mut p = puppet_setup();
    p.h.set(
        "TEST_RESPONSE",
        json!({"stdout": "changed", "returncode": 2}).to_string(),
    );
    let mut data = puppet_data();
    // documented spellings (W26): use_facter false → no facts from inputs
    data["options"] = json!({"use_facter": false, "use_hiera": false});
    data["inputs"] = json!([{"name": "n", "type": "Number", "value": 3}]);
    let (rc, out, _) = p.h.run("puppet", &data, false);
    assert_eq!(rc, 0);
    assert_eq!(out["deploy_status_code"], 0);
    let env = &p.h.state()["env"];
    assert!(env.get("FACTER_n").is_none());
    assert!(!p.hiera.join("heat_config_fake_resource_name.json").exists());
    // enable_* wins over use_*; typed inputs render Python-str style (W12)
    std::fs::remove_file(p.h.state_path()).unwrap();
    data["options"] = json!({"use_facter": false, "enable_facter": true});
    p.h.run("puppet", &data, false);
    assert_eq!(p.h.state()["env"]["FACTER_n"], "3");
    p.h.set("HEAT_PUPPET_CMD", "/nonexistent/puppet");
    let (_, out, _) = p.h.run("puppet", &data, false);
    assert_eq!(out["deploy_status_code"], 127);
    assert!(out["deploy_stderr"]
        .as_str()
        .unwrap()
        .contains("is puppet installed?"));
}

// ------------------------------------------------------ hiera, json-file, apply-config

#[test]
fn test_hook_hiera_test_hook() {
    let mut h = HookRun::new();
    let datadir = h.dir("hieradata");
    let conf = h.dir("conf").join("hiera.yaml");
    h.set("HEAT_HIERA_CONFIG", &conf);
    h.set("HEAT_PUPPET_HIERA_DATADIR", &datadir);
    h.set(
        "HEAT_HIERA_ELEMENT_CHECK_CMD",
        "/nonexistent/os-apply-config --key hiera.datafiles",
    );
    let data = json!({"id": "test_hiera", "name": "fake_resource_name", "group": "hiera",
        "config": {"hierarchy": ["compute"], "datafiles": {"compute": {"foo": "bar"}}}});
    let (rc, out, err) = h.run("hiera", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0})
    );
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!(
            "\n---\n:backends:\n  - json\n:json:\n  :datadir: {}\n:hierarchy:\n  - compute\n",
            s(&datadir)
        )
    );
    assert_eq!(
        std::fs::read_to_string(datadir.join("compute.json")).unwrap(),
        "{\n    \"foo\": \"bar\"\n}"
    );
}

#[test]
fn hiera_refuses_when_legacy_data_exists() {
    let mut h = HookRun::new();
    h.set("HEAT_HIERA_CONFIG", h.dir("conf").join("hiera.yaml"));
    h.set("HEAT_PUPPET_HIERA_DATADIR", h.dir("hieradata"));
    h.set("HEAT_HIERA_ELEMENT_CHECK_CMD", "/bin/echo {\"x\":1}");
    let data = json!({"id": "h", "group": "hiera", "config": {"hierarchy": ["a"]}});
    let (rc, out, _) = h.run("hiera", &data, false);
    assert_eq!(rc, 0);
    assert_eq!(out["deploy_status_code"], 1);
    assert!(out["deploy_stderr"]
        .as_str()
        .unwrap()
        .starts_with("Legacy hieradata"));
}

#[test]
fn test_hook_json_file_test_hook() {
    let h = HookRun::new();
    let conf = h.dir("conf").join("deep/er/file.json");
    let data = json!({"id": "test_json_file", "name": "fake_resource_name", "group": "json-file",
        "config": {s(&conf): {"command": "foo"}}});
    let (rc, out, err) = h.run("json-file", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0})
    );
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "{\n    \"command\": \"foo\"\n}"
    );
    // relative paths are refused rather than written relative to the agent's cwd
    let bad = json!({"id": "j2", "group": "json-file", "config": {"rel/x.json": {}}});
    let (_, out, _) = h.run("json-file", &bad, false);
    assert_eq!(out["deploy_status_code"], 1);
}

/// test_hook_apply_config: the hook runs os-apply-config over all metadata. Driven once with
/// the reference os-apply-config from the venv, once with a fake tool recording its argv.
#[test]
fn test_hook_apply_config_test_hook() {
    let mut h = HookRun::new();
    h.set("HEAT_APPLY_CONFIG_CMD", fixture("config-tool-fake.py"));
    h.set(
        "TEST_RESPONSE",
        json!({"stdout": "applied", "stderr": "e"}).to_string(),
    );
    let data = json!({"id": "test_apply_config", "name": "fake_resource_name", "group": "apply-config", "config": {"foo": "bar"}});
    let (rc, out, err) = h.run("apply-config", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(
        out,
        json!({"deploy_stdout": "applied", "deploy_stderr": "e", "deploy_status_code": 0})
    );
    assert_eq!(
        h.state()["args"],
        json!([s(&fixture("config-tool-fake.py"))])
    );

    let Some(venv) = support::venv() else { return };
    let mut h = HookRun::new();
    let metadata = h.dir("metadata").join("md.json");
    std::fs::write(&metadata, r#"{"foo": "bar"}"#).unwrap();
    let templates = h.dir("templates");
    let out_dir = h.dir("out");
    let rel = out_dir.strip_prefix("/").unwrap();
    std::fs::create_dir_all(templates.join(rel)).unwrap();
    std::fs::write(templates.join(rel).join("rendered"), "foo={{foo}}").unwrap();
    h.set("OS_CONFIG_FILES", &metadata);
    h.set("OS_CONFIG_APPLIER_TEMPLATES", &templates);
    h.set("HEAT_APPLY_CONFIG_CMD", venv.join("bin/os-apply-config"));
    let (rc, out, err) = h.run("apply-config", &data, false);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out["deploy_stdout"], "");
    assert_eq!(out["deploy_status_code"], 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("rendered")).unwrap(),
        "foo=bar"
    );
}

#[test]
fn unknown_hook_name_and_bad_stdin() {
    let h = HookRun::new();
    let out = Command::new(common::bin())
        .args(["hook", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let mut cmd = Command::new(common::bin());
    cmd.args(["hook", "script"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"not json").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    drop(h);
}
