//! The deployment runner, replacing 55-heat-config
//! (docs/compatibility.md, "The deployment runner (55-heat-config) and the hooks").
//!
//! For each entry of the deployments list, in order: sanitise, resolve `component`, skip when
//! `<deployed>/<id>.json` exists (the reference's marker, so deployments already run by the
//! Python agent are taken over), find the hook (a file in the hook dirs wins; otherwise the
//! built-in), then: journal `running` → marker → hook → kept result → journal finished →
//! signal handed to the outbox → delivery attempt. On start, journal entries left `running`
//! (crash, reboot, SIGKILL) are signalled as interrupted failures or re-run on request.

pub mod entry;
pub mod journal;
pub mod signal;

use crate::config::Settings;
use crate::fsutil::{self, Owner};
use crate::hooks::contract::{
    decode_tail, file_stem, is_builtin, secret_values, valid_id, CAPTURE_LIMIT, STATUS_INTERRUPTED,
    STATUS_NOT_EXECUTABLE, STATUS_NOT_FOUND, STATUS_TIMED_OUT,
};
use crate::process::{self, Spec};
use crate::pyjson;
use entry::{Deployment, Prepared};
use journal::{Journal, Record, State};
use serde_json::Value;
use signal::Notifier;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_SHELL_CONFIG: &str = "/var/run/heat-config/heat-config";
pub const DEFAULT_DEPLOYED: &str = "/var/lib/heat-config/deployed";
pub const DEFAULT_DEPLOYED_OLD: &str = "/var/run/heat-config/deployed";
pub const DEFAULT_HOOK_DIRS: [&str; 2] = [
    "/usr/libexec/heat-config/hooks",
    "/var/lib/heat-config/hooks",
];

/// Every path the runner uses, from the reference's environment variables.
#[derive(Debug, Clone)]
pub struct Paths {
    pub conf_file: PathBuf,
    pub deployed: PathBuf,
    pub deployed_old: PathBuf,
    /// In lookup order: `$HEAT_CONFIG_HOOKS`, then the two standard dirs.
    pub hook_dirs: Vec<PathBuf>,
    pub notify: Option<OsString>,
    pub state_dir: PathBuf,
    /// The state dir came from the command line, the environment or a config file.
    pub state_dir_explicit: bool,
}

impl Paths {
    /// From the environment (`HEAT_*` as the reference, `HEAT_AGENT_STATE_DIR`) and `settings`.
    pub fn from_env(settings: &Settings) -> Paths {
        let vars = crate::config::vars::heat_config();
        let mut hook_dirs = Vec::new();
        if let Some(h) = vars.hooks {
            hook_dirs.push(h);
        }
        hook_dirs.extend(DEFAULT_HOOK_DIRS.iter().map(PathBuf::from));
        let env_state = vars.state_dir;
        let default_state = Settings::default().deploy.state_dir;
        Paths {
            conf_file: vars
                .shell_config
                .unwrap_or_else(|| DEFAULT_SHELL_CONFIG.into()),
            deployed: vars.deployed.unwrap_or_else(|| DEFAULT_DEPLOYED.into()),
            deployed_old: vars
                .deployed_old
                .unwrap_or_else(|| DEFAULT_DEPLOYED_OLD.into()),
            hook_dirs,
            notify: vars.notify,
            state_dir_explicit: env_state.is_some() || settings.deploy.state_dir != default_state,
            state_dir: env_state.unwrap_or_else(|| settings.deploy.state_dir.clone()),
        }
    }

    /// `<deployed>/<id>.json`, the reference's marker (see [`file_stem`] for ids that
    /// cannot be file names as they are).
    pub fn marker(&self, id: &str) -> PathBuf {
        self.deployed.join(format!("{}.json", file_stem(id)))
    }

    pub fn notify_file(&self, id: &str) -> PathBuf {
        self.deployed.join(format!("{}.notify.json", file_stem(id)))
    }
}

/// Load the deployments list. `Ok(None)`: the file is empty (no deployments key in metadata).
fn load_list(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match pyjson::loads(&text, &path.display().to_string())? {
        Value::Array(a) => Ok(a),
        other => Err(format!(
            "{}: expected a JSON list of deployments, found {}",
            path.display(),
            match other {
                Value::Object(_) => "an object",
                Value::Null => "null",
                _ => "a scalar",
            }
        )),
    }
}

