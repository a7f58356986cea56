//! The durable deployment journal: `<state_dir>/journal/<id>.json`, one file per deployment id,
//! written atomically (0600) at each state change, so a crash mid-hook is found on the next
//! start (W1). `heat-agent status` reads these files: the field set is a contract.
//!
//! Also the kept results: `<state_dir>/journal/<id>.result` holds the signal data from the
//! moment the result is known until the signal has been handed to the outbox, so a crash between
//! the two re-enqueues it on the next start.
//!
//! Durability (fsyncs are the cost of a deployment, so each one is placed on purpose): every
//! write is temp + rename, so a killed process leaves old or new, never a mix. Only the
//! `running` record is fully durable (file + directory fsync) before the hook starts: after a
//! power loss a started deployment is never skipped silently. The result is written before the
//! finished record (file fsync, no directory fsync); should a power loss revert the record to
//! `running`, a surviving result still counts as finished, otherwise it is reported interrupted.

use crate::fsutil::{self, Owner};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

/// Exactly the journal fields (the status command reads them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: Option<String>,
    pub group: String,
    pub action: Option<String>,
    pub state: State,
    /// Unix seconds.
    pub started_at: f64,
    pub finished_at: Option<f64>,
    /// `deploy_status_code` of the signal when it is an integer.
    pub exit_code: Option<i64>,
    /// Seconds between start and finish.
    pub duration: Option<f64>,
    /// Why it failed (null on success).
    pub error: Option<String>,
}

pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn open(state_dir: &Path) -> io::Result<Journal> {
        let dir = state_dir.join("journal");
        fsutil::ensure_dir(state_dir, 0o700)?;
        fsutil::ensure_dir(&dir, 0o700)?;
        Ok(Journal { dir })
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", crate::hooks::contract::file_stem(id)))
    }

    /// Write a record; `running` ones durably (file and directory fsync), later states with a
    /// file fsync only.
    pub fn write(&self, rec: &Record) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(rec).map_err(io::Error::other)?;
        text.push('\n');
        if rec.state == State::Running {
            fsutil::atomic_write(
                &self.path(&rec.id),
                text.as_bytes(),
                0o600,
                Owner::default(),
            )
        } else {
            replace_file(&self.path(&rec.id), text.as_bytes(), true)
        }
    }

    pub fn read(&self, id: &str) -> io::Result<Option<Record>> {
        read_record(&self.path(id))
    }

    /// Every readable record (unreadable files are logged and skipped).
    pub fn all(&self) -> Vec<Record> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        for p in paths {
            match read_record(&p) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => log::error!("{e}"),
            }
        }
        out
    }

    pub fn remove(&self, id: &str) -> io::Result<()> {
        remove_if_exists(&self.path(id))?;
        remove_if_exists(&self.result_path(id))
    }

    fn result_path(&self, id: &str) -> PathBuf {
        self.dir
            .join(format!("{}.result", crate::hooks::contract::file_stem(id)))
    }

    /// Keep the signal data until it has been handed over.
    pub fn keep_result(&self, id: &str, signal: &Value) -> io::Result<()> {
        replace_file(
            &self.result_path(id),
            crate::pyjson::dumps(signal).as_bytes(),
            false,
        )
    }

    /// The kept signal data of a deployment not yet handed over, if any.
    pub fn kept_result(&self, id: &str) -> io::Result<Option<Value>> {
        let p = self.result_path(id);
        match std::fs::read_to_string(&p) {
            Ok(t) => crate::pyjson::loads(&t, &p.display().to_string())
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
        }
    }

    /// The signal is in the outbox (or was sent): forget the kept copy.
    pub fn handed_over(&self, id: &str) -> io::Result<()> {
        remove_if_exists(&self.result_path(id))
    }
}

/// Temp file (0600) + optional file fsync + rename; no directory fsync.
pub fn replace_file(path: &Path, data: &[u8], fsync: bool) -> io::Result<()> {
    use crate::fsutil::{replace, Durability, Owner};
    let durability = match fsync {
        true => Durability::DataSynced,
        false => Durability::Atomic,
    };
    replace(path, data, 0o600, Owner::default(), durability)
}

/// One journal file as a typed record (`None`: no such file).
pub fn read_record(path: &Path) -> io::Result<Option<Record>> {
    match std::fs::read_to_string(path) {
        Ok(t) => crate::pyjson::from_str(&t).map(Some).map_err(|e| {
            io::Error::other(format!("{}: not a journal record ({e})", path.display()))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("removing {}: {e}", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn record_has_exactly_the_contract_fields() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let rec = Record {
            id: "abc".into(),
            name: Some("n".into()),
            group: "script".into(),
            action: Some("CREATE".into()),
            state: State::Running,
            started_at: 1.5,
            finished_at: None,
            exit_code: None,
            duration: None,
            error: None,
        };
        j.write(&rec).unwrap();
        let p = dir.path().join("journal/abc.json");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "group",
                "action",
                "state",
                "started_at",
                "finished_at",
                "exit_code",
                "duration",
                "error"
            ]
        );
        assert_eq!(v["state"], "running");
        assert_eq!(j.read("abc").unwrap(), Some(rec));
        assert_eq!(j.all().len(), 1);
    }

    #[test]
    fn kept_results_until_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.kept_result("x").unwrap(), None);
        j.keep_result("x", &serde_json::json!({"deploy_status_code": 0}))
            .unwrap();
        assert_eq!(
            j.kept_result("x").unwrap(),
            Some(serde_json::json!({"deploy_status_code": 0}))
        );
        j.handed_over("x").unwrap();
        assert_eq!(j.kept_result("x").unwrap(), None);
    }
}
