//! `heat-agent deploy` / `55-heat-config` against the reference's own test vectors
//! (heat-agents tests/test_heat_config.py), markers written by real Heat captures and by the
//! real Python 55-heat-config, and the runner's behaviour around hooks and the list file.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::{json, Value};
use support::{read_json, Site};

const FAKE_HOOKS: [&str; 9] = [
    "cfn-init",
    "chef",
    "puppet",
    "salt",
    "script",
    "apply-config",
    "hiera",
    "json-file",
    "hook-raises",
];

fn reference_data() -> Value {
    json!([
        {"id": "1111", "group": "chef", "inputs": [{"name": "deploy_signal_id", "value": "mock://192.0.2.2/foo"}], "config": "one"},
        {"id": "2222", "group": "cfn-init", "inputs": [], "config": "two"},
        {"id": "3333", "group": "salt", "inputs": [{"name": "foo", "value": "bar"}], "outputs": [{"name": "foo"}], "config": "three"},
        {"id": "4444", "group": "puppet", "inputs": [], "config": "four"},
        {"id": "5555", "group": "script", "inputs": [
            {"name": "deploy_status_code", "value": "-1"},
            {"name": "deploy_stderr", "value": "A bad thing happened"},
            {"name": "deploy_signal_id", "value": "mock://192.0.2.3/foo"}], "config": "five"},
        {"id": "6666", "group": "apply-config", "inputs": [{"name": "foo", "value": "bar"}], "config": "six"},
        {"id": "7777", "group": "hiera", "inputs": [], "config": "seven"},
        {"id": "8888", "group": "json-file", "inputs": [], "config": "eight"},
        {"id": "9999", "group": "no-such-hook", "inputs": [], "config": "nine"},
        {"id": "0123", "group": "hook-raises", "inputs": [], "config": "ten"}
    ])
}

fn expected_output(group: &str) -> Value {
    let ok =
        json!({"deploy_status_code": "0", "deploy_stderr": "stderr", "deploy_stdout": "stdout"});
    match group {
        "salt" => {
            json!({"deploy_status_code": "0", "deploy_stderr": "stderr", "deploy_stdout": "stdout", "foo": "bar"})
        }
        "script" => {
            json!({"deploy_status_code": "-1", "deploy_stderr": "A bad thing happened", "deploy_stdout": "stdout"})
        }
        _ => ok,
    }
}

fn fake_site() -> Site {
    let site = Site::new();
    for h in FAKE_HOOKS {
        site.install_hook(
            h,
            if h == "hook-raises" {
                "hook-fake-raises.py"
            } else {
                "hook-fake.py"
            },
        );
    }
    site
}

