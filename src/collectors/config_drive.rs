//! The OpenStack config drive as an ec2 fallback:
//! `blkid -o export`, first `config-2` vfat/iso9660 device, reuse its mount or mount it
//! read-only on a fresh temp dir, read `ec2/latest/meta-data.json`, unmount lazily.
//!
//! Test hooks (environment): `HEAT_AGENT_BLKID`, `HEAT_AGENT_MOUNT`, `HEAT_AGENT_UMOUNT` name
//! the programs to run instead of `blkid`, `mount` and `umount`; `HEAT_AGENT_PROC_MOUNTS`
//! names the file read instead of `/proc/mounts`.

use crate::process::{self, Output, Spec};
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Programs and files the config drive code uses (overridable for tests).
#[derive(Clone, Debug, PartialEq)]
pub struct Tools {
    pub blkid: PathBuf,
    pub mount: PathBuf,
    pub umount: PathBuf,
    pub proc_mounts: PathBuf,
    /// Where the temporary mount point is created.
    pub tmpdir: PathBuf,
    pub timeout: Duration,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            blkid: "blkid".into(),
            mount: "mount".into(),
            umount: "umount".into(),
            proc_mounts: "/proc/mounts".into(),
            tmpdir: std::env::temp_dir(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl Tools {
    /// The defaults, with the `HEAT_AGENT_*` test hooks applied.
    pub fn from_env() -> Tools {
        let mut t = Tools::default();
        let vars = crate::config::vars::config_drive_tools();
        if let Some(v) = vars.blkid {
            t.blkid = v;
        }
        if let Some(v) = vars.mount {
            t.mount = v;
        }
        if let Some(v) = vars.umount {
            t.umount = v;
        }
        if let Some(v) = vars.proc_mounts {
            t.proc_mounts = v;
        }
        t
    }
}

/// One block of `blkid -o export` output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDevice {
    pub devname: Option<String>,
    pub fstype: Option<String>,
    pub label: Option<String>,
}

impl BlockDevice {
    pub fn from_blkid_export(block: &str) -> BlockDevice {
        let mut bd = BlockDevice::default();
        for line in block.lines() {
            match parse_shell_var(line) {
                Some((k, v)) if k == "DEVNAME" => bd.devname = Some(v),
                Some((k, v)) if k == "TYPE" => bd.fstype = Some(v),
                Some((k, v)) if k == "LABEL" => bd.label = Some(v),
                _ => {}
            }
        }
        bd
    }

    /// A v2 config drive: label `config-2`, vfat or iso9660.
    pub fn config_drive_candidate(&self) -> bool {
        self.label.as_deref() == Some("config-2")
            && matches!(self.fstype.as_deref(), Some("vfat" | "iso9660"))
    }
}

impl fmt::Display for BlockDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".into());
        write!(
            f,
            "{}: TYPE=\"{}\" LABEL=\"{}\"",
            show(&self.devname),
            show(&self.fstype),
            show(&self.label)
        )
    }
}

/// Shell-style `KEY=value`: split at the first `=`, `\ ` becomes a space.
pub fn parse_shell_var(line: &str) -> Option<(String, String)> {
    let (k, v) = line.split_once('=')?;
    Some((k.to_string(), v.replace("\\ ", " ")))
}

/// Devices of `blkid -o export` output (blocks separated by a blank line).
pub fn parse_blkid_export(out: &str) -> Vec<BlockDevice> {
    out.split("\n\n")
        .map(BlockDevice::from_blkid_export)
        .collect()
}

/// Decode the octal escapes `/proc/mounts` uses for space, tab, newline and backslash.
pub fn decode_mount_field(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if v <= 0xff {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount point of `devname` in a `/proc/mounts` text, decoded.
pub fn find_mountpoint(mounts: &str, devname: &str) -> Option<String> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let dev = decode_mount_field(fields.next()?);
        let dir = fields.next()?;
        (dev == devname).then(|| decode_mount_field(dir))
    })
}

