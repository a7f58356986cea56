//! Issue 11: `backup_cachedir` as a mount point (a tmpfs, or a bind mount of the same
//! filesystem). A mount point cannot be renamed or removed (EBUSY); the backup used to fail on
//! every run. Runs the real `os-collect-config --one-time` twice and checks the backup holds
//! the cache each time, with nothing logged as an error.

mod common;

use common::{Response, Server};
use serde_json::json;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lost+found")
        .collect();
    v.sort();
    v
}

fn backup_follows_the_cache(root: &Path, backup: &Path) {
    let doc = Arc::new(Mutex::new(json!({"deployments": [
        {"name": "first", "group": "os-apply-config", "config": {"v": 1}}
    ]})));
    let d2 = doc.clone();
    let server = Server::start(move |_| Response::new(200, d2.lock().unwrap().to_string()));
    let cache = root.join("cache");
    let run = || {
        let out = Command::new(common::legacy(root, "os-collect-config"))
            .args(["--config-file", "/dev/null", "--cachedir"])
            .arg(&cache)
            .arg("--backup-cachedir")
            .arg(backup)
            .arg("--request-metadata-url")
            .arg(server.url("/meta.json"))
            .args(["--one-time", "--command", "true", "request"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("backup"), "{err}");
    };
    run();
    // the backup is taken before the command runs, so before its commit (`.last`)
    let without = |skip: &dyn Fn(&str) -> bool| -> Vec<String> {
        names(&cache).into_iter().filter(|n| !skip(n)).collect()
    };
    assert_eq!(names(backup), without(&|n| n.ends_with(".last")));
    assert_eq!(
        fs::read(backup.join("first.json")).unwrap(),
        fs::read(cache.join("first.json")).unwrap()
    );
    // the next document drops `first` and brings `second`: the backup follows
    *doc.lock().unwrap() = json!({"deployments": [
        {"name": "second", "group": "os-apply-config", "config": {"v": 2}}
    ]});
    run();
    // `first.json` stays in the cache (the reference never deletes); the first commit's
    // `.last` files are in this backup, the second's is not yet
    assert_eq!(names(backup), without(&|n| n == "second.json.last"));
    assert!(backup.join("first.json.last").exists());
    assert_eq!(
        fs::read(backup.join("second.json")).unwrap(),
        fs::read(cache.join("second.json")).unwrap()
    );
    assert_eq!(
        fs::read(backup.join("os_config_files.json")).unwrap(),
        fs::read(cache.join("os_config_files.json")).unwrap()
    );
    // nothing left beside or inside the mount point
    let parent: Vec<String> = names(backup.parent().unwrap());
    assert_eq!(parent, ["backup"], "{parent:?}");
}

#[test]
fn backup_cachedir_on_its_own_tmpfs() {
    let tmp = tempfile::tempdir().unwrap();
    let backup = tmp.path().join("run/backup");
    let Some(_m) = common::mount(
        &["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs"],
        &backup,
    ) else {
        return;
    };
    backup_follows_the_cache(tmp.path(), &backup);
}

#[test]
fn backup_cachedir_bind_mounted_from_the_same_filesystem() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("elsewhere");
    fs::create_dir_all(&src).unwrap();
    let backup = tmp.path().join("run/backup");
    let Some(_m) = common::mount(&["--bind", src.to_str().unwrap()], &backup) else {
        return;
    };
    backup_follows_the_cache(tmp.path(), &backup);
}