#[test]
fn test_run_heat_config() {
    let mut site = fake_site();
    let data = reference_data();
    site.write_list(&data);
    let out = site.legacy_cmd().output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for config in data.as_array().unwrap() {
        let group = config["group"].as_str().unwrap();
        let id = config["id"].as_str().unwrap();
        let stdin_path = site.hooks.join(format!("{group}.stdin"));
        let stdout_path = site.hooks.join(format!("{group}.stdout"));
        if group == "no-such-hook" {
            assert!(!stdin_path.exists() && !stdout_path.exists());
            continue;
        }
        // the hook read exactly the entry; the marker holds exactly the entry
        assert_eq!(&read_json(&stdin_path), config, "{group} stdin");
        assert_eq!(&read_json(&site.marker(id)), config, "{group} marker");
        assert_eq!(support::mode(&site.marker(id)), 0o600);
        let notify_data = read_json(&site.notify_file(id));
        if group != "hook-raises" {
            assert_eq!(notify_data, expected_output(group), "{group} notify");
            assert_eq!(read_json(&stdout_path), expected_output(group));
            std::fs::remove_file(&stdout_path).unwrap();
        } else {
            assert_eq!(notify_data["deploy_status_code"], json!(1));
            assert!(notify_data["deploy_stderr"]
                .as_str()
                .unwrap()
                .contains("OSError: Something bad happened!"));
        }
        std::fs::remove_file(&stdin_path).unwrap();
    }
    // each deployment was signalled once, with the marker path as argument (reference notify CLI)
    let notes = site.notifications();
    assert_eq!(notes.len(), 10, "{notes:#?}");
    for n in &notes {
        let id = n["entry"]["id"].as_str().unwrap();
        assert_eq!(n["config"], json!(site.marker(id).to_str().unwrap()));
    }
    // W16: the missing hook is reported as a failure instead of silence
    let missing = site.signal_for("9999");
    assert_eq!(missing[0]["deploy_status_code"], json!(127));
    assert!(missing[0]["deploy_stderr"]
        .as_str()
        .unwrap()
        .contains("no hook for group no-such-hook"));

    // run again with no changes: nothing runs
    let out = site.deploy_cmd(&[]).output().unwrap();
    assert!(out.status.success());
    for h in FAKE_HOOKS {
        assert!(
            !site.hooks.join(format!("{h}.stdin")).exists(),
            "{h} ran again"
        );
    }
    assert_eq!(site.notifications().len(), 10);

    // change the puppet deployment's id: only that one runs
    let mut data2 = data.clone();
    for c in data2.as_array_mut().unwrap() {
        if c["id"] == "4444" {
            c["id"] = json!("44444444");
        }
    }
    site.write_list(&data2);
    assert!(site.deploy_cmd(&[]).output().unwrap().status.success());
    for h in FAKE_HOOKS {
        let ran = site.hooks.join(format!("{h}.stdin")).exists();
        assert_eq!(ran, h == "puppet", "{h}");
    }

    // a different, absent deployed dir with HEAT_CONFIG_DEPLOYED_OLD = the old one: migrated
    let old = site.deployed.clone();
    site.deployed_old = old.clone();
    site.deployed = site.root.join("deployed-new");
    assert!(site.deploy_cmd(&[]).output().unwrap().status.success());
    for c in data.as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        if c["group"] == "no-such-hook" || c["group"] == "hook-raises" {
            continue;
        }
        assert_eq!(&read_json(&site.marker(id)), c);
        assert!(!old.join(format!("{id}.json")).exists());
    }
}

#[test]
fn journal_records_each_deployment_with_the_contract_fields() {
    let site = fake_site();
    site.write_list(&reference_data());
    assert!(site.deploy().status.success());
    let ok = site.journal("1111").unwrap();
    assert_eq!(ok["state"], "succeeded");
    assert_eq!(ok["group"], "chef");
    assert_eq!(ok["exit_code"], 0);
    assert!(ok["finished_at"].as_f64().unwrap() >= ok["started_at"].as_f64().unwrap());
    let failed = site.journal("5555").unwrap();
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["exit_code"], -1);
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("non-zero status code: -1"));
    let keys: Vec<String> = ok.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "group",
            "action",
            "state",
            "started_at",
            "finished_at",
            "exit_code",
            "duration",
            "error"
        ]
    );
    assert_eq!(support::mode(&site.state.join("journal/1111.json")), 0o600);
}

