//! Differential tests: the real Python `os-apply-config` 14.1.0 from the test venv and our
//! binary (as `os-apply-config`) render the same template trees from the same metadata; every
//! output file must be byte-identical (and have the same mode), and exit codes must agree.
//!
//! Documented deviations (docs/compatibility.md) are not exercised here: the generator only
//! produces inputs on which both must agree.
//!
//! The venv comes from `HEAT_AGENT_TEST_VENV` (else `tests/.venv`); without it the tests print
//! a skip note, unless `HEAT_AGENT_REQUIRE_REFERENCE=1`, which makes a missing reference fail.

mod common;

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn venv() -> PathBuf {
    common::venv_dir()
}

/// The reference executable, or None (after a skip note) when it is not installed.
fn reference() -> Option<PathBuf> {
    common::reference_venv(&["bin/os-apply-config"]).map(|v| v.join("bin/os-apply-config"))
}

fn run(exe: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(exe)
        .args(args)
        .current_dir(cwd)
        .env_remove("OS_CONFIG_FILES")
        .env("OS_CONFIG_FILES_PATH", cwd.join("no-list.json"))
        .output()
        .unwrap()
}

/// Every regular file under `root`: relative path → (bytes, permission bits).
fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, (Vec<u8>, u32)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{rel}/{name}");
            let p = e.path();
            if p.is_dir() {
                walk(&p, &rel, out);
            } else {
                let mode = std::fs::metadata(&p).unwrap().mode() & 0o7777;
                out.insert(rel, (std::fs::read(&p).unwrap(), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, "", &mut out);
    out
}

struct Compared {
    files: usize,
    bytes: usize,
}

/// Render `templates` with `metadata` through both tools and compare everything.
fn compare(reference: &Path, templates: &Path, metadata: &Value, extra: &[&str]) -> Compared {
    let work = tempfile::tempdir().unwrap();
    compare_in(reference, templates, metadata, extra, work.path())
}

/// [`compare`] with both tools running in `cwd` (where partials are looked up).
fn compare_in(
    reference: &Path,
    templates: &Path,
    metadata: &Value,
    extra: &[&str],
    cwd: &Path,
) -> Compared {
    let work = tempfile::tempdir().unwrap();
    let meta = work.path().join("metadata.json");
    std::fs::write(&meta, serde_json::to_string(metadata).unwrap()).unwrap();
    let ours = common::legacy(work.path(), "os-apply-config");
    let (ref_out, our_out) = (work.path().join("ref"), work.path().join("ours"));
    let args = |out: &Path| -> Vec<String> {
        let mut a = vec![
            "-m".to_string(),
            meta.to_string_lossy().into_owned(),
            "-t".to_string(),
            templates.to_string_lossy().into_owned(),
            "-o".to_string(),
            out.to_string_lossy().into_owned(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let ra = args(&ref_out);
    let oa = args(&our_out);
    let r = run(
        reference,
        &ra.iter().map(String::as_str).collect::<Vec<_>>(),
        cwd,
    );
    let o = run(
        &ours,
        &oa.iter().map(String::as_str).collect::<Vec<_>>(),
        cwd,
    );
    assert_eq!(
        r.status.code(),
        o.status.code(),
        "exit codes differ\nreference stderr:\n{}\nour stderr:\n{}",
        String::from_utf8_lossy(&r.stderr),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        r.status.code(),
        Some(0),
        "reference failed: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let (a, b) = (snapshot(&ref_out), snapshot(&our_out));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different file sets"
    );
    for (path, (rbytes, rmode)) in &a {
        let (obytes, omode) = &b[path];
        if rbytes != obytes {
            let template = std::fs::read_to_string(templates.join(&path[1..])).unwrap_or_default();
            panic!(
                "{path} differs\n--- template:\n{template}\n--- reference:\n{}\n--- ours:\n{}\n--- metadata:\n{}",
                String::from_utf8_lossy(rbytes),
                String::from_utf8_lossy(obytes),
                serde_json::to_string(metadata).unwrap()
            );
        }
        assert_eq!(rmode, omode, "{path}: mode differs");
    }
    Compared {
        files: a.len(),
        bytes: a.values().map(|(b, _)| b.len()).sum(),
    }
}

fn reference_fixture_config() -> Value {
    serde_json::json!({
        "x": "foo", "y": false, "z": null, "btrue": true, "bfalse": false,
        "database": {"url": "sqlite:///blah"}, "l": [1, 2],
    })
}

#[test]
fn differential_reference_test_templates() {
    let Some(reference) = reference() else { return };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apply");
    let c = compare(
        &reference,
        &fixtures.join("templates"),
        &reference_fixture_config(),
        &[],
    );
    assert_eq!(c.files, 4);
    let sub = serde_json::json!({"OpenStack::Config": {"x": "foo", "database": {"url": "sqlite:///blah"}}});
    compare(
        &reference,
        &fixtures.join("templates"),
        &sub,
        &["--subhash", "OpenStack::Config"],
    );
    compare(
        &reference,
        &fixtures.join("chown_templates"),
        &reference_fixture_config(),
        &[],
    );
}

fn heat_config_templates() -> PathBuf {
    venv().join("heat-agents/heat-config/os-apply-config")
}

fn captures() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/real-heat-captures"
    ));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| {
            std::fs::read_dir(d.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
        })
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("metadata-") && n.ends_with(".json")
                || n == "local-data-deployed-server.json"
        })
        .collect();
    paths.sort();
    for p in paths {
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        // the Heat API wraps the resource metadata in {"metadata": ...}
        if let Some(inner) = v
            .get("metadata")
            .filter(|_| v.as_object().is_some_and(|m| m.len() == 1))
        {
            v = inner.clone();
        }
        out.push((p.display().to_string(), v));
    }
    out
}

