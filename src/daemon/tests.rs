//! Transitions of the poll loop, driven by a scripted [`World`] with an injected clock: no
//! sleeps, no network, no files.

use super::*;
use std::collections::VecDeque;

/// A world that records what the loop asked of it, and answers from a script.
#[derive(Default)]
struct Script {
    calls: Vec<String>,
    /// What each `collect` returns (a cycle with these changed keys), in order; then no change.
    collections: VecDeque<Result<Vec<&'static str>, String>>,
    /// Exit status of each command run, in order; then 0.
    command_rcs: VecDeque<i32>,
    /// What each `sleep` returns, in order; then a stop.
    wakeups: VecDeque<Option<Event>>,
    /// The sleeps asked for (the clock).
    slept: Vec<Duration>,
    stop_after_command: bool,
    config_changes: bool,
    /// What each `deliver` answers, in order; then `outbox_wait`.
    outbox_waits: VecDeque<Option<Duration>>,
    outbox_wait: Option<Duration>,
    /// How long each `deliver` takes on the clock.
    delivery_time: Duration,
    /// The origins every successful `collect` reached.
    answered: Vec<String>,
    /// The clock: advanced by the sleeps and deliveries.
    clock: Duration,
}

impl World for Script {
    fn stop_requested(&self) -> bool {
        self.stop_after_command && self.calls.iter().any(|c| c == "run_command")
    }
    fn collect(&mut self) -> Result<Collected, String> {
        self.calls.push("collect".into());
        let changed = self.collections.pop_front().unwrap_or(Ok(Vec::new()))?;
        Ok(Collected {
            changed: changed.iter().map(|k| k.to_string()).collect(),
            answered: self.answered.clone(),
            ..Collected::default()
        })
    }
    fn print(&mut self) {
        self.calls.push("print".into());
    }
    fn ready(&mut self) {
        self.calls.push("ready".into());
    }
    fn run_command(&mut self, _: &Collected) -> i32 {
        self.calls.push("run_command".into());
        self.command_rcs.pop_front().unwrap_or(0)
    }
    fn commit(&mut self, c: &Collected) {
        self.calls.push(format!("commit {:?}", c.changed));
    }
    fn forget(&mut self) {
        self.calls.push("forget".into());
    }
    fn config_changed(&self) -> bool {
        self.config_changes
    }
    fn deliver(&mut self, answered: &[String]) -> Option<Duration> {
        self.calls.push(match answered {
            [] => "deliver".into(),
            _ => format!("deliver after a poll of {answered:?}"),
        });
        self.clock += self.delivery_time;
        self.outbox_waits.pop_front().unwrap_or(self.outbox_wait)
    }
    fn report(&mut self, status: &str) {
        self.calls.push(format!("report {status}"));
    }
    fn sleep(&mut self, d: Duration) -> Option<Event> {
        self.calls.push("sleep".into());
        self.slept.push(d);
        self.clock += d;
        self.wakeups.pop_front().unwrap_or(Some(Event::Stop))
    }
    fn now(&mut self) -> Duration {
        self.clock
    }
    fn random(&mut self) -> f64 {
        0.5 // no jitter: the schedule shows through
    }
    fn reloading(&mut self) {
        self.calls.push("reloading".into());
    }
    fn reexec(&mut self) {
        self.calls.push("reexec".into());
    }
    fn stopped(&mut self) {
        self.calls.push("stopped".into());
    }
}

fn settings() -> Settings {
    Settings {
        command: Some("true".into()),
        min_polling_interval: 1.0,
        polling_interval: 8.0,
        splay: 0.0,
        ..Settings::default()
    }
}

/// Run the loop over `script` from the start; returns how it ended and the world.
fn drive(settings: &Settings, script: Script) -> (Ended, Script) {
    let mut daemon = Daemon::new(settings, script);
    let mut step = Step::Splay;
    let ended = loop {
        step = match daemon.next(step) {
            Step::Exit(ended) => break ended,
            next => next,
        }
    };
    (ended, daemon.world)
}

