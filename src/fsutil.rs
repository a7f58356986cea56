//! The one place files that matter are written: temp file in the same directory, fsync,
//! rename, fsync of the directory. A crash leaves either the old or the new file, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Ownership to apply to a written file (`None` keeps the writer's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: no file name", path.display()),
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp{:08x}", fastrand::u32(..)));
    Ok(dir.join(tmp))
}

/// How long a temp file or staging dir of ours must have been left untouched before a sweep
/// takes it for debris of a killed run: far longer than any write, fsync or backup copy takes,
/// so a live process's in-flight file is never swept.
pub const STALE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Does `name` end in `<marker><8 hex digits>` and start with `.`, as our temp names
/// (`.<name>.tmp<hex>`) and staging dirs do?
pub fn is_own_temp_name(name: &std::ffi::OsStr, marker: &str) -> bool {
    let name = name.to_string_lossy();
    let Some(at) = name.rfind(marker) else {
        return false;
    };
    let hex = &name[at + marker.len()..];
    name.starts_with('.') && at > 1 && hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Has `path` been left unmodified for at least `min_age`?
pub fn is_stale(path: &Path, min_age: std::time::Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= min_age)
}

/// Remove the temp files of ours (`.<name>.tmp<8 hex>`, regular files only) directly in `dir`
/// that nobody has touched for `min_age` (see [`STALE_AGE`]): what a killed writer left. Returns
/// how many were removed; a missing or unreadable dir has none.
pub fn sweep_temp_files(dir: &Path, min_age: std::time::Duration) -> usize {
    let Ok(rd) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in rd.flatten() {
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file
            && is_own_temp_name(&entry.file_name(), ".tmp")
            && is_stale(&entry.path(), min_age)
            && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// How much of a crash a [`replace`] survives. Every choice is atomic: readers (and a crash)
/// see the old file or the new one, never a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Rename only, nothing fsynced: a working file regenerated on every run.
    Atomic,
    /// The file's data is fsynced before the rename; the directory is not (a crash may bring
    /// back the old file, never a truncated new one).
    DataSynced,
    /// The file and then its directory are fsynced: the new file survives power loss.
    Durable,
}

/// Replace `path` with `data` (temp file in the same directory, rename), with `mode` (and
/// `owner` when set), as durable as `durability` says.
pub fn replace(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Owner,
    durability: Durability,
) -> io::Result<()> {
    stage_with(path, data, mode, owner, durability != Durability::Atomic)?.commit()?;
    if durability == Durability::Durable {
        sync_parent(path).map_err(|e| named(e, path))?;
    }
    Ok(())
}

/// Write `data` to `path` atomically and durably with `mode` (and `owner` when set).
pub fn atomic_write(path: &Path, data: &[u8], mode: u32, owner: Owner) -> io::Result<()> {
    replace(path, data, mode, owner, Durability::Durable)
}

/// How [`lock`] waits for a lock another process holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Block until it is free.
    Block,
    /// Fail at once with the `flock` error (EWOULDBLOCK).
    Fail,
}

/// An exclusive `flock` on `path` (created 0600 when missing, never truncated), held until the
/// returned file is dropped. With [`LockWait::Fail`] a held lock is the raw `flock` error, so a
/// caller can report its errno; an open error names the path.
pub fn lock(path: &Path, wait: LockWait) -> io::Result<nix::fcntl::Flock<File>> {
    use nix::fcntl::{Flock, FlockArg};
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let arg = match wait {
        LockWait::Block => FlockArg::LockExclusive,
        LockWait::Fail => FlockArg::LockExclusiveNonblock,
    };
    Flock::lock(file, arg).map_err(|(_, errno)| io::Error::from(errno))
}

/// Move a flat directory the way Python's `shutil.move` does: a rename, or across file systems
/// (EXDEV) a copy of its regular files (each written atomically, modes kept) into `to` and the
/// removal of `from`. `to`'s parent is created 0755 when missing.
pub fn move_dir(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(parent) = to.parent() {
        ensure_dir(parent, 0o755)?;
    }
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            ensure_dir(to, 0o700)?;
            for f in fs::read_dir(from)? {
                let f = f?;
                if f.file_type()?.is_file() {
                    let data = fs::read(f.path())?;
                    let mode = f.metadata()?.permissions().mode() & 0o7777;
                    atomic_write(&to.join(f.file_name()), &data, mode, Owner::default())?;
                }
            }
            fs::remove_dir_all(from)
        }
        Err(e) => Err(e),
    }
}

