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

/// Write `data` to `path` atomically and durably with `mode` (and `owner` when set).
pub fn atomic_write(path: &Path, data: &[u8], mode: u32, owner: Owner) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        // chmod explicitly: the umask must not apply (the reference chmods too).
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if owner.uid.is_some() || owner.gid.is_some() {
            std::os::unix::fs::fchown(&f, owner.uid, owner.gid)?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))
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
}