#[test]
fn differential_heat_config_templates_with_real_metadata() {
    let Some(reference) = reference() else { return };
    let templates = heat_config_templates();
    assert!(templates.is_dir(), "{} missing", templates.display());
    let caps = captures();
    if caps.is_empty() {
        eprintln!("skip: no real-heat captures on this machine");
        return;
    }
    for (name, meta) in caps {
        eprintln!("comparing with {name}");
        let c = compare(&reference, &templates, &meta, &[]);
        assert_eq!(c.files, 2, "{name}");
    }
    // an extreme but valid os-collect-config section: every option, floats, unicode, bools
    let synthetic: Value = serde_json::from_str(
        r#"{"deployments": [{"id": "é", "n": 1.0, "big": 123456789012345678901234, "f": 1e-7}],
            "os-collect-config": {"command": "os-refresh-config --timeout 600", "polling_interval": 30,
            "cachedir": "/var/cache/é", "collectors": ["ec2", "cfn", "local"], "splay": 2.5,
            "cfn": {"metadata_url": "http://h:8000/v1/", "stack_name": "s", "secret_access_key": "<&>",
                    "access_key_id": "k", "path": "srv.Metadata", "ca_certificate": "/etc/ca.pem"},
            "zaqar": {"auth_url": "u", "user_id": "u", "password": "p$w", "project_id": "p",
                      "queue_id": "q", "region_name": null, "use_websockets": true},
            "request": {"metadata_url": "http://r/"}}}"#,
    )
    .unwrap();
    compare(&reference, &templates, &synthetic, &[]);
    compare(&reference, &templates, &serde_json::json!({}), &[]);
}

// ---------------------------------------------------------------------------------------------
// Generated cases

struct Gen {
    rng: fastrand::Rng,
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "value",
    "items",
    "os-collect-config",
    "port",
    "host",
    "enabled",
    "list",
    "nested",
    "x y",
    "ключ",
    "k_1",
    "data",
    "cfg",
];

