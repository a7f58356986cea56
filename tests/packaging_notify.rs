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
