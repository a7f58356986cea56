//! The os-collect-config poll loop as an explicit state machine: one
//! [`Step`] enum, one method per step. Everything it does to the world goes through [`World`]
//! (the real one is [`world::Live`]; the tests drive a scripted one with an injected clock),
//! so this file holds no file, network or signal code.
//!
//! ```text
//! Splay ─► Collect ─► RunCommand ─► Report ─► Sleep ─► Collect ...
//!   │         └──────(no change)──────┘  │       ├─ SIGHUP ─► Reload ─► Reexec
//!   └─► Print (no command)               │       ├─ SIGTERM ─► Stop
//!        a one-time run exits here ◄─────┘       └─ signal retry due ─► Retry ─► Sleep
//!                                           RunCommand ─(config changed)─► Reexec
//! ```
//!
//! Differences from the reference, recorded with what is kept in
//! (docs/compatibility.md, "os-collect-config: cache, command and poll loop"):
//! - a collector that is configured but unavailable this cycle keeps its last good entries in
//!   `OS_CONFIG_FILES` (W-C7);
//! - SIGHUP re-reads the configuration at a safe point (between steps, never inside a cache
//!   write) and is never left ignored for the command (W-C10, W-C11);
//! - SIGTERM/SIGINT stop within about a second, never in the middle of a cache write; a
//!   running command gets up to [`REFRESH_STOP_GRACE`] to record its deployment first;
//! - queued deployment signals (the outbox) are delivered from the loop, waited for at most a
//!   few seconds per cycle, and the loop never sleeps past the next retry; waking for a retry
//!   delivers without polling (the polls keep the interval's schedule), and a signal whose last
//!   attempt failed at a server that a poll has just reached goes right after that poll;
//! - `Sleeping N seconds.` is logged at debug: an idle daemon writes nothing at the default
//!   level.

mod world;

use crate::collectors::cycle::Collected;
use crate::config::Settings;
pub use crate::lifecycle::loop_signals::Event;
use std::time::Duration;
pub use world::{absolute, cycle_cap, os_config_files, run_command, Launch, REFRESH_STOP_GRACE};

/// Where the loop is.
#[derive(Debug)]
pub enum Step {
    /// Wait a random part of `splay` before the first poll.
    Splay,
    /// No command: print the merged metadata once.
    Print,
    /// Poll the collectors and store the cycle; `first` announces readiness afterwards.
    Collect { first: bool },
    /// Something changed (or `--force`): run the command.
    RunCommand(Collected),
    /// Deliver queued signals and report to systemd; a one-time run ends here with `rc`.
    /// `answered`: the origins this cycle's polls succeeded against.
    Report {
        answered: Vec<String>,
        status: String,
        rc: i32,
    },
    /// Wait for the next poll, no longer than the next signal retry (`outbox_wait`).
    Sleep { outbox_wait: Option<Duration> },
    /// Woken for a signal retry before the next poll is due: deliver, then sleep on.
    Retry,
    /// SIGHUP: re-read everything by re-executing.
    Reload,
    /// Re-execute with the original argv (a reload, or the command changed the configuration).
    Reexec,
    /// SIGTERM/SIGINT.
    Stop,
    /// The loop is over.
    Exit(Ended),
}

/// How the loop ended; the front end turns it into the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Print mode printed the metadata, or `--print-cachedir` the cache directory.
    Printed,
    /// A one-time run: the command's exit status (0 when nothing changed).
    OneTime(i32),
    /// Stopped on request (SIGTERM, SIGINT).
    Stopped,
    /// The agent could not start, or a one-time run could not collect (logged).
    Failed,
    /// The re-exec after a reload or a configuration change failed (logged).
    ReexecFailed,
}

