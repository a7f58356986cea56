//! Differential checks against the reference `dib-run-parts` (dib-utils, bash) and
//! `os-refresh-config` (Python) from the test venv: the same trees must give the same stdout
//! and exit codes. stderr differs on purpose (no `set -x` trace, script named on failure).

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn venv_bin() -> Option<PathBuf> {
    common::reference_venv(&["bin/dib-run-parts", "bin/os-refresh-config"]).map(|v| v.join("bin"))
}

fn exe(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run the reference and ours (same name, same args, same environment; the reference finds its
/// `dib-run-parts` on PATH) and return both outputs.
fn both(
    venv: &Path,
    ours_dir: &Path,
    name: &str,
    args: &[&OsStr],
    env: &[(&str, &OsStr)],
) -> (Output, Output) {
    let path = format!("{}:/usr/bin:/bin", venv.display());
    let run = |program: PathBuf| {
        let mut c = Command::new(program);
        c.args(args).env_clear().env("PATH", &path).env("LANG", "C");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let reference = run(venv.join(name));
    let ours = run(common::legacy(ours_dir, name));
    (reference, ours)
}

fn assert_same(what: &str, reference: &Output, ours: &Output) {
    assert_eq!(
        text(&ours.stdout),
        text(&reference.stdout),
        "{what}: stdout differs\nreference stderr:\n{}\nour stderr:\n{}",
        text(&reference.stderr),
        text(&ours.stderr)
    );
    assert_eq!(
        ours.status.code(),
        reference.status.code(),
        "{what}: exit code differs\nreference stderr:\n{}\nour stderr:\n{}",
        text(&reference.stderr),
        text(&ours.stderr)
    );
}

/// Scripts echo their name and an exported variable; a tree with every selection rule.
fn mixed_tree(dir: &Path) {
    let body = "#!/bin/sh\necho \"$(basename \"$0\") [${FROM_ENV_D:-}]\"\n";
    for n in ["10-b", "a-z", "9-a", "-5y", "010-c", "_x", "10-a", "2.sh"] {
        exe(&dir.join(n), body);
    }
    exe(&dir.join("15-bare"), "echo \"bare [${FROM_ENV_D:-}]\"\n");
    std::fs::write(dir.join("20-noexec"), body).unwrap();
    std::fs::create_dir_all(dir.join("40-dir")).unwrap();
    exe(&dir.join(".hidden"), body);
    std::os::unix::fs::symlink(dir.join("10-a"), dir.join("30-link")).unwrap();
}

#[test]
fn dib_run_parts_matches_reference() {
    let Some(venv) = venv_bin() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("bin");
    std::fs::create_dir(&ours).unwrap();

    let dir = tmp.path().join("tree/configure.d");
    mixed_tree(&dir);
    std::fs::create_dir_all(tmp.path().join("tree/environment.d")).unwrap();
    std::fs::write(
        tmp.path().join("tree/environment.d/10-env.bash"),
        "export FROM_ENV_D=\"a  b\"\necho env-file-says-hi\n",
    )
    .unwrap();
    let (r, o) = both(
        &venv,
        &ours,
        "dib-run-parts",
        &["--list".as_ref(), dir.as_os_str()],
        &[],
    );
    assert_same("--list", &r, &o);
    assert!(!text(&o.stdout).is_empty());
    let (r, o) = both(&venv, &ours, "dib-run-parts", &[dir.as_os_str()], &[]);
    assert_same("run", &r, &o);
    assert!(text(&o.stdout).starts_with("env-file-says-hi\n-5y [a  b]\n"));

    // a failing script: its status, nothing after it
    let fail = tmp.path().join("fail.d");
    exe(&fail.join("10-one"), "#!/bin/sh\necho one\n");
    exe(&fail.join("20-two"), "#!/bin/sh\necho two\nexit 7\n");
    exe(&fail.join("30-three"), "#!/bin/sh\necho three\n");
    let (r, o) = both(&venv, &ours, "dib-run-parts", &[fail.as_os_str()], &[]);
    assert_same("failure", &r, &o);
    assert_eq!(o.status.code(), Some(7));

    // an empty directory, a missing one, no arguments, a custom regex
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (r, o) = both(&venv, &ours, "dib-run-parts", &[empty.as_os_str()], &[]);
    assert_same("empty", &r, &o);
    let missing = tmp.path().join("missing");
    let (r, o) = both(&venv, &ours, "dib-run-parts", &[missing.as_os_str()], &[]);
    assert_same("missing", &r, &o);
    let (r, o) = both(&venv, &ours, "dib-run-parts", &[], &[]);
    assert_same("no arguments", &r, &o);
    let regex = OsStr::new("^[0-9a-z.-]+$");
    let (r, o) = both(
        &venv,
        &ours,
        "dib-run-parts",
        &["--list".as_ref(), dir.as_os_str()],
        &[("RUN_PARTS_REGEX", regex)],
    );
    assert_same("RUN_PARTS_REGEX", &r, &o);
    assert!(text(&o.stdout).contains("/2.sh\n"));
}

#[test]
fn os_refresh_config_matches_reference() {
    let Some(venv) = venv_bin() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("bin");
    std::fs::create_dir(&ours).unwrap();
    let base = tmp.path().join("base");
    for phase in ["pre-configure", "configure", "post-configure", "migration"] {
        mixed_tree(&base.join(format!("{phase}.d")));
    }
    std::fs::create_dir_all(base.join("environment.d")).unwrap();
    std::fs::write(
        base.join("environment.d/10-env"),
        "export FROM_ENV_D=phase-env\n",
    )
    .unwrap();
    let lock = tmp.path().join("lock");
    let env = [("OS_REFRESH_CONFIG_BASE_DIR", base.as_os_str())];
    let args: Vec<&OsStr> = vec!["--lockfile".as_ref(), lock.as_os_str()];

    let (r, o) = both(&venv, &ours, "os-refresh-config", &args, &env);
    assert_same("all phases", &r, &o);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::metadata(&lock).unwrap().len(), 0);

    for flag in ["--print-phases", "--print-base"] {
        let (r, o) = both(&venv, &ours, "os-refresh-config", &[flag.as_ref()], &env);
        assert_same(flag, &r, &o);
    }
    let (r, o) = both(
        &venv,
        &ours,
        "os-refresh-config",
        &["--bogus".as_ref()],
        &env,
    );
    assert_eq!(o.status.code(), r.status.code(), "usage error code");

    // a failing phase: error.d runs, later phases do not, exit 1
    exe(
        &base.join("configure.d/12-fail"),
        "#!/bin/sh\necho failing\nexit 4\n",
    );
    exe(
        &base.join("error.d/10-handler"),
        "#!/bin/sh\necho \"handler [${FROM_ENV_D:-}]\"\nexit 3\n",
    );
    let (r, o) = both(&venv, &ours, "os-refresh-config", &args, &env);
    assert_same("failing phase", &r, &o);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("handler [phase-env]\n"));
    assert!(!text(&o.stdout).contains("failing\n10-a"));
}
