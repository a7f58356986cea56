//! The os-collect-config cache directory, byte-compatible with the
//! reference: `<key>.json` (Python JSON, indent=1, no trailing newline, 0600), `.json.orig` (first
//! value ever seen), `.json.last` (last value the command succeeded with), `os_config_files.json`
//! (compact JSON list of paths). A cache written by the Python tool is read and continued.
//!
//! Fixes over the reference
//! (docs/compatibility.md, "os-collect-config: cache, command and poll loop"):
//! every write is atomic and durable; a truncated `.last` counts as "changed" instead of
//! crashing; key names are made safe file names (nothing is written outside the cache dir, no
//! two names share a file, no name takes one of the agent's own files); the backup copy is
//! swapped in atomically.

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

/// What [`Cache::stage_all`] found and prepared.
pub struct StagedCycle {
    /// (path, changed) per entry, in order.
    pub stored: Vec<(PathBuf, bool)>,
    /// New cache files (and the caller's extras), written and fsynced, not yet renamed into
    /// place.
    pub durable: Vec<fsutil::Staged>,
}

/// Output keys per collector, as stored in `.heat-agent-sources.json`.
pub type SourceKeys = std::collections::BTreeMap<String, Vec<String>>;

/// Stems of the files the agent itself keeps in the cache dir: the list of paths
/// (`os_config_files.json`, as the reference names it) and heat-agent's own bookkeeping.
pub const OS_CONFIG_FILES: &str = "os_config_files";
pub const SOURCES_STEM: &str = ".heat-agent-sources";
pub const REQUEST_STEM: &str = ".heat-agent-request";
// write_cycle writes the source map itself; the request collector's state is its
// bookkeeping file, which write_cycle stores with the cycle's entries
const RESERVED_STEMS: &[&str] = &[OS_CONFIG_FILES, SOURCES_STEM, REQUEST_STEM];

/// Is `name` one of the agent's own cache file names (which an output key never gets)?
pub fn is_reserved_name(name: &str) -> bool {
    RESERVED_STEMS.contains(&name)
}

