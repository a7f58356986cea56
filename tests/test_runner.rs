//! tests/run.sh itself: it must always end with one `total: N passed, M failed` line and exit
//! non-zero on any failure. The real script runs in a copy of the tests directory, with a
//! `cargo` on PATH that replays a recorded outcome (running the real cargo here would wait on
//! the build lock this test run holds).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Run a copy of tests/run.sh whose `cargo test` prints `test_output` and exits `test_status`;
/// `fmt_status` is what `cargo fmt` exits with.
fn run_suite(test_output: &str, test_status: i32, fmt_status: i32) -> (Option<i32>, String) {
    let root = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["run.sh", "summarize.sh"] {
        let text = std::fs::read_to_string(repo.join("tests").join(name)).unwrap();
        script(&root.path().join("tests").join(name), &text);
    }
    script(&root.path().join("tests/setup.sh"), "#!/bin/sh\nexit 0\n");
    std::fs::write(root.path().join("recorded"), test_output).unwrap();
    script(
        &root.path().join("bin/cargo"),
        &format!(
            "#!/bin/sh\ncase \"$1\" in\n fmt) exit {fmt_status};;\n clippy) exit 0;;\n \
             test) cat \"$(dirname \"$0\")/../recorded\"; exit {test_status};;\nesac\nexit 9\n"
        ),
    );
    let path = format!(
        "{}:{}",
        root.path().join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new("bash")
        .arg(root.path().join("tests/run.sh"))
        .env("PATH", path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn a_failing_test_still_gets_the_closing_line_and_a_non_zero_exit() {
    let output = "test a ... ok\ntest b ... FAILED\n\
                  test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\
                  test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
    let (code, out) = run_suite(output, 101, 0);
    assert_eq!(last_line(&out), "total: 8 passed, 1 failed", "{out}");
    assert_eq!(code, Some(1));
}

#[test]
fn all_passing_exits_zero() {
    let output = "test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
    let (code, out) = run_suite(output, 0, 0);
    assert_eq!(last_line(&out), "total: 5 passed, 0 failed", "{out}");
    assert_eq!(code, Some(0));
}

#[test]
fn a_build_error_or_a_failed_gate_counts_as_a_failure() {
    let (code, out) = run_suite("error[E0425]: cannot find value\n", 101, 0);
    assert_eq!(last_line(&out), "total: 0 passed, 1 failed", "{out}");
    assert_eq!(code, Some(1));
    let output = "test result: ok. 5 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n";
    let (code, out) = run_suite(output, 0, 1);
    assert_eq!(last_line(&out), "total: 5 passed, 1 failed", "{out}");
    assert_eq!(code, Some(1));
}
