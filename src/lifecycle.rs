//! systemd service notifications (the `sd_notify` datagram protocol) for `heat-agent run`.
//!
//! systemd passes a socket in `NOTIFY_SOCKET` (a filesystem path, or `@name` for an abstract
//! socket); each notification is one datagram of `KEY=VALUE` lines. Without `NOTIFY_SOCKET`
//! (not started by systemd, or `Type=simple`) every call is a quiet no-op, so the daemon calls
//! [`ready`], [`status`], [`watchdog`], [`reloading`] and [`stopping`] unconditionally. They
//! never fail: a daemon must not stop polling because systemd is momentarily unreachable (a
//! failure is logged at debug level; [`notify`] returns it to callers that care).
//!
//! The watchdog: `WATCHDOG_USEC` (the unit's `WatchdogSec=`) and, when set, `WATCHDOG_PID`
//! (only that process is meant to ping). [`watchdog_interval`] is that timeout; ping at least
//! twice within it.
//!
//! [`StopSignals`]: SIGTERM/SIGINT for the one-shot commands.
//!
//! Children (hooks, phase scripts) inherit `NOTIFY_SOCKET`; with `Type=notify` the unit's
//! default `NotifyAccess=main` makes systemd ignore anything they send, so that is harmless.

pub mod loop_signals;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Environment variable carrying the notification socket address.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends one notification (`state` is one or more `KEY=VALUE` lines) to the socket named by
/// `NOTIFY_SOCKET`. Returns `Ok(false)` when there is no socket to notify (not under systemd).
pub fn notify(state: &str) -> io::Result<bool> {
    notify_with(std::env::var_os(NOTIFY_SOCKET).as_deref(), state)
}