fn secs(v: &[f64]) -> Vec<Duration> {
    v.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

#[test]
fn a_change_runs_the_command_commits_and_sleeps_until_stopped() {
    let script = Script {
        collections: [Ok(vec!["heat"])].into(),
        wakeups: [None].into(),
        ..Script::default()
    };
    let (code, w) = drive(&settings(), script);
    assert_eq!(code, Ended::Stopped);
    assert_eq!(
        w.calls,
        [
            "collect",
            "ready",
            "run_command",
            "commit [\"heat\"]",
            "deliver",
            "report 1 changed; ; command succeeded",
            "sleep",
            "collect",
            "deliver",
            "report 0 changed; ",
            "sleep",
            "stopped"
        ]
    );
}

#[test]
fn sleeps_double_from_min_to_max_and_never_reset() {
    let script = Script {
        collections: [
            Ok(vec![]),
            Ok(vec![]),
            Ok(vec!["x"]),
            Ok(vec![]),
            Ok(vec![]),
        ]
        .into(),
        wakeups: [None, None, None, None, None].into(),
        ..Script::default()
    };
    let (_, w) = drive(&settings(), script);
    // the first full-interval sleep is a random part of it (the test world draws 0.5)
    assert_eq!(w.slept, secs(&[1.0, 2.0, 4.0, 4.0, 8.0, 8.0]));
}

#[test]
fn a_queued_signal_retry_shortens_the_sleep() {
    let script = Script {
        outbox_wait: Some(Duration::from_millis(300)),
        ..Script::default()
    };
    let (_, w) = drive(&settings(), script);
    assert_eq!(w.slept, [Duration::from_millis(300)]);
}

/// Waking for a signal retry delivers without polling, and the poll stays due when it was:
/// the time slept and the time the delivery took count towards the interval. Before, the
/// wake-up polled as well (the herd after an outage had a poll beside every retry) and started
/// the interval anew.
#[test]
fn a_signal_retry_wake_up_delivers_without_polling_and_keeps_the_poll_time() {
    let ms = Duration::from_millis;
    let script = Script {
        outbox_waits: [Some(ms(300)), None].into(),
        delivery_time: ms(100),
        wakeups: [None, None].into(),
        ..Script::default()
    };
    let (code, w) = drive(&settings(), script);
    assert_eq!(code, Ended::Stopped);
    assert_eq!(
        w.calls,
        [
            "collect",
            "ready",
            "deliver",
            "report 0 changed; ",
            "sleep",
            "deliver",
            "sleep",
            "collect",
            "deliver",
            "report 0 changed; ",
            "sleep",
            "stopped"
        ]
    );
    // the first poll sleep is 1 s (min_polling_interval): 0.3 s to the retry, 0.1 s of
    // delivery, 0.6 s to the poll; then the schedule goes on to 2 s
    assert_eq!(w.slept, [ms(300), ms(600), ms(2000)]);
}

/// The origins a poll reached go to the delivery right after it (signals that failed there
/// are sent then); a retry wake-up has none.
#[test]
fn a_poll_hands_the_origins_it_reached_to_the_delivery() {
    let ms = Duration::from_millis;
    let script = Script {
        answered: vec!["http://heat:8004".into()],
        outbox_waits: [Some(ms(300))].into(),
        wakeups: [None].into(),
        ..Script::default()
    };
    let (_, w) = drive(&settings(), script);
    assert_eq!(
        w.calls[..6],
        [
            "collect",
            "ready",
            "deliver after a poll of [\"http://heat:8004\"]",
            "report 0 changed; ",
            "sleep",
            "deliver",
        ]
    );
}

#[test]
fn a_failed_command_keeps_the_changes_pending_and_is_the_one_time_exit_code() {
    let s = Settings {
        one_time: true,
        ..settings()
    };
    let script = Script {
        collections: [Ok(vec!["heat"])].into(),
        command_rcs: [3].into(),
        ..Script::default()
    };
    let (code, w) = drive(&s, script);
    assert_eq!(code, Ended::OneTime(3));
    assert_eq!(
        w.calls,
        [
            "collect",
            "ready",
            "run_command",
            "forget",
            "deliver",
            "report 1 changed; ; command failed (3)",
        ]
    );
    assert!(w.slept.is_empty(), "a one-time run never sleeps");
}

#[test]
fn force_runs_the_command_without_a_change() {
    let s = Settings {
        force: true,
        ..settings()
    };
    let (_, w) = drive(&s, Script::default());
    assert!(
        w.calls.contains(&"run_command".to_string()),
        "{:?}",
        w.calls
    );
}

#[test]
fn sighup_while_sleeping_reloads_by_re_executing() {
    let script = Script {
        wakeups: [Some(Event::Reload)].into(),
        ..Script::default()
    };
    let (code, w) = drive(&settings(), script);
    assert_eq!(code, Ended::ReexecFailed, "re-exec only returns on failure");
    assert_eq!(
        &w.calls[w.calls.len() - 3..],
        ["sleep", "reloading", "reexec"]
    );
}

#[test]
fn a_configuration_changed_by_the_command_re_executes() {
    let script = Script {
        collections: [Ok(vec!["heat"])].into(),
        config_changes: true,
        ..Script::default()
    };
    let (_, w) = drive(&settings(), script);
    assert_eq!(
        w.calls,
        [
            "collect",
            "ready",
            "run_command",
            "commit [\"heat\"]",
            "reexec"
        ]
    );
}

#[test]
fn a_stop_during_the_command_neither_commits_nor_reports() {
    let script = Script {
        collections: [Ok(vec!["heat"])].into(),
        stop_after_command: true,
        ..Script::default()
    };
    let (code, w) = drive(&settings(), script);
    assert_eq!(code, Ended::Stopped);
    assert_eq!(w.calls, ["collect", "ready", "run_command", "stopped"]);
}

#[test]
fn a_cache_error_ends_a_one_time_run_but_not_the_daemon() {
    let broken = || Script {
        collections: [Err("cache directory /c: denied".to_string())].into(),
        ..Script::default()
    };
    let one_time = Settings {
        one_time: true,
        ..settings()
    };
    let (code, w) = drive(&one_time, broken());
    assert_eq!(
        (code, w.calls),
        (Ended::Failed, vec!["collect".to_string()])
    );
    let (code, w) = drive(&settings(), broken());
    assert_eq!(code, Ended::Stopped);
    assert_eq!(w.calls[..3], ["collect", "ready", "deliver"]);
}

#[test]
fn splay_waits_before_the_first_poll_and_a_stop_then_ends_the_run() {
    let s = Settings {
        splay: 10.0,
        ..settings()
    };
    let script = Script {
        wakeups: [Some(Event::Stop)].into(),
        ..Script::default()
    };
    let (code, w) = drive(&s, script);
    assert_eq!(code, Ended::Stopped);
    assert_eq!(w.slept, secs(&[5.0]));
    assert_eq!(w.calls, ["sleep", "stopped"]);
    // a one-time run never splays
    let one_time = Settings {
        one_time: true,
        ..s
    };
    let (_, w) = drive(&one_time, Script::default());
    assert!(w.slept.is_empty());
}

#[test]
fn without_a_command_the_metadata_is_printed_once() {
    let s = Settings {
        command: None,
        ..settings()
    };
    let (code, w) = drive(&s, Script::default());
    assert_eq!((code, w.calls), (Ended::Printed, vec!["print".to_string()]));
}

#[test]
fn the_first_full_interval_sleep_only_is_a_random_part_of_it() {
    let mut s = Schedule::new(1.0, 8.0);
    let seq: Vec<f64> = [0.9, 0.9, 0.9, 0.75, 0.9, 0.0]
        .iter()
        .map(|&u| s.advance_phased(u))
        .collect();
    assert_eq!(seq, vec![1.0, 2.0, 4.0, 2.0, 8.0, 8.0]);
    let mut s = Schedule::new(10.0, 10.0);
    assert_eq!(s.advance_phased(0.5), 5.0);
    assert_eq!(s.advance_phased(0.5), 10.0);
    let mut s = Schedule::new(20.0, 10.0);
    assert_eq!(s.advance_phased(0.5), 20.0);
    assert_eq!(s.advance_phased(0.5), 5.0);
}

#[test]
fn schedule_min_above_max() {
    // test_main_min_polling_interval: -i 10 --min-polling-interval 20 → first sleep 20, then 10
    let mut s = Schedule::new(20.0, 10.0);
    assert_eq!(s.advance(), 20.0);
    assert_eq!(s.advance(), 10.0);
}
