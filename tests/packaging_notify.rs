//! `heat-agent run` under a systemd-like supervisor: the test binds the NOTIFY_SOCKET itself
//! and asserts the messages the unit (Type=notify, WatchdogSec=, ExecReload=) relies on.
mod common;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Reads notifications until one carries `want` (each datagram may hold several lines);
/// returns every line seen on the way.
fn until(sock: &UnixDatagram, child: &mut Child, want: &str, seen: &mut BTreeSet<String>) {
    let mut buf = vec![0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let mut found = false;
                for line in msg.lines() {
                    found |= line == want || (want.ends_with('=') && line.starts_with(want));
                    seen.insert(line.to_string());
                }
                if found {
                    return;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("waiting for {want}: {e}; seen so far: {seen:?}");
            }
        }
    }
}

#[test]
fn run_reports_ready_status_watchdog_reload_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let socket = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&socket).unwrap();
    // generous: a missing message fails the test, it is not a timing assertion
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    let local = dir.join("local-data");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("data.json"), r#"{"greeting": "hello"}"#).unwrap();
    let conf = dir.join("os-collect-config.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ncommand = true\ncollectors = local\ncachedir = {0}/cache\n\
             backup_cachedir = {0}/backup\npolling_interval = 1\n\n[local]\npath = {1}\n",
            dir.display(),
            local.display()
        ),
    )
    .unwrap();

    // WATCHDOG_PID is left unset: the child's pid is unknown before spawn, and an absent
    // WATCHDOG_PID means the watchdog belongs to the process that reads it (sd_watchdog_enabled)
    let mut child = Command::new(common::bin())
        .args(["run", "--config-file"])
        .arg(&conf)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut seen = BTreeSet::new();

    until(&sock, &mut child, "READY=1", &mut seen);
    until(&sock, &mut child, "STATUS=", &mut seen);
    until(&sock, &mut child, "WATCHDOG=1", &mut seen);

    // ExecReload=kill -HUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 once reloaded
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    until(&sock, &mut child, "RELOADING=1", &mut seen);
    assert!(
        seen.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{seen:?}"
    );
    until(&sock, &mut child, "READY=1", &mut seen);

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    until(&sock, &mut child, "STOPPING=1", &mut seen);
    let status = child.wait().unwrap();
    assert!(status.success(), "a stop request is a clean exit: {status}");
}

/// With unreachable Keystone endpoints (a black hole: connections are accepted by the kernel
/// and never answered) and the default timeouts, heat plus zaqar took about 245 s per cycle,
/// with no watchdog ping meanwhile: systemd (WatchdogSec=180) would have killed a healthy
/// agent. Now the watchdog is fed during collection and the collection is cut at 3/4 of the
/// watchdog interval. The test is the watchdog: it fails when no ping arrives within
/// WATCHDOG_USEC.
#[test]
fn the_watchdog_is_fed_while_collectors_wait_on_a_black_hole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let auth_url = format!("http://{}/v3", black_hole.local_addr().unwrap());
    let socket = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let watchdog = Duration::from_secs(4);
    sock.set_read_timeout(Some(watchdog)).unwrap();
    let conf = dir.join("os-collect-config.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ncommand = true\ncollectors = heat\ncollectors = zaqar\ncachedir = {0}/cache\n\
             backup_cachedir = {0}/backup\npolling_interval = 600\n\n\
             [heat]\nauth_url = {1}\nuser_id = u\npassword = secret-pw\nproject_id = p\n\
             stack_id = s/1\nresource_name = server\n\n\
             [zaqar]\nauth_url = {1}\nuser_id = u\npassword = secret-pw\nproject_id = p\n\
             queue_id = q\n",
            dir.display(),
            auth_url
        ),
    )
    .unwrap();
    let mut child = Command::new(common::bin())
        .args(["run", "--config-file"])
        .arg(&conf)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
        .env_remove("WATCHDOG_PID")
        .env("HEAT_AGENT_STATE_DIR", dir.join("state"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut pings = 0;
    let status = loop {
        // a read timeout here is what systemd's watchdog would have acted on
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "no notification within WATCHDOG_USEC after {pings} pings ({e}): systemd \
                     would kill the agent\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        pings += msg.lines().filter(|l| *l == "WATCHDOG=1").count();
        if let Some(status) = msg.lines().find_map(|l| l.strip_prefix("STATUS=")) {
            break status.to_string();
        }
    };
    // the cycle completed: both sources counted as unavailable
    assert!(
        status.contains("heat: unavailable") && status.contains("zaqar: unavailable"),
        "{status}"
    );
    assert!(pings >= 2, "{pings} pings");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("time limit of this poll cycle was reached"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-pw"), "{stderr}");
}
