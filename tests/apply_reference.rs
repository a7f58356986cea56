//! Ports of os-apply-config's `tests/test_apply_config.py`, run against the real
//! binary (under its legacy names) and, for the tests of internal functions, the library API.
//! The unit-level reference tests (collect_config, value types, oac_file, strip_hash,
//! load_list_from_json, templates_dir) live next to the code in `src/apply/`.

mod common;

use heat_agent::apply::oac::{Control, UserDb};
use heat_agent::apply::tree::{self, RenderEnv, Rendered, TemplatePath};
use heat_agent::apply::Log;
use heat_agent::render::mustache;
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apply")
}

fn templates() -> PathBuf {
    fixtures().join("templates")
}

fn config() -> Value {
    json!({
        "x": "foo",
        "y": false,
        "z": null,
        "btrue": true,
        "bfalse": false,
        "database": {"url": "sqlite:///blah"},
        "l": [1, 2],
    })
}

/// (output path, body, allow_empty, mode)
fn expected_output() -> Vec<(&'static str, &'static str, bool, Option<u32>)> {
    vec![
        ("/etc/glance/script.conf", "foo\n", true, None),
        (
            "/etc/keystone/keystone.conf",
            "[foo]\ndatabase = sqlite:///blah\n",
            true,
            None,
        ),
        ("/etc/control/empty", "foo\n", true, None),
        ("/etc/control/allow_empty", "", false, None),
        ("/etc/control/mode", "lorem modus\n", true, Some(0o755)),
    ]
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn write_config(&self, name: &str, v: &Value) -> String {
        let p = self.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_string_lossy().into_owned()
    }
    fn oac(&self, name: &str) -> PathBuf {
        common::legacy(self.path(), name)
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(self.oac("os-apply-config"));
        c.args(args)
            .current_dir(self.path())
            .env_remove("OS_CONFIG_FILES")
            .env(
                "OS_CONFIG_FILES_PATH",
                self.path().join("no-such-list.json"),
            )
            .env(
                "OS_CONFIG_APPLIER_TEMPLATES",
                self.path().join("no-templates"),
            );
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn key_run(args: &[&str]) -> (i32, String, String) {
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    let mut all = vec!["--metadata", m.as_str()];
    all.extend_from_slice(args);
    let o = f.run(&all);
    (o.status.code().unwrap(), stdout(&o), stderr(&o))
}

#[test]
fn test_print_key() {
    let (rc, out, err) = key_run(&["--key", "database.url", "--type", "raw"]);
    assert_eq!(
        (rc, out.as_str(), err.as_str()),
        (0, "sqlite:///blah\n", "")
    );
}

#[test]
fn test_print_key_json_dict() {
    let (rc, out, err) = key_run(&["--key", "database", "--type", "raw"]);
    assert_eq!(rc, 0);
    assert_eq!(out, "{\"url\": \"sqlite:///blah\"}\n");
    assert_eq!(err, "");
}

#[test]
fn test_print_key_json_list() {
    let (rc, out, err) = key_run(&["--key", "l", "--type", "raw"]);
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "[1, 2]\n", ""));
}

#[test]
fn test_print_non_string_key() {
    let (rc, out, err) = key_run(&["--key", "y", "--type", "raw"]);
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "false\n", ""));
}

#[test]
fn test_print_null_key() {
    let (rc, out, err) = key_run(&["--key", "z", "--type", "raw", "--key-default", ""]);
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "\n", ""));
}

#[test]
fn test_print_key_missing() {
    let (rc, out, err) = key_run(&["--key", "does.not.exist"]);
    assert_eq!(rc, 1);
    assert_eq!(out, "");
    assert!(
        err.contains("[ERROR] key does.not.exist does not exist in ['"),
        "{err}"
    );
}

#[test]
fn test_print_key_missing_default() {
    let (rc, out, err) = key_run(&["--key", "does.not.exist", "--key-default", ""]);
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "\n", ""));
}

#[test]
fn test_print_key_wrong_type() {
    let (rc, _, err) = key_run(&["--key", "x", "--type", "int"]);
    assert_eq!(rc, 1);
    assert!(
        err.contains("cannot interpret value 'foo' as type int"),
        "{err}"
    );
}

#[test]
fn test_print_key_from_list() {
    let (rc, out, err) = key_run(&["--key", "l.0", "--type", "int"]);
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "1\n", ""));
}

