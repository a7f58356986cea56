//! dib-run-parts, run as the real binary under its legacy name. Ports dib-utils'
//! tools/tests/tc01..tc03 and the ordering vector of
//! (docs/compatibility.md, "os-refresh-config and dib-run-parts"), plus selection, failures,
//! environment.d, paths with spaces and temp-dir hygiene.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn exe(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `dib-run-parts <args>` with a private, initially empty TMPDIR.
fn drp(tmp: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let tmpdir = tmp.join("tmpdir");
    std::fs::create_dir_all(&tmpdir).unwrap();
    Command::new(common::legacy(tmp, "dib-run-parts"))
        .args(args)
        .env("TMPDIR", &tmpdir)
        .env_remove("RUN_PARTS_REGEX")
        .output()
        .unwrap()
}

fn os(s: &Path) -> &std::ffi::OsStr {
    s.as_os_str()
}

/// What follows `dib-run-parts <date> ` in a line, where `<date>` is `date` in the C locale:
/// `Fri Dec  4 17:42:09 CET 2026`. The day of the month is space-padded, so the date cannot be
/// split on single spaces; the zone abbreviation has no fixed width.
fn body_after_date_prefix(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("dib-run-parts ")?;
    // "Fri Dec  4 17:42:09 " is 20 bytes wide whatever the day
    let (fixed, rest) = (rest.get(..20)?, rest.get(20..)?);
    let b = fixed.as_bytes();
    let day = fixed[8..10].trim_start();
    let well_formed = b[3] == b' '
        && b[7] == b' '
        && !day.is_empty()
        && day.bytes().all(|c| c.is_ascii_digit())
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b' ';
    if !well_formed {
        return None;
    }
    let (zone, rest) = rest.split_once(' ')?;
    let (year, body) = rest.split_once(' ').unwrap_or((rest, ""));
    (!zone.is_empty() && year.len() == 4 && year.bytes().all(|c| c.is_ascii_digit()))
        .then_some(body)
}

#[test]
fn date_prefix_is_stripped_on_any_day_and_zone() {
    for (line, body) in [
        (
            "dib-run-parts Fri Dec  4 17:42:09 UTC 2026 Target: x",
            "Target: x",
        ),
        ("dib-run-parts Mon Nov 23 03:46:57 CET 2026 ", ""),
        ("dib-run-parts Tue Jan  1 00:00:00 +0530 2030 a  b", "a  b"),
        ("dib-run-parts Sun Feb 29 23:59:59 America/X 2032", ""),
    ] {
        assert_eq!(body_after_date_prefix(line), Some(body), "{line}");
    }
    assert_eq!(
        body_after_date_prefix("dib-run-parts Fri Dec 4 1:2:3 UTC 2026 x"),
        None
    );
}

/// Build the ordering-vector directory (scripts echo their own name).
fn ordering_tree(dir: &Path) {
    for n in ["10-b", "a-z", "9-a", "-5y", "010-c", "_x", "10-a", "2.sh"] {
        exe(&dir.join(n), "#!/bin/sh\necho \"$(basename \"$0\")\"\n");
    }
    std::fs::write(dir.join("20-noexec"), "#!/bin/sh\necho noexec\n").unwrap();
    std::fs::create_dir(dir.join("40-dir")).unwrap();
    exe(&dir.join(".hidden"), "#!/bin/sh\necho hidden\n");
    std::os::unix::fs::symlink(dir.join("10-a"), dir.join("30-link")).unwrap();
}

