//! os-refresh-config, run as the real binary under its legacy name against real `/bin/sh`
//! scripts in temp base directories. Ports os-refresh-config's tests/functional/test_cmd.py and
//! tests/unit/test_main.py, plus phase order, environment.d, error.d, the lock, --timeout and
//! SIGTERM.

mod common;

use nix::fcntl::{Flock, FlockArg};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Tree {
    tmp: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            tmp: tempfile::tempdir().unwrap(),
        }
    }
    fn base(&self) -> PathBuf {
        self.tmp.path().join("base")
    }
    fn lockfile(&self) -> PathBuf {
        self.tmp.path().join("lock")
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
    /// An executable file `<base>/<dir>/<name>`.
    fn script(&self, dir: &str, name: &str, body: &str) -> PathBuf {
        let d = self.base().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
    /// The reference's functional-test script: echo starting, sleep, echo done, exit code.
    fn phase_script(&self, phase: &str, name: &str, sleep: u32, code: i32) {
        self.script(
            &format!("{phase}.d"),
            name,
            &format!(
                "#!/bin/sh\necho \"{name} starting\"\nsleep {sleep}\necho \"{name} done\"\nexit {code}\n"
            ),
        );
    }
    fn env_file(&self, name: &str, body: &str) {
        let d = self.base().join("environment.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), body).unwrap();
    }
    /// `os-refresh-config <args> --lockfile <tmp>/lock` with only PATH and the base dir set,
    /// like the reference's functional tests.
    fn command(&self, args: &[&str]) -> Command {
        let exe = common::legacy(self.tmp.path(), "os-refresh-config");
        let mut c = Command::new(exe);
        c.args(args)
            .arg("--lockfile")
            .arg(self.lockfile())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("OS_REFRESH_CONFIG_BASE_DIR", self.base());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether a process is gone (a zombie counts as gone: it runs nothing any more).
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Wait (bounded) until the process is gone; true if it went.
fn wait_gone(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Wait (bounded) for a pid file written by a script.
fn read_pid(path: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s.trim().parse().unwrap();
            }
        }
        assert!(Instant::now() < until, "{} never written", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn test_cmd() {
    let t = Tree::new();
    // the reference's base is a fresh, empty mkdtemp (a missing one is warned about)
    std::fs::create_dir_all(t.base()).unwrap();
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
}

/// The reference also sleeps 1 s in three scripts and asserts the run took >= 3 s; we assert the
/// serial order instead (no timed assertions).
#[test]
fn test_cmd_with_scripts() {
    let t = Tree::new();
    for (phase, tag) in [
        ("pre-configure", "pre"),
        ("configure", "conf"),
        ("post-configure", "post"),
    ] {
        t.phase_script(phase, &format!("10-{tag}-first"), 0, 0);
        t.phase_script(phase, &format!("20-{tag}-second"), 0, 0);
    }
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut expected = String::new();
    for tag in ["pre", "conf", "post"] {
        for n in ["10-{}-first", "20-{}-second"] {
            let n = n.replace("{}", tag);
            expected.push_str(&format!("{n} starting\n{n} done\n"));
        }
    }
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn test_cmd_with_failure() {
    let t = Tree::new();
    t.phase_script("pre-configure", "10-pre-first", 0, 0);
    t.phase_script("pre-configure", "20-pre-second", 0, 99);
    t.phase_script("configure", "10-conf-first", 0, 0);
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "10-pre-first starting\n10-pre-first done\n20-pre-second starting\n20-pre-second done\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "[ERROR] during pre-configure phase. [Command '['dib-run-parts', '{}']' returned non-zero exit status 99.]\n\n",
            t.base().join("pre-configure.d").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("20-pre-second failed with exit status 99"),
        "{err}"
    );
    assert!(err.contains("[ERROR] Aborting..."), "{err}");
}

/// The reference uses `--timeout 2` with 5 s sleeps and asserts >= 2 s elapsed; here the sleeps
/// are 30 s, so a timeout that failed to kill would show as the wrong stdout.
#[test]
fn test_cmd_with_timeout() {
    let t = Tree::new();
    t.phase_script("pre-configure", "10-pre-first", 30, 0);
    t.phase_script("pre-configure", "20-pre-second", 30, 0);
    let out = t.run(&["--timeout", "1", "--log-level", "DEBUG"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "10-pre-first starting\n");
    let err = text(&out.stderr);
    assert!(err.contains("Timeout reached: 1s."), "{err}");
    assert!(err.contains("died with <Signals.SIGTERM: 15>."), "{err}");
}

#[test]
fn test_debug() {
    let t = Tree::new();
    let out = t.run(&["--log-level", "DEBUG"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(!err.is_empty());
    assert!(
        err.contains("(os-refresh-config) [DEBUG] Checking "),
        "{err}"
    );
    assert!(err.contains("[DEBUG] No dir for phase migration"), "{err}");
}

#[test]
fn test_print_phases() {
    let t = Tree::new();
    let out = t.run(&["--print-phases"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "pre-configure\tconfigure\tpost-configure\tmigration\n"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn test_print_base() {
    let t = Tree::new();
    let out = t.run(&["--print-base"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), format!("{}\n", t.base().display()));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn print_base_uses_the_variable_even_when_empty() {
    let t = Tree::new();
    let out = t
        .command(&["--print-base"])
        .env("OS_REFRESH_CONFIG_BASE_DIR", "")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "\n");
}

/// Port of tests/unit/test_main.py `test_main`: an empty base succeeds and leaves the lock file
/// in place with 0 bytes.
#[test]
fn test_main() {
    let t = Tree::new();
    std::fs::create_dir_all(t.base()).unwrap();
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    let meta = std::fs::metadata(t.lockfile()).expect("lock file exists");
    assert_eq!(meta.len(), 0);
}

#[test]
fn phases_run_in_order_including_migration() {
    let t = Tree::new();
    // created in reverse, so directory order cannot give the answer
    for phase in ["migration", "post-configure", "configure", "pre-configure"] {
        t.script(
            &format!("{phase}.d"),
            "10-x",
            &format!("#!/bin/sh\necho {phase}\n"),
        );
    }
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "pre-configure\nconfigure\npost-configure\nmigration\n"
    );
    let err = text(&out.stderr);
    assert!(err.contains("[INFO] Starting phase migration"), "{err}");
    assert!(err.contains("[INFO] Completed phase migration"), "{err}");
    assert!(err.contains("----------------------- PROFILING -----------------------"));
    assert_eq!(std::fs::metadata(t.lockfile()).unwrap().len(), 0);
}

#[test]
fn environment_d_exports_reach_every_script_without_tracing_values() {
    let t = Tree::new();
    t.env_file(
        "10-creds.bash",
        "export CM1=\"Some thing\"\nexport DB_PASSWORD=hunter2-secret\nunset DROP_ME\nLOCAL_ONLY=x\n",
    );
    t.env_file("20-more", "export CM2=\"${CM1} more\"\n");
    let show = "#!/bin/sh\necho \"$(basename $0) [$CM1] [$CM2] [$DB_PASSWORD] [${DROP_ME-unset}] [${LOCAL_ONLY-unset}] [$OS_CONFIG_FILES]\"\n";
    t.script("pre-configure.d", "10-a", show);
    t.script("configure.d", "10-b", show);
    let out = t
        .command(&[])
        .env("DROP_ME", "present")
        .env("OS_CONFIG_FILES", "/a.json:/b.json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "10-a [Some thing] [Some thing more] [hunter2-secret] [unset] [unset] [/a.json:/b.json]\n\
         10-b [Some thing] [Some thing more] [hunter2-secret] [unset] [unset] [/a.json:/b.json]\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("Sourcing environment file ")
            && err.contains("/../environment.d/10-creds.bash"),
        "{err}"
    );
    assert!(!err.contains("hunter2-secret"), "secret traced: {err}");
}

#[test]
fn environment_file_error_fails_the_phase() {
    let t = Tree::new();
    t.env_file("10-broken", "export A=1\nfalse\nexport B=2\n");
    t.script("configure.d", "10-x", "#!/bin/sh\necho should-not-run\n");
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("during configure phase."));
}

#[test]
fn failure_runs_error_d_and_skips_later_phases() {
    let t = Tree::new();
    t.script("pre-configure.d", "10-ok", "#!/bin/sh\necho pre\n");
    t.script(
        "configure.d",
        "10-fail",
        "#!/bin/sh\necho failing\nexit 3\n",
    );
    t.script("configure.d", "20-after", "#!/bin/sh\necho after-failure\n");
    t.script("post-configure.d", "10-post", "#!/bin/sh\necho post\n");
    t.script("migration.d", "10-mig", "#!/bin/sh\necho migration\n");
    t.script(
        "error.d",
        "10-handler",
        "#!/bin/sh\necho error-handler\nexit 5\n",
    );
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "pre\nfailing\nerror-handler\n");
    let err = text(&out.stderr);
    assert!(err.contains("returned non-zero exit status 3.]"), "{err}");
    assert!(err.contains("[INFO] Calling error handlers."), "{err}");
    let handlers = err.find("Calling error handlers.").unwrap();
    let aborting = err.find("[ERROR] Aborting...").unwrap();
    assert!(handlers < aborting, "{err}");
    assert_eq!(std::fs::metadata(t.lockfile()).unwrap().len(), 0);
}

#[test]
fn phase_path_that_is_a_file_fails() {
    let t = Tree::new();
    std::fs::create_dir_all(t.base()).unwrap();
    std::fs::write(t.base().join("configure.d"), "not a dir").unwrap();
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("must exist and be a directory"), "{err}");
    assert!(err.contains("returned non-zero exit status 1.]"), "{err}");
}

#[test]
fn lock_contention_exits_11_with_the_reference_message() {
    let t = Tree::new();
    t.script("configure.d", "10-x", "#!/bin/sh\necho ran\n");
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(t.lockfile())
        .unwrap();
    let held = Flock::lock(file, FlockArg::LockExclusiveNonblock).expect("test takes the lock");
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(11));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "[ERROR] Could not lock {}. [Errno 11] Resource temporarily unavailable",
            t.lockfile().display()
        )),
        "{err}"
    );
    drop(held);
    // once released, a run gets through
    let out = t.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "ran\n");
}

#[test]
fn timeout_kills_the_whole_tree_including_a_term_ignoring_child() {
    let t = Tree::new();
    let child_pid = t.path("child.pid");
    let script_pid = t.path("script.pid");
    t.script(
        "pre-configure.d",
        "10-stubborn",
        &format!(
            "#!/bin/sh\necho $$ > '{sp}'\nsh -c 'trap \"\" TERM; echo $$ > \"{cp}\"; while :; do sleep 1; done' &\nwait\n",
            sp = script_pid.display(),
            cp = child_pid.display()
        ),
    );
    t.script("configure.d", "10-never", "#!/bin/sh\necho never\n");
    let out = t.run(&["--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    let script = read_pid(&script_pid);
    let child = read_pid(&child_pid);
    assert!(wait_gone(script), "script {script} survived");
    assert!(wait_gone(child), "TERM-ignoring child {child} survived");
}

#[test]
fn sigterm_stops_the_running_script_and_its_children() {
    let t = Tree::new();
    let child_pid = t.path("child.pid");
    let script_pid = t.path("script.pid");
    t.script(
        "configure.d",
        "10-long",
        &format!(
            "#!/bin/sh\nsleep 120 &\necho $! > '{cp}'\necho $$ > '{sp}'\nwait\n",
            sp = script_pid.display(),
            cp = child_pid.display()
        ),
    );
    t.script("configure.d", "20-next", "#!/bin/sh\necho next\n");
    t.script("error.d", "10-handler", "#!/bin/sh\necho handler\n");
    let child = t
        .command(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = read_pid(&script_pid);
    let sleeper = read_pid(&child_pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "nothing after the signal may run");
    assert!(wait_gone(script), "script {script} left behind");
    assert!(wait_gone(sleeper), "grandchild {sleeper} left behind");
    assert_eq!(std::fs::metadata(t.lockfile()).unwrap().len(), 0);
}

#[test]
fn scripts_get_only_stdio_fds_and_inherit_the_cwd() {
    let t = Tree::new();
    t.script(
        "configure.d",
        "10-fds",
        "#!/bin/sh\nif [ -e /proc/$$/fd/7 ]; then echo fd7-open; else echo fd7-closed; fi\npwd\n",
    );
    let exe = common::legacy(t.tmp.path(), "os-refresh-config");
    let cwd = t.path("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg("exec 7</dev/null; exec \"$0\" --lockfile \"$1\"")
        .arg(&exe)
        .arg(t.lockfile())
        .env("OS_REFRESH_CONFIG_BASE_DIR", t.base())
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("fd7-closed\n{}\n", cwd.display())
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let t = Tree::new();
    let out = t.run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let out = t.run(&["--log-level", "LOUD"]);
    assert_eq!(out.status.code(), Some(2));
    let out = t.run(&["--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    // argparse-style unique prefixes work
    let out = t.run(&["--print-p"]);
    assert_eq!(
        text(&out.stdout),
        "pre-configure\tconfigure\tpost-configure\tmigration\n"
    );
}

#[test]
fn native_subcommand_runs_the_same_code() {
    let t = Tree::new();
    t.script("configure.d", "10-x", "#!/bin/sh\necho native\n");
    let out = Command::new(common::bin())
        .args(["refresh", "--lockfile"])
        .arg(t.lockfile())
        .env("OS_REFRESH_CONFIG_BASE_DIR", t.base())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "native\n");
}

#[test]
fn unopenable_lock_file_is_a_clean_error() {
    let t = Tree::new();
    let exe = common::legacy(t.tmp.path(), "os-refresh-config");
    let out = Command::new(exe)
        .args(["--lockfile", "/nonexistent-dir/x/lock"])
        .env("OS_REFRESH_CONFIG_BASE_DIR", t.base())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("[ERROR] Could not open lock file /nonexistent-dir/x/lock: "),
        "{err}"
    );
    assert!(
        !err.contains("Traceback") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn error_d_gets_its_own_time_budget() {
    let t = Tree::new();
    let handler_pid = t.path("handler.pid");
    t.script("configure.d", "10-fail", "#!/bin/sh\nexit 2\n");
    t.script(
        "error.d",
        "10-slow-handler",
        &format!(
            "#!/bin/sh\necho handler-started\necho $$ > '{}'\nsleep 120\necho handler-finished\n",
            handler_pid.display()
        ),
    );
    let out = t.run(&["--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "handler-started\n");
    let handler = read_pid(&handler_pid);
    assert!(wait_gone(handler), "error.d handler {handler} survived");
}

/// Run a failing configure phase with stderr going to a file and JOURNAL_STREAM naming
/// `stream` (`None`: that file's own dev:inode, as systemd sets it for the journal).
fn refresh_stderr_with_journal_stream(stream: Option<&str>) -> String {
    use std::os::unix::fs::MetadataExt;
    let t = Tree::new();
    t.phase_script("configure", "10-fails", 0, 3);
    let path = t.path("stderr");
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let value = match stream {
        Some(v) => v.to_string(),
        None => format!("{}:{}", meta.dev(), meta.ino()),
    };
    let out = t
        .command(&[])
        .env("JOURNAL_STREAM", value)
        .stderr(file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn under_journald_lines_carry_a_priority_and_no_timestamp() {
    let err = refresh_stderr_with_journal_stream(None);
    assert!(
        err.contains("<3>(os-refresh-config) [ERROR] Aborting..."),
        "{err}"
    );
    assert!(
        err.contains("<6>(os-refresh-config) [INFO] Starting phase configure"),
        "{err}"
    );
    assert!(err.contains("\n<6>dib-run-parts Running "), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("<3>dib-run-parts ") && l.ends_with("failed with exit status 3")),
        "{err}"
    );
    for line in err.lines() {
        // journald stamps each line: none may carry its own date
        assert!(!line.starts_with("[20"), "timestamp in {line:?}");
        assert!(!line.contains(" UTC 20"), "date in {line:?}");
    }
}

#[test]
fn an_inherited_journal_stream_that_is_not_stderr_keeps_timestamps() {
    // a hook's child inherits JOURNAL_STREAM while its stderr is a pipe or a file
    let err = refresh_stderr_with_journal_stream(Some("1:1"));
    assert!(!err.contains("<3>"), "{err}");
    assert!(
        err.contains("] (os-refresh-config) [ERROR] Aborting..."),
        "{err}"
    );
    assert!(err.lines().any(|l| l.starts_with("[20")), "{err}");
}

/// A missing base directory is warned about (one line naming it); exit 0 as the reference.
#[test]
fn missing_base_dir_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("no-base");
    let out = std::process::Command::new(common::bin())
        .args(["refresh", "--lockfile"])
        .arg(tmp.path().join("lock"))
        .env("OS_REFRESH_CONFIG_BASE_DIR", &base)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&*base.to_string_lossy()))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
}
