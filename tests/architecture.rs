//! Guard rails for the three floors (docs/architecture.md): platform modules name no domain
//! module, and each side effect has one owner. Files are written only by fsutil, children
//! spawned only by process, HTTP agents built only by http, and the environment read only by
//! config (besides the platform protocols in [`ENV_ALLOWED`]). Reads src/ as text; test modules
//! (`#[cfg(test)]` to the end of a file) are left out, fixtures may write files.
//!
//! No import cycle joins two top-level modules.
//!
//! Also: code, tests and docs cite only what the repository holds (docs/compatibility.md
//! entries by heading, weak spots it lists), never sections of a specification kept elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The platform floor: each owns one effect and imports nothing of the domain.
const PLATFORM: &[&str] = &[
    "http",
    "fsutil",
    "process",
    "lifecycle",
    "logging",
    "pyjson",
    "retry",
    "build_info",
    "output",
];

/// The domain and front-end modules a platform module must not name.
const DOMAIN: &[&str] = &[
    "collectors",
    "cache",
    "apply",
    "render",
    "refresh",
    "deploy",
    "hooks",
    "notify",
    "config",
    "daemon",
    "status",
    "merge",
    "cli",
];

/// A side effect and the module that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    WritesFiles,
    SpawnsChildren,
    BuildsHttpAgents,
    WritesStdout,
    NamesDomain,
}

impl Effect {
    fn owner(self) -> &'static str {
        match self {
            Effect::WritesFiles => "fsutil",
            Effect::SpawnsChildren => "process",
            Effect::BuildsHttpAgents => "http",
            Effect::WritesStdout => "output",
            Effect::NamesDomain => "(a domain module)",
        }
    }
}

/// Offenders that other work still has to move (each names the module and the effect), and
/// two exceptions by design (logging appends to its log file; lifecycle re-execs). The list shrinks as they move;
/// the test fails when an entry is no longer needed, so it cannot go stale.
const ALLOWED: &[(&str, Effect)] = &[
    // by design: lifecycle owns the daemon's re-exec (exec replaces this process; no child)
    ("lifecycle/loop_signals.rs", Effect::SpawnsChildren),
    // by design: logging owns its log file, opened for appending (not a replaced file)
    ("logging.rs", Effect::WritesFiles),
];

/// Environment reads outside config, by design: each platform protocol is read by the platform
/// module that speaks it (a platform module may not name config), and a child's environment
/// is ours passed whole. `(file, variable, why)`; `*` is the whole environment. The test fails
/// when an entry is no longer needed.
const ENV_ALLOWED: &[(&str, &str, &str)] = &[
    (
        "lifecycle.rs",
        "NOTIFY_SOCKET",
        "sd_notify: systemd names its socket here",
    ),
    (
        "lifecycle.rs",
        "WATCHDOG_USEC",
        "sd_notify: the watchdog timeout systemd enforces",
    ),
    (
        "lifecycle.rs",
        "WATCHDOG_PID",
        "sd_notify: the process the watchdog is meant for",
    ),
    (
        "logging.rs",
        "JOURNAL_STREAM",
        "systemd: is stderr the journal (line format)",
    ),
    (
        "logging.rs",
        "TZ",
        "the time zone of the one clock (libc's rule)",
    ),
    (
        "logging.rs",
        "RUST_LOG",
        "the log facade's own filter syntax",
    ),
    ("process.rs", "PATH", "program lookup, as exec does it"),
    (
        "refresh/runparts.rs",
        "*",
        "the scripts' environment: ours, passed whole",
    ),
];

/// The environment variables `code` reads through `std::env` (`*`: the whole environment).
/// The argument is taken as written: a string literal's text or a constant's name.
fn env_reads(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for call in ["env::var(", "env::var_os(", "env::vars(", "env::vars_os("] {
        for (at, _) in code.match_indices(call) {
            let rest = &code[at + call.len()..];
            let arg = rest[..rest.find(')').unwrap_or(rest.len())].trim();
            let name = arg.trim_matches('"');
            found.push(if name.is_empty() { "*" } else { name }.to_string());
        }
    }
    found
}

