//! Faults around the runner: SIGKILL mid-hook (W1), hung hooks (W7), huge output (W8), a crash
//! between the journal and the outbox, and the interrupted re-run opt-in.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{read_json, Site};

/// Poll for a file (bounded; not a timing assertion).
fn wait_for(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn kill9(pid: i32) {
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status();
}

/// A script that counts its runs, records its pid, then hangs.
fn hanging_entry(site: &Site, id: &str) -> serde_json::Value {
    let runs = site.root.join("runs");
    let pidfile = site.root.join("script.pid");
    support::script_entry(
        id,
        &format!(
            "#!/bin/sh\necho run >> {}\necho $$ > {}.tmp && mv {}.tmp {}\nsleep 120\n",
            runs.display(),
            pidfile.display(),
            pidfile.display(),
            pidfile.display()
        ),
        json!([{"name": "deploy_action", "type": "String", "value": "CREATE"}]),
        json!([]),
    )
}

fn runs(site: &Site) -> usize {
    std::fs::read_to_string(site.root.join("runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// kill -9 of `heat-agent deploy` while its hook runs, then kill the orphaned script.
fn crash_mid_hook(site: &Site, id: &str) {
    site.write_list(&json!([hanging_entry(site, id)]));
    let mut child = site.deploy_cmd(&[]).spawn().unwrap();
    let pidfile = site.root.join("script.pid");
    wait_for(&pidfile);
    assert_eq!(site.journal(id).unwrap()["state"], "running");
    assert!(
        site.marker(id).exists(),
        "marker written before the hook, as the reference"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let script_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    kill9(script_pid);
    std::fs::remove_file(&pidfile).unwrap();
}

#[test]
fn killed_mid_hook_is_signalled_as_interrupted_on_restart() {
    let site = Site::new();
    crash_mid_hook(&site, "k9");
    assert!(site.notifications().is_empty());
    assert_eq!(runs(&site), 1);

    // restart: the interrupted deployment is reported as failed, not run again
    let out = site.deploy();
    assert!(out.status.success());
    let j = site.journal("k9").unwrap();
    assert_eq!(j["state"], "interrupted");
    assert!(j["error"].as_str().unwrap().starts_with("interrupted:"));
    assert_eq!(j["exit_code"], 125);
    let s = site.signal_for("k9");
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0]["deploy_status_code"], 125);
    assert!(s[0]["deploy_stderr"]
        .as_str()
        .unwrap()
        .starts_with("interrupted:"));
    assert_eq!(runs(&site), 1, "not re-run");
    assert_eq!(
        read_json(&site.notify_file("k9"))["deploy_status_code"],
        125
    );

    // and only once
    assert!(site.deploy().status.success());
    assert_eq!(site.signal_for("k9").len(), 1);
}

#[test]
fn killed_mid_hook_is_rerun_when_asked() {
    let site = Site::new();
    crash_mid_hook(&site, "k9r");
    // the re-run hangs too: give it a short timeout through the per-deployment input
    let mut entry = hanging_entry(&site, "k9r");
    entry["inputs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "deploy_timeout", "type": "Number", "value": 1}));
    site.write_list(&json!([entry]));
    let out = site.deploy_cmd(&["--rerun-interrupted"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(runs(&site), 2, "re-run");
    let s = site.signal_for("k9r");
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0]["deploy_status_code"], 124,
        "the re-run timed out: {s:#?}"
    );
}

#[test]
fn hung_hook_times_out_and_its_process_tree_is_killed() {
    let site = Site::new();
    let grandchild = site.root.join("grandchild.pid");
    let entry = support::script_entry(
        "hang1",
        &format!(
            "#!/bin/sh\necho before\n(trap '' TERM; echo $$ > /dev/null; sh -c 'echo $$ > {g}; exec sleep 120') &\nsleep 120\n",
            g = grandchild.display()
        ),
        json!([{"name": "deploy_timeout", "type": "String", "value": "1"}]),
        json!([]),
    );
    // an external hook that hangs as well (the whole hook, not only a tool)
    site.write_hook("hangs", "#!/bin/sh\ncat >/dev/null\nsleep 120\n");
    site.write_list(&json!([
        entry,
        {"id": "hang2", "group": "hangs", "inputs": []},
        support::script_entry("after", "#!/bin/sh\necho later\n", json!([]), json!([]))
    ]));
    let mut cmd = site.deploy_cmd(&["--hook-timeout", "1"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    let s = &site.signal_for("hang1")[0];
    assert_eq!(s["deploy_status_code"], 124);
    assert_eq!(s["deploy_stdout"], "before\n");
    assert!(
        s["deploy_stderr"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{s}"
    );
    let gpid: i32 = std::fs::read_to_string(&grandchild)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pid_alive(gpid), "grandchild {gpid} survived the timeout");
    let s = &site.signal_for("hang2")[0];
    assert_eq!(s["deploy_status_code"], 124);
    assert!(
        s["deploy_stderr"].as_str().unwrap().contains("timed out"),
        "{s}"
    );
    let j = site.journal("hang2").unwrap();
    assert_eq!(j["state"], "failed");
    assert!(
        j["error"].as_str().unwrap().contains("timed out after 1s"),
        "{j}"
    );
    let j = site.journal("hang1").unwrap();
    assert!(
        j["error"].as_str().unwrap().contains("timed out after 1s"),
        "{j}"
    );
    // the deployments after the hung ones still ran
    assert_eq!(site.signal_for("after")[0]["deploy_stdout"], "later\n");
}

#[test]
fn five_megabytes_of_stdout_are_bounded_and_still_signalled() {
    let site = Site::new();
    let big = "#!/bin/sh\nhead -c 5000000 /dev/zero | tr '\\0' x\necho END\n";
    site.write_hook(
        "loud",
        "#!/bin/sh\ncat >/dev/null\nhead -c 5000000 /dev/zero | tr '\\0' y\necho END\nexit 2\n",
    );
    site.write_list(&json!([
        support::script_entry("big1", big, json!([]), json!([])),
        {"id": "big2", "group": "loud", "inputs": []}
    ]));
    assert!(site.deploy().status.success());
    for (id, code) in [("big1", 0), ("big2", 2)] {
        let s = &site.signal_for(id)[0];
        assert_eq!(s["deploy_status_code"], code);
        let out = s["deploy_stdout"].as_str().unwrap();
        assert!(out.len() <= (1 << 20) + 100, "{id}: {} bytes", out.len());
        assert!(out.len() >= 1 << 19);
        assert!(out.starts_with("[heat-agent: "), "{id}: {}", &out[..60]);
        assert!(out.ends_with("END\n"));
        assert_eq!(site.journal(id).unwrap()["exit_code"], code);
    }
}

/// A crash after the journal recorded the result but before the signal was queued: the next
/// start queues the kept result (exactly once).
#[test]
fn result_kept_but_not_queued_is_queued_on_restart() {
    let site = Site::new();
    let entry = support::script_entry("kept1", "#!/bin/sh\necho hi\n", json!([]), json!([]));
    site.write_list(&json!([entry.clone()]));
    std::fs::create_dir_all(&site.deployed).unwrap();
    std::fs::write(
        site.marker("kept1"),
        serde_json::to_string_pretty(&entry).unwrap(),
    )
    .unwrap();
    let journal = site.state.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    std::fs::write(
        journal.join("kept1.json"),
        json!({"id": "kept1", "name": "config-kept1", "group": "script", "action": null,
               "state": "succeeded", "started_at": 1.0, "finished_at": 2.0, "exit_code": 0,
               "duration": 1.0, "error": null})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        journal.join("kept1.result"),
        r#"{"deploy_stdout": "hi\n", "deploy_stderr": "", "deploy_status_code": 0}"#,
    )
    .unwrap();
    assert!(site.deploy().status.success());
    let s = site.signal_for("kept1");
    assert_eq!(
        s,
        vec![json!({"deploy_stdout": "hi\n", "deploy_stderr": "", "deploy_status_code": 0})]
    );
    assert!(!journal.join("kept1.result").exists());
    assert!(
        !site.root.join("script-working/kept1").exists(),
        "not run again"
    );
    assert!(site.deploy().status.success());
    assert_eq!(site.signal_for("kept1").len(), 1);
}

/// Power-loss shapes: the `running` record survived but the finished record did not.
/// With the kept result present the deployment counts as finished (its real result is sent);
/// without it and without its marker, it is reported interrupted and not run again.
#[test]
fn running_record_after_power_loss_is_resolved_without_rerun() {
    let site = Site::new();
    let a = support::script_entry(
        "pl-done",
        "#!/bin/sh\necho ran >> ran\n",
        json!([]),
        json!([]),
    );
    let b = support::script_entry(
        "pl-lost",
        "#!/bin/sh\necho ran >> ran\n",
        json!([]),
        json!([]),
    );
    site.write_list(&json!([a, b]));
    let journal = site.state.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    std::fs::create_dir_all(&site.deployed).unwrap();
    for id in ["pl-done", "pl-lost"] {
        std::fs::write(
            journal.join(format!("{id}.json")),
            json!({"id": id, "name": null, "group": "script", "action": null, "state": "running",
                   "started_at": 1.0, "finished_at": null, "exit_code": null, "duration": null, "error": null})
            .to_string(),
        )
        .unwrap();
    }
    std::fs::write(
        journal.join("pl-done.result"),
        r#"{"deploy_status_code": 0, "deploy_stdout": "ok"}"#,
    )
    .unwrap();
    assert!(site.deploy().status.success());
    assert_eq!(
        site.signal_for("pl-done"),
        vec![json!({"deploy_status_code": 0, "deploy_stdout": "ok"})]
    );
    assert_eq!(site.journal("pl-done").unwrap()["state"], "succeeded");
    assert_eq!(site.signal_for("pl-lost")[0]["deploy_status_code"], 125);
    assert_eq!(site.journal("pl-lost").unwrap()["state"], "interrupted");
    assert!(site.marker("pl-lost").exists() && site.marker("pl-done").exists());
    assert!(
        !site.root.join("script-working/ran").exists(),
        "nothing ran again"
    );
    assert_eq!(site.notifications().len(), 2);
}
