//! The template tree: discovery, rendering everything in memory and writing the outputs
//! (docs/compatibility.md, "Tree walk (W-A10)", "Executable templates (W-A8)" and "Writing").

use super::oac::{self, Control, UserDb};
use super::Log;
use crate::fsutil::{self, Owner};
use crate::process;
use crate::pyjson;
use crate::render::mustache;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const CONTROL_SUFFIX: &str = ".oac";
pub const TERA_SUFFIX: &str = ".tera";

/// One template found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePath {
    /// The template file (root joined with its relative path).
    pub template: PathBuf,
    /// Output path relative to the output root, with a leading `/` (e.g. `/etc/foo.conf`);
    /// a `.tera` suffix is removed.
    pub output: String,
}

/// `os.walk(root)` order: the files of a directory (readdir order), then its subdirectories
/// one by one. Symlinked directories are not entered, unreadable directories are skipped,
/// `.oac` files are never templates.
pub fn template_paths(root: &Path) -> Vec<TemplatePath> {
    let mut out = Vec::new();
    walk(root, "", &mut out, &mut ControlFiles::new());
    out
}

/// The templates a walk saw a control file for (each `<template>.oac` is recorded as
/// `<template>`): a template without one needs no failed open to find out.
type ControlFiles = std::collections::HashSet<PathBuf>;

fn walk(dir: &Path, rel: &str, out: &mut Vec<TemplatePath>, controls: &mut ControlFiles) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            // not UTF-8: cannot be named in an output path we log; skip like an unreadable entry
            continue;
        };
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_dir() => true,
            Ok(t) if t.is_symlink() => path.is_dir(),
            _ => false,
        };
        let is_symlink = entry.file_type().map(|t| t.is_symlink()).unwrap_or(false);
        if is_dir {
            if !is_symlink {
                subdirs.push(path);
            }
            continue;
        }
        if let Some(template) = name.strip_suffix(CONTROL_SUFFIX) {
            controls.insert(dir.join(template));
            continue;
        }
        let out_name = name
            .strip_suffix(TERA_SUFFIX)
            .filter(|s| !s.is_empty())
            .unwrap_or(name);
        let output = format!("{rel}/{out_name}");
        out.push(TemplatePath {
            template: path,
            output,
        });
    }
    for path in subdirs {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        walk(&path, &format!("{rel}/{name}"), out, controls);
    }
}

/// A rendered output, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub output: String,
    pub template: PathBuf,
    pub body: Vec<u8>,
    pub control: Control,
}

/// What rendering needs besides the metadata.
pub struct RenderEnv<'a> {
    pub users: &'a UserDb,
    pub partials: &'a dyn mustache::Partials,
    pub log: &'a Log,
}

fn is_executable(path: &Path) -> bool {
    path.is_file() && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// Largest stdout an executable template may produce (the reference has no limit).
const MAX_SCRIPT_OUTPUT: usize = 256 << 20;

/// Run an executable template: metadata as Python JSON on stdin, stdout is the file.
pub fn render_executable(path: &Path, stdin_json: &str) -> Result<Vec<u8>, String> {
    let mut spec = process::Spec::new(path);
    spec.stdin = Some(stdin_json.as_bytes().to_vec());
    spec.stdout = process::Output::Capture(MAX_SCRIPT_OUTPUT);
    spec.stderr = process::Output::Capture(process::DEFAULT_CAPTURE);
    // the reference runs it in our process group and inherits everything; keep the group so
    // ^C reaches it like before
    spec.own_group = false;
    let done = process::run(&spec, None).map_err(|e| {
        format!(
            "config script failed: {}\n\nwith output:\n\n{e}",
            path.display()
        )
    })?;
    if !done.success() {
        let mut output = String::from_utf8_lossy(&done.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&done.stderr));
        return Err(format!(
            "config script failed: {}\n\nwith output:\n\n{output}",
            path.display()
        ));
    }
    if done.stdout_dropped > 0 {
        return Err(format!(
            "config script {} wrote more than {MAX_SCRIPT_OUTPUT} bytes",
            path.display()
        ));
    }
    // the reference decodes strictly as UTF-8 before writing
    std::str::from_utf8(&done.stdout)
        .map_err(|e| format!("config script {} wrote invalid UTF-8: {e}", path.display()))?;
    Ok(done.stdout)
}