/// [`notify`] with the value of `NOTIFY_SOCKET` passed in (unset or empty: no-op).
fn notify_with(addr: Option<&OsStr>, state: &str) -> io::Result<bool> {
    match addr {
        Some(addr) if !addr.is_empty() => notify_to(addr, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` to the notification socket `addr` (path, or `@name` for an abstract socket).
pub fn notify_to(addr: &OsStr, state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = addr.as_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let sa = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &sa)?
    } else if bytes.starts_with(b"/") {
        sock.send_to(state.as_bytes(), addr)?
    } else {
        // systemd also knows `vsock:` addresses (for VMs); we are always on the host side.
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{NOTIFY_SOCKET}={}: unsupported address",
                addr.to_string_lossy()
            ),
        ));
    };
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notification truncated",
        ));
    }
    Ok(())
}

fn send(state: &str) {
    if let Err(e) = notify(state) {
        log::debug!("systemd notification {state:?} not sent: {e}");
    }
}

/// `READY=1`: start-up is complete (the first poll cycle is set up), or a reload finished.
pub fn ready() {
    send("READY=1")
}

/// `STATUS=<text>`: the one-line status `systemctl status` shows. Line breaks become spaces
/// (a newline would start a new `KEY=VALUE` assignment).
pub fn status(text: &str) {
    send(&status_message(text))
}

/// `WATCHDOG=1`: the loop is alive.
pub fn watchdog() {
    send("WATCHDOG=1")
}

/// `STOPPING=1`: a graceful stop has begun.
pub fn stopping() {
    send("STOPPING=1")
}

/// `RELOADING=1` with the `MONOTONIC_USEC=` systemd (>= 253) wants alongside it. Send [`ready`]
/// when the reload is done (after a re-exec: the new image's first `READY=1`).
pub fn reloading() {
    send(&reloading_message(monotonic_usec()))
}

fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(now) => now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1000,
        Err(_) => 0,
    }
}

fn reloading_message(usec: u64) -> String {
    if usec == 0 {
        "RELOADING=1".to_string()
    } else {
        format!("RELOADING=1\nMONOTONIC_USEC={usec}")
    }
}

/// OS stop signals for a one-shot command (`refresh`, `run-parts`): SIGTERM and SIGINT raise
/// [`StopSignals::flag`] (the runner then kills the running script's tree) and record which
/// signal came; a second one of them exits the process at once (128 + the signal).
pub struct StopSignals {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    which: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl StopSignals {
    /// Install the handlers (for the rest of the process's life).
    pub fn install() -> StopSignals {
        let signals = StopSignals {
            stop: Default::default(),
            which: Default::default(),
        };
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            let stop = signals.stop.clone();
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, stop);
            let _ = signal_hook::flag::register_usize(sig, signals.which.clone(), sig as usize);
            let _ = signal_hook::flag::register(sig, signals.stop.clone());
        }
        signals
    }

    /// Raised by the first SIGTERM or SIGINT (shared: a runner may hand it to threads).
    pub fn flag(&self) -> &std::sync::Arc<std::sync::atomic::AtomicBool> {
        &self.stop
    }

    /// The exit status of a run the signal stopped: 128 + the signal (SIGTERM's when none
    /// came, e.g. the flag was raised otherwise).
    pub fn exit_code(&self) -> i32 {
        match self.which.load(std::sync::atomic::Ordering::SeqCst) {
            0 => 128 + nix::libc::SIGTERM,
            s => 128 + s as i32,
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP for a one-shot command that records what it stops (`deploy`): the
/// first raises `stop`, records the signal in `received` and logs `signal N received: <what>`;
/// a second exits at once with 128 + the signal (everything recorded so far is durable).
pub fn stop_on_signals(
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    received: &std::sync::Arc<std::sync::atomic::AtomicI32>,
    what: &'static str,
) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::sync::atomic::Ordering;
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let (stop, received) = (stop.clone(), received.clone());
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if received.swap(sig, Ordering::SeqCst) != 0 {
                std::process::exit(128 + sig);
            }
            log::warn!("signal {sig} received: {what}");
            stop.store(true, Ordering::SeqCst);
        }
    });
    Ok(())
}

/// Runs `f` while a helper thread keeps the systemd watchdog fed (at once, then every half
/// interval), for steps that legitimately take long, such as the refresh command running
/// hooks: those have their own timeouts, so a slow hook must not look like a hung agent.
/// Without a watchdog for this process it just runs `f`.
pub fn with_watchdog<T>(f: impl FnOnce() -> T) -> T {
    match watchdog_interval() {
        Some(interval) => feed_while(interval / 2, None, watchdog, f),
        None => f(),
    }
}

/// [`with_watchdog`] for a step bounded by `limit` (the collection phase, whose every network
/// call is cut at the cycle's deadline): the feeding stops once `limit` has passed, so a step
/// that hangs beyond its bound is still caught by the watchdog (within `limit` plus
/// `WatchdogSec`).
pub fn with_watchdog_for<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    match watchdog_interval() {
        Some(interval) => feed_while(
            interval / 2,
            Some(std::time::Instant::now() + limit),
            watchdog,
            f,
        ),
        None => f(),
    }
}

/// Ping at once, then every `period` until `f` returns (or, with `until`, until then).
fn feed_while<T>(
    period: Duration,
    until: Option<std::time::Instant>,
    ping: fn(),
    f: impl FnOnce() -> T,
) -> T {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    ping();
    let feeder = std::thread::spawn(move || {
        use std::sync::mpsc::RecvTimeoutError;
        loop {
            let wait = match until {
                Some(end) => {
                    let left = end.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        // past the bound: no more pings, only wait for the end
                        let _ = finished.recv();
                        return;
                    }
                    left.min(period)
                }
                None => period,
            };
            match finished.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {
                    if until.is_none_or(|end| std::time::Instant::now() < end) {
                        ping();
                    }
                }
                _ => return,
            }
        }
    });
    let result = f();
    drop(done);
    let _ = feeder.join();
    result
}

fn status_message(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!("STATUS={one_line}")
}

/// The watchdog timeout systemd enforces (`WatchdogSec=`) when this process is the one meant to
/// ping; `None` when no watchdog is armed for it. Send [`watchdog`] at least every half of it.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_timeout_from(
        std::env::var_os("WATCHDOG_USEC"),
        std::env::var_os("WATCHDOG_PID"),
        std::process::id(),
    )
}

/// Pure part of [`watchdog_interval`]: `WATCHDOG_USEC` must be a positive integer; a
/// `WATCHDOG_PID` naming another process (e.g. we are a child that inherited the environment)
/// disarms it; an absent `WATCHDOG_PID` means the watchdog is ours.
pub fn watchdog_timeout_from(
    usec: Option<OsString>,
    pid: Option<OsString>,
    own_pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.to_str()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Some(pid) = pid {
        let pid: u32 = pid.to_str()?.trim().parse().ok()?;
        if pid != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notification arrives");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn notify_to_path_socket_delivers_one_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(recv(&sock), "READY=1");
        notify_to(path.as_os_str(), &status_message("polling\nok")).unwrap();
        assert_eq!(recv(&sock), "STATUS=polling ok");
    }

    #[test]
    fn notify_to_abstract_socket() {
        let name = format!(
            "heat-agent-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        );
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "WATCHDOG=1").unwrap();
        assert_eq!(recv(&sock), "WATCHDOG=1");
    }

    #[test]
    fn notify_to_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = notify_to(dir.path().join("absent").as_os_str(), "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn notify_to_unsupported_address() {
        let err = notify_to(OsStr::new("vsock:2:1234"), "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }

    #[test]
    fn status_message_is_one_line() {
        assert_eq!(status_message("a\r\nb"), "STATUS=a  b");
        assert_eq!(status_message("last poll: ok"), "STATUS=last poll: ok");
    }

    #[test]
    fn watchdog_timeout_parsing() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            watchdog_timeout_from(os("200000"), None, 42),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            watchdog_timeout_from(os("30000000"), os("42"), 42),
            Some(Duration::from_secs(30))
        );
        // another process's watchdog (inherited environment)
        assert_eq!(watchdog_timeout_from(os("30000000"), os("41"), 42), None);
        assert_eq!(watchdog_timeout_from(None, os("42"), 42), None);
        assert_eq!(watchdog_timeout_from(os("0"), None, 42), None);
        assert_eq!(watchdog_timeout_from(os("-5"), None, 42), None);
        assert_eq!(watchdog_timeout_from(os("soon"), None, 42), None);
        assert_eq!(watchdog_timeout_from(os("100"), os("x"), 42), None);
    }

    static PINGS: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>> =
        std::sync::Mutex::new(None);

    fn counting_ping() {
        if let Some(tx) = PINGS.lock().unwrap().as_ref() {
            let _ = tx.send(());
        }
    }

    #[test]
    fn feed_while_pings_until_the_work_is_done() {
        let (tx, pinged) = std::sync::mpsc::channel();
        *PINGS.lock().unwrap() = Some(tx);
        // the work only finishes after the feeder has pinged twice (once at the start)
        let out = feed_while(Duration::from_millis(1), None, counting_ping, || {
            pinged.recv_timeout(Duration::from_secs(30)).unwrap();
            pinged.recv_timeout(Duration::from_secs(30)).unwrap();
            42
        });
        assert_eq!(out, 42);
        // bounded: the pings stop at the bound while the work goes on (a hung step is
        // caught by the watchdog)
        while pinged.try_recv().is_ok() {}
        let until = std::time::Instant::now() + Duration::from_millis(50);
        let out = feed_while(Duration::from_millis(5), Some(until), counting_ping, || {
            pinged.recv_timeout(Duration::from_secs(30)).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            7
        });
        assert_eq!(out, 7);
        let mut late = 0;
        while pinged.try_recv().is_ok() {
            late += 1;
        }
        // at most about 50 / 5 pings fit before the bound; none in the 250 ms after it
        assert!(late <= 12, "{late} pings");
        *PINGS.lock().unwrap() = None;
    }

    #[test]
    fn reloading_message_carries_monotonic_time() {
        assert_eq!(reloading_message(1234), "RELOADING=1\nMONOTONIC_USEC=1234");
        assert_eq!(reloading_message(0), "RELOADING=1");
        assert!(monotonic_usec() > 0);
    }

    #[test]
    fn notify_without_socket_is_a_noop() {
        assert!(!notify_with(None, "READY=1").unwrap());
        assert!(!notify_with(Some(OsStr::new("")), "READY=1").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        assert!(notify_with(Some(path.as_os_str()), "STOPPING=1").unwrap());
        assert_eq!(recv(&sock), "STOPPING=1");
    }

    // No test here sets NOTIFY_SOCKET or WATCHDOG_*: the environment is process-wide and other
    // tests (the daemon's) call these functions in parallel. The wrappers are one line each over
    // notify_with/watchdog_timeout_from; tests/packaging_notify.rs covers them end to end.

    #[test]
    fn a_stop_signal_raises_the_flag_and_names_the_exit_code() {
        let signals = StopSignals::install();
        assert!(!signals.flag().load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(signals.exit_code(), 128 + nix::libc::SIGTERM);
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT).unwrap();
        assert!(signals.flag().load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(signals.exit_code(), 128 + nix::libc::SIGINT);
    }
}