const STRINGS: &[&str] = &[
    "",
    "0",
    "false",
    "plain",
    "a<b>&\"'",
    "é☃",
    "line1\nline2",
    "tab\there",
    " spaced ",
    "{braces}",
    "}",
    "%s",
    "\\back",
    "日本語",
    "😀",
    "null",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "42",
    "12345678901234567890",
    "-98765432109876543210",
    "1.5",
    "1.0",
    "0.0",
    "-0.0",
    "1e20",
    "1e-5",
    "0.1",
    "2.5e-7",
    "1e16",
    "123456789012345678901.0",
    "3.14159",
];

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.usize(..from.len())]
    }

    fn scalar(&mut self) -> Value {
        match self.rng.u8(..10) {
            0..=3 => Value::String(self.pick(STRINGS).to_string()),
            4..=6 => serde_json::from_str(self.pick(NUMBERS)).unwrap(),
            7 => Value::Bool(true),
            8 => Value::Bool(false),
            _ => Value::Null,
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        if depth >= 3 {
            return self.scalar();
        }
        match self.rng.u8(..10) {
            0..=4 => self.scalar(),
            5 | 6 => Value::Object(self.map(depth + 1)),
            7 => (0..self.rng.usize(0..4)).map(|_| self.scalar()).collect(),
            8 => (0..self.rng.usize(0..4))
                .map(|_| Value::Object(self.map(depth + 1)))
                .collect(),
            _ => (0..self.rng.usize(0..3))
                .map(|_| self.value(depth + 1))
                .collect(),
        }
    }

    fn map(&mut self, depth: u32) -> Map<String, Value> {
        let mut m = Map::new();
        for _ in 0..self.rng.usize(0..6) {
            let k = self.pick(KEYS).to_string();
            let v = self.value(depth);
            m.insert(k, v);
        }
        m
    }

    /// A name to look up: a key that exists somewhere, a dotted path, `.`, or a missing one.
    fn name(&mut self, root: &Map<String, Value>) -> String {
        match self.rng.u8(..10) {
            0 => ".".into(),
            1 => "missing".into(),
            2..=4 => {
                // a dotted path that exists from the root
                let mut parts = Vec::new();
                let mut cur = root;
                loop {
                    if cur.is_empty() {
                        break;
                    }
                    let (k, v) = cur.iter().nth(self.rng.usize(..cur.len())).unwrap();
                    parts.push(k.clone());
                    match v {
                        Value::Object(m) if self.rng.bool() => cur = m,
                        _ => break,
                    }
                }
                if parts.is_empty() {
                    "a".into()
                } else {
                    parts.join(".")
                }
            }
            5 => format!("{}.{}", self.pick(KEYS), self.pick(KEYS)),
            _ => self.pick(KEYS).to_string(),
        }
    }

    fn text(&mut self) -> String {
        const TEXTS: &[&str] = &[
            "plain ", "\n", "  ", "\t", "é", "x=", "[s]\n", ",", "}", "line\n", "\n\n", "a-b ",
            ": ",
        ];
        self.pick(TEXTS).to_string()
    }

    fn open_tag(&mut self, kind: &str, name: &str) -> String {
        let spaced = self.rng.u8(..4) == 0;
        if spaced {
            format!("{{{{{kind} {name} }}}}")
        } else {
            format!("{{{{{kind}{name}}}}}")
        }
    }

    fn body(&mut self, root: &Map<String, Value>, depth: u32, out: &mut String) {
        for _ in 0..self.rng.usize(1..7) {
            // sometimes put a tag alone on its own line (standalone rules), maybe indented
            let standalone = self.rng.u8(..4) == 0;
            if standalone {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(self.pick(&["", "  ", "\t", " "]));
            }
            match self.rng.u8(..12) {
                0..=2 => out.push_str(&self.text()),
                3..=5 => {
                    let n = self.name(root);
                    let form = self.rng.u8(..4);
                    out.push_str(&match form {
                        0 => format!("{{{{{{{n}}}}}}}"),
                        1 => format!("{{{{&{n}}}}}"),
                        _ => self.open_tag("", &n),
                    });
                }
                6..=8 if depth < 3 => {
                    let n = self.name(root);
                    let kind = if self.rng.u8(..3) == 0 { "^" } else { "#" };
                    out.push_str(&self.open_tag(kind, &n));
                    if standalone || self.rng.bool() {
                        out.push('\n');
                    }
                    self.body(root, depth + 1, out);
                    if self.rng.bool() {
                        out.push('\n');
                    }
                    out.push_str(&self.open_tag("/", &n));
                }
                9 => out.push_str(&format!(
                    "{{{{! comment {} }}}}",
                    self.pick(&["x", "multi\nline", ""])
                )),
                10 => {
                    let name = self.pick(&["p_one", "p_two", "p_missing"]);
                    out.push_str(&format!("{{{{>{name}}}}}"));
                }
                _ => out.push_str(&self.text()),
            }
            if standalone {
                out.push_str(self.pick(&["\n", "\n", " \n", ""]));
            }
        }
    }

    fn template(&mut self, root: &Map<String, Value>) -> String {
        let mut out = String::new();
        if self.rng.u8(..20) == 0 {
            out.push_str("{{=<% %>=}}");
            let mut inner = String::new();
            self.body(root, 0, &mut inner);
            out.push_str(&inner.replace("{{", "<%").replace("}}", "%>"));
            return out;
        }
        self.body(root, 0, &mut out);
        out
    }
}