/// A template read before the metadata is needed, so this work can
/// overlap loading the metadata. Failures are kept and reported when the template's turn to
/// render comes, so messages and their order are those of rendering one by one.
pub struct Prepared {
    pub template: TemplatePath,
    source: Source,
    /// The control file's text (`None` when there is none), or the error reading it. Parsed
    /// when rendering, as the metadata parse and this reading run in parallel and the
    /// allocator serializes threads that allocate much.
    control: Result<Option<String>, String>,
}

enum Source {
    Executable,
    /// Parsed when rendering (see [`Prepared::control`]).
    Mustache(String),
    Tera(String),
    /// The line to log before failing (read error, not UTF-8).
    Unreadable(String),
    /// Not a regular file (a FIFO, socket or device, maybe behind a symlink): reading it could
    /// block forever, so it is skipped with this warning.
    NotRegular(String),
}

/// Read one template without running or rendering anything.
fn prepare_source(path: &Path) -> Source {
    // one open serves the file type check, the executable check and the read; without
    // blocking, as a FIFO's open would until a writer comes
    let text = match open_nonblocking(path) {
        Ok(f) => {
            let meta = f.metadata().ok();
            if meta.as_ref().is_some_and(|m| !m.is_file()) {
                return Source::NotRegular(format!(
                    "skipping {}: not a regular file",
                    path.display()
                ));
            }
            // access(2) is only needed when some execute bit is set
            if meta
                .as_ref()
                .is_some_and(|m| m.is_file() && m.mode() & 0o111 != 0)
                && is_executable(path)
            {
                return Source::Executable;
            }
            read_all(f, meta.map_or(0, |m| m.len()))
        }
        Err(_) if is_executable(path) => return Source::Executable,
        Err(e) => Err(e),
    };
    let text = match text.map(String::from_utf8) {
        Ok(Ok(t)) => mustache::universal_newlines(t),
        Ok(Err(e)) => return Source::Unreadable(format!("{}: not UTF-8: {e}", path.display())),
        Err(e) => return Source::Unreadable(format!("{}: {e}", path.display())),
    };
    if path.to_string_lossy().ends_with(TERA_SUFFIX) {
        return Source::Tera(text);
    }
    Source::Mustache(text)
}

/// Read the control file next to `template`, if it is a file.
fn read_control_text(
    template: &Path,
    seen: Option<&ControlFiles>,
) -> Result<Option<String>, String> {
    if seen.is_some_and(|seen| !seen.contains(template)) {
        return Ok(None);
    }
    let mut ctrl_path = template.to_path_buf().into_os_string();
    ctrl_path.push(CONTROL_SUFFIX);
    let ctrl_path = PathBuf::from(ctrl_path);
    // a missing control file costs one failed open instead of a stat
    let text = match open_nonblocking(&ctrl_path) {
        Ok(f) => match f.metadata() {
            Ok(m) if m.is_file() => read_control_from(f, m.len(), &ctrl_path)?,
            Ok(_) => return Ok(None),
            Err(_) if ctrl_path.is_file() => read_control(&ctrl_path)?,
            Err(_) => return Ok(None),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) if ctrl_path.is_file() => read_control(&ctrl_path)?,
        Err(_) => return Ok(None),
    };
    Ok(Some(text))
}

/// Parse a control file read by [`read_control_text`].
fn parse_control_text(
    text: Option<&str>,
    template: &Path,
    users: &UserDb,
) -> Result<Control, String> {
    let Some(text) = text else {
        return Ok(Control::default());
    };
    oac::parse_control(text, &template.display().to_string(), users)
        .map_err(|e| format!("{}{CONTROL_SUFFIX}: {e}", template.display()))
}

