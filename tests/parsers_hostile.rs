//! Issue 11, the parser items: documents a Python agent reads (non-finite numbers, lone
//! surrogates) and trusted-but-hostile templates (deep nesting, alias bombs, exponential
//! sections, FIFOs), through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference venv's python (`HEAT_AGENT_TEST_VENV`), or `None` to skip where allowed.
fn python() -> Option<PathBuf> {
    common::reference_venv(&["bin/python"]).map(|v| v.join("bin/python"))
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

/// A template tree rendered once with a good template; then each hostile template is added
/// and must fail with one error line naming it, exit non-zero, and leave the output as it was.
struct Tree {
    _tmp: tempfile::TempDir,
    templates: PathBuf,
    out: PathBuf,
    metadata: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let templates = tmp.path().join("templates");
        std::fs::create_dir_all(templates.join("etc")).unwrap();
        std::fs::write(templates.join("etc/good"), "good {{a}}\n").unwrap();
        let metadata = tmp.path().join("md.json");
        std::fs::write(&metadata, r#"{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}"#).unwrap();
        let out = tmp.path().join("out");
        let t = Tree {
            templates,
            out,
            metadata,
            _tmp: tmp,
        };
        let o = t.apply();
        assert!(o.status.success(), "{}", text(&o));
        t
    }

    fn apply(&self) -> Output {
        Command::new(common::bin())
            .arg("apply")
            .arg("-t")
            .arg(&self.templates)
            .arg("-o")
            .arg(&self.out)
            .arg("-m")
            .arg(&self.metadata)
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    }

    fn good(&self) -> String {
        std::fs::read_to_string(self.out.join("etc/good")).unwrap()
    }

    /// Add `name` with `body` (and an `.oac` when given): apply fails, naming `name` and
    /// `reason`, and nothing already rendered changes.
    fn refuses(&self, name: &str, body: &str, oac: Option<&str>, reason: &str) {
        let before = self.good();
        std::fs::write(self.templates.join("etc/good"), "changed {{a}}\n").unwrap();
        let path = self.templates.join("etc").join(name);
        std::fs::write(&path, body).unwrap();
        if let Some(oac) = oac {
            std::fs::write(self.templates.join(format!("etc/{name}.oac")), oac).unwrap();
        }
        let o = self.apply();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("] ERROR ")).collect();
        assert!(
            errors
                .iter()
                .any(|l| l.contains(name) && l.contains(reason))
                || (errors.iter().any(|l| l.contains(reason))
                    && errors.iter().any(|l| l.contains(name))),
            "{name}: {reason:?} not in {stderr}"
        );
        assert_eq!(self.good(), before, "{name}: rendered files changed");
        assert!(!self.out.join("etc").join(name).exists());
        std::fs::remove_file(&path).unwrap();
        let _ = std::fs::remove_file(self.templates.join(format!("etc/{name}.oac")));
        std::fs::write(self.templates.join("etc/good"), "good {{a}}\n").unwrap();
    }
}

// Issue 11: trusted-but-hostile templates are bounded: one error naming the template, exit 1,
// the rendered tree intact (they overflowed the stack, expanded to gigabytes or ran forever).

#[test]
fn tera_nested_3000_deep_fails_cleanly() {
    let t = Tree::new();
    let ifs = format!(
        "{}x{}",
        "{% if true %}".repeat(3000),
        "{% endif %}".repeat(3000)
    );
    t.refuses(
        "ifs.tera",
        &ifs,
        None,
        "blocks nested deeper than 64 levels",
    );
}

#[test]
fn tera_recursive_macro_fails_cleanly() {
    let t = Tree::new();
    let forever = "{% macro f() %}{{ self::f() }}{% endmacro f %}{{ self::f() }}";
    t.refuses("macro.tera", forever, None, "deeper than 64 levels");
}

#[test]
fn oac_alias_bomb_fails_cleanly() {
    let t = Tree::new();
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "a".to_string()
        } else {
            format!("a{}", i - 1)
        };
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        ));
    }
    t.refuses("bomb", "x\n", Some(&bomb), "more than 100000 values");
}

#[test]
fn mustache_exponential_sections_fail_cleanly() {
    let t = Tree::new();
    let sections = format!("{}x{}", "{{#a}}".repeat(12), "{{/a}}".repeat(12));
    t.refuses("sections", &sections, None, "more than 4000000 steps");
}

/// Issue 11: a FIFO in the template tree hung the walk. It is skipped with a warning naming
/// it; everything else renders.
#[test]
fn a_fifo_in_the_template_tree_is_skipped_with_a_warning() {
    let t = Tree::new();
    let fifo = t.templates.join("etc/pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    std::os::unix::fs::symlink(&fifo, t.templates.join("etc/link-to-pipe")).unwrap();
    std::fs::write(t.templates.join("etc/good"), "again {{a}}\n").unwrap();
    let mut child = Command::new(common::bin())
        .arg("apply")
        .arg("-t")
        .arg(&t.templates)
        .arg("-o")
        .arg(&t.out)
        .arg("-m")
        .arg(&t.metadata)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // a hang is a failure, not a stuck suite
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("apply hung on a FIFO in the template tree");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for name in ["etc/pipe", "etc/link-to-pipe"] {
        assert!(
            stderr.lines().any(|l| l.contains("] WARN ")
                && l.contains(name)
                && l.contains("not a regular file")),
            "{name}: {stderr}"
        );
        assert!(!t.out.join(name).exists());
    }
    assert!(t.good().starts_with("again"), "{}", t.good());
}