#[test]
fn differential_generated_templates() {
    let Some(reference) = reference() else { return };
    let mut gen = Gen {
        rng: fastrand::Rng::with_seed(0x05EE_D0AC),
    };
    const BATCHES: usize = 8;
    const PER_BATCH: usize = 150;
    let (mut total, mut bytes) = (0, 0);
    for batch in 0..BATCHES {
        let mut root = gen.map(0);
        // make sure every batch has some structure to walk
        root.insert("nested".into(), Value::Object(gen.map(1)));
        root.insert(
            "items".into(),
            (0..3).map(|_| Value::Object(gen.map(2))).collect(),
        );
        let tdir = tempfile::tempdir().unwrap();
        let mut expected_files = 0;
        for i in 0..PER_BATCH {
            let mut t = gen.template(&root);
            // some templates with Windows or old-Mac line ends (read with universal newlines)
            match gen.rng.u8(..10) {
                0 => t = t.replace('\n', "\r\n"),
                1 => t = t.replace('\n', "\r"),
                _ => {}
            }
            let sub = tdir.path().join(format!("d{}", i % 4));
            std::fs::create_dir_all(&sub).unwrap();
            let path = sub.join(format!("t{batch:02}_{i:03}"));
            std::fs::write(&path, &t).unwrap();
            // control files: modes, and allow_empty false (empty results are not written)
            let mut name = path.into_os_string();
            name.push(".oac");
            match gen.rng.u8(..8) {
                0 => std::fs::write(&name, "mode: 0600\n").unwrap(),
                1 => std::fs::write(&name, "allow_empty: false\n").unwrap(),
                _ => {}
            }
            expected_files += 1;
        }
        // partials come from the working directory; one includes another
        let cwd = tempfile::tempdir().unwrap();
        // (no partial tags inside partials except the one below: no endless recursion)
        let leaf = |t: String| t.replace("{{>", "{{!").replace("<%>", "<%!");
        std::fs::write(cwd.path().join("p_one.mustache"), leaf(gen.template(&root))).unwrap();
        std::fs::write(
            cwd.path().join("p_two.mustache"),
            format!("two\n  {{{{>p_one}}}}\n{}", leaf(gen.template(&root))),
        )
        .unwrap();
        let root = Value::Object(root);
        let c = compare_in(&reference, tdir.path(), &root, &[], cwd.path());
        assert!(c.files <= expected_files && c.files > expected_files / 2);
        // and once through --subhash
        if batch % 4 == 0 {
            compare_in(
                &reference,
                tdir.path(),
                &root,
                &["--subhash", "nested"],
                cwd.path(),
            );
        }
        total += c.files;
        bytes += c.bytes;
    }
    eprintln!("{total} generated templates, {bytes} bytes of output compared");
    assert!(total >= 1000);
    assert!(
        bytes > 100_000,
        "the generator should produce substantial output"
    );
}

