//! Deployment signals to Heat, replacing heat-config-notify
//! (docs/compatibility.md, "Signals (heat-config-notify), the outbox and status").
//!
//! `transport` chooses where a signal goes and speaks each protocol, `trim` fits the payload
//! into Heat's body limit, and `outbox` keeps every signal on disk until it is acknowledged.
//! The Heat-native and Zaqar transports authenticate with [`crate::http::keystone`].

pub mod completion;
pub mod courier;
pub mod outbox;
pub mod transport;
pub mod trim;

pub use outbox::{DeliverySummary, Outbox, Record, State};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub const USAGE: &str =
    "Usage:\n  heat-config-notify /path/to/config.json < /path/to/signal_data.json";

/// How long `notify` keeps retrying in the foreground before leaving the signal to the daemon.
pub const DEFAULT_FOREGROUND_WAIT: Duration = Duration::from_secs(60);

/// Settings for `deploy` and `notify`: the native configuration (`config::load_native`: TOML,
/// `OS_<GROUP>__<OPT>`, `HEAT_AGENT_STATE_DIR`). A bad value is an error naming the file and
/// key: the command does not run on a guess (docs/configuration.md).
pub fn settings() -> Result<crate::config::Settings, crate::config::ConfigError> {
    crate::config::load_native(&crate::config::process_env)
}

/// `HEAT_AGENT_STATE_DIR`, when set, wins over the configured state directory (the loaders of
/// `config` apply it already; kept for settings built by hand).
pub fn with_state_dir_override(mut s: crate::config::Settings) -> crate::config::Settings {
    s.deploy.state_dir = state_dir_of(&s);
    s
}

/// The state directory `settings` name, or `HEAT_AGENT_STATE_DIR` when set.
pub fn state_dir_of(s: &crate::config::Settings) -> PathBuf {
    crate::config::state_dir_override(&crate::config::process_env)
        .unwrap_or_else(|| s.deploy.state_dir.clone())
}

/// The state directory for `status`: the configured one, or the default with a warning when
/// the configuration cannot be read.
pub fn state_dir() -> PathBuf {
    settings()
        .unwrap_or_else(|e| {
            log::warn!("{}; using defaults", e.message);
            with_state_dir_override(crate::config::Settings::default())
        })
        .deploy
        .state_dir
}

/// `HEAT_AGENT_NOTIFY_WAIT`, else [`DEFAULT_FOREGROUND_WAIT`].
pub fn foreground_wait() -> Duration {
    crate::config::vars::notify_foreground_wait().unwrap_or(DEFAULT_FOREGROUND_WAIT)
}

/// Stdin as the signal: anything that is not one JSON document becomes `{}` (like the reference).
pub fn parse_signal(text: &str) -> Value {
    match crate::pyjson::parse_value(text) {
        Ok(v) => v,
        Err(_) => {
            log::warn!("No valid json found on stdin");
            crate::pyjson::empty_object()
        }
    }
}

/// The deployment id for a config file: its `id`, else the file name without `.json`.
fn deployment_id(config: &Value, path: &Path) -> String {
    match config.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) if !v.is_null() => crate::pyjson::py_str(v),
        _ => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unknown".into()),
    }
}

/// How a signal handed to [`notify_one`] ended (the reasons are logged where they happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// Heat took the signal.
    Delivered,
    /// Not delivered within the wait; the outbox keeps it for the daemon.
    Queued,
    /// Not delivered and not kept: the config file is unusable, Heat refused the signal, or the
    /// wait ran out with no outbox to keep it.
    Failed,
}

/// Signal the deployment described by the entry at `config_path` with `signal_text` (stdin):
/// through the outbox when it can be opened, else in memory; foreground retries for `wait`.
pub fn notify_one(
    settings: &crate::config::Settings,
    config_path: &Path,
    signal_text: &str,
    wait: Duration,
) -> Notified {
    let signal = parse_signal(signal_text);
    if !config_path.exists() {
        log::error!("No config file {}", config_path.display());
        log::error!("{USAGE}");
        return Notified::Failed;
    }
    let config: Value = match crate::fsutil::read_to_string(config_path)
        .map_err(|e| e.to_string())
        .and_then(|t| crate::pyjson::loads(&t, &config_path.display().to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            log::error!("{e}");
            return Notified::Failed;
        }
    };
    if let Err(e) = transport::input_map(&config) {
        log::error!("{}: {e}", config_path.display());
        return Notified::Failed;
    }
    let id = deployment_id(&config, config_path);
    match Outbox::open(&settings.deploy.state_dir) {
        Ok(outbox) => notify_durably(&outbox, settings, &id, &config, &signal, wait),
        Err(e) => {
            log::warn!("outbox unavailable ({e}); delivering without a durable copy");
            notify_in_memory(settings, &id, &config, &signal, wait)
        }
    }
}

/// Sleep until `due` (or at most until `deadline`); false when the deadline comes first.
fn sleep_until(due: Option<SystemTime>, deadline: Instant) -> bool {
    let wait = due
        .and_then(|d| d.duration_since(SystemTime::now()).ok())
        .unwrap_or(Duration::ZERO);
    let left = deadline.saturating_duration_since(Instant::now());
    // An attempt starts only before the deadline: with no time left, a retry that is already
    // due waits for the daemon (a loaded machine must not make `wait 0` try twice).
    if left.is_zero() || wait >= left {
        return false;
    }
    std::thread::sleep(wait);
    true
}

