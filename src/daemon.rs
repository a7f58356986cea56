//! The poll loop (spec os-config-tools §1.3–§1.6, §1.9): collect → cache/diff → run the command
//! → commit → maybe re-exec on a config change → sleep with doubling backoff and jitter.
//!
//! Differences from the reference, all recorded in docs/compatibility.md:
//! - a collector that is configured but unavailable this cycle keeps its last good entries in
//!   `OS_CONFIG_FILES` (W-C7);
//! - SIGHUP re-reads the configuration at a safe point (between steps, never inside a cache
//!   write) and is never left ignored for the command (W-C10, W-C11);
//! - SIGTERM/SIGINT stop within about a second, never in the middle of a cache write; a
//!   running command gets up to [`REFRESH_STOP_GRACE`] to record its deployment first;
//! - queued deployment signals (the outbox) are delivered from the loop, at most
//!   [`DELIVERY_BUDGET`] per cycle, and the loop never sleeps past the next retry.

use crate::cache::Cache;
use crate::collectors::{self, CollectError, Context, State};
use crate::config::Settings;
use crate::process::{self, Spec};
use crate::{lifecycle, pyjson, retry};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of our own bookkeeping file in the cache dir (the reference never lists the dir).
const SOURCES_FILE: &str = ".heat-agent-sources.json";
/// The `request` collector's HTTP validators, kept so that even a `--one-time` run asks with
/// `If-None-Match`/`If-Modified-Since` and reuses the cached document on `304`.
const VALIDATORS_FILE: &str = ".heat-agent-request.json";

#[derive(serde::Serialize, serde::Deserialize, PartialEq, Default)]
struct Validators {
    url: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
}

fn validators_of(state: &State) -> Validators {
    Validators {
        url: state.request_url.clone(),
        etag: state.request_etag.clone(),
        last_modified: state.request_last_modified.clone(),
    }
}

/// Restore the request validators, with the document they validate (`request.json`, read
/// only if a `304` needs it).
pub fn load_validators(state: &mut State, cache: &Cache) {
    let Some(v) = std::fs::read_to_string(cache.dir().join(VALIDATORS_FILE))
        .ok()
        .and_then(|t| pyjson::from_str::<Validators>(&t).ok())
    else {
        return;
    };
    if v.etag.is_none() && v.last_modified.is_none() {
        return; // nothing can confirm the cached document
    }
    let doc = cache.path("request");
    if !doc.is_file() {
        return;
    }
    state.request_url = v.url;
    state.request_etag = v.etag;
    state.request_last_modified = v.last_modified;
    state.request_body_file = Some(doc);
}

/// The validators file's new content, when it differs from what is on disk.
fn validators_to_save(state: &State, cache: &Cache) -> Option<String> {
    let now = validators_of(state);
    let on_disk = std::fs::read_to_string(cache.dir().join(VALIDATORS_FILE))
        .ok()
        .and_then(|t| pyjson::from_str::<Validators>(&t).ok());
    if on_disk.as_ref() == Some(&now) || (on_disk.is_none() && now == Validators::default()) {
        return None;
    }
    Some(serde_json::to_string(&now).unwrap_or_else(|_| "{}".into()))
}

/// What the last settled cycle collected (nothing pending): when a cycle collects exactly the
/// same entries, nothing can have changed and no file needs to be read or written.
#[derive(Debug, Default)]
pub struct Memo {
    /// Per collector (in `settings.collectors` order): what it contributed.
    sources: Vec<MemoSource>,
    /// The `.heat-agent-sources.json` content the cycle left on disk.
    source_keys: BTreeMap<String, Vec<String>>,
    keys: Vec<String>,
    paths: Vec<PathBuf>,
}

#[derive(Debug)]
struct MemoSource {
    entries: collectors::Entries,
    /// The entries came from the collector itself (not kept from the cache), so its
    /// [`collectors::Polled::Unchanged`] refers to them.
    fresh: bool,
}

/// One collector's contribution to a cycle.
enum Contribution {
    Fresh(collectors::Entries),
    Unchanged,
    Kept(collectors::Entries),
    Nothing,
}

