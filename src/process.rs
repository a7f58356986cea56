//! The one place child processes are run: stdin bytes, bounded stdout/stderr capture (the tail
//! is kept), a timeout, an own process group, and killing the whole tree (group members and
//! every descendant found in /proc, so double-forked children die too).

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What to do with one of the child's output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Inherit,
    Null,
    /// Capture, keeping at most this many bytes (the tail).
    Capture(usize),
}

/// Default capture bound: 4 MiB per stream (Heat's signal body limit is 1 MiB anyway).
pub const DEFAULT_CAPTURE: usize = 4 << 20;

/// Default [`Spec::drain_grace`].
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub env_remove: Vec<OsString>,
    pub env_clear: bool,
    pub cwd: Option<PathBuf>,
    /// `None`: inherit stdin; `Some(bytes)`: write them, then EOF.
    pub stdin: Option<Vec<u8>>,
    pub stdout: Output,
    pub stderr: Output,
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when the timeout fires.
    pub kill_grace: Duration,
    /// The same when the caller's stop flag is raised.
    pub stop_grace: Duration,
    /// Put the child in its own process group (so the whole tree can be killed).
    pub own_group: bool,
    /// After the child exited, how long to wait for its captured streams to close (a
    /// background process it started may keep them open indefinitely).
    pub drain_grace: Duration,
}

impl Spec {
    pub fn new(program: impl Into<PathBuf>) -> Spec {
        Spec {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            env_clear: false,
            cwd: None,
            stdin: None,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
            timeout: None,
            kill_grace: Duration::from_secs(5),
            stop_grace: Duration::from_millis(500),
            own_group: true,
            drain_grace: DRAIN_GRACE,
        }
    }

    /// `/bin/sh -c <command>`
    pub fn shell(command: &str) -> Spec {
        let mut s = Spec::new("/bin/sh");
        s.args = vec!["-c".into(), command.into()];
        s
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Spec {
        self.args.push(a.into());
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Spec {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn capture(mut self, limit: usize) -> Spec {
        self.stdout = Output::Capture(limit);
        self.stderr = Output::Capture(limit);
        self
    }
}

/// How a child ended.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Stopped because the caller's stop flag was raised.
    pub cancelled: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Bytes dropped from the front of stdout/stderr to respect the capture bound.
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
    pub duration: Duration,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out && !self.cancelled
    }

    /// The return code the way Python's subprocess reports it: `-N` when killed by signal N.
    pub fn python_returncode(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => -s,
            _ => -1,
        }
    }

    /// Exit status a shell would give: `128+N` for a signal.
    pub fn shell_status(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            _ => 1,
        }
    }

    pub fn describe(&self) -> String {
        if self.timed_out {
            format!("timed out after {:.1}s", self.duration.as_secs_f64())
        } else if self.cancelled {
            "stopped".to_string()
        } else if let Some(s) = self.signal {
            format!("killed by signal {s}")
        } else {
            format!("exit status {}", self.code.unwrap_or(-1))
        }
    }
}

/// Keeps the last `limit` bytes written to it.
struct Tail {
    limit: usize,
    buf: Vec<u8>,
    dropped: u64,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        if self.buf.len() > self.limit.saturating_mul(2).max(64 * 1024) {
            self.trim();
        }
    }
    fn trim(&mut self) {
        if self.buf.len() > self.limit {
            let cut = self.buf.len() - self.limit;
            self.dropped += cut as u64;
            self.buf.drain(..cut);
        }
    }
}

/// A stream being captured by its own thread.
struct Capture {
    tail: Arc<Mutex<Tail>>,
    thread: thread::JoinHandle<()>,
}

