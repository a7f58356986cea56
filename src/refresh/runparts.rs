//! dib-run-parts, built in: select the executables of one
//! directory, order them like `LANG=C sort -n`, source `../environment.d` once in a real shell,
//! run each script with inherited stdio, stop at the first failure, print the timing summary.
//!
//! Deliberate differences from the bash script (listed with what is kept in
//! (docs/compatibility.md, "os-refresh-config and dib-run-parts")): no `set -x` trace of
//! environment files (it leaked secrets), paths are never word-split or globbed, no temporary
//! profile directory exists to leak, and a failing script is named on stderr.

use crate::process::{self, Finished, Spec};
use regex::bytes::Regex;
use std::cmp::Ordering;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Script names selected when `RUN_PARTS_REGEX` is unset or empty.
pub const DEFAULT_REGEX: &str = "^[0-9A-Za-z_-]+$";
/// Names of environment.d files that get sourced (dots allowed, unlike scripts).
const ENV_FILE_REGEX: &str = "^[0-9A-Za-z_.-]+$";
/// Variables the sourcing shell sets for itself; they are not taken from its environment.
const SHELL_OWN_VARS: &[&[u8]] = &[b"_", b"SHLVL", b"PWD", b"OLDPWD"];

/// The usage text of the reference, for `name` (the program's basename).
pub fn usage(name: &str) -> String {
    format!(
        "Usage: {name} [OPTION] scripts_directory\n\
         Option:\n      --list  print names of all valid files\n\n\
         Examples:\n      {name} --list /opt/stack/os-config-refresh/configure.d/\n      \
         {name} /opt/stack/os-config-refresh/configure.d/\n"
    )
}

/// Compare two names the way `LANG=C sort -n` does: by the leading number (optional `-`
/// sign, digits, optional `.fraction`; no number counts as 0), ties broken by bytes.
pub fn sort_n_cmp(a: &[u8], b: &[u8]) -> Ordering {
    compare_numeric_prefix(a, b).then_with(|| a.cmp(b))
}

/// The leading number of a line as `sort -n` reads it: (negative, integer digits without
/// leading zeros, fraction digits without trailing zeros).
fn numeric_prefix(s: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let int_start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let mut int = &s[int_start..i];
    while int.first() == Some(&b'0') {
        int = &int[1..];
    }
    let mut frac: &[u8] = &[];
    if s.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut j = start;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        frac = &s[start..j];
        while frac.last() == Some(&b'0') {
            frac = &frac[..frac.len() - 1];
        }
    }
    // -0 is 0
    let zero = int.is_empty() && frac.is_empty();
    (negative && !zero, int, frac)
}

fn compare_numeric_prefix(a: &[u8], b: &[u8]) -> Ordering {
    let (neg_a, int_a, frac_a) = numeric_prefix(a);
    let (neg_b, int_b, frac_b) = numeric_prefix(b);
    let magnitude = int_a
        .len()
        .cmp(&int_b.len())
        .then_with(|| int_a.cmp(int_b))
        .then_with(|| frac_a.cmp(frac_b));
    match (neg_a, neg_b) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

/// `<a>/<b>` by plain concatenation, the way the shell builds it (a trailing slash gives `//`).
fn join(a: &OsStr, b: &OsStr) -> PathBuf {
    let mut v = a.as_bytes().to_vec();
    v.push(b'/');
    v.extend_from_slice(b.as_bytes());
    PathBuf::from(OsString::from_vec(v))
}

/// A regular file, or a symlink that resolves to one.
fn is_file_following_links(entry: &std::fs::DirEntry) -> bool {
    match entry.file_type() {
        Ok(t) if t.is_file() => true,
        Ok(t) if t.is_symlink() => std::fs::metadata(entry.path())
            .map(|m| m.is_file())
            .unwrap_or(false),
        _ => false,
    }
}

/// The scripts of `dir` in run order: direct entries that are (links to) regular files, that we
/// may execute, and whose name matches `regex`.
pub fn select_targets(dir: &OsStr, regex: &Regex) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !regex.is_match(name.as_bytes()) || !is_file_following_links(&entry) {
            continue;
        }
        if nix::unistd::access(&entry.path(), nix::unistd::AccessFlags::X_OK).is_ok() {
            names.push(name);
        }
    }
    names.sort_by(|a, b| sort_n_cmp(a.as_bytes(), b.as_bytes()));
    Ok(names)
}