/// The reference's start-up: the config file must exist (else exit 1), is made 0600, and the
/// deployed dir exists (moved once from the legacy tmpfs location).
fn prepare_files(paths: &Paths) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(&paths.conf_file) {
        Ok(m) => m,
        Err(_) => return Err(format!("No config file {}", paths.conf_file.display())),
    };
    if meta.permissions().mode() & 0o7777 != 0o600 {
        if let Err(e) =
            std::fs::set_permissions(&paths.conf_file, std::fs::Permissions::from_mode(0o600))
        {
            log::warn!("cannot chmod 0600 {}: {e}", paths.conf_file.display());
        }
    }
    if !paths.deployed.is_dir() {
        if paths.deployed != paths.deployed_old && paths.deployed_old.is_dir() {
            log::debug!(
                "Migrating deployed state from {} to {}",
                paths.deployed_old.display(),
                paths.deployed.display()
            );
            fsutil::move_dir(&paths.deployed_old, &paths.deployed).map_err(|e| {
                format!(
                    "moving {} to {}: {e}",
                    paths.deployed_old.display(),
                    paths.deployed.display()
                )
            })?;
        } else {
            fsutil::ensure_dir(&paths.deployed, 0o700).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The journal and notifier, in the configured state dir. A default state dir that cannot be
/// created (tests and benchmarks running unprivileged with only the HEAT_* variables set) falls
/// back to `heat-agent-state` beside the deployed dir.
fn open_state(paths: &Paths) -> io::Result<(Journal, Notifier, PathBuf)> {
    let mut dir = paths.state_dir.clone();
    let journal = match Journal::open(&dir) {
        Ok(j) => j,
        Err(e) if !paths.state_dir_explicit => {
            let parent = paths.deployed.parent().unwrap_or(Path::new("/"));
            let fallback = parent.join("heat-agent-state");
            log::warn!(
                "state dir {}: {e}; using {} (set HEAT_AGENT_STATE_DIR)",
                dir.display(),
                fallback.display()
            );
            dir = fallback;
            Journal::open(&dir)?
        }
        Err(e) => return Err(e),
    };
    let notifier = Notifier::choose(paths.notify.clone(), &dir)?;
    Ok((journal, notifier, dir))
}

/// One exclusive runner at a time (daemon and a manual run must not see each other's running
/// deployments as interrupted).
fn lock(state_dir: &Path) -> io::Result<nix::fcntl::Flock<std::fs::File>> {
    use crate::fsutil::LockWait;
    let path = state_dir.join("deploy.lock");
    let locking = |e: io::Error| io::Error::other(format!("locking {}: {e}", path.display()));
    match crate::fsutil::lock(&path, LockWait::Fail) {
        Ok(l) => Ok(l),
        Err(e) if e.raw_os_error() == Some(nix::libc::EWOULDBLOCK) => {
            log::info!(
                "waiting for another deployment run to finish ({})",
                path.display()
            );
            crate::fsutil::lock(&path, LockWait::Block).map_err(locking)
        }
        Err(e) if e.raw_os_error().is_some() => Err(locking(e)),
        Err(e) => Err(e),
    }
}

/// Whether a deployment run holds the lock of `state_dir` now (a `running` journal record
/// without one is stale: its result was never kept).
pub fn runner_active(state_dir: &Path) -> bool {
    crate::fsutil::is_locked(&state_dir.join("deploy.lock"))
}

/// Why a deploy run failed; each is logged where it happens. Failed hooks are not failures of
/// the run: they are reported through their signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFailure {
    /// The deployments file is missing or cannot be made private.
    ConfigFile,
    /// The journal or the outbox cannot be opened.
    State,
    /// The state directory's lock cannot be taken.
    Lock,
    /// The deployments file is not a list of deployments: nothing run, nothing changed.
    BadList,
    /// This many results could not be made durable (signalled by the next run).
    Unsaved(usize),
}

/// Run every pending deployment.
pub fn run(
    settings: &Settings,
    paths: &Paths,
    stop: Option<&Arc<AtomicBool>>,
) -> Result<(), RunFailure> {
    if let Err(e) = prepare_files(paths) {
        log::error!("{e}");
        return Err(RunFailure::ConfigFile);
    }
    let (journal, notifier, state_dir) = match open_state(paths) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot keep deployment state: {e}");
            return Err(RunFailure::State);
        }
    };
    let _lock = match lock(&state_dir) {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            return Err(RunFailure::Lock);
        }
    };
    let list = load_list(&paths.conf_file);
    let runner = Runner {
        settings,
        paths,
        journal,
        notifier,
        stop,
        unsaved: std::cell::Cell::new(0),
    };
    runner.recover(list.as_deref().unwrap_or(&[]));
    let list = match list {
        Ok(l) => l,
        Err(e) => {
            // W17: a corrupt render runs nothing, changes nothing, and fails loudly so the
            // collector retries on its next poll.
            log::error!("{e}; no deployment run, previous state kept");
            runner.notifier.deliver(settings);
            return Err(RunFailure::BadList);
        }
    };
    for (index, raw) in list.iter().enumerate() {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            log::info!("stopping: {} deployments not looked at", list.len() - index);
            break;
        }
        runner.deploy(index, raw);
    }
    runner.notifier.deliver(settings);
    match runner.unsaved.get() {
        0 => Ok(()),
        n => {
            log::error!(
                "{n} deployment result(s) could not be saved in {}; they are signalled by the next run once there is space",
                state_dir.display()
            );
            Err(RunFailure::Unsaved(n))
        }
    }
}