/// Switch a fully built `staging` directory in as `target`, so that `target` is never missing:
/// the old `target` (if any) is renamed to `aside` first, then `staging` to `target`, the parent
/// is synced, and `aside` is removed. On an error `staging` is removed and the rename's error
/// is returned unchanged (a caller may look at its errno: EBUSY for a mount point). The caller
/// names `aside`, so that its own leftover sweep recognises it after a kill between the renames.
pub fn swap_dir(staging: &Path, target: &Path, aside: &Path) -> io::Result<()> {
    let had_old = target.exists();
    if had_old {
        if let Err(e) = fs::rename(target, aside) {
            let _ = fs::remove_dir_all(staging);
            return Err(e);
        }
    }
    if let Err(e) = fs::rename(staging, target) {
        let _ = fs::remove_dir_all(staging);
        return Err(e);
    }
    sync_parent(target)?;
    if had_old {
        let _ = fs::remove_dir_all(aside);
    }
    Ok(())
}

/// Rename `from` over `to` (a whole file or directory entry replaced at once), without a sync:
/// for batches whose caller syncs the directory once at the end.
pub fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)
}

/// Whether another process holds [`lock`] on `path` now, without waiting and without creating
/// the file (a missing file is not held). Probes with a shared lock, dropped at once.
pub fn is_locked(path: &Path) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let Ok(file) = File::open(path) else {
        return false;
    };
    Flock::lock(file, FlockArg::LockSharedNonblock).is_err()
}

/// A file written and fsynced under a temporary name next to its destination, not yet renamed
/// into place. Dropping it without [`Staged::commit`] removes the temporary file. Lets a caller
/// prepare many files (in parallel) and switch them in together.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

/// Like [`atomic_write`] up to (not including) the rename; the directory is not synced.
pub fn stage(path: &Path, data: &[u8], mode: u32, owner: Owner) -> io::Result<Staged> {
    stage_with(path, data, mode, owner, true)
}

/// [`stage`], optionally without the fsync: for a caller that stages many files and then
/// makes them all durable at once with [`sync_staged`] before committing any.
pub fn stage_with(
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Owner,
    fsync: bool,
) -> io::Result<Staged> {
    let mut staged = Vec::with_capacity(1);
    let request = StageRequest {
        path,
        data,
        mode,
        owner,
    };
    let file = write_temp(&request, &mut staged)?;
    if fsync {
        file.sync_all().map_err(|e| named(e, path))?;
    }
    staged
        .pop()
        .ok_or_else(|| named(io::Error::other("not staged"), path))
}

/// Make `dst` another name of `src`'s file, atomically replacing what `dst` was (link to a
/// temporary name, rename over `dst`); the caller syncs the directory. Only for files that
/// are never modified in place: both names see the same data. Fails where the filesystem
/// refuses links (or across filesystems): the caller copies instead.
pub fn link_replace(src: &Path, dst: &Path) -> io::Result<()> {
    let tmp = temp_path(dst)?;
    fs::hard_link(src, &tmp)?;
    fs::rename(&tmp, dst).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

impl Staged {
    /// Where the data is until [`Staged::commit`].
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rename into place (the caller syncs the directory, e.g. with [`sync_parent`]).
    pub fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.path).map_err(|e| {
            io::Error::new(e.kind(), format!("writing {}: {e}", self.path.display()))
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Make many staged files durable before any is renamed into place: each is fsynced.
pub fn sync_staged(files: &[&Staged]) -> io::Result<()> {
    files.iter().try_for_each(|f| {
        File::open(&f.tmp)
            .and_then(|h| h.sync_all())
            .map_err(|e| io::Error::new(e.kind(), format!("syncing {}: {e}", f.path.display())))
    })
}

/// How a batch of written files is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// fsync each file (several at once) and each directory.
    EachFile,
    /// One `syncfs(2)` per filesystem the batch touches: one writeback of the metadata blocks
    /// and one cache flush instead of one per file. It also writes out other processes' dirty
    /// data on that filesystem, so it is only chosen while there is little of it.
    Filesystem,
}

/// Fewer files than this are fsynced one by one: a `syncfs` would not save enough to be worth
/// writing out anything else.
const SYNCFS_MIN_FILES: usize = 16;
/// A `syncfs` is only used while the whole system has at most this much dirty or in-flight
/// page cache (`/proc/meminfo` `Dirty` + `Writeback`): it never waits for much foreign data.
const SYNCFS_MAX_DIRTY_KIB: u64 = 16 * 1024;

impl Flush {
    /// The cheaper safe way to make `files` new files durable, given this system's state.
    pub fn for_batch(files: usize) -> Flush {
        if files < SYNCFS_MIN_FILES {
            return Flush::EachFile; // without reading /proc
        }
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Flush::choose(files, syncfs_reports_errors(&kernel), dirty_kib(&meminfo))
    }

    /// [`Flush::for_batch`] as a pure decision. `checked`: the kernel's `syncfs` returns
    /// write-back errors; `dirty_kib`: the system's dirty + write-back page cache (None when
    /// unknown, which counts as too much).
    fn choose(files: usize, checked: bool, dirty_kib: Option<u64>) -> Flush {
        if files >= SYNCFS_MIN_FILES
            && checked
            && dirty_kib.is_some_and(|d| d <= SYNCFS_MAX_DIRTY_KIB)
        {
            Flush::Filesystem
        } else {
            Flush::EachFile
        }
    }
}

/// `syncfs(2)` reports write-back errors only since Linux 5.8; before, it returned 0 even when
/// data was lost, so older kernels keep the per-file fsyncs. `release`: `uname -r`.
fn syncfs_reports_errors(release: &str) -> bool {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 8),
        _ => false,
    }
}

