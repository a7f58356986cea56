//! The daemon's real [`World`]: the collectors and the cache (`collectors::cycle`), the command
//! (`process`), signal delivery (`notify::courier`), and systemd and OS signals (`lifecycle`).

use super::{Event, World};
use crate::cache::Cache;
use crate::collectors::cycle::{collect_print, Collected, Cycles};
use crate::collectors::State;
use crate::config::Settings;
use crate::lifecycle::{self, loop_signals::Signals};
use crate::notify::courier::Rounds;
use crate::process::{self, Spec};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Time between SIGTERM and SIGKILL for the refresh command when the daemon is told to stop:
/// room for the deploy runner's own hook grace ([`crate::hooks::STOP_GRACE`]) plus recording
/// and queueing the result; well under the unit's TimeoutStopSec (90 s).
pub const REFRESH_STOP_GRACE: Duration = Duration::from_secs(15);

/// How the daemon was started, so a reload can re-exec exactly the same way.
pub struct Launch {
    pub argv: Vec<OsString>,
}

/// Store mode: the cache and the collectors polled into it.
struct Store {
    cache: Cache,
    cycles: Cycles,
}

pub struct Live<'a> {
    settings: &'a Settings,
    launch: Launch,
    signals: Signals,
    /// Held while cache files are written: a stop never cuts a write in half.
    write_lock: Arc<Mutex<()>>,
    store: Option<Store>,
    rounds: Rounds,
    /// Only a daemon re-executes on a configuration change.
    config_hash: Option<String>,
    /// The origin of [`World::now`].
    started: Instant,
}

impl<'a> Live<'a> {
    pub fn new(settings: &'a Settings, launch: Launch, store: bool) -> Result<Live<'a>, String> {
        let write_lock = Arc::new(Mutex::new(()));
        let signals = lifecycle::loop_signals::install(write_lock.clone())
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let store = if store {
            let cache = Cache::open(&settings.cachedir)
                .map_err(|e| format!("cache directory {}: {e}", settings.cachedir.display()))?;
            let cycles = Cycles::new(&cache);
            Some(Store { cache, cycles })
        } else {
            None
        };
        Ok(Live {
            rounds: Rounds::new(settings, signals.stop.clone()),
            config_hash: (!settings.one_time).then(|| crate::config::config_hash(settings)),
            settings,
            launch,
            signals,
            write_lock,
            store,
            started: Instant::now(),
        })
    }
}

/// Under a systemd watchdog, the collection phase of a cycle is cut at this share of
/// `WatchdogSec` (135 s of the unit's 180 s): with unreachable Keystone endpoints heat and
/// zaqar alone took about 245 s with the default timeouts.
pub fn cycle_cap(watchdog: Duration) -> Duration {
    watchdog * 3 / 4
}

impl World for Live<'_> {
    fn stop_requested(&self) -> bool {
        self.signals.stop.load(Ordering::SeqCst)
    }

    /// One collection, under a systemd watchdog bounded by [`cycle_cap`]: every network call
    /// of the cycle ends by then (sources cut short count as unavailable and keep their last
    /// good data), and the watchdog is fed meanwhile, but only until the cap: a loop that
    /// hangs regardless is still caught.
    fn collect(&mut self) -> Result<Collected, String> {
        let Some(Store { cache, cycles }) = self.store.as_mut() else {
            return Ok(Collected::default());
        };
        let (settings, lock) = (self.settings, &*self.write_lock);
        let collected = match lifecycle::watchdog_interval() {
            None => cycles.collect_store(settings, cache, lock),
            Some(watchdog) => {
                let cap = cycle_cap(watchdog);
                let deadline = Instant::now() + cap;
                lifecycle::with_watchdog_for(cap, || {
                    crate::http::with_deadline(deadline, || {
                        cycles.collect_store(settings, cache, lock)
                    })
                })
            }
        };
        collected.map_err(|e| format!("cache directory {}: {e}", cache.dir().display()))
    }

    fn print(&mut self) {
        let merged = collect_print(self.settings, &mut State::default());
        crate::output::println(crate::pyjson::dumps_indent(&merged, 1));
    }

    fn ready(&mut self) {
        lifecycle::ready();
    }