/// Result of one store-mode collection.
#[derive(Debug, Default)]
pub struct Collected {
    /// Keys whose value differs from the committed one (in first-seen order).
    pub changed: Vec<String>,
    /// Every key stored this cycle, in order (duplicates kept, like the reference).
    pub keys: Vec<String>,
    /// Cache paths of `keys`: what `OS_CONFIG_FILES` lists.
    pub paths: Vec<PathBuf>,
    /// Collectors that produced entries, were kept from last time, or were skipped.
    pub report: Vec<(String, SourceOutcome)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceOutcome {
    Collected(usize),
    /// Unavailable this cycle; its last good entries were kept.
    Kept(usize),
    Unavailable,
    NotConfigured,
}

impl Memo {
    /// This cycle contributed exactly what the memo's cycle did, source by source.
    fn matches(&self, contributions: &[Contribution]) -> bool {
        self.sources.len() == contributions.len()
            && self
                .sources
                .iter()
                .zip(contributions)
                .all(|(m, c)| match c {
                    Contribution::Unchanged => m.fresh,
                    Contribution::Fresh(e) => m.fresh && &m.entries == e,
                    Contribution::Kept(e) => !m.fresh && &m.entries == e,
                    Contribution::Nothing => !m.fresh && m.entries.is_empty(),
                })
    }
}

/// Run one collector and log the outcome the way the reference does (§1.4).
fn run_collector(
    name: &str,
    ctx: &mut Context<'_>,
    have_previous: bool,
) -> Result<collectors::Polled, CollectError> {
    let result = collectors::poll(name, ctx, have_previous);
    match &result {
        Err(CollectError::NotAvailable(msg)) => {
            if !msg.is_empty() {
                log::warn!("{msg}");
            }
            log::warn!("Source [{name}] Unavailable.");
        }
        Err(CollectError::NotConfigured(msg)) => {
            if !msg.is_empty() {
                log::debug!("{msg}");
            }
            log::debug!("Source [{name}] Not configured.");
        }
        Ok(_) => {}
    }
    result
}

/// Print mode: every collector's entries merged into one map (later duplicates replace).
pub fn collect_print(settings: &Settings, state: &mut State) -> Value {
    let mut merged = Map::new();
    for name in &settings.collectors {
        let mut ctx = Context {
            settings,
            cachedir: &settings.cachedir,
            state,
        };
        if let Ok(polled) = run_collector(name, &mut ctx, false) {
            let entries = match polled {
                collectors::Polled::Fresh(e) => e,
                collectors::Polled::Unchanged => collectors::unchanged_entries(name, &ctx),
            };
            for (k, v) in entries {
                merged.insert(k, v);
            }
        }
    }
    Value::Object(merged)
}

fn load_sources(cache: &Cache) -> BTreeMap<String, Vec<String>> {
    std::fs::read_to_string(cache.dir().join(SOURCES_FILE))
        .ok()
        .and_then(|t| pyjson::from_str(&t).ok())
        .unwrap_or_default()
}

/// Store mode: collect, store each entry, work out what changed (§1.4, §1.5).
/// `write_lock` is held while files are written, so a stop never cuts a write in half.
pub fn collect_store(
    settings: &Settings,
    state: &mut State,
    cache: &Cache,
    write_lock: &Mutex<()>,
    memo: &mut Option<Memo>,
) -> std::io::Result<Collected> {
    let mut out = Collected::default();
    let mut sources = match memo {
        Some(m) => std::mem::take(&mut m.source_keys),
        None => load_sources(cache),
    };
    let mut sources_changed = false;
    // Collect everything first, then store the whole cycle in one batch (one flush).
    let mut contributions: Vec<Contribution> = Vec::with_capacity(settings.collectors.len());
    for (i, name) in settings.collectors.iter().enumerate() {
        let have_previous = memo
            .as_ref()
            .and_then(|m| m.sources.get(i))
            .is_some_and(|s| s.fresh);
        let mut ctx = Context {
            settings,
            cachedir: &settings.cachedir,
            state,
        };
        match run_collector(name, &mut ctx, have_previous) {
            Ok(polled) => {
                let keys: Vec<String> = match &polled {
                    collectors::Polled::Fresh(e) => e.iter().map(|(k, _)| k.clone()).collect(),
                    collectors::Polled::Unchanged => sources.get(name).cloned().unwrap_or_default(),
                };
                out.report
                    .push((name.clone(), SourceOutcome::Collected(keys.len())));
                if sources.get(name) != Some(&keys) {
                    sources.insert(name.clone(), keys);
                    sources_changed = true;
                }
                contributions.push(match polled {
                    collectors::Polled::Fresh(e) => Contribution::Fresh(e),
                    collectors::Polled::Unchanged => Contribution::Unchanged,
                });
            }
            Err(CollectError::NotAvailable(_)) => {
                // Keep the last good data of a source that is only temporarily away (W-C7).
                let kept: Vec<String> = sources
                    .get(name)
                    .into_iter()
                    .flatten()
                    .filter(|k| cache.path(k).exists())
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    out.report.push((name.clone(), SourceOutcome::Unavailable));
                    contributions.push(Contribution::Nothing);
                } else {
                    log::info!("keeping the last data of [{name}] ({} entries)", kept.len());
                    let mut entries = Vec::new();
                    for key in &kept {
                        if let Some(value) = cache.current(key) {
                            entries.push((key.clone(), value));
                        }
                    }
                    out.report
                        .push((name.clone(), SourceOutcome::Kept(kept.len())));
                    contributions.push(Contribution::Kept(entries));
                }
            }
            Err(CollectError::NotConfigured(_)) => {
                if sources.remove(name).is_some() {
                    sources_changed = true;
                }
                out.report
                    .push((name.clone(), SourceOutcome::NotConfigured));
                contributions.push(Contribution::Nothing);
            }
        }
    }
    if let Some(m) = memo
        .as_mut()
        .filter(|m| !sources_changed && m.matches(&contributions))
    {
        m.source_keys = sources;
        out.keys = m.keys.clone();
        out.paths = m.paths.clone();
        return Ok(out);
    }
    // Something differs: the whole cycle goes through the cache.
    let previous = memo.take();
    let mut per_source = Vec::with_capacity(contributions.len());
    for (i, (name, c)) in settings.collectors.iter().zip(contributions).enumerate() {
        let (entries, fresh) = match c {
            Contribution::Fresh(e) => (e, true),
            Contribution::Unchanged => {
                let kept = previous
                    .as_ref()
                    .and_then(|m| m.sources.get(i))
                    .map(|s| s.entries.clone());
                let entries = kept.unwrap_or_else(|| {
                    let ctx = Context {
                        settings,
                        cachedir: &settings.cachedir,
                        state,
                    };
                    collectors::unchanged_entries(name, &ctx)
                });
                (entries, true)
            }
            Contribution::Kept(e) => (e, false),
            Contribution::Nothing => (Vec::new(), false),
        };
        per_source.push(MemoSource { entries, fresh });
    }
    let entries: Vec<(&str, &Value)> = per_source
        .iter()
        .flat_map(|s| s.entries.iter().map(|(k, v)| (k.as_str(), v)))
        .collect();
    let _guard = write_lock.lock().unwrap_or_else(|e| e.into_inner());
    // Everything this cycle writes is staged, made durable together (in parallel) and renamed
    // in with one directory sync: the entries, and the files that describe them.
    let mut extras: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Some(text) = validators_to_save(state, cache) {
        extras.push((cache.dir().join(VALIDATORS_FILE), text.into_bytes()));
    }
    if sources_changed {
        let text = serde_json::to_string(&sources).unwrap_or_else(|_| "{}".into());
        extras.push((cache.dir().join(SOURCES_FILE), text.into_bytes()));
    }
    // os_config_files.json: rewritten whenever the list differs from the one on disk (W-C9:
    // never leave a stale list behind; an identical list is not rewritten).
    let paths: Vec<PathBuf> = entries.iter().map(|(key, _)| cache.path(key)).collect();
    let list_path = cache.list_path();
    let list = cache.meta_list_text(&paths);
    if std::fs::read(&list_path).ok().as_deref() != Some(list.as_bytes()) {
        extras.push((list_path, list.into_bytes()));
    }
    let mut cycle = cache.stage_all(&entries, &extras)?;
    for ((key, _), (path, changed)) in entries.iter().zip(std::mem::take(&mut cycle.stored)) {
        if changed && !out.changed.iter().any(|c| c == key) {
            out.changed.push(key.to_string());
        }
        out.keys.push(key.to_string());
        out.paths.push(path);
    }
    cache.switch_in(cycle)?;
    *memo = Some(Memo {
        sources: per_source,
        source_keys: sources,
        keys: out.keys.clone(),
        paths: out.paths.clone(),
    });
    Ok(out)
}