/// Markers written by the real 55-heat-config during the real-Heat captures: an image whose
/// deployments were run by the Python agent is taken over without re-running any of them.
#[test]
fn takes_over_markers_from_real_heat_captures() {
    let captures = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/real-heat-captures"
    ));
    let dir = std::env::var_os("HEAT_AGENT_REAL_HEAT_CAPTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| captures.to_path_buf());
    if !dir.is_dir() {
        eprintln!("SKIP: no real-heat captures at {}", dir.display());
        return;
    }
    let site = Site::new();
    for h in ["script", "ansible", "puppet"] {
        site.install_hook(h, "hook-fake.py");
    }
    std::fs::create_dir_all(&site.deployed).unwrap();
    let mut list = Vec::new();
    for cap in std::fs::read_dir(&dir).unwrap().flatten() {
        let d = cap.path().join("heat-config-deployed");
        let Ok(files) = std::fs::read_dir(&d) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            std::fs::copy(f.path(), site.deployed.join(&name)).unwrap();
            if !name.ends_with(".notify.json") {
                list.push(read_json(&f.path()));
            }
        }
    }
    assert!(list.len() >= 3, "captures hold markers");
    site.write_list(&Value::Array(list.clone()));
    assert!(site.deploy().status.success());
    assert!(
        !site.hooks.join("script.stdin").exists(),
        "a taken-over deployment ran again"
    );
    assert!(site.notifications().is_empty());
    for e in &list {
        assert!(site.journal(e["id"].as_str().unwrap()).is_none());
    }
    // a new id (the next UPDATE of the same deployment) does run
    let mut next = list[0].clone();
    next["id"] = json!("0b7c5e0e-new-update");
    list.push(next);
    site.write_list(&Value::Array(list));
    assert!(site.deploy().status.success());
    assert!(site.hooks.join("script.stdin").exists());
    assert_eq!(site.notifications().len(), 1);
}

/// Differential: the real Python 55-heat-config and ours, same list, same fake hooks. The marker
/// and notify files are byte-identical, and each takes over the other's markers.
#[test]
fn markers_match_the_reference_and_are_taken_over_both_ways() {
    let Some(venv) = support::venv() else { return };
    let reference =
        venv.join("heat-agents/heat-config/os-refresh-config/configure.d/55-heat-config");
    let python = venv.join("bin/python3");
    let list = json!([
        support::script_entry("aaaa-1", "x", json!([
            {"name": "n", "type": "String", "value": 5},
            {"name": "unicode", "type": "String", "value": "héllo ✓"},
            {"name": "l", "type": "String", "value": ["a", 1, true, null]},
            {"name": "deploy_action", "type": "String", "value": "CREATE"}
        ]), json!([{"name": "n"}])),
        {"id": "bbbb-2", "name": "comp", "group": "component", "config": {"configs": [
            {"actions": ["CREATE"], "config": "c", "tool": "puppet"}]},
         "inputs": [{"name": "deploy_action", "type": "String", "value": "CREATE"}], "outputs": [], "options": {}},
        {"id": "cccc-3", "group": "os-apply-config", "inputs": [], "config": {}}
    ]);
    let ours = Site::new();
    let theirs = Site::new();
    for s in [&ours, &theirs] {
        s.install_hook("script", "hook-fake.py");
        s.install_hook("puppet", "hook-fake.py");
        s.write_list(&list);
    }
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&reference);
    theirs.env(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ours.deploy().status.success());

    for id in ["aaaa-1", "bbbb-2"] {
        let a = std::fs::read(ours.marker(id)).unwrap();
        let b = std::fs::read(theirs.marker(id)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "marker {id}"
        );
        let a = std::fs::read(ours.notify_file(id)).unwrap();
        let b = std::fs::read(theirs.notify_file(id)).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "notify {id}"
        );
    }
    assert!(!ours.marker("cccc-3").exists() && !theirs.marker("cccc-3").exists());
    // same hook stdin
    for g in ["script", "puppet"] {
        assert_eq!(
            read_json(&ours.hooks.join(format!("{g}.stdin"))),
            read_json(&theirs.hooks.join(format!("{g}.stdin")))
        );
    }
    // same notifier invocations
    let a: Vec<Value> = ours
        .notifications()
        .iter()
        .map(|n| json!([n["entry"], n["signal"]]))
        .collect();
    let b: Vec<Value> = theirs
        .notifications()
        .iter()
        .map(|n| json!([n["entry"], n["signal"]]))
        .collect();
    assert_eq!(a, b);

    // ours over the reference's markers: nothing runs again
    std::fs::remove_file(theirs.hooks.join("script.stdin")).unwrap();
    let out = theirs.deploy_cmd(&[]).output().unwrap();
    assert!(out.status.success());
    assert!(!theirs.hooks.join("script.stdin").exists());
    assert_eq!(theirs.notifications().len(), 2);
    // the reference over our markers: nothing runs again either
    std::fs::remove_file(ours.hooks.join("script.stdin")).unwrap();
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(&reference);
    ours.env(&mut cmd);
    assert!(cmd.output().unwrap().status.success());
    assert!(!ours.hooks.join("script.stdin").exists());
}