/// How a deployment's hook is run.
#[derive(Debug, Clone, PartialEq)]
pub enum Hook {
    /// In-process built-in hook (no hook file, or a file that is our own wrapper/link).
    Builtin(String),
    External(PathBuf),
}

impl Hook {
    fn describe(&self) -> String {
        match self {
            Hook::Builtin(n) => format!("built-in hook {n}"),
            Hook::External(p) => p.display().to_string(),
        }
    }
}

/// The built-in a hook file stands for when it is one of our wrappers
/// ([`crate::hooks::contract::wrapper_builtin`]).
fn wrapper_builtin(path: &Path) -> Option<String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1024)
        .read_to_end(&mut buf)
        .ok()?;
    crate::hooks::contract::wrapper_builtin(std::str::from_utf8(&buf).ok()?)
}

/// Hook lookup (docs/compatibility.md, "Hook lookup and precedence (decision)"): `<dir>/<name>`
/// in the hook dirs wins (site override or an existing Python hook); a file that is our own
/// wrapper or a link to this binary runs the built-in in-process; with no file, a built-in of
/// that name.
pub fn find_hook(hook_dirs: &[PathBuf], group: &str) -> Option<Hook> {
    let name = entry::hook_name(group)?;
    for dir in hook_dirs {
        if !dir.is_dir() {
            continue;
        }
        let p = dir.join(&name);
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        if is_builtin(&name) && signal::is_this_binary(&p) {
            return Some(Hook::Builtin(name));
        }
        if let Some(b) = wrapper_builtin(&p) {
            return Some(Hook::Builtin(b));
        }
        return Some(Hook::External(p));
    }
    is_builtin(&name).then_some(Hook::Builtin(name))
}

