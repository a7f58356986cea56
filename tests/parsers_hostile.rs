//! Issue 11, the parser items: documents a Python agent reads (non-finite numbers, lone
//! surrogates) and trusted-but-hostile templates (deep nesting, alias bombs, exponential
//! sections, FIFOs), through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference venv's python (`HEAT_AGENT_TEST_VENV`), or `None` to skip where allowed.
fn python() -> Option<PathBuf> {
    let dir = std::env::var_os("HEAT_AGENT_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.venv"));
    let python = dir.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("HEAT_AGENT_REQUIRE_REFERENCE").as_deref() == Ok("1") {
        panic!(
            "no python in {} (HEAT_AGENT_REQUIRE_REFERENCE=1)",
            dir.display()
        );
    }
    eprintln!("skip: reference venv {} not available", dir.display());
    None
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `json.dumps(json.loads(doc), indent=1)` by real Python: what the reference caches.
fn python_cache_text(python: &Path, doc: &str) -> String {
    let o = Command::new(python)
        .args([
            "-c",
            "import json,sys; sys.stdout.write(json.dumps(json.loads(sys.stdin.read()), indent=1))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(doc.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// Issue 11: `1e400` in metadata was cached as `Infinity`, which `apply` then refused, so
/// every poll failed. Now the cache is what Python writes, `apply` reads it and renders
/// Python's `str()` of the floats, and the next poll finds nothing changed.
#[test]
fn numbers_python_reads_as_infinite_do_not_poison_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let doc = r#"{"big": 1e400, "neg": -1e400, "nan": NaN, "inf": Infinity, "ninf": -Infinity,
        "tiny": 1e-400, "lone": "a\ud800b", "pair": "\ud83d\ude00", "deep": {"n": [1E999]}}"#;
    std::fs::create_dir(root.join("local")).unwrap();
    std::fs::write(root.join("local/data"), doc).unwrap();
    let templates = root.join("templates");
    std::fs::create_dir_all(templates.join("etc")).unwrap();
    std::fs::write(
        templates.join("etc/out"),
        "{{big}} {{neg}} {{nan}} {{inf}} {{ninf}} {{tiny}} {{pair}}\n",
    )
    .unwrap();
    let out = root.join("out");
    let count = root.join("count");
    let command = format!(
        "{} apply -t {} -o {} && echo run >> {}",
        common::bin().display(),
        templates.display(),
        out.display(),
        count.display()
    );
    let collect = || {
        Command::new(common::bin())
            .args(["collect", "--config-file", "/dev/null", "--cachedir"])
            .arg(root.join("cache"))
            .arg("--backup-cachedir")
            .arg(root.join("backup"))
            .arg("--local-path")
            .arg(root.join("local"))
            .args(["--one-time", "--command", &command, "local"])
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    };
    let first = collect();
    assert!(first.status.success(), "{}", text(&first));
    // os-apply-config interpolates json.dumps of a float
    let rendered = std::fs::read_to_string(out.join("etc/out")).unwrap();
    assert_eq!(
        rendered,
        "Infinity -Infinity NaN Infinity -Infinity 0.0 \u{1F600}\n"
    );
    let cached = std::fs::read_to_string(root.join("cache/data.json")).unwrap();
    if let Some(python) = python() {
        // Python keeps the lone surrogate; a Rust string cannot (docs/compatibility.md)
        let want = python_cache_text(&python, doc).replace("\\ud800", "\\ufffd");
        assert_eq!(cached.trim_end(), want);
        // and the reference os-apply-config renders our cache the same way
        let theirs = root.join("theirs");
        let o = Command::new(python.with_file_name("os-apply-config"))
            .arg("-t")
            .arg(&templates)
            .arg("-o")
            .arg(&theirs)
            .arg("-m")
            .arg(root.join("cache/data.json"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            std::fs::read_to_string(theirs.join("etc/out")).unwrap(),
            rendered
        );
    }
    let second = collect();
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        1,
        "nothing changed, so the command ran once: {}",
        text(&second)
    );
}