/// Everything the loop does outside itself.
pub trait World {
    fn stop_requested(&self) -> bool;
    /// One collection cycle, stored; the error is one line naming the cache directory.
    fn collect(&mut self) -> Result<Collected, String>;
    /// Print mode's whole run.
    fn print(&mut self);
    fn ready(&mut self);
    /// Run the command with `OS_CONFIG_FILES`; returns its exit status.
    fn run_command(&mut self, collected: &Collected) -> i32;
    /// The command succeeded: the changed values become the committed ones.
    fn commit(&mut self, collected: &Collected);
    /// The command failed: the changes stay pending for the next cycle.
    fn forget(&mut self);
    fn config_changed(&self) -> bool;
    /// Deliver queued signals; returns how long until the next retry is due. `answered`: the
    /// origins a poll has just succeeded against (signals that failed there go now).
    fn deliver(&mut self, answered: &[String]) -> Option<Duration>;
    /// One-line status for systemd, and a watchdog ping.
    fn report(&mut self, status: &str);
    /// The clock: wait up to `d`, or until an event.
    fn sleep(&mut self, d: Duration) -> Option<Event>;
    /// The clock: monotonic time since an arbitrary start.
    fn now(&mut self) -> Duration;
    /// A uniform number in [0, 1) for splay and jitter.
    fn random(&mut self) -> f64;
    fn reloading(&mut self);
    /// Only returns on failure.
    fn reexec(&mut self);
    /// A requested stop.
    fn stopped(&mut self);
}

/// The sleep schedule: starts at min, doubles up to max (W-C13); jitter ±10 % on each sleep.
/// The first sleep of the full interval is a random part of it, so a fleet started in the
/// same second (a whole rack booting) polls spread over the interval afterwards instead of
/// in step (docs/compatibility.md).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    next: f64,
    max: f64,
    phased: bool,
}

impl Schedule {
    pub fn new(min: f64, max: f64) -> Schedule {
        Schedule {
            next: min.max(0.0),
            max: max.max(0.0),
            phased: false,
        }
    }
    /// The next un-jittered sleep, advancing the schedule.
    pub fn advance(&mut self) -> f64 {
        let now = self.next;
        self.next = (self.next * 2.0).min(self.max);
        now
    }
    /// [`Schedule::advance`], with the first full-interval sleep scaled into (0, max] by
    /// `unit`, a draw in [0, 1).
    pub fn advance_phased(&mut self, unit: f64) -> f64 {
        let now = self.advance();
        if !self.phased && now == self.max {
            self.phased = true;
            return now * (1.0 - unit.clamp(0.0, 1.0));
        }
        now
    }
}

/// The loop over a [`World`].
pub struct Daemon<'s, W: World> {
    settings: &'s Settings,
    world: W,
    schedule: Schedule,
    /// When the next poll is due ([`World::now`]), once its sleep has begun: a wake-up for
    /// a signal retry in between does not move it.
    next_poll: Option<Duration>,
}

impl<'s, W: World> Daemon<'s, W> {
    pub fn new(settings: &'s Settings, world: W) -> Self {
        let schedule = Schedule::new(settings.min_polling_interval, settings.polling_interval);
        Daemon {
            settings,
            world,
            schedule,
            next_poll: None,
        }
    }

    /// Run from `step` until the loop exits.
    pub fn run_from(mut self, mut step: Step) -> Ended {
        loop {
            step = match step {
                Step::Exit(ended) => return ended,
                step => self.next(step),
            }
        }
    }

    /// One transition.
    pub fn next(&mut self, step: Step) -> Step {
        match step {
            Step::Splay => self.splay(),
            Step::Print => {
                self.world.print();
                Step::Exit(Ended::Printed)
            }
            Step::Collect { first } => self.collect(first),
            Step::RunCommand(collected) => self.run_command(collected),
            Step::Report {
                answered,
                status,
                rc,
            } => self.report(&answered, &status, rc),
            Step::Sleep { outbox_wait } => self.sleep(outbox_wait),
            Step::Retry => self.retry(),
            Step::Reload => {
                self.world.reloading();
                Step::Reexec
            }
            Step::Reexec => {
                self.world.reexec();
                Step::Exit(Ended::ReexecFailed)
            }
            Step::Stop => {
                self.world.stopped();
                Step::Exit(Ended::Stopped)
            }
            Step::Exit(ended) => Step::Exit(ended),
        }
    }

    fn first_poll(&self) -> Step {
        if self.settings.command.is_some() && !self.settings.print_only {
            Step::Collect { first: true }
        } else {
            Step::Print
        }
    }

