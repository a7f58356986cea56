//! Defects found by hostile testing (issue 11), deploy side: a full state dir (a standalone run
//! and the daemon), signals to a standalone run, hooks leaving background children, hung
//! signal endpoints, odd ids, big output files and secrets in hook output.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use common::{Response, Server};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::Site;

fn status(site: &Site) -> std::process::Output {
    Command::new(common::bin())
        .arg("status")
        .arg("--state-dir")
        .arg(&site.state)
        .output()
        .unwrap()
}

fn signal_inputs(url: &str) -> serde_json::Value {
    json!([
        {"name": "deploy_signal_transport", "type": "String", "value": "CFN_SIGNAL"},
        {"name": "deploy_signal_id", "type": "String", "value": url},
        {"name": "deploy_signal_verb", "type": "String", "value": "POST"}
    ])
}

/// Issue 11 (high): a 200 KB state dir with 190 KB used. The hook runs, but neither its kept
/// result nor the outbox record fits. The result must not be marked finished, the run and
/// `status` must say so, and once there is space the next run signals the hook's real result.
#[test]
fn result_that_cannot_be_saved_is_never_marked_finished_and_is_signalled_later() {
    let srv = Server::start(|_| Response::new(200, ""));
    let mut site = Site::new();
    site.notify = None;
    let Some(_mount) = common::mount_tmpfs(&site.state, "200k") else {
        return;
    };
    let filler = site.state.join("filler");
    std::fs::write(&filler, vec![b'x'; 190 * 1024]).unwrap();
    // 40 KB of stdout: the result does not fit in what is left, a journal record does
    site.write_list(&json!([support::script_entry(
        "full1",
        "#!/bin/sh\nhead -c 40000 /dev/zero | tr '\\0' o\necho\necho done >&2\n",
        signal_inputs(&srv.url("/signal/full1")),
        json!([])
    )]));
    let out = site.deploy();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the run reports the loss");
    assert!(log.contains("could not be saved"), "{log}");
    assert!(srv.requests().is_empty());
    let j = site.journal("full1").expect("running record");
    assert_eq!(j["state"], "running", "never marked finished: {j:#}");
    let st = status(&site);
    let st_out = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(1), "{st_out}");
    assert!(st_out.contains("full1"), "{st_out}");
    assert!(st_out.contains("not saved"), "{st_out}");

    // space freed: the next run signals the hook's own result, once
    std::fs::remove_file(&filler).unwrap();
    let out = site.deploy();
    assert!(out.status.success());
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let body = reqs[0].body_json();
    assert_eq!(body["deploy_status_code"], 0, "{body:#}");
    assert_eq!(body["deploy_stderr"], "done\n");
    assert_eq!(body["deploy_stdout"].as_str().unwrap().len(), 40001);
    assert_eq!(site.journal("full1").unwrap()["state"], "succeeded");
    assert_eq!(status(&site).status.code(), Some(0));
    assert!(site.deploy().status.success());
    assert_eq!(srv.requests().len(), 1, "signalled once");
}

/// An os-collect-config.conf for `heat-agent run`: the local collector (one document that
/// never changes), `command`, polling every second.
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

/// Polls `done` every 50 ms for up to `limit`; whether it came true.
fn within(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    true
}

/// The daemon stopped by SIGTERM on drop, should an assertion fail first.
struct Daemon(std::process::Child);

impl Daemon {
    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let exited = within(std::time::Duration::from_secs(10), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = self.0.kill();
        }
        self.0.wait().ok().filter(|_| exited)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// The same full state dir under the daemon (`heat-agent run`, command `heat-agent deploy`):
/// the hook runs once, its result is not marked finished and `status` says so; the deploy run
/// fails, so the daemon keeps the change pending and runs it again on its next cycles. Once
/// there is space, one of those cycles signals the hook's real result, once.
#[test]
fn daemon_signals_a_result_that_could_not_be_saved_once_there_is_space() {
    let srv = Server::start(|_| Response::new(200, ""));
    let mut site = Site::new();
    site.notify = None;
    let Some(_mount) = common::mount_tmpfs(&site.state, "200k") else {
        return;
    };
    let filler = site.state.join("filler");
    std::fs::write(&filler, vec![b'x'; 190 * 1024]).unwrap();
    let runs = site.root.join("runs");
    site.write_list(&json!([support::script_entry(
        "full2",
        &format!(
            "#!/bin/sh\necho run >> {}\nhead -c 40000 /dev/zero | tr '\\0' o\necho\necho done >&2\n",
            runs.display()
        ),
        signal_inputs(&srv.url("/signal/full2")),
        json!([])
    )]));
    let conf = daemon_conf(&site, &format!("{} deploy", common::bin().display()));
    let log = site.root.join("daemon.log");
    let mut cmd = Command::new(common::bin());
    cmd.args(["run", "--debug", "--config-file"]).arg(&conf);
    site.env(&mut cmd);
    cmd.env("HEAT_AGENT_CONFIG_DIR", site.root.join("no-config"))
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut daemon = Daemon(cmd.spawn().unwrap());
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let secs = std::time::Duration::from_secs;

    // the first cycle runs the hook and cannot save its result; later cycles run the command
    // again (the change stays pending) and fail the same way
    assert!(
        within(secs(30), || log_text()
            .matches("could not be saved")
            .count()
            >= 2),
        "no failing cycle after the first:\n{}",
        log_text()
    );
    assert!(srv.requests().is_empty(), "{:#?}", srv.requests());
    let j = site.journal("full2").expect("running record");
    assert_eq!(j["state"], "running", "never marked finished: {j:#}");
    let st = status(&site);
    let st_out = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(1), "{st_out}");
    assert!(st_out.contains("full2"), "{st_out}");
    assert!(st_out.contains("not saved"), "{st_out}");