#[test]
fn tc01_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    std::fs::create_dir(&dir).unwrap();
    let out = drp(tmp.path(), &["--list".as_ref(), os(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn tc02_list_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scripts");
    exe(
        &dir.join("call_me_2"),
        "#!/bin/bash\necho \"call_me_2 called\"\n",
    );
    exe(
        &dir.join("call_me_1"),
        "#!/bin/bash\necho \"call_me_1 called\"\n",
    );
    let out = drp(tmp.path(), &["--list".as_ref(), os(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("{d}/call_me_1\n{d}/call_me_2\n", d = dir.display())
    );
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "call_me_1 called\ncall_me_2 called\n");
}

#[test]
fn tc03_environment_d_is_sourced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scripts");
    exe(
        &dir.join("call_me_1"),
        "#!/bin/bash\necho \"call_me_1 called [${CM1}]\"\n",
    );
    exe(
        &dir.join("call_me_2"),
        "#!/bin/bash\necho \"call_me_2 called [${CM2}]\"\n",
    );
    let env = tmp.path().join("environment.d");
    std::fs::create_dir(&env).unwrap();
    // not executable, like the reference fixture
    std::fs::write(
        env.join("set_var.bash"),
        "export CM1=\"Some thing\"\nexport CM2=\"Other thing\"\n",
    )
    .unwrap();
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "call_me_1 called [Some thing]\ncall_me_2 called [Other thing]\n"
    );
    assert!(text(&out.stderr).contains(&format!(
        "Sourcing environment file {}/../environment.d/set_var.bash",
        dir.display()
    )));
}

#[test]
fn ordering_vector_for_list_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("order");
    ordering_tree(&dir);
    let order = [
        "-5y", "_x", "a-z", "9-a", "010-c", "10-a", "10-b", "30-link",
    ];
    let out = drp(tmp.path(), &["--list".as_ref(), os(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    let listed: String = order
        .iter()
        .map(|n| format!("{}/{n}\n", dir.display()))
        .collect();
    assert_eq!(text(&out.stdout), listed);
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ran: String = order.iter().map(|n| format!("{n}\n")).collect();
    assert_eq!(text(&out.stdout), ran);
}

#[test]
fn list_keeps_the_directory_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    exe(&dir.join("10-x"), "#!/bin/sh\n");
    let with_slash = format!("{}/", dir.display());
    let out = drp(tmp.path(), &["--list".as_ref(), with_slash.as_ref()]);
    assert_eq!(text(&out.stdout), format!("{}//10-x\n", dir.display()));
}

#[test]
fn failure_stops_with_the_scripts_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    exe(&dir.join("10-ok"), "#!/bin/sh\necho ok\n");
    exe(&dir.join("20-fail"), "#!/bin/sh\necho fail\nexit 42\n");
    exe(&dir.join("30-never"), "#!/bin/sh\necho never\n");
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(text(&out.stdout), "ok\nfail\n");
    let err = text(&out.stderr);
    assert!(err.contains("20-fail failed with exit status 42"), "{err}");
    assert!(!err.contains("PROFILING"), "{err}");
    // no profile directory (or anything else) left in TMPDIR
    assert_eq!(
        std::fs::read_dir(tmp.path().join("tmpdir"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn signal_death_maps_to_128_plus_n() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    exe(&dir.join("10-kill"), "#!/bin/sh\nkill -9 $$\n");
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(137));
}

#[test]
fn success_prints_the_profiling_block_and_leaves_no_temp_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("configure.d");
    exe(&dir.join("20-b"), "#!/bin/sh\n");
    exe(&dir.join("10-a"), "#!/bin/sh\n");
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    // every line carries the `dib-run-parts <date> ` prefix
    assert!(
        lines.iter().all(|l| l.starts_with("dib-run-parts ")),
        "{err}"
    );
    let bodies: Vec<&str> = lines
        .iter()
        .map(|l| body_after_date_prefix(l).unwrap_or_else(|| panic!("no date prefix: {l:?}")))
        .collect();
    let at = bodies
        .iter()
        .position(|b| *b == "----------------------- PROFILING -----------------------")
        .unwrap();
    assert_eq!(bodies[at + 1], "");
    assert_eq!(bodies[at + 2], "Target: configure.d");
    assert_eq!(bodies[at + 3], "");
    assert_eq!(bodies[at + 4], format!("{:<40} {:>9}", "Script", "Seconds"));
    assert_eq!(
        bodies[at + 5],
        "---------------------------------------  ----------"
    );
    assert_eq!(bodies[at + 6], "");
    assert!(bodies[at + 7].starts_with(&format!("{:<40} ", "10-a")));
    assert!(bodies[at + 8].starts_with(&format!("{:<40} ", "20-b")));
    assert_eq!(
        bodies[at + 8].len(),
        51,
        "%-40s %10.3f: {:?}",
        bodies[at + 8]
    );
    assert_eq!(bodies[at + 9], "");
    assert_eq!(
        bodies[at + 10],
        "--------------------- END PROFILING ---------------------"
    );
    assert!(err.contains(&format!("Running {}/10-a", dir.display())));
    assert!(err.contains(" 10-a completed\n"));
    assert_eq!(
        std::fs::read_dir(tmp.path().join("tmpdir"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn usage_and_bad_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = drp(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr)
        .starts_with("Usage: dib-run-parts [OPTION] scripts_directory\nOption:\n      --list  print names of all valid files\n\nExamples:\n"));
    let missing = tmp.path().join("missing");
    let out = drp(tmp.path(), &[os(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("dib-run-parts "), "{err}");
    assert!(
        err.contains(&format!(
            "Scripts directory [{}] must exist and be a directory\nUsage: dib-run-parts",
            missing.display()
        )),
        "{err}"
    );
    let out = drp(tmp.path(), &["--list".as_ref()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Scripts directory [] must exist"));
}

#[test]
fn paths_with_spaces_and_quotes_work() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("my dir's *");
    let dir = root.join("configure.d");
    exe(&dir.join("10-x"), "#!/bin/sh\necho \"x [$GREETING]\"\n");
    std::fs::create_dir(root.join("environment.d")).unwrap();
    std::fs::write(
        root.join("environment.d/10-env"),
        "export GREETING='hello  world'\n",
    )
    .unwrap();
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "x [hello  world]\n");
    assert!(text(&out.stderr).contains(&format!("Running {}/10-x", dir.display())));
}

#[test]
fn environment_file_error_aborts_before_any_script() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    exe(&dir.join("10-x"), "#!/bin/sh\necho never\n");
    std::fs::create_dir(tmp.path().join("environment.d")).unwrap();
    std::fs::write(
        tmp.path().join("environment.d/10-bad"),
        "echo from-env\nexit 9\n",
    )
    .unwrap();
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(9));
    // the file's own stdout is still shown
    assert_eq!(text(&out.stdout), "from-env\n");
}

#[test]
fn unset_variable_in_environment_file_fails_like_set_u() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    exe(&dir.join("10-x"), "#!/bin/sh\necho never\n");
    std::fs::create_dir(tmp.path().join("environment.d")).unwrap();
    std::fs::write(
        tmp.path().join("environment.d/10-u"),
        "export X=$SURELY_NOT_SET_ANYWHERE\n",
    )
    .unwrap();
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn run_parts_regex_overrides_the_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    exe(&dir.join("10-foo.sh"), "#!/bin/sh\necho dotted\n");
    exe(&dir.join("20-plain"), "#!/bin/sh\necho plain\n");
    let out = Command::new(common::legacy(tmp.path(), "dib-run-parts"))
        .arg(&dir)
        .env("RUN_PARTS_REGEX", "^[0-9a-z.-]+$")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "dotted\nplain\n");
    // empty means the default
    let out = Command::new(common::legacy(tmp.path(), "dib-run-parts"))
        .arg(&dir)
        .env("RUN_PARTS_REGEX", "")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "plain\n");
}

#[test]
fn script_without_interpreter_line_runs_in_a_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    exe(&dir.join("10-bare"), "echo bare ok\n");
    let out = drp(tmp.path(), &[os(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "bare ok\n");
}

#[test]
fn native_run_parts_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("s");
    exe(&dir.join("10-x"), "#!/bin/sh\necho native\n");
    let out = Command::new(common::bin())
        .arg("run-parts")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "native\n");
    let out = Command::new(common::bin())
        .args(["run-parts", "--list"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), format!("{}/10-x\n", dir.display()));
}