#[test]
fn missing_config_file_exits_1_with_the_reference_message() {
    let site = Site::new();
    let out = site.deploy_cmd(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("No config file {}", site.conf.display())),
        "{err}"
    );
}

#[test]
fn config_file_is_made_0600_and_an_empty_file_runs_nothing() {
    let site = Site::new();
    std::fs::write(&site.conf, "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&site.conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(site.deploy().status.code(), Some(0));
    assert_eq!(support::mode(&site.conf), 0o600);
    assert_eq!(support::mode(&site.deployed), 0o700);
}

/// W17: a corrupt list runs nothing, keeps all state, logs an error naming the file, exits 1.
#[test]
fn unparseable_list_is_an_error_and_changes_nothing() {
    let site = fake_site();
    site.write_list(&json!([{"id": "a1", "group": "script", "inputs": []}]));
    assert!(site.deploy().status.success());
    std::fs::remove_file(site.hooks.join("script.stdin")).unwrap();
    std::fs::write(&site.conf, "[{\"id\": \"a2\", \"group\": \"scr").unwrap();
    let out = site.deploy();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not valid JSON") && err.contains(site.conf.to_str().unwrap()),
        "{err}"
    );
    assert!(!site.hooks.join("script.stdin").exists());
    assert!(site.marker("a1").exists());
    assert_eq!(site.journal("a1").unwrap()["state"], "succeeded");
}

/// Malformed entries are reported one by one; the others still run.
#[test]
fn malformed_entries_are_skipped_and_the_rest_run() {
    let site = fake_site();
    site.write_list(&json!([
        "just a string",
        {"group": "script", "inputs": []},
        {"id": "../../etc/passwd", "group": "script", "inputs": []},
        {"id": "bad-inputs", "group": "script", "inputs": {"a": 1}},
        {"id": "good", "group": "script", "inputs": [{"name": "x", "type": "String", "value": {"k": [1]}}]}
    ]));
    let out = site.deploy();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("#0") && err.contains("not a JSON object"),
        "{err}"
    );
    assert!(err.contains("#1") && err.contains("no id"), "{err}");
    assert!(err.contains("unusable id"), "{err}");
    assert!(err.contains("bad-inputs: inputs is an object"), "{err}");
    let stdin = read_json(&site.hooks.join("script.stdin"));
    assert_eq!(stdin["id"], "good");
    assert_eq!(stdin["inputs"][0]["value"], "{'k': [1]}");
    assert_eq!(site.notifications().len(), 1);
    assert!(!site.root.join("etc").exists());
}

#[test]
fn component_without_config_for_the_action_is_skipped_silently() {
    let site = fake_site();
    site.write_list(
        &json!([{"id": "comp1", "group": "component", "config": {"configs": [
        {"actions": ["DELETE"], "config": "x", "tool": "script"}]},
        "inputs": [{"name": "deploy_action", "type": "String", "value": "CREATE"}]}]),
    );
    let out = site.deploy();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("no valid script is defined for deploy action CREATE"));
    assert!(!site.marker("comp1").exists());
    assert!(site.notifications().is_empty());
}

