//! Property-based fuzzing of every parser that reads network or file input: the CFN XML, the
//! JSON reader (also against real Python), the INI and TOML configuration, `.oac` YAML,
//! mustache and tera. Structure-aware generators (deep nesting, huge numbers, surrogates,
//! aliases, unbalanced tags) plus byte-level mutations; fastrand, already a dependency, drives
//! them with a seed that replays a failure.
//!
//! Each target runs in a child process of this test binary, on a 2 MiB stack (a daemon
//! thread's), so a panic, an abort or a stack overflow fails the target and names its seed
//! and case. Budget (see docs/fuzzing.md): `HEAT_AGENT_FUZZ_CASES` per target (default 150),
//! `HEAT_AGENT_FUZZ_SECONDS` per target (no default), `HEAT_AGENT_FUZZ_SEED` (default fixed).

mod common;
use fastrand::Rng;
use std::process::Command;
use std::time::{Duration, Instant};

const CHILD: &str = "HEAT_AGENT_FUZZ_CHILD";

fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn seed() -> u64 {
    env_num("HEAT_AGENT_FUZZ_SEED").unwrap_or(0x4841_4741)
}

/// Run `target` over the budget in a child process; the parent checks how it ended.
fn fuzz(name: &str, target: fn(&mut Rng)) {
    if std::env::var(CHILD).as_deref() == Ok(name) {
        let cases = env_num("HEAT_AGENT_FUZZ_CASES").unwrap_or(150);
        let deadline =
            env_num("HEAT_AGENT_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
        let seed = seed();
        let name = name.to_string();
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let mut case = 0u64;
                while deadline.map_or(case < cases, |d| Instant::now() < d) {
                    let case_seed = seed.wrapping_add(case);
                    eprintln!("case {case} seed {case_seed}");
                    target(&mut Rng::with_seed(case_seed));
                    case += 1;
                }
                eprintln!("{name}: {case} cases passed");
            })
            .unwrap()
            .join()
            .unwrap();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last_case = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("case "))
        .unwrap_or("");
    assert!(
        out.status.success() && stderr.contains("cases passed"),
        "fuzz target {name} failed ({:?}) at {last_case} (replay: HEAT_AGENT_FUZZ_SEED=<seed> HEAT_AGENT_FUZZ_CASES=1)\n{}",
        out.status,
        stderr.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

/// Byte-level damage to a generated document: flips, cuts, duplicated slices, stray tokens.
fn mutate(rng: &mut Rng, text: String, tokens: &[&str]) -> String {
    let mut b = text.into_bytes();
    for _ in 0..rng.usize(0..4) {
        if b.is_empty() {
            break;
        }
        let at = rng.usize(..b.len());
        match rng.u8(..5) {
            0 => b[at] = rng.u8(..),
            1 => b.truncate(at),
            2 => {
                let end = (at + rng.usize(1..64)).min(b.len());
                let slice = b[at..end].to_vec();
                b.splice(at..at, slice);
            }
            3 => {
                let t = pick(rng, tokens).as_bytes().to_vec();
                b.splice(at..at, t);
            }
            _ => {
                b.remove(at);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---------------------------------------------------------------- JSON

const JSON_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "-0.0",
    "1e400",
    "-1E400",
    "1e-400",
    "1.5e+308",
    "2e308",
    "123456789012345678901234567890",
    "1e99999999999999999999",
    "-0.0e-99999999999999999999",
    "NaN",
    "Infinity",
    "-Infinity",
    "1E2",
    "3.141592653589793",
    "5e-324",
];
const JSON_STRINGS: &[&str] = &[
    "",
    "a",
    "\\u00e9",
    "\\ud83d\\ude00",
    "\\ud800",
    "\\udc00",
    "\\ud800\\u0041",
    "\\ud800\\ud800",
    "\\n\\t\\\\\\\"\\/\\b\\f\\r",
    "é",
    "\u{1F600}",
    "\\u0000",
    "x\\u00",
    "%s{}[]",
];

fn json_value(rng: &mut Rng, depth: usize, out: &mut String) {
    if depth == 0 || rng.u8(..4) == 0 {
        match rng.u8(..5) {
            0 => out.push_str(pick(rng, &["null", "true", "false"])),
            1 | 2 => out.push_str(pick(rng, JSON_NUMBERS)),
            _ => {
                out.push('"');
                for _ in 0..rng.usize(0..3) {
                    out.push_str(pick(rng, JSON_STRINGS));
                }
                out.push('"');
            }
        }
        return;
    }
    let ws = |rng: &mut Rng| pick(rng, &["", " ", "\n", "\t ", "\r\n"]);
    if rng.bool() {
        out.push('[');
        for i in 0..rng.usize(0..4) {
            if i > 0 {
                out.push(',');
            }
            out.push_str(ws(rng));
            json_value(rng, depth - 1, out);
        }
        out.push(']');
    } else {
        out.push('{');
        for i in 0..rng.usize(0..4) {
            if i > 0 {
                out.push_str(", ");
            }
            out.push('"');
            out.push_str(pick(rng, &["a", "b", "a", "\\u00e9", "\\ud800", "k k"]));
            out.push_str("\": ");
            json_value(rng, depth - 1, out);
        }
        out.push('}');
    }
}

/// A JSON-ish document: random structure, sometimes nested past the reader's bound.
fn json_doc(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.u8(..10) == 0 {
        let n = rng.usize(900..1200);
        let (open, close) = if rng.bool() {
            ("[", "]")
        } else {
            ("{\"a\":", "}")
        };
        out.push_str(&open.repeat(n));
        json_value(rng, 2, &mut out);
        out.push_str(&close.repeat(n));
    } else {
        json_value(rng, 6, &mut out);
    }
    if rng.u8(..3) == 0 {
        out = mutate(
            rng,
            out,
            &["NaN", "-Infinity", "\\ud800", "[", "{", "\"", "1e", "]"],
        );
    }
    out
}

fn json_target(rng: &mut Rng) {
    use heat_agent::pyjson;
    let doc = json_doc(rng);
    let Ok(v) = pyjson::loads(&doc, "fuzz") else {
        return;
    };
    // what is written reads back as the same value, in both layouts
    for text in [pyjson::dumps(&v), pyjson::dumps_indent(&v, 1)] {
        let back = pyjson::loads(&text, "fuzz").expect("our own output reads back");
        assert!(pyjson::semantic_eq(&v, &back), "{doc} -> {text}");
        assert_eq!(pyjson::text_semantic_eq(&text, &v), Ok(true), "{text}");
    }
    let _ = pyjson::py_repr(&v);
    let _ = pyjson::truthy(&v);
    // the agent's own typed files (serde_json's writer) round-trip too, within serde_json's
    // nesting bound of 128
    let own = serde_json::to_string(&v).unwrap();
    match pyjson::from_str::<serde_json::Value>(&own) {
        Ok(back) => assert_eq!(pyjson::dumps(&back), pyjson::dumps(&v)),
        Err(e) => assert!(e.contains("recursion limit"), "{own}: {e}"),
    }
}

#[test]
fn fuzz_json_reader() {
    fuzz("fuzz_json_reader", json_target);
}

/// The reader accepts exactly what Python's `json.loads` accepts, and writes what
/// `json.dumps` writes (lone surrogates aside, docs/compatibility.md).
#[test]
fn json_reader_agrees_with_python() {
    let Some(venv) = common::reference_venv(&["bin/python"]) else {
        return;
    };
    let python = venv.join("bin/python");
    let cases = env_num("HEAT_AGENT_FUZZ_CASES").unwrap_or(150) as usize * 2;
    let mut rng = Rng::with_seed(seed());
    // Python's own recursion limit sits a little below ours: stay clear of it here
    let docs: Vec<String> = (0..cases)
        .map(|_| loop {
            let d = json_doc(&mut rng);
            if d.matches(['[', '{']).count() < 800 {
                break d;
            }
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("docs");
    let hex: Vec<String> = docs
        .iter()
        .map(|d| d.bytes().map(|b| format!("{b:02x}")).collect())
        .collect();
    std::fs::write(&input, hex.join("\n")).unwrap();
    let script = "import json,sys\n\
        for line in open(sys.argv[1]).read().split('\\n'):\n\
        \x20   try:\n\
        \x20       print('OK ' + json.dumps(json.loads(bytes.fromhex(line).decode('utf-8'))))\n\
        \x20   except (ValueError, RecursionError):\n\
        \x20       print('ERR')\n";
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), docs.len());
    let (mut accepted, mut refused) = (0, 0);
    for (doc, theirs) in docs.iter().zip(&answers) {
        let ours = heat_agent::pyjson::loads(doc, "d");
        match (ours, theirs.strip_prefix("OK ")) {
            (Ok(v), Some(t)) => {
                accepted += 1;
                let lone = doc.contains("\\ud8") || doc.contains("\\udc");
                if !lone {
                    assert_eq!(heat_agent::pyjson::dumps(&v), t, "{doc}");
                }
            }
            (Err(_), None) => refused += 1,
            (ours, theirs) => panic!("{doc:?}: ours {ours:?}, Python {theirs:?}"),
        }
    }
    assert!(
        accepted > cases / 4 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

// ---------------------------------------------------------------- CFN XML

fn cfn_target(rng: &mut Rng) {
    let mut xml = String::new();
    if rng.bool() {
        xml.push_str(pick(
            rng,
            &[
                "<?xml version=\"1.0\"?>",
                "<!DOCTYPE R [<!ENTITY e \"<a>\">]>",
                "<!-- c -->",
                "",
            ],
        ));
    }
    xml.push_str("<R><DescribeStackResourceResult><StackResourceDetail>");
    let depth = match rng.u8(..6) {
        0 => rng.usize(250..260),
        1 => rng.usize(1000..40_000),
        _ => rng.usize(0..10),
    };
    for _ in 0..depth {
        xml.push_str(pick(
            rng,
            &[
                "<a>",
                "<a x='/>'>",
                "<a y=\">\">",
                "<c/><a>",
                "<!-- <d> --><a>",
                "<![CDATA[<e>]]><a>",
                "<?p <f>?><a>",
            ],
        ));
    }
    xml.push_str("<Metadata>");
    let mut json = String::new();
    json_value(rng, 4, &mut json);
    xml.push_str(&json.replace('&', "&amp;").replace('<', "&lt;"));
    xml.push_str("</Metadata>");
    xml.push_str(&"</a>".repeat(depth));
    xml.push_str("</StackResourceDetail></DescribeStackResourceResult></R>");
    if rng.u8(..3) == 0 {
        xml = mutate(
            rng,
            xml,
            &["<a>", "</a>", "<!--", "]]>", "&e;", "&#0;", "<"],
        );
    }
    let _ = heat_agent::collectors::cfn::field_value(xml.as_bytes(), "srv.Metadata", "Metadata");
}

#[test]
fn fuzz_cfn_xml() {
    fuzz("fuzz_cfn_xml", cfn_target);
}

// ---------------------------------------------------------------- INI and TOML configuration

fn ini_target(rng: &mut Rng) {
    let mut ini = String::new();
    for _ in 0..rng.usize(0..12) {
        let line = match rng.u8(..8) {
            0 => format!(
                "[{}]",
                pick(
                    rng,
                    &["DEFAULT", "cfn", "heat", "zaqar", "", "x]y", "DEFAULT "]
                )
            ),
            1 => pick(rng, &["# c", "; c", "", "   ", "\t"]).to_string(),
            2 => format!("  {}", pick(rng, &["continued", "= x", "[s]"])),
            _ => format!(
                "{}{}{}",
                pick(
                    rng,
                    &[
                        "command",
                        "polling_interval",
                        "collectors",
                        "cachedir",
                        "metadata_url",
                        "x",
                        "",
                        "debug"
                    ]
                ),
                pick(rng, &["=", " = ", ":", " : ", ""]),
                pick(
                    rng,
                    &[
                        "1",
                        "-1",
                        "1e400",
                        "nan",
                        "a,b",
                        "$x",
                        "${x}",
                        "%(x)s",
                        "true",
                        "\u{1F600}",
                        "http://h/",
                        ""
                    ]
                )
            ),
        };
        ini.push_str(&line);
        ini.push_str(pick(rng, &["\n", "\r\n", "\n\n"]));
    }
    if rng.u8(..3) == 0 {
        ini = mutate(rng, ini, &["[", "]", "=", "\n ", "%(", "$"]);
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("os-collect-config.conf");
    std::fs::write(&path, ini).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "os-collect-config".into(),
        "--config-file".into(),
        path.into(),
        "--print".into(),
    ];
    let _ = heat_agent::config::parse_collect_args(&args, &|_| None, heat_agent::collectors::NAMES);
}

#[test]
fn fuzz_ini_config() {
    fuzz("fuzz_ini_config", ini_target);
}

fn toml_target(rng: &mut Rng) {
    let mut toml = String::new();
    for _ in 0..rng.usize(0..10) {
        let line = match rng.u8(..6) {
            0 => format!(
                "[{}]",
                pick(rng, &["cfn", "heat", "zaqar", "a.b", "\"q\"", "deploy", ""])
            ),
            1 => {
                let n = if rng.u8(..4) == 0 {
                    rng.usize(100..5000)
                } else {
                    rng.usize(0..4)
                };
                format!("x = {}1{}", "[".repeat(n), "]".repeat(n))
            }
            2 => format!(
                "t = {}",
                "{a = ".repeat(rng.usize(0..200)) + "1" + &"}".repeat(rng.usize(0..200))
            ),
            _ => format!(
                "{} = {}",
                pick(
                    rng,
                    &[
                        "command",
                        "polling_interval",
                        "collectors",
                        "metadata_url",
                        "timeout",
                        "x"
                    ]
                ),
                pick(
                    rng,
                    &[
                        "1",
                        "-1",
                        "1e400",
                        "nan",
                        "inf",
                        "\"a\"",
                        "[\"a\", \"b\"]",
                        "true",
                        "'''x'''",
                        "1979-05-27",
                        "\"\\ud800\""
                    ]
                )
            ),
        };
        toml.push_str(&line);
        toml.push('\n');
    }
    if rng.u8(..3) == 0 {
        toml = mutate(rng, toml, &["[", "]]", "=", "\"", "{", "\n"]);
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("config.toml"), toml).unwrap();
    let dir = tmp.path().display().to_string();
    let _ =
        heat_agent::config::load_native(&|k| (k == "HEAT_AGENT_CONFIG_DIR").then(|| dir.clone()));
}

#[test]
fn fuzz_toml_config() {
    fuzz("fuzz_toml_config", toml_target);
}

// ---------------------------------------------------------------- .oac YAML

fn oac_target(rng: &mut Rng) {
    let mut y = String::new();
    match rng.u8(..4) {
        0 => {
            // alias bombs of random width and height
            let width = rng.usize(2..12);
            y.push_str(&format!("a0: &a0 [{}]\n", vec!["x"; width].join(", ")));
            for i in 1..rng.usize(1..12) {
                y.push_str(&format!(
                    "a{i}: &a{i} [{}]\n",
                    vec![format!("*a{}", i - 1); width].join(", ")
                ));
            }
        }
        1 => {
            let n = rng.usize(1..3000);
            y.push_str(&format!("mode: {}0{}", "[".repeat(n), "]".repeat(n)));
        }
        _ => {
            for _ in 0..rng.usize(0..6) {
                y.push_str(&format!(
                    "{}: {}\n",
                    pick(
                        rng,
                        &[
                            "mode",
                            "owner",
                            "group",
                            "allow_empty",
                            "x",
                            "? k",
                            "&a k",
                            "*a"
                        ]
                    ),
                    pick(
                        rng,
                        &[
                            "0755",
                            "0o755",
                            "1:30",
                            "yes",
                            "!!int '7'",
                            "!!str 0",
                            "root",
                            "0",
                            "-1",
                            "99999999999999999999999999999999999999999",
                            "[a, b]",
                            "{a: 1}",
                            "*a",
                            "&a 1",
                            "!!binary x",
                            "!x y",
                            "1e400",
                            ".nan"
                        ]
                    )
                ));
            }
        }
    }
    if rng.u8(..3) == 0 {
        y = mutate(
            rng,
            y,
            &["&a ", "*a", "[", "{", ": ", "\n- ", "!!", "---\n"],
        );
    }
    let _ =
        heat_agent::apply::oac::parse_control(&y, "t", &heat_agent::apply::oac::UserDb::default());
}

#[test]
fn fuzz_oac_yaml() {
    fuzz("fuzz_oac_yaml", oac_target);
}

// ---------------------------------------------------------------- mustache and tera

fn context(rng: &mut Rng) -> serde_json::Value {
    let mut doc = String::new();
    json_value(rng, 3, &mut doc);
    let extra = heat_agent::pyjson::loads(&doc, "ctx").unwrap_or(serde_json::Value::Null);
    let n = rng.usize(0..4);
    serde_json::json!({"a": vec![1; n], "b": true, "c": "x", "l": [[1, 2], [3]], "m": {"k": extra}, "n": 3})
}

fn mustache_target(rng: &mut Rng) {
    let mut t = String::new();
    let deep = rng.u8(..8) == 0;
    for _ in 0..rng.usize(0..40) {
        t.push_str(pick(
            rng,
            &[
                "{{#a}}",
                "{{/a}}",
                "{{^b}}",
                "{{/b}}",
                "{{#l}}",
                "{{/l}}",
                "{{.}}",
                "{{c}}",
                "{{{m}}}",
                "{{&m.k}}",
                "{{!x}}",
                "{{>p}}",
                "{{=<% %>=}}",
                "<%c%>",
                "<%={{ }}=%>",
                "text",
                "\n",
                "  {{#a}}  \n",
                "{{",
                "}}",
                "{{#a.b}}",
                "{{/a.b}}",
                "{{n}}",
            ],
        ));
    }
    if deep {
        let n = rng.usize(200..3000);
        t = format!("{}{t}{}", "{{#b}}".repeat(n), "{{/b}}".repeat(n));
    }
    if rng.u8(..3) == 0 {
        t = mutate(rng, t, &["{{", "}}", "{{#", "{{/", "{{^", "{{>"]);
    }
    let v = context(rng);
    let _ = heat_agent::render::mustache::render(&t, &v, &heat_agent::render::mustache::NoPartials);
}

#[test]
fn fuzz_mustache() {
    fuzz("fuzz_mustache", mustache_target);
}

fn tera_target(rng: &mut Rng) {
    let mut t = String::new();
    for _ in 0..rng.usize(0..30) {
        t.push_str(pick(
            rng,
            &[
                "{% if b %}",
                "{% endif %}",
                "{% for i in a %}",
                "{% endfor %}",
                "{{ i }}",
                "{{ c }}",
                "{{ m | to_json }}",
                "{{ m.k | py_str }}",
                "{% macro f(n) %}{% if n > 0 %}{{ self::f(n=n-1) }}{% endif %}{% endmacro f %}",
                "{{ self::f(n=n) }}",
                "{% raw %}{% if %}{% endraw %}",
                "{# {% if #}",
                "{{ \"}}\" }}",
                "{{ (((1))) }}",
                "{{ not not b }}",
                "{%- if b -%}",
                "{% set x = 1 %}",
                "{% filter upper %}",
                "{% endfilter %}",
                "text",
                "\n",
                "{{",
                "%}",
                "{% else %}",
            ],
        ));
    }
    match rng.u8(..8) {
        0 => {
            let n = rng.usize(50..3000);
            t = format!("{}{t}{}", "{% if b %}".repeat(n), "{% endif %}".repeat(n));
        }
        1 => {
            let n = rng.usize(50..3000);
            t.push_str(&format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)));
        }
        2 => {
            t = format!(
                "{{% macro g() %}}{{{{ self::g() }}}}{{% endmacro g %}}{t}{{{{ self::g() }}}}"
            )
        }
        _ => {}
    }
    if rng.u8(..3) == 0 {
        t = mutate(rng, t, &["{%", "%}", "{{", "}}", "(", "\"", "{#"]);
    }
    let v = context(rng);
    let _ = heat_agent::render::tera::render("fuzz.tera", &t, &v);
}

#[test]
fn fuzz_tera() {
    fuzz("fuzz_tera", tera_target);
}