/// What the foreground delivery loop does next with its record.
enum Step {
    /// Settled: delivered or failed permanently.
    Settled(Notified),
    /// Queued, but the next attempt is not due before the deadline.
    OutOfTime,
    /// Attempt delivery now (after sleeping until the retry was due).
    Attempt,
}

fn next_step(rec: &Record, deadline: Instant) -> Step {
    match rec.state {
        State::Delivered => return Step::Settled(Notified::Delivered),
        State::Failed => return Step::Settled(Notified::Failed),
        State::Queued => {}
    }
    let due = rec.next_attempt_at.map(outbox::to_system_time);
    if rec.attempts > 0 && !sleep_until(due, deadline) {
        Step::OutOfTime
    } else {
        Step::Attempt
    }
}

fn notify_durably(
    outbox: &Outbox,
    settings: &crate::config::Settings,
    id: &str,
    config: &Value,
    signal: &Value,
    wait: Duration,
) -> Notified {
    if let Err(e) = outbox.enqueue(id, config, signal) {
        log::warn!(
            "cannot store the signal in the outbox ({e}); delivering without a durable copy"
        );
        return notify_in_memory(settings, id, config, signal, wait);
    }
    let deadline = Instant::now() + wait;
    loop {
        let rec = match outbox.record(id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                log::error!("deployment {id}: outbox record vanished");
                return Notified::Failed;
            }
            Err(e) => {
                log::error!("{e}");
                return Notified::Failed;
            }
        };
        match next_step(&rec, deadline) {
            Step::Settled(outcome) => return outcome,
            Step::OutOfTime => {
                log::warn!(
                    "deployment {id}: signal not delivered yet ({} attempts); left queued in {} for the heat-agent daemon",
                    rec.attempts,
                    outbox.dir().display()
                );
                return Notified::Queued;
            }
            Step::Attempt => {
                outbox.deliver_one(settings, id);
            }
        }
    }
}

/// `--flush`: deliver what the outbox holds, as the daemon would, in the foreground, for up to
/// `wait`. Returns what was delivered, failed and is still queued; an error when the outbox
/// cannot be opened.
pub fn flush(
    settings: &crate::config::Settings,
    wait: Duration,
) -> std::io::Result<DeliverySummary> {
    let outbox = Outbox::open(&settings.deploy.state_dir)?;
    let deadline = Instant::now() + wait;
    let mut total = DeliverySummary::default();
    loop {
        let s = outbox.deliver_due(settings, None);
        total.delivered += s.delivered;
        total.failed += s.failed;
        total.pending = s.pending;
        if s.pending == 0 || !sleep_until(outbox.next_due(), deadline) {
            break;
        }
    }
    log::info!(
        "outbox: {} delivered, {} failed permanently, {} still queued",
        total.delivered,
        total.failed,
        total.pending
    );
    Ok(total)
}

/// Delivery without an outbox (state dir not writable): same retries, nothing kept afterwards.
fn notify_in_memory(
    settings: &crate::config::Settings,
    id: &str,
    config: &Value,
    signal: &Value,
    wait: Duration,
) -> Notified {
    let mut rec = outbox::new_record(id, config, signal, outbox::now());
    let agent = match crate::http::agent(&outbox::http_settings(settings)) {
        Ok(a) => a,
        Err(e) => {
            log::error!("{e}");
            return Notified::Failed;
        }
    };
    let deadline = Instant::now() + wait;
    loop {
        match next_step(&rec, deadline) {
            Step::Settled(outcome) => return outcome,
            Step::OutOfTime => {
                log::error!(
                    "deployment {id}: signal not delivered after {} attempts and no outbox to keep it",
                    rec.attempts
                );
                return Notified::Failed;
            }
            Step::Attempt => outbox::attempt(&mut rec, &agent, &outbox::DEFAULT_BACKOFF),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_retry_starts_once_the_wait_is_over() {
        let past = SystemTime::now() - Duration::from_secs(1);
        // the retry is due, but no time is left: the daemon takes it from here
        assert!(!sleep_until(Some(past), Instant::now()));
        assert!(!sleep_until(None, Instant::now()));
        // with time left, a due retry goes now
        assert!(sleep_until(
            Some(past),
            Instant::now() + Duration::from_secs(5)
        ));
    }

    #[test]
    fn invalid_or_empty_stdin_is_an_empty_object() {
        // what Python's json reads is a signal, not `{}` (issue 11)
        assert_eq!(
            crate::pyjson::dumps(&parse_signal(
                r#"{"deploy_stdout": NaN, "x": "\ud83d\ude00"}"#
            )),
            r#"{"deploy_stdout": NaN, "x": "\ud83d\ude00"}"#
        );
        assert_eq!(parse_signal(""), json!({}));
        assert_eq!(parse_signal("{\"foo\": \"bar\"}{\"foo\": \"b"), json!({}));
        assert_eq!(parse_signal(" {\"foo\": \"bar\"}\n"), json!({"foo": "bar"}));
    }

    #[test]
    fn id_comes_from_the_config_or_the_file_name() {
        let p = Path::new("/x/deployed/abcd.json");
        assert_eq!(deployment_id(&json!({"id": "5555"}), p), "5555");
        assert_eq!(deployment_id(&json!({"id": 7}), p), "7");
        assert_eq!(deployment_id(&json!({}), p), "abcd");
    }
}