#[test]
fn sigint_stops_the_running_script_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let pid_file = tmp.path().join("sleeper.pid");
    exe(
        &dir.join("10-long"),
        &format!(
            "#!/bin/sh\nsleep 120 &\necho $! > '{}'\nwait\n",
            pid_file.display()
        ),
    );
    exe(&dir.join("20-next"), "#!/bin/sh\necho next\n");
    let child = Command::new(common::legacy(tmp.path(), "dib-run-parts"))
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let sleeper: i32 = loop {
        if let Ok(s) = std::fs::read_to_string(&pid_file) {
            if s.ends_with('\n') {
                break s.trim().parse().unwrap();
            }
        }
        assert!(std::time::Instant::now() < until, "script never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // stdout is shared with the sleeper: this returns only once it is gone too
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    // gone or a zombie (bounded wait: the exit may still be completing)
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap_or_default();
        let dead = stat.is_empty()
            || stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if dead {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "sleeper {sleeper} still running: {stat}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn every_line_has_a_c_locale_date_prefix_in_any_zone_and_locale() {
    for (tz, locale) in [
        ("UTC", "C"),
        ("Asia/Kolkata", "de_DE.UTF-8"),
        ("America/St_Johns", "fr_FR.UTF-8"),
        ("<+0330>-3:30", "ja_JP.UTF-8"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("configure.d");
        exe(&dir.join("10-a"), "#!/bin/sh\n");
        let out = Command::new(common::legacy(tmp.path(), "dib-run-parts"))
            .arg(&dir)
            .env("TZ", tz)
            .env("LC_ALL", locale)
            .env("LANG", locale)
            .env_remove("RUN_PARTS_REGEX")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "TZ={tz}");
        let err = text(&out.stderr);
        assert!(err.lines().count() > 5, "TZ={tz}: {err}");
        for line in err.lines() {
            assert!(
                body_after_date_prefix(line).is_some(),
                "TZ={tz} LC_ALL={locale}: {line:?}"
            );
        }
    }
}
