//! The one delivery mechanism for queued signals: a [`Courier`] thread attempts outbox records
//! in the order it is asked, so neither a deploy run nor the daemon's loop waits on an endpoint
//! that accepts but never answers. `deploy` hands it one signal at a time and waits for the
//! run's deliveries at the end; the daemon asks for one pass per poll cycle ([`Rounds`]).

use super::outbox::{DeliverySummary, Outbox, QuietCheck};
use crate::config::Settings;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// An attempt taking longer than this means the endpoint accepts but does not answer (or
/// another process holds the outbox): the end of a deploy run stops waiting for it.
pub const STALLED_ATTEMPT: Duration = Duration::from_secs(10);

/// Longest one daemon round waits for its pass. A pass still running then (an endpoint that
/// accepts but never answers, up to the HTTP timeout) goes on in the background, and the loop
/// keeps polling and answering stop and reload requests meanwhile.
pub const ROUND_BUDGET: Duration = Duration::from_secs(5);

enum Job {
    /// Attempt the signal of this deployment.
    One(String),
    /// Attempt every due signal (a deploy run's end).
    Due,
    /// Attempt every due signal and report back (a daemon round), right after a poll that
    /// succeeded against these origins ([`Outbox::deliver_after_poll`]).
    Pass(Vec<String>),
}

/// What a [`Job::Pass`] learnt: whether nothing is left queued, and the next retry.
struct Pass {
    nothing_queued: bool,
    next_due: Option<SystemTime>,
}

/// The delivery thread: signals are attempted in the order they were handed over.
pub struct Courier {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    passes: Mutex<mpsc::Receiver<Pass>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
    busy_since: Arc<Mutex<Option<Instant>>>,
}

