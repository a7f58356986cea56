//! Heat's `user_data_format: SOFTWARE_CONFIG` bootstrap, end to end through the real binary under
//! its legacy names: cloud-init left `cfn-init-data` (heat_local) and a minimal
//! `/etc/os-collect-config.conf`; the first refresh renders the real collector configuration from
//! the shipped template (elements/heat-agent/os-apply-config), the agent re-executes itself with
//! it, polls the metadata URL Heat configured, runs the `script` deployment found there, and the
//! signal reaches the (loopback) signal URL.

mod common;

use common::{Response, Server};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn script(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn software_config_bootstrap_reaches_heat_polling_and_signals() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let guest = r.join("root");
    let signals: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let metadata: Arc<Mutex<Value>> = Arc::new(Mutex::new(json!({})));
    let (s2, m2) = (signals.clone(), metadata.clone());
    let server = Server::start(move |req| match (req.method.as_str(), req.path()) {
        ("GET", "/meta.json") => Response::json(200, &m2.lock().unwrap()),
        ("POST", "/signal") => {
            s2.lock().unwrap().push(req.body_json());
            Response::new(200, "")
        }
        _ => Response::new(404, "no"),
    });
    // Heat's view of the server (resource metadata): the collector section it wrote for
    // POLL_TEMP_URL (`collectors`, `request.metadata_url`, plus the template's own keys, here
    // `command`), and the deployments.
    let lock = r.join("refresh.lock");
    let occ_section = json!({
        "command": format!("os-refresh-config --lockfile {}", lock.display()),
        "collectors": ["request", "local"], "polling_interval": 1,
        "request": {"metadata_url": server.url("/meta.json")}
    });
    *metadata.lock().unwrap() = json!({
        "os-collect-config": occ_section.clone(),
        "deployments": [{
            "id": "0c0ffee0-0000-4000-8000-000000000001", "name": "bootstrap", "group": "script",
            "creation_time": "2026-11-23T05:00:00Z", "options": {},
            "config": "#!/bin/sh\necho deployed\nprintf polled > \"$heat_outputs_path.result\"\n",
            "inputs": [
                {"name": "deploy_action", "type": "String", "value": "CREATE"},
                {"name": "deploy_signal_id", "type": "String", "value": server.url("/signal")},
                {"name": "deploy_signal_verb", "type": "String", "value": "POST"}
            ],
            "outputs": [{"name": "result", "type": "String", "error_output": false}]
        }]
    });

    // What cloud-init leaves behind: cfn-init-data = the server's metadata at create time (the
    // same collector section, no deployments yet), and the image's bootstrap config.
    fs::write(
        r.join("cfn-init-data"),
        json!({"os-collect-config": occ_section, "deployments": []}).to_string(),
    )
    .unwrap();
    let conf = guest.join("etc/os-collect-config.conf");
    fs::create_dir_all(conf.parent().unwrap()).unwrap();
    fs::write(
        &conf,
        format!(
            "[DEFAULT]\ncommand = os-refresh-config --lockfile {}\ncollectors = heat_local\n",
            lock.display()
        ),
    )
    .unwrap();
    let local = r.join("local-data");
    fs::create_dir(&local).unwrap();
    fs::set_permissions(&local, fs::Permissions::from_mode(0o700)).unwrap();

    // The image: our templates and phase shims, the legacy names on PATH.
    let templates = r.join("templates");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("elements/heat-agent/os-apply-config"),
        &templates,
    );
    let bin = r.join("bin");
    fs::create_dir(&bin).unwrap();
    for name in [
        "heat-agent",
        "os-collect-config",
        "os-apply-config",
        "os-refresh-config",
    ] {
        common::legacy(&bin, name);
    }
    let orc = r.join("orc");
    script(
        &orc.join("configure.d/20-os-apply-config"),
        "#!/bin/sh\nexec heat-agent apply -o \"$GUEST_ROOT\"\n",
    );
    script(
        &orc.join("configure.d/55-heat-config"),
        "#!/bin/sh\nexec heat-agent deploy\n",
    );

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new(bin.join("os-collect-config"))
        .args(["--config-file".as_ref(), conf.as_os_str()])
        .args(["--cachedir".as_ref(), r.join("cache").as_os_str()])
        .args([
            "--backup-cachedir".as_ref(),
            r.join("cache-backup").as_os_str(),
        ])
        .args([
            "--heat_local-path".as_ref(),
            r.join("cfn-init-data").as_os_str(),
        ])
        .args(["--local-path".as_ref(), local.as_os_str()])
        .args(["--min-polling-interval", "0.2", "--debug"])
        .env("PATH", path)
        .env("HOME", r)
        .env("HEAT_AGENT_SYSCONFDIR", r.join("etc"))
        .env("HEAT_AGENT_CONFIG_DIR", r.join("etc/heat-agent"))
        .env("GUEST_ROOT", &guest)
        .env("OS_REFRESH_CONFIG_BASE_DIR", &orc)
        .env("OS_CONFIG_APPLIER_TEMPLATES", &templates)
        .env(
            "HEAT_SHELL_CONFIG",
            guest.join("var/run/heat-config/heat-config"),
        )
        .env("HEAT_CONFIG_DEPLOYED", r.join("deployed"))
        .env("HEAT_CONFIG_DEPLOYED_OLD", r.join("deployed-old"))
        .env("HEAT_CONFIG_HOOKS", r.join("hooks"))
        .env("HEAT_SCRIPT_WORKING", r.join("script-work"))
        .env("HEAT_SCRIPT_OUTPUTS", r.join("script-out"))
        .env("HEAT_AGENT_STATE_DIR", r.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let start = Instant::now();
    while signals.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "agent exited {status}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let got = signals.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one signal expected; agent log:\n{log}");
    assert_eq!(got[0]["deploy_status_code"], json!(0), "{}", got[0]);
    assert_eq!(got[0]["result"], json!("polled"));
    assert_eq!(got[0]["deploy_stdout"], json!("deployed\n"));

    // The collector configuration Heat asked for was rendered (0600, it holds credentials)
    // and is what the agent now runs with: it polled the metadata URL.
    let rendered = fs::read_to_string(&conf).unwrap();
    assert!(rendered.contains("collectors = request"), "{rendered}");
    assert!(
        rendered.contains(&format!("metadata_url = {}", server.url("/meta.json"))),
        "{rendered}"
    );
    assert_eq!(
        fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(r.join("cache/request.json").exists());
    assert!(server.requests().iter().any(|q| q.path() == "/meta.json"));
}