fn is_executable_file(p: &Path) -> Result<(), String> {
    match std::fs::metadata(p) {
        Ok(m) if !m.is_file() => Err(format!("hook {} is not a file", p.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Err(format!("hook {} is not executable", p.display()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(format!("hook {}: {e}", p.display())),
    }
}

fn read_marker(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    pyjson::parse_value(&text).ok().filter(Value::is_object)
}

/// The end of a failed deployment's `deploy_stderr`, at ERROR (the whole of it goes to Heat;
/// registered secrets are masked by the logger).
/// The hook's outcome at info, or at error with the stderr tail (bounded, secrets masked).
fn log_hook_outcome(h: &Hook, id: &str, signal: &Value) {
    let code = signal.get("deploy_status_code").map(pyjson::py_str);
    match code.as_deref() {
        None | Some("0") | Some("") | Some("None") | Some("False") => {
            log::info!("Completed {} for {}", h.describe(), id)
        }
        Some(c) => {
            log::error!("Error running {} for {}. [{c}]", h.describe(), id);
            log_stderr_tail(id, signal);
        }
    }
}

fn log_stderr_tail(id: &str, signal: &Value) {
    const KEEP: usize = 4096;
    let Some(err) = signal.get("deploy_stderr").and_then(Value::as_str) else {
        return;
    };
    let err = err.trim_end();
    if err.is_empty() {
        return;
    }
    let mut start = err.len().saturating_sub(KEEP);
    while !err.is_char_boundary(start) {
        start += 1;
    }
    let cut = if start > 0 { "[...] " } else { "" };
    log::error!("deployment {id} stderr: {cut}{}", &err[start..]);
}

fn register_secrets(dep: &Deployment) {
    for s in secret_values(&dep.entry) {
        crate::logging::register_secret(&s);
    }
}

struct Runner<'a> {
    settings: &'a Settings,
    paths: &'a Paths,
    journal: Journal,
    notifier: Notifier,
    stop: Option<&'a Arc<AtomicBool>>,
    /// Results this run could not make durable in the state dir (the run then exits 1).
    unsaved: std::cell::Cell<usize>,
}

impl Runner<'_> {
    fn timeout_for(&self, dep: &Deployment) -> Option<Duration> {
        let per_deployment = dep.input("deploy_timeout").and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        });
        let secs = per_deployment.unwrap_or(self.settings.deploy.hook_timeout);
        (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
    }

    fn deploy(&self, index: usize, raw: &Value) {
        let dep = match entry::prepare(raw) {
            Ok(Prepared::Run(d)) => d,
            Ok(Prepared::NoComponentForAction { id, action }) => {
                log::warn!(
                    "Skipping group component, no valid script is defined for deploy action {} ({id})",
                    action.as_deref().unwrap_or("None")
                );
                return;
            }
            Err(e) => {
                log::error!(
                    "Skipping deployment #{index} of {}: {e}",
                    self.paths.conf_file.display()
                );
                return;
            }
        };
        register_secrets(&dep);
        let marker = self.paths.marker(&dep.id);
        if std::fs::symlink_metadata(&marker).is_ok() {
            log::debug!("Skipping config {}, already deployed", dep.id);
            log::debug!("To force-deploy, rm {}", marker.display());
            return;
        }
        let hook = find_hook(&self.paths.hook_dirs, &dep.group);
        let problem = match &hook {
            None if entry::GROUPS_WITHOUT_HOOK.contains(&dep.group.as_str()) => {
                log::debug!(
                    "Skipping group {} (no hook by design) for {}",
                    dep.group,
                    dep.id
                );
                return;
            }
            None => Some((
                format!(
                    "no hook for group {} (looked in {} and the built-in hooks)",
                    dep.group,
                    self.paths
                        .hook_dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                STATUS_NOT_FOUND,
            )),
            Some(Hook::External(p)) => is_executable_file(p)
                .err()
                .map(|e| (e, STATUS_NOT_EXECUTABLE)),
            Some(Hook::Builtin(_)) => None,
        };

        let mut rec = Record {
            id: dep.id.clone(),
            name: dep.name(),
            group: dep.group.clone(),
            action: dep.action(),
            state: State::Running,
            started_at: journal::now(),
            finished_at: None,
            exit_code: None,
            duration: None,
            error: None,
        };
        if let Err(e) = self.journal.write(&rec) {
            log::error!("{e}; deployment {} not run (retried next time)", dep.id);
            return;
        }
        // No fsync: the `running` record above is the durable point; a marker lost to a power
        // loss is rewritten by the recovery (see recover()).
        let marker_text = pyjson::dumps_indent(&dep.entry, 2);
        if let Err(e) = journal::replace_file(&marker, marker_text.as_bytes(), false) {
            log::error!("{e}; deployment {} not run (retried next time)", dep.id);
            let _ = self.journal.remove(&dep.id);
            return;
        }

        let signal = self.run_or_fail(hook.as_ref(), problem, &dep, &mut rec);
        if let Some(h) = &hook {
            log_hook_outcome(h, &dep.id, &signal);
        }
        self.finish_counted(&mut rec, &dep.entry, &signal);
    }

    /// The hook's signal, or a failure signal when there is a problem with the hook or it was
    /// stopped by a signal (then `rec` records the interruption).
    fn run_or_fail(
        &self,
        hook: Option<&Hook>,
        problem: Option<(String, i64)>,
        dep: &Deployment,
        rec: &mut Record,
    ) -> Value {
        match (hook, problem) {
            (_, Some((msg, code))) => {
                log::error!("{msg}; deployment {} signalled as failed", dep.id);
                rec.error = Some(msg.clone());
                entry::failure_signal(String::new(), msg, code)
            }
            (Some(hook), None) => {
                let timeout = self.timeout_for(dep);
                log::debug!("Running {} for {}", hook.describe(), dep.id);
                match self.run_hook(hook, dep, timeout) {
                    Some(s) => s,
                    None => {
                        // Stopped by a signal: the hook's processes were stopped; the
                        // deployment is recorded and signalled as interrupted now.
                        let msg = format!(
                        "interrupted: heat-agent was told to stop (signal) while the {} hook of deployment {} was running; \
                         its processes were stopped and it was not run again",
                        dep.group, dep.id
                    );
                        log::error!("{msg}");
                        rec.state = State::Interrupted;
                        rec.error = Some(msg.clone());
                        entry::failure_signal(String::new(), msg, STATUS_INTERRUPTED)
                    }
                }
            }
            (None, None) => {
                entry::failure_signal(String::new(), "no hook".into(), STATUS_NOT_FOUND)
            }
        }
    }

    /// [`Runner::finish`], counting a result that could not be made durable.
    fn finish_counted(&self, rec: &mut Record, entry_value: &Value, signal: &Value) {
        if !self.finish(rec, entry_value, signal) {
            self.unsaved.set(self.unsaved.get() + 1);
        }
    }

    /// The signal data written beside the marker after `rec` started: a result the state dir
    /// could not take.
    fn result_beside_marker(&self, rec: &Record) -> Option<Value> {
        let path = self.paths.notify_file(&rec.id);
        let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
        let at = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        if at < rec.started_at {
            return None;
        }
        read_marker(&path)
    }

    /// Run the hook; `None` when stopped by the caller.
    fn run_hook(&self, hook: &Hook, dep: &Deployment, timeout: Option<Duration>) -> Option<Value> {
        match hook {
            Hook::Builtin(name) => {
                let ctx = crate::hooks::Context {
                    timeout,
                    stop: self.stop.cloned(),
                    capture: CAPTURE_LIMIT,
                };
                match crate::hooks::run_builtin(name, &dep.entry, &ctx) {
                    crate::hooks::Outcome::Printed(v) => Some(v),
                    crate::hooks::Outcome::Nothing => Some(pyjson::empty_object()),
                    crate::hooks::Outcome::Cancelled => None,
                }
            }
            Hook::External(path) => {
                let mut spec = Spec::new(path).capture(CAPTURE_LIMIT);
                spec.stdin = Some(pyjson::dumps(&dep.entry).into_bytes());
                spec.timeout = timeout;
                spec.stop_grace = crate::hooks::STOP_GRACE;
                match process::run(&spec, self.stop) {
                    Err(e) => {
                        let code = if e.kind() == io::ErrorKind::NotFound {
                            STATUS_NOT_FOUND
                        } else {
                            STATUS_NOT_EXECUTABLE
                        };
                        Some(entry::failure_signal(
                            String::new(),
                            format!("cannot run hook: {e}"),
                            code,
                        ))
                    }
                    Ok(f) if f.cancelled => None,
                    Ok(f) => {
                        let tail = |b: &[u8]| {
                            String::from_utf8_lossy(&b[b.len().saturating_sub(4096)..])
                                .trim_end()
                                .to_string()
                        };
                        if !f.stderr.is_empty() {
                            log::debug!("hook stderr: {}", tail(&f.stderr));
                        }
                        if f.timed_out {
                            let mut err = decode_tail(&f.stderr, f.stderr_dropped);
                            if !err.is_empty() && !err.ends_with('\n') {
                                err.push('\n');
                            }
                            err.push_str(&format!(
                                "heat-agent: hook {} timed out after {}s; its processes were killed",
                                path.display(),
                                timeout.map(|t| t.as_secs_f64()).unwrap_or_default()
                            ));
                            Some(entry::failure_signal(
                                decode_tail(&f.stdout, f.stdout_dropped),
                                err,
                                STATUS_TIMED_OUT,
                            ))
                        } else {
                            Some(entry::signal_from_hook(
                                f.python_returncode(),
                                &f.stdout,
                                f.stdout_dropped,
                                &f.stderr,
                                f.stderr_dropped,
                            ))
                        }
                    }
                }
            }
        }
    }

    /// Result known: make it durable, journal the end, hand the signal over, then try to
    /// deliver. Durable means the kept result or the outbox record (both in the state dir). When
    /// neither can be written (a full disk) the journal stays `running`: the result is never
    /// marked finished. It is then written beside the marker (`<deployed>/<id>.notify.json`,
    /// the reference's own copy of the signal data) for the next run to signal, and this run
    /// reports the failure (`false`).
    fn finish(&self, rec: &mut Record, entry_value: &Value, signal: &Value) -> bool {
        let v = entry::verdict(entry_value, signal);
        let now = journal::now();
        let mut done = rec.clone();
        if done.state != State::Interrupted {
            done.state = if v.failed {
                State::Failed
            } else {
                State::Succeeded
            };
            // a reason the runner already gave (no hook, not executable), or its own last
            // stderr line (a timeout), says more than the status code
            let own_line = signal
                .get("deploy_stderr")
                .and_then(Value::as_str)
                .and_then(|e| e.lines().last())
                .filter(|l| l.starts_with("heat-agent: "))
                .map(str::to_string);
            if !v.failed {
                done.error = None;
            } else if done.error.is_none() {
                done.error = own_line.or_else(|| v.error.clone());
            }
        }
        done.finished_at = Some(now);
        done.duration = Some((now - done.started_at).max(0.0));
        done.exit_code = v.exit_code;
        let queued_directly = match self.journal.keep_result(&rec.id, signal) {
            Ok(()) => false,
            Err(keep_err) => match self.hand_over(&rec.id, entry_value, signal) {
                Ok(()) => true,
                Err(queue_err) => {
                    self.keep_result_beside_marker(&rec.id, signal, &keep_err, &queue_err);
                    return false;
                }
            },
        };
        *rec = done;
        if let Err(e) = self.journal.write(rec) {
            // the kept result (or the outbox record) counts as finished on the next start
            log::error!("{e}");
        }
        if !queued_directly {
            if let Err(e) = self.hand_over(&rec.id, entry_value, signal) {
                log::error!(
                    "cannot queue the signal of {}: {e}; its result is kept and queued on the next run",
                    rec.id
                );
            }
        }
        self.notifier.deliver_one(self.settings, &rec.id);
        true
    }

    /// Last resort for a result the state dir could not take: the reference's debugging copy
    /// of the signal data beside the marker, written durably. `recover` signals it.
    fn keep_result_beside_marker(
        &self,
        id: &str,
        signal: &Value,
        keep_err: &io::Error,
        queue_err: &io::Error,
    ) {
        let path = self.paths.notify_file(id);
        let text = pyjson::dumps_indent(signal, 2);
        let saved = journal::replace_file(&path, text.as_bytes(), true);
        let next = match &saved {
            Ok(()) => format!(
                "it is kept in {} and signalled by the next run",
                path.display()
            ),
            Err(e) => format!(
                "{e}; the next run signals it as interrupted (status {STATUS_INTERRUPTED}), \
                 its hook's own result is lost"
            ),
        };
        log::error!(
            "deployment {id}: its result could not be saved ({keep_err}; {queue_err}); \
             it is NOT marked finished: {next}. Free space in the state dir"
        );
    }

    /// Queue the signal; on success forget the kept result and write the reference's
    /// `<id>.notify.json`.
    fn hand_over(&self, id: &str, entry_value: &Value, signal: &Value) -> io::Result<()> {
        let marker = self.paths.marker(id);
        self.notifier.hand_over(&marker, id, entry_value, signal)?;
        if let Err(e) = self.journal.handed_over(id) {
            log::error!("{e}");
        }
        // "for debugging", as the reference: the signal data as handed over.
        let text = pyjson::dumps_indent(signal, 2);
        if let Err(e) = journal::replace_file(&self.paths.notify_file(id), text.as_bytes(), false) {
            log::warn!("{e}");
        }
        Ok(())
    }

    fn ensure_marker(&self, id: &str, entry_value: &Value) {
        let marker = self.paths.marker(id);
        if std::fs::symlink_metadata(&marker).is_err() {
            let text = pyjson::dumps_indent(entry_value, 2);
            if let Err(e) = journal::replace_file(&marker, text.as_bytes(), true) {
                log::error!("{e}");
            }
        }
    }

    /// The deployment entry for `id`: from its marker, else from the current list.
    fn entry_for(&self, id: &str, list: &[Value]) -> Option<Value> {
        read_marker(&self.paths.marker(id)).or_else(|| {
            list.iter()
                .filter_map(|raw| match entry::prepare(raw) {
                    Ok(Prepared::Run(d)) if d.id == id => Some(d.entry),
                    _ => None,
                })
                .next()
        })
    }

    /// Journal entries left `running` by a crash are interrupted (or re-run on request);
    /// finished ones whose signal was never handed over are handed over now.
    fn recover(&self, list: &[Value]) {
        for mut rec in self.journal.all() {
            match rec.state {
                State::Running => {
                    // The result was kept, so the hook had finished: a power loss reverted the
                    // record (its finished write is not directory-synced). Finish it now.
                    if let Ok(Some(signal)) = self.journal.kept_result(&rec.id) {
                        if let Some(e) = self.entry_for(&rec.id, list) {
                            log::warn!(
                                "deployment {}: finished before a crash; signalling its result",
                                rec.id
                            );
                            self.ensure_marker(&rec.id, &e);
                            self.finish_counted(&mut rec, &e, &signal);
                            continue;
                        }
                    }
                    // The state dir was full when the hook ended: its result went beside the
                    // marker instead (see keep_result_beside_marker).
                    if let Some(signal) = self.result_beside_marker(&rec) {
                        if let Some(e) = self.entry_for(&rec.id, list) {
                            log::warn!(
                                "deployment {}: its result could not be saved last time; signalling it now",
                                rec.id
                            );
                            self.ensure_marker(&rec.id, &e);
                            self.finish_counted(&mut rec, &e, &signal);
                            continue;
                        }
                    }
                    let listed = list
                        .iter()
                        .any(|raw| raw.get("id").and_then(Value::as_str) == Some(&rec.id));
                    if self.settings.deploy.rerun_interrupted && listed {
                        log::warn!(
                            "deployment {} was interrupted; running it again (rerun_interrupted)",
                            rec.id
                        );
                        let _ = journal::remove_if_exists(&self.paths.marker(&rec.id));
                        let _ = self.journal.remove(&rec.id);
                        continue;
                    }
                    let msg = format!(
                        "interrupted: heat-agent stopped (crash, reboot or kill) while the {} hook of deployment {} was running; \
                         it was not run again (set rerun_interrupted = true to re-run interrupted deployments)",
                        rec.group, rec.id
                    );
                    log::error!("{msg}");
                    rec.state = State::Interrupted;
                    rec.error = Some(msg.clone());
                    let signal = entry::failure_signal(String::new(), msg, STATUS_INTERRUPTED);
                    match self.entry_for(&rec.id, list) {
                        Some(e) => {
                            // never run it again by accident (its marker may have been lost)
                            self.ensure_marker(&rec.id, &e);
                            self.finish_counted(&mut rec, &e, &signal)
                        }
                        None => {
                            log::error!(
                                "deployment {}: entry unknown, the failure cannot be signalled",
                                rec.id
                            );
                            let now = journal::now();
                            rec.finished_at = Some(now);
                            rec.duration = Some((now - rec.started_at).max(0.0));
                            rec.exit_code = Some(STATUS_INTERRUPTED);
                            if let Err(e) = self.journal.write(&rec) {
                                log::error!("{e}");
                            }
                        }
                    }
                }
                _ => match self.journal.kept_result(&rec.id) {
                    Ok(Some(signal)) => match self.entry_for(&rec.id, list) {
                        Some(e) => {
                            log::warn!("deployment {}: signal was not queued before a crash; queueing it now", rec.id);
                            if let Err(err) = self.hand_over(&rec.id, &e, &signal) {
                                log::error!("cannot queue the signal of {}: {err}; its result is kept and queued on the next run", rec.id);
                                self.unsaved.set(self.unsaved.get() + 1);
                            }
                        }
                        None => {
                            log::error!(
                                "deployment {}: entry unknown, its kept signal is dropped",
                                rec.id
                            );
                            let _ = self.journal.handed_over(&rec.id);
                        }
                    },
                    Ok(None) => {}
                    Err(e) => log::error!("{e}"),
                },
            }
        }
    }
}

/// A `--mark-deployed-all` that stopped: the deployments file is unusable or a marker could not
/// be written (logged where it happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkFailed;

/// `--mark-deployed-all`: a marker for every listed deployment that has a hook group, without
/// running or signalling anything (heat-config-rebuild-deployed). Returns how many it marked.
pub fn mark_deployed_all(paths: &Paths) -> Result<usize, MarkFailed> {
    let list = match load_list(&paths.conf_file) {
        Ok(l) => l,
        Err(e) => {
            log::error!("{e}");
            return Err(MarkFailed);
        }
    };
    if let Err(e) = fsutil::ensure_dir(&paths.deployed, 0o700) {
        log::error!("{e}");
        return Err(MarkFailed);
    }
    let mut marked = 0;
    for (index, raw) in list.iter().enumerate() {
        let mut obj = match raw.as_object() {
            Some(o) => o.clone(),
            None => {
                log::error!("deployment #{index}: not a JSON object; skipped");
                continue;
            }
        };
        let Some(id) = obj
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| valid_id(i))
            .map(str::to_string)
        else {
            log::error!("deployment #{index}: no usable id; skipped");
            continue;
        };
        let group = obj
            .get("group")
            .and_then(Value::as_str)
            .unwrap_or("Heat::Ungrouped");
        if entry::GROUPS_WITHOUT_HOOK.contains(&group) {
            continue;
        }
        let marker = paths.marker(&id);
        if marker.exists() {
            continue;
        }
        let _ = entry::sanitise_string_inputs(&mut obj);
        let text = pyjson::dumps_indent(&Value::Object(obj), 2);
        match fsutil::atomic_write(&marker, text.as_bytes(), 0o600, Owner::default()) {
            Ok(()) => {
                log::info!("marked {id} as deployed");
                marked += 1;
            }
            Err(e) => {
                log::error!("{e}");
                return Err(MarkFailed);
            }
        }
    }
    log::info!("{marked} deployments marked as deployed");
    Ok(marked)
}

/// Why `--rerun ID` could not forget a deployment (logged where it happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgetFailure {
    /// The id cannot name a deployment (a usage error).
    BadId,
    /// Its marker or journal entry could not be removed.
    Io,
}