    /// The command (refresh, hooks) may run long: the systemd watchdog is fed meanwhile. The
    /// backup copy of the new cache is made while it runs: neither needs the other, and the
    /// copy is swapped in whole (never half a backup).
    fn run_command(&mut self, collected: &Collected) -> i32 {
        let settings = self.settings;
        let command = settings.command.as_deref().unwrap_or_default();
        let backup =
            !collected.changed.is_empty() && !settings.backup_cachedir.as_os_str().is_empty();
        let cache = self.store.as_ref().map(|s| &s.cache);
        let (lock, stop) = (&*self.write_lock, &self.signals.stop);
        std::thread::scope(|scope| {
            let copier = cache.filter(|_| backup).map(|cache| {
                scope.spawn(move || {
                    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    cache.backup_to(&settings.backup_cachedir)
                })
            });
            let rc = lifecycle::with_watchdog(|| run_command(command, &collected.paths, stop));
            if let Some(Ok(Err(e))) = copier.map(|c| c.join()) {
                log::error!(
                    "backup of the cache to {}: {e}",
                    settings.backup_cachedir.display()
                );
            }
            rc
        })
    }

    fn commit(&mut self, collected: &Collected) {
        let Some(store) = &self.store else { return };
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = store.cache.commit_all(&collected.changed) {
            log::error!("committing {:?}: {e}", collected.changed);
        }
    }

    fn forget(&mut self) {
        if let Some(store) = &mut self.store {
            store.cycles.forget();
        }
    }

    fn config_changed(&self) -> bool {
        self.config_hash
            .as_ref()
            .is_some_and(|h| &crate::config::config_hash(self.settings) != h)
    }

    fn deliver(&mut self, answered: &[String]) -> Option<Duration> {
        self.rounds.round(answered)
    }

    fn report(&mut self, status: &str) {
        lifecycle::status(status);
        lifecycle::watchdog();
    }

    fn sleep(&mut self, d: Duration) -> Option<Event> {
        lifecycle::loop_signals::sleep_or_event(d, &self.signals.events)
    }

    fn now(&mut self) -> Duration {
        self.started.elapsed()
    }

    fn random(&mut self) -> f64 {
        fastrand::f64()
    }

    fn reloading(&mut self) {
        log::info!("Signal received. Re-executing {:?}", self.launch.argv);
        lifecycle::reloading();
    }

    fn reexec(&mut self) {
        let e = lifecycle::loop_signals::reexec(&self.launch.argv);
        log::error!("re-exec failed: {e}");
    }

    fn stopped(&mut self) {
        lifecycle::loop_signals::stopped();
    }
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

/// Run the command through `/bin/sh -c` with `OS_CONFIG_FILES`. Returns the exit status
/// (128+N when killed by signal N; the reference reports 256-N, W-C22). Both are in
/// (docs/compatibility.md, "os-collect-config: cache, command and poll loop").
pub fn run_command(command: &str, paths: &[PathBuf], stop: &Arc<AtomicBool>) -> i32 {
    let files = os_config_files(paths);
    log::info!(
        "Executing {command} with OS_CONFIG_FILES={}",
        files.to_string_lossy()
    );
    let mut spec = Spec::shell(command).env("OS_CONFIG_FILES", files);
    // stdio inherited, like the reference. Its own process group, so a terminal's ^C reaches
    // only us; we pass every stop (SIGTERM or SIGINT) on to the command's whole tree at once.
    spec.own_group = true;
    // A stop (systemd's SIGTERM) reaches the refresh command's group; each level below stops
    // its own child within its own grace (phase script 12 s, hook 5 s), so a deploy run
    // records the deployment as interrupted before we kill anything.
    spec.stop_grace = REFRESH_STOP_GRACE;
    let _running = lifecycle::loop_signals::hold_exit();
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

/// A path made absolute (OS_CONFIG_FILES must hold absolute paths).
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
    fn os_config_files_joins_with_colons() {
        let p = vec![
            PathBuf::from("/a/heat_local.json"),
            PathBuf::from("/a/ec2.json"),
        ];
        assert_eq!(os_config_files(&p), "/a/heat_local.json:/a/ec2.json");
        assert_eq!(os_config_files(&[]), "");
    }
}