/// Open for reading without blocking on a FIFO.
fn open_nonblocking(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

impl Prepared {
    /// An executable template runs when rendered, and may change what is on disk.
    pub fn is_executable(&self) -> bool {
        matches!(self.source, Source::Executable)
    }
}

/// Read one template and its control file (no metadata needed).
pub fn prepare(template: &TemplatePath) -> Prepared {
    prepare_owned(template.clone(), None)
}

fn prepare_owned(template: TemplatePath, seen: Option<&ControlFiles>) -> Prepared {
    Prepared {
        source: prepare_source(&template.template),
        control: read_control_text(&template.template, seen),
        template,
    }
}

/// [`prepare`] every template, in order.
pub fn prepare_all(templates: &[TemplatePath]) -> Vec<Prepared> {
    templates.iter().map(prepare).collect()
}

/// Everything about a template tree that needs no metadata: walk it, [`prepare`] every
/// template and, with an output root, [`probe`] every output.
pub fn scan(root: &Path, out_dir: Option<&Path>) -> (Vec<Prepared>, Vec<Existing>) {
    let mut templates = Vec::new();
    let mut controls = ControlFiles::new();
    walk(root, "", &mut templates, &mut controls);
    let existing = match out_dir {
        Some(out_dir) => {
            // nothing can be in a directory that is not there (a first render): one look at
            // each directory instead of a failed open per output
            let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
            templates
                .iter()
                .map(|t| {
                    let path = output_path(out_dir, &t.output);
                    let dir = path.parent().unwrap_or(Path::new(""));
                    let there = match dirs.iter().rev().find(|(d, _)| d == dir) {
                        Some((_, there)) => *there,
                        None => {
                            let there = dir.as_os_str().is_empty() || dir.is_dir();
                            dirs.push((dir.to_path_buf(), there));
                            there
                        }
                    };
                    if there {
                        probe(&path)
                    } else {
                        Existing::default()
                    }
                })
                .collect()
        }
        None => Vec::new(),
    };
    let prepared = templates
        .into_iter()
        .map(|t| prepare_owned(t, Some(&controls)))
        .collect();
    (prepared, existing)
}

fn render_source(
    path: &Path,
    source: &Source,
    config: &Value,
    stdin_json: &mut Option<String>,
    env: &RenderEnv,
) -> Result<Vec<u8>, String> {
    let fail = || format!("could not render moustache template {}", path.display());
    match source {
        Source::Executable => {
            let json = stdin_json.get_or_insert_with(|| pyjson::dumps(config));
            render_executable(path, json)
        }
        Source::Unreadable(msg) | Source::NotRegular(msg) => {
            env.log.error(msg);
            Err(fail())
        }
        Source::Tera(text) => crate::render::tera::render(&path.to_string_lossy(), text, config)
            .map(String::into_bytes)
            .map_err(|e| format!("could not render tera template {}: {e}", path.display())),
        Source::Mustache(text) => {
            mustache_result(mustache::render(text, config, env.partials), path, env)
        }
    }
}

/// A mustache rendering's outcome as [`render_source`] reports it (the error is logged).
fn mustache_result(
    rendered: Result<String, mustache::Error>,
    path: &Path,
    env: &RenderEnv,
) -> Result<Vec<u8>, String> {
    rendered.map(String::into_bytes).map_err(|e| {
        env.log.error(&e.0);
        format!("could not render moustache template {}", path.display())
    })
}

/// Render one template (executable, tera or mustache). `stdin_json` is computed on demand.
pub fn render_template(
    path: &Path,
    config: &Value,
    stdin_json: &mut Option<String>,
    env: &RenderEnv,
) -> Result<Vec<u8>, String> {
    render_source(path, &prepare_source(path), config, stdin_json, env)
}

/// Python's universal-newline text read of a control file.
fn read_control(path: &Path) -> Result<String, String> {
    let f = fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    read_control_from(f, 0, path)
}

fn read_control_from(f: fs::File, size_hint: u64, path: &Path) -> Result<String, String> {
    let bytes =
        read_all(f, size_hint).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|e| format!("{} is not UTF-8: {e}", path.display()))?;
    Ok(mustache::universal_newlines(text))
}

/// `build_tree`: render every template and parse every control file, in walk order. The first
/// error aborts (nothing has been written yet).
pub fn build_tree(
    templates: &[TemplatePath],
    config: &Value,
    env: &RenderEnv,
) -> Result<Vec<Rendered>, String> {
    render_all(prepare_all(templates), config, env)
}

