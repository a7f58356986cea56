//! The os-collect-config cache directory (spec os-config-tools §1.5), byte-compatible with the
//! reference: `<key>.json` (Python JSON, indent=1, no trailing newline, 0600), `.json.orig` (first
//! value ever seen), `.json.last` (last value the command succeeded with), `os_config_files.json`
//! (compact JSON list of paths). A cache written by the Python tool is read and continued.
//!
//! Fixes over the reference (docs/compatibility.md): every write is atomic and durable; a
//! truncated `.last` counts as "changed" instead of crashing; key names are made safe file names
//! (nothing is written outside the cache dir); the backup copy is swapped in atomically.

use crate::fsutil::{self, Owner};
use crate::pyjson;
use serde_json::Value;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Longest file-name stem we use (ext4 allows 255 bytes for the whole name).
const MAX_STEM: usize = 200;

pub struct Cache {
    dir: PathBuf,
}

/// The file-name stem for an output key. Ordinary names are kept as they are (compatibility);
/// `/`, NUL and over-long names are encoded so the file stays inside the cache dir.
pub fn safe_stem(key: &str) -> String {
    let needs_encoding = key.is_empty() || key.contains(['/', '\0']) || key.len() > MAX_STEM;
    if !needs_encoding {
        return key.to_string();
    }
    let mut out = String::new();
    for c in key.chars() {
        match c {
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        out.push_str("%empty");
    }
    if out.len() > MAX_STEM {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let mut cut = MAX_STEM - 17;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('-');
        out.push_str(&hex);
    }
    out
}

impl Cache {
    /// Open (creating when missing, with parents) the cache directory.
    pub fn open(dir: &Path) -> io::Result<Cache> {
        fsutil::ensure_dir(dir, 0o700)?;
        Ok(Cache {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<cachedir>/<key>.json`
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", safe_stem(key)))
    }

    fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
        let mut s = path.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    }

    /// Store the newest value for `key`; returns (path, changed-since-last-commit).
    pub fn store(&self, key: &str, value: &Value) -> io::Result<(PathBuf, bool)> {
        let mut r = self.store_all(&[(key.to_string(), value.clone())])?;
        Ok(r.remove(0))
    }

    /// Store every entry of a cycle (duplicates: the later value wins, as in the reference).
    /// All new files are staged, made durable together, then renamed into place, and the
    /// directory is synced once: one flush per cycle instead of two fsyncs per file.
    /// Returns (path, changed) per entry, in order.
    pub fn store_all(&self, entries: &[(String, Value)]) -> io::Result<Vec<(PathBuf, bool)>> {
        let mut staged: Vec<fsutil::Staged> = Vec::new();
        let mut orig_staged: Vec<PathBuf> = Vec::new();
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let path = self.path(key);
            let text = pyjson::dumps_indent(value, 1);
            let orig = Self::with_suffix(&path, ".orig");
            let mut changed = false;
            if !orig.exists() && !orig_staged.contains(&orig) {
                staged.push(fsutil::stage_with(
                    &orig,
                    text.as_bytes(),
                    0o600,
                    Owner::default(),
                    false,
                )?);
                orig_staged.push(orig);
                changed = true;
            }
            if fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
                staged.push(fsutil::stage_with(
                    &path,
                    text.as_bytes(),
                    0o600,
                    Owner::default(),
                    false,
                )?);
            }
            if !changed {
                changed = match self.last(key) {
                    Some(Ok(last)) => !pyjson::semantic_eq(&last, value),
                    Some(Err(e)) => {
                        log::warn!("{e}; treating {key} as changed");
                        true
                    }
                    None => true,
                };
            }
            out.push((path, changed));
        }
        self.switch_in(staged)?;
        Ok(out)
    }

    /// Commit several keys at once (see [`Cache::commit`]), with one flush.
    pub fn commit_all(&self, keys: &[String]) -> io::Result<()> {
        let mut staged = Vec::new();
        for key in keys {
            let path = self.path(key);
            match fs::read(&path) {
                Ok(bytes) => staged.push(fsutil::stage_with(
                    &Self::with_suffix(&path, ".last"),
                    &bytes,
                    0o600,
                    Owner::default(),
                    false,
                )?),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.switch_in(staged)
    }

    /// Make staged files durable together, rename them in order, sync the directory once.
    fn switch_in(&self, staged: Vec<fsutil::Staged>) -> io::Result<()> {
        if staged.is_empty() {
            return Ok(());
        }
        let refs: Vec<&fsutil::Staged> = staged.iter().collect();
        fsutil::sync_staged(&refs)?;
        for s in staged {
            s.commit()?;
        }
        fs::File::open(&self.dir)?.sync_all()
    }

    /// The committed value (`.last`), if any; `Err` names the file when it does not parse.
    pub fn last(&self, key: &str) -> Option<Result<Value, String>> {
        let last = Self::with_suffix(&self.path(key), ".last");
        let text = fs::read_to_string(&last).ok()?;
        Some(pyjson::loads(&text, &last.display().to_string()))
    }

    /// The newest stored value (`.json`), if it exists and parses.
    pub fn current(&self, key: &str) -> Option<Value> {
        let text = fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Mark `key`'s newest value as applied: copy `.json` to `.json.last` (atomically).
    pub fn commit(&self, key: &str) -> io::Result<()> {
        self.commit_all(&[key.to_string()])
    }

    /// Write `<cachedir>/<name>.json` holding the list of paths (compact Python JSON).
    pub fn store_meta_list(&self, name: &str, paths: &[PathBuf]) -> io::Result<PathBuf> {
        let list = Value::Array(
            paths
                .iter()
                .map(|p| Value::String(p.to_string_lossy().into_owned()))
                .collect(),
        );
        let path = self.path(name);
        fsutil::atomic_write(
            &path,
            pyjson::dumps(&list).as_bytes(),
            0o600,
            Owner::default(),
        )?;
        Ok(path)
    }

    /// Replace `backup` by a copy of the cache dir. The copy is built beside it and swapped in,
    /// so there is never a moment without a backup (the reference removes it first).
    pub fn backup_to(&self, backup: &Path) -> io::Result<()> {
        let parent = backup
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fsutil::ensure_dir(parent, 0o755)?;
        let name = backup
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".into());
        let staging = parent.join(format!(".{name}.new{:08x}", fastrand::u32(..)));
        let old = parent.join(format!(".{name}.old{:08x}", fastrand::u32(..)));
        copy_tree(&self.dir, &staging)?;
        let had_old = backup.exists();
        if had_old {
            fs::rename(backup, &old)?;
        }
        fs::rename(&staging, backup)?;
        if had_old {
            let _ = fs::remove_dir_all(&old);
        }
        fsutil::sync_parent(backup)
    }
}

/// Copy files (contents, modes, mtimes) from `src` into a new directory `dst`.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir(dst)?;
    fs::set_permissions(dst, fs::metadata(src)?.permissions())?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let target = dst.join(entry.file_name());
        if ft.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if ft.is_file() {
            let name = entry.file_name();
            // skip our own in-flight temp files
            if name.to_string_lossy().contains(".tmp") && name.to_string_lossy().starts_with('.') {
                continue;
            }
            fs::copy(entry.path(), &target)?;
            let meta = entry.metadata()?;
            fs::set_permissions(
                &target,
                fs::Permissions::from_mode(meta.permissions().mode()),
            )?;
            if let Ok(mtime) = meta.modified() {
                let f = fs::File::options().write(true).open(&target)?;
                let _ = f.set_modified(mtime);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::MetadataExt;

    // Port of os-collect-config tests/test_cache.py TestCache.test_cache
    #[test]
    fn test_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let cache = Cache::open(&dir).unwrap();
        let (path, changed) = cache.store("foo", &json!({"a": 1})).unwrap();
        assert!(changed);
        assert!(dir.is_dir());
        assert!(path.exists());
        assert!(dir.join("foo.json.orig").exists());
        assert!(!dir.join("foo.json.last").exists());
        // new content, still changed (no .last); .orig keeps the first content
        let (_, changed) = cache.store("foo", &json!({"a": 2})).unwrap();
        assert!(changed);
        assert_eq!(
            fs::read_to_string(dir.join("foo.json.orig")).unwrap(),
            "{\n \"a\": 1\n}"
        );
        cache.commit("foo").unwrap();
        assert!(dir.join("foo.json.last").exists());
        let (_, changed) = cache.store("foo", &json!({"a": 2})).unwrap();
        assert!(!changed);
        cache.commit("foo").unwrap();
        let (_, changed) = cache.store("foo", &json!({"a": 3})).unwrap();
        assert!(changed);
        let list = cache
            .store_meta_list("foo_list", std::slice::from_ref(&path))
            .unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(list).unwrap()).unwrap();
        assert_eq!(v, json!([path.to_string_lossy()]));
        // every file is 0600
        for e in fs::read_dir(&dir).unwrap() {
            assert_eq!(e.unwrap().metadata().unwrap().mode() & 0o777, 0o600);
        }
    }

    // TestCache.test_cache_ignores_json_inequality
    #[test]
    fn test_cache_ignores_json_inequality() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        let a: Value = serde_json::from_str(r#"{"a": "value-a", "b": "value-b"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b": "value-b", "a": "value-a"}"#).unwrap();
        cache.store("foo", &a).unwrap();
        cache.commit("foo").unwrap();
        let (_, changed) = cache.store("foo", &b).unwrap();
        assert!(!changed);
    }

    // TestCache.test_commit_no_cache
    #[test]
    fn test_commit_no_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        cache.commit("neversaved").unwrap();
        assert!(!tmp.path().join("neversaved.json.last").exists());
    }

    #[test]
    fn batch_store_and_commit_match_single_operations() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        let entries = vec![
            ("a".to_string(), json!({"x": 1})),
            ("b".to_string(), json!([1, 2])),
            ("a".to_string(), json!({"x": 2})), // a duplicate: the later value wins
        ];
        let r = cache.store_all(&entries).unwrap();
        assert!(r.iter().all(|(_, changed)| *changed));
        assert_eq!(
            fs::read_to_string(tmp.path().join("a.json.orig")).unwrap(),
            "{\n \"x\": 1\n}"
        );
        assert_eq!(cache.current("a"), Some(json!({"x": 2})));
        cache
            .commit_all(&["a".to_string(), "b".to_string(), "never".to_string()])
            .unwrap();
        let r = cache
            .store_all(&[
                ("a".to_string(), json!({"x": 2})),
                ("b".to_string(), json!([1, 2])),
            ])
            .unwrap();
        assert!(r.iter().all(|(_, changed)| !changed), "{r:?}");
        assert!(!tmp.path().join("never.json.last").exists());
        // no temp files left behind
        for e in fs::read_dir(tmp.path()).unwrap() {
            assert!(!e.unwrap().file_name().to_string_lossy().contains(".tmp"));
        }
    }

    #[test]
    fn python_layout_is_indent_one_without_newline() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        let v: Value =
            serde_json::from_str(r#"{"a":[1,2],"b":{},"c":"é","d":1.0,"e":null}"#).unwrap();
        let (p, _) = cache.store("k", &v).unwrap();
        assert_eq!(
            fs::read_to_string(p).unwrap(),
            "{\n \"a\": [\n  1,\n  2\n ],\n \"b\": {},\n \"c\": \"\\u00e9\",\n \"d\": 1.0,\n \"e\": null\n}"
        );
    }

    #[test]
    fn truncated_last_counts_as_changed_not_a_crash() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        cache.store("k", &json!({"a": 1})).unwrap();
        fs::write(tmp.path().join("k.json.last"), "{\n \"a\": ").unwrap();
        let (_, changed) = cache.store("k", &json!({"a": 1})).unwrap();
        assert!(changed);
    }

    #[test]
    fn hostile_keys_stay_inside_the_cache_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        let cache = Cache::open(&dir).unwrap();
        for key in [
            "../escape",
            "/etc/passwd",
            "a/../../b",
            "..",
            ".",
            "",
            &"x".repeat(400),
        ] {
            let (p, _) = cache.store(key, &json!(1)).unwrap();
            assert_eq!(p.parent().unwrap(), dir, "{key:?} -> {}", p.display());
        }
        assert!(!tmp.path().join("escape.json").exists());
        assert_eq!(safe_stem("dep-name1"), "dep-name1");
        assert_eq!(safe_stem("zz.json"), "zz.json");
    }

    #[test]
    fn backup_is_a_full_copy_and_replaces_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(&tmp.path().join("c")).unwrap();
        cache.store("a", &json!(1)).unwrap();
        let backup = tmp.path().join("run/backup");
        cache.backup_to(&backup).unwrap();
        cache.store("b", &json!(2)).unwrap();
        cache.backup_to(&backup).unwrap();
        let mut names: Vec<String> = fs::read_dir(&backup)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.json", "a.json.orig", "b.json", "b.json.orig"]);
        assert_eq!(fs::read_dir(tmp.path().join("run")).unwrap().count(), 1);
    }
}