/// `Dirty` + `Writeback` from `/proc/meminfo` text, in KiB.
fn dirty_kib(meminfo: &str) -> Option<u64> {
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    Some(field("Dirty")? + field("Writeback")?)
}

/// `syncfs(2)` once per filesystem among `files`: (device, an open file on it, the path to name
/// in an error).
fn syncfs_each_fs<P: AsRef<Path>>(files: &[(u64, File, P)]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut done: Vec<u64> = Vec::new();
    for (dev, f, path) in files {
        if done.contains(dev) {
            continue;
        }
        nix::unistd::syncfs(f.as_raw_fd()).map_err(|e| {
            let e = io::Error::from(e);
            let shown = path.as_ref().display();
            io::Error::new(e.kind(), format!("syncing {shown}: {e}"))
        })?;
        done.push(*dev);
    }
    Ok(())
}

/// One file for [`stage_all`]: destination, contents, mode and ownership.
pub struct StageRequest<'a> {
    pub path: &'a Path,
    pub data: &'a [u8],
    pub mode: u32,
    pub owner: Owner,
}

/// [`stage`] many files at once: each is created under a temporary name next to its
/// destination and written, in order. With [`Flush::EachFile`] a pool of threads fsyncs the
/// ones already written (through their descriptors: no reopen), so the writing overlaps the
/// waiting and the filesystem batches the journal commits; with [`Flush::Filesystem`] one
/// `syncfs` per filesystem follows the last write. Either way every file is durable when this
/// returns. Returns them in `requests` order; on any error the temporary files already made
/// are removed and nothing is returned.
pub fn stage_all(requests: &[StageRequest], flush: Flush) -> io::Result<Vec<Staged>> {
    if flush == Flush::Filesystem {
        return stage_all_then_syncfs(requests);
    }
    use std::sync::{mpsc, Mutex};
    let workers = requests.len().min(STAGE_WORKERS);
    let (queue, jobs) = mpsc::channel::<(usize, File)>();
    let jobs = Mutex::new(jobs);
    let failure: Mutex<Option<io::Error>> = Mutex::new(None);
    let fail = |e: io::Error| {
        let mut first = failure.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(e);
    };
    let mut staged = Vec::with_capacity(requests.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
                let Ok((i, file)) = job else {
                    return;
                };
                if let Err(e) = file.sync_all() {
                    let shown = requests[i].path.display();
                    fail(io::Error::new(e.kind(), format!("syncing {shown}: {e}")));
                }
            });
        }
        for (i, r) in requests.iter().enumerate() {
            match write_temp(r, &mut staged) {
                Ok(f) => {
                    let _ = queue.send((i, f));
                }
                Err(e) => {
                    fail(e);
                    break;
                }
            }
        }
        drop(queue); // the workers finish the queue and stop
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(staged),
    }
}

/// [`stage_all`] with [`Flush::Filesystem`]: every file is written, then one `syncfs` per
/// filesystem.
fn stage_all_then_syncfs(requests: &[StageRequest]) -> io::Result<Vec<Staged>> {
    use std::os::unix::fs::MetadataExt;
    let mut staged = Vec::with_capacity(requests.len());
    // one open file per filesystem written to
    let mut one_per_fs: Vec<(u64, File, &Path)> = Vec::new();
    for r in requests {
        // on an error the temporary files already made are removed as `staged` drops
        let f = write_temp(r, &mut staged)?;
        let dev = f.metadata().map_err(|e| named(e, r.path))?.dev();
        if !one_per_fs.iter().any(|(known, ..)| *known == dev) {
            one_per_fs.push((dev, f, r.path));
        }
    }
    syncfs_each_fs(&one_per_fs)?;
    Ok(staged)
}