/// Every environment read of `src` (the file `rel` under src/) outside config.
fn env_violations(rel: &str, src: &str) -> Vec<String> {
    if module_of(rel) == "config" {
        return Vec::new();
    }
    env_reads(&code_of(src))
}

/// `src` without its test module and without line comments (doc comments included).
fn code_of(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut lines = src.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `crate::<module>` paths named in `code`, `crate::{a, b::c}` groups included.
fn crate_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                found.push(leading_ident(item.trim()));
            }
        } else {
            found.push(leading_ident(rest));
        }
    }
    found
}

fn leading_ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// Does `code` use `std::process::Command` (by path or imported as `Command`)?
fn spawns(code: &str) -> bool {
    let imported = code.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("use std::process::") && l.contains("Command")
    });
    code.contains("process::Command::new(") || (imported && code.contains(" Command::new("))
}

/// Does `code` create, write, append to or rename files?
fn writes_files(code: &str) -> bool {
    let direct = ["fs::write(", "File::create(", "fs::rename("]
        .iter()
        .any(|p| code.contains(p));
    // an OpenOptions chain that writes: look at the text up to the `.open(` that ends it
    let chained = code.match_indices("OpenOptions::new()").any(|(at, _)| {
        let rest = &code[at..];
        let chain = &rest[..rest.find(".open(").unwrap_or(rest.len())];
        [
            ".write(true)",
            ".append(true)",
            ".create(true)",
            ".create_new(true)",
        ]
        .iter()
        .any(|w| chain.contains(w))
    });
    direct || chained
}

/// Does `code` build a ureq agent?
fn builds_agents(code: &str) -> bool {
    [
        "Agent::with_parts(",
        "Agent::new_with_",
        "Agent::config_builder(",
        "AgentBuilder",
        "ureq::agent(",
    ]
    .iter()
    .any(|p| code.contains(p))
}