fn run(tools: &Tools, program: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut spec = Spec::new(program);
    spec.args = args.iter().map(Into::into).collect();
    spec.stdin = Some(Vec::new());
    spec.stdout = Output::Capture(1 << 20);
    spec.stderr = Output::Capture(64 << 10);
    spec.timeout = Some(tools.timeout);
    spec.kill_grace = Duration::from_secs(1);
    let shown = format!("{} {}", program.display(), args.join(" "));
    let done =
        process::run(&spec, None).map_err(|e| format!("Problem running \"{shown}\": {e}"))?;
    if done.success() {
        Ok(done.stdout)
    } else {
        let err = String::from_utf8_lossy(&done.stderr);
        Err(format!(
            "Problem running \"{shown}\": {} {}",
            done.describe(),
            err.trim()
        ))
    }
}

/// Every block device blkid knows (none when blkid fails; the error is logged).
pub fn all_block_devices(tools: &Tools) -> Vec<BlockDevice> {
    match run(tools, &tools.blkid, &["-o", "export"]) {
        Ok(out) => parse_blkid_export(&String::from_utf8_lossy(&out)),
        Err(e) => {
            log::error!("{e}");
            Vec::new()
        }
    }
}

/// The first device that looks like a v2 config drive.
pub fn config_drive(tools: &Tools) -> Option<BlockDevice> {
    all_block_devices(tools)
        .into_iter()
        .find(BlockDevice::config_drive_candidate)
}