/// Create `r`'s temporary file, write it and set its mode and owner; the [`Staged`] is pushed
/// onto `staged` as soon as the file exists (so an error later removes it).
fn write_temp(r: &StageRequest, staged: &mut Vec<Staged>) -> io::Result<File> {
    let tmp = temp_path(r.path)?;
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        staged.push(Staged {
            tmp: tmp.clone(),
            path: r.path.to_path_buf(),
            committed: false,
        });
        f.write_all(r.data)?;
        f.set_permissions(fs::Permissions::from_mode(r.mode))?;
        if r.owner.uid.is_some() || r.owner.gid.is_some() {
            std::os::unix::fs::fchown(&f, r.owner.uid, r.owner.gid)?;
        }
        Ok::<File, io::Error>(f)
    })();
    written.map_err(|e| named(e, r.path))
}

/// `e` as an error writing `path`.
fn named(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
}

/// Threads [`stage_all`] uses: enough outstanding fsyncs for the journal to batch them.
const STAGE_WORKERS: usize = 16;

/// Make the renames into `dirs` durable the way `flush` says: fsync each directory, or one
/// `syncfs` per filesystem among them.
pub fn sync_dirs_with(dirs: &[&Path], flush: Flush) -> io::Result<()> {
    if flush == Flush::EachFile {
        return sync_dirs(dirs);
    }
    use std::os::unix::fs::MetadataExt;
    let mut opened: Vec<(u64, File, &Path)> = Vec::new();
    for d in dirs {
        let named = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot sync directory {}: {e}", d.display()),
            )
        };
        let dev = fs::metadata(d).map_err(named)?.dev();
        if !opened.iter().any(|(known, ..)| *known == dev) {
            opened.push((dev, File::open(d).map_err(named)?, d));
        }
    }
    syncfs_each_fs(&opened)
}

/// fsync each of `dirs` (after renames into them); the first error is returned.
pub fn sync_dirs(dirs: &[&Path]) -> io::Result<()> {
    dirs.iter().try_for_each(|d| {
        File::open(d).and_then(|f| f.sync_all()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot sync directory {}: {e}", d.display()),
            )
        })
    })
}

/// fsync the directory holding `path`, so a rename in it survives power loss.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// Create `dir` (and missing parents) with `mode` on the directories this call creates.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() && !parent.is_dir() {
            ensure_dir(parent, mode)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("creating {}: {e}", dir.display()),
        )),
    }
}