/// Under a systemd watchdog, the collection phase of a cycle is cut at this share of
/// `WatchdogSec` (135 s of the unit's 180 s): with unreachable Keystone endpoints heat and
/// zaqar alone took about 245 s with the default timeouts.
pub fn cycle_cap(watchdog: Duration) -> Duration {
    watchdog * 3 / 4
}

/// [`collect_store`], under a systemd watchdog bounded by [`cycle_cap`]: every network call
/// of the cycle ends by then (sources cut short count as unavailable and keep their last good
/// data), and the watchdog is fed meanwhile, but only until the cap: a loop that hangs
/// regardless is still caught.
fn collect_cycle(
    settings: &Settings,
    state: &mut State,
    cache: &Cache,
    write_lock: &Mutex<()>,
    memo: &mut Option<Memo>,
) -> std::io::Result<Collected> {
    let Some(watchdog) = lifecycle::watchdog_interval() else {
        return collect_store(settings, state, cache, write_lock, memo);
    };
    let cap = cycle_cap(watchdog);
    let deadline = Instant::now() + cap;
    lifecycle::with_watchdog_for(cap, || {
        crate::http::with_deadline(deadline, || {
            collect_store(settings, state, cache, write_lock, memo)
        })
    })
}

/// `OS_CONFIG_FILES`: the paths joined by `:`.
pub fn os_config_files(paths: &[PathBuf]) -> OsString {
    let mut s = OsString::new();
    for (i, p) in paths.iter().enumerate() {
        if i > 0 {
            s.push(":");
        }
        s.push(p);
    }
    s
}