#[test]
fn non_executable_hook_is_signalled_as_failure() {
    let site = Site::new();
    std::fs::write(site.hooks.join("custom"), "#!/bin/sh\necho '{}'\n").unwrap();
    site.write_list(&json!([{"id": "ne1", "group": "custom", "inputs": []}]));
    assert!(site.deploy().status.success());
    let s = &site.signal_for("ne1")[0];
    assert_eq!(s["deploy_status_code"], 126);
    assert!(s["deploy_stderr"]
        .as_str()
        .unwrap()
        .contains("not executable"));
    let j = site.journal("ne1").unwrap();
    assert_eq!(j["state"], "failed");
    assert_eq!(j["exit_code"], 126);
    assert!(
        j["error"].as_str().unwrap().contains("is not executable"),
        "{j}"
    );
}

#[test]
fn os_apply_config_and_ungrouped_entries_get_no_marker_and_no_signal() {
    let site = Site::new();
    site.write_list(&json!([
        {"id": "oac", "group": "os-apply-config", "inputs": [], "config": {"a": 1}},
        {"id": "ung", "group": "Heat::Ungrouped", "inputs": [], "config": {"a": 1}},
        {"id": "empty", "group": "::", "inputs": [], "config": ""}
    ]));
    assert!(site.deploy().status.success());
    assert!(!site.marker("oac").exists() && !site.marker("ung").exists());
    let n = site.notifications();
    assert_eq!(n.len(), 1, "only the unusable group is reported: {n:#?}");
    assert_eq!(n[0]["entry"]["id"], "empty");
}

/// A hook file in the hook dirs wins over the built-in of the same name; our own shipped
/// wrapper runs the built-in in-process.
#[test]
fn hook_file_overrides_builtin_and_shipped_wrapper_runs_builtin() {
    let site = Site::new();
    let entry = support::script_entry("w1", "#!/bin/sh\necho from-script\n", json!([]), json!([]));
    site.write_list(&json!([entry]));
    site.install_hook("script", "hook-fake.py");
    assert!(site.deploy().status.success());
    assert!(site.hooks.join("script.stdin").exists(), "site hook ran");
    assert_eq!(site.signal_for("w1")[0]["deploy_stdout"], "stdout");

    let site = Site::new();
    std::fs::write(
        site.hooks.join("script"),
        common::hook_wrapper("script", "heat-agent"),
    )
    .unwrap();
    let entry = support::script_entry("w2", "#!/bin/sh\necho from-script\n", json!([]), json!([]));
    site.write_list(&json!([entry]));
    // the wrapper execs `heat-agent`, which is not on PATH here: it must not be executed
    let mut cmd = site.deploy_cmd(&[]);
    cmd.env("PATH", "/usr/bin:/bin");
    assert!(cmd.output().unwrap().status.success());
    assert_eq!(site.signal_for("w2")[0]["deploy_stdout"], "from-script\n");
}

/// The wrappers an image installs (the element, the packages, cloud-init) exec heat-agent by its
/// absolute path: they run the built-in in-process too, not as an external program.
#[test]
fn wrappers_as_images_install_them_run_in_process() {
    for agent in ["/usr/bin/heat-agent", "/usr/local/bin/heat-agent"] {
        let site = Site::new();
        // the element's and the packages' text before `heat-agent hook --wrapper`
        std::fs::write(
            site.hooks.join("script"),
            format!("#!/bin/sh\nexec {agent} hook script \"$@\"\n"),
        )
        .unwrap();
        let entry =
            support::script_entry("w3", "#!/bin/sh\necho in-process\n", json!([]), json!([]));
        site.write_list(&json!([entry]));
        // neither path exists here: run as a program, the wrapper would fail with 127
        let mut cmd = site.deploy_cmd(&[]);
        cmd.env("PATH", "/usr/bin:/bin");
        assert!(cmd.output().unwrap().status.success());
        assert_eq!(
            site.signal_for("w3")[0]["deploy_stdout"],
            "in-process\n",
            "{agent}"
        );
    }
}

