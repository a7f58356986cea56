//! Handing a deployment's signal data over: to the durable outbox of `crate::notify` (normal
//! case), or — when `HEAT_CONFIG_NOTIFY` names another program — by running that program
//! exactly like the reference (`<notify> <deployed>/<id>.json`, signal JSON on stdin).

use crate::config::Settings;
use crate::process::{self, Spec};
use serde_json::Value;
use std::cell::OnceCell;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::notify::courier::Courier;
use crate::notify::Outbox;

/// Where signals go.
pub enum Notifier {
    /// The outbox, and the thread that delivers from it during this run.
    Outbox(Outbox, OnceCell<Courier>),
    /// An external notifier program (reference behaviour, used by the reference's tests).
    Program(PathBuf),
}

/// Time an external notifier may take (the reference has none; ours must not hang forever).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(600);

impl Notifier {
    /// `HEAT_CONFIG_NOTIFY` set to a program that is not this binary → that program; else the
    /// in-process outbox. An unresolvable program falls back to the outbox (no lost signal).
    pub fn choose(notify_env: Option<OsString>, state_dir: &Path) -> io::Result<Notifier> {
        if let Some(cmd) = notify_env.filter(|c| !c.is_empty()) {
            match crate::process::find_program(Path::new(&cmd)) {
                Some(p) if !is_this_binary(&p) => return Ok(Notifier::Program(p)),
                Some(_) => {}
                None => log::warn!(
                    "HEAT_CONFIG_NOTIFY={}: no such program; signals go through the built-in outbox",
                    Path::new(&cmd).display()
                ),
            }
        }
        Ok(Notifier::Outbox(Outbox::open(state_dir)?, OnceCell::new()))
    }

    /// Hand one signal over. For the outbox: persisted before any delivery attempt. For a
    /// program: run it; its failure is logged (as the reference does) and not retried.
    pub fn hand_over(
        &self,
        marker: &Path,
        id: &str,
        entry: &Value,
        signal: &Value,
    ) -> io::Result<()> {
        match self {
            Notifier::Outbox(o, _) => o.enqueue(id, entry, signal),
            Notifier::Program(p) => {
                let mut spec = Spec::new(p).arg(marker).capture(1 << 20);
                spec.stdin = Some(crate::pyjson::dumps(signal).into_bytes());
                spec.timeout = Some(NOTIFY_TIMEOUT);
                log::debug!("Running {} {}", p.display(), marker.display());
                match process::run(&spec, None) {
                    Ok(f) => {
                        let out = String::from_utf8_lossy(&f.stdout);
                        let err = String::from_utf8_lossy(&f.stderr);
                        if !out.trim().is_empty() {
                            log::info!("{}", out.trim_end());
                        }
                        if f.success() {
                            if !err.trim().is_empty() {
                                log::debug!("{}", err.trim_end());
                            }
                        } else {
                            log::error!("Error running {}. [{}]", p.display(), f.describe());
                            if !err.trim().is_empty() {
                                log::error!("{}", err.trim_end());
                            }
                        }
                    }
                    Err(e) => log::error!("Error running {}: {e}", p.display()),
                }
                Ok(())
            }
        }
    }

    /// Attempt the queued signals that are due (no-op for an external program), then wait
    /// for this run's deliveries, but never for an endpoint that does not answer: what is still
    /// in flight after [`crate::notify::courier::STALLED_ATTEMPT`] stays queued for the daemon or the next run.
    pub fn deliver(&self, settings: &Settings) {
        if let Notifier::Outbox(o, courier) = self {
            let courier = courier.get_or_init(|| Courier::start(o.clone(), settings.clone(), None));
            courier.deliver_due();
            courier.finish(o.dir());
        }
    }

    /// Attempt the signal of deployment `id` soon (right after it was queued), on the
    /// delivery thread: the next deployment does not wait for it.
    pub fn deliver_one(&self, settings: &Settings, id: &str) {
        if let Notifier::Outbox(o, courier) = self {
            courier
                .get_or_init(|| Courier::start(o.clone(), settings.clone(), None))
                .deliver_one(id);
        }
    }
}

/// Whether `path` is (a link to) the running binary.
pub fn is_this_binary(path: &Path) -> bool {
    static ME: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let Some(me) = ME.get_or_init(|| std::fs::canonicalize("/proc/self/exe").ok()) else {
        return false;
    };
    std::fs::canonicalize(path).is_ok_and(|p| &p == me)
}