/// Time between SIGTERM and SIGKILL for the refresh command when the daemon is told to stop:
/// room for the deploy runner's own hook grace ([`crate::hooks::STOP_GRACE`]) plus recording
/// and queueing the result; well under the unit's TimeoutStopSec (90 s).
pub const REFRESH_STOP_GRACE: Duration = Duration::from_secs(15);

/// Held while the refresh command runs: a stop request does not end the process before the
/// command has been stopped (see [`install_signals`]).
static COMMAND_RUNNING: Mutex<()> = Mutex::new(());

/// Run the command through `/bin/sh -c` with `OS_CONFIG_FILES` (§1.6). Returns the exit status
/// (128+N when killed by signal N; the reference reports 256-N, see compatibility.md).
pub fn run_command(command: &str, paths: &[PathBuf], stop: &Arc<AtomicBool>) -> i32 {
    let files = os_config_files(paths);
    log::info!(
        "Executing {command} with OS_CONFIG_FILES={}",
        files.to_string_lossy()
    );
    let mut spec = Spec::shell(command).env("OS_CONFIG_FILES", files);
    // stdio inherited, like the reference; same process group so a terminal ^C reaches it,
    // but we still kill the whole tree when asked to stop.
    spec.own_group = true;
    // A stop (systemd's SIGTERM) reaches the refresh command's group; each level below stops
    // its own child within its own grace (phase script 12 s, hook 5 s), so a deploy run
    // records the deployment as interrupted before we kill anything.
    spec.stop_grace = REFRESH_STOP_GRACE;
    let _running = COMMAND_RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    match process::run(&spec, Some(stop)) {
        Ok(f) if f.success() => 0,
        Ok(f) => {
            let code = f.shell_status();
            log::error!(
                "Command failed, will not cache new data. Command '{command}' returned non-zero exit status {}.",
                f.python_returncode()
            );
            if f.cancelled {
                log::warn!("command stopped because the agent is stopping");
            }
            code
        }
        Err(e) => {
            log::error!("Command failed, will not cache new data. {e}");
            127
        }
    }
}

/// Events the loop reacts to, fed by the OS-signal thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Reload,
    Stop,
}

/// The sleep schedule: starts at min, doubles up to max (§1.3); jitter ±10 % on each sleep.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    next: f64,
    max: f64,
}