impl Courier {
    /// Start the thread. `stop`: a stop request ends a pass between two records (the rest
    /// stay queued).
    pub fn start(outbox: Outbox, settings: Settings, stop: Option<Arc<AtomicBool>>) -> Courier {
        let (tx, rx) = mpsc::channel::<Job>();
        let (pass_tx, passes) = mpsc::channel::<Pass>();
        let busy_since = Arc::new(Mutex::new(None));
        let busy = busy_since.clone();
        let thread = thread::spawn(move || {
            for job in rx {
                *busy.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                match job {
                    Job::One(id) => report(outbox.deliver_one(&settings, &id)),
                    Job::Due => report(outbox.deliver_due(&settings, stop.as_ref())),
                    Job::Pass(answered) => {
                        let s = outbox.deliver_after_poll(&settings, stop.as_ref(), &answered);
                        report_pass(s);
                        let next_due = outbox.next_due();
                        let nothing_queued = s.pending == 0 && next_due.is_none();
                        let _ = pass_tx.send(Pass {
                            nothing_queued,
                            next_due,
                        });
                    }
                }
                *busy.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        });
        Courier {
            tx: Mutex::new(Some(tx)),
            passes: Mutex::new(passes),
            thread: Mutex::new(Some(thread)),
            busy_since,
        }
    }

    fn send(&self, job: Job) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(job);
        }
    }

    /// Attempt the signal of deployment `id` soon (right after it was queued).
    pub fn deliver_one(&self, id: &str) {
        self.send(Job::One(id.to_string()));
    }

    /// Attempt every due signal.
    pub fn deliver_due(&self) {
        self.send(Job::Due);
    }

    /// The result of the pass asked for earliest and not yet collected, waiting up to `wait`.
    fn pass_done(&self, wait: Duration) -> Option<Pass> {
        self.passes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(wait)
            .ok()
    }

    /// No more jobs; wait until they are done or an attempt stalls. A stop request does not
    /// cut this short: the signal of a deployment it interrupted is worth one attempt.
    pub fn finish(&self, outbox_dir: &Path) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        loop {
            if thread.is_finished() {
                let _ = thread.join();
                return;
            }
            let stalled = self
                .busy_since
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|t| t.elapsed() > STALLED_ATTEMPT);
            if stalled {
                log::warn!(
                    "a signal endpoint is not answering; undelivered signals stay queued in {} \
                     (delivered by the heat-agent daemon, `heat-config-notify --flush` or the next run)",
                    outbox_dir.display()
                );
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn report(s: DeliverySummary) {
    if s.pending > 0 || s.failed > 0 {
        log::info!(
            "signals: {} delivered, {} pending, {} failed",
            s.delivered,
            s.pending,
            s.failed
        );
    }
}

fn report_pass(s: DeliverySummary) {
    if s.delivered + s.failed > 0 || s.pending > 0 {
        log::info!(
            "signals: {} delivered, {} pending, {} failed permanently",
            s.delivered,
            s.pending,
            s.failed
        );
    }
}

/// The daemon's delivery: one pass over the outbox per poll cycle on a [`Courier`], skipped
/// while the outbox is quiet ([`QuietCheck`]), waited for at most [`ROUND_BUDGET`].
pub struct Rounds {
    settings: Settings,
    state_dir: PathBuf,
    stop: Arc<AtomicBool>,
    quiet: Option<QuietCheck>,
    courier: Option<Courier>,
    /// A pass left running by an earlier round (at most one at a time).
    in_flight: bool,
}

impl Rounds {
    pub fn new(settings: &Settings, stop: Arc<AtomicBool>) -> Rounds {
        let settings = super::with_state_dir_override(settings.clone());
        Rounds {
            state_dir: settings.deploy.state_dir.clone(),
            settings,
            stop,
            quiet: None,
            courier: None,
            in_flight: false,
        }
    }

    /// Deliver queued signals; returns how long until the next retry is due. `answered`: the
    /// origins (`scheme://host:port`) a poll has just succeeded against; signals whose last
    /// attempt failed at one of them are delivered now rather than at their scheduled retry.
    pub fn round(&mut self, answered: &[String]) -> Option<Duration> {
        if self.in_flight {
            // still waiting for an endpoint: the next cycle looks again
            self.courier.as_ref()?.pass_done(Duration::ZERO)?;
            self.in_flight = false;
        }
        let outbox_dir = self.state_dir.join("outbox");
        // nothing was ever queued: no files to create, no work
        let meta = std::fs::metadata(&outbox_dir).ok().filter(|m| m.is_dir())?;
        let mtime = meta.modified().ok();
        let state_dir = &self.state_dir;
        let quiet = self
            .quiet
            .get_or_insert_with(|| QuietCheck::load(state_dir));
        if quiet.unchanged(mtime) {
            return None;
        }
        if self.courier.is_none() {
            match Outbox::open(&self.state_dir) {
                Ok(o) => {
                    let courier = Courier::start(o, self.settings.clone(), Some(self.stop.clone()));
                    self.courier = Some(courier);
                }
                Err(e) => {
                    log::warn!("signal outbox {}: {e}", outbox_dir.display());
                    return None;
                }
            }
        }
        let courier = self.courier.as_ref()?;
        courier.send(Job::Pass(answered.to_vec()));
        let deadline = Instant::now() + ROUND_BUDGET;
        let pass = loop {
            if let Some(pass) = courier.pass_done(Duration::from_millis(20)) {
                break pass;
            }
            if self.stop.load(Ordering::SeqCst) {
                self.in_flight = true;
                return None; // a stop does not wait for an endpoint; the record stays queued
            }
            if Instant::now() >= deadline {
                log::warn!(
                    "a signal endpoint is slow to answer; delivery goes on in the background \
                     (undelivered signals stay queued in {})",
                    outbox_dir.display()
                );
                self.in_flight = true;
                return None;
            }
        };
        if let Some(quiet) = self.quiet.as_mut() {
            quiet.settle(&self.state_dir, mtime, pass.nothing_queued);
        }
        pass.next_due
            .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default())
    }
}
