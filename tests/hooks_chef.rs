//! `heat-agent hook chef` against the reference hook-chef.py, differentially.
//!
//! CHEF ITSELF IS NOT RUN HERE: chef-client cannot be installed on these machines (no Debian
//! package; the Ruby gem registry is not reachable). Both hooks run against the same recording
//! stand-ins on PATH: `chef-client` records its argv, working dir, environment and the files it
//! is given (client.rb, the node JSON) and writes an output file the way a recipe would;
//! `hostname` answers `-f`; `git` records the kitchen clone. The two runs must match byte for
//! byte. The cases and assertions of heat-agents' tests/test_hook_chef.py are ported on top.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const FQDN: &str = "node1.example.test";

const CHEF_CLIENT: &str = r#"#!/bin/sh
# recording stand-in for chef-client (chef itself is not run in these tests)
r=$CHEF_RECORD
printf '%s\n' "$@" > "$r/argv"
pwd > "$r/cwd"
env | LC_ALL=C sort > "$r/env"
cp "$3" "$r/client.rb"
cp "$5" "$r/node.json"
ls -l "$3" "$5" | cut -c1-10 > "$r/modes"
if [ -n "$STANDIN_OUTPUT" ]; then printf 'chef-made' > "$heat_outputs_path.first_output"; fi
printf out
printf err >&2
exit "${STANDIN_EXIT:-0}"
"#;

const HOSTNAME: &str = "#!/bin/sh\n[ \"$1\" = -f ] && echo node1.example.test\n";
const GIT: &str = "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$CHEF_RECORD/git-argv\"\nmkdir -p \"$3\"\n";

struct Chef {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    venv: PathBuf,
}

impl Chef {
    fn new() -> Option<Chef> {
        let venv = support::venv()?;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for (name, text) in [
            ("chef-client", CHEF_CLIENT),
            ("hostname", HOSTNAME),
            ("git", GIT),
        ] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Some(Chef {
            _tmp: tmp,
            root,
            venv,
        })
    }

    fn working(&self) -> PathBuf {
        self.root.join("working")
    }

    fn record(&self) -> PathBuf {
        self.root.join("record")
    }

    /// One run with a fresh working/outputs dir and record dir: (stdout, recorded files).
    fn run(&self, program: &Path, args: &[&str], data: &Value, env: &[(&str, &str)]) -> Run {
        for d in [self.working(), self.root.join("outputs"), self.record()] {
            let _ = std::fs::remove_dir_all(&d);
        }
        std::fs::create_dir_all(self.record()).unwrap();
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.root.join("bin").display()),
            )
            .env("LC_ALL", "C.UTF-8")
            .env("HEAT_CHEF_WORKING", self.working())
            .env("HEAT_CHEF_OUTPUTS", self.root.join("outputs"))
            .env("CHEF_RECORD", self.record());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = common::output_with_stdin(&mut c, data.to_string().as_bytes());
        assert!(
            out.status.success(),
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut files = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(self.record())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for n in names {
            files.push((n.clone(), std::fs::read(self.record().join(&n)).unwrap()));
        }
        Run {
            stdout: String::from_utf8(out.stdout).unwrap(),
            files,
        }
    }

    fn reference(&self, data: &Value, env: &[(&str, &str)]) -> Run {
        let hook = self
            .venv
            .join("heat-agents/heat-config-chef/install.d/hook-chef.py");
        self.run(
            &self.venv.join("bin/python3"),
            &[hook.to_str().unwrap()],
            data,
            env,
        )
    }

    fn agent(&self, data: &Value, env: &[(&str, &str)]) -> Run {
        self.run(&common::bin(), &["hook", "chef"], data, env)
    }

    fn file(run: &Run, name: &str) -> String {
        let (_, bytes) = run
            .files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no recorded {name}"));
        String::from_utf8(bytes.clone()).unwrap()
    }
}

#[derive(Debug, PartialEq)]
struct Run {
    stdout: String,
    files: Vec<(String, Vec<u8>)>,
}

/// The reference test's deployment.
fn data(config: &str) -> Value {
    json!({
        "id": "fake_stack", "name": "fake_resource_name", "group": "chef",
        "inputs": [
            {"name": "fooval", "value": {"bar": "baz"}},
            {"name": "barval", "value": {"foo": "biff"}},
            {"name": "deploy_server_id", "value": "foo"},
            {"name": "deploy_action", "value": "foo"},
            {"name": "deploy_stack_id", "value": "foo"},
            {"name": "deploy_resource_name", "value": "foo"},
            {"name": "deploy_signal_transport", "value": "foo"},
            {"name": "deploy_signal_id", "value": "foo"},
            {"name": "deploy_signal_verb", "value": "foo"}
        ],
        "options": {},
        "outputs": [{"name": "first_output"}, {"name": "second_output"}],
        "config": config
    })
}

/// Both hooks, same inputs: identical stdout and identical recorded argv, cwd, environment,
/// client.rb, node JSON (and file modes, git argv).
fn same(c: &Chef, d: &Value, env: &[(&str, &str)]) -> Run {
    let reference = c.reference(d, env);
    let ours = c.agent(d, env);
    for ((rn, rb), (on, ob)) in reference.files.iter().zip(&ours.files) {
        assert_eq!(rn, on);
        assert_eq!(
            String::from_utf8_lossy(rb),
            String::from_utf8_lossy(ob),
            "recorded {rn} differs"
        );
    }
    assert_eq!(reference, ours);
    ours
}