impl Schedule {
    pub fn new(min: f64, max: f64) -> Schedule {
        Schedule {
            next: min.max(0.0),
            max: max.max(0.0),
        }
    }
    /// The next un-jittered sleep, advancing the schedule.
    pub fn advance(&mut self) -> f64 {
        let now = self.next;
        self.next = (self.next * 2.0).min(self.max);
        now
    }
}

/// How the daemon was started, so a reload can re-exec exactly the same way.
pub struct Launch {
    pub argv: Vec<OsString>,
}

/// Re-exec ourselves with the original argv (§1.9). Only returns on failure.
pub fn reexec(launch: &Launch) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let exe =
        std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| PathBuf::from(&launch.argv[0]));
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = launch.argv.first() {
        cmd.arg0(arg0);
    }
    cmd.args(launch.argv.iter().skip(1));
    // A SIGHUP between exec and the new handlers would kill us (default action): keep it
    // blocked across exec; the new process unblocks it once its handlers are in place, and a
    // pending one is then delivered as a reload.
    let _ = reload_signals().thread_block();
    let err = cmd.exec();
    let _ = reload_signals().thread_unblock();
    err
}

fn reload_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGHUP);
    set
}

/// Spawn the OS-signal thread: SIGHUP → Reload; SIGTERM/SIGINT → Stop. After a stop request the
/// process exits on its own within ~1 s even if the loop is busy, but never while a cache write
/// holds `write_lock` nor while the refresh command is being stopped (up to
/// [`REFRESH_STOP_GRACE`]).
pub fn install_signals(
    write_lock: Arc<Mutex<()>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<mpsc::Receiver<Event>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM, SIGINT])?;
    // blocked by a previous incarnation around its re-exec (see `reexec`)
    let _ = reload_signals().thread_unblock();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if sig == SIGHUP {
                let _ = tx.send(Event::Reload);
                continue;
            }
            stop.store(true, Ordering::SeqCst);
            let _ = tx.send(Event::Stop);
            let lock = write_lock.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(800));
                drop(COMMAND_RUNNING.lock().unwrap_or_else(|e| e.into_inner()));
                let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                std::process::exit(stopped());
            });
        }
    });
    Ok(rx)
}

/// Sleep up to `d`, waking early for an event; pings the systemd watchdog meanwhile.
fn sleep_or_event(d: Duration, events: &mpsc::Receiver<Event>) -> Option<Event> {
    let deadline = Instant::now() + d;
    let tick = lifecycle::watchdog_interval()
        .map(|w| w / 2)
        .unwrap_or(Duration::from_secs(3600));
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        match events.recv_timeout((deadline - now).min(tick)) {
            Ok(e) => return Some(e),
            Err(mpsc::RecvTimeoutError::Timeout) => lifecycle::watchdog(),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return None;
            }
        }
    }
}

fn summarize(c: &Collected) -> String {
    let parts: Vec<String> = c
        .report
        .iter()
        .map(|(n, o)| match o {
            SourceOutcome::Collected(k) => format!("{n}: {k}"),
            SourceOutcome::Kept(k) => format!("{n}: kept {k}"),
            SourceOutcome::Unavailable => format!("{n}: unavailable"),
            SourceOutcome::NotConfigured => format!("{n}: off"),
        })
        .collect();
    format!("{} changed; {}", c.changed.len(), parts.join(", "))
}