/// The files of `<dir>/../environment.d` to source, in order, as the paths the reference logs.
pub fn environment_files(dir: &OsStr) -> Vec<PathBuf> {
    let env_dir = join(dir, OsStr::new("../environment.d"));
    let Ok(entries) = std::fs::read_dir(&env_dir) else {
        return Vec::new();
    };
    let regex = Regex::new(ENV_FILE_REGEX).expect("constant regex");
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            // Dot-files (editor leftovers such as `.10-x.swp`) are skipped, unlike the reference.
            !name.as_bytes().starts_with(b".")
                && regex.is_match(name.as_bytes())
                && is_file_following_links(e)
        })
        .map(|e| join(env_dir.as_os_str(), &e.file_name()))
        .collect();
    files.sort_by(|a, b| sort_n_cmp(a.as_os_str().as_bytes(), b.as_os_str().as_bytes()));
    files
}

/// Quote bytes for a POSIX shell: `'...'` with `'` written as `'\''`.
fn shell_quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'\'');
    for &c in s {
        if c == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(c);
        }
    }
    out.push(b'\'');
}

fn first_existing(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// bash if present (environment.d fragments are bash), else /bin/sh.
fn sourcing_shell() -> (PathBuf, bool) {
    match first_existing(&["/bin/bash", "/usr/bin/bash"]) {
        Some(bash) => (bash, true),
        None => (PathBuf::from("/bin/sh"), false),
    }
}

/// Why a run stopped.
#[derive(Debug)]
pub enum Failure {
    /// The target is not a directory (exit 1, usage shown by the CLI).
    NotADirectory(OsString),
    /// `RUN_PARTS_REGEX` does not compile.
    BadRegex(String),
    /// The directory cannot be read.
    Unreadable(OsString, std::io::Error),
    /// An environment.d file failed while being sourced, or the shell could not run.
    Environment { status: i32, detail: String },
    /// A script exited non-zero or was killed by a signal it did not get from us.
    Script {
        path: PathBuf,
        finished: Box<Finished>,
    },
    /// A script could not be started.
    Spawn { path: PathBuf, error: String },
    /// The deadline passed: the running script (if any) and its children were killed.
    TimedOut {
        path: Option<PathBuf>,
        finished: Option<Box<Finished>>,
    },
    /// The stop flag was raised (SIGTERM/SIGINT): the running script and its children were killed.
    Stopped { path: Option<PathBuf> },
}

impl Failure {
    /// The exit status `dib-run-parts` ends with (a failing script's own status, like the
    /// bash script's `set -e`; 128+N for a signal).
    pub fn exit_status(&self) -> i32 {
        match self {
            Failure::NotADirectory(_) | Failure::BadRegex(_) | Failure::Unreadable(..) => 1,
            Failure::Environment { status, .. } => *status,
            Failure::Script { finished, .. } => finished.shell_status(),
            Failure::Spawn { .. } => 126,
            Failure::TimedOut { finished, .. } => finished
                .as_ref()
                .and_then(|f| f.signal)
                .map(|s| 128 + s)
                .unwrap_or(128 + nix::libc::SIGKILL),
            Failure::Stopped { .. } => 128 + nix::libc::SIGTERM,
        }
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        match self {
            Failure::NotADirectory(d) => format!(
                "Scripts directory [{}] must exist and be a directory",
                d.to_string_lossy()
            ),
            Failure::BadRegex(e) => format!("invalid RUN_PARTS_REGEX: {e}"),
            Failure::Unreadable(d, e) => {
                format!(
                    "cannot read scripts directory [{}]: {e}",
                    d.to_string_lossy()
                )
            }
            Failure::Environment { detail, .. } => detail.clone(),
            Failure::Script { path, finished } => match finished.signal {
                Some(s) => format!("{} killed by signal {s}", path.display()),
                None => format!(
                    "{} failed with exit status {}",
                    path.display(),
                    finished.shell_status()
                ),
            },
            Failure::Spawn { path, error } => format!("cannot run {}: {error}", path.display()),
            Failure::TimedOut { path: Some(p), .. } => {
                format!(
                    "timeout reached while running {}; it and its children were killed",
                    p.display()
                )
            }
            Failure::TimedOut { path: None, .. } => "timeout reached".to_string(),
            Failure::Stopped { path: Some(p) } => {
                format!(
                    "stopped while running {}; it and its children were killed",
                    p.display()
                )
            }
            Failure::Stopped { path: None } => "stopped".to_string(),
        }
    }

    /// The signal that ended the run's child when we killed it (for Python-style reporting).
    pub fn kill_signal(&self) -> Option<i32> {
        match self {
            Failure::TimedOut { finished, .. } => Some(
                finished
                    .as_ref()
                    .and_then(|f| f.signal)
                    .unwrap_or(nix::libc::SIGKILL),
            ),
            Failure::Stopped { .. } => Some(nix::libc::SIGTERM),
            _ => None,
        }
    }
}

/// SIGTERM → SIGKILL grace for the running script when the run is stopped (SIGTERM/SIGINT):
/// room for a deploy run in configure.d (55-heat-config) to stop its hook (5 s) and record and
/// queue the deployment; shorter than the daemon's own grace for the whole refresh (15 s).
pub const STOP_GRACE: Duration = Duration::from_secs(12);

/// How to run one directory.
pub struct Runner<'a> {
    /// Message prefix name (`dib-run-parts`).
    pub name: String,
    pub regex: Regex,
    /// Raised by SIGTERM/SIGINT handlers: kill the running script's tree and stop.
    pub stop: Option<&'a Arc<AtomicBool>>,
    /// Kill the running script's tree when this passes.
    pub deadline: Option<Instant>,
    /// SIGTERM → SIGKILL grace when a deadline kills a script.
    pub kill_grace: Duration,
    /// Put every script in its own process group (so double-forked children die with it).
    pub own_group: bool,
    /// Set for every script on top of our own environment (e.g. `OS_CONFIG_FILES` when the
    /// daemon runs the phases in-process).
    pub extra_env: Vec<(OsString, OsString)>,
}