#[test]
fn mark_deployed_all_and_rerun() {
    let site = fake_site();
    site.write_list(&json!([
        {"id": "m1", "group": "script", "inputs": [{"name": "v", "type": "String", "value": 1}]},
        {"id": "m2", "group": "os-apply-config", "inputs": []}
    ]));
    let out = site.deploy_cmd(&["--mark-deployed-all"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(read_json(&site.marker("m1"))["inputs"][0]["value"], "1");
    assert!(!site.marker("m2").exists());
    assert!(site.deploy().status.success());
    assert!(!site.hooks.join("script.stdin").exists());
    assert!(site.notifications().is_empty());

    let out = site.deploy_cmd(&["--rerun", "m1"]).output().unwrap();
    assert!(out.status.success());
    assert!(!site.marker("m1").exists());
    assert!(site.deploy().status.success());
    assert!(site.hooks.join("script.stdin").exists());
    assert_eq!(site.journal("m1").unwrap()["state"], "succeeded");
    let out = site.deploy_cmd(&["--rerun", "../x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Secrets (deploy_password, signal URLs) never appear in the runner's log.
#[test]
fn secrets_are_masked_in_logs() {
    let site = Site::new();
    let entry = support::script_entry(
        "sec1",
        "#!/bin/sh\necho \"pw=$deploy_password\" >&2; exit 3\n",
        json!([
            {"name": "deploy_password", "type": "String", "value": "z56*qBzbv^MvF1#64A"},
            {"name": "deploy_signal_id", "type": "String", "value": "http://127.0.0.1:1/v1/signal/x?Signature=sEcReTsIg"}
        ]),
        json!([]),
    );
    site.write_list(&json!([entry]));
    let out = site.deploy_cmd(&["--debug"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error running"), "{err}");
    assert!(!err.contains("z56*qBzbv^MvF1#64A"), "{err}");
    assert!(!err.contains("sEcReTsIg"), "{err}");
    // the signal itself carries the script's stderr unmasked (it goes to Heat, not to logs)
    assert!(site.signal_for("sec1")[0]["deploy_stderr"]
        .as_str()
        .unwrap()
        .contains("pw=z56"));
}

/// Without HEAT_CONFIG_NOTIFY the signal goes to the built-in outbox (persisted under the state
/// dir before any delivery attempt); the notify program is not run.
#[test]
fn default_notifier_is_the_outbox() {
    let mut site = Site::new();
    site.notify = None;
    site.write_list(&json!([support::script_entry(
        "ob1",
        "#!/bin/sh\ntrue\n",
        json!([]),
        json!([])
    )]));
    assert!(site.deploy().status.success());
    assert!(site.notifications().is_empty());
    assert!(site.state.join("outbox").is_dir());
    assert_eq!(
        read_json(&site.notify_file("ob1")),
        json!({"deploy_stdout": "", "deploy_stderr": "", "deploy_status_code": 0})
    );
    assert!(
        !site.state.join("journal/ob1.result").exists(),
        "kept result dropped once queued"
    );
}

/// HEAT_CONFIG_NOTIFY naming this very binary (the packaged `heat-config-notify` symlink, as the
/// benchmark sets it) is not exec'd: the in-process outbox takes the signal.
#[test]
fn notify_symlink_to_this_binary_uses_the_outbox_in_process() {
    let mut site = Site::new();
    let link = common::legacy(&site.root, "heat-config-notify");
    site.notify = Some(link.clone());
    site.write_list(&json!([support::script_entry(
        "ob2",
        "#!/bin/sh\ntrue\n",
        json!([]),
        json!([])
    )]));
    let out = site.deploy();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains(&format!("Running {}", link.display())),
        "{err}"
    );
    assert!(!err.contains("Error running"), "{err}");
    assert!(site.notify_file("ob2").exists());
    assert!(!site.state.join("journal/ob2.result").exists());
}

/// End to end with the built-in outbox: a CFN_SIGNAL deployment's result is POSTed to the
/// pre-signed URL (loopback), and the signal secret never reaches the log.
#[test]
fn cfn_signal_is_delivered_by_the_outbox() {
    let srv = common::Server::start(|_| common::Response::new(200, ""));
    let url =
        srv.url("/v1/signal/arn%3Aopenstack%3Aheat%3A%3Ax?Timestamp=1&Signature=c2VjcmV0c2ln");
    let mut site = Site::new();
    site.notify = None;
    let entry = support::script_entry(
        "cfn1",
        "#!/bin/sh\necho hi\nprintf out > \"$heat_outputs_path.result\"\n",
        json!([
            {"name": "deploy_signal_transport", "type": "String", "value": "CFN_SIGNAL"},
            {"name": "deploy_signal_id", "type": "String", "value": url},
            {"name": "deploy_signal_verb", "type": "String", "value": "POST"}
        ]),
        json!([{"name": "result"}]),
    );
    site.write_list(&json!([entry]));
    let out = site.deploy();
    assert!(out.status.success());
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].body_json(),
        json!({"result": "out", "deploy_stdout": "hi\n", "deploy_stderr": "", "deploy_status_code": 0})
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("c2VjcmV0c2ln"));
    // delivered once: a second run sends nothing
    assert!(site.deploy().status.success());
    assert_eq!(srv.requests().len(), 1);
}

/// A bad value in the TOML configuration gets one treatment everywhere (docs/configuration.md):
/// a one-line error naming the file and the key, and the command does nothing (`run` exits 78,
/// `deploy` and `notify` 1). `deploy` used to ignore the whole file, its state_dir included.
#[test]
fn a_bad_toml_value_stops_every_command_naming_file_and_key() {
    let site = Site::new();
    let conf_dir = site.root.join("etc-heat-agent");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("config.toml"),
        "[deploy]\nhook_timeout = \"soon\"\n",
    )
    .unwrap();
    let entry = support::script_entry("t1", "#!/bin/sh\necho ran\n", json!([]), json!([]));
    site.write_list(&json!([entry]));
    let want = "config.toml: key deploy.hook_timeout: expected a number, found string";

    let out = site
        .deploy_cmd(&[])
        .env("HEAT_AGENT_CONFIG_DIR", &conf_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(want), "{err}");
    assert!(!site.marker("t1").exists(), "nothing ran");
    assert!(site.notifications().is_empty());

    let cfg = site.root.join("t1.json");
    std::fs::write(&cfg, r#"{"id": "t1", "inputs": []}"#).unwrap();
    let out = std::process::Command::new(common::bin())
        .arg("notify")
        .arg(&cfg)
        .env("HEAT_AGENT_CONFIG_DIR", &conf_dir)
        .env("HEAT_AGENT_STATE_DIR", &site.state)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(want), "{err}");

    let out = std::process::Command::new(common::bin())
        .args(["run", "--one-time", "local"])
        .env("HEAT_AGENT_CONFIG_DIR", &conf_dir)
        .env("HEAT_AGENT_SYSCONFDIR", &site.root)
        .env("HEAT_AGENT_STATE_DIR", &site.state)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains(want), "{err}");
}

/// `deploy` takes state_dir from the TOML file (HEAT_AGENT_STATE_DIR unset).
#[test]
fn deploy_uses_the_toml_state_dir() {
    let site = Site::new();
    let conf_dir = site.root.join("etc-heat-agent");
    std::fs::create_dir_all(&conf_dir).unwrap();
    let state = site.root.join("toml-state");
    std::fs::write(
        conf_dir.join("config.toml"),
        format!("[deploy]\nstate_dir = {:?}\n", state.display().to_string()),
    )
    .unwrap();
    let entry = support::script_entry("t2", "#!/bin/sh\necho ran\n", json!([]), json!([]));
    site.write_list(&json!([entry]));
    let out = site
        .deploy_cmd(&[])
        .env("HEAT_AGENT_CONFIG_DIR", &conf_dir)
        .env_remove("HEAT_AGENT_STATE_DIR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(state.join("journal/t2.json").exists());
}
