//! The durable outbox: every signal is written to `<state_dir>/outbox/<id>.json` (atomic, fsync,
//! 0600) before the first delivery attempt, and stays `queued` until a transport answers 2xx
//! (weak spots W2, W4, W5). Connection errors, timeouts, 408, 429 and 5xx are retried with capped
//! exponential backoff and jitter; any other status is final (`failed`). Because the outbox is
//! plain files, a restart simply continues: a signal is lost only if the disk is.
//!
//! Delivery is at-least-once: a process killed after the server answered but before the record
//! was rewritten sends the signal again later. Heat ignores a signal for a deployment that is no
//! longer IN_PROGRESS, so the duplicate is harmless.
//!
//! Record format (JSON object, one file per deployment id; see docs/compatibility.md):
//! `format` (1), `id`, `name`, `group`, `action`, `transport` (`cfn`, `temp_url`, `heat`,
//! `zaqar`, `none`, or several joined by `+`), `state` (`queued` | `delivered` | `failed`),
//! `attempts`, `created_at`, `next_attempt_at`, `last_attempt_at`, `delivered_at` (unix seconds,
//! float, or null), `last_status` (HTTP status or null), `last_error` (text or null), `payload`
//! (the signal as sent: trimmed, `unset_hook` removed), `targets` (what is needed to deliver:
//! URLs, Keystone credentials, queue; emptied once the record is final, so secrets do not stay
//! on disk), `delivered_targets` (indexes into `targets` already acknowledged, so a partial
//! success is not repeated), `retry_origin` (`scheme://host:port` of the server the last
//! attempt failed at, while a retry is scheduled; a daemon poll that succeeds against it makes
//! the record due at once, [`Record::due`]).

use super::transport::{self, Target};
use super::trim;
use crate::fsutil;
use crate::retry::Backoff;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const OUTBOX_DIR: &str = "outbox";
pub const RECORD_FORMAT: u32 = 1;
/// Delivered records are removed this long after delivery (W10: no unbounded growth).
pub const DELIVERED_RETENTION: f64 = 30.0 * 24.0 * 3600.0;

/// A signal still undelivered this long after it was queued is given up (`failed`): Heat's
/// stack timeout has long passed, so it can no longer change anything.
pub const QUEUED_MAX_AGE: f64 = 7.0 * 24.0 * 3600.0;

/// Retry schedule for signals: steps of 2 s, 4 s, 8 s ... capped at 5 minutes, each delay a
/// uniformly random point of the step's upper half ([1, 2] s, [2, 4] s ... [150, 300] s), so
/// signals that failed together are not retried together ([`crate::retry::upper_half`]).
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_secs(2),
    max: Duration::from_secs(300),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Delivered,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }
}

/// One outbox file. `P` and `T` are the payload and targets: kept in a [`Record`], parsed
/// over and dropped in a [`Summary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record<P = Value, T = Vec<Target>> {
    #[serde(default = "format_version")]
    pub format: u32,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    pub transport: String,
    pub state: State,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: f64,
    #[serde(default)]
    pub next_attempt_at: Option<f64>,
    #[serde(default)]
    pub last_attempt_at: Option<f64>,
    #[serde(default)]
    pub delivered_at: Option<f64>,
    #[serde(default)]
    pub last_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    pub payload: P,
    #[serde(default)]
    pub targets: T,
    #[serde(default)]
    pub delivered_targets: Vec<usize>,
    #[serde(default)]
    pub retry_origin: Option<String>,
}

impl<P, T> Record<P, T> {
    /// Whether a queued record is attempted by a pass at `now`: its next attempt is due, or a
    /// poll has just succeeded against the origin its last attempt failed at (`answered`).
    /// That server answers again, so the signal goes now instead of at its scheduled retry,
    /// riding on the polls, which are spread over the fleet (docs/performance.md, the herd
    /// after an outage).
    pub fn due(&self, now: f64, answered: &[String]) -> bool {
        self.next_attempt_at.is_none_or(|n| n <= now)
            || self
                .retry_origin
                .as_ref()
                .is_some_and(|o| answered.contains(o))
    }
}