impl<'a> Runner<'a> {
    /// A runner with the regex from `RUN_PARTS_REGEX` (default when unset or empty).
    pub fn from_env(name: &str) -> Result<Runner<'a>, Failure> {
        let pattern =
            crate::config::vars::run_parts_regex().unwrap_or_else(|| DEFAULT_REGEX.to_string());
        let regex =
            Regex::new(&pattern).map_err(|e| Failure::BadRegex(format!("{pattern}: {e}")))?;
        Ok(Runner {
            name: name.to_string(),
            regex,
            stop: None,
            deadline: None,
            kill_grace: Duration::from_secs(5),
            // In a terminal, keep scripts in our group so job control and ^C keep working;
            // the /proc walk still finds their descendants.
            own_group: !nix::unistd::isatty(0).unwrap_or(false),
            extra_env: Vec::new(),
        })
    }

    /// `<name> <date> ` in front of each info line; under journald the priority and no date.
    fn line_prefix(&self) -> String {
        crate::logging::run_parts_prefix(&self.name, log::Level::Info)
    }

    /// Write one `<name> <date> <message>` line to stderr (progress, at info).
    pub fn say(&self, msg: &str) {
        self.say_at(log::Level::Info, msg);
    }

    /// [`Runner::say`] of a failure (at err under journald and heat-agent's names).
    pub fn say_error(&self, msg: &str) {
        self.say_at(log::Level::Error, msg);
    }

    fn say_at(&self, level: log::Level, msg: &str) {
        let line = format!(
            "{}{}\n",
            crate::logging::run_parts_prefix(&self.name, level),
            crate::logging::log_text(msg)
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| s.load(AtomicOrdering::SeqCst))
    }

    /// Time left before the deadline; `Err` when it has passed.
    fn remaining(&self) -> Result<Option<Duration>, ()> {
        match self.deadline {
            None => Ok(None),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    Err(())
                } else {
                    Ok(Some(d - now))
                }
            }
        }
    }

    /// The names `--list` prints / `run` runs.
    pub fn targets(&self, dir: &OsStr) -> Result<Vec<OsString>, Failure> {
        if !Path::new(dir).is_dir() {
            return Err(Failure::NotADirectory(dir.to_os_string()));
        }
        select_targets(dir, &self.regex).map_err(|e| Failure::Unreadable(dir.to_os_string(), e))
    }

    /// Run every script of `dir`; on success print the profiling block.
    pub fn run(&self, dir: &OsStr) -> Result<(), Failure> {
        let targets = self.targets(dir)?;
        let env = self.load_environment(dir)?;
        let mut timings: Vec<(OsString, Duration)> = Vec::with_capacity(targets.len());
        for name in &targets {
            let path = join(dir, name);
            if self.stopped() {
                return Err(Failure::Stopped { path: None });
            }
            let Ok(timeout) = self.remaining() else {
                return Err(Failure::TimedOut {
                    path: None,
                    finished: None,
                });
            };
            self.say(&format!("Running {}", path.display()));
            let started = Instant::now();
            let finished = self.run_script(&path, env.as_deref(), timeout)?;
            if finished.cancelled {
                return Err(Failure::Stopped { path: Some(path) });
            }
            if finished.timed_out {
                return Err(Failure::TimedOut {
                    path: Some(path),
                    finished: Some(Box::new(finished)),
                });
            }
            if !finished.success() {
                let failure = Failure::Script {
                    path,
                    finished: Box::new(finished),
                };
                self.say_error(&failure.describe());
                return Err(failure);
            }
            timings.push((name.clone(), started.elapsed()));
            self.say(&format!("{} completed", name.to_string_lossy()));
        }
        self.print_profile(dir, timings);
        Ok(())
    }

    fn script_spec(&self, program: PathBuf, env: Option<&[(OsString, OsString)]>) -> Spec {
        let mut spec = Spec::new(program);
        spec.own_group = self.own_group;
        spec.kill_grace = self.kill_grace;
        spec.stop_grace = STOP_GRACE;
        match env {
            Some(env) => {
                spec.env_clear = true;
                spec.env = env.to_vec();
            }
            None => spec.env = self.extra_env.clone(),
        }
        spec
    }

    fn run_script(
        &self,
        path: &Path,
        env: Option<&[(OsString, OsString)]>,
        timeout: Option<Duration>,
    ) -> Result<Finished, Failure> {
        let _ = crate::output::stdout().flush();
        let mut spec = self.script_spec(path.to_path_buf(), env);
        spec.timeout = timeout;
        match process::run(&spec, self.stop) {
            Ok(f) => Ok(f),
            Err(first) => {
                // bash runs a script without `#!` (ENOEXEC) itself; do the same.
                if has_no_interpreter_line(path) {
                    let (shell, _) = sourcing_shell();
                    let mut spec = self.script_spec(shell, env);
                    spec.args.push(path.as_os_str().to_os_string());
                    spec.timeout = timeout;
                    if let Ok(f) = process::run(&spec, self.stop) {
                        return Ok(f);
                    }
                }
                let failure = Failure::Spawn {
                    path: path.to_path_buf(),
                    error: first.to_string(),
                };
                self.say_error(&failure.describe());
                Err(failure)
            }
        }
    }

    /// The shell script that sources `files` in order (each announced on stderr, as
    /// dib-run-parts does), prints `marker`, then execs `env -0` so the resulting environment
    /// follows the files' own output on stdout.
    fn sourcing_script(
        &self,
        files: &[PathBuf],
        is_bash: bool,
        env_bin: &Path,
        marker: &str,
    ) -> Vec<u8> {
        let prefix = self.line_prefix();
        let mut script: Vec<u8> = Vec::new();
        script.extend_from_slice(if is_bash {
            b"set -eu -o pipefail\n"
        } else {
            b"set -eu\n"
        });
        for f in files {
            let mut msg = prefix.as_bytes().to_vec();
            msg.extend_from_slice(b"Sourcing environment file ");
            msg.extend_from_slice(f.as_os_str().as_bytes());
            script.extend_from_slice(b"printf '%s\\n' ");
            shell_quote(&mut script, &msg);
            script.extend_from_slice(b" >&2\n");
            script.extend_from_slice(if is_bash { b"source " } else { b". " });
            shell_quote(&mut script, f.as_os_str().as_bytes());
            script.push(b'\n');
        }
        // Output of the files stays on stdout before the marker; the environment follows it.
        script.extend_from_slice(b"printf '%s' ");
        shell_quote(&mut script, marker.as_bytes());
        script.extend_from_slice(b"\nexec ");
        shell_quote(&mut script, env_bin.as_os_str().as_bytes());
        script.extend_from_slice(b" -0\n");
        script
    }

    /// Source `<dir>/../environment.d/*` once in a real shell and return the resulting
    /// environment for the scripts (`None` when there is nothing to source).
    fn load_environment(&self, dir: &OsStr) -> Result<Option<Vec<(OsString, OsString)>>, Failure> {
        let files = environment_files(dir);
        if files.is_empty() {
            return Ok(None);
        }
        let (shell, is_bash) = sourcing_shell();
        let env_bin = first_existing(&["/usr/bin/env", "/bin/env"]).unwrap_or_else(|| "env".into());
        let marker = format!(
            "\n--heat-agent-environment-{:016x}{:016x}--\n",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let script = self.sourcing_script(&files, is_bash, &env_bin, &marker);

        let mut spec = Spec::new(shell);
        spec.args = vec![
            "-c".into(),
            OsString::from_vec(script),
            self.name.clone().into(),
        ];
        spec.own_group = self.own_group;
        spec.kill_grace = self.kill_grace;
        spec.stdout = process::Output::Capture(process::DEFAULT_CAPTURE);
        spec.env = self.extra_env.clone();
        spec.timeout = self.remaining().map_err(|_| Failure::TimedOut {
            path: None,
            finished: None,
        })?;
        let finished = process::run(&spec, self.stop).map_err(|e| Failure::Environment {
            status: 1,
            detail: format!("cannot source environment files: {e}"),
        })?;
        let (shown, env_bytes) = match find(&finished.stdout, marker.as_bytes()) {
            Some(at) => (
                &finished.stdout[..at],
                Some(&finished.stdout[at + marker.len()..]),
            ),
            None => (&finished.stdout[..], None),
        };
        {
            let mut out = crate::output::stdout();
            let _ = out.write_all(shown);
            let _ = out.flush();
        }
        if finished.cancelled {
            return Err(Failure::Stopped { path: None });
        }
        if finished.timed_out {
            return Err(Failure::TimedOut {
                path: None,
                finished: Some(Box::new(finished)),
            });
        }
        let env_bytes = match env_bytes {
            Some(b) if finished.success() => b,
            _ => {
                let failure = Failure::Environment {
                    status: match finished.shell_status() {
                        0 => 1,
                        s => s,
                    },
                    detail: if finished.success() {
                        "sourcing environment files failed: one of them called exit".to_string()
                    } else {
                        format!(
                            "sourcing environment files failed ({})",
                            finished.describe()
                        )
                    },
                };
                self.say_error(&failure.describe());
                return Err(failure);
            }
        };
        let mut ours: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        ours.extend(self.extra_env.iter().cloned());
        Ok(Some(merge_environment(ours, env_bytes)))
    }

    fn print_profile(&self, dir: &OsStr, mut timings: Vec<(OsString, Duration)>) {
        timings.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let prefix = self.line_prefix();
        let mut lines = vec![
            "----------------------- PROFILING -----------------------".to_string(),
            String::new(),
            format!("Target: {}", shell_basename(dir).to_string_lossy()),
            String::new(),
            format!("{:<40} {:>9}", "Script", "Seconds"),
            format!(
                "{:<40} {:>9}",
                "---------------------------------------", "----------"
            ),
            String::new(),
        ];
        for (name, took) in &timings {
            lines.push(format!(
                "{:<40} {:>10.3}",
                crate::logging::escape_controls(&name.to_string_lossy()),
                took.as_secs_f64()
            ));
        }
        lines.push(String::new());
        lines.push("--------------------- END PROFILING ---------------------".to_string());
        let mut text = String::new();
        for l in lines {
            text.push_str(&prefix);
            text.push_str(&l);
            text.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// Whether a file lacks both `#!` and the ELF magic (so exec fails with ENOEXEC).
fn has_no_interpreter_line(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    !(head[..n].starts_with(b"#!") || head[..n].starts_with(b"\x7fELF"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `basename` of a directory argument: trailing slashes ignored, `/` stays `/`.
pub fn shell_basename(dir: &OsStr) -> OsString {
    let b = dir.as_bytes();
    let trimmed = {
        let mut end = b.len();
        while end > 1 && b[end - 1] == b'/' {
            end -= 1;
        }
        &b[..end]
    };
    if trimmed == b"/" {
        return OsString::from("/");
    }
    let base = match trimmed.iter().rposition(|&c| c == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    };
    OsString::from_vec(base.to_vec())
}

/// The scripts' environment: ours, with what the sourcing shell exported (`env -0` output) set
/// and what it unset removed. Variables the shell manages itself keep our values.
pub fn merge_environment(
    ours: Vec<(OsString, OsString)>,
    env0: &[u8],
) -> Vec<(OsString, OsString)> {
    let own = |k: &[u8]| SHELL_OWN_VARS.contains(&k);
    let mut out: Vec<(OsString, OsString)> = ours
        .into_iter()
        .filter(|(k, _)| own(k.as_bytes()))
        .collect();
    for item in env0.split(|&c| c == 0) {
        let Some(eq) = item.iter().position(|&c| c == b'=') else {
            continue;
        };
        let (k, v) = (&item[..eq], &item[eq + 1..]);
        if k.is_empty() || own(k) {
            continue;
        }
        out.push((
            OsString::from_vec(k.to_vec()),
            OsString::from_vec(v.to_vec()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| sort_n_cmp(a.as_bytes(), b.as_bytes()));
        v
    }

    #[test]
    fn sort_n_reference_vector() {
        // the ordering vector of docs/compatibility.md, verified with the reference.
        let expected = [
            "-5y", "_x", "a-z", "9-a", "010-c", "10-a", "10-b", "30-link",
        ];
        let shuffled = [
            "10-b", "a-z", "30-link", "9-a", "-5y", "010-c", "_x", "10-a",
        ];
        assert_eq!(sorted(&shuffled), expected);
    }

    #[test]
    fn sort_n_numbers_signs_and_fractions() {
        assert_eq!(sorted(&["2", "10", "1"]), ["1", "2", "10"]);
        assert_eq!(sorted(&["-10", "-2", "0"]), ["-10", "-2", "0"]);
        // -0 equals 0, so bytes decide: '-' < '0'
        assert_eq!(sorted(&["0", "-0"]), ["-0", "0"]);
        assert_eq!(sorted(&["1.5", "1.25", "1"]), ["1", "1.25", "1.5"]);
        assert_eq!(sorted(&["x", "-"]), ["-", "x"]);
        assert_eq!(
            sorted(&["100000000000000000000000", "99999999999999999999999"]),
            ["99999999999999999999999", "100000000000000000000000"]
        );
    }

    #[test]
    fn basename_like_coreutils() {
        assert_eq!(
            shell_basename(OsStr::new("/a/b/configure.d/")),
            "configure.d"
        );
        assert_eq!(shell_basename(OsStr::new("configure.d")), "configure.d");
        assert_eq!(shell_basename(OsStr::new("/")), "/");
        assert_eq!(shell_basename(OsStr::new("///")), "/");
        assert_eq!(shell_basename(OsStr::new(".")), ".");
    }

    #[test]
    fn usage_text_matches_reference() {
        let u = usage("dib-run-parts");
        assert!(u.starts_with("Usage: dib-run-parts [OPTION] scripts_directory\nOption:\n      --list  print names of all valid files\n\nExamples:\n"));
        assert!(u.ends_with("      dib-run-parts /opt/stack/os-config-refresh/configure.d/\n"));
    }

    #[test]
    fn shell_quoting() {
        let mut v = Vec::new();
        shell_quote(&mut v, b"it's a /path with spaces");
        assert_eq!(v, b"'it'\\''s a /path with spaces'");
    }

    #[test]
    fn merge_environment_sets_unsets_and_keeps_shell_vars() {
        let ours = vec![
            ("PATH".into(), "/bin".into()),
            ("GONE".into(), "x".into()),
            ("SHLVL".into(), "1".into()),
        ];
        let env0 = b"PATH=/bin\0NEW=a=b\0SHLVL=2\0_=/usr/bin/env\0";
        let mut merged = merge_environment(ours, env0);
        merged.sort();
        let expected: Vec<(OsString, OsString)> = vec![
            ("NEW".into(), "a=b".into()),
            ("PATH".into(), "/bin".into()),
            ("SHLVL".into(), "1".into()),
        ];
        assert_eq!(merged, expected);
    }

    #[test]
    fn selection_filters_and_orders() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let exe = |n: &str| {
            std::fs::write(d.join(n), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(d.join(n), std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        for n in [
            "10-b", "-5y", "a-z", "9-a", "010-c", "_x", "10-a", "2.sh", ".hidden",
        ] {
            exe(n);
        }
        std::fs::write(d.join("20-noexec"), "x").unwrap();
        std::fs::create_dir(d.join("40-dir")).unwrap();
        std::os::unix::fs::symlink(d.join("10-a"), d.join("30-link")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("31-broken")).unwrap();
        std::os::unix::fs::symlink(d.join("40-dir"), d.join("32-dirlink")).unwrap();
        let names = select_targets(d.as_os_str(), &Regex::new(DEFAULT_REGEX).unwrap()).unwrap();
        let names: Vec<String> = names
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["-5y", "_x", "a-z", "9-a", "010-c", "10-a", "10-b", "30-link"]
        );
    }

    #[test]
    fn environment_files_selection() {
        let tmp = tempfile::tempdir().unwrap();
        let env_dir = tmp.path().join("environment.d");
        std::fs::create_dir(&env_dir).unwrap();
        std::fs::create_dir(tmp.path().join("configure.d")).unwrap();
        for n in ["20-b.bash", "10-a", ".dot", "bad name"] {
            std::fs::write(env_dir.join(n), "").unwrap();
        }
        std::fs::create_dir(env_dir.join("30-dir")).unwrap();
        let dir = tmp.path().join("configure.d");
        let files = environment_files(dir.as_os_str());
        let base = format!("{}/../environment.d/", dir.display());
        let expected: Vec<PathBuf> = ["10-a", "20-b.bash"]
            .iter()
            .map(|n| PathBuf::from(format!("{base}{n}")))
            .collect();
        assert_eq!(files, expected);
    }
}
