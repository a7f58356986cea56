//! OS signals for a long-running loop (`heat-agent run`): SIGHUP asks for a reload, SIGTERM and
//! SIGINT for a stop. The loop reads them as [`Event`]s between its steps; after a stop request
//! the process exits on its own within about a second even if the loop is busy, but never
//! while a write holds the caller's write lock nor while a child is being stopped (see
//! [`hold_exit`]). A reload is a re-exec with the same argv ([`reexec`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a signal asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Reload,
    Stop,
}

/// Held while a child (the daemon's command) is being run: a stop request does not end the
/// process before the child has been stopped.
static EXIT_HELD: Mutex<()> = Mutex::new(());

/// Hold off the exit that follows a stop request until the guard is dropped.
pub fn hold_exit() -> MutexGuard<'static, ()> {
    EXIT_HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// A requested stop: tell systemd, log it; the exit code is 0.
pub fn stopped() -> i32 {
    super::stopping();
    log::info!("stopping");
    0
}

/// The signals of one loop: the events, and the flag a stop request sets (for steps that
/// check it while they run).
pub struct Signals {
    pub events: mpsc::Receiver<Event>,
    pub stop: Arc<AtomicBool>,
}

/// Spawn the OS-signal thread: SIGHUP → Reload; SIGTERM/SIGINT → Stop, then exit about 800 ms
/// later with [`stopped`]'s code, once `write_lock` and [`hold_exit`] are free.
pub fn install(write_lock: Arc<Mutex<()>>) -> std::io::Result<Signals> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    // blocked by a previous incarnation around its re-exec (see `reexec`)
    let _ = reload_signals().thread_unblock();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if sig == SIGHUP {
                let _ = tx.send(Event::Reload);
                continue;
            }
            flag.store(true, Ordering::SeqCst);
            let _ = tx.send(Event::Stop);
            let lock = write_lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(800));
                drop(hold_exit());
                let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                std::process::exit(stopped());
            });
        }
    });
    Ok(Signals { events, stop })
}

/// Sleep up to `d`, waking early for an event; pings the systemd watchdog meanwhile.
pub fn sleep_or_event(d: Duration, events: &mpsc::Receiver<Event>) -> Option<Event> {
    let deadline = Instant::now() + d;
    let tick = super::watchdog_interval()
        .map(|w| w / 2)
        .unwrap_or(Duration::from_secs(3600));
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        match events.recv_timeout((deadline - now).min(tick)) {
            Ok(e) => return Some(e),
            Err(mpsc::RecvTimeoutError::Timeout) => super::watchdog(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return None;
            }
        }
    }
}

/// Re-exec this program with `argv` (the original command line). Only returns on failure.
pub fn reexec(argv: &[OsString]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| reexec_path(&p))
        .unwrap_or_else(|_| PathBuf::from(argv.first().cloned().unwrap_or_default()));
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = argv.first() {
        cmd.arg0(arg0);
    }
    cmd.args(argv.iter().skip(1));
    // A SIGHUP between exec and the new handlers would kill us (default action): keep it
    // blocked across exec; the new process unblocks it once its handlers are in place, and a
    // pending one is then delivered as a reload.
    let _ = reload_signals().thread_block();
    let err = cmd.exec();
    let _ = reload_signals().thread_unblock();
    err
}

/// The program to re-exec, from /proc/self/exe. A package upgrade renames a new binary over
/// ours and then asks for a reload: the link then reads "PATH (deleted)", and the new
/// binary is at PATH.
fn reexec_path(exe: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let bytes = exe.as_os_str().as_bytes();
    match bytes.strip_suffix(b" (deleted)") {
        Some(path) => PathBuf::from(std::ffi::OsStr::from_bytes(path)),
        None => exe.to_path_buf(),
    }
}

fn reload_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGHUP);
    set
}
