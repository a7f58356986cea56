//! Issue 11: killed or overlapping collects left temp files and backup staging dirs forever.
//! The real `os-collect-config` sweeps its own leftovers at start: only its own names, only
//! ones untouched for an hour; a fresh one (another live run's in-flight file) and anything
//! not named like ours stay.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

fn age(path: &Path, by: Duration) {
    let f = fs::File::open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

fn file(path: &Path, stale: bool) {
    fs::write(path, b"x").unwrap();
    if stale {
        age(path, Duration::from_secs(2 * 3600));
    }
}

fn dir_with_files(path: &Path, stale: bool) {
    fs::create_dir_all(path).unwrap();
    fs::write(path.join("k.json"), b"{}").unwrap();
    if stale {
        age(path, Duration::from_secs(2 * 3600));
    }
}

#[test]
fn stale_own_leftovers_are_swept_at_start_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cache = root.join("cache");
    let run = root.join("run");
    let backup = run.join("backup");
    fs::create_dir_all(&cache).unwrap();
    fs::create_dir_all(&backup).unwrap();

    let swept = [
        cache.join(".k.json.tmp0123abcd"),
        cache.join(".k.json.orig.tmpdeadbeef"),
        cache.join(".os_config_files.json.tmp00000001"),
        backup.join(".k.json.tmp0123abcd"),
    ];
    let kept_files = [
        cache.join(".k.json.tmp89abcdef"), // fresh: maybe another run's in-flight file
        cache.join("tmpab12cd34"),         // the Python tool's temp name
        cache.join("tmp_meta_list.ab12cd34"),
        cache.join(".k.json.tmp0123abc"), // not our pattern
        cache.join("notes.tmp12345678"),
    ];
    for p in &swept {
        file(p, true);
    }
    for (i, p) in kept_files.iter().enumerate() {
        file(p, i != 0);
    }
    let swept_dirs = [
        run.join(".backup.new0123abcd"),
        run.join(".backup.old0123abcd"),
        backup.join(".heat-agent-backup.new0123abcd"),
    ];
    let kept_dirs = [
        run.join(".backup.new89abcdef"), // fresh: another run's backup being built
        run.join(".other.new0123abcd"),  // someone else's
        run.join("backup.old0123abcd"),
    ];
    for d in &swept_dirs {
        dir_with_files(d, true);
    }
    for (i, d) in kept_dirs.iter().enumerate() {
        dir_with_files(d, i != 0);
    }
    age(&backup, Duration::from_secs(2 * 3600));

    let out = Command::new(common::legacy(root, "os-collect-config"))
        .args([
            "--config-file",
            "/dev/null",
            "--print-cachedir",
            "--cachedir",
        ])
        .arg(&cache)
        .arg("--backup-cachedir")
        .arg(&backup)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(swept[0].exists(), "--print-cachedir touches nothing");

    let out = common::collect_local_once(
        &common::legacy(root, "os-collect-config"),
        None,
        &cache,
        &backup,
        &root.join("missing"),
        &[],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    for p in swept.iter().chain(&swept_dirs) {
        assert!(!p.exists(), "left behind: {}", p.display());
    }
    for p in kept_files.iter().chain(&kept_dirs) {
        assert!(
            p.exists(),
            "swept but not ours or not stale: {}",
            p.display()
        );
    }
    assert!(backup.is_dir());
}

/// After a kill between the two renames of the backup swap, `.backup.old…` is the only backup:
/// it is kept while the backup itself is missing, in a run whose sweep does remove a stale
/// temp file of the same kill (so the test shows the sweep ran and spared the backup).
#[test]
fn the_only_backup_left_is_not_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let run = root.join("run");
    let old = run.join(".backup.old0123abcd");
    dir_with_files(&old, true);
    fs::create_dir_all(root.join("cache")).unwrap();
    let stray = root.join("cache/.k.json.tmp0123abcd");
    file(&stray, true);
    let out = common::collect_local_once(
        &common::legacy(root, "os-collect-config"),
        None,
        &root.join("cache"),
        &run.join("backup"),
        &root.join("missing"),
        &[],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        !stray.exists(),
        "the sweep did not run: {}",
        stray.display()
    );
    assert!(old.join("k.json").exists());
}