/// The rendering half of [`build_tree`], over templates already [`prepare`]d.
pub fn render_all(
    prepared: Vec<Prepared>,
    config: &Value,
    env: &RenderEnv,
) -> Result<Vec<Rendered>, String> {
    let mut stdin_json = None;
    let mut res: Vec<Rendered> = Vec::with_capacity(prepared.len());
    let mut outputs = std::collections::HashSet::new();
    for p in prepared {
        if let Source::NotRegular(msg) = &p.source {
            env.log.warn(msg);
            continue;
        }
        let t = p.template;
        let with_path = |e: String| {
            let p = t.template.display().to_string();
            if e.contains(&p) {
                e
            } else {
                format!("{e} (template {p})")
            }
        };
        let body = render_source(&t.template, &p.source, config, &mut stdin_json, env)
            .map_err(with_path)?;
        let control = p
            .control
            .and_then(|text| parse_control_text(text.as_deref(), &t.template, env.users))
            .map_err(with_path)?;
        if !outputs.insert(t.output.clone()) {
            let prev = res
                .iter()
                .find(|r| r.output == t.output)
                .map(|r| r.template.display().to_string());
            return Err(format!(
                "{} and {} both render to {}",
                prev.unwrap_or_default(),
                t.template.display(),
                t.output
            ));
        }
        res.push(Rendered {
            output: t.output,
            template: t.template,
            body,
            control,
        });
    }
    Ok(res)
}

/// Python `os.path.join(out_dir, output.lstrip-one('/'))`.
pub fn output_path(out_dir: &Path, output: &str) -> PathBuf {
    out_dir.join(output.strip_prefix('/').unwrap_or(output))
}

/// What writing one file would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Delete,
    NotCreatingEmpty,
    Unchanged,
    Write {
        mode: u32,
        owner: Owner,
        old: Option<Vec<u8>>,
        old_mode: Option<u32>,
    },
}

/// Decide what to do for `r` at `path` (no side effects).
pub fn plan(path: &Path, r: &Rendered) -> Action {
    if !r.control.allow_empty && r.body.is_empty() {
        return plan_with(path, r, Existing::default());
    }
    plan_with(path, r, probe(path))
}

/// What is at an output path: its metadata (followed and not) and, for a regular file, its
/// bytes. Read by [`probe`], possibly ahead of rendering.
#[derive(Debug, Default)]
pub struct Existing {
    meta: Option<fs::Metadata>,
    lmeta: Option<fs::Metadata>,
    old: Option<Vec<u8>>,
}

/// Look at what is at `path` now.
pub fn probe(path: &Path) -> Existing {
    // The common cases (no file yet, or a regular file) take one open without following a
    // final symlink: its fstat is both the followed and the unfollowed metadata.
    match open_no_follow(path) {
        Ok(f) => match f.metadata() {
            Ok(m) => {
                let old = if m.file_type().is_file() {
                    read_all(f, m.len()).ok()
                } else {
                    None
                };
                Existing {
                    meta: Some(m.clone()),
                    lmeta: Some(m),
                    old,
                }
            }
            Err(_) => probe_slow(path),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Existing::default(),
        Err(_) => probe_slow(path),
    }
}

/// [`plan`] with what [`probe`] found at `path` (ignored for an empty output, which only
/// checks whether the path exists).
pub fn plan_with(path: &Path, r: &Rendered, existing: Existing) -> Action {
    if !r.control.allow_empty && r.body.is_empty() {
        return if path.exists() {
            Action::Delete
        } else {
            Action::NotCreatingEmpty
        };
    }
    let Existing { meta, lmeta, old } = existing;
    let (mut mode, mut uid, mut gid) = (0o644, None, None);
    if let Some(m) = &meta {
        mode = m.mode() & 0o7777;
        uid = Some(m.uid());
        gid = Some(m.gid());
    }
    if let Some(m) = r.control.mode.filter(|m| *m != 0) {
        mode = m;
    }
    if r.control.owner.is_some() {
        uid = r.control.owner;
    }
    if r.control.group.is_some() {
        gid = r.control.group;
    }
    let owner = Owner { uid, gid };
    // unchanged: a regular file (not a symlink the reference would replace) with the same
    // bytes, mode and ownership
    if let (Some(m), Some(old)) = (&lmeta, &old) {
        if *old == r.body
            && m.mode() & 0o7777 == mode
            && Some(m.uid()) == uid
            && Some(m.gid()) == gid
        {
            return Action::Unchanged;
        }
    }
    Action::Write {
        mode,
        owner,
        old,
        old_mode: meta.map(|m| m.mode() & 0o7777),
    }
}

/// [`probe`] by path (symlinks, unreadable files).
fn probe_slow(path: &Path) -> Existing {
    let meta = fs::metadata(path).ok();
    let lmeta = fs::symlink_metadata(path).ok();
    let old = match &lmeta {
        Some(m) if m.file_type().is_file() => fs::read(path).ok(),
        _ => None,
    };
    Existing { meta, lmeta, old }
}

fn open_no_follow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
}