/// The whole os-collect-config main flow (§1.3) from parsed settings. Returns the exit code.
pub fn run(settings: Settings, launch: Launch) -> i32 {
    if settings.print_cachedir {
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{}", settings.cachedir.display());
        return 0;
    }
    let store_and_run = settings.command.is_some() && !settings.print_only;
    let write_lock = Arc::new(Mutex::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let events = match install_signals(write_lock.clone(), stop.clone()) {
        Ok(rx) => rx,
        Err(e) => {
            log::error!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    if settings.splay > 0.0 && !settings.one_time {
        let d = Duration::from_secs_f64(fastrand::f64() * settings.splay);
        log::info!("Sleeping {:.2} seconds (splay).", d.as_secs_f64());
        match sleep_or_event(d, &events) {
            Some(Event::Stop) => return stopped(),
            Some(Event::Reload) => return reexec_or_fail(&launch),
            None => {}
        }
    }
    let mut state = State::default();
    if !store_and_run {
        let merged = collect_print(&settings, &mut state);
        // a closed stdout is not a crash (Rust's println! would panic on EPIPE)
        use std::io::Write;
        let text = format!("{}\n", pyjson::dumps_indent(&merged, 1));
        let _ = std::io::stdout().write_all(text.as_bytes());
        return 0;
    }
    let command = settings.command.clone().unwrap_or_default();
    let cache = match Cache::open(&settings.cachedir) {
        Ok(c) => c,
        Err(e) => {
            log::error!("cache directory {}: {e}", settings.cachedir.display());
            return 1;
        }
    };
    load_validators(&mut state, &cache);
    // only a daemon re-executes on a configuration change
    let config_hash = (!settings.one_time).then(|| crate::config::config_hash(&settings));
    let mut schedule = Schedule::new(settings.min_polling_interval, settings.polling_interval);
    let mut exitval = 0;
    let mut announced = false;
    let mut memo: Option<Memo> = None;
    let mut outbox_watch: Option<OutboxWatch> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            return stopped();
        }
        let collected = match collect_cycle(&settings, &mut state, &cache, &write_lock, &mut memo) {
            Ok(c) => c,
            Err(e) => {
                log::error!("cache directory {}: {e}", cache.dir().display());
                if settings.one_time {
                    return 1;
                }
                Collected::default()
            }
        };
        if !announced {
            lifecycle::ready();
            announced = true;
        }
        let mut status = summarize(&collected);
        if !collected.changed.is_empty() || settings.force {
            // the command (refresh, hooks) may run long: keep the systemd watchdog fed meanwhile
            let backup =
                !collected.changed.is_empty() && !settings.backup_cachedir.as_os_str().is_empty();
            let rc = std::thread::scope(|scope| {
                // The backup copy of the new cache is made while the command runs: neither
                // needs the other, and the copy is swapped in whole (never half a backup).
                let copier = backup.then(|| {
                    scope.spawn(|| {
                        let _guard = write_lock.lock().unwrap_or_else(|e| e.into_inner());
                        cache.backup_to(&settings.backup_cachedir)
                    })
                });
                let rc =
                    lifecycle::with_watchdog(|| run_command(&command, &collected.paths, &stop));
                if let Some(Ok(Err(e))) = copier.map(|c| c.join()) {
                    log::error!(
                        "backup of the cache to {}: {e}",
                        settings.backup_cachedir.display()
                    );
                }
                rc
            });
            if stop.load(Ordering::SeqCst) {
                return stopped();
            }
            if rc == 0 {
                let _guard = write_lock.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = cache.commit_all(&collected.changed) {
                    log::error!("committing {:?}: {e}", collected.changed);
                }
                status.push_str("; command succeeded");
            } else {
                exitval = rc;
                status.push_str(&format!("; command failed ({rc})"));
                // the changes stay pending: the next cycle must see them again
                memo = None;
            }
            if config_hash.is_some() && Some(crate::config::config_hash(&settings)) != config_hash {
                log::info!("configuration changed; re-executing");
                return reexec_or_fail(&launch);
            }
        } else {
            log::debug!("No changes detected.");
        }
        let outbox_wait = deliver_signals(&settings, &stop, &mut outbox_watch);
        lifecycle::status(&status);
        lifecycle::watchdog();
        if settings.one_time {
            // the process ends here: freeing the parsed documents one by one would only cost
            // time (about an eighth of a one-shot collect's instructions)
            std::mem::forget(memo);
            std::mem::forget(collected);
            return exitval;
        }
        let base = schedule.advance();
        let mut d = retry::jitter(Duration::from_secs_f64(base), 0.1, fastrand::f64());
        if let Some(w) = outbox_wait {
            d = d.min(w);
        }
        // debug, not info: an idle daemon writes nothing at the default level (issue 14)
        log::debug!("Sleeping {:.2} seconds.", d.as_secs_f64());
        match sleep_or_event(d, &events) {
            Some(Event::Stop) => return stopped(),
            Some(Event::Reload) => {
                log::info!("Signal received. Re-executing {:?}", launch.argv);
                lifecycle::reloading();
                return reexec_or_fail(&launch);
            }
            None => {}
        }
    }
}

/// A requested stop: tell systemd, exit 0.
fn stopped() -> i32 {
    lifecycle::stopping();
    log::info!("stopping");
    0
}

fn reexec_or_fail(launch: &Launch) -> i32 {
    let e = reexec(launch);
    log::error!("re-exec failed: {e}");
    1
}

/// Lets a cycle skip the outbox: the last pass left nothing queued and the directory has not
/// changed since (a new record is renamed into it, which changes its mtime). Kept in
/// `<state_dir>/outbox.quiet` so one-shot runs skip too; delivered records stay 30 days, and
/// reading them all on every cycle was most of an idle cycle's cost. The mtime is only
/// trusted once it is a second old, so a record written in the same clock tick as the last
/// look is never missed; a full pass (and the cleanup of expired records) still runs hourly.
#[derive(Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct OutboxWatch {
    /// The outbox directory's mtime (ns since the epoch) when it was last found quiet.
    mtime_ns: Option<u128>,
    /// When that full pass ran (unix seconds).
    checked_at: f64,
}