impl Capture {
    fn start<R: Read + Send + 'static>(mut r: R, limit: usize) -> Capture {
        let tail = Arc::new(Mutex::new(Tail {
            limit,
            buf: Vec::new(),
            dropped: 0,
        }));
        let shared = tail.clone();
        let thread = thread::spawn(move || {
            let mut chunk = [0u8; 16 * 1024];
            loop {
                match r.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => lock(&shared).push(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        });
        Capture { tail, thread }
    }

    /// What was read by `deadline` (or EOF, if sooner). A background process of the child
    /// may hold the stream open long after the child exited: its later output is drained by
    /// the thread while this process lives, and not waited for.
    fn finish(self, deadline: Instant) -> (Vec<u8>, u64) {
        while !self.thread.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let mut tail = lock(&self.tail);
        tail.trim();
        if self.thread.is_finished() {
            (std::mem::take(&mut tail.buf), tail.dropped)
        } else {
            (tail.buf.clone(), tail.dropped)
        }
    }
}

fn lock(t: &Mutex<Tail>) -> std::sync::MutexGuard<'_, Tail> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

fn stdio_for(o: Output) -> Stdio {
    match o {
        Output::Inherit => Stdio::inherit(),
        Output::Null => Stdio::null(),
        Output::Capture(_) => Stdio::piped(),
    }
}

/// The command `spec` describes, not yet started.
fn command(spec: &Spec) -> Command {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args);
    if spec.env_clear {
        cmd.env_clear();
    }
    for k in &spec.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    if spec.own_group {
        cmd.process_group(0);
    }
    cmd.stdin(if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    cmd.stdout(stdio_for(spec.stdout));
    cmd.stderr(stdio_for(spec.stderr));
    cmd
}

/// A command name searched in `PATH` (as exec would), or a path as given; `None` when there is
/// no such file.
pub fn find_program(cmd: &std::path::Path) -> Option<PathBuf> {
    if cmd.components().count() > 1 || cmd.is_absolute() {
        return cmd.is_file().then(|| cmd.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// Run the child to completion (or timeout / stop). `stop` is polled every 100 ms.
pub fn run(spec: &Spec, stop: Option<&Arc<AtomicBool>>) -> std::io::Result<Finished> {
    let start = Instant::now();
    let mut child = command(spec).spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot run {}: {e}", spec.program.display()),
        )
    })?;
    let pid = child.id() as i32;

    let out_capture = match (spec.stdout, child.stdout.take()) {
        (Output::Capture(limit), Some(s)) => Some(Capture::start(s, limit)),
        _ => None,
    };
    let err_capture = match (spec.stderr, child.stderr.take()) {
        (Output::Capture(limit), Some(s)) => Some(Capture::start(s, limit)),
        _ => None,
    };
    if let (Some(data), Some(mut sin)) = (spec.stdin.clone(), child.stdin.take()) {
        // A child that exits without reading its stdin must not make us fail (EPIPE).
        thread::spawn(move || {
            let _ = sin.write_all(&data);
        });
    }

    let (tx, rx) = mpsc::channel::<std::io::Result<ExitStatus>>();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });

    let mut timed_out = false;
    let mut cancelled = false;
    let status = loop {
        let tick = Duration::from_millis(100);
        let wait = match spec.timeout {
            Some(t) if !timed_out => t.saturating_sub(start.elapsed()).min(tick),
            _ => tick,
        };
        match rx.recv_timeout(wait) {
            Ok(status) => break status?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::other("lost track of child process"))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let stop_now = stop.is_some_and(|s| s.load(Ordering::SeqCst));
        let time_up = spec.timeout.is_some_and(|t| start.elapsed() >= t);
        if (stop_now || time_up) && !timed_out && !cancelled {
            timed_out = time_up && !stop_now;
            cancelled = stop_now;
            let grace = if cancelled {
                spec.stop_grace
            } else {
                spec.kill_grace
            };
            terminate_tree(pid, spec.own_group, grace);
            // fall through: the waiter thread reports the status next
        }
    };

    // The child has exited: its output is complete once its pipes close, unless a background
    // process it left (`nohup daemon &`) holds them. That one is not waited for (nor killed).
    let drain_deadline = Instant::now() + spec.drain_grace;
    let (stdout, stdout_dropped) = out_capture
        .map(|c| c.finish(drain_deadline))
        .unwrap_or_default();
    let (stderr, stderr_dropped) = err_capture
        .map(|c| c.finish(drain_deadline))
        .unwrap_or_default();
    use std::os::unix::process::ExitStatusExt;
    Ok(Finished {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        cancelled,
        stdout,
        stderr,
        stdout_dropped,
        stderr_dropped,
        duration: start.elapsed(),
    })
}