/// Does `code` write to stdout itself (not through `output`, which ends quietly on a closed
/// pipe)? `eprint!`/`eprintln!` go to stderr and are not counted.
fn writes_stdout(code: &str) -> bool {
    let macro_call = |name: &str| {
        code.match_indices(name).any(|(at, _)| {
            !code[..at].ends_with('e')
                && !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
    };
    code.contains("io::stdout()") || macro_call("println!(") || macro_call("print!(")
}

/// The top-level module a file under src/ belongs to (`http/tls.rs` → `http`).
fn module_of(rel: &str) -> &str {
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Every effect `src` (the file `rel` under src/) has outside its owner.
fn violations(rel: &str, src: &str) -> Vec<Effect> {
    let code = code_of(src);
    let module = module_of(rel);
    let mut found = Vec::new();
    if PLATFORM.contains(&module)
        && crate_modules(&code)
            .iter()
            .any(|m| DOMAIN.contains(&m.as_str()))
    {
        found.push(Effect::NamesDomain);
    }
    let checks = [
        (Effect::WritesFiles, writes_files as fn(&str) -> bool),
        (Effect::SpawnsChildren, spawns),
        (Effect::BuildsHttpAgents, builds_agents),
        (Effect::WritesStdout, writes_stdout),
    ];
    for (effect, check) in checks {
        if module != effect.owner() && check(&code) {
            found.push(effect);
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `.rs` file under src/ as (path relative to src/, text), sorted by path.
fn src_texts() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read_to_string(path).unwrap())
        })
        .collect()
}

#[test]
fn every_effect_stays_with_its_owner_and_the_platform_names_no_domain() {
    let mut found: Vec<(String, Effect)> = Vec::new();
    for (rel, text) in &src_texts() {
        for effect in violations(rel, text) {
            found.push((rel.clone(), effect));
        }
    }
    let new: Vec<_> = found
        .iter()
        .filter(|(rel, e)| !ALLOWED.contains(&(rel.as_str(), *e)))
        .map(|(rel, e)| format!("src/{rel}: {e:?} outside {}", e.owner()))
        .collect();
    assert!(new.is_empty(), "layering violations:\n{}", new.join("\n"));
    let stale: Vec<_> = ALLOWED
        .iter()
        .filter(|(rel, e)| !found.contains(&(rel.to_string(), *e)))
        .collect();
    assert!(
        stale.is_empty(),
        "allowed offenders that no longer offend (remove them from ALLOWED): {stale:?}"
    );
}

#[test]
fn only_config_reads_the_environment_besides_the_platform_protocols() {
    let mut found: Vec<(String, String)> = Vec::new();
    for (rel, text) in &src_texts() {
        for name in env_violations(rel, text) {
            found.push((rel.clone(), name));
        }
    }
    let allowed =
        |rel: &str, name: &str| ENV_ALLOWED.iter().any(|(f, n, _)| *f == rel && *n == name);
    let new: Vec<_> = found
        .iter()
        .filter(|(rel, name)| !allowed(rel, name))
        .map(|(rel, name)| format!("src/{rel}: reads {name} (settings are read by src/config)"))
        .collect();
    assert!(
        new.is_empty(),
        "environment read outside config:\n{}",
        new.join("\n")
    );
    let stale: Vec<_> = ENV_ALLOWED
        .iter()
        .filter(|(f, n, _)| !found.iter().any(|(rel, name)| rel == f && name == n))
        .collect();
    assert!(
        stale.is_empty(),
        "allowed environment reads no longer made (remove them from ENV_ALLOWED): {stale:?}"
    );
}

#[test]
fn the_env_checker_finds_each_kind_of_read() {
    let code = "fn f() {\n let a = std::env::var(\"HEAT_X\").ok();\n let b = env::var_os(NAME);\n \
                let all: Vec<_> = std::env::vars_os().collect();\n for _ in std::env::vars() {}\n}\n";
    let mut reads = env_violations("hooks/x.rs", code);
    reads.sort();
    assert_eq!(reads, ["*", "*", "HEAT_X", "NAME"]);
    // config is the reader; comments and test modules do not count
    assert!(env_violations("config/vars.rs", code).is_empty());
    assert!(
        env_violations("deploy/mod.rs", "// std::env::var(\"HEAT_X\")\nfn f() {}\n").is_empty()
    );
    let in_tests =
        "fn f() {}\n#[cfg(test)]\nmod tests {\n fn g() { std::env::var_os(\"PATH\"); }\n}\n";
    assert!(env_violations("deploy/mod.rs", in_tests).is_empty());
    // other std::env functions are not reads of a setting
    assert!(env_violations("daemon/world.rs", "fn f() { std::env::current_dir(); }").is_empty());
}

#[test]
fn the_checker_catches_each_kind_of_violation() {
    let platform_names_domain = "use crate::pyjson;\nuse crate::{fsutil, config::Settings};\n";
    assert_eq!(
        violations("http/mod.rs", platform_names_domain),
        vec![Effect::NamesDomain]
    );
    assert_eq!(
        violations("retry.rs", "fn f() { crate::notify::outbox::now(); }"),
        vec![Effect::NamesDomain]
    );
    // the domain may name the domain, and comments do not count
    assert!(violations("deploy/mod.rs", "use crate::hooks;\n").is_empty());
    assert!(violations("http/mod.rs", "/// see crate::collectors\nfn f() {}\n").is_empty());

    let writes = [
        "fn f() { std::fs::write(p, b\"x\").unwrap(); }",
        "fn f() { let f = File::create(p); }",
        "fn f() { fs::rename(a, b)?; }",
        "fn f() { OpenOptions::new()\n  .write(true)\n  .open(p) }",
        "fn f() { std::fs::OpenOptions::new().append(true).create(true).open(p) }",
    ];
    for code in writes {
        assert_eq!(
            violations("hooks/mod.rs", code),
            vec![Effect::WritesFiles],
            "{code}"
        );
        assert!(violations("fsutil.rs", code).is_empty(), "{code}");
    }
    // reading is not writing
    assert!(violations("apply/tree.rs", "OpenOptions::new().read(true).open(p)").is_empty());

    let spawn = "use std::process::{Command, Stdio};\nfn f() { let c = Command::new(\"x\"); }";
    assert_eq!(
        violations("hooks/chef.rs", spawn),
        vec![Effect::SpawnsChildren]
    );
    assert_eq!(
        violations("cache.rs", "fn f() { std::process::Command::new(\"x\"); }"),
        vec![Effect::SpawnsChildren]
    );
    assert!(violations("process.rs", spawn).is_empty());
    // clap's Command is not a child process
    assert!(violations(
        "cli/gen.rs",
        "use clap::Command;\nfn f() { Command::new(\"x\"); }"
    )
    .is_empty());

    let agent = "fn f() { let c = ureq::Agent::config_builder().build(); }";
    assert_eq!(
        violations("collectors/ec2.rs", agent),
        vec![Effect::BuildsHttpAgents]
    );
    assert!(violations("http/mod.rs", agent).is_empty());

    for code in [
        "fn f() { println!(\"x\"); }",
        "fn f() { print!(\"x\"); }",
        "fn f() { let _ = writeln!(std::io::stdout(), \"x\"); }",
    ] {
        assert_eq!(
            violations("daemon.rs", code),
            vec![Effect::WritesStdout],
            "{code}"
        );
        assert!(violations("output.rs", code).is_empty(), "{code}");
    }
    assert!(violations("cli/gen.rs", "fn f() { eprintln!(\"x\"); eprint!(\"y\"); }").is_empty());

    // a test module's fixtures are not code
    let with_tests =
        "fn f() {}\n#[cfg(test)]\nmod tests {\n fn g() { std::fs::write(p, b\"\").unwrap(); }\n}\n";
    assert!(violations("cache.rs", with_tests).is_empty());
}

/// The files a reader of the repository reads: code, tests, docs, packaging, the element.
fn repository_texts() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md"), root.join("Cargo.toml")];
    for dir in ["src", "tests", "docs", "hooks", "elements", "packaging"] {
        if root.join(dir).is_dir() {
            all_files(&root.join(dir), &mut paths);
        }
    }
    paths.sort();
    paths
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            Some((rel, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        // hidden entries are not the project's: tests/setup.sh puts the reference tools'
        // venvs in tests/.venv*, and the repository tracks no hidden file under these dirs
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The headings of a Markdown text (outside code blocks).
fn headings(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(line.trim_start_matches('#').trim().to_string());
        }
    }
    out
}

/// GitHub's anchors for `headings` (lower case, punctuation dropped, spaces as `-`, repeats
/// numbered).
fn anchors(headings: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in headings {
        let base: String = h
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let repeats = out
            .iter()
            .filter(|a| {
                **a == base
                    || a.strip_prefix(&format!("{base}-"))
                        .is_some_and(|n| n.parse::<u32>().is_ok())
            })
            .count();
        out.push(if repeats == 0 {
            base
        } else {
            format!("{base}-{repeats}")
        });
    }
    out
}

/// What is wrong with the references in `text` (file `rel`): a section sign (the numbered
/// sections of a specification the repository does not hold), a path to notes outside the
/// repository, a doc's quoted heading (the doc's path, a comma, the heading in double quotes)
/// that the doc does not have, a link anchor (`compatibility.md#anchor`) that does not exist,
/// or a weak-spot id (`W-C7`, `W12`) that docs/compatibility.md does not list. `docs` maps a
/// doc's name (`compatibility.md`) to its text.
fn reference_problems(rel: &str, text: &str, docs: &[(String, String)]) -> Vec<String> {
    let section_sign = '\u{a7}';
    let outside = [
        concat!("shared", "/spec"),
        concat!("DESIGN", ".md"),
        concat!("os-config", "-tools"),
        concat!("heat-deployments", ".md"),
    ];
    let quoted = regex::Regex::new(r#"docs/([A-Za-z0-9_-]+\.md), "([^"]*)("?)"#).unwrap();
    let split = regex::Regex::new(r"docs/[A-Za-z0-9_-]+\.md,\s*$").unwrap();
    let linked =
        regex::Regex::new(r"\]\((?:[A-Za-z0-9_./-]*/)?([A-Za-z0-9_-]+\.md)?#([a-z0-9_-]+)\)")
            .unwrap();
    let weak_spot = regex::Regex::new(r"\bW-?[A-Z]?[0-9]+\b").unwrap();
    let doc = |name: &str| {
        docs.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_str())
    };
    let compat = doc("compatibility.md").unwrap_or("");
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{rel}:{}", n + 1);
        if line.contains(section_sign) {
            found.push(format!(
                "{at}: a section sign; cite a docs/compatibility.md entry: {line}"
            ));
        }
        for o in outside {
            if line.contains(o) {
                found.push(format!(
                    "{at}: names {o}, which the repository does not hold: {line}"
                ));
            }
        }
        if split.is_match(line) {
            found.push(format!(
                "{at}: keep the doc and its quoted heading on one line"
            ));
        }
        for c in quoted.captures_iter(line) {
            let (name, heading) = (&c[1], &c[2]);
            if c[3].is_empty() {
                found.push(format!(
                    "{at}: keep the quoted heading of docs/{name} on one line"
                ));
            } else if !doc(name).is_some_and(|t| headings(t).iter().any(|h| h == heading)) {
                found.push(format!("{at}: docs/{name} has no heading \"{heading}\""));
            }
        }
        if rel.ends_with(".md") {
            for c in linked.captures_iter(line) {
                let name = c.get(1).map_or_else(
                    || rel.rsplit('/').next().unwrap_or(rel).to_string(),
                    |m| m.as_str().to_string(),
                );
                let Some(target) = doc(&name) else { continue };
                if !anchors(&headings(target)).iter().any(|a| a == &c[2]) {
                    found.push(format!(
                        "{at}: {name} has no heading with the anchor #{}",
                        &c[2]
                    ));
                }
            }
        }
        if !rel.ends_with("compatibility.md")
            && (rel.starts_with("src/") || rel.starts_with("tests/") || rel.starts_with("docs/"))
        {
            for m in weak_spot.find_iter(line) {
                let id = m.as_str();
                let listed = regex::Regex::new(&format!(r"\b{id}\b")).unwrap();
                if !listed.is_match(compat) {
                    found.push(format!(
                        "{at}: weak spot {id} is not listed in docs/compatibility.md"
                    ));
                }
            }
        }
    }
    found
}

/// docs/ by file name.
fn docs_by_name(texts: &[(String, String)]) -> Vec<(String, String)> {
    texts
        .iter()
        .filter_map(|(rel, t)| {
            let name = rel.strip_prefix("docs/")?;
            (!name.contains('/')).then(|| (name.to_string(), t.clone()))
        })
        .collect()
}

/// Code and docs cite only what the repository holds: docs/compatibility.md entries by their
/// heading, never numbered sections of a specification kept elsewhere.
#[test]
fn references_point_to_entries_the_repository_has() {
    let texts = repository_texts();
    let docs = docs_by_name(&texts);
    assert!(docs.iter().any(|(n, _)| n == "compatibility.md"));
    let found: Vec<String> = texts
        .iter()
        .flat_map(|(rel, text)| reference_problems(rel, text, &docs))
        .collect();
    assert!(
        found.is_empty(),
        "{} bad references:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_reference_checker_catches_each_kind_of_problem() {
    let compat = "# Compat\n\n## os-apply-config\n\n### Quirks and weak spots: decisions\n\n\
                  ### Quirks and weak spots: decisions\n\n```\n# not a heading\n```\n\
                  - W-C7 and W12 are listed.\n";
    let docs = vec![("compatibility.md".to_string(), compat.to_string())];
    let problems = |rel: &str, text: &str| reference_problems(rel, text, &docs).len();
    let good = [
        "//! (docs/compatibility.md, \"os-apply-config\")",
        "/// W-C7 and W12 (docs/compatibility.md, \"Quirks and weak spots: decisions\")",
    ];
    for line in good {
        assert_eq!(problems("src/x.rs", line), 0, "{line}");
    }
    assert_eq!(
        problems("docs/a.md", "[x](compatibility.md#os-apply-config)"),
        0
    );
    assert_eq!(
        problems("README.md", "[x](docs/compatibility.md#os-apply-config)"),
        0
    );
    assert_eq!(
        problems("docs/a.md", "[x](https://example.org/page#frag)"),
        0
    );
    assert_eq!(
        problems(
            "docs/compatibility.md",
            "[x](#quirks-and-weak-spots-decisions-1)"
        ),
        0
    );
    let bad = [
        ("src/x.rs", "//! The poll loop (\u{a7}1.3)"),
        (
            "src/x.rs",
            concat!("// see ../shared", "/spec", "/ for the details"),
        ),
        ("docs/x.md", concat!("see DESIGN", ".md")),
        ("docs/x.md", concat!("as the spec os-config", "-tools says")),
        (
            "src/x.rs",
            "//! (docs/compatibility.md, \"os-apply-config: templates\")",
        ),
        ("src/x.rs", "//! (docs/compatibility.md, \"not a heading\")"),
        ("src/x.rs", "//! (docs/compatibility.md, \"os-apply-config"),
        ("src/x.rs", "/// (docs/nothere.md, \"os-apply-config\")"),
        ("src/x.rs", "//! Rendering (docs/compatibility.md,"),
        (
            "docs/a.md",
            "[x](compatibility.md#os-apply-config-templates)",
        ),
        (
            "docs/a.md",
            "[x](compatibility.md#quirks-and-weak-spots-decisions-2)",
        ),
        ("tests/x.rs", concat!("// W-C", "99: an id nobody defined")),
        ("src/x.rs", concat!("// W", "99: an id nobody defined")),
    ];
    for (rel, line) in bad {
        assert_eq!(problems(rel, line), 1, "{rel}: {line}");
    }
}

/// Functions allowed over [`MAX_FN_LINES`]: only the legacy argparse emulator, by design
/// (the test fails when an entry is no longer needed).
const LONG_FN_ALLOWED: &[(&str, &str)] = &[
    // by design: the os-collect-config argparse emulator (docs/architecture.md, exceptions)
    ("config/cli.rs", "parse"),
];

const MAX_FN_LINES: usize = 100;

/// `(name, lines)` of every `fn` with a body in `code` (signature to closing brace).
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let code = blank_literals(code);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = fn_name(lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut opened, mut j) = (0i32, false, i);
        while j < lines.len() {
            for c in lines[j].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth <= 0) || (!opened && lines[j].trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        if opened {
            out.push((name, j - i + 1));
            // nested functions are counted with their parent
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// `code` with its comments and string and char literals blanked (line breaks kept), so a
/// brace or `fn` inside them is not taken for code.
fn blank_literals(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < chars.len() {
        let end = literal_end(&chars, i);
        if end == i {
            out.push(chars[i]);
            i += 1;
        } else {
            out.extend(
                chars[i..end]
                    .iter()
                    .map(|&c| if c == '\n' { c } else { ' ' }),
            );
            i = end;
        }
    }
    out
}

/// Where the comment or literal starting at `chars[i]` ends (exclusive); `i` if none starts.
fn literal_end(chars: &[char], i: usize) -> usize {
    let at = |k: usize| chars.get(k).copied();
    let from = |k: usize, what: &[char]| {
        (k..chars.len())
            .find(|&j| chars[j..].starts_with(what))
            .map_or(chars.len(), |j| j + what.len())
    };
    let ident = |k: Option<usize>| {
        k.and_then(|k| chars.get(k))
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    };
    match chars[i] {
        '/' if at(i + 1) == Some('/') => (i..chars.len())
            .find(|&j| chars[j] == '\n')
            .unwrap_or(chars.len()),
        '/' if at(i + 1) == Some('*') => from(i + 2, &['*', '/']),
        '"' => {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            (j + 1).min(chars.len())
        }
        // a raw string: r"…", r#"…"#, br"…"
        'r' if !ident(i.checked_sub(1))
            || (at(i.wrapping_sub(1)) == Some('b') && !ident(i.checked_sub(2))) =>
        {
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if at(i + 1 + hashes) != Some('"') {
                return i;
            }
            let mut close = vec!['"'];
            close.extend(std::iter::repeat_n('#', hashes));
            from(i + 2 + hashes, &close)
        }
        // a char literal, not a lifetime or label
        '\'' if at(i + 1) == Some('\\') => from(i + 3, &['\'']),
        '\'' if at(i + 2) == Some('\'') => i + 3,
        _ => i,
    }
}

/// The name declared by a `fn` line (`pub(crate) const fn name<T>(…`), if it is one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let name = leading_ident(rest);
    (!name.is_empty()).then_some(name)
}

#[test]
fn no_function_is_over_a_hundred_lines() {
    let mut long = Vec::new();
    for (rel, text) in &src_texts() {
        // test modules are cut; comments stay (they are part of a function's length)
        let code = match text.find("#[cfg(test)]\nmod tests") {
            Some(at) => &text[..at],
            None => &text[..],
        };
        for (name, n) in function_lengths(code) {
            if n > MAX_FN_LINES {
                long.push((rel.clone(), name, n));
            }
        }
    }
    let new: Vec<_> = long
        .iter()
        .filter(|(rel, name, _)| !LONG_FN_ALLOWED.contains(&(rel.as_str(), name.as_str())))
        .map(|(rel, name, n)| format!("src/{rel}: fn {name} has {n} lines"))
        .collect();
    assert!(
        new.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        new.join("\n")
    );
    let stale: Vec<_> = LONG_FN_ALLOWED
        .iter()
        .filter(|(rel, name)| !long.iter().any(|(r, n, _)| r == rel && n == name))
        .collect();
    assert!(
        stale.is_empty(),
        "allowed long functions that are no longer long (remove them): {stale:?}"
    );
}

#[test]
fn the_length_checker_counts_bodies() {
    let code = "pub(crate) fn short() {\n    a();\n}\n\nfn decl();\n\nconst fn long() -> u8 {\n"
        .to_string()
        + &"    x();\n".repeat(150)
        + "}\n";
    let found = function_lengths(&code);
    assert_eq!(found, vec![("short".into(), 3), ("long".into(), 152)]);
}

#[test]
fn the_length_checker_ignores_braces_in_literals_and_comments() {
    let code = r##"fn braces<'a>(x: &'a u8) -> u8 {
    // an unmatched { in a comment
    /* and } in
       a block comment { */
    let _ = (b'{', '}', '\'', '\\', "{\"", r#"}"#, br"{");
    'outer: loop {
        break 'outer;
    }
    *x
}

fn next() {
    let _ = "
fn inside_a_string() {";
}
"##;
    let found = function_lengths(code);
    assert_eq!(found, vec![("braces".into(), 10), ("next".into(), 4)]);
}

/// One cycle among `edges` (module → modules it names), as the path that closes it, if any.
fn find_cycle(edges: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let texts = src_texts();
    // lib.rs and main.rs are the crate's roots, not modules
    let modules: BTreeSet<&str> = texts
        .iter()
        .map(|(rel, _)| module_of(rel))
        .filter(|m| *m != "lib" && *m != "main")
        .collect();
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (rel, text) in &texts {
        let from = module_of(rel);
        if !modules.contains(from) {
            continue;
        }
        let named = edges.entry(from.to_string()).or_default();
        for to in crate_modules(&code_of(text)) {
            if to != from && modules.contains(to.as_str()) && !named.contains(&to) {
                named.push(to);
            }
        }
    }
    assert!(
        edges.len() > 10 && edges.values().map(Vec::len).sum::<usize>() > 20,
        "the module graph looks empty: {edges:?}"
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "import cycle between top-level modules: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_only_a_cycle() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<String, Vec<String>> = Default::default();
        for (from, to) in pairs {
            edges
                .entry(from.to_string())
                .or_default()
                .push(to.to_string());
        }
        edges
    };
    // a diamond has no cycle
    let diamond = graph(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]);
    assert_eq!(find_cycle(&diamond), None);
    // deploy -> hooks -> deploy, reached from cli
    let cyclic = graph(&[("cli", "deploy"), ("deploy", "hooks"), ("hooks", "deploy")]);
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec!["deploy".into(), "hooks".into(), "deploy".into()])
    );
    // `crate::{a, b::c}` groups count as edges
    assert_eq!(
        crate_modules("use crate::{hooks::Entry, fsutil};\nlet x = crate::notify::send();"),
        vec!["hooks", "fsutil", "notify"]
    );
}