    // space freed: a later cycle signals the hook's own result
    std::fs::remove_file(&filler).unwrap();
    assert!(
        within(secs(30), || !srv.requests().is_empty()),
        "never signalled:\n{}",
        log_text()
    );
    assert!(
        within(secs(10), || status(&site).status.code() == Some(0)),
        "status still reports a problem:\n{}",
        String::from_utf8_lossy(&status(&site).stdout)
    );
    // a few more cycles: nothing new is signalled or run
    std::thread::sleep(secs(3));
    let exit = daemon.stop();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1, "signalled once: {reqs:#?}");
    let body = reqs[0].body_json();
    assert_eq!(body["deploy_status_code"], 0, "{body:#}");
    assert_eq!(body["deploy_stderr"], "done\n");
    assert_eq!(body["deploy_stdout"].as_str().unwrap().len(), 40001);
    assert_eq!(site.journal("full2").unwrap()["state"], "succeeded");
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap(),
        "run\n",
        "the hook ran once"
    );
    assert!(exit.expect("SIGTERM stops the daemon").success());
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
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// Issue 11: `nohup mydaemon &` in a script deployment. The background process keeps the
/// hook's stdout and stderr open; the deployment still ends when the script exits (its status
/// is signalled, no timeout) and the background process is left running.
#[test]
fn background_child_holding_the_output_does_not_hold_the_deployment() {
    let site = Site::new();
    let pidfile = site.root.join("bg.pid");
    site.write_list(&json!([support::script_entry(
        "bg1",
        &format!(
            "#!/bin/sh\necho started\nsleep 60 &\necho $! > {}\necho to-stderr >&2\nexit 3\n",
            pidfile.display()
        ),
        json!([]),
        json!([])
    )]));
    let out = site.deploy_cmd(&["--hook-timeout", "5"]).output().unwrap();
    let bg: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = pid_alive(bg);
    kill9(bg);
    assert!(out.status.success());
    let s = site.signal_for("bg1");
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(
        s[0]["deploy_status_code"], 3,
        "the script's own status, not a timeout: {s:#?}"
    );
    assert_eq!(s[0]["deploy_stdout"], "started\n");
    assert_eq!(s[0]["deploy_stderr"], "to-stderr\n");
    assert!(alive, "the background process is left running");
}

/// The same for an external hook program (not the built-in script hook).
#[test]
fn external_hook_leaving_a_background_child_ends_with_its_own_status() {
    let site = Site::new();
    let pidfile = site.root.join("bg.pid");
    site.write_hook("bghook", &format!(
            "#!/bin/sh\ncat >/dev/null\nsleep 60 &\necho $! > {}\necho '{{\"deploy_status_code\": 0, \"deploy_stdout\": \"ok\"}}'\n",
            pidfile.display()
        ));
    let mut entry = support::script_entry("bg2", "", json!([]), json!([]));
    entry["group"] = json!("bghook");
    site.write_list(&json!([entry]));
    let out = site.deploy_cmd(&["--hook-timeout", "5"]).output().unwrap();
    let bg: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let alive = pid_alive(bg);
    kill9(bg);
    assert!(out.status.success());
    let s = site.signal_for("bg2");
    assert_eq!(s.len(), 1, "{s:#?}");
    assert_eq!(s[0]["deploy_status_code"], 0, "{s:#?}");
    assert_eq!(s[0]["deploy_stdout"], "ok");
    assert!(alive, "the background process is left running");
}

