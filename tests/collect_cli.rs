//! os-collect-config through the real binary (as `os-collect-config` and `heat-agent collect`),
//! against loopback servers, with temp dirs as the cache. Ports of the reference's
//! tests/test_collect.py TestCollect, plus the daemon behaviour (polling, SIGHUP, SIGTERM,
//! reconfiguration), keep-last-good sources, conditional GET, and cache compatibility with the
//! Python tool both ways.

mod common;

use common::{Response, Server};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn software_config_data() -> Value {
    json!({
        "old-style": "value",
        "deployments": [
            {"inputs": [{"type": "String", "name": "input1", "value": "value1"}],
             "group": "Heat::Ungrouped", "name": "dep-name1", "outputs": null, "options": null,
             "config": {"config1": "value1"}},
            {"inputs": [{"type": "String", "name": "input1", "value": "value1"}],
             "group": "os-apply-config", "name": "dep-name2", "outputs": null, "options": null,
             "config": {"config2": "value2"}},
            {"inputs": [{"type": "String", "name": "input1", "value": "value1"}],
             "name": "dep-name3", "outputs": null, "options": null,
             "config": {"config3": "value3"}},
            {"inputs": [], "group": "ignore_me", "name": "ignore_me_name", "outputs": null,
             "options": null, "config": "ignore_me_config"}
        ]
    })
}

/// A temp guest: cache dirs, a heat_local file, a local-data dir, a metadata URL server.
struct Guest {
    tmp: tempfile::TempDir,
    server: Server,
    doc: Arc<Mutex<Value>>,
}

