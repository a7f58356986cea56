//! `local`: every JSON file of the configured directories, one
//! entry per file named after it, sorted by name bytes. Directories owned by another user or
//! world writable, and world-writable files, make the whole source unavailable.

use super::{CollectError, Entries};
use crate::config::Settings;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const WORLD_WRITABLE: u32 = 0o002;

fn world_writable(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    (meta.mode() & WORLD_WRITABLE != 0).then(|| {
        format!(
            "{} is world writable. This is a security risk.",
            path.display()
        )
    })
}

/// The caller logs the message (as a warning) before `Source [local] Unavailable.`.
fn unavailable(message: String) -> CollectError {
    CollectError::NotAvailable(message)
}

pub fn collect(settings: &Settings) -> Result<Entries, CollectError> {
    let dirs = &settings.local.path;
    if dirs.is_empty() {
        return Err(CollectError::NotAvailable(
            "No local metadata directory configured.".into(),
        ));
    }
    let mut entries: Entries = Vec::new();
    for dir in dirs {
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(_) => {
                log::warn!("{} not found. Skipping", dir.display());
                continue;
            }
        };
        // both problems are reported, like the reference, before giving up
        let mut problems = Vec::new();
        if meta.uid() != nix::unistd::getuid().as_raw() {
            problems.push(format!(
                "{} is owned by another user. This is a security risk.",
                dir.display()
            ));
        }
        problems.extend(world_writable(dir, &meta));
        if !problems.is_empty() {
            return Err(CollectError::NotAvailable(problems.join(" ")));
        }
        let listing = std::fs::read_dir(dir)
            .map_err(|e| unavailable(format!("{}: cannot list: {e}", dir.display())))?;
        for item in listing {
            let item =
                item.map_err(|e| unavailable(format!("{}: cannot list: {e}", dir.display())))?;
            let name = item.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = dir.join(&name);
            // follows symlinks, like os.path.isdir / os.stat
            let fmeta = std::fs::metadata(&path)
                .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
            if fmeta.is_dir() {
                continue;
            }
            if let Some(m) = world_writable(&path, &fmeta) {
                return Err(unavailable(m));
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
            let value = super::parse_json(&bytes)
                .map_err(|e| unavailable(format!("{} is not valid JSON ({e})", path.display())))?;
            entries.push((name.to_string_lossy().into_owned(), value));
        }
    }
    if entries.is_empty() {
        let shown: Vec<String> = dirs.iter().map(|p| format!("'{}'", p.display())).collect();
        log::info!("No local metadata found ([{}])", shown.join(", "));
    }
    // C-locale order = byte order; stable, so equal names keep directory order
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(entries)
}

/// The `local` collector: no state of its own.
#[derive(Debug, Default)]
pub struct Local;

impl super::Collector for Local {
    fn collect(
        &mut self,
        ctx: &mut super::Context<'_>,
    ) -> Result<super::Entries, super::CollectError> {
        collect(ctx.settings)
    }
}