/// A TCP endpoint that accepts connections and never answers, until `heal` is called: from
/// then on it answers every new request with 200. Counts the requests answered.
struct HungEndpoint {
    addr: std::net::SocketAddr,
    healed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HungEndpoint {
    fn start() -> HungEndpoint {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ep = HungEndpoint {
            addr,
            healed: Default::default(),
            held: Default::default(),
            answered: Default::default(),
        };
        let (healed, held, answered) = (ep.healed.clone(), ep.held.clone(), ep.answered.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if !healed.load(Ordering::SeqCst) {
                    held.lock().unwrap().push(stream);
                    continue;
                }
                let answered = answered.clone();
                std::thread::spawn(move || {
                    let mut s = stream;
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // headers, then the body by Content-Length
                    loop {
                        let n = s.read(&mut chunk).unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len: usize = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    answered.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        ep
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Whether the first held connection is still open from the client's side.
    fn first_connection_still_open(&self) -> bool {
        use std::io::Read;
        let held = self.held.lock().unwrap();
        let Some(s) = held.first() else { return false };
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        // the request was sent long ago; nothing more comes unless the client closes (0)
        let mut s = s;
        loop {
            match s.read(&mut b) {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    fn heal(&self) {
        self.healed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.held.lock().unwrap().clear();
    }
}

/// Issue 11: a signal endpoint that accepts connections but never answers held every
/// deployment for the whole HTTP timeout. Signals are queued and the next deployment runs
/// while the first signal is still unanswered; nothing is lost: once the endpoint answers,
/// `heat-config-notify --flush` delivers all three.
#[test]
fn hung_signal_endpoint_does_not_hold_the_next_deployments() {
    let ep = HungEndpoint::start();
    let mut site = Site::new();
    site.notify = None;
    site.extra_env
        .push(("OS_HTTP__TIMEOUT".into(), "600".into()));
    site.extra_env.push((
        "HEAT_AGENT_CONFIG_DIR".into(),
        site.root.join("no-config").display().to_string(),
    ));
    let ran = site.root.join("ran");
    let list: Vec<serde_json::Value> = (1..=3)
        .map(|i| {
            support::script_entry(
                &format!("hung{i}"),
                &format!("#!/bin/sh\necho {i} >> {}\n", ran.display()),
                signal_inputs(&ep.url(&format!("/signal/{i}"))),
                json!([]),
            )
        })
        .collect();
    site.write_list(&json!(list));
    let mut child = site.deploy_cmd(&[]).spawn().unwrap();
    // all three hooks run while the first signal is still waiting for its answer
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_to_string(&ran).map_or(0, |t| t.lines().count()) < 3 {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the deployments after the first waited for its signal");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        ep.first_connection_still_open(),
        "hooks 2 and 3 ran while signal 1 was in flight"
    );
    let status = child.wait().unwrap();
    assert!(status.success());
    for i in 1..=3 {
        assert_eq!(
            site.journal(&format!("hung{i}")).unwrap()["state"],
            "succeeded"
        );
    }
    // nothing lost: every signal is still queued, and delivered once the endpoint answers
    ep.heal();
    let flush = Command::new(common::bin())
        .args(["notify", "--flush"])
        .env("HEAT_AGENT_STATE_DIR", &site.state)
        .env("HEAT_AGENT_NOTIFY_WAIT", "60")
        .env("HEAT_AGENT_CONFIG_DIR", site.root.join("no-config"))
        .output()
        .unwrap();
    assert!(
        flush.status.success(),
        "{}",
        String::from_utf8_lossy(&flush.stderr)
    );
    assert_eq!(
        ep.answered.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "all three signals delivered"
    );
}

fn wait_for(p: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !p.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            p.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Issue 11: SIGTERM, SIGINT or SIGHUP to a standalone `deploy` (or `55-heat-config`) killed it
/// at once and left the hook running as an orphan, later reported as interrupted while it may
/// still run. Now the hook's processes are stopped (TERM, then KILL after a grace period), the
/// deployment is recorded and signalled as interrupted, and the next run changes nothing.
#[test]
fn signals_to_a_standalone_deploy_stop_the_hook_and_record_the_result() {
    for (legacy, sig, name) in [(false, "TERM", 15), (true, "INT", 2), (false, "HUP", 1)] {
        let site = Site::new();
        let id = format!("sig{name}");
        let pidfile = site.root.join("hook.pid");
        let termfile = site.root.join("hook.term");
        let second = site.root.join("second.ran");
        site.write_list(&json!([
            support::script_entry(
                &id,
                &format!(
                    "#!/bin/sh\ntrap 'echo term > {t}; exit 7' TERM\necho $$ > {p}.tmp && mv {p}.tmp {p}\nsleep 120 &\nwait\n",
                    t = termfile.display(),
                    p = pidfile.display()
                ),
                json!([]),
                json!([])
            ),
            support::script_entry(
                "after",
                &format!("#!/bin/sh\ntouch {}\n", second.display()),
                json!([]),
                json!([])
            )
        ]));
        let mut cmd = if legacy {
            site.legacy_cmd()
        } else {
            site.deploy_cmd(&[])
        };
        let mut child = cmd.spawn().unwrap();
        wait_for(&pidfile);
        let hook_pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        let hook_alive = pid_alive(hook_pid);
        if hook_alive {
            kill9(hook_pid);
        }
        assert!(!hook_alive, "SIG{sig}: the hook was not left running");
        assert!(termfile.exists(), "SIG{sig}: the hook got SIGTERM first");
        assert_eq!(status.code(), Some(128 + name), "SIG{sig}");
        let j = site.journal(&id).unwrap();
        assert_eq!(j["state"], "interrupted", "SIG{sig}: {j:#}");
        let s = site.signal_for(&id);
        assert_eq!(s.len(), 1, "SIG{sig}: signalled at once: {s:#?}");
        assert_eq!(s[0]["deploy_status_code"], 125);
        assert!(
            !second.exists(),
            "SIG{sig}: no deployment starts after the stop"
        );
        // the next run does not report it again, and runs the rest
        assert!(site.deploy().status.success());
        assert_eq!(site.signal_for(&id).len(), 1, "SIG{sig}");
        assert!(second.exists());
    }
}

/// Issue 11: ids over about 245 bytes were never run or signalled, and an id `X.notify` listed
/// after `X` never ran (its marker was X's notify file). Ids map to file names injectively and
/// within the name limit; ordinary ids keep the reference's names byte for byte.
#[test]
fn long_ids_and_notify_suffixed_ids_run_and_are_signalled_once() {
    let srv = Server::start(|_| Response::new(200, ""));
    let mut site = Site::new();
    site.notify = None;
    let long = "L".repeat(300);
    let long_utf8 = "é".repeat(200); // 400 bytes
    let ids = [
        "8b1a2c3d-0000-4000-8000-00000000abcd".to_string(),
        "X".to_string(),
        "X.notify".to_string(),
        long.clone(),
        long_utf8.clone(),
        "100%".to_string(),
    ];
    let ran = site.root.join("ran");
    let list: Vec<serde_json::Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            support::script_entry(
                id,
                &format!("#!/bin/sh\necho {i} >> {}\n", ran.display()),
                signal_inputs(&srv.url(&format!("/signal/{i}"))),
                json!([]),
            )
        })
        .collect();
    site.write_list(&json!(list));
    let out = site.deploy();
    assert!(out.status.success());
    let runs = std::fs::read_to_string(&ran).unwrap_or_default();
    assert_eq!(runs.lines().count(), ids.len(), "every id ran once: {runs}");
    let mut paths: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths.len(), ids.len(), "every id signalled: {paths:?}");
    // the reference's layout for ordinary ids
    for id in ["8b1a2c3d-0000-4000-8000-00000000abcd", "X"] {
        assert!(site.marker(id).exists(), "{id}");
        assert!(site.notify_file(id).exists(), "{id}");
        assert_eq!(site.journal(id).unwrap()["state"], "succeeded");
    }
    for f in std::fs::read_dir(&site.deployed).unwrap().flatten() {
        assert!(f.file_name().len() <= 255);
    }
    // a second run runs and signals nothing again
    assert!(site.deploy().status.success());
    assert_eq!(
        std::fs::read_to_string(&ran).unwrap().lines().count(),
        ids.len()
    );
    assert_eq!(srv.requests().len(), ids.len());
}

/// Issue 11: declared output files were read whole (300 MB of output cost 1 GB of memory).
/// They are bounded like stdout: the tail is kept. The run is limited to 256 MiB of data
/// memory (RLIMIT_DATA), which a whole 300 MB output cannot fit in.
#[test]
fn huge_output_file_is_bounded_like_stdout() {
    let site = Site::new();
    site.write_list(&json!([support::script_entry(
        "bigout",
        "#!/bin/sh\nf=\"$heat_outputs_path.big\"\ntruncate -s 300M \"$f\"\nprintf 'THE END' >> \"$f\"\nprintf small > \"$heat_outputs_path.small\"\n",
        json!([]),
        json!([{"name": "big"}, {"name": "small"}])
    )]));
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--data={}", 256u64 << 20))
        .arg("--")
        .arg(common::bin())
        .arg("deploy");
    site.env(&mut cmd);
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(site.root.join("script-outputs"));
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let s = site.signal_for("bigout");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["small"], "small");
    let big = s[0]["big"].as_str().unwrap();
    assert!(big.ends_with("THE END"), "the tail is kept");
    assert!(big.len() <= (1 << 20) + 100, "{}", big.len());
}

/// Issue 11: masking was by input name only (`password`, `secret`, `token`, `*_key`). Values of
/// inputs marked hidden/secret, of inputs named like a password or key, and of secret-named
/// keys inside structured inputs are masked wherever hook output is logged, at any level.
/// The failed deployment's stderr tail (issue 14) is masked too.
#[test]
fn secrets_are_masked_in_logged_hook_output() {
    let secrets = [
        "PassValue-4711",
        "HiddenValue-0815",
        "NestedAdminPw-42",
        "MIIEpAIBAAKCAQEAsecretkeyline1",
        "sEcReTkEyLiNe2-AAAAB3NzaC1yc2E",
        "ApiKeyValue-9999",
    ];
    let site = Site::new();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n{}\n-----END RSA PRIVATE KEY-----\n",
        secrets[3], secrets[4]
    );
    let script = "#!/bin/sh\n\
        echo \"db=$db_pass hidden=$opaque cfg=$cfg apikey=$apiKey\"\n\
        echo \"db=$db_pass hidden=$opaque cfg=$cfg\" >&2\n\
        printf '%s\\n' \"$ssh_private_key\" >&2\n\
        echo \"key line: $(printf '%s' \"$ssh_private_key\" | sed -n 3p)\" >&2\n\
        echo boom-marker >&2\n\
        exit 2\n";
    site.write_list(&json!([support::script_entry(
        "sec1",
        script,
        json!([
            {"name": "db_pass", "type": "String", "value": secrets[0]},
            {"name": "opaque", "type": "String", "hidden": true, "value": secrets[1]},
            {"name": "cfg", "type": "Json", "value": {"admin": {"admin_password": secrets[2]}, "port": 8080}},
            {"name": "ssh_private_key", "type": "String", "value": pem},
            {"name": "apiKey", "type": "String", "value": secrets[5]}
        ]),
        json!([])
    )]));
    // at debug level: everything the hook printed is logged
    let out = site.deploy();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success());
    assert!(log.contains("***"), "{log}");
    for s in secrets {
        assert!(!log.contains(s), "{s} leaked:\n{log}");
    }
    // Heat still gets the real output
    let sig = site.signal_for("sec1");
    assert!(sig[0]["deploy_stdout"]
        .as_str()
        .unwrap()
        .contains(secrets[0]));

    // at the default level: the failed deployment's stderr tail at ERROR, masked too
    std::fs::remove_file(site.marker("sec1")).unwrap();
    let out = site.deploy_cmd(&[]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let stderr_line = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("stderr"))
        .unwrap_or_else(|| panic!("no stderr at ERROR:\n{log}"));
    assert!(log.contains("boom-marker"), "{stderr_line}\n{log}");
    for s in secrets {
        assert!(!log.contains(s), "{s} leaked:\n{log}");
    }
}

/// Issue 14: a failed deployment's stderr tail is logged at ERROR (today only at debug), for
/// built-in and external hooks.
#[test]
fn failed_deployment_stderr_tail_is_logged_at_error() {
    let site = Site::new();
    site.write_hook("failhook", "#!/bin/sh\ncat >/dev/null\necho '{\"deploy_status_code\": 3, \"deploy_stderr\": \"external-boom\"}'\n");
    let mut external = support::script_entry("fe", "", json!([]), json!([]));
    external["group"] = json!("failhook");
    site.write_list(&json!([
        support::script_entry(
            "fs",
            "#!/bin/sh\necho early-line >&2\necho script-boom >&2\nexit 2\n",
            json!([]),
            json!([])
        ),
        external
    ]));
    let out = site.deploy_cmd(&[]).output().unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    for (id, text) in [("fs", "script-boom"), ("fe", "external-boom")] {
        assert!(
            log.lines()
                .any(|l| l.contains("] ERROR ") && l.contains(&format!("deployment {id} stderr"))),
            "{id}: no stderr line at ERROR:\n{log}"
        );
        assert!(log.contains(text), "{text}:\n{log}");
    }
    assert!(!log.contains("DEBUG"));
}