/// The file-name stem for an output key (a collector or deployment name). Ordinary names are
/// kept as they are, byte for byte (caches written by the reference continue). Every other
/// name is encoded behind a leading `%`, which no kept name has, so the mapping is injective
/// (docs/compatibility.md): names that start with `%`; names holding `/` or NUL (`%`, `/`
/// and NUL are percent-encoded, so the file stays inside the cache dir); the empty name;
/// over-long names (cut, plus a hash of the whole name); and the agent's own file names
/// (a deployment named `os_config_files` must not overwrite the list of paths).
pub fn safe_stem(key: &str) -> String {
    let needs_encoding = key.is_empty()
        || key.starts_with('%')
        || key.contains(['/', '\0'])
        || key.len() > MAX_STEM
        || is_reserved_name(key);
    if !needs_encoding {
        return key.to_string();
    }
    let mut out = String::from("%");
    for c in key.chars() {
        match c {
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    if out.len() > MAX_STEM {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let mut cut = MAX_STEM - 1 - hex.len();
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
        let mut r = self.store_all(&[(key, value)])?;
        Ok(r.remove(0))
    }

    /// Store every entry of a cycle (duplicates: the later value wins, as in the reference).
    /// Returns (path, changed) per entry, in order. See [`Cache::stage_all`].
    pub fn store_all(&self, entries: &[(&str, &Value)]) -> io::Result<Vec<(PathBuf, bool)>> {
        let cycle = self.stage_all(entries, &[])?;
        let stored = cycle.stored.clone();
        self.switch_in(cycle)?;
        Ok(stored)
    }

    /// Work out what changed and stage the files to write (nothing is renamed yet), with the
    /// caller's `extras` (path, contents; 0600) that describe them: all are switched in with
    /// one flush ([`Cache::switch_in`]).
    pub fn stage_all(
        &self,
        entries: &[(&str, &Value)],
        extras: &[(PathBuf, Vec<u8>)],
    ) -> io::Result<StagedCycle> {
        struct Plan {
            path: PathBuf,
            text: String,
            write_orig: bool,
            write_json: bool,
        }
        let mut plans = Vec::with_capacity(entries.len());
        let mut orig_planned: Vec<PathBuf> = Vec::new();
        for &(key, value) in entries {
            let path = self.path(key);
            let text = pyjson::dumps_indent(value, 1);
            let orig = Self::with_suffix(&path, ".orig");
            let write_orig = !orig.exists() && !orig_planned.contains(&orig);
            if write_orig {
                orig_planned.push(orig);
            }
            let write_json = fs::read(&path).ok().as_deref() != Some(text.as_bytes());
            plans.push(Plan {
                path,
                text,
                write_orig,
                write_json,
            });
        }
        let stored = plans
            .iter()
            .zip(entries)
            .map(|(plan, &(key, value))| {
                let changed = plan.write_orig
                    || self.changed_since_commit(key, &plan.path, &plan.text, value);
                (plan.path.clone(), changed)
            })
            .collect();
        let mut files: Vec<(PathBuf, &[u8])> = Vec::new();
        for plan in &plans {
            let targets = [
                plan.write_orig
                    .then(|| Self::with_suffix(&plan.path, ".orig")),
                plan.write_json.then(|| plan.path.clone()),
            ];
            files.extend(
                targets
                    .into_iter()
                    .flatten()
                    .map(|t| (t, plan.text.as_bytes())),
            );
        }
        files.extend(extras.iter().map(|(t, data)| (t.clone(), data.as_slice())));
        let requests: Vec<fsutil::StageRequest> = files
            .iter()
            .map(|(path, data)| fsutil::StageRequest {
                path,
                data,
                mode: 0o600,
                owner: Owner::default(),
            })
            .collect();
        let durable = fsutil::stage_all(&requests, fsutil::Flush::EachFile)?;
        Ok(StagedCycle { stored, durable })
    }

    /// Is `value` (serialized as `text`) different from `key`'s committed value? Identical
    /// bytes need no parsing; otherwise the comparison is Python's `!=` on the values, decided
    /// while parsing `.last` (which stops at the first difference).
    fn changed_since_commit(&self, key: &str, path: &Path, text: &str, value: &Value) -> bool {
        let last = Self::with_suffix(path, ".last");
        let Ok(bytes) = fs::read(&last) else {
            return true;
        };
        if bytes == text.as_bytes() {
            return false;
        }
        let equal = String::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| pyjson::text_semantic_eq(&t, value));
        match equal {
            Ok(equal) => !equal,
            Err(e) => {
                log::warn!(
                    "{} is not valid JSON ({e}); treating {key} as changed",
                    last.display()
                );
                true
            }
        }
    }

    /// Stage `data` for `path` (0600), to be made durable by [`Cache::switch_in`].
    pub fn stage(path: &Path, data: &[u8]) -> io::Result<fsutil::Staged> {
        fsutil::stage_with(path, data, 0o600, Owner::default(), false)
    }

    /// Commit several keys at once (see [`Cache::commit`]), with one flush.
    pub fn commit_all(&self, keys: &[String]) -> io::Result<()> {
        let mut staged = Vec::new();
        let mut linked = false;
        for key in keys {
            let path = self.path(key);
            let last = Self::with_suffix(&path, ".last");
            // `.json` is only ever replaced by rename, never written in place: a second link
            // to it is an exact, already durable copy. Only where links are refused, copy.
            match fsutil::link_replace(&path, &last) {
                Ok(()) => linked = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => match fs::read(&path) {
                    Ok(bytes) => staged.push(Self::stage(&last, &bytes)?),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                },
            }
        }
        if staged.is_empty() && linked {
            return fs::File::open(&self.dir)?.sync_all();
        }
        self.switch_in_files(Vec::new(), staged)
    }

    /// Rename a staged cycle's files in, in order (the cache files first), and sync the
    /// directory once.
    pub fn switch_in(&self, cycle: StagedCycle) -> io::Result<()> {
        self.switch_in_files(cycle.durable, Vec::new())
    }

    fn switch_in_files(
        &self,
        durable: Vec<fsutil::Staged>,
        staged: Vec<fsutil::Staged>,
    ) -> io::Result<()> {
        if durable.is_empty() && staged.is_empty() {
            return Ok(());
        }
        let refs: Vec<&fsutil::Staged> = staged.iter().collect();
        fsutil::sync_staged(&refs)?;
        for s in durable.into_iter().chain(staged) {
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
        pyjson::parse_value(&text).ok()
    }

    /// Mark `key`'s newest value as applied: copy `.json` to `.json.last` (atomically).
    pub fn commit(&self, key: &str) -> io::Result<()> {
        self.commit_all(&[key.to_string()])
    }

    /// Which output keys each collector stored last (`.heat-agent-sources.json`): what a
    /// source that is away this cycle keeps. Empty when missing or unreadable.
    pub fn source_keys(&self) -> SourceKeys {
        fs::read_to_string(self.sources_path())
            .ok()
            .and_then(|t| pyjson::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn sources_path(&self) -> PathBuf {
        self.dir.join(format!("{SOURCES_STEM}.json"))
    }

    /// Write a whole poll cycle: its entries and the files that describe them, staged, made
    /// durable together and renamed in with one directory sync. Besides the entries:
    /// `bookkeeping` (the collectors' own files), the source map when `sources` is given (it
    /// changed), and `os_config_files.json` whenever its list differs from the one on disk
    /// (W-C9: never a stale list; an identical list is not rewritten). Returns (path,
    /// changed-since-last-commit) per entry, in order.
    pub fn write_cycle(
        &self,
        entries: &[(&str, &Value)],
        mut bookkeeping: Vec<(PathBuf, Vec<u8>)>,
        sources: Option<&SourceKeys>,
    ) -> io::Result<Vec<(PathBuf, bool)>> {
        if let Some(sources) = sources {
            let text = serde_json::to_string(sources).unwrap_or_else(|_| "{}".into());
            bookkeeping.push((self.sources_path(), text.into_bytes()));
        }
        let paths: Vec<PathBuf> = entries.iter().map(|(key, _)| self.path(key)).collect();
        let list_path = self.list_path();
        let list = self.meta_list_text(&paths);
        if fs::read(&list_path).ok().as_deref() != Some(list.as_bytes()) {
            bookkeeping.push((list_path, list.into_bytes()));
        }
        let mut cycle = self.stage_all(entries, &bookkeeping)?;
        let stored = std::mem::take(&mut cycle.stored);
        self.switch_in(cycle)?;
        Ok(stored)
    }

    /// `<cachedir>/os_config_files.json`, the list of paths (never an output key's file).
    pub fn list_path(&self) -> PathBuf {
        self.dir.join(format!("{OS_CONFIG_FILES}.json"))
    }

    /// Write `<cachedir>/<name>.json` holding the list of paths (compact Python JSON). `name`
    /// is one of the agent's own file names, used as it is.
    pub fn store_meta_list(&self, name: &str, paths: &[PathBuf]) -> io::Result<PathBuf> {
        let path = self.dir.join(format!("{name}.json"));
        fsutil::atomic_write(
            &path,
            self.meta_list_text(paths).as_bytes(),
            0o600,
            Owner::default(),
        )?;
        Ok(path)
    }

    /// The text of a list-of-paths file such as `os_config_files.json`.
    pub fn meta_list_text(&self, paths: &[PathBuf]) -> String {
        let list = Value::Array(
            paths
                .iter()
                .map(|p| Value::String(p.to_string_lossy().into_owned()))
                .collect(),
        );
        pyjson::dumps(&list)
    }

    /// Replace `backup` by a copy of the cache dir. The copy is built beside it and swapped in,
    /// so there is never a moment without a backup (the reference removes it first). On the
    /// same filesystem the copy is made of hard links (the cache files are never modified in
    /// place, so a link is an exact snapshot and needs no data written); across filesystems
    /// (the usual tmpfs cache, disk backup) the files are copied and fsynced.
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
        if is_mount_point(backup, parent) {
            return self.refresh_mounted_backup(backup);
        }
        let staging = parent.join(format!(".{name}.new{:08x}", fastrand::u32(..)));
        let old = parent.join(format!(".{name}.old{:08x}", fastrand::u32(..)));
        if let Err(e) = snapshot_dir(&self.dir, &staging) {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        match fsutil::swap_dir(&staging, backup, &old) {
            // a bind mount of the same filesystem shows no other device, only EBUSY
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32) => {
                self.refresh_mounted_backup(backup)
            }
            other => other,
        }
    }
}

/// Prefix of the snapshot directory built inside a mounted backup dir.
pub const MOUNTED_STAGING_PREFIX: &str = ".heat-agent-backup.new";

impl Cache {
    /// A backup dir that is a mount point cannot be renamed or removed (EBUSY): its contents
    /// are refreshed instead. The snapshot is built inside it (same filesystem), each entry is
    /// renamed over the old one (so every file is always whole), then entries the cache no
    /// longer has are removed.
    fn refresh_mounted_backup(&self, backup: &Path) -> io::Result<()> {
        let staging_name = format!("{MOUNTED_STAGING_PREFIX}{:08x}", fastrand::u32(..));
        let staging = backup.join(&staging_name);
        let result = snapshot_dir(&self.dir, &staging).and_then(|()| {
            let mut fresh = std::collections::HashSet::new();
            for entry in fs::read_dir(&staging)? {
                let entry = entry?;
                let target = backup.join(entry.file_name());
                if entry.file_type()?.is_dir() && target.is_dir() {
                    fs::remove_dir_all(&target)?;
                }
                fsutil::rename_over(&entry.path(), &target)?;
                fresh.insert(entry.file_name());
            }
            for entry in fs::read_dir(backup)? {
                let entry = entry?;
                let name = entry.file_name();
                if fresh.contains(&name) || name == staging_name.as_str() {
                    continue;
                }
                if entry.file_type()?.is_dir() {
                    fs::remove_dir_all(entry.path())?;
                } else {
                    fs::remove_file(entry.path())?;
                }
            }
            fs::File::open(backup)?.sync_all()
        });
        let _ = fs::remove_dir_all(&staging);
        result
    }
}

/// Remove what killed or overlapping runs left behind (issue 11), touching only our own names
/// untouched for [`fsutil::STALE_AGE`]: temp files in the cache dir and in the backup dir,
/// backup staging dirs (`.<backup>.new<hex>`) beside the backup and inside a mounted one, and
/// swapped-out backups (`.<backup>.old<hex>`, only while the backup itself exists, since after a
/// kill between the two renames the old one is the only backup). Creates nothing. Returns how
/// many entries were removed.
pub fn sweep_leftovers(cachedir: &Path, backup: &Path) -> usize {
    let mut removed = fsutil::sweep_temp_files(cachedir, fsutil::STALE_AGE)
        + fsutil::sweep_temp_files(backup, fsutil::STALE_AGE);
    let mut remove_dir = |dir: &Path| {
        if fsutil::is_stale(dir, fsutil::STALE_AGE) && fs::remove_dir_all(dir).is_ok() {
            removed += 1;
        }
    };
    let dirs = |dir: &Path| -> Vec<(std::ffi::OsString, PathBuf)> {
        fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| (e.file_name(), e.path()))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (name, path) in dirs(backup) {
        let name = name.to_string_lossy();
        if let Some(hex) = name.strip_prefix(MOUNTED_STAGING_PREFIX) {
            if is_hex8(hex) {
                remove_dir(&path);
            }
        }
    }
    if let (Some(parent), Some(base)) = (backup.parent(), backup.file_name()) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let own = format!(".{}", base.to_string_lossy());
        let backup_exists = backup.is_dir();
        for (name, path) in dirs(parent) {
            let name = name.to_string_lossy();
            let Some((kind, hex)) = name
                .strip_prefix(own.as_str())
                .and_then(|r| r.split_at_checked(4))
            else {
                continue;
            };
            if !is_hex8(hex) {
                continue;
            }
            match kind {
                ".new" => remove_dir(&path),
                ".old" if backup_exists => remove_dir(&path),
                _ => {}
            }
        }
    }
    removed
}

fn is_hex8(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Is `dir` mounted on its own filesystem (another device than its parent's)?
fn is_mount_point(dir: &Path, parent: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(dir), fs::metadata(parent)) {
        (Ok(d), Ok(p)) => d.is_dir() && d.dev() != p.dev(),
        _ => false,
    }
}

/// Snapshot the files of `src` into a new directory `dst` (contents, modes, mtimes): hard
/// links where possible, else fsynced copies; `dst` itself is synced.
fn snapshot_dir(src: &Path, dst: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir(dst)?;
    fs::set_permissions(dst, fs::metadata(src)?.permissions())?;
    let mut copies: Vec<fsutil::Staged> = Vec::new();
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        let target = dst.join(entry.file_name());
        if ft.is_dir() {
            snapshot_dir(&entry.path(), &target)?;
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let name = entry.file_name();
        // skip our own in-flight temp files
        if name.to_string_lossy().contains(".tmp") && name.to_string_lossy().starts_with('.') {
            continue;
        }
        if fs::hard_link(entry.path(), &target).is_ok() {
            continue;
        }
        let meta = entry.metadata()?;
        let staged = fsutil::stage_with(
            &target,
            &fs::read(entry.path())?,
            meta.permissions().mode() & 0o7777,
            Owner::default(),
            false,
        )?;
        if let Ok(mtime) = meta.modified() {
            let f = fs::File::options().write(true).open(staged.tmp_path())?;
            let _ = f.set_modified(mtime);
        }
        copies.push(staged);
    }
    let refs: Vec<&fsutil::Staged> = copies.iter().collect();
    fsutil::sync_staged(&refs)?;
    for c in copies {
        c.commit()?;
    }
    fs::File::open(dst)?.sync_all()
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
        let (a1, b, a2) = (json!({"x": 1}), json!([1, 2]), json!({"x": 2}));
        // a duplicate: the later value wins
        let r = cache
            .store_all(&[("a", &a1), ("b", &b), ("a", &a2)])
            .unwrap();
        assert!(r.iter().all(|(_, changed)| *changed));
        assert_eq!(
            fs::read_to_string(tmp.path().join("a.json.orig")).unwrap(),
            "{\n \"x\": 1\n}"
        );
        assert_eq!(cache.current("a"), Some(json!({"x": 2})));
        cache
            .commit_all(&["a".to_string(), "b".to_string(), "never".to_string()])
            .unwrap();
        let r = cache.store_all(&[("a", &a2), ("b", &b)]).unwrap();
        assert!(r.iter().all(|(_, changed)| !changed), "{r:?}");
        assert!(!tmp.path().join("never.json.last").exists());
        // no temp files left behind
        for e in fs::read_dir(tmp.path()).unwrap() {
            assert!(!e.unwrap().file_name().to_string_lossy().contains(".tmp"));
        }
    }

    #[test]
    fn commit_links_last_and_a_later_store_leaves_it_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        cache.store("k", &json!({"v": 1})).unwrap();
        cache.commit("k").unwrap();
        let json_ino = fs::metadata(tmp.path().join("k.json")).unwrap().ino();
        let last = tmp.path().join("k.json.last");
        assert_eq!(
            fs::metadata(&last).unwrap().ino(),
            json_ino,
            "a link, no copy"
        );
        assert_eq!(fs::metadata(&last).unwrap().mode() & 0o777, 0o600);
        // a new value replaces k.json by rename: the committed value stays as it was
        let (_, changed) = cache.store("k", &json!({"v": 2})).unwrap();
        assert!(changed);
        assert_eq!(fs::read_to_string(&last).unwrap(), "{\n \"v\": 1\n}");
        cache.commit("k").unwrap();
        assert_eq!(fs::read_to_string(&last).unwrap(), "{\n \"v\": 2\n}");
        let (_, changed) = cache.store("k", &json!({"v": 2})).unwrap();
        assert!(!changed);
    }

    #[test]
    fn semantically_equal_last_is_unchanged_and_garbage_is_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path()).unwrap();
        cache.store("k", &json!({"a": 1, "b": 2})).unwrap();
        // written by someone else: other key order and spacing, same value (Python's ==)
        fs::write(tmp.path().join("k.json.last"), r#"{"b": 2, "a": 1.0}"#).unwrap();
        let (_, changed) = cache.store("k", &json!({"a": 1, "b": 2})).unwrap();
        assert!(!changed);
        fs::write(tmp.path().join("k.json.last"), "{\"a\": 1, ").unwrap();
        let (_, changed) = cache.store("k", &json!({"a": 1, "b": 2})).unwrap();
        assert!(changed, "a truncated .last counts as changed");
    }

    #[test]
    fn backup_is_a_snapshot_that_later_writes_do_not_touch() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(&tmp.path().join("cache")).unwrap();
        let backup = tmp.path().join("lib/backup");
        cache.store("k", &json!({"v": 1})).unwrap();
        cache.backup_to(&backup).unwrap();
        assert_eq!(
            fs::read_to_string(backup.join("k.json")).unwrap(),
            "{\n \"v\": 1\n}"
        );
        assert_eq!(
            fs::metadata(backup.join("k.json")).unwrap().mode() & 0o777,
            0o600
        );
        cache.store("k", &json!({"v": 2})).unwrap();
        cache.commit("k").unwrap();
        assert_eq!(
            fs::read_to_string(backup.join("k.json")).unwrap(),
            "{\n \"v\": 1\n}",
            "the backup changed with the cache"
        );
        assert!(!backup.join("k.json.last").exists());
        cache.backup_to(&backup).unwrap();
        assert_eq!(
            fs::read_to_string(backup.join("k.json.last")).unwrap(),
            "{\n \"v\": 2\n}"
        );
        // nothing left over from the swap
        let names: Vec<String> = fs::read_dir(tmp.path().join("lib"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["backup"]);
    }

    #[test]
    fn backup_across_filesystems_is_a_copy() {
        // /dev/shm is a tmpfs on Linux: the usual tmpfs cache with a backup on disk
        let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
            eprintln!("no /dev/shm: cross-filesystem copy not exercised");
            return;
        };
        let cache = Cache::open(shm.path()).unwrap();
        let disk = tempfile::tempdir().unwrap();
        let backup = disk.path().join("backup");
        cache.store("k", &json!({"v": 1})).unwrap();
        cache.commit("k").unwrap();
        cache.backup_to(&backup).unwrap();
        for name in ["k.json", "k.json.last", "k.json.orig"] {
            let src = fs::metadata(shm.path().join(name)).unwrap();
            let dst = fs::metadata(backup.join(name)).unwrap();
            assert_eq!(
                fs::read(shm.path().join(name)).unwrap(),
                fs::read(backup.join(name)).unwrap()
            );
            assert_eq!(dst.mode() & 0o777, 0o600, "{name}");
            assert_eq!(dst.mtime(), src.mtime(), "{name}");
            if src.dev() != dst.dev() {
                assert_eq!(dst.nlink(), 1, "{name} is a copy");
            }
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

    #[test]
    fn stems_are_injective_and_ordinary_names_are_kept() {
        for kept in [
            "dep-name1",
            "zz.json",
            "a%2Fb",
            "50%",
            "x".repeat(200).as_str(),
        ] {
            assert_eq!(safe_stem(kept), kept);
        }
        let long = "y".repeat(300);
        let longer = format!("{long}z");
        let keys = [
            "a/b",
            "a%2Fb",
            "%a%2Fb",
            "%",
            "",
            "\0",
            "%00",
            "%2F",
            "/",
            "os_config_files",
            "%os_config_files",
            ".heat-agent-sources",
            ".heat-agent-request",
            &long,
            &longer,
        ];
        let stems: std::collections::HashSet<String> = keys.iter().map(|k| safe_stem(k)).collect();
        assert_eq!(stems.len(), keys.len(), "{stems:?}");
        for stem in &stems {
            assert!(stem.len() <= MAX_STEM && !stem.contains('/'), "{stem}");
        }
        assert_eq!(safe_stem("a/b"), "%a%2Fb");
        assert_eq!(safe_stem("os_config_files"), "%os_config_files");
    }
}