impl Guest {
    fn new() -> Guest {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(
            root.join("cfn-init-data"),
            r#"{"localstrA": "A", "localint9": 9, "localmap_xy": {"x": 42, "y": "foo"}}"#,
        )
        .unwrap();
        let local = root.join("local-data");
        fs::create_dir(&local).unwrap();
        fs::set_permissions(&local, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(
            local.join("00test.json"),
            r#"{"int1": 1, "map_ab": {"a": "apple", "b": "banana"}}"#,
        )
        .unwrap();
        let doc = Arc::new(Mutex::new(software_config_data()));
        let d2 = doc.clone();
        let server = Server::start(move |req| {
            let body = d2.lock().unwrap().to_string();
            let etag = format!("\"{:x}\"", md5_len(&body));
            if req.header("if-none-match") == Some(etag.as_str()) {
                return Response::new(304, "").header("ETag", &etag);
            }
            Response::new(200, body)
                .header("Content-Type", "application/json")
                .header("ETag", &etag)
                .header("Last-Modified", "Mon, 23 Nov 2026 03:00:00 GMT")
        });
        Guest { tmp, server, doc }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }
    fn backup(&self) -> PathBuf {
        self.root().join("run/backup")
    }
    fn marker(&self) -> PathBuf {
        self.root().join("marker")
    }

    /// The flags every run shares; collectors heat_local, request, local.
    fn args(&self) -> Vec<String> {
        vec![
            "--config-file".into(),
            "/dev/null".into(),
            "--cachedir".into(),
            self.cache().display().to_string(),
            "--backup-cachedir".into(),
            self.backup().display().to_string(),
            "--heat_local-path".into(),
            self.root().join("cfn-init-data").display().to_string(),
            "--local-path".into(),
            self.root().join("local-data").display().to_string(),
            "--request-metadata-url".into(),
            self.server.url("/meta.json"),
        ]
    }

    /// A command that records OS_CONFIG_FILES and counts its runs.
    fn recording_command(&self) -> String {
        format!(
            "printenv OS_CONFIG_FILES > {m}; echo run >> {m}.count",
            m = self.marker().display()
        )
    }

    fn runs(&self) -> usize {
        fs::read_to_string(format!("{}.count", self.marker().display()))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn occ(&self, extra: &[&str]) -> Output {
        let mut cmd = Command::new(common::legacy(self.root(), "os-collect-config"));
        cmd.args(self.args()).args(extra);
        cmd.env("LC_ALL", "C").output().unwrap()
    }
    /// One `--one-time` run of the request collector with `command`, which must succeed.
    fn one_time(&self, command: &str) {
        let out = self.occ(&["--one-time", "--command", command, "request"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn md5_len(s: &str) -> usize {
    // a cheap stable tag for the test server's ETag
    s.bytes()
        .fold(s.len(), |a, b| a.wrapping_mul(31).wrapping_add(b as usize))
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

// TestCollect.test_main
#[test]
fn test_main() {
    let g = Guest::new();
    let cmd = g.recording_command();
    let out = g.occ(&[
        "--one-time",
        "--command",
        &cmd,
        "heat_local",
        "request",
        "local",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(g.runs(), 1);
    let files: Vec<String> = fs::read_to_string(g.marker())
        .unwrap()
        .trim_end()
        .split(':')
        .map(String::from)
        .collect();
    for list in [
        g.cache().join("os_config_files.json"),
        g.backup().join("os_config_files.json"),
    ] {
        assert_eq!(read_json(&list), json!(files), "{}", list.display());
    }
    let mut keys = serde_json::Map::new();
    for f in &files {
        assert!(Path::new(f).is_absolute());
        if let Value::Object(m) = read_json(Path::new(f)) {
            keys.extend(m);
        }
    }
    for k in [
        "localstrA",
        "old-style",
        "config1",
        "config2",
        "config3",
        "int1",
        "map_ab",
    ] {
        assert!(keys.contains_key(k), "missing {k} in {keys:?}");
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            Path::new(f)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "heat_local.json",
            "request.json",
            "dep-name1.json",
            "dep-name2.json",
            "dep-name3.json",
            "00test.json.json"
        ]
    );
    // .orig and .last beside each file; everything 0600
    for f in &files {
        assert!(Path::new(&format!("{f}.orig")).exists());
        assert!(Path::new(&format!("{f}.last")).exists());
        assert_eq!(fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

// TestCollect.test_main_force_command (+ no re-run without a change)
#[test]
fn test_main_force_command() {
    let g = Guest::new();
    let cmd = g.recording_command();
    let collectors = ["heat_local", "request", "local"];
    let run = |extra: &[&str]| {
        let mut a = vec!["--command", cmd.as_str()];
        a.extend_from_slice(extra);
        a.extend_from_slice(&collectors);
        let out = g.occ(&a);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["--one-time"]);
    assert_eq!(g.runs(), 1);
    run(&["--one-time"]);
    assert_eq!(g.runs(), 1, "unchanged data must not run the command");
    run(&["--force"]);
    assert_eq!(g.runs(), 2);
    assert!(fs::read_to_string(g.marker())
        .unwrap()
        .contains("request.json"));
    // a change runs it again
    g.doc.lock().unwrap()["old-style"] = json!("changed");
    run(&["--one-time"]);
    assert_eq!(g.runs(), 3);
}

// TestCollect.test_main_command_failed_no_caching
#[test]
fn test_main_command_failed_no_caching() {
    let g = Guest::new();
    let out = g.occ(&[
        "--one-time",
        "--command",
        "exit 7",
        "heat_local",
        "request",
        "local",
    ]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Command failed, will not cache new data.")
    );
    for dir in [g.cache(), g.backup()] {
        for e in fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".last"), "{name} in {}", dir.display());
        }
    }
    // the same data counts as changed next time, so the command runs again
    let cmd = g.recording_command();
    g.occ(&[
        "--one-time",
        "--command",
        &cmd,
        "heat_local",
        "request",
        "local",
    ]);
    assert_eq!(g.runs(), 1);
}

#[test]
fn command_killed_by_signal_exits_128_plus_n() {
    let g = Guest::new();
    let out = g.occ(&["--one-time", "--command", "kill -9 0", "local"]);
    assert_eq!(out.status.code(), Some(137));
}

// TestCollect.test_main_no_command and test_main_just_local
#[test]
fn test_main_no_command() {
    let g = Guest::new();
    let out = g.occ(&["heat_local", "request", "local"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    for k in ["heat_local", "request", "dep-name1", "00test.json"] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    assert!(!g.cache().exists(), "print mode writes no cache");
    // Python's layout: indent 1, then a newline
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("{\n \"heat_local\": {\n  \"localstrA\": \"A\""),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
}

// TestCollect.test_main_print_cachedir
#[test]
fn test_main_print_cachedir() {
    let g = Guest::new();
    let out = g.occ(&["--print-cachedir"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", g.cache().display())
    );
}

// TestCollect.test_main_print_only
#[test]
fn test_main_print_only() {
    let g = Guest::new();
    let cmd = g.recording_command();
    let out = g.occ(&["--print", "--command", &cmd, "heat_local", "request"]);
    assert!(out.status.success());
    let v = stdout_json(&out);
    assert!(v.get("heat_local").is_some() && v.get("request").is_some());
    assert_eq!(g.runs(), 0);
}

// TestCollect.test_main_invalid_collector
#[test]
fn test_main_invalid_collector() {
    let g = Guest::new();
    let out = g.occ(&["invalid"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let valid: Vec<String> = heat_agent::collectors::NAMES
        .iter()
        .map(|n| format!("'{n}'"))
        .collect();
    let expected = format!(
        "Unknown collectors ['invalid']. Valid collectors are: [{}]",
        valid.join(", ")
    );
    assert!(err.contains(&expected), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn native_collect_matches_legacy_name() {
    let g = Guest::new();
    let legacy = g.occ(&["heat_local", "local"]);
    let native = Command::new(common::bin())
        .arg("collect")
        .args(g.args())
        .args(["heat_local", "local"])
        .output()
        .unwrap();
    assert!(native.status.success());
    assert_eq!(legacy.stdout, native.stdout);
}

#[test]
fn unavailable_source_keeps_its_last_good_data() {
    let g = Guest::new();
    let cmd = g.recording_command();
    g.occ(&[
        "--one-time",
        "--command",
        &cmd,
        "heat_local",
        "request",
        "local",
    ]);
    assert!(fs::read_to_string(g.marker())
        .unwrap()
        .contains("request.json"));
    // the metadata server starts failing, and something else changes
    g.server.set_handler(|_| Response::new(503, "down"));
    fs::write(g.root().join("cfn-init-data"), r#"{"localstrA": "B"}"#).unwrap();
    let out = g.occ(&[
        "--one-time",
        "--command",
        &cmd,
        "heat_local",
        "request",
        "local",
    ]);
    assert!(out.status.success());
    assert_eq!(g.runs(), 2);
    let files = fs::read_to_string(g.marker()).unwrap();
    assert!(
        files.contains("request.json") && files.contains("dep-name1.json"),
        "{files}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Source [request] Unavailable."));
}

#[test]
fn unchanged_metadata_url_costs_one_conditional_request() {
    let g = Guest::new();
    let mut child = Command::new(common::legacy(g.root(), "os-collect-config"))
        .args(g.args())
        .args([
            "--command",
            "true",
            "--polling-interval",
            "0.2",
            "--min-polling-interval",
            "0.2",
            "request",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), || g.server.requests().len() >= 4);
    child.kill().unwrap();
    child.wait().unwrap();
    let reqs = g.server.requests();
    assert_eq!(reqs[0].method, "GET");
    for r in &reqs[1..] {
        assert_eq!(r.method, "GET", "no HEAD requests: {r:?}");
        assert!(r.header("if-none-match").is_some(), "conditional: {r:?}");
    }
}

#[test]
fn daemon_retries_a_failed_command_while_the_document_is_not_modified() {
    // The first run fails; the server then only answers 304. The change is still pending,
    // so the next polls must run the command again (once it succeeds: never again).
    let g = Guest::new();
    let script = g.root().join("fails-once.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> {m}.count\nprintenv OS_CONFIG_FILES > {m}\n\
             [ \"$(wc -l < {m}.count)\" -ge 2 ]\n",
            m = g.marker().display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(common::legacy(g.root(), "os-collect-config"))
        .args(g.args())
        .args([
            "--command",
            &script.display().to_string(),
            "--polling-interval",
            "0.1",
            "--min-polling-interval",
            "0.1",
            "request",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), || g.runs() == 2);
    let polls = g.server.requests().len();
    wait_until(Duration::from_secs(20), || {
        g.server.requests().len() >= polls + 5
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(g.runs(), 2, "the command ran again after succeeding");
    let reqs = g.server.requests();
    assert!(
        reqs[1..]
            .iter()
            .all(|r| r.header("if-none-match").is_some()),
        "every poll after the first is conditional"
    );
    assert!(fs::read_to_string(g.marker())
        .unwrap()
        .contains("request.json"));
    // committed: .last holds what the command succeeded with
    assert_eq!(
        fs::read(g.cache().join("request.json.last")).unwrap(),
        fs::read(g.cache().join("request.json")).unwrap()
    );
}

/// A daemon that is killed even when the test fails half way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `heat-config-notify` for deployment `id` signalling to `url`, waiting `wait` seconds, with
/// `backoff` seconds as the first retry step.
fn notify_signal(root: &Path, state: &Path, id: &str, url: &str, wait: &str, backoff: &str) {
    use std::io::Write;
    let config = root.join(format!("{id}.json"));
    let entry = json!({"id": id, "name": "cfg", "group": "script",
                       "inputs": [{"name": "deploy_signal_id", "value": url}]});
    fs::write(&config, entry.to_string()).unwrap();
    let mut child = Command::new(common::legacy(root, "heat-config-notify"))
        .arg(&config)
        .env("HEAT_AGENT_STATE_DIR", state)
        .env("HEAT_AGENT_NOTIFY_BACKOFF", backoff)
        .env("HEAT_AGENT_NOTIFY_WAIT", wait)
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"deploy_status_code": 0}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn idle_daemon_delivers_a_signal_queued_after_its_outbox_went_quiet() {
    let g = Guest::new();
    let state = g.root().join("state");
    // an old, delivered signal: the outbox exists and has nothing to do
    let first = Server::start(|_| Response::new(200, ""));
    notify_signal(g.root(), &state, "d-1", &first.url("/sig"), "10", "0.05");
    assert_eq!(first.requests().len(), 1);
    let outbox = state.join("outbox");
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    fs::File::open(&outbox)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let mut child = KillOnDrop(
        Command::new(common::legacy(g.root(), "os-collect-config"))
            .args(g.args())
            .args([
                "--command",
                "true",
                "--polling-interval",
                "0.2",
                "--min-polling-interval",
                "0.2",
                "request",
            ])
            .env("HEAT_AGENT_STATE_DIR", &state)
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let polls = g.server.requests().len();
    wait_until(Duration::from_secs(20), || {
        g.server.requests().len() >= polls + 4
    });
    // a signal queued while its receiver is down, after the daemon has gone quiet
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    notify_signal(
        g.root(),
        &state,
        "d-2",
        &format!("http://{addr}/sig"),
        "0",
        "0.05",
    );
    let second = Server::on(std::net::TcpListener::bind(addr).unwrap(), |_| {
        Response::new(200, "")
    });
    wait_until(Duration::from_secs(20), || !second.requests().is_empty());
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert_eq!(second.requests().len(), 1);
    assert_eq!(
        first.requests().len(),
        1,
        "a delivered signal is not sent again"
    );
}

/// The herd after an outage (docs/performance.md): a signal queued while its server was down
/// goes right after the daemon's first successful poll of the same server (scheme, host and
/// port), not at its scheduled retry a minute or more later.
#[test]
fn a_queued_signal_goes_right_after_the_next_successful_poll_of_its_server() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let g = Guest::new();
    let state = g.root().join("state");
    let up = Arc::new(AtomicBool::new(false));
    let (is_up, doc) = (up.clone(), g.doc.clone());
    g.server.set_handler(move |req| {
        if !is_up.load(Ordering::SeqCst) {
            return Response::new(503, "down");
        }
        if req.path() == "/sig" {
            return Response::new(200, "");
        }
        Response::json(200, &doc.lock().unwrap())
    });
    let is_signal = |r: &common::Request| r.path() == "/sig";
    let signals = || g.server.requests().iter().filter(|r| is_signal(r)).count();
    // the deployment's signal fails: the first retry is 60 to 120 s away
    notify_signal(g.root(), &state, "d-1", &g.server.url("/sig"), "0", "120");
    assert_eq!(signals(), 1);
    let mut child = KillOnDrop(
        Command::new(common::legacy(g.root(), "os-collect-config"))
            .args(g.args())
            .args([
                "--command",
                "true",
                "--polling-interval",
                "0.3",
                "--min-polling-interval",
                "0.3",
                "request",
            ])
            .env("HEAT_AGENT_STATE_DIR", &state)
            .env("HEAT_AGENT_NOTIFY_BACKOFF", "120")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // polls fail while the server is down; the signal waits
    wait_until(Duration::from_secs(20), || g.server.requests().len() >= 4);
    assert_eq!(signals(), 1, "not retried before its time");
    let outbox_record = || -> Value {
        serde_json::from_slice(&fs::read(state.join("outbox/d-1.json")).unwrap()).unwrap()
    };
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let scheduled_in = outbox_record()["next_attempt_at"].as_f64().unwrap() - unix_now();
    assert!(scheduled_in > 45.0, "the retry is {scheduled_in:.1} s away");
    let before = g.server.requests().len();
    up.store(true, Ordering::SeqCst);
    let back = Instant::now();
    wait_until(Duration::from_secs(15), || signals() == 2);
    let delivered_after = back.elapsed();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(
        delivered_after.as_secs_f64() < scheduled_in - 30.0,
        "delivered {delivered_after:?} after the server came back, its retry was {scheduled_in:.1} s away"
    );
    let since = &g.server.requests()[before..];
    let signal_at = since.iter().position(is_signal).unwrap();
    assert!(
        since[..signal_at].iter().any(|r| r.path() == "/meta.json"),
        "the signal follows a poll: {:?}",
        since
            .iter()
            .map(|r| r.path().to_string())
            .collect::<Vec<_>>()
    );
    let record = outbox_record();
    assert_eq!(record["state"], json!("delivered"));
    assert_eq!(record["attempts"], json!(2));
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "condition not reached within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn daemon_reruns_on_change_and_stops_on_sigterm() {
    let g = Guest::new();
    let cmd = g.recording_command();
    let mut child = Command::new(common::legacy(g.root(), "os-collect-config"))
        .args(g.args())
        .args([
            "--command",
            &cmd,
            "--polling-interval",
            "0.3",
            "--min-polling-interval",
            "0.1",
            "request",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), || g.runs() == 1);
    g.doc.lock().unwrap()["old-style"] = json!("v2");
    wait_until(Duration::from_secs(20), || g.runs() == 2);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(g.runs(), 2);
}

#[test]
fn sighup_reexecs_with_the_same_pid_and_new_config() {
    let g = Guest::new();
    let conf = g.root().join("occ.conf");
    fs::write(&conf, "[DEFAULT]\ncollectors = request\n").unwrap();
    let cmd = g.recording_command();
    let mut args = g.args();
    args[1] = conf.display().to_string(); // --config-file conf
    let mut child = Command::new(common::legacy(g.root(), "os-collect-config"))
        .args(&args)
        .args(["--command", &cmd, "--polling-interval", "0.3", "--debug"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), || g.runs() == 1);
    assert!(!fs::read_to_string(g.marker())
        .unwrap()
        .contains("heat_local"));
    // let the first cycle finish (commit + config-hash check) before touching the config,
    // so the reload comes from the SIGHUP and not from the post-command hash check
    wait_until(Duration::from_secs(20), || {
        g.cache().join("request.json.last").exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    // the new config adds heat_local; SIGHUP makes it take effect in the same process
    fs::write(
        &conf,
        "[DEFAULT]\ncollectors = heat_local\ncollectors = request\n",
    )
    .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_until(Duration::from_secs(20), || g.runs() == 2);
    assert!(fs::read_to_string(g.marker())
        .unwrap()
        .contains("heat_local.json"));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still the same process"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Re-executing"), "stderr: {err}");
}

#[test]
fn config_rewritten_by_the_command_takes_effect() {
    // Heat rewrites /etc/os-collect-config.conf through os-apply-config during the command;
    // after the command the agent notices and re-executes with the new settings.
    let g = Guest::new();
    let conf = g.root().join("occ.conf");
    let second = g.root().join("second");
    fs::write(&conf, "[DEFAULT]\ncollectors = heat_local\n").unwrap();
    let cmd = format!(
        "printf '[DEFAULT]\\ncollectors = heat_local\\ncollectors = request\\ncommand = touch {s}\\n' > {c}",
        s = second.display(),
        c = conf.display()
    );
    let mut args = g.args();
    args[1] = conf.display().to_string();
    let mut child = Command::new(common::legacy(g.root(), "os-collect-config"))
        .args(&args)
        .args(["--polling-interval", "0.3", "--command", &cmd])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // first run rewrites the config; the re-exec'd process polls request too, sees a change,
    // and runs... the CLI --command still wins over the file (oslo precedence), so the marker
    // proving the reload is the request source appearing in the cache.
    wait_until(Duration::from_secs(20), || {
        g.cache().join("request.json").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The Python reference, when installed (see tests/setup.sh).
fn reference_occ() -> Option<PathBuf> {
    common::reference_venv(&["bin/os-collect-config"]).map(|v| v.join("bin/os-collect-config"))
}

fn run_reference(occ: &Path, g: &Guest, extra: &[&str]) -> Output {
    Command::new(occ)
        .args(g.args())
        .args(extra)
        .env("LC_ALL", "C")
        .env("PYTHONUTF8", "1")
        .env_remove("LANG")
        .output()
        .unwrap()
}

fn cache_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn differential_same_cache_and_os_config_files_as_python() {
    let Some(occ) = reference_occ() else { return };
    let ours = Guest::new();
    let theirs = Guest::new();
    // same documents for both
    *theirs.doc.lock().unwrap() = ours.doc.lock().unwrap().clone();
    let collectors = ["heat_local", "request", "local"];
    let ours_cmd = ours.recording_command();
    let theirs_cmd = theirs.recording_command();
    let mut a = vec!["--one-time", "--command", ours_cmd.as_str()];
    a.extend_from_slice(&collectors);
    let o = ours.occ(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut b = vec!["--one-time", "--command", theirs_cmd.as_str()];
    b.extend_from_slice(&collectors);
    let t = run_reference(&occ, &theirs, &b);
    assert!(
        t.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&t.stderr)
    );
    // identical cache files (names and bytes), except the lists, which hold each one's paths
    let ours_files = cache_files(&ours.cache());
    let theirs_files = cache_files(&theirs.cache());
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours_files), names(&theirs_files));
    for ((n, a), (_, b)) in ours_files.iter().zip(&theirs_files) {
        if n == "os_config_files.json" {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(a),
            String::from_utf8_lossy(b),
            "{n} differs"
        );
    }
    let rel = |g: &Guest| -> Vec<String> {
        fs::read_to_string(g.marker())
            .unwrap()
            .trim_end()
            .split(':')
            .map(|p| p.replace(&g.cache().display().to_string(), "CACHE"))
            .collect()
    };
    assert_eq!(rel(&ours), rel(&theirs), "OS_CONFIG_FILES differ");
    let list = |g: &Guest| {
        read_json(&g.cache().join("os_config_files.json"))
            .to_string()
            .replace(&g.cache().display().to_string(), "CACHE")
    };
    assert_eq!(list(&ours), list(&theirs));
    // print mode too
    let po = ours.occ(&["heat_local", "request", "local"]);
    let pt = run_reference(&occ, &theirs, &["heat_local", "request", "local"]);
    assert_eq!(
        String::from_utf8_lossy(&po.stdout),
        String::from_utf8_lossy(&pt.stdout)
    );
}

#[test]
fn python_cache_is_continued_and_ours_is_readable_by_python() {
    let Some(occ) = reference_occ() else { return };
    let g = Guest::new();
    let cmd = g.recording_command();
    let collectors = ["heat_local", "request", "local"];
    let mut a = vec!["--one-time", "--command", cmd.as_str()];
    a.extend_from_slice(&collectors);
    // Python fills the cache; we continue it: nothing changed, so the command does not run.
    let t = run_reference(&occ, &g, &a);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    assert_eq!(g.runs(), 1);
    let o = g.occ(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        g.runs(),
        1,
        "our agent must continue the Python cache without re-running"
    );
    // we apply a change; Python then sees nothing new.
    g.doc.lock().unwrap()["old-style"] = json!("ours");
    g.occ(&a);
    assert_eq!(g.runs(), 2);
    let t = run_reference(&occ, &g, &a);
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    assert_eq!(
        g.runs(),
        2,
        "the Python tool must continue our cache without re-running"
    );
}

#[test]
fn one_time_runs_reuse_validators_and_leave_unchanged_files_alone() {
    let g = Guest::new();
    let cmd = g.recording_command();
    let run = || g.one_time(&cmd);
    run();
    let request_json = g.cache().join("request.json");
    let before = fs::metadata(&request_json).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    run();
    let reqs = g.server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].header("if-none-match").is_some(),
        "second run is conditional: {:?}",
        reqs[1]
    );
    assert_eq!(g.runs(), 1, "a 304 is no change");
    assert_eq!(
        fs::metadata(&request_json).unwrap().modified().unwrap(),
        before,
        "not rewritten"
    );
    // a change on the server is still seen
    g.doc.lock().unwrap()["old-style"] = json!("v3");
    run();
    assert_eq!(g.runs(), 2);
}

#[test]
fn a_damaged_cached_document_is_fetched_again_on_304() {
    let g = Guest::new();
    let cmd = g.recording_command();
    let run = || g.one_time(&cmd);
    run();
    let request_json = g.cache().join("request.json");
    let good = fs::read(&request_json).unwrap();
    // replaced by a damaged copy (.json.last is a second link to the committed file, so
    // an in-place write would damage the committed value too: that only re-runs the command)
    fs::remove_file(&request_json).unwrap();
    fs::write(&request_json, &good[..good.len() / 2]).unwrap();
    run();
    let reqs = g.server.requests();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(reqs[1].header("if-none-match").is_some());
    assert!(
        reqs[2].header("if-none-match").is_none(),
        "after a 304 the document is fetched whole"
    );
    assert_eq!(fs::read(&request_json).unwrap(), good, "repaired");
    assert_eq!(g.runs(), 1, "same document as committed: no change");
    // and the next run is conditional again and served from the repaired copy
    run();
    assert_eq!(g.server.requests().len(), 4);
    assert_eq!(g.runs(), 1);
}

#[test]
fn a_change_within_the_same_second_is_not_missed() {
    // A server like Python's http.server or a plain file server: Last-Modified and Date with
    // one-second resolution, no ETag. The document changes in the same second it was fetched.
    let g = Guest::new();
    let d2 = g.doc.clone();
    // Both answers carry the same second (fixed, so the test does not depend on timing).
    g.server.set_handler(move |req| {
        let second = "Mon, 23 Nov 2026 03:00:00 GMT";
        if req.header("if-modified-since") == Some(second) {
            return Response::new(304, "");
        }
        Response::new(200, d2.lock().unwrap().to_string())
            .header("Last-Modified", second)
            .header("Date", second)
    });
    let cmd = g.recording_command();
    g.one_time(&cmd);
    g.doc.lock().unwrap()["old-style"] = json!("changed in the same second");
    g.one_time(&cmd);
    assert_eq!(g.runs(), 2, "the change must be seen");
}

/// `run --help` says what the daemon does without `-c` (the built-in refresh), not what
/// `collect` does; `collect --help` still says it prints the data and exits.
#[test]
fn run_and_collect_help_describe_each_command() {
    let help = |sub: &str| {
        let out = std::process::Command::new(common::bin())
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let run = help("run");
    assert!(run.contains("heat-agent refresh"), "{run}");
    assert!(!run.contains("print the collected data"), "{run}");
    let collect = help("collect");
    assert!(collect.contains("print the collected data"), "{collect}");
    assert!(!collect.contains("The daemon"), "{collect}");
}

/// A mistyped flag under a native name gets clap's closest-flag tip (exit 2); the legacy name
/// keeps the argparse text.
#[test]
fn native_names_suggest_the_closest_flag() {
    for sub in ["run", "collect"] {
        let out = std::process::Command::new(common::bin())
            .args([sub, "--one-tme"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("a similar argument exists: '--one-time'"),
            "{err}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::legacy(tmp.path(), "os-collect-config"))
        .arg("--one-tme")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.ends_with("os-collect-config: error: unrecognized arguments: --one-tme\n"),
        "{err}"
    );
}

#[test]
fn sighup_after_the_binary_was_replaced_reexecs_the_new_one() {
    // A package upgrade renames a new binary over the running one and asks for a reload
    // (packaging/deb/postinst, inside a deployment): /proc/self/exe then reads
    // "PATH (deleted)", and the re-exec must run the new binary at PATH, not fail.
    let g = Guest::new();
    let exe = g.root().join("os-collect-config");
    fs::copy(common::bin(), &exe).unwrap();
    let cmd = g.recording_command();
    let mut child = Command::new(&exe)
        .args(g.args())
        .args(["--command", &cmd, "--polling-interval", "0.3", "request"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), || g.runs() == 1);
    let new = g.root().join("os-collect-config.new");
    fs::copy(common::bin(), &new).unwrap();
    fs::rename(&new, &exe).unwrap();
    let proc_exe = format!("/proc/{}/exe", child.id());
    assert!(fs::read_link(&proc_exe)
        .unwrap()
        .to_string_lossy()
        .ends_with(" (deleted)"));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_until(Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some() || fs::read_link(&proc_exe).ok().as_ref() == Some(&exe)
    });
    let exited = child.try_wait().unwrap();
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        exited.is_none(),
        "the reload ended the agent ({exited:?}): {err}"
    );
}

/// A fleet started in the same second (a rack booting): the first full-interval sleep is a
/// random part of the interval, so the agents' second polls are spread over it. Before, every
/// agent slept the interval ±10 % and the fleet kept polling in step.
#[test]
fn agents_started_together_fall_out_of_step_after_the_first_poll() {
    const AGENTS: usize = 10;
    const INTERVAL: f64 = 4.0;
    let guests: Vec<Guest> = (0..AGENTS).map(|_| Guest::new()).collect();
    let stamps: Vec<Arc<Mutex<Vec<Instant>>>> = guests
        .iter()
        .map(|g| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s2 = seen.clone();
            let body = software_config_data().to_string();
            g.server.set_handler(move |_| {
                s2.lock().unwrap().push(Instant::now());
                Response::new(200, body.clone()).header("Content-Type", "application/json")
            });
            seen
        })
        .collect();
    let interval = INTERVAL.to_string();
    let mut children: Vec<_> = guests
        .iter()
        .map(|g| {
            Command::new(common::legacy(g.root(), "os-collect-config"))
                .args(g.args())
                .args([
                    "--command",
                    "true",
                    "--polling-interval",
                    &interval,
                    "--min-polling-interval",
                    &interval,
                    "request",
                ])
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_until(Duration::from_secs(60), || {
        stamps.iter().all(|s| s.lock().unwrap().len() >= 2)
    });
    for c in &mut children {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let gaps: Vec<f64> = stamps
        .iter()
        .map(|s| {
            let s = s.lock().unwrap();
            (s[1] - s[0]).as_secs_f64()
        })
        .collect();
    let spread = gaps.iter().cloned().fold(f64::MIN, f64::max)
        - gaps.iter().cloned().fold(f64::MAX, f64::min);
    // in step: every gap within the interval ±10 %, a spread of at most 0.8 s; spread over the
    // interval, ten draws span less than 1.6 s with a probability below 0.2 %
    assert!(
        spread > 0.4 * INTERVAL,
        "second polls in step: gaps {gaps:?}"
    );
    assert!(
        gaps.iter().all(|&g| g <= 1.1 * INTERVAL + 1.0),
        "no gap beyond the interval: {gaps:?}"
    );
}

/// An operator who lists a collector and forgets its settings hears about it once, naming
/// the collector and what is missing; the default list's unconfigured members stay quiet.
#[test]
fn a_listed_collector_that_is_not_configured_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let collect = |collectors: &[&str]| {
        let out = Command::new(common::bin())
            .args(["collect", "--config-file", "/dev/null", "--cachedir"])
            .arg(dir.path().join("cache"))
            .arg("--local-path")
            .arg(dir.path())
            .args(["--ec2-metadata-url", "http://127.0.0.1:9/", "--print"])
            .args(collectors)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = collect(&["heat", "local"]);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("listed in collectors but not configured"))
        .collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(
        warned[0].contains("WARN Collector heat ") && warned[0].contains("auth_url"),
        "{err}"
    );
    let err = collect(&[]);
    assert!(!err.contains("not configured"), "{err}");
}