    fn splay(&mut self) -> Step {
        if self.settings.splay <= 0.0 || self.settings.one_time {
            return self.first_poll();
        }
        let d = Duration::from_secs_f64(self.world.random() * self.settings.splay);
        log::info!("Sleeping {:.2} seconds (splay).", d.as_secs_f64());
        match self.world.sleep(d) {
            Some(Event::Stop) => Step::Stop,
            Some(Event::Reload) => Step::Reexec,
            None => self.first_poll(),
        }
    }

    fn collect(&mut self, first: bool) -> Step {
        if self.world.stop_requested() {
            return Step::Stop;
        }
        let collected = match self.world.collect() {
            Ok(c) => c,
            Err(e) => {
                log::error!("{e}");
                if self.settings.one_time {
                    return Step::Exit(Ended::Failed);
                }
                Collected::default()
            }
        };
        if first {
            self.world.ready();
        }
        if !collected.changed.is_empty() || self.settings.force {
            return Step::RunCommand(collected);
        }
        log::debug!("No changes detected.");
        Step::Report {
            status: collected.summary(),
            answered: collected.answered,
            rc: 0,
        }
    }

    fn run_command(&mut self, collected: Collected) -> Step {
        let rc = self.world.run_command(&collected);
        if self.world.stop_requested() {
            return Step::Stop;
        }
        let mut status = collected.summary();
        if rc == 0 {
            self.world.commit(&collected);
            status.push_str("; command succeeded");
        } else {
            status.push_str(&format!("; command failed ({rc})"));
            self.world.forget();
        }
        if self.world.config_changed() {
            log::info!("configuration changed; re-executing");
            return Step::Reexec;
        }
        Step::Report {
            answered: collected.answered,
            status,
            rc,
        }
    }

    fn report(&mut self, answered: &[String], status: &str, rc: i32) -> Step {
        let outbox_wait = self.world.deliver(answered);
        self.world.report(status);
        if self.settings.one_time {
            return Step::Exit(Ended::OneTime(rc));
        }
        Step::Sleep { outbox_wait }
    }

    /// Sleep until the next poll, or until the next signal retry when that comes first. The
    /// poll keeps its time across retry wake-ups: polls follow the interval whatever the
    /// outbox does (a wake-up for a retry used to poll too, and start the interval anew).
    fn sleep(&mut self, outbox_wait: Option<Duration>) -> Step {
        let now = self.world.now();
        let next_poll = match self.next_poll {
            Some(t) => t,
            None => {
                let phase = self.world.random();
                let base = Duration::from_secs_f64(self.schedule.advance_phased(phase));
                now + crate::retry::jitter(base, 0.1, self.world.random())
            }
        };
        self.next_poll = Some(next_poll);
        let to_poll = next_poll.saturating_sub(now);
        let (d, then) = match outbox_wait {
            Some(w) if w < to_poll => (w, Step::Retry),
            _ => (to_poll, Step::Collect { first: false }),
        };
        // debug, not info: an idle daemon writes nothing at the default level (issue 14)
        log::debug!("Sleeping {:.2} seconds.", d.as_secs_f64());
        match self.world.sleep(d) {
            Some(Event::Stop) => Step::Stop,
            Some(Event::Reload) => Step::Reload,
            None => {
                if matches!(then, Step::Collect { .. }) {
                    self.next_poll = None;
                }
                then
            }
        }
    }

    /// A signal retry is due before the next poll: deliver only. The poll it used to bring
    /// along added a request per retry to the herd after an outage (docs/performance.md).
    fn retry(&mut self) -> Step {
        if self.world.stop_requested() {
            return Step::Stop;
        }
        let outbox_wait = self.world.deliver(&[]);
        Step::Sleep { outbox_wait }
    }
}

/// The whole os-collect-config main flow (the "Main flow" row of the entry cited above) from
/// parsed settings.
pub fn run(settings: Settings, launch: Launch) -> Ended {
    if settings.print_cachedir {
        crate::output::println(settings.cachedir.display().to_string());
        return Ended::Printed;
    }
    let store = settings.command.is_some() && !settings.print_only;
    match world::Live::new(&settings, launch, store) {
        Ok(live) => Daemon::new(&settings, live).run_from(Step::Splay),
        Err(e) => {
            log::error!("{e}");
            Ended::Failed
        }
    }
}

#[cfg(test)]
mod tests;