/// Error behaviour must agree too: both fail (exit 1) and write nothing.
#[test]
fn differential_errors_write_nothing() {
    let Some(reference) = reference() else { return };
    for (name, body, oac) in [
        ("mismatch", "{{#a}}x{{/b}}", None),
        ("stray", "{{/x}}", None),
        ("badmode", "x", Some("mode: 0o755")),
        ("range", "x", Some("mode: 755")),
        ("key", "x", Some("color: red")),
        ("notdict", "x", Some("- 1")),
        ("empty_bool", "x", Some("allow_empty: maybe")),
        ("owner", "x", Some("owner: no-such-user-xyz")),
    ] {
        let tdir = tempfile::tempdir().unwrap();
        std::fs::write(tdir.path().join("a_good"), "fine\n").unwrap();
        std::fs::write(tdir.path().join(name), body).unwrap();
        if let Some(o) = oac {
            std::fs::write(tdir.path().join(format!("{name}.oac")), o).unwrap();
        }
        let work = tempfile::tempdir().unwrap();
        let meta = work.path().join("m.json");
        std::fs::write(&meta, r#"{"a": 1}"#).unwrap();
        let ours = common::legacy(work.path(), "os-apply-config");
        for exe in [&reference, &ours] {
            let out = work.path().join(format!("out-{}", exe == &ours));
            let o = run(
                exe,
                &[
                    "-m",
                    meta.to_str().unwrap(),
                    "-t",
                    tdir.path().to_str().unwrap(),
                    "-o",
                    out.to_str().unwrap(),
                ],
                work.path(),
            );
            assert_eq!(o.status.code(), Some(1), "{name} with {}", exe.display());
            assert!(snapshot(&out).is_empty(), "{name}: something was written");
        }
    }
}

/// `.oac` YAML 1.1 forms agree with PyYAML.
#[test]
fn differential_oac_yaml11_modes() {
    let Some(reference) = reference() else { return };
    let tdir = tempfile::tempdir().unwrap();
    for (i, oac) in [
        "mode: 0755",
        "mode: 0600",
        "mode: 1:30",
        "mode: 0x1ff",
        "mode: 0b111101101",
        "mode: 0_644",
        "mode: 420",
        "mode: 0\nallow_empty: yes",
        "allow_empty: Off",
        "allow_empty: NO",
        "# only a comment",
        "",
        "---\nmode: 0640\n...",
        "{mode: 0700}",
        "owner: root\ngroup: 0",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(
            tdir.path().join(format!("f{i}")),
            if i % 2 == 0 { "body\n" } else { "" },
        )
        .unwrap();
        std::fs::write(tdir.path().join(format!("f{i}.oac")), oac).unwrap();
    }
    let reference_fixture = reference_fixture_config();
    compare(&reference, tdir.path(), &reference_fixture, &[]);
}

/// Hand-written corner cases of the pystache grammar, all in one tree.
#[test]
fn differential_edge_templates() {
    let Some(reference) = reference() else { return };
    let cases: &[&str] = &[
        "pre {{#x}}unclosed",
        "a{{#x}}b{{#y}}c",
        "{{}}",
        "{{{x}}",
        "{{{x}}}}",
        "{{ x }}|{{x }}|{{ x}}|{{\tx\n}}",
        "{{# x }}[{{.}}]{{/ x }}",
        "a\r\n  {{#x}}  \r\nb\r{{/x}}\rc",
        "line\n\t{{! multi\nline comment }}\nnext",
        "{{=| |=}}|x| {{x}} |={{ }}=|{{x}}",
        "{{=<% %>=}}<%{x}%> <%& x %>",
        "{{.x}}|{{x.}}|{{..}}|{{a b}}",
        "{{#l}}{{.}},{{/l}}{{^l}}none{{/l}}",
        "{{#m}}{{k}}-{{x}}{{/m}}",
        "{{#m}}{{#k}}{{.}}{{/k}}{{/m}}",
        "{{^m.k}}no{{/m.k}}{{#m.k}}yes{{/m.k}}",
        "  {{>part}}\n{{>part}}|{{>missing}}",
        "{{#x}}\n{{>part}}\n{{/x}}",
        "{{#f}}{{.}}{{/f}}|{{#z}}{{.}}{{/z}}|{{#e}}e{{/e}}|{{#n}}n{{/n}}",
        "{{& l }}{{{ m }}}",
        "{{#u}}{{.}}{{/u}}|{{u}}|{{#l2}}{{.}};{{/l2}}",
        "{{x}}\n\n{{#x}}\n\n{{/x}}\n\n",
        "{{ #x }}odd{{ /x }}",
        "{{#x}}{{/x}}{{^x}}{{/x}}",
        "\u{1c}{{\u{1c}x\u{1c}}}",
        "{{=[[ ]]=}}\n[[#l]]\n  [[.]]\n[[/l]]\n",
    ];
    let meta = serde_json::json!({
        "x": "X", "l": [1, "é", null, [2], {"k": "v"}], "m": {"k": [true, 0.5]},
        "a b": "spaced", "f": 1e-7, "z": 0, "e": "", "n": null, "u": "ü☃",
        "l2": [{"x": 1}, {"y": 2}], "": "empty-key"
    });
    let tdir = tempfile::tempdir().unwrap();
    for (i, body) in cases.iter().enumerate() {
        std::fs::write(tdir.path().join(format!("case{i:02}")), body).unwrap();
    }
    // partials are read from the working directory of both tools
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("part.mustache"), "p1 {{x}}\n\np2\r\n").unwrap();
    compare_in(&reference, tdir.path(), &meta, &[], work.path());
}

