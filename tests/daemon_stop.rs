//! Issue 11, daemon side: `heat-agent run` keeps polling while a signal endpoint does not
//! answer, and a stop (systemd's SIGTERM) lets a running deployment record its result.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::Site;

/// A loopback endpoint that accepts connections and never answers.
fn black_hole() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    addr
}

/// An os-collect-config.conf for `run`: the local collector, `command`, polling every second.
fn daemon_conf(site: &Site, command: &str) -> PathBuf {
    let local = site.root.join("local-data");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("data.json"), r#"{"greeting": "hello"}"#).unwrap();
    let conf = site.root.join("os-collect-config.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ncommand = {command}\ncollectors = local\ncachedir = {0}/cache\n\
             backup_cachedir = {0}/backup\npolling_interval = 1\nmin_polling_interval = 1\n\n\
             [local]\npath = {1}\n",
            site.root.display(),
            local.display()
        ),
    )
    .unwrap();
    conf
}

fn spawn_daemon(site: &Site, conf: &Path, log: &Path) -> Child {
    let mut cmd = Command::new(common::bin());
    // --debug: the tests count polls by the "Sleeping" line, which is debug (issue 14)
    cmd.args(["run", "--debug", "--config-file"]).arg(conf);
    site.env(&mut cmd);
    cmd.env(
        "HEAT_AGENT_CONFIG_DIR",
        site.root.join("no-config").display().to_string(),
    )
    .env_remove("NOTIFY_SOCKET")
    .env_remove("WATCHDOG_USEC")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(log).unwrap());
    cmd.spawn().unwrap()
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

