//! The os-apply-config front end beyond the reference's own tests: CLI goldens (`-m a -m b`,
//! `OS_CONFIG_FILES=`, `--boolean-key` exit 255, `.oac` mode forms;
//! (docs/compatibility.md, "os-apply-config")), legacy names, environment variables, and the improvements (no rewrite of unchanged files,
//! `--diff`, `.tera` templates, all-or-nothing writes).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct T {
    dir: tempfile::TempDir,
}

impl T {
    fn new() -> T {
        let t = T {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(t.p("templates")).unwrap();
        t
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
    fn template(&self, rel: &str, text: &str) -> PathBuf {
        self.file(&format!("templates/{rel}"), text)
    }
    fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(common::legacy(self.dir.path(), name));
        c.current_dir(self.dir.path())
            .env_remove("OS_CONFIG_FILES")
            .env("OS_CONFIG_FILES_PATH", self.p("no-list.json"))
            .env("OS_CONFIG_APPLIER_TEMPLATES", self.p("templates"));
        c
    }
    fn oac(&self, args: &[&str]) -> Output {
        self.cmd("os-apply-config").args(args).output().unwrap()
    }
    /// Install templates/ into out/ with metadata m.json.
    fn install(&self, extra: &[&str]) -> Output {
        let (m, t, o) = (self.p("m.json"), self.p("templates"), self.p("out"));
        let mut args = vec![
            "-m",
            m.to_str().unwrap(),
            "-t",
            t.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.oac(&args)
    }
    fn out(&self, rel: &str) -> String {
        std::fs::read_to_string(self.p("out").join(rel)).unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version_under_legacy_and_native_names() {
    let t = T::new();
    for name in ["os-apply-config", "os-config-applier"] {
        let o = t.cmd(name).arg("--version").output().unwrap();
        assert_eq!(
            (o.status.code(), text(&o.stdout)),
            (Some(0), "14.1.0\n".to_string()),
            "{name}"
        );
    }
    let o = Command::new(common::bin())
        .args(["apply", "--version"])
        .output()
        .unwrap();
    assert!(
        text(&o.stdout).starts_with("heat-agent "),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn usage_errors_exit_2() {
    let t = T::new();
    let o = t.oac(&["--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("Usage"), "{}", text(&o.stderr));
    assert_eq!(t.oac(&["--v"]).status.code(), Some(2), "ambiguous prefix");
    let o = t.oac(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("--boolean-key"));
}

#[test]
fn repeated_metadata_flag_replaces_and_prefixes_work() {
    let t = T::new();
    let a = t.file("a.json", r#"{"k": "from-a"}"#);
    let b = t.file("b.json", r#"{"k2": "from-b"}"#);
    let o = t.oac(&[
        "-m",
        a.to_str().unwrap(),
        "-m",
        b.to_str().unwrap(),
        "--key",
        "k",
    ]);
    assert_eq!(o.status.code(), Some(1), "a was dropped");
    let o = t.oac(&[
        "--meta",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--key",
        "k2",
        "--ty",
        "raw",
    ]);
    assert_eq!(text(&o.stdout), "from-b\n");
    // `--ke` matches --key and --key-default: ambiguous, a usage error as in argparse
    let o = t.oac(&["-m", b.to_str().unwrap(), "--ke", "k2"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn os_config_files_environment() {
    let t = T::new();
    let a = t.file("a.json", r#"{"k": "a", "n": {"x": 1}}"#);
    let b = t.file("b.json", r#"{"n": {"y": 2}}"#);
    let list = t.file("list.json", &format!("[\"{}\"]", a.display()));
    let joined = format!("{}:{}", a.display(), b.display());
    let o = t
        .cmd("os-apply-config")
        .env("OS_CONFIG_FILES", &joined)
        .args(["--key", "n", "--type", "raw"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout), "{\"x\": 1, \"y\": 2}\n");
    // an empty OS_CONFIG_FILES means no metadata at all, not the JSON list
    let o = t
        .cmd("os-apply-config")
        .env("OS_CONFIG_FILES", "")
        .env("OS_CONFIG_FILES_PATH", &list)
        .args(["--key", "k"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("key k does not exist in ['']"),
        "{}",
        text(&o.stderr)
    );
    let o = t
        .cmd("os-apply-config")
        .env("OS_CONFIG_FILES_PATH", &list)
        .args(["--key", "k"])
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout), "a\n");
}

#[test]
fn key_output_forms() {
    let t = T::new();
    let m = t.file("m.json", r#"{"f": 1e20, "big": 12345678901234567890, "u": "é", "l": ["é", 1.0], "t": true, "nl": "a\n"}"#);
    let key = |k: &str| {
        text(
            &t.oac(&["-m", m.to_str().unwrap(), "--key", k, "--type", "raw"])
                .stdout,
        )
    };
    assert_eq!(key("f"), "1e+20\n");
    assert_eq!(key("big"), "12345678901234567890\n");
    assert_eq!(key("u"), "é\n");
    assert_eq!(key("l"), "[\"\\u00e9\", 1.0]\n");
    assert_eq!(key("t"), "true\n");
    assert_eq!(key("nl"), "a\n\n");
    assert_eq!(key("l.-1"), "1.0\n");
    let o = t.oac(&["-m", m.to_str().unwrap(), "--key", "u", "--type", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("requested validation of unknown type: nosuch"));
}

#[test]
fn boolean_key_non_boolean_exits_255() {
    let t = T::new();
    let m = t.file("m.json", r#"{"x": "true"}"#);
    assert_eq!(
        t.oac(&["-m", m.to_str().unwrap(), "--boolean-key", "x"])
            .status
            .code(),
        Some(255)
    );
}

#[test]
fn unchanged_files_are_not_rewritten() {
    let t = T::new();
    t.file("m.json", r#"{"v": "one"}"#);
    t.template("etc/a.conf", "v={{v}}\n");
    t.template("etc/b.conf", "static\n");
    assert_eq!(t.install(&[]).status.code(), Some(0));
    let meta = |rel: &str| std::fs::metadata(t.p("out").join(rel)).unwrap();
    let (a1, b1) = (meta("etc/a.conf"), meta("etc/b.conf"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = t.install(&[]);
    assert!(text(&o.stderr).contains("unchanged"), "{}", text(&o.stderr));
    let (a2, b2) = (meta("etc/a.conf"), meta("etc/b.conf"));
    assert_eq!((a1.ino(), a1.mtime_nsec()), (a2.ino(), a2.mtime_nsec()));
    assert_eq!((b1.ino(), b1.mtime_nsec()), (b2.ino(), b2.mtime_nsec()));
    // a content change rewrites only that file
    t.file("m.json", r#"{"v": "two"}"#);
    assert_eq!(t.install(&[]).status.code(), Some(0));
    assert_eq!(t.out("etc/a.conf"), "v=two\n");
    assert_ne!(meta("etc/a.conf").ino(), a1.ino());
    assert_eq!(meta("etc/b.conf").ino(), b1.ino());
    // a mode change (by .oac) rewrites too
    t.template("etc/b.conf.oac", "mode: 0600\n");
    assert_eq!(t.install(&[]).status.code(), Some(0));
    assert_eq!(meta("etc/b.conf").mode() & 0o777, 0o600);
}

#[test]
fn diff_previews_and_writes_nothing() {
    let t = T::new();
    t.file("m.json", r#"{"v": "new"}"#);
    t.template("etc/a.conf", "keep\nv={{v}}\n");
    t.template("etc/fresh", "hello\n");
    t.file("out/etc/a.conf", "keep\nv=old\n");
    let o = t.install(&["--diff"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let a = t.p("out/etc/a.conf").display().to_string();
    let fresh = t.p("out/etc/fresh").display().to_string();
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!(
            "--- {a}\n+++ {a}\n@@ -1,2 +1,2 @@\n keep\n-v=old\n+v=new\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "--- /dev/null\n+++ {fresh}\n@@ -0,0 +1 @@\n+hello\n"
        )),
        "{out}"
    );
    assert_eq!(t.out("etc/a.conf"), "keep\nv=old\n");
    assert!(!t.p("out/etc/fresh").exists());
}

#[test]
fn validate_renders_but_writes_nothing() {
    let t = T::new();
    t.file("m.json", "{}");
    let marker = t.p("ran");
    let script = t.template(
        "run.sh",
        &format!("#!/bin/sh\ntouch {}\necho out\n", marker.display()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = t.install(&["--validate"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(marker.exists(), "executable templates run in --validate");
    assert!(!t.p("out").exists());
}

#[test]
fn executable_template_gets_metadata_and_failure_aborts_everything() {
    let t = T::new();
    t.file("m.json", r#"{"s": {"x": "é"}, "other": 1}"#);
    let ok = t.template("a/echo", "#!/bin/sh\ncat\n");
    std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(t.install(&["--subhash", "s"]).status.code(), Some(0));
    assert_eq!(t.out("a/echo"), "{\"x\": \"\\u00e9\"}");
    let bad = t.template("z/fail", "#!/bin/sh\necho partial\necho oops >&2\nexit 3\n");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_dir_all(t.p("out")).unwrap();
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("config script failed: {}", bad.display())),
        "{err}"
    );
    assert!(err.contains("partial") && err.contains("oops"), "{err}");
    assert!(
        !t.p("out").exists(),
        "nothing may be written when any template fails"
    );
}

#[test]
fn tera_templates_render_without_suffix() {
    let t = T::new();
    t.file("m.json", r#"{"servers": [{"name": "a", "port": 1}, {"name": "b", "port": 2}], "cfg": {"k": [1, "é"]}}"#);
    t.template(
        "etc/app.conf.tera",
        "{% for s in servers %}{{ s.name }}:{{ s.port }}\n{% endfor %}{{ cfg.k | to_json }}\n",
    );
    t.template("etc/app.conf.tera.oac", "mode: 0640\n");
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(t.out("etc/app.conf"), "a:1\nb:2\n[1, \"\\u00e9\"]\n");
    assert_eq!(
        std::fs::metadata(t.p("out/etc/app.conf")).unwrap().mode() & 0o777,
        0o640
    );
    assert!(!t.p("out/etc/app.conf.tera").exists());
    // strict: an undefined variable is an error and nothing is written
    t.template("etc/bad.tera", "{{ nope }}");
    std::fs::remove_dir_all(t.p("out")).unwrap();
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("could not render tera template"),
        "{}",
        text(&o.stderr)
    );
    assert!(!t.p("out").exists());
}

#[test]
fn tera_and_plain_template_with_same_output_is_an_error() {
    let t = T::new();
    t.file("m.json", "{}");
    t.template("x", "a");
    t.template("x.tera", "b");
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("both render to /x"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn crlf_templates_give_lf_and_partials_come_from_cwd() {
    let t = T::new();
    t.file("m.json", r#"{"x": "X"}"#);
    t.template("crlf", "a\r\n{{#x}}\r\nb={{x}}\r\n{{/x}}\r\n");
    t.template("part", "a\n  {{>ml}}\nb\n");
    t.file("ml.mustache", "multi {{x}}\nline\n");
    assert_eq!(t.install(&[]).status.code(), Some(0));
    assert_eq!(t.out("crlf"), "a\nb=X\n");
    assert_eq!(t.out("part"), "a\n  multi X\n  line\nb\n");
}

#[test]
fn tree_walk_rules() {
    let t = T::new();
    t.file("m.json", "{}");
    t.template("real/f", "f\n");
    t.template(".hidden", "h\n");
    std::os::unix::fs::symlink(t.p("templates/real"), t.p("templates/linkdir")).unwrap();
    std::os::unix::fs::symlink(t.p("templates/real/f"), t.p("templates/linkfile")).unwrap();
    t.template("only.oac", "mode: 0600\n");
    assert_eq!(t.install(&[]).status.code(), Some(0));
    assert_eq!(t.out("real/f"), "f\n");
    assert_eq!(t.out(".hidden"), "h\n");
    assert_eq!(t.out("linkfile"), "f\n");
    assert!(
        !t.p("out/linkdir").exists(),
        "symlinked directories are not entered"
    );
    assert!(!t.p("out/only.oac").exists() && !t.p("out/only").exists());
    // a template root that does not exist is success with nothing written
    let o = t.oac(&[
        "-m",
        t.p("m.json").to_str().unwrap(),
        "-t",
        "/nonexistent-root",
        "-o",
        t.p("o2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("[INFO] success"));
}

#[test]
fn oac_yaml11_mode_forms() {
    let t = T::new();
    t.file("m.json", "{}");
    for (name, oac, want) in [
        ("a", "mode: 1:30", 0o132),
        ("b", "mode: 0x1ff", 0o777),
        ("c", "mode: 0755", 0o755),
    ] {
        t.template(name, "x\n");
        t.template(&format!("{name}.oac"), oac);
        let _ = want;
    }
    assert_eq!(t.install(&[]).status.code(), Some(0));
    for (name, want) in [("a", 0o132), ("b", 0o777), ("c", 0o755)] {
        assert_eq!(
            std::fs::metadata(t.p("out").join(name)).unwrap().mode() & 0o777,
            want,
            "{name}"
        );
    }
    t.template("d", "x\n");
    t.template("d.oac", "mode: 0o755\n");
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("mode '0o755' is not numeric"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn bad_metadata_is_a_clean_error() {
    let t = T::new();
    t.file("m.json", "{");
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "Could not parse metadata file: {}",
            t.p("m.json").display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let list = t.file("list.json", "{}");
    let o = t.oac(&["--os-config-files", list.to_str().unwrap(), "--key", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("No list defined in json file"));
}

#[test]
fn allow_empty_false_deletes_through_the_binary() {
    let t = T::new();
    t.file("m.json", r#"{"on": false}"#);
    t.template("maybe", "{{#on}}content{{/on}}");
    t.template("maybe.oac", "allow_empty: false\n");
    t.file("out/maybe", "old");
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!t.p("out/maybe").exists());
    assert!(text(&o.stderr).contains(&format!("deleting {}", t.p("out/maybe").display())));
    let o = t.install(&[]);
    assert!(text(&o.stderr).contains(&format!(
        "not creating empty {}",
        t.p("out/maybe").display()
    )));
}

#[test]
fn native_subcommand_works_like_legacy() {
    let t = T::new();
    let m = t.file("m.json", r#"{"a": {"b": 7}}"#);
    let o = Command::new(common::bin())
        .args([
            "apply",
            "-m",
            m.to_str().unwrap(),
            "--key",
            "a.b",
            "--type",
            "int",
        ])
        .env_remove("OS_CONFIG_FILES")
        .output()
        .unwrap();
    assert_eq!(text(&o.stdout), "7\n");
    let _ = Path::new("");
}

#[test]
fn directory_in_the_way_fails_before_anything_is_written() {
    let t = T::new();
    t.file("m.json", "{}");
    t.template("a_first", "a\n");
    t.template("z_dir", "z\n");
    std::fs::create_dir_all(t.p("out/z_dir")).unwrap();
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("it is a directory"),
        "{}",
        text(&o.stderr)
    );
    assert!(!t.p("out/a_first").exists());
}

/// A first render of many files into new directories (the batch the agent makes durable with
/// one syncfs per filesystem when the system is quiet): every file is there with its mode, no
/// temporary file is left, and a second render rewrites nothing.
#[test]
fn a_large_first_render_into_new_directories() {
    let t = T::new();
    t.file("m.json", r#"{"svc": {"port": 8080, "name": "web"}}"#);
    for d in 0..6 {
        for k in 0..7 {
            let rel = format!("etc/d{d}/sub/f{k}.conf");
            t.template(
                &rel,
                &format!("{d}-{k} {{{{svc.name}}}}:{{{{svc.port}}}}\n"),
            );
            if k == 3 {
                t.template(&format!("{rel}.oac"), "mode: 0640\n");
            }
        }
    }
    let o = t.install(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut seen = 0;
    for d in 0..6 {
        for k in 0..7 {
            let rel = format!("etc/d{d}/sub/f{k}.conf");
            assert_eq!(t.out(&rel), format!("{d}-{k} web:8080\n"));
            let mode = std::fs::metadata(t.p(&format!("out/{rel}")))
                .unwrap()
                .mode()
                & 0o777;
            assert_eq!(mode, if k == 3 { 0o640 } else { 0o644 }, "{rel}");
            seen += 1;
        }
        let names: Vec<String> = std::fs::read_dir(t.p(&format!("out/etc/d{d}/sub")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 7, "temporary files left: {names:?}");
    }
    assert_eq!(seen, 42);
    let before = std::fs::metadata(t.p("out/etc/d5/sub/f6.conf"))
        .unwrap()
        .modified()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let o = t.install(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let after = std::fs::metadata(t.p("out/etc/d5/sub/f6.conf"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "an unchanged file was rewritten");
}

/// With many templates (rendered on two threads), a failure is still reported like the
/// reference: only the first failing template in tree order (directory order, as os.walk),
/// one error, nothing written.
#[test]
fn with_many_templates_only_the_first_failure_in_tree_order_is_reported() {
    let t = T::new();
    t.file("m.json", r#"{"x": 1, "a": true, "c": true}"#);
    for i in 0..40 {
        t.template(&format!("f{i:02}"), "ok {{x}}\n");
    }
    t.template("f05", "bad {{#a}}x{{/b}}\n");
    t.template("f33", "bad {{#c}}y{{/d}}\n");
    let first_bad = std::fs::read_dir(t.p("templates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n == "f05" || n == "f33")
        .unwrap();
    let o = t.install(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(err.matches("Section end tag mismatch").count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "could not render moustache template {}",
            t.p(&format!("templates/{first_bad}")).display()
        )),
        "{err}"
    );
    assert!(!t.p("out").exists(), "something was written");
}

#[test]
fn under_journald_lines_carry_a_priority_and_no_timestamp() {
    let t = T::new();
    t.file("m.json", r#"{"v": "one"}"#);
    t.template("etc/a.conf", "v={{v}}\n");
    let stderr_for = |journal_stream: Option<&str>| {
        let path = t.p("stderr");
        let file = std::fs::File::create(&path).unwrap();
        let own = format!(
            "{}:{}",
            file.metadata().unwrap().dev(),
            file.metadata().unwrap().ino()
        );
        let (m, tp, o) = (t.p("m.json"), t.p("templates"), t.p("out"));
        let status = t
            .cmd("os-apply-config")
            .args(["-m", m.to_str().unwrap(), "-t", tp.to_str().unwrap()])
            .args(["-o", o.to_str().unwrap()])
            .env("JOURNAL_STREAM", journal_stream.unwrap_or(&own))
            .stderr(file)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(&path).unwrap()
    };
    let err = stderr_for(None);
    assert!(err.contains("<6>[INFO] success"), "{err}");
    assert!(!err.contains("] [INFO]"), "timestamp under journald: {err}");
    // an inherited JOURNAL_STREAM that is not our stderr: the reference format
    let err = stderr_for(Some("1:1"));
    assert!(
        err.starts_with('[') && err.contains("] [INFO] success"),
        "{err}"
    );
}

/// A missing template root and a missing `-m` file are warned about, one line each naming the
/// path; the exit status stays the reference's (0).
#[test]
fn missing_template_root_and_metadata_file_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = tmp.path().join("m.json");
    std::fs::write(&meta, "{}").unwrap();
    let gone = tmp.path().join("gone.json");
    let root = tmp.path().join("no-templates");
    let out = std::process::Command::new(common::bin())
        .arg("apply")
        .arg("-t")
        .arg(&root)
        .arg("-o")
        .arg(tmp.path().join("out"))
        .arg("-m")
        .arg(&meta)
        .arg(&gone)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warned = |path: &std::path::Path| {
        err.lines()
            .filter(|l| l.contains("WARN") && l.contains(&*path.to_string_lossy()))
            .count()
    };
    assert_eq!(warned(&root), 1, "{err}");
    assert_eq!(warned(&gone), 1, "{err}");
    assert_eq!(warned(&meta), 0, "{err}");
}