/// `--key`, `--type`, `--key-default` and `--boolean-key` print and exit like the reference.
#[test]
fn differential_key_queries() {
    let Some(reference) = reference() else { return };
    let work = tempfile::tempdir().unwrap();
    let meta = work.path().join("m.json");
    std::fs::write(
        &meta,
        r#"{"database": {"url": "sqlite:///blah", "é": "ü"}, "l": [1, "two", null, {"k": [1.5, 1e20]}],
            "y": false, "t": true, "z": null, "f": 0.1, "big": 123456789012345678901234567890,
            "s": "abc\n", "u": "日本", "e": "", "zero": 0, "neg": -5, "ip": "192.0.2.1",
            "dsn": "mysql://u:p@h/db?charset=utf8", "dev": "r1z1-127.0.0.1:%PORT%/d1"}"#,
    )
    .unwrap();
    let ours = common::legacy(work.path(), "os-apply-config");
    let m = meta.to_str().unwrap();
    let mut queries: Vec<Vec<&str>> = Vec::new();
    for key in [
        "database",
        "database.url",
        "database.é",
        "l",
        "l.0",
        "l.1",
        "l.2",
        "l.3",
        "l.3.k",
        "l.3.k.1",
        "l.-1",
        "l.-9",
        "l.x",
        "y",
        "t",
        "z",
        "f",
        "big",
        "s",
        "u",
        "e",
        "zero",
        "neg",
        "missing",
        "database.url.x",
        "ip",
        "dsn",
        "dev",
    ] {
        for ty in [
            "raw",
            "default",
            "int",
            "netaddress",
            "dsn",
            "swiftdevices",
            "username",
        ] {
            queries.push(vec!["--key", key, "--type", ty]);
        }
        queries.push(vec!["--key", key, "--key-default", "-"]);
        queries.push(vec!["--boolean-key", key]);
    }
    queries.push(vec!["--key", "", "--boolean-key", "t"]);
    let argvs: Vec<Vec<&str>> = queries
        .iter()
        .map(|q| {
            let mut a = vec!["os-apply-config", "-m", m];
            a.extend(q.iter().copied());
            a
        })
        .collect();
    // one Python process runs every query through the reference's main() (hundreds of
    // interpreter start-ups would take minutes)
    let script = work.path().join("queries.py");
    std::fs::write(
        &script,
        "import contextlib, io, json, sys\n\
         from os_apply_config import apply_config\n\
         out = []\n\
         for argv in json.load(sys.stdin):\n\
         \x20   buf = io.StringIO()\n\
         \x20   try:\n\
         \x20       with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):\n\
         \x20           rc = apply_config.main(argv)\n\
         \x20   except Exception:\n\
         \x20       rc = 1\n\
         \x20   out.append([rc % 256, buf.getvalue()])\n\
         json.dump(out, sys.stdout)\n",
    )
    .unwrap();
    let mut child = Command::new(venv().join("bin/python"))
        .arg(&script)
        .current_dir(work.path())
        .env_remove("OS_CONFIG_FILES")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut sin = child.stdin.take().unwrap();
        sin.write_all(serde_json::to_string(&argvs).unwrap().as_bytes())
            .unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success());
    let results: Vec<(i32, String)> = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(results.len(), argvs.len());
    let _ = &reference;
    for (argv, (rc, stdout)) in argvs.iter().zip(results) {
        let o = run(&ours, &argv[1..], work.path());
        assert_eq!(
            o.status.code(),
            Some(rc),
            "{argv:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), stdout, "{argv:?}");
    }
}
