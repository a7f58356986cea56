//! The built-in hooks driving the real tools through `heat-agent deploy`: /bin/sh scripts,
//! ansible-playbook from the reference venv, Debian's puppet. Required in CI
//! (HEAT_AGENT_REQUIRE_REFERENCE=1); skipped with a note otherwise.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::json;
use support::Site;

#[test]
fn real_sh_script_with_inputs_and_outputs() {
    let site = Site::new();
    let marker = site.root.join("made-by-script");
    let entry = support::script_entry(
        "sh1",
        &format!(
            "#!/bin/sh\nset -e\necho \"action=$deploy_action n=$n\"\necho warn >&2\nprintf '%s' \"$n-$deploy_action\" > \"$heat_outputs_path.result\"\nprintf 'x\\n' > \"$heat_outputs_path.second\"\ntouch {}\n",
            marker.display()
        ),
        json!([
            {"name": "n", "type": "String", "value": 42},
            {"name": "deploy_action", "type": "String", "value": "CREATE"}
        ]),
        json!([{"name": "result"}, {"name": "second"}, {"name": "absent"}]),
    );
    site.write_list(&json!([entry]));
    let out = site.legacy_cmd().output().unwrap();
    assert!(out.status.success());
    assert!(marker.exists());
    let s = &site.signal_for("sh1")[0];
    assert_eq!(
        s,
        &json!({"result": "42-CREATE", "second": "x\n", "deploy_stdout": "action=CREATE n=42\n",
                "deploy_stderr": "warn\n", "deploy_status_code": 0})
    );
    let script = site.root.join("script-working/sh1");
    assert_eq!(support::mode(&script), 0o700);
    assert_eq!(support::mode(&site.root.join("script-working")), 0o700);
    assert_eq!(site.journal("sh1").unwrap()["state"], "succeeded");
}

#[test]
fn real_ansible_playbook_writes_a_file_and_an_output() {
    let Some(venv) = support::venv() else { return };
    let Some(ansible) = support::tool(venv.join("bin/ansible-playbook").to_str().unwrap()) else {
        return;
    };
    let mut site = Site::new();
    let target = site.root.join("ansible-made");
    let playbook = format!(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    \
         - copy:\n        content: \"greeting={{{{ greeting }}}}\\n\"\n        dest: {}\n    \
         - copy:\n        content: \"ansible-{{{{ greeting }}}}\"\n        dest: \"{{{{ heat_outputs_path }}}}.result\"\n",
        target.display()
    );
    let entry = json!({
        "id": "ans1", "name": "ansible-config", "group": "ansible", "creation_time": "2026-11-23T04:57:12Z",
        "config": playbook, "options": {},
        "inputs": [{"name": "greeting", "type": "String", "value": "hello"},
                   {"name": "deploy_action", "type": "String", "value": "CREATE"}],
        "outputs": [{"name": "result"}]
    });
    site.write_list(&json!([entry]));
    let home = site.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    site.extra_env = vec![
        ("HEAT_ANSIBLE_CMD".into(), ansible.to_str().unwrap().into()),
        ("HOME".into(), home.to_str().unwrap().into()),
        (
            "ANSIBLE_LOCAL_TEMP".into(),
            home.join("tmp").to_str().unwrap().into(),
        ),
        (
            "ANSIBLE_PYTHON_INTERPRETER".into(),
            venv.join("bin/python3").to_str().unwrap().into(),
        ),
    ];
    assert!(site.deploy().status.success());
    let s = &site.signal_for("ans1")[0];
    assert_eq!(s["deploy_status_code"], 0, "{s:#}");
    assert_eq!(s["result"], "ansible-hello");
    assert!(s["deploy_stdout"].as_str().unwrap().contains("PLAY RECAP"));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "greeting=hello\n"
    );

    // a failing playbook: ansible's own exit code is reported
    let failing = json!({
        "id": "ans2", "name": "ansible-fail", "group": "ansible",
        "config": "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - fail:\n        msg: on purpose\n",
        "options": {}, "inputs": [], "outputs": []
    });
    site.write_list(&json!([failing]));
    assert!(site.deploy().status.success());
    let s = &site.signal_for("ans2")[0];
    assert_eq!(s["deploy_status_code"], 2, "{s:#}");
    assert_eq!(site.journal("ans2").unwrap()["state"], "failed");
}

#[test]
fn real_puppet_apply_uses_facts_from_inputs_and_writes_an_output() {
    let Some(puppet) = support::tool("/usr/bin/puppet") else {
        return;
    };
    let mut site = Site::new();
    let target = site.root.join("puppet-made");
    let manifest = format!(
        "file {{ '{}': content => \"fact=${{facts['greeting']}}\\n\" }}\n\
         file {{ \"${{facts['heat_outputs_path']}}.result\": content => \"puppet-${{facts['greeting']}}\" }}\n",
        target.display()
    );
    let entry = json!({
        "id": "pup1", "name": "puppet-config", "group": "puppet", "creation_time": "2026-11-23T04:57:12Z",
        "config": manifest, "options": {},
        "inputs": [{"name": "greeting", "type": "String", "value": "hi"}],
        "outputs": [{"name": "result"}]
    });
    site.write_list(&json!([entry]));
    site.extra_env = vec![("HEAT_PUPPET_CMD".into(), puppet.to_str().unwrap().into())];
    assert!(site.deploy().status.success());
    let s = &site.signal_for("pup1")[0];
    // puppet exits 2 (changes applied) under --detailed-exitcodes: reported as success
    assert_eq!(s["deploy_status_code"], 0, "{s:#}");
    assert_eq!(s["result"], "puppet-hi");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "fact=hi\n");
    assert!(
        s["deploy_stdout"]
            .as_str()
            .unwrap()
            .contains("Applied catalog"),
        "{s:#}"
    );
}
