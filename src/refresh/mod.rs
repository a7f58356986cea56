//! os-refresh-config: run the phase directories
//! `pre-configure.d`, `configure.d`, `post-configure.d`, `migration.d` of the base directory in
//! order with the built-in run-parts, under a non-blocking lock, with an optional overall timeout
//! that kills the running script's whole process tree, `error.d` on failure, and SIGTERM/SIGINT
//! stopping the running scripts instead of orphaning them.
//!
//! `dib-run-parts` (the legacy command scripts still call) is [`runparts`]; the front ends of
//! both are `cli::refresh`. What is kept and the quirk decisions:
//! (docs/compatibility.md, "os-refresh-config and dib-run-parts").

pub mod runparts;

use nix::fcntl::Flock;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The phases, in run order.
pub const PHASES: [&str; 4] = ["pre-configure", "configure", "post-configure", "migration"];
/// The deprecated base directory, still used when it is the only one present.
pub const OLD_BASE_DIR: &str = "/opt/stack/os-config-refresh";
/// The base directory when `OS_REFRESH_CONFIG_BASE_DIR` is unset.
pub const DEFAULT_BASE_DIR: &str = "/usr/libexec/os-refresh-config";
/// Where the lock lives by default.
pub const DEFAULT_LOCKFILE: &str = "/var/run/os-refresh-config.lock";
/// Time a timed-out script gets between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// The base directory, chosen as the reference does, with the deprecation warning to print, if
/// any. `env_value` is `OS_REFRESH_CONFIG_BASE_DIR` (used as it is when set, even empty);
/// `old` and `new` are [`OLD_BASE_DIR`] and [`DEFAULT_BASE_DIR`] outside tests.
pub fn default_base_dir(
    env_value: Option<OsString>,
    old: &Path,
    new: &Path,
) -> (PathBuf, Option<String>) {
    if let Some(v) = env_value {
        return (PathBuf::from(v), None);
    }
    if old.is_dir() && !new.is_dir() {
        let warning = format!(
            "Base directory {} is deprecated. The recommended base directory is {}",
            old.display(),
            new.display()
        );
        return (old.to_path_buf(), Some(warning));
    }
    (new.to_path_buf(), None)
}

/// [`default_base_dir`] for this machine; prints the deprecation warning like the reference
/// (`WARNING:root:...` on stderr).
pub fn base_dir_from_environment() -> PathBuf {
    let (base_dir, warning) = default_base_dir(
        crate::config::vars::refresh_base_dir(),
        Path::new(OLD_BASE_DIR),
        Path::new(DEFAULT_BASE_DIR),
    );
    if let Some(w) = warning {
        crate::logging::write_plain_line(log::Level::Warn, &format!("WARNING:root:{w}"));
    }
    base_dir
}

/// Python logging levels (`--log-level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 10,
    Info = 20,
    Warning = 30,
    Error = 40,
    Critical = 50,
}

impl Level {
    /// `--log-level` value (`WARN` is Python's alias of `WARNING`).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" | "WARNING" => Level::Warning,
            "ERROR" => Level::Error,
            "CRITICAL" => Level::Critical,
            _ => return None,
        })
    }
}

/// Log lines on stderr through [`crate::logging`]; under the legacy name in the reference's
/// format: `[2026-11-23 03:46:57,507] (os-refresh-config) [INFO] Starting phase configure`.
#[derive(Clone, Copy, Debug)]
pub struct Log {
    pub level: Level,
}

impl Log {
    fn emit(&self, level: Level, msg: &str) {
        if level < self.level {
            return;
        }
        let level = match level {
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warning => log::Level::Warn,
            Level::Error | Level::Critical => log::Level::Error,
        };
        crate::logging::write_lines(
            crate::logging::Style::Tagged("os-refresh-config"),
            level,
            [msg],
        );
    }
    pub fn debug(&self, msg: &str) {
        self.emit(Level::Debug, msg)
    }
    pub fn info(&self, msg: &str) {
        self.emit(Level::Info, msg)
    }
    pub fn warn(&self, msg: &str) {
        self.emit(Level::Warning, msg)
    }
    pub fn error(&self, msg: &str) {
        self.emit(Level::Error, msg)
    }
}

/// What one refresh run needs.
#[derive(Clone, Debug)]
pub struct Options {
    pub base_dir: PathBuf,
    pub lockfile: PathBuf,
    /// Overall limit for the phases (`--timeout`); `error.d` gets the same budget again.
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    pub log: Log,
    /// Set for every script on top of the inherited environment (e.g. `OS_CONFIG_FILES`).
    pub env: Vec<(OsString, OsString)>,
}

impl Options {
    /// Defaults with the base directory resolved the way the command does,
    /// printing the deprecation warning when the old directory is used.
    pub fn from_environment() -> Options {
        Options::new(base_dir_from_environment())
    }

    pub fn new(base_dir: impl Into<PathBuf>) -> Options {
        Options {
            base_dir: base_dir.into(),
            lockfile: PathBuf::from(DEFAULT_LOCKFILE),
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
            log: Log { level: Level::Info },
            env: Vec::new(),
        }
    }
}