/// Waits for the child up to `limit`; kills it and returns None when it is still running.
fn wait_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: i32) -> bool {
    // a zombie is gone for our purpose
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Issue 11: the daemon's own outbox delivery made one synchronous attempt per queued signal,
/// each up to the 60 s HTTP timeout, so an endpoint that accepts but never answers stalled
/// polling (and StatusText, reload) for a minute per record. Polls go on on schedule now, and a
/// SIGTERM still stops the daemon at once.
#[test]
fn hung_signal_endpoint_does_not_stall_the_daemon_loop() {
    let hole = black_hole();
    let mut site = Site::new();
    site.notify = None; // the built-in outbox
    site.extra_env.push((
        "HEAT_AGENT_CONFIG_DIR".into(),
        site.root.join("no-config").display().to_string(),
    ));
    // queue a signal for the black hole: the deploy run gives up waiting and leaves it queued
    site.write_list(&json!([support::script_entry(
        "queued",
        "#!/bin/sh\necho ok\n",
        json!([
            {"name": "deploy_signal_transport", "value": "CFN_SIGNAL"},
            {"name": "deploy_signal_id", "value": format!("http://{hole}/signal")}
        ]),
        json!([])
    )]));
    assert!(site.deploy().status.success());
    let record = site.state.join("outbox/queued.json");
    assert_eq!(support::read_json(&record)["state"], "queued");

    let conf = daemon_conf(&site, "true");
    let log = site.root.join("daemon.log");
    let mut child = spawn_daemon(&site, &conf, &log);
    // polling every second: several polls in 12 s, however long the endpoint keeps us waiting
    std::thread::sleep(Duration::from_secs(12));
    let text = std::fs::read_to_string(&log).unwrap();
    let polls = text.matches("Sleeping").count();
    sigterm(&child);
    let status = wait_within(&mut child, Duration::from_secs(5));
    assert!(
        polls >= 4,
        "the daemon kept polling while a signal was in flight ({polls} polls):\n{text}"
    );
    let status = status.expect("SIGTERM stops the daemon promptly");
    assert!(status.success(), "{status}");
    // nothing lost: the signal is still queued for a later attempt
    assert_eq!(support::read_json(&record)["state"], "queued");
}

/// Issue 14: an idle daemon at the default level writes no line per poll cycle (it used to log
/// "Sleeping N seconds." every cycle, about 2,900 lines a day at the default interval).
#[test]
fn idle_daemon_writes_nothing_per_cycle_at_the_default_level() {
    let site = Site::new();
    let conf = daemon_conf(&site, "true");
    let log = site.root.join("daemon.log");
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "--config-file"]).arg(&conf);
    site.env(&mut cmd);
    cmd.env(
        "HEAT_AGENT_CONFIG_DIR",
        site.root.join("no-config").display().to_string(),
    )
    .env_remove("NOTIFY_SOCKET")
    .env_remove("WATCHDOG_USEC")
    .env_remove("HEAT_AGENT_LOG_LEVEL")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    // the first cycle runs the command once; then it polls every second with nothing new
    let settled = |text: &str| text.contains("Executing");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !settled(&std::fs::read_to_string(&log).unwrap_or_default()) {
        assert!(Instant::now() < deadline, "the first cycle never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let before = std::fs::read_to_string(&log).unwrap();
    // several idle cycles (polling every second, backoff capped at 1 s)
    std::thread::sleep(Duration::from_secs(5));
    let after = std::fs::read_to_string(&log).unwrap();
    sigterm(&child);
    let status = wait_within(&mut child, Duration::from_secs(5));
    assert!(status.expect("SIGTERM stops the daemon").success());
    assert_eq!(
        after[before.len()..].lines().collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "idle cycles wrote lines at the default level; whole log:\n{after}"
    );
}

/// Issue 11: a stopping daemon gave its refresh command only 500 ms between SIGTERM and
/// SIGKILL, so the deploy run inside it was killed before it recorded its deployment (and its
/// hook was left running). Now the deploy run stops its hook, records the deployment as
/// interrupted (status 125) and signals it before the daemon exits.
#[test]
fn stopping_the_daemon_lets_the_running_deployment_record_its_result() {
    stop_records_the_running_deployment(|_| format!("{} deploy", common::bin().display()));
}

/// The same through the chain an image really runs: the daemon's command is os-refresh-config,
/// whose configure.d/55-heat-config runs the deploy run, which runs the hook. Each level stops
/// its own child with a grace long enough for the level below, so the deploy run gets one
/// SIGTERM (a second one means "exit now") and time to record the deployment.
#[test]
fn stopping_the_daemon_through_os_refresh_config_records_the_deployment() {
    stop_records_the_running_deployment(|site| {
        let base = site.root.join("orc");
        let script = base.join("configure.d/55-heat-config");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(
            &script,
            format!("#!/bin/sh\nexec {} deploy\n", common::bin().display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!(
            "env OS_REFRESH_CONFIG_BASE_DIR={} {} refresh --lockfile {}",
            base.display(),
            common::bin().display(),
            site.root.join("orc.lock").display()
        )
    });
}

fn stop_records_the_running_deployment(command: impl Fn(&Site) -> String) {
    let site = Site::new();
    let pidfile = site.root.join("hook.pid");
    let termfile = site.root.join("hook.term");
    // the hook needs a moment to clean up after SIGTERM, as real ones do
    site.write_list(&json!([support::script_entry(
        "long",
        &format!(
            "#!/bin/sh\ntrap 'sleep 2; echo term > {t}; exit 7' TERM\n\
             echo $$ > {p}.tmp && mv {p}.tmp {p}\nsleep 120 &\nwait\n",
            t = termfile.display(),
            p = pidfile.display()
        ),
        json!([]),
        json!([])
    )]));
    let conf = daemon_conf(&site, &command(&site));
    let log = site.root.join("daemon.log");
    let mut child = spawn_daemon(&site, &conf, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pidfile.exists() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the hook never started:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let hook_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    sigterm(&child);
    // the refresh grace (15 s) bounds the stop, well under the unit's TimeoutStopSec (90 s)
    let status = wait_within(&mut child, Duration::from_secs(30));
    let hook_alive = pid_alive(hook_pid);
    if hook_alive {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(hook_pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("the daemon did not stop in time:\n{text}"));
    assert!(status.success(), "{status}\n{text}");
    assert!(!hook_alive, "the hook was not left running:\n{text}");
    assert!(termfile.exists(), "the hook got SIGTERM first:\n{text}");
    let j = site.journal("long");
    assert_eq!(
        j.as_ref().map(|j| j["state"].clone()),
        Some(json!("interrupted")),
        "recorded at once, not at the next start: {j:#?}\n{text}"
    );
    let s = site.signal_for("long");
    assert_eq!(s.len(), 1, "signalled at once: {s:#?}\n{text}");
    assert_eq!(s[0]["deploy_status_code"], 125);
}