/// Read to the end into a buffer sized from the caller's fstat (std's `read_to_end` on a file
/// would fstat again and lseek).
fn read_all(mut f: fs::File, size_hint: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = vec![
        0u8;
        usize::try_from(size_hint)
            .unwrap_or(0)
            .saturating_add(1)
            .max(64)
    ];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // the file grew since the fstat
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// One output with its destination and what to do.
pub struct Planned<'a> {
    pub path: PathBuf,
    pub rendered: &'a Rendered,
    pub action: Action,
}

/// Write everything planned: parent directories first, then every new file is written under a
/// temporary name next to its destination and made durable (see [`fsutil::Flush`]); only
/// then are they renamed into place (and deletions done) in tree order, logging like the
/// reference, and the directories synced (those renamed into, and the parents of those
/// created). A failure before the renames leaves every destination untouched. Returns the
/// number of files written or deleted.
pub fn write_all(plans: &[Planned], log: &Log) -> Result<usize, String> {
    // parents of the directories created here: their new entries must be made durable too
    let created_in = make_parent_dirs(plans)?;
    // ownership that is already right need not be set (and a non-root run could not set it)
    let euid = nix::unistd::geteuid().as_raw();
    let mut new_file_gids: std::collections::HashMap<&Path, Option<u32>> =
        std::collections::HashMap::new();
    let mut requests = Vec::new();
    let mut staged_at = Vec::with_capacity(plans.len());
    for p in plans {
        let Action::Write { mode, owner, .. } = &p.action else {
            staged_at.push(None);
            continue;
        };
        let dir = p.path.parent().unwrap_or(Path::new(""));
        let dir_gid = *new_file_gids
            .entry(dir)
            .or_insert_with(|| parent_gid(&p.path));
        staged_at.push(Some(requests.len()));
        requests.push(fsutil::StageRequest {
            path: &p.path,
            data: &p.rendered.body,
            mode: *mode,
            owner: Owner {
                uid: owner.uid.filter(|u| *u != euid),
                gid: owner.gid.filter(|g| Some(*g) != dir_gid),
            },
        });
    }
    // on error, the staged files are dropped (removed)
    let flush = fsutil::Flush::for_batch(requests.len());
    let mut staged: Vec<Option<fsutil::Staged>> = fsutil::stage_all(&requests, flush)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(Some)
        .collect();
    let mut changed = 0;
    let mut dirs: Vec<&Path> = Vec::new();
    let mut seen_dirs: std::collections::HashSet<&Path> = std::collections::HashSet::new();
    // the lines are written together: before an error is returned, and at the end
    let mut lines: Vec<String> = Vec::with_capacity(plans.len());
    let flush_log = |lines: &mut Vec<String>| {
        log.info_all(lines.iter().map(String::as_str));
        lines.clear();
    };
    for (p, at) in plans.iter().zip(staged_at) {
        let shown = p.path.display();
        let step = match &p.action {
            Action::Delete => {
                lines.push(format!("deleting {shown}"));
                fs::remove_file(&p.path).map_err(|e| format!("cannot delete {shown}: {e}"))
            }
            Action::NotCreatingEmpty => {
                lines.push(format!("not creating empty {shown}"));
                continue;
            }
            Action::Unchanged => {
                lines.push(format!("unchanged {shown}"));
                continue;
            }
            Action::Write { .. } => {
                lines.push(format!("writing {shown}"));
                match at.and_then(|i| staged[i].take()) {
                    Some(s) => s.commit().map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
        };
        if let Err(e) = step {
            flush_log(&mut lines);
            return Err(e);
        }
        changed += 1;
        if let Some(d) = p.path.parent() {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            if seen_dirs.insert(d) {
                dirs.push(d);
            }
        }
    }
    flush_log(&mut lines);
    for d in &created_in {
        if seen_dirs.insert(d) {
            dirs.push(d);
        }
    }
    fsutil::sync_dirs_with(&dirs, flush).map_err(|e| e.to_string())?;
    Ok(changed)
}

/// Create the missing parent directories of the files to write (refusing to write over a
/// directory). Returns the parents of the directories created: their new entries must be made
/// durable too.
fn make_parent_dirs(plans: &[Planned]) -> Result<Vec<PathBuf>, String> {
    let mut dirs_ready: std::collections::HashSet<&Path> = std::collections::HashSet::new();
    // parents of the directories created here: their new entries must be made durable too
    let mut created_in: Vec<PathBuf> = Vec::new();
    for p in plans {
        if let Action::Write { old_mode, .. } = &p.action {
            // nothing was there when planned (`old_mode` is None): no directory to refuse
            if old_mode.is_some() && fs::symlink_metadata(&p.path).is_ok_and(|m| m.is_dir()) {
                return Err(format!(
                    "cannot write {}: it is a directory",
                    p.path.display()
                ));
            }
            if let Some(dir) = p.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if dirs_ready.insert(dir) && !dir.exists() {
                    let mut missing = dir;
                    while let Some(parent) = missing
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
                    {
                        missing = parent;
                    }
                    // like os.makedirs: 0777 & ~umask
                    fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                    // every directory from `missing` down to `dir` is new: its parent gained
                    // an entry
                    created_in.extend(
                        dir.ancestors()
                            .take_while(|a| *a != missing.parent().unwrap_or(Path::new("")))
                            .filter_map(|a| a.parent())
                            .map(|p| match p.as_os_str().is_empty() {
                                true => PathBuf::from("."),
                                false => p.to_path_buf(),
                            }),
                    );
                }
            }
        }
    }
    Ok(created_in)
}

/// The gid a new file in `path`'s directory gets (setgid directories pass theirs on).
fn parent_gid(path: &Path) -> Option<u32> {
    let dir = path.parent()?;
    let m = fs::metadata(dir).ok()?;
    if m.mode() & 0o2000 != 0 {
        Some(m.gid())
    } else {
        Some(nix::unistd::getegid().as_raw())
    }
}

/// The `--diff` text for one planned action.
pub fn describe_diff(path: &Path, r: &Rendered, action: &Action) -> String {
    let shown = path.display().to_string();
    match action {
        Action::Delete => {
            let old = fs::read(path).unwrap_or_default();
            let old = String::from_utf8_lossy(&old);
            let d = super::diff::unified(&old, "", &shown, "/dev/null");
            if d.is_empty() {
                format!("deleted {shown} (empty)\n")
            } else {
                d
            }
        }
        Action::NotCreatingEmpty | Action::Unchanged => String::new(),
        Action::Write {
            mode,
            owner,
            old,
            old_mode,
        } => {
            let new = String::from_utf8_lossy(&r.body);
            let mut out = String::new();
            match old {
                Some(o) => {
                    out.push_str(&super::diff::unified(
                        &String::from_utf8_lossy(o),
                        &new,
                        &shown,
                        &shown,
                    ));
                }
                None => out.push_str(&super::diff::unified("", &new, "/dev/null", &shown)),
            }
            if old_mode.is_some_and(|m| m != *mode) {
                out.push_str(&format!(
                    "mode {shown}: {:04o} -> {:04o}\n",
                    old_mode.unwrap_or(0),
                    mode
                ));
            } else if old.is_none() {
                out.push_str(&format!("new file {shown} mode {mode:04o}\n"));
            }
            if let Ok(m) = fs::metadata(path) {
                if owner.uid.is_some_and(|u| u != m.uid())
                    || owner.gid.is_some_and(|g| g != m.gid())
                {
                    out.push_str(&format!(
                        "owner {shown}: {}:{} -> {}:{}\n",
                        m.uid(),
                        m.gid(),
                        owner.uid.unwrap_or(m.uid()),
                        owner.gid.unwrap_or(m.gid())
                    ));
                }
            }
            out
        }
    }
}