/// Read a file to a string with an error naming the path.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The `*.json` files directly in `dir`, sorted by path; hidden ones (`.name.json`) are left
/// out. An unreadable or missing directory has none.
pub fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn swap_dir_replaces_the_target_and_leaves_nothing_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let (staging, target, aside) = (
            dir.path().join(".t.new"),
            dir.path().join("t"),
            dir.path().join(".t.old"),
        );
        fs::create_dir(&target).unwrap();
        fs::write(target.join("f"), "old").unwrap();
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("f"), "new").unwrap();
        swap_dir(&staging, &target, &aside).unwrap();
        assert_eq!(fs::read_to_string(target.join("f")).unwrap(), "new");
        assert!(!staging.exists() && !aside.exists());
        // a failing switch removes the staging dir and keeps the target
        fs::create_dir(&staging).unwrap();
        let blocked = dir.path().join("no-such-dir").join("aside");
        assert!(swap_dir(&staging, &target, &blocked).is_err());
        assert!(!staging.exists());
        assert_eq!(fs::read_to_string(target.join("f")).unwrap(), "new");
    }

    #[test]
    fn is_locked_sees_a_held_lock_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        assert!(!is_locked(&p));
        assert!(!p.exists(), "probing must not create the lock file");
        let held = lock(&p, LockWait::Fail).unwrap();
        assert!(is_locked(&p));
        drop(held);
        assert!(!is_locked(&p));
    }

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.json");
        atomic_write(&p, b"one", 0o600, Owner::default()).unwrap();
        atomic_write(&p, b"two", 0o640, Owner::default()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        // no temp files left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            atomic_write(&dir.path().join("nope/f"), b"x", 0o600, Owner::default()).unwrap_err();
        assert!(err.to_string().contains("nope/f"), "{err}");
    }

    #[test]
    fn stage_all_writes_in_order_and_cleans_up_on_error() {
        for flush in [Flush::EachFile, Flush::Filesystem] {
            stage_all_case(flush);
        }
    }

    fn stage_all_case(flush: Flush) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..20).map(|i| dir.path().join(format!("f{i}"))).collect();
        let bodies: Vec<String> = (0..20).map(|i| format!("body {i}")).collect();
        let requests: Vec<StageRequest> = paths
            .iter()
            .zip(&bodies)
            .map(|(p, b)| StageRequest {
                path: p,
                data: b.as_bytes(),
                mode: 0o640,
                owner: Owner::default(),
            })
            .collect();
        let staged = stage_all(&requests, flush).unwrap();
        assert_eq!(staged.len(), 20);
        for (s, p) in staged.into_iter().zip(&paths) {
            assert_eq!(s.path(), p.as_path());
            s.commit().unwrap();
        }
        for (p, b) in paths.iter().zip(&bodies) {
            assert_eq!(fs::read_to_string(p).unwrap(), *b);
            assert_eq!(fs::metadata(p).unwrap().mode() & 0o777, 0o640);
        }
        // one request cannot be written: nothing is returned and no temporary file stays
        let other = tempfile::tempdir().unwrap();
        let good = other.path().join("good");
        let bad = other.path().join("missing/bad");
        let requests = [
            StageRequest {
                path: &good,
                data: b"x",
                mode: 0o600,
                owner: Owner::default(),
            },
            StageRequest {
                path: &bad,
                data: b"y",
                mode: 0o600,
                owner: Owner::default(),
            },
        ];
        let err = stage_all(&requests, flush).unwrap_err();
        assert!(err.to_string().contains("missing/bad"), "{err}");
        assert_eq!(fs::read_dir(other.path()).unwrap().count(), 0);
        // the directories, whichever way: a missing one is named
        let here = dir.path();
        sync_dirs_with(&[here, other.path()], flush).unwrap();
        let gone = dir.path().join("gone");
        let err = sync_dirs_with(&[here, &gone], flush).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }

    #[test]
    fn syncfs_only_for_big_batches_on_quiet_systems_with_kernels_that_report_errors() {
        assert_eq!(Flush::choose(200, true, Some(1024)), Flush::Filesystem);
        assert_eq!(Flush::choose(16, true, Some(16 * 1024)), Flush::Filesystem);
        assert_eq!(Flush::choose(15, true, Some(0)), Flush::EachFile);
        assert_eq!(
            Flush::choose(200, true, Some(16 * 1024 + 1)),
            Flush::EachFile
        );
        assert_eq!(Flush::choose(200, true, None), Flush::EachFile);
        assert_eq!(Flush::choose(200, false, Some(0)), Flush::EachFile);
        assert_eq!(Flush::for_batch(3), Flush::EachFile);

        assert!(syncfs_reports_errors("6.12.48+deb13-cloud-amd64\n"));
        assert!(syncfs_reports_errors("5.8.0"));
        assert!(syncfs_reports_errors("5.10"));
        assert!(!syncfs_reports_errors("5.4.0-150-generic"));
        assert!(!syncfs_reports_errors("3.10.0-1160.el7.x86_64"));
        assert!(!syncfs_reports_errors(""));
        assert!(!syncfs_reports_errors("garbage"));

        let meminfo = "MemTotal:       24683656 kB\nDirty:              2048 kB\n\
                       Writeback:           100 kB\nWritebackTmp:     99999 kB\n";
        assert_eq!(dirty_kib(meminfo), Some(2148));
        assert_eq!(dirty_kib("Dirty: 5 kB\n"), None);
        assert_eq!(dirty_kib(""), None);
    }

    #[test]
    fn ensure_dir_creates_parents_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b/c");
        ensure_dir(&d, 0o700).unwrap();
        assert!(d.is_dir());
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        ensure_dir(&d, 0o700).unwrap();
    }

    #[test]
    fn json_files_are_sorted_and_skip_hidden_and_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.json",
            "a.json",
            ".c.json",
            ".a.json.tmp0000abcd",
            "d.txt",
        ] {
            fs::write(dir.path().join(name), b"{}").unwrap();
        }
        fs::create_dir(dir.path().join("e")).unwrap();
        let names: Vec<String> = json_files(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json", "b.json"]);
        assert!(json_files(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn own_temp_names_are_recognised() {
        use std::ffi::OsStr;
        for yes in [".a.json.tmp0000abcd", ".x.tmpDEADBEEF"] {
            assert!(is_own_temp_name(OsStr::new(yes), ".tmp"), "{yes}");
        }
        for no in [
            "a.json.tmp0000abcd",
            ".a.json.tmp0000abc",
            ".a.json.tmp0000abcz",
            "tmpab12cd34",
            "tmp_meta_list.abcd1234",
            ".tmp0000abcd",
            "a.json",
        ] {
            assert!(!is_own_temp_name(OsStr::new(no), ".tmp"), "{no}");
        }
    }
}