/// How a refresh run ended.
#[derive(Debug)]
pub enum Outcome {
    Success,
    /// A phase failed (error.d has run); the later phases did not run.
    PhaseFailed {
        phase: &'static str,
        failure: runparts::Failure,
    },
    /// `flock` failed: another run holds the lock (`errno` is EAGAIN, 11), or another error.
    Locked {
        errno: i32,
    },
    /// The lock file cannot be opened.
    LockError(String),
    /// The stop flag was raised: the running scripts were killed.
    Stopped,
}

/// Python's `str(list)` of the command the reference runs for a phase.
fn python_command_repr(dir: &Path) -> String {
    let mut s = String::from("['dib-run-parts', ");
    crate::pyjson::write_str_repr(&mut s, &dir.to_string_lossy());
    s.push(']');
    s
}

/// `<Signals.SIGKILL: 9>`
fn python_signal_repr(sig: i32) -> String {
    let name = nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("SIG{sig}"));
    format!("<Signals.{name}: {sig}>")
}

/// The text of Python's CalledProcessError for a failed phase (the script's status is in it).
fn called_process_error(dir: &Path, failure: &runparts::Failure) -> String {
    let cmd = python_command_repr(dir);
    match failure.kill_signal() {
        Some(sig) => format!("Command '{cmd}' died with {}.", python_signal_repr(sig)),
        None => format!(
            "Command '{cmd}' returned non-zero exit status {}.",
            failure.exit_status()
        ),
    }
}

/// The lock, held for the run; the file is emptied (never deleted) when it is released.
struct HeldLock(Flock<File>);

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.0.set_len(0);
    }
}

fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn take_lock(path: &Path, log: &Log) -> Result<HeldLock, Outcome> {
    match crate::fsutil::lock(path, crate::fsutil::LockWait::Fail) {
        Ok(mut lock) => {
            // Unlike the reference (whose note was never flushed), the holder is visible.
            let _ = lock.set_len(0);
            let _ = writeln!(
                lock,
                "Locked by pid=={} at {}",
                std::process::id(),
                crate::logging::local_now().strftime("%Y-%m-%d %H:%M:%S %Z")
            );
            Ok(HeldLock(lock))
        }
        Err(e) if e.raw_os_error().is_none() => {
            // the file could not be opened (the error names it)
            let msg = format!("Could not open lock file {e}");
            log.error(&msg);
            Err(Outcome::LockError(msg))
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or_default();
            log.error(&format!(
                "Could not lock {}. [Errno {errno}] {}",
                path.display(),
                strerror(errno)
            ));
            if let Ok(holder) = std::fs::read_to_string(path) {
                let holder = holder.trim();
                if !holder.is_empty() {
                    log.error(&format!("The lock is held: {holder}"));
                }
            }
            // like the reference, the errno is the exit code (EAGAIN, 11, when held)
            Err(Outcome::Locked { errno })
        }
    }
}

/// Run the phases. `stop` is raised by signal handlers (or a daemon shutting down).
pub fn refresh(opts: &Options, stop: Option<&Arc<AtomicBool>>) -> Outcome {
    let log = opts.log;
    let _lock = match take_lock(&opts.lockfile, &log) {
        Ok(l) => l,
        Err(outcome) => return outcome,
    };
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut runner = match runparts::Runner::from_env("dib-run-parts") {
        Ok(r) => r,
        Err(f) => {
            log.error(&f.describe());
            return Outcome::PhaseFailed {
                phase: PHASES[0],
                failure: f,
            };
        }
    };
    runner.stop = stop;
    runner.kill_grace = opts.kill_grace;
    runner.extra_env = opts.env.clone();
    for phase in PHASES {
        let phase_dir = opts.base_dir.join(format!("{phase}.d"));
        log.debug(&format!("Checking {}", phase_dir.display()));
        // os.path.exists: follows symlinks, so a dangling link means "no phase"
        if !phase_dir.exists() {
            log.debug(&format!("No dir for phase {phase}"));
            continue;
        }
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return stopped(&log);
        }
        log.info(&format!("Starting phase {phase}"));
        log.debug(&format!("Running {}", python_command_repr(&phase_dir)));
        runner.deadline = deadline;
        let result = runner.run(phase_dir.as_os_str());
        let failure = match result {
            Ok(()) => {
                log.info(&format!("Completed phase {phase}"));
                continue;
            }
            Err(f) => f,
        };
        if let runparts::Failure::Stopped { .. } = failure {
            return stopped(&log);
        }
        if let runparts::Failure::NotADirectory(_) | runparts::Failure::Unreadable(..) = failure {
            runner.say_error(&failure.describe());
        }
        if let (runparts::Failure::TimedOut { .. }, Some(t)) = (&failure, opts.timeout) {
            log.error(&format!(
                "Timeout reached: {}s. Sent SIGTERM, then SIGKILL after {}s, to all children",
                t.as_secs(),
                opts.kill_grace.as_secs()
            ));
        }
        log.error(&format!(
            "during {phase} phase. [{}]\n",
            called_process_error(&phase_dir, &failure)
        ));
        let error_dir = opts.base_dir.join("error.d");
        if error_dir.exists() {
            log.info("Calling error handlers.");
            // error.d gets its own budget (the reference gave it none).
            runner.deadline = opts.timeout.map(|t| Instant::now() + t);
            match runner.run(error_dir.as_os_str()) {
                Err(runparts::Failure::Stopped { .. }) => return stopped(&log),
                Err(runparts::Failure::NotADirectory(_)) => {
                    runner.say_error(&format!(
                        "Scripts directory [{}] must exist and be a directory",
                        error_dir.display()
                    ));
                }
                _ => {}
            }
        }
        log.error("Aborting...");
        return Outcome::PhaseFailed { phase, failure };
    }
    Outcome::Success
}