#[test]
fn test_print_key_from_list_missing() {
    let (rc, _, err) = key_run(&["--key", "l.2", "--type", "int"]);
    assert_eq!(rc, 1);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn test_print_key_from_list_missing_default() {
    let (rc, out, err) = key_run(&["--key", "l.2", "--type", "int", "--key-default", ""]);
    assert_eq!((rc, out.as_str(), err.as_str()), (0, "\n", ""));
}

#[test]
fn test_print_templates() {
    let f = Fixture::new();
    let o = f.run_env(
        &["--print-templates"],
        &[("OS_CONFIG_APPLIER_TEMPLATES", "/some/where")],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "/some/where\n");
    assert_eq!(stderr(&o), "");
}

#[test]
fn test_boolean_key() {
    assert_eq!(key_run(&["--boolean-key", "btrue"]).0, 0);
    assert_eq!(key_run(&["--boolean-key", "bfalse"]).0, 1);
    // main() returns -1: exit status 255
    assert_eq!(key_run(&["--boolean-key", "x"]).0, 255);
    assert_eq!(key_run(&["--boolean-key", "missing"]).0, 255);
    assert_eq!(key_run(&["--boolean-key", "z"]).0, 255);
}

#[test]
fn test_boolean_key_and_key() {
    let (rc, out, err) = key_run(&["--boolean-key", "btrue", "--key", "x"]);
    assert_eq!(rc, 0);
    assert_eq!(out, "foo\n");
    assert!(
        err.contains(
            "[WARNING] --key is not compatible with --boolean-key. --boolean-key ignored."
        ),
        "{err}"
    );
}

#[test]
fn test_os_config_files() {
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    let list = f.write_config("os_config_files.json", &json!([m]));
    let o = f.run(&[
        "--key",
        "database.url",
        "--type",
        "raw",
        "--os-config-files",
        &list,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "sqlite:///blah\n");
}

fn check_output_tree(out: &Path) {
    for (path, body, allow_empty, _) in expected_output() {
        let full = out.join(&path[1..]);
        if allow_empty {
            assert_eq!(std::fs::read_to_string(&full).unwrap(), body, "{path}");
        } else {
            assert!(!full.exists(), "{path} exists");
        }
    }
}

fn install(f: &Fixture, meta: &str, extra: &[&str]) -> Output {
    let out = f.path().join("out");
    let t = templates();
    let mut args = vec![
        "-m",
        meta,
        "-t",
        t.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    f.run(&args)
}

#[test]
fn test_install_config() {
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    let o = install(&f, &m, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_output_tree(&f.path().join("out"));
    assert!(
        stderr(&o).trim_end().ends_with("[INFO] success"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn test_install_config_subhash() {
    let f = Fixture::new();
    let m = f.write_config(
        "config.json",
        &json!({"OpenStack::Config": {"x": "foo", "database": {"url": "sqlite:///blah"}}}),
    );
    let o = install(&f, &m, &["--subhash", "OpenStack::Config"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    check_output_tree(&f.path().join("out"));
    let bad = install(&f, &m, &["--subhash", "OpenStack::Config.x"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad)
        .contains("key 'OpenStack::Config.x' does not correspond to a hash in the metadata file"));
}

#[test]
fn test_delete_if_not_allowed_empty() {
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    let target = f.path().join("out/etc/control/allow_empty");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, "").unwrap();
    let o = install(&f, &m, &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!target.exists());
    assert!(
        stderr(&o).contains(&format!("[INFO] deleting {}", target.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn test_respect_file_permissions() {
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    let target = f.path().join("out/etc/keystone/keystone.conf");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    assert_eq!(install(&f, &m, &[]).status.code(), Some(0));
    assert_eq!(std::fs::metadata(&target).unwrap().mode(), 0o100644);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[foo]\ndatabase = sqlite:///blah\n"
    );
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&target, "stale").unwrap();
    assert_eq!(install(&f, &m, &[]).status.code(), Some(0));
    assert_eq!(std::fs::metadata(&target).unwrap().mode(), 0o100600);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[foo]\ndatabase = sqlite:///blah\n"
    );
}

fn env_with<'a>(log: &'a Log, users: &'a UserDb) -> RenderEnv<'a> {
    RenderEnv {
        users,
        partials: &mustache::NoPartials,
        log,
    }
}

#[test]
fn test_build_tree() {
    let log = Log::capture();
    let users = UserDb::default();
    let paths = tree::template_paths(&templates());
    let tree = tree::build_tree(&paths, &config(), &env_with(&log, &users)).unwrap();
    let mut got: Vec<(String, String, bool, Option<u32>)> = tree
        .iter()
        .map(|r: &Rendered| {
            (
                r.output.clone(),
                String::from_utf8(r.body.clone()).unwrap(),
                r.control.allow_empty,
                r.control.mode,
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, bool, Option<u32>)> = expected_output()
        .into_iter()
        .map(|(p, b, a, m)| (p.to_string(), b.to_string(), a, m))
        .collect();
    want.sort();
    assert_eq!(got, want);
}

fn render_one(path: &Path, cfg: &Value) -> (Result<Vec<u8>, String>, Vec<String>) {
    let log = Log::capture();
    let users = UserDb::default();
    let r = tree::render_template(path, cfg, &mut None, &env_with(&log, &users));
    (r, log.lines())
}

#[test]
fn test_render_template() {
    let script = templates().join("etc/glance/script.conf");
    assert_eq!(
        render_one(&script, &json!({"x": "abc"})).0.unwrap(),
        b"abc\n"
    );
    let e = render_one(&script, &json!({})).0.unwrap_err();
    assert!(
        e.starts_with(&format!(
            "config script failed: {}\n\nwith output:\n\n",
            script.display()
        )),
        "{e}"
    );
}

#[test]
fn test_render_template_bad_template() {
    let f = Fixture::new();
    let bt = f.path().join("bad_template");
    std::fs::write(&bt, "{{#foo}}bar={{bar}}{{/bar}}").unwrap();
    let (r, lines) = render_one(&bt, &json!({"foo": [{"bar": "abc"}]}));
    assert!(r
        .unwrap_err()
        .contains("could not render moustache template"));
    assert!(
        lines.iter().any(|l| l.contains("Section end tag mismatch")),
        "{lines:?}"
    );
}

#[test]
fn test_render_moustache() {
    assert_eq!(
        mustache::render(
            "ab{{x.a}}cd",
            &json!({"x": {"a": "123"}}),
            &mustache::NoPartials
        )
        .unwrap(),
        "ab123cd"
    );
}

#[test]
fn test_render_moustache_bad_key() {
    assert_eq!(
        mustache::render("{{badkey}}", &json!({}), &mustache::NoPartials).unwrap(),
        ""
    );
}

#[test]
fn test_render_moustache_none() {
    assert_eq!(
        mustache::render("foo: {{foo}}", &json!({"foo": null}), &mustache::NoPartials).unwrap(),
        "foo: "
    );
}

#[test]
fn test_render_executable() {
    let script = templates().join("etc/glance/script.conf");
    let out = tree::render_executable(&script, &json!({"x": "foo"}).to_string()).unwrap();
    assert_eq!(out, b"foo\n");
}

#[test]
fn test_render_executable_failure() {
    let script = templates().join("etc/glance/script.conf");
    let e = tree::render_executable(&script, "{}").unwrap_err();
    assert!(
        e.contains("config script failed") && e.contains("KeyError"),
        "{e}"
    );
}

#[test]
fn test_template_paths() {
    let mut got: Vec<TemplatePath> = tree::template_paths(&templates());
    got.sort_by(|a, b| a.output.cmp(&b.output));
    let mut want: Vec<TemplatePath> = expected_output()
        .into_iter()
        .map(|(p, ..)| TemplatePath {
            template: templates().join(&p[1..]),
            output: p.to_string(),
        })
        .collect();
    want.sort_by(|a, b| a.output.cmp(&b.output));
    assert_eq!(got, want);
}

#[test]
fn test_control_mode() {
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    assert_eq!(install(&f, &m, &[]).status.code(), Some(0));
    let mode = std::fs::metadata(f.path().join("out/etc/control/mode"))
        .unwrap()
        .mode();
    assert_eq!(mode, 0o100755);
}

#[test]
fn test_control_chown() {
    let log = Log::capture();
    let users = UserDb::default();
    let paths = tree::template_paths(&fixtures().join("chown_templates"));
    let tree = tree::build_tree(&paths, &config(), &env_with(&log, &users)).unwrap();
    let mut got: Vec<(String, Control)> = tree.into_iter().map(|r| (r.output, r.control)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let owner0 = Control {
        owner: Some(0),
        ..Control::default()
    };
    let group0 = Control {
        group: Some(0),
        ..Control::default()
    };
    assert_eq!(
        got,
        vec![
            ("/group.gid".to_string(), group0.clone()),
            ("/group.name".to_string(), group0),
            ("/owner.name".to_string(), owner0.clone()),
            ("/owner.uid".to_string(), owner0),
        ]
    );
    // and the binary really applies them (as root: uid/gid 0 is what we are anyway)
    let f = Fixture::new();
    let m = f.write_config("config.json", &config());
    let out = f.path().join("out");
    let t = fixtures().join("chown_templates");
    let o = f.run(&[
        "-m",
        &m,
        "-t",
        t.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    if nix::unistd::geteuid().is_root() {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(std::fs::metadata(out.join("owner.uid")).unwrap().uid(), 0);
        assert_eq!(std::fs::metadata(out.join("group.name")).unwrap().gid(), 0);
    }
}

/// The heat-config `os-collect-config.conf` template rendered from the metadata of a real
/// Heat-managed guest equals what the reference rendered there ("Collector config template" in
/// (docs/compatibility.md, "Packaging, images, systemd, cloud-init")).
#[test]
fn os_collect_config_conf_matches_golden() {
    let dir = fixtures().join("golden");
    let template = std::fs::read_to_string(dir.join("os-collect-config.conf.mustache")).unwrap();
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("os-collect-config.metadata.json")).unwrap(),
    )
    .unwrap();
    let want = std::fs::read_to_string(dir.join("os-collect-config.conf.expected")).unwrap();
    assert_eq!(
        mustache::render(&template, &meta, &mustache::NoPartials).unwrap(),
        want
    );
    // and through the binary, as a template tree
    let f = Fixture::new();
    let m = f.write_config("m.json", &meta);
    let tdir = f.path().join("t/etc");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("os-collect-config.conf"), &template).unwrap();
    std::fs::write(tdir.join("os-collect-config.conf.oac"), "mode: 0600\n").unwrap();
    let out = f.path().join("out");
    let t = f.path().join("t");
    let o = f.run(&[
        "-m",
        &m,
        "-t",
        t.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written = out.join("etc/os-collect-config.conf");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), want);
    assert_eq!(std::fs::metadata(&written).unwrap().mode(), 0o100600);
}