/// `--rerun ID`: forget one deployment so the next run executes it again.
pub fn forget(paths: &Paths, id: &str) -> Result<(), ForgetFailure> {
    if !valid_id(id) {
        log::error!("unusable deployment id {id:?}");
        return Err(ForgetFailure::BadId);
    }
    let mut result = journal::remove_if_exists(&paths.marker(id))
        .and_then(|_| journal::remove_if_exists(&paths.notify_file(id)));
    if result.is_ok() {
        let journal_dir = paths.state_dir.join("journal");
        if journal_dir.is_dir() {
            result = Journal::open(&paths.state_dir).and_then(|j| j.remove(id));
        }
    }
    match result {
        Ok(()) => {
            log::info!("deployment {id} will run again on the next deploy run");
            Ok(())
        }
        Err(e) => {
            log::error!("{e}");
            Err(ForgetFailure::Io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_lookup_prefers_files_and_detects_our_wrapper() {
        let d = tempfile::tempdir().unwrap();
        let dirs = vec![d.path().to_path_buf()];
        assert_eq!(
            find_hook(&dirs, "script"),
            Some(Hook::Builtin("script".into()))
        );
        assert_eq!(find_hook(&dirs, "nope"), None);
        assert_eq!(find_hook(&dirs, "::"), None);
        std::fs::write(
            d.path().join("script"),
            "#!/bin/sh\nexec heat-agent hook script \"$@\"\n",
        )
        .unwrap();
        assert_eq!(
            find_hook(&dirs, "script"),
            Some(Hook::Builtin("script".into()))
        );
        std::fs::write(d.path().join("script"), "#!/usr/bin/python3\nprint('{}')\n").unwrap();
        assert_eq!(
            find_hook(&dirs, "script"),
            Some(Hook::External(d.path().join("script")))
        );
        std::fs::write(d.path().join("custom"), "#!/bin/sh\n").unwrap();
        assert_eq!(
            find_hook(&dirs, "../custom"),
            Some(Hook::External(d.path().join("custom")))
        );
    }

    #[test]
    fn empty_list_file_means_no_deployments_but_garbage_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hc");
        std::fs::write(&p, "  \n").unwrap();
        assert_eq!(load_list(&p).unwrap(), Vec::<Value>::new());
        std::fs::write(&p, "[{\"id\": ").unwrap();
        assert!(load_list(&p).unwrap_err().contains("not valid JSON"));
        std::fs::write(&p, "{}").unwrap();
        assert!(load_list(&p).unwrap_err().contains("expected a JSON list"));
    }
}