fn stopped(log: &Log) -> Outcome {
    log.error("Stopped by a signal: the running scripts and their children were killed");
    log.error("Aborting...");
    Outcome::Stopped
}

/// Mark every inherited descriptor above 2 close-on-exec, so the scripts get only 0-2 like the
/// reference's `close_fds=True` (descriptors Rust opens are close-on-exec already).
pub fn close_inherited_fds() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ports of tests/unit/test_os_refresh_config.py: the base-dir rules, with injected paths.
    #[test]
    fn test_default_base_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("old");
        let new = tmp.path().join("new");
        assert_eq!(default_base_dir(None, &old, &new), (new.clone(), None));
        // The variable wins, even when empty.
        assert_eq!(
            default_base_dir(Some("/set/by/env".into()), &old, &new),
            (PathBuf::from("/set/by/env"), None)
        );
        assert_eq!(
            default_base_dir(Some("".into()), &old, &new),
            (PathBuf::from(""), None)
        );
    }

    #[test]
    fn test_default_base_dir_deprecated() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("old");
        let new = tmp.path().join("new");
        std::fs::create_dir(&old).unwrap();
        let (dir, warning) = default_base_dir(None, &old, &new);
        assert_eq!(dir, old);
        assert_eq!(
            warning.unwrap(),
            format!(
                "Base directory {} is deprecated. The recommended base directory is {}",
                old.display(),
                new.display()
            )
        );
    }

    #[test]
    fn test_default_base_dir_both() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("old");
        let new = tmp.path().join("new");
        std::fs::create_dir(&old).unwrap();
        std::fs::create_dir(&new).unwrap();
        assert_eq!(default_base_dir(None, &old, &new), (new.clone(), None));
    }

    #[test]
    fn python_style_error_texts() {
        let dir = Path::new("/b/configure.d");
        let finished = crate::process::Finished {
            code: Some(99),
            ..Default::default()
        };
        let f = runparts::Failure::Script {
            path: dir.join("20-x"),
            finished: Box::new(finished),
        };
        assert_eq!(
            called_process_error(dir, &f),
            "Command '['dib-run-parts', '/b/configure.d']' returned non-zero exit status 99."
        );
        let f = runparts::Failure::TimedOut {
            path: None,
            finished: None,
        };
        assert_eq!(
            called_process_error(dir, &f),
            "Command '['dib-run-parts', '/b/configure.d']' died with <Signals.SIGKILL: 9>."
        );
    }

    #[test]
    fn levels_follow_python() {
        assert_eq!(Level::parse("WARN"), Some(Level::Warning));
        assert!(Level::Debug < Level::Info && Level::Error < Level::Critical);
        assert_eq!(Level::parse("bogus"), None);
    }

    #[test]
    fn lock_error_text() {
        assert_eq!(strerror(11), "Resource temporarily unavailable");
    }

    #[test]
    fn in_process_refresh_passes_env_and_reports_the_failed_phase() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        let out = tmp.path().join("seen");
        let script = |dir: &str, name: &str, body: String| {
            let d = base.join(dir);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(name), body).unwrap();
            std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            "configure.d",
            "10-env",
            format!(
                "#!/bin/sh\necho \"$OS_CONFIG_FILES\" >> '{}'\n",
                out.display()
            ),
        );
        script("post-configure.d", "10-fail", "#!/bin/sh\nexit 6\n".into());
        script(
            "migration.d",
            "10-never",
            format!("#!/bin/sh\necho never >> '{}'\n", out.display()),
        );
        let mut opts = Options::new(&base);
        opts.lockfile = tmp.path().join("lock");
        opts.log.level = Level::Critical;
        opts.env = vec![("OS_CONFIG_FILES".into(), "/x.json:/y.json".into())];
        let outcome = refresh(&opts, None);
        match &outcome {
            Outcome::PhaseFailed { phase, failure } => {
                assert_eq!(*phase, "post-configure");
                assert_eq!(failure.exit_status(), 6);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "/x.json:/y.json\n");
        assert_eq!(std::fs::metadata(&opts.lockfile).unwrap().len(), 0);
    }
}