fn format_version() -> u32 {
    RECORD_FORMAT
}

/// A record without its payload and targets: what `status` and scheduling need (cheap to read).
pub type Summary = Record<IgnoredAny, IgnoredAny>;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySummary {
    /// Records delivered by this call.
    pub delivered: usize,
    /// Records still queued after this call (due later or retried later).
    pub pending: usize,
    /// Records that failed permanently during this call.
    pub failed: usize,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Unix seconds as a `SystemTime`; out-of-range values from a damaged file are clamped, never a panic.
pub fn to_system_time(t: f64) -> SystemTime {
    let secs = if t.is_finite() {
        t.clamp(0.0, 1e11)
    } else {
        0.0
    };
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

/// A deployment id as a file name: ids are UUIDs in practice, anything else is escaped so it
/// can never leave the directory.
pub fn file_stem(id: &str) -> String {
    let mut out = String::new();
    for (i, b) in id.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    shorten_stem(out, id)
}

/// Longest file stem made from a deployment id: with `.notify.json`, a temp file's `.` and
/// `.tmpXXXXXXXX`, or a hook's `.<output name>`, names stay within NAME_MAX (255 bytes).
pub const MAX_FILE_STEM: usize = 200;

/// `stem` (an escaped form of `id` in which `%` is only ever followed by two hex digits) when
/// short enough; else its beginning, `%-` and the SHA-256 of `id`, which no escaped form can
/// equal.
pub fn shorten_stem(mut stem: String, id: &str) -> String {
    use sha2::Digest;
    if stem.len() <= MAX_FILE_STEM {
        return stem;
    }
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut cut = MAX_FILE_STEM - 2 - 2 * digest.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    stem.truncate(cut);
    stem.push_str("%-");
    for b in digest {
        stem.push_str(&format!("{b:02x}"));
    }
    stem
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(crate::pyjson::py_str(other)),
    }
}

/// Build the record for a new signal (pure; no I/O).
pub fn new_record(id: &str, entry: &Value, signal: &Value, at: f64) -> Record {
    let action = transport::input_map(entry)
        .ok()
        .and_then(|iv| text_of(iv.get("deploy_action")));
    let mut rec = Record {
        format: RECORD_FORMAT,
        id: id.to_string(),
        name: text_of(entry.get("name")),
        group: text_of(entry.get("group")),
        action,
        transport: "none".into(),
        state: State::Queued,
        attempts: 0,
        created_at: at,
        next_attempt_at: Some(at),
        last_attempt_at: None,
        delivered_at: None,
        last_status: None,
        last_error: None,
        payload: trim::fit(signal, trim::MAX_SIGNAL_BODY),
        targets: Vec::new(),
        delivered_targets: Vec::new(),
        retry_origin: None,
    };
    match transport::targets(entry) {
        Ok(targets) if targets.is_empty() => {
            // NO_SIGNAL: nothing to send, nothing to wait for.
            rec.state = State::Delivered;
            rec.delivered_at = Some(at);
            rec.next_attempt_at = None;
        }
        Ok(targets) => {
            rec.transport = transport::transport_label(&targets);
            rec.targets = targets;
        }
        Err(e) => {
            log::error!("deployment {id}: cannot signal Heat: {e}");
            rec.state = State::Failed;
            rec.next_attempt_at = None;
            rec.last_error = Some(e);
        }
    }
    rec
}

/// One attempt on every target not yet acknowledged; updates `rec` (state, times, errors).
pub fn attempt(rec: &mut Record, agent: &ureq::Agent, backoff: &Backoff) {
    let at = now();
    rec.attempts += 1;
    rec.last_attempt_at = Some(at);
    for (i, target) in rec.targets.iter().enumerate() {
        if rec.delivered_targets.contains(&i) {
            continue;
        }
        match transport::send(agent, target, &rec.payload) {
            Ok(status) => {
                rec.last_status = Some(status);
                rec.delivered_targets.push(i);
                log::info!(
                    "deployment {}: signal delivered via {} ({status})",
                    rec.id,
                    target.name()
                );
            }
            Err(f) => {
                rec.last_status = f.status;
                rec.last_error = Some(f.message.clone());
                if f.retryable {
                    let delay = backoff.delay(rec.attempts.saturating_sub(1));
                    rec.next_attempt_at = Some(at + delay.as_secs_f64());
                    rec.retry_origin = f.origin;
                    log::warn!(
                        "deployment {}: signal via {} not delivered (attempt {}): {}; retrying in {:.0} s",
                        rec.id,
                        target.name(),
                        rec.attempts,
                        f.message,
                        delay.as_secs_f64()
                    );
                } else {
                    rec.state = State::Failed;
                    rec.next_attempt_at = None;
                    rec.retry_origin = None;
                    let name = target.name();
                    let hint = if matches!(target, Target::Http { .. })
                        && matches!(f.status, Some(401 | 403))
                    {
                        " (a CFN pre-signed URL expires after Keystone's [credential] auth_ttl, 15 minutes by \
                         default; HEAT_SIGNAL or TEMP_URL_SIGNAL avoid this)"
                    } else {
                        ""
                    };
                    log::error!(
                        "deployment {}: signal via {} FAILED permanently, Heat will not learn the result: {}{hint}",
                        rec.id,
                        name,
                        f.message
                    );
                    forget_credentials(rec);
                }
                return;
            }
        }
    }
    rec.state = State::Delivered;
    rec.delivered_at = Some(at);
    rec.next_attempt_at = None;
    rec.retry_origin = None;
    forget_credentials(rec);
}

/// Once a record is final its targets (signed URLs, passwords) are no longer needed on disk.
fn forget_credentials(rec: &mut Record) {
    rec.targets.clear();
    rec.delivered_targets.clear();
}

/// Files in `<state_dir>/outbox/`.
#[derive(Clone)]
pub struct Outbox {
    dir: PathBuf,
    backoff: Backoff,
}

impl Outbox {
    pub fn open(state_dir: &Path) -> io::Result<Outbox> {
        let dir = state_dir.join(OUTBOX_DIR);
        fsutil::ensure_dir(&dir, 0o700)?;
        Ok(Outbox {
            dir,
            backoff: backoff_from_env(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{}.json", file_stem(id)))
    }

    /// Exclusive lock on the outbox, so the daemon and a `notify` process never deliver or
    /// rewrite the same record at once. Released on drop.
    fn lock(&self) -> io::Result<nix::fcntl::Flock<File>> {
        crate::fsutil::lock(&self.dir.join(".lock"), crate::fsutil::LockWait::Block)
            .map_err(|e| io::Error::new(e.kind(), format!("locking {}: {e}", self.dir.display())))
    }

    /// Short exclusive lock for replacing a record file. Delivery passes hold [`Outbox::lock`]
    /// for as long as the network takes; queueing a new signal must not wait for that.
    fn write_lock(&self) -> io::Result<nix::fcntl::Flock<File>> {
        crate::fsutil::lock(
            &self.dir.join(".write.lock"),
            crate::fsutil::LockWait::Block,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("locking {}: {e}", self.dir.display())))
    }

    /// Write back a record after an attempt, unless a newer signal for the same id was queued
    /// meanwhile (that one is kept).
    fn write_back(&self, rec: &Record) -> io::Result<()> {
        let _lock = self.write_lock()?;
        if let Ok(bytes) = fs::read(self.path(&rec.id)) {
            if let Ok(current) = crate::pyjson::from_slice::<Summary>(&bytes) {
                if current.created_at != rec.created_at {
                    return Ok(());
                }
            }
        }
        self.write(rec)
    }

    fn write(&self, rec: &Record) -> io::Result<()> {
        let bytes = serde_json::to_vec(rec).map_err(io::Error::other)?;
        fsutil::atomic_write(&self.path(&rec.id), &bytes, 0o600, fsutil::Owner::default())
    }

    /// Persist the signal for deployment `id` BEFORE any delivery attempt (atomic, fsync, 0600).
    /// `entry` = the sanitised deployment entry (its inputs choose the transport),
    /// `signal` = signal data. A record already there for `id` is replaced.
    pub fn enqueue(&self, id: &str, entry: &Value, signal: &Value) -> io::Result<()> {
        let rec = new_record(id, entry, signal, now());
        let _lock = self.write_lock()?;
        self.write(&rec)
    }

    /// The full record for `id`, if any.
    pub fn record(&self, id: &str) -> io::Result<Option<Record>> {
        match fs::read(self.path(id)) {
            Ok(bytes) => crate::pyjson::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.path(id).display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn record_paths(&self) -> Vec<PathBuf> {
        fsutil::json_files(&self.dir)
    }

    /// Every record's summary (unreadable files are reported and skipped, never deleted).
    pub fn summaries(&self) -> Vec<Summary> {
        let (out, problems) = self.read_summaries();
        for p in problems {
            log::error!("outbox record {p}; skipped");
        }
        out
    }

    /// Every record's summary, and `<path>: <error>` for each file that cannot be read.
    pub fn read_summaries(&self) -> (Vec<Summary>, Vec<String>) {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for p in self.record_paths() {
            match fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| crate::pyjson::from_slice::<Summary>(&b))
            {
                Ok(s) => out.push(s),
                Err(e) => problems.push(format!("{}: {e}", p.display())),
            }
        }
        (out, problems)
    }

    /// Attempt every queued signal whose next attempt is due (one attempt each); schedule retries.
    pub fn deliver_due(
        &self,
        settings: &crate::config::Settings,
        stop: Option<&Arc<AtomicBool>>,
    ) -> DeliverySummary {
        self.deliver(settings, stop, None, &[])
    }

    /// [`Outbox::deliver_due`] right after a poll that succeeded against the origins
    /// `answered` (`scheme://host:port`): records whose last attempt failed at one of them are
    /// due as well ([`Record::due`]).
    pub fn deliver_after_poll(
        &self,
        settings: &crate::config::Settings,
        stop: Option<&Arc<AtomicBool>>,
        answered: &[String],
    ) -> DeliverySummary {
        self.deliver(settings, stop, None, answered)
    }

    /// Like [`Outbox::deliver_due`] for the one record `id` (what `notify` does).
    pub fn deliver_one(&self, settings: &crate::config::Settings, id: &str) -> DeliverySummary {
        self.deliver(settings, None, Some(id), &[])
    }

    fn deliver(
        &self,
        settings: &crate::config::Settings,
        stop: Option<&Arc<AtomicBool>>,
        only: Option<&str>,
        answered: &[String],
    ) -> DeliverySummary {
        let mut summary = DeliverySummary::default();
        let _lock = match self.lock() {
            Ok(l) => l,
            Err(e) => {
                log::error!("outbox: {e}");
                summary.pending = self
                    .summaries()
                    .iter()
                    .filter(|s| s.state == State::Queued)
                    .count();
                return summary;
            }
        };
        // built on first use: most passes find nothing due
        let mut agent: Option<Result<ureq::Agent, String>> = None;
        let paths = match only {
            Some(id) => vec![self.path(id)],
            None => self.record_paths(),
        };
        for path in paths {
            let Ok(bytes) = fs::read(&path) else { continue };
            let head: Summary = match crate::pyjson::from_slice(&bytes) {
                Ok(h) => h,
                Err(e) => {
                    log::error!("outbox record {}: {e}; skipped", path.display());
                    continue;
                }
            };
            let t = now();
            if head.state == State::Delivered {
                if only.is_none()
                    && head
                        .delivered_at
                        .is_some_and(|d| d + DELIVERED_RETENTION < t)
                {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            if head.state != State::Queued {
                continue;
            }
            let stopping = stop.is_some_and(|s| s.load(Ordering::SeqCst));
            if stopping || !head.due(t, answered) {
                summary.pending += 1;
                continue;
            }
            if head.next_attempt_at.is_some_and(|n| n > t) {
                log::info!(
                    "deployment {}: {} answered a poll again; signalling now, before the scheduled retry",
                    head.id,
                    head.retry_origin.as_deref().unwrap_or_default()
                );
            }
            let mut rec: Record = match crate::pyjson::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    log::error!("outbox record {}: {e}; skipped", path.display());
                    continue;
                }
            };
            if t - rec.created_at > QUEUED_MAX_AGE {
                self.give_up(&mut rec);
                summary.failed += 1;
                continue;
            }
            match agent.get_or_insert_with(|| crate::http::agent(&http_settings(settings))) {
                Ok(agent) => attempt(&mut rec, agent, &self.backoff),
                Err(e) => {
                    // a configuration problem (CA file): keep the signal, try again later
                    rec.attempts += 1;
                    rec.last_attempt_at = Some(t);
                    rec.last_error = Some(e.clone());
                    rec.next_attempt_at =
                        Some(t + self.backoff.delay(rec.attempts - 1).as_secs_f64());
                    rec.retry_origin = None;
                    log::error!("deployment {}: cannot build an HTTP client: {e}", rec.id);
                }
            }
            match rec.state {
                State::Delivered => summary.delivered += 1,
                State::Failed => summary.failed += 1,
                State::Queued => summary.pending += 1,
            }
            if let Err(e) = self.write_back(&rec) {
                log::error!("outbox: {e}");
            }
        }
        summary
    }

    /// A signal still queued after [`QUEUED_MAX_AGE`] fails for good.
    fn give_up(&self, rec: &mut Record) {
        rec.state = State::Failed;
        rec.next_attempt_at = None;
        rec.retry_origin = None;
        rec.last_error = Some(format!(
            "gave up after {} attempts over {:.0} days; last error: {}",
            rec.attempts,
            QUEUED_MAX_AGE / 86400.0,
            rec.last_error.as_deref().unwrap_or("none")
        ));
        log::error!(
            "deployment {}: signal not delivered within 7 days; giving up",
            rec.id
        );
        forget_credentials(rec);
        if let Err(e) = self.write_back(rec) {
            log::error!("outbox: {e}");
        }
    }

    /// Earliest next attempt among queued signals (the daemon sleeps no longer than this).
    pub fn next_due(&self) -> Option<SystemTime> {
        self.summaries()
            .iter()
            .filter(|s| s.state == State::Queued)
            .map(|s| s.next_attempt_at.unwrap_or(0.0))
            .min_by(|a, b| a.total_cmp(b))
            .map(to_system_time)
    }
}

/// `HEAT_AGENT_NOTIFY_BACKOFF` (seconds, the first retry step) overrides the 2 s default;
/// the cap stays 5 minutes.
fn backoff_from_env() -> Backoff {
    let mut b = DEFAULT_BACKOFF;
    if let Some(initial) = crate::config::vars::notify_backoff() {
        b.initial = initial;
    }
    b
}

/// HTTP behaviour for signals, from the `[http]` settings, read as the collectors read them
/// (TLS always verified).
pub fn http_settings(settings: &crate::config::Settings) -> crate::http::HttpSettings {
    let timeout = crate::collectors::secs(settings.http.timeout, 60.0);
    crate::collectors::http_settings(settings, timeout, None, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_settings_follow_the_http_section() {
        let mut s = crate::config::Settings::default();
        s.http.timeout = 5.0;
        s.http.connect_timeout = f64::NAN;
        let h = http_settings(&s);
        assert_eq!(
            (h.timeout, h.connect_timeout, h.verify_tls),
            (Duration::from_secs(5), Duration::from_secs(5), true)
        );
        s.http.timeout = -1.0;
        s.http.connect_timeout = 2.0;
        let h = http_settings(&s);
        assert_eq!(
            (h.timeout, h.connect_timeout),
            (Duration::from_secs(60), Duration::from_secs(2))
        );
    }

    fn entry(inputs: Value) -> Value {
        json!({"id": "d1", "name": "cfg", "group": "script", "inputs": inputs})
    }

    #[test]
    fn file_stems_cannot_escape_the_directory() {
        assert_eq!(
            file_stem("9adc0b4a-d28d-426a-a77b-a4596bed4bca"),
            "9adc0b4a-d28d-426a-a77b-a4596bed4bca"
        );
        assert_eq!(file_stem("../x"), "%2E.%2Fx");
        assert_eq!(file_stem(""), "%00");
        assert!(!file_stem("a/b").contains('/'));
    }

    #[test]
    fn no_signal_is_delivered_at_once() {
        let r = new_record(
            "d1",
            &entry(json!([{"name": "deploy_action", "value": "CREATE"}])),
            &json!({}),
            5.0,
        );
        assert_eq!(r.state, State::Delivered);
        assert_eq!(r.transport, "none");
        assert_eq!(r.delivered_at, Some(5.0));
        assert_eq!(r.action.as_deref(), Some("CREATE"));
        assert_eq!(
            (r.name.as_deref(), r.group.as_deref()),
            (Some("cfg"), Some("script"))
        );
    }

    #[test]
    fn unusable_inputs_fail_at_once() {
        let r = new_record(
            "d1",
            &entry(json!([{"name": "deploy_auth_url", "value": "http://k"}])),
            &json!({}),
            5.0,
        );
        assert_eq!(r.state, State::Failed);
        assert!(r.last_error.unwrap().contains("deploy_user_id"));
    }

    /// Issue 11: a payload Python would send with NaN/Infinity in it is kept and read back,
    /// never an unreadable record (a lost result).
    #[test]
    fn payload_with_non_finite_numbers_round_trips() {
        let e = entry(json!([{"name": "deploy_signal_id", "value": "http://127.0.0.1:1/x"}]));
        let payload = crate::pyjson::loads(
            r#"{"deploy_stdout": [NaN, Infinity, -Infinity, 1e400]}"#,
            "t",
        )
        .unwrap();
        let r = new_record("d1", &e, &payload, 5.0);
        let text = serde_json::to_string(&r).unwrap();
        let back: Record = crate::pyjson::from_str(&text).unwrap();
        assert_eq!(
            crate::pyjson::dumps(&back.payload),
            r#"{"deploy_stdout": [NaN, Infinity, -Infinity, Infinity]}"#
        );
        let s: Summary = crate::pyjson::from_slice(text.as_bytes()).unwrap();
        assert_eq!(s.state, State::Queued);
    }

    #[test]
    fn queued_record_round_trips_and_summarises() {
        let e = entry(json!([{"name": "deploy_signal_id", "value": "http://127.0.0.1:1/x"}]));
        let r = new_record(
            "d1",
            &e,
            &json!({"deploy_stdout": "o", "unset_hook": "h"}),
            5.0,
        );
        assert_eq!(r.state, State::Queued);
        assert_eq!(r.transport, "cfn");
        assert_eq!(r.next_attempt_at, Some(5.0));
        assert_eq!(r.payload, json!({"deploy_stdout": "o"}));
        let text = serde_json::to_string(&r).unwrap();
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let s: Summary = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (s.state, s.attempts, s.transport.as_str()),
            (State::Queued, 0, "cfn")
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        for key in [
            "id",
            "transport",
            "state",
            "attempts",
            "created_at",
            "next_attempt_at",
            "last_attempt_at",
            "last_status",
            "last_error",
            "payload",
            "targets",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["state"], json!("queued"));
    }

    /// A queued record is due at its scheduled time, or at once after a successful poll of
    /// the very origin (scheme, host and port) its last attempt failed at.
    #[test]
    fn a_successful_poll_of_the_failed_origin_makes_a_signal_due() {
        let e = entry(json!([{"name": "deploy_signal_id", "value": "http://heat:8000/x"}]));
        let mut r = new_record("d1", &e, &json!({}), 100.0);
        assert!(r.due(100.0, &[]), "a new record is due at once");
        r.attempts = 3;
        r.next_attempt_at = Some(200.0);
        r.retry_origin = Some("http://heat:8000".into());
        let polled = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(!r.due(150.0, &[]));
        assert!(!r.due(150.0, &polled(&["http://nova:8000", "http://127.0.0.1:80"])));
        assert!(r.due(150.0, &polled(&["http://nova:8000", "http://heat:8000"])));
        for other in ["https://heat:8000", "http://heat:8001", "http://heat2:8000"] {
            assert!(!r.due(150.0, &polled(&[other])), "{other}");
        }
        assert!(r.due(200.0, &[]), "the schedule still holds");
        // a record from before origins were recorded keeps its schedule
        r.retry_origin = None;
        assert!(!r.due(150.0, &polled(&["http://heat:8000"])));
        r.next_attempt_at = None;
        assert!(r.due(0.0, &[]));
        // the field reads back from the file, and older files without it still read
        let mut text = serde_json::to_value(&r).unwrap();
        assert_eq!(text["retry_origin"], Value::Null);
        text.as_object_mut().unwrap().remove("retry_origin");
        let back: Summary = serde_json::from_value(text).unwrap();
        assert_eq!(back.retry_origin, None);
    }

    #[test]
    fn signals_queued_too_long_are_given_up_without_sending() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        // port 9 (discard) on loopback: nothing must be sent anyway
        let e = entry(json!([{"name": "deploy_signal_id", "value": "http://127.0.0.1:9/x"}]));
        let mut old = new_record("old", &e, &json!({}), now() - QUEUED_MAX_AGE - 10.0);
        old.attempts = 40;
        old.last_error = Some("503".into());
        ob.write(&old).unwrap();
        let s = ob.deliver_due(&crate::config::Settings::default(), None);
        assert_eq!((s.delivered, s.pending, s.failed), (0, 0, 1));
        let r = ob.record("old").unwrap().unwrap();
        assert_eq!(r.state, State::Failed);
        assert_eq!(r.attempts, 40);
        assert!(r.last_error.unwrap().contains("gave up after 40 attempts"));
        assert!(r.targets.is_empty());
    }

    #[test]
    fn next_due_is_the_earliest_queued_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let ob = Outbox::open(dir.path()).unwrap();
        assert_eq!(ob.next_due(), None);
        let e = entry(json!([{"name": "deploy_signal_id", "value": "http://127.0.0.1:1/x"}]));
        let mut a = new_record("a", &e, &json!({}), 100.0);
        a.next_attempt_at = Some(300.0);
        let mut b = new_record("b", &e, &json!({}), 100.0);
        b.next_attempt_at = Some(200.0);
        let mut c = new_record("c", &e, &json!({}), 100.0);
        c.state = State::Failed;
        c.next_attempt_at = Some(50.0);
        for r in [&a, &b, &c] {
            ob.write(r).unwrap();
        }
        assert_eq!(ob.next_due(), Some(to_system_time(200.0)));
        assert_eq!(to_system_time(f64::NAN), UNIX_EPOCH);
        assert!(to_system_time(1e300) > to_system_time(200.0));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(ob.path("a")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

/// Lets a delivery round skip the outbox: the last pass left nothing queued and the directory
/// has not changed since (a new record is renamed into it, which changes its mtime). Kept in
/// `<state_dir>/outbox.quiet` so one-shot runs skip too; delivered records stay 30 days, and
/// reading them all on every cycle was most of an idle cycle's cost. The mtime is only
/// trusted once it is a second old, so a record written in the same clock tick as the last
/// look is never missed; a full pass (and the cleanup of expired records) still runs hourly.
#[derive(Default, PartialEq, Serialize, Deserialize)]
pub struct QuietCheck {
    /// The outbox directory's mtime (ns since the epoch) when it was last found quiet.
    mtime_ns: Option<u128>,
    /// When that full pass ran (unix seconds).
    checked_at: f64,
}

impl QuietCheck {
    const FULL_PASS_EVERY: f64 = 3600.0;
    const FILE: &'static str = "outbox.quiet";

    pub fn load(state_dir: &Path) -> QuietCheck {
        fs::read(state_dir.join(Self::FILE))
            .ok()
            .and_then(|b| crate::pyjson::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn ns(t: SystemTime) -> Option<u128> {
        t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_nanos())
    }

    /// Nothing can have been queued since the last quiet pass (`mtime`: the outbox
    /// directory's now).
    pub fn unchanged(&self, mtime: Option<SystemTime>) -> bool {
        let age = now() - self.checked_at;
        self.mtime_ns.is_some()
            && mtime.and_then(Self::ns) == self.mtime_ns
            && (0.0..Self::FULL_PASS_EVERY).contains(&age)
    }

    /// Record the outcome of a full pass (and persist it when it changed).
    pub fn settle(&mut self, state_dir: &Path, mtime: Option<SystemTime>, nothing_queued: bool) {
        let old_enough = mtime.is_some_and(|m| {
            SystemTime::now()
                .duration_since(m)
                .is_ok_and(|age| age >= Duration::from_secs(1))
        });
        let next = match mtime.and_then(Self::ns) {
            Some(ns) if nothing_queued && old_enough => QuietCheck {
                mtime_ns: Some(ns),
                checked_at: now(),
            },
            _ => QuietCheck::default(),
        };
        if next.mtime_ns == self.mtime_ns && next.mtime_ns.is_none() {
            return;
        }
        *self = next;
        let path = state_dir.join(Self::FILE);
        let written = match self.mtime_ns {
            Some(_) => serde_json::to_vec(self)
                .map_err(io::Error::other)
                .and_then(|b| fsutil::atomic_write(&path, &b, 0o600, Default::default())),
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(e) = written {
            log::debug!("{}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod quiet_tests {
    use super::*;

    #[test]
    fn quiet_check_trusts_only_an_old_unchanged_directory() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let mut w = QuietCheck::load(dir.path());
        assert!(!w.unchanged(Some(old)), "nothing known yet");
        w.settle(dir.path(), Some(old), true);
        assert!(dir.path().join(QuietCheck::FILE).exists());
        // a later process (one-shot run) reads it back
        let w = QuietCheck::load(dir.path());
        assert!(w.unchanged(Some(old)));
        assert!(
            !w.unchanged(Some(old + Duration::from_nanos(1))),
            "the directory changed"
        );
        assert!(!w.unchanged(None));
        // signals still queued: never quiet, and the hint is dropped
        let mut w = QuietCheck::load(dir.path());
        w.settle(dir.path(), Some(old), false);
        assert!(!w.unchanged(Some(old)));
        assert!(!dir.path().join(QuietCheck::FILE).exists());
        // an mtime from this very moment is not trusted (same clock tick as a new record)
        let mut w = QuietCheck::default();
        let now = SystemTime::now();
        w.settle(dir.path(), Some(now), true);
        assert!(!w.unchanged(Some(now)));
        // a full pass is due again after an hour
        let w = QuietCheck {
            mtime_ns: QuietCheck::ns(old),
            checked_at: super::now() - 3601.0,
        };
        assert!(!w.unchanged(Some(old)));
    }
}
