//! Shared helpers for integration tests: a loopback HTTP server that records every request,
//! temp roots, and running the real binary under its own or a legacy name.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|x| x.1).unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(|s| s.as_str())
    }
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the handler answers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        Response::new(status, v.to_string()).header("Content-Type", "application/json")
    }
    pub fn header(mut self, k: &str, v: &str) -> Response {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// A threaded HTTP/1.1 server on 127.0.0.1:<random port>; it lives until dropped.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
    handler: Arc<Mutex<Arc<Handler>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        Server::on(listener, handler)
    }

    /// Serve on an existing listener (e.g. to restart on the same port).
    pub fn on(
        listener: TcpListener,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Server {
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Mutex<Arc<Handler>>> = Arc::new(Mutex::new(Arc::new(handler)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (r2, h2, s2) = (requests.clone(), handler.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || loop {
            if s2.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    let (r3, h3) = (r2.clone(), h2.clone());
                    thread::spawn(move || serve_conn(stream, r3, h3));
                }
                Err(_) => thread::sleep(std::time::Duration::from_millis(5)),
            }
        });
        Server {
            addr,
            requests,
            handler,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set_handler(&self, handler: impl Fn(&Request) -> Response + Send + Sync + 'static) {
        *self.handler.lock().unwrap() = Arc::new(handler);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn serve_conn(
    stream: TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    handler: Arc<Mutex<Arc<Handler>>>,
) {
    stream.set_nonblocking(false).ok();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if len > 0 && reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Request {
            method: method.clone(),
            target,
            headers,
            body,
        };
        let h = handler.lock().unwrap().clone();
        let resp = h(&req);
        requests.lock().unwrap().push(req);
        let reason = match resp.status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            304 => "Not Modified",
            404 => "Not Found",
            403 => "Forbidden",
            500 => "Internal Server Error",
            _ => "Status",
        };
        let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason);
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        let no_body = method == "HEAD" || resp.status == 204 || resp.status == 304;
        if !no_body || method == "HEAD" {
            out.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
        }
        out.push_str("\r\n");
        if stream.write_all(out.as_bytes()).is_err() {
            return;
        }
        if !no_body && stream.write_all(&resp.body).is_err() {
            return;
        }
        let _ = stream.flush();
    }
}

/// The built binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_heat-agent"))
}

/// A symlink named `name` to the binary inside `dir` (to run it under a legacy name).
pub fn legacy(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(bin(), &link).unwrap();
    }
    link
}

/// The reference tools' venv (os-collect-config, os-apply-config, os-refresh-config, dib-utils,
/// the heat-agents sources): `HEAT_AGENT_TEST_VENV`, else `tests/.venv` (tests/setup.sh).
pub fn venv_dir() -> PathBuf {
    std::env::var_os("HEAT_AGENT_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.venv"))
}

/// `HEAT_AGENT_REQUIRE_REFERENCE=1`: a missing reference fails the test instead of skipping it.
pub fn reference_required() -> bool {
    std::env::var("HEAT_AGENT_REQUIRE_REFERENCE").as_deref() == Ok("1")
}

/// A mount made for a test, lazily unmounted on drop.
pub struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// `mount ARGS DIR` (DIR created first). When mounting is impossible here (not root, no mount
/// privilege): `None` after a skip note, or a panic saying why under
/// `HEAT_AGENT_REQUIRE_REFERENCE=1` (tests/run.sh), so CI cannot pass such a test untested.
pub fn mount(args: &[&str], dir: &Path) -> Option<Mounted> {
    std::fs::create_dir_all(dir).unwrap();
    let why = match std::process::Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
    {
        Ok(o) if o.status.success() => return Some(Mounted(dir.to_path_buf())),
        Ok(o) => format!(
            "cannot mount on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run mount: {e}"),
    };
    assert!(
        !reference_required(),
        "{why} (HEAT_AGENT_REQUIRE_REFERENCE=1: this test needs mount)"
    );
    eprintln!("SKIP: {why}");
    None
}

/// A tmpfs of `size` (`200k`, `4m`) on `dir`, mode 0700; see [`mount`].
pub fn mount_tmpfs(dir: &Path, size: &str) -> Option<Mounted> {
    mount(
        &[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ],
        dir,
    )
}

/// The venv when every path in `needed` (relative to it) exists; else `None` after a skip
/// note, or a panic naming the first missing path under `HEAT_AGENT_REQUIRE_REFERENCE=1`.
pub fn reference_venv(needed: &[&str]) -> Option<PathBuf> {
    let venv = venv_dir();
    match needed.iter().map(|n| venv.join(n)).find(|p| !p.exists()) {
        None => Some(venv),
        Some(missing) => {
            assert!(
                !reference_required(),
                "reference {} is missing (HEAT_AGENT_REQUIRE_REFERENCE=1; run tests/setup.sh)",
                missing.display()
            );
            eprintln!(
                "SKIP: reference {} not installed (run tests/setup.sh, or set HEAT_AGENT_TEST_VENV)",
                missing.display()
            );
            None
        }
    }
}

/// Run `cmd` with `stdin` written to it (from a thread, so a child that writes a lot before it
/// reads cannot deadlock) and stdout and stderr captured.
pub fn output_with_stdin(cmd: &mut std::process::Command, stdin: &[u8]) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// A temp dir for running `heat-config-notify`: a state dir and a config file in it.
pub struct NotifyDir {
    pub dir: tempfile::TempDir,
}

impl NotifyDir {
    pub fn new() -> NotifyDir {
        NotifyDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    /// Write `data` as the deployment config file.
    pub fn config(&self, data: &serde_json::Value) -> PathBuf {
        let p = self.dir.path().join("config.json");
        std::fs::write(&p, serde_json::to_vec(data).unwrap()).unwrap();
        p
    }
}

/// `[<sub>] --config-file /dev/null --one-time --print --cachedir <cache> --backup-cachedir
/// <backup> --local-path <local> <extra> local`: one collection from the local collector, run
/// as `exe` (the binary with `sub = Some("collect")`, or a legacy `os-collect-config` link).
pub fn collect_local_once(
    exe: &Path,
    sub: Option<&str>,
    cache: &Path,
    backup: &Path,
    local: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut c = std::process::Command::new(exe);
    c.args(sub)
        .args([
            "--config-file",
            "/dev/null",
            "--one-time",
            "--print",
            "--cachedir",
        ])
        .arg(cache)
        .arg("--backup-cachedir")
        .arg(backup)
        .arg("--local-path")
        .arg(local)
        .args(extra)
        .arg("local");
    c
}

/// The built-in hooks, as `heat-agent hook --list` prints them (packaging and the element read
/// the same list).
pub fn hook_list() -> Vec<String> {
    let out = std::process::Command::new(bin())
        .args(["hook", "--list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The wrapper an image installs for hook `name`, execing heat-agent at `agent`
/// (`heat-agent hook --wrapper NAME --agent PATH`).
pub fn hook_wrapper(name: &str, agent: &str) -> String {
    let out = std::process::Command::new(bin())
        .args(["hook", "--wrapper", name, "--agent", agent])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}