impl OutboxWatch {
    const FULL_PASS_EVERY: f64 = 3600.0;
    const FILE: &'static str = "outbox.quiet";

    fn load(state_dir: &Path) -> OutboxWatch {
        std::fs::read(state_dir.join(Self::FILE))
            .ok()
            .and_then(|b| crate::pyjson::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn ns(t: std::time::SystemTime) -> Option<u128> {
        t.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_nanos())
    }

    fn unchanged(&self, mtime: Option<std::time::SystemTime>) -> bool {
        let age = crate::notify::outbox::now() - self.checked_at;
        self.mtime_ns.is_some()
            && mtime.and_then(Self::ns) == self.mtime_ns
            && (0.0..Self::FULL_PASS_EVERY).contains(&age)
    }

    /// Record the outcome of a full pass (and persist it when it changed).
    fn settle(
        &mut self,
        state_dir: &Path,
        mtime: Option<std::time::SystemTime>,
        nothing_queued: bool,
    ) {
        let old_enough = mtime.is_some_and(|m| {
            std::time::SystemTime::now()
                .duration_since(m)
                .is_ok_and(|age| age >= Duration::from_secs(1))
        });
        let next = match mtime.and_then(Self::ns) {
            Some(ns) if nothing_queued && old_enough => OutboxWatch {
                mtime_ns: Some(ns),
                checked_at: crate::notify::outbox::now(),
            },
            _ => OutboxWatch::default(),
        };
        if next.mtime_ns == self.mtime_ns && next.mtime_ns.is_none() {
            return;
        }
        *self = next;
        let path = state_dir.join(Self::FILE);
        let written = match self.mtime_ns {
            Some(_) => serde_json::to_vec(self)
                .map_err(std::io::Error::other)
                .and_then(|b| crate::fsutil::atomic_write(&path, &b, 0o600, Default::default())),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(e) = written {
            log::debug!("{}: {e}", path.display());
        }
    }
}

/// Longest one daemon pass waits for signal delivery. An attempt still running then (an
/// endpoint that accepts but never answers, up to the HTTP timeout) goes on in the background,
/// and the loop keeps polling and answering stop and reload requests meanwhile.
const DELIVERY_BUDGET: Duration = Duration::from_secs(5);

/// What one delivery pass learnt: whether nothing is left queued, and the next retry.
type DeliveryPass = std::thread::JoinHandle<(bool, Option<std::time::SystemTime>)>;

/// The delivery pass left running by an earlier cycle (at most one at a time).
static DELIVERY_IN_FLIGHT: Mutex<Option<DeliveryPass>> = Mutex::new(None);

/// Deliver queued deployment signals; returns how long until the next retry is due.
fn deliver_signals(
    settings: &Settings,
    stop: &Arc<AtomicBool>,
    watch: &mut Option<OutboxWatch>,
) -> Option<Duration> {
    let mut in_flight = DELIVERY_IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    match in_flight.take() {
        Some(pass) if !pass.is_finished() => {
            *in_flight = Some(pass);
            return None; // still waiting for an endpoint; the next cycle looks again
        }
        Some(pass) => drop(pass.join()),
        None => {}
    }
    let state_dir = crate::notify::state_dir_of(settings);
    let outbox_dir = state_dir.join("outbox");
    let Some(meta) = std::fs::metadata(&outbox_dir).ok().filter(|m| m.is_dir()) else {
        return None; // nothing was ever queued: no files to create, no work
    };
    let mtime = meta.modified().ok();
    let watch = watch.get_or_insert_with(|| OutboxWatch::load(&state_dir));
    if watch.unchanged(mtime) {
        return None;
    }
    let settings = crate::notify::with_state_dir_override(settings.clone());
    let outbox = match crate::notify::Outbox::open(&settings.deploy.state_dir) {
        Ok(o) => o,
        Err(e) => {
            log::warn!("signal outbox {}: {e}", outbox_dir.display());
            return None;
        }
    };
    let stop_flag = stop.clone();
    let pass = std::thread::spawn(move || {
        let summary = outbox.deliver_due(&settings, Some(&stop_flag));
        if summary.delivered + summary.failed > 0 || summary.pending > 0 {
            log::info!(
                "signals: {} delivered, {} pending, {} failed permanently",
                summary.delivered,
                summary.pending,
                summary.failed
            );
        }
        let next = outbox.next_due();
        (summary.pending == 0 && next.is_none(), next)
    });
    let deadline = Instant::now() + DELIVERY_BUDGET;
    while !pass.is_finished() {
        if stop.load(Ordering::SeqCst) {
            *in_flight = Some(pass);
            return None; // a stop does not wait for an endpoint; the record stays queued
        }
        if Instant::now() >= deadline {
            log::warn!(
                "a signal endpoint is slow to answer; delivery goes on in the background \
                 (undelivered signals stay queued in {})",
                outbox_dir.display()
            );
            *in_flight = Some(pass);
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (nothing_queued, next) = pass.join().unwrap_or((false, None));
    watch.settle(&state_dir, mtime, nothing_queued);
    next.map(|t| {
        t.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
    })
}

/// Settings with every path made absolute (OS_CONFIG_FILES must hold absolute paths).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_doubles_to_max_and_never_resets() {
        let mut s = Schedule::new(1.0, 30.0);
        let seq: Vec<f64> = (0..8).map(|_| s.advance()).collect();
        assert_eq!(seq, vec![1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
    }

    // test_main_min_polling_interval: -i 10 --min-polling-interval 20 → first sleep 20, then 10
    #[test]
    fn schedule_min_above_max() {
        let mut s = Schedule::new(20.0, 10.0);
        assert_eq!(s.advance(), 20.0);
        assert_eq!(s.advance(), 10.0);
    }

    #[test]
    fn outbox_watch_trusts_only_an_old_unchanged_directory() {
        use std::time::SystemTime;
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let mut w = OutboxWatch::load(dir.path());
        assert!(!w.unchanged(Some(old)), "nothing known yet");
        w.settle(dir.path(), Some(old), true);
        assert!(dir.path().join(OutboxWatch::FILE).exists());
        // a later process (one-shot run) reads it back
        let w = OutboxWatch::load(dir.path());
        assert!(w.unchanged(Some(old)));
        assert!(
            !w.unchanged(Some(old + Duration::from_nanos(1))),
            "the directory changed"
        );
        assert!(!w.unchanged(None));
        // signals still queued: never quiet, and the hint is dropped
        let mut w = OutboxWatch::load(dir.path());
        w.settle(dir.path(), Some(old), false);
        assert!(!w.unchanged(Some(old)));
        assert!(!dir.path().join(OutboxWatch::FILE).exists());
        // an mtime from this very moment is not trusted (same clock tick as a new record)
        let mut w = OutboxWatch::default();
        let now = SystemTime::now();
        w.settle(dir.path(), Some(now), true);
        assert!(!w.unchanged(Some(now)));
        // a full pass is due again after an hour
        let w = OutboxWatch {
            mtime_ns: OutboxWatch::ns(old),
            checked_at: crate::notify::outbox::now() - 3601.0,
        };
        assert!(!w.unchanged(Some(old)));
    }

    #[test]
    fn os_config_files_joins_with_colons() {
        let p = vec![
            PathBuf::from("/a/heat_local.json"),
            PathBuf::from("/a/ec2.json"),
        ];
        assert_eq!(os_config_files(&p), "/a/heat_local.json:/a/ec2.json");
        assert_eq!(os_config_files(&[]), "");
    }
}