/// Stop the tree: SIGTERM the child (its process group when it has one), wait up to `grace`
/// for the child and every process below it to exit, then SIGKILL all of them.
///
/// SIGTERM goes to the child's own group only. A descendant in a group of its own (a phase
/// script under os-refresh-config, a hook under a deploy run) is stopped by its parent, which
/// got the SIGTERM and has a grace of its own for it; a second SIGTERM straight from us would
/// tell a deploy run that is still recording its result to exit at once. Whatever is still
/// alive when the grace ends gets SIGKILL, wherever it is. Waiting for the child alone is not
/// enough: a shell child dies at once while the program it started still needs its grace. The
/// exit status itself is collected by the waiter thread of `run`.
fn terminate_tree(pid: i32, group: bool, grace: Duration) {
    let below = descendants(pid);
    signal_child(pid, group, Signal::SIGTERM);
    // We cannot consume the status here (the main loop does), so just sleep-poll the process.
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) && !below.iter().any(|v| alive(*v)) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let mut everyone = descendants(pid);
    everyone.extend(below);
    signal_child(pid, group, Signal::SIGKILL);
    for v in everyone {
        let _ = kill(Pid::from_raw(v), Signal::SIGKILL);
    }
}

fn alive(pid: i32) -> bool {
    // A zombie still "exists"; look at /proc state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// `sig` to the child's process group when it leads one, else to the child alone.
fn signal_child(pid: i32, group: bool, sig: Signal) {
    let leader = Pid::from_raw(pid);
    if !(group && killpg(leader, sig).is_ok()) {
        let _ = kill(leader, sig);
    }
}

/// Every process whose ancestry leads to `root`, from /proc.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // fields after the ")" of comm: state ppid ...
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let mut f = rest.split_whitespace();
                let _state = f.next();
                if let Some(ppid) = f.next().and_then(|p| p.parse::<i32>().ok()) {
                    children.entry(ppid).or_default().push(pid);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if let Some(kids) = children.get(&p) {
            for k in kids {
                out.push(*k);
                stack.push(*k);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_exit_code() {
        let f = run(
            &Spec::shell("echo out; echo err >&2; exit 3").capture(1024),
            None,
        )
        .unwrap();
        assert_eq!(f.code, Some(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr, b"err\n");
        assert!(!f.success());
    }

    #[test]
    fn stdin_is_delivered() {
        let mut s = Spec::new("/bin/cat").capture(1024);
        s.stdin = Some(b"hello".to_vec());
        let f = run(&s, None).unwrap();
        assert_eq!(f.stdout, b"hello");
        assert!(f.success());
    }

    #[test]
    fn capture_keeps_the_tail() {
        let f = run(
            &Spec::shell("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done")
                .capture(100),
            None,
        )
        .unwrap();
        assert_eq!(f.stdout.len(), 100);
        assert!(f.stdout.ends_with(b"line1999\n"));
        assert!(f.stdout_dropped > 0);
    }

    #[test]
    fn timeout_kills_tree_including_term_ignoring_child() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child.pid");
        let script = format!(
            "(trap '' TERM; echo $$ > /dev/null; sh -c 'trap \"\" TERM; echo $$ > {m}; sleep 30') & sleep 30",
            m = marker.display()
        );
        let mut spec = Spec::shell(&script).capture(1024);
        spec.timeout = Some(Duration::from_millis(300));
        spec.kill_grace = Duration::from_millis(200);
        let f = run(&spec, None).unwrap();
        assert!(f.timed_out);
        assert!(f.duration < Duration::from_secs(5));
        let child: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(!alive(child), "grandchild {child} survived");
    }

    #[test]
    fn background_child_holding_the_pipes_is_neither_waited_for_nor_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("bg.pid");
        let mut spec = Spec::shell(&format!(
            "echo before; sleep 30 & echo $! > {}; exit 4",
            pidfile.display()
        ))
        .capture(1024);
        spec.drain_grace = Duration::from_millis(200);
        let f = run(&spec, None).unwrap();
        let bg: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let bg_alive = alive(bg);
        let _ = kill(Pid::from_raw(bg), Signal::SIGKILL);
        assert_eq!(f.code, Some(4));
        assert!(!f.timed_out);
        assert_eq!(f.stdout, b"before\n");
        assert!(bg_alive);
    }

    #[test]
    fn stop_flag_cancels() {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            s2.store(true, Ordering::SeqCst);
        });
        let f = run(&Spec::shell("sleep 30").capture(10), Some(&stop)).unwrap();
        assert!(f.cancelled);
        assert!(f.duration < Duration::from_secs(3));
    }

    #[test]
    fn missing_program_names_it() {
        let err = run(&Spec::new("/nonexistent/prog"), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/prog"));
    }
}
