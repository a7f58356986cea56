//! `heat_local` and `local` collectors (ports of test_heat_local.py and test_local.py).

mod collectors_support;
mod common;

use collectors_support::*;
use heat_agent::config::Settings;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// test_heat_local.META_DATA / test_local.META_DATA
fn local_meta_data() -> Value {
    json!({"localstrA": "A", "localint9": 9, "localmap_xy": {"x": 42, "y": "foo"}})
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn heat_local_settings(paths: Vec<PathBuf>) -> Settings {
    let mut s = Settings::default();
    s.heat_local.path = paths;
    s
}

fn local_settings(paths: Vec<PathBuf>) -> Settings {
    let mut s = Settings::default();
    s.local.path = paths;
    s
}

fn private_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

#[test]
fn test_collect_heat_local() {
    capture_logs();
    let d = private_dir();
    let p = d.path().join("cfn-init-data");
    write(&p, &local_meta_data().to_string());
    let entries = collect("heat_local", &heat_local_settings(vec![p])).unwrap();
    assert_eq!(entries, vec![("heat_local".to_string(), local_meta_data())]);
    assert!(visible_logs().is_empty(), "{:?}", logs());
}

#[test]
fn test_collect_heat_local_twice() {
    let d = private_dir();
    let p = d.path().join("cfn-init-data");
    write(&p, &local_meta_data().to_string());
    let entries = collect("heat_local", &heat_local_settings(vec![p.clone(), p])).unwrap();
    assert_eq!(entries, vec![("heat_local".to_string(), local_meta_data())]);
}

#[test]
fn test_collect_heat_local_with_invalid_metadata() {
    capture_logs();
    let d = private_dir();
    let p = d.path().join("cfn-init-data");
    write(&p, "{");
    let msg = not_available(collect("heat_local", &heat_local_settings(vec![p.clone()])));
    assert!(msg.contains("Local metadata not found"), "{msg}");
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert!(
        logs().iter().any(|l| l.contains("is not valid JSON")),
        "{:?}",
        logs()
    );
}

/// Misnamed in the reference (test_collect_ec2_nofile): a missing heat_local file.
#[test]
fn test_collect_ec2_nofile() {
    let d = private_dir();
    let msg = not_available(collect(
        "heat_local",
        &heat_local_settings(vec![d.path().join("nope")]),
    ));
    assert!(msg.contains("Local metadata not found"), "{msg}");
}

#[test]
fn heat_local_later_files_update_top_level_keys() {
    let d = private_dir();
    let (a, b, empty) = (d.path().join("a"), d.path().join("b"), d.path().join("e"));
    write(&a, r#"{"x": {"deep": 1}, "y": 1}"#);
    write(&b, r#"{"x": {"other": 2}, "z": 3}"#);
    write(&empty, "{}");
    let entries = collect("heat_local", &heat_local_settings(vec![empty, a, b])).unwrap();
    assert_eq!(entries[0].1, json!({"x": {"other": 2}, "y": 1, "z": 3}));
    // an empty object alone is "not found"
    let e2 = d.path().join("e2");
    write(&e2, "{}");
    assert!(
        not_available(collect("heat_local", &heat_local_settings(vec![e2]))).contains("not found")
    );
}

#[test]
fn test_collect_local() {
    capture_logs();
    let d = private_dir();
    write(&d.path().join("test.json"), &local_meta_data().to_string());
    let entries = collect("local", &local_settings(vec![d.path().into()])).unwrap();
    assert_eq!(entries, vec![("test.json".to_string(), local_meta_data())]);
    assert!(visible_logs().is_empty(), "{:?}", logs());
}

#[test]
fn test_collect_local_world_writable() {
    let d = private_dir();
    let p = d.path().join("test.json");
    write(&p, &local_meta_data().to_string());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    let msg = not_available(collect("local", &local_settings(vec![d.path().into()])));
    assert_eq!(
        msg,
        format!(
            "{} is world writable. This is a security risk.",
            p.display()
        )
    );
}

#[test]
fn test_collect_local_world_writable_dir() {
    let d = private_dir();
    write(&d.path().join("test.json"), &local_meta_data().to_string());
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let msg = not_available(collect("local", &local_settings(vec![d.path().into()])));
    assert!(
        msg.contains("is world writable. This is a security risk."),
        "{msg}"
    );
    assert!(msg.contains(&d.path().display().to_string()), "{msg}");
}

#[test]
fn test_collect_local_owner_not_uid() {
    let d = private_dir();
    let dir: PathBuf = if nix::unistd::getuid().is_root() {
        let sub = d.path().join("foreign");
        std::fs::create_dir(&sub).unwrap();
        std::os::unix::fs::chown(&sub, Some(65534), Some(65534)).unwrap();
        sub
    } else {
        // a directory root owns
        "/".into()
    };
    let msg = not_available(collect("local", &local_settings(vec![dir.clone()])));
    assert_eq!(
        msg,
        format!(
            "{} is owned by another user. This is a security risk.",
            dir.display()
        )
    );
}

#[test]
fn test_collect_local_orders_multiple() {
    let d = private_dir();
    let d2 = private_dir();
    write(&d.path().join("99test.json"), r#"{"n": 99}"#);
    write(&d2.path().join("00test.json"), r#"{"n": 0}"#);
    write(&d.path().join("Zed"), r#"{"n": "Z"}"#);
    write(&d.path().join("a"), r#"{"n": "a"}"#);
    std::fs::create_dir(d.path().join("adir")).unwrap();
    write(&d.path().join(".hidden"), "not json");
    let entries = collect(
        "local",
        &local_settings(vec![d.path().into(), d2.path().into()]),
    )
    .unwrap();
    assert_eq!(names(&entries), ["00test.json", "99test.json", "Zed", "a"]);
}

#[test]
fn test_collect_invalid_json_fail() {
    let d = private_dir();
    let p = d.path().join("bad.json");
    write(&p, "{");
    let msg = not_available(collect("local", &local_settings(vec![d.path().into()])));
    assert!(
        msg.starts_with(&format!("{} is not valid JSON (", p.display())),
        "{msg}"
    );
}

#[test]
fn test_collect_local_path_nonexist() {
    capture_logs();
    let d = private_dir();
    let missing = d.path().join("nope");
    let entries = collect("local", &local_settings(vec![missing.clone()])).unwrap();
    assert!(entries.is_empty());
    let expected = format!("WARN {} not found. Skipping", missing.display());
    assert!(logs().contains(&expected), "{:?}", logs());
}

#[test]
fn local_missing_dir_does_not_stop_the_next_one() {
    let d = private_dir();
    write(&d.path().join("x.json"), "[1]");
    let entries = collect(
        "local",
        &local_settings(vec![d.path().join("nope"), d.path().into()]),
    )
    .unwrap();
    assert_eq!(entries, vec![("x.json".to_string(), json!([1]))]);
}

#[test]
fn local_duplicate_names_across_dirs_keep_dir_order() {
    let (d1, d2) = (private_dir(), private_dir());
    write(&d1.path().join("same"), "1");
    write(&d2.path().join("same"), "2");
    let entries = collect(
        "local",
        &local_settings(vec![d1.path().into(), d2.path().into()]),
    )
    .unwrap();
    assert_eq!(
        entries,
        vec![
            ("same".to_string(), json!(1)),
            ("same".to_string(), json!(2))
        ]
    );
}