fn make_mountpoint(tools: &Tools) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    loop {
        let dir = tools
            .tmpdir
            .join(format!("config-2-{:08x}", fastrand::u32(..)));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A mounted config drive; `mounted_by_us` says whether cleanup must unmount.
#[derive(Debug)]
pub struct Mounted {
    pub mountpoint: PathBuf,
    pub mounted_by_us: bool,
}

/// Reuse the device's existing mount, or mount it read-only on a new temp dir.
pub fn ensure_mounted(tools: &Tools, devname: &str) -> Option<Mounted> {
    if let Ok(mounts) = std::fs::read_to_string(&tools.proc_mounts) {
        if let Some(mp) = find_mountpoint(&mounts, devname) {
            log::debug!("Found existing mounted config-drive: {mp}");
            return Some(Mounted {
                mountpoint: mp.into(),
                mounted_by_us: false,
            });
        }
    }
    let dir = match make_mountpoint(tools) {
        Ok(d) => d,
        Err(e) => {
            log::error!("Problem getting metadata: cannot create a mount point: {e}");
            return None;
        }
    };
    let dir_s = dir.to_string_lossy().into_owned();
    log::debug!("Mounting {devname} at : {dir_s}");
    match run(tools, &tools.mount, &[devname, &dir_s, "-o", "ro"]) {
        Ok(_) => Some(Mounted {
            mountpoint: dir,
            mounted_by_us: true,
        }),
        Err(e) => {
            log::error!("{e}");
            let _ = std::fs::remove_dir(&dir);
            None
        }
    }
}

/// Unmount (lazily) what [`ensure_mounted`] mounted and remove its directory.
pub fn cleanup(tools: &Tools, m: &Mounted) {
    if !m.mounted_by_us {
        return;
    }
    let dir_s = m.mountpoint.to_string_lossy().into_owned();
    log::debug!("Unmounting: {dir_s}");
    match run(tools, &tools.umount, &["-l", &dir_s]) {
        Ok(_) => {
            if let Err(e) = std::fs::remove_dir(&m.mountpoint) {
                log::error!("Problem removing {dir_s}: {e}");
            }
        }
        // the directory stays: it may still be a mount point
        Err(e) => log::error!("{e}"),
    }
}

/// `ec2/latest/meta-data.json` of the device, or `{}` on any problem (logged).
pub fn device_metadata(tools: &Tools, bd: &BlockDevice) -> Value {
    let empty = Value::Object(Map::new());
    let Some(devname) = bd.devname.as_deref() else {
        return empty;
    };
    let Some(m) = ensure_mounted(tools, devname) else {
        return empty;
    };
    let md_path = m.mountpoint.join("ec2/latest/meta-data.json");
    let value = if !md_path.is_file() {
        log::warn!("No expected file at path: {}", md_path.display());
        empty
    } else {
        match std::fs::read(&md_path)
            .map_err(|e| e.to_string())
            .and_then(|b| super::parse_json(&b))
        {
            Ok(v) => v,
            Err(e) => {
                log::error!("Problem getting metadata: {}: {e}", md_path.display());
                empty
            }
        }
    };
    cleanup(tools, &m);
    value
}

/// Config drive metadata, or `{}` when there is no config drive.
pub fn get_metadata(tools: &Tools) -> Value {
    match config_drive(tools) {
        Some(bd) => device_metadata(tools, &bd),
        None => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const BLKID_EXPORT: &str = "DEVNAME=/dev/sr0\nUUID=2015-04-16-15-36-24-00\nLABEL=config-2\nTYPE=iso9660\n\nDEVNAME=/dev/block/253:1\nUUID=f13d84b4-c756-4d89-9d5e-6b534397aa14\nTYPE=xfs\n";

    #[test]
    fn test_all_devices() {
        let devs = parse_blkid_export(BLKID_EXPORT);
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].devname.as_deref(), Some("/dev/sr0"));
        assert_eq!(devs[0].fstype.as_deref(), Some("iso9660"));
        assert_eq!(devs[0].label.as_deref(), Some("config-2"));
        assert!(devs[0].config_drive_candidate());
        assert_eq!(
            devs[0].to_string(),
            "/dev/sr0: TYPE=\"iso9660\" LABEL=\"config-2\""
        );
        assert_eq!(devs[1].devname.as_deref(), Some("/dev/block/253:1"));
        assert_eq!(devs[1].fstype.as_deref(), Some("xfs"));
        assert_eq!(devs[1].label, None);
        assert!(!devs[1].config_drive_candidate());
        assert_eq!(
            devs[1].to_string(),
            "/dev/block/253:1: TYPE=\"xfs\" LABEL=\"None\""
        );
    }

    #[test]
    fn test_parse_shell_var() {
        let p = |s: &str| parse_shell_var(s);
        assert_eq!(p("foo=bar"), Some(("foo".into(), "bar".into())));
        assert_eq!(p("foo=bar=baz"), Some(("foo".into(), "bar=baz".into())));
        assert_eq!(p("foo=bar baz"), Some(("foo".into(), "bar baz".into())));
        assert_eq!(p("foo=bar\\ baz"), Some(("foo".into(), "bar baz".into())));
        assert_eq!(p("foo="), Some(("foo".into(), "".into())));
        assert_eq!(p("foo"), None);
    }

    #[test]
    fn label_with_escaped_space_and_vfat() {
        let d = BlockDevice::from_blkid_export("DEVNAME=/dev/vdb\nLABEL=config\\ 2\nTYPE=vfat");
        assert_eq!(d.label.as_deref(), Some("config 2"));
        assert!(!d.config_drive_candidate());
        let d = BlockDevice::from_blkid_export("DEVNAME=/dev/vdb\nLABEL=config-2\nTYPE=vfat");
        assert!(d.config_drive_candidate());
    }

    #[test]
    fn mounts_octal_escapes_are_decoded() {
        let mounts = "proc /proc proc rw 0 0\n/dev/sr0 /mnt/config\\0402 iso9660 ro 0 0\n";
        assert_eq!(
            find_mountpoint(mounts, "/dev/sr0").as_deref(),
            Some("/mnt/config 2")
        );
        assert_eq!(find_mountpoint(mounts, "/dev/sr1"), None);
        assert_eq!(decode_mount_field("a\\134b\\011c"), "a\\b\tc");
        assert_eq!(decode_mount_field("trailing\\04"), "trailing\\04");
    }
}