fn client_rb(kitchen: &str, environment: Option<&str>, working: &Path) -> String {
    let mut s = format!(
        "log_level :debug\nlog_location STDOUT\nlocal_mode true\nchef_zero.enabled true\n\
         cookbook_path '{kitchen}/cookbooks'\nrole_path '{kitchen}/roles'\n\
         environment_path '{kitchen}/environments'"
    );
    if let Some(e) = environment {
        s.push_str(&format!("\nenvironment '{e}'"));
    }
    s.push_str(&format!("\nnode_path '{}/node'", working.display()));
    s
}

// ----- the reference's cases (tests/test_hook_chef.py), run differentially -----

#[test]
fn ported_test_hook() {
    let Some(c) = Chef::new() else { return };
    let run = same(&c, &data("[\"recipe[apache]\"]"), &[]);
    let w = c.working();
    assert_eq!(
        Chef::file(&run, "client.rb"),
        client_rb(&format!("{}/kitchen", w.display()), None, &w)
    );
    let node: Value = serde_json::from_str(&Chef::file(&run, "node.json")).unwrap();
    assert_eq!(
        node,
        json!({"fooval": {"bar": "baz"}, "barval": {"foo": "biff"}, "run_list": ["recipe[apache]"]})
    );
    assert_eq!(
        Chef::file(&run, "argv"),
        format!(
            "-z\n--config\n{w}/client.rb\n-j\n{w}/node/{FQDN}.json\n",
            w = w.display()
        )
    );
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        json!({"deploy_status_code": 0, "deploy_stdout": "out", "deploy_stderr": "err"})
    );
    // chef-client ran in the working dir, with heat_outputs_path set; files are private
    assert_eq!(Chef::file(&run, "cwd").trim(), w.to_str().unwrap());
    assert!(Chef::file(&run, "env").contains(&format!(
        "heat_outputs_path={}/fake_stack\n",
        c.root.join("outputs").display()
    )));
    assert_eq!(Chef::file(&run, "modes"), "-rw-------\n-rw-------\n");
}

#[test]
fn ported_test_hook_with_kitchen() {
    let Some(c) = Chef::new() else { return };
    let kitchen = c.root.join("opt/heat/chef/kitchen");
    let mut d = data("[\"recipe[apache]\"]");
    d["options"] = json!({"kitchen": "https://example.test/fake.git", "kitchen_path": kitchen});
    let run = same(&c, &d, &[]);
    assert_eq!(
        Chef::file(&run, "client.rb"),
        client_rb(kitchen.to_str().unwrap(), None, &c.working())
    );
    assert_eq!(
        Chef::file(&run, "git-argv"),
        format!(
            "clone\nhttps://example.test/fake.git\n{}\n",
            kitchen.display()
        )
    );
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        json!({"deploy_status_code": 0, "deploy_stdout": "out", "deploy_stderr": "err"})
    );
}

#[test]
fn ported_test_hook_environment() {
    let Some(c) = Chef::new() else { return };
    let mut d = data("[\"recipe[apache]\"]");
    d["inputs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "environment", "value": "production"}));
    let run = same(&c, &d, &[]);
    let w = c.working();
    assert_eq!(
        Chef::file(&run, "client.rb"),
        client_rb(&format!("{}/kitchen", w.display()), Some("production"), &w)
    );
    let node: Value = serde_json::from_str(&Chef::file(&run, "node.json")).unwrap();
    assert_eq!(
        node,
        json!({"fooval": {"bar": "baz"}, "barval": {"foo": "biff"}, "run_list": ["recipe[apache]"]})
    );
}

// ----- beyond the reference's tests -----

#[test]
fn outputs_and_failure_status_match_the_reference() {
    let Some(c) = Chef::new() else { return };
    let d = data("[\"recipe[apache]\", \"role[web]\"]");
    let run = same(&c, &d, &[("STANDIN_OUTPUT", "1")]);
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        json!({"deploy_status_code": 0, "deploy_stdout": "out", "deploy_stderr": "err",
               "first_output": "chef-made"})
    );
    let run = same(&c, &d, &[("STANDIN_EXIT", "3")]);
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap()["deploy_status_code"],
        3
    );
}

#[test]
fn kitchen_is_cloned_afresh_on_update() {
    let Some(c) = Chef::new() else { return };
    let kitchen = c.root.join("kitchen");
    let mut d = data("[]");
    d["options"] = json!({"kitchen": "https://example.test/k.git", "kitchen_path": kitchen});
    d["inputs"] = json!([{"name": "deploy_action", "value": "UPDATE"}]);
    std::fs::create_dir_all(&kitchen).unwrap();
    std::fs::write(kitchen.join("stale"), "x").unwrap();
    let _ = c.agent(&d, &[]);
    assert!(!kitchen.join("stale").exists());
    assert!(kitchen.is_dir());
}

#[test]
fn bad_run_list_is_a_clear_failure() {
    let Some(c) = Chef::new() else { return };
    let run = c.agent(&data("recipe[apache]"), &[]);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["deploy_status_code"], 1);
    assert!(
        v["deploy_stderr"].as_str().unwrap().contains("run_list"),
        "{v}"
    );
    assert!(
        !c.record().join("argv").exists(),
        "chef-client must not run"
    );
}
