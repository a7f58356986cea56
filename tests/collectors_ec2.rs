//! `ec2` collector: cache, config drive (through fake blkid/mount/umount programs named by the
//! documented `HEAT_AGENT_*` test hooks), and the metadata tree walk against a loopback server
//! (ports of test_ec2.py and test_config_drive.py).

mod collectors_support;
mod common;

use collectors_support::*;
use common::{Response, Server};
use heat_agent::collectors::config_drive::{self, BlockDevice, Tools};
use heat_agent::collectors::State;
use heat_agent::config::Settings;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The env test hooks are process-wide: tests that use them run one at a time.
static ENV_LOCK: Mutex<()> = Mutex::new(());

fn lock_env() -> MutexGuard<'static, ()> {
    ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// test_ec2.META_DATA (the flat path map the fake server serves)
fn ec2_meta_data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("local-ipv4", "192.0.2.1"),
        ("reservation-id", "r-1b2e5f8a-0000-4000-8000-000000000001"),
        ("local-hostname", "foo"),
        ("ami-launch-index", "0"),
        ("public-hostname", "foo"),
        ("hostname", "foo"),
        ("ami-id", "ami-1b2e5f8a-0000-4000-8000-000000000002"),
        ("instance-action", "none"),
        ("public-ipv4", "192.0.2.1"),
        ("instance-type", "flavor.small"),
        ("placement/", "availability-zone"),
        ("placement/availability-zone", "foo-az"),
        ("mpi/", "foo-keypair"),
        ("mpi/foo-keypair", "192.0.2.1 slots=1"),
        ("block-device-mapping/", "ami\nroot\nephemeral0"),
        ("block-device-mapping/ami", "vda"),
        ("block-device-mapping/root", "/dev/vda"),
        ("block-device-mapping/ephemeral0", "/dev/vdb"),
        ("public-keys/", "0=foo-keypair"),
        ("public-keys/0", "openssh-key"),
        ("public-keys/0/", "openssh-key"),
        (
            "public-keys/0/openssh-key",
            "ssh-rsa AAAAAAAAABBBBBBBBCCCCCCCC",
        ),
        ("instance-id", "i-1b2e5f8a-0000-4000-8000-000000000003"),
    ]
}

/// test_ec2.META_DATA_RESOLVED
fn ec2_meta_data_resolved() -> Value {
    json!({
        "local-ipv4": "192.0.2.1",
        "reservation-id": "r-1b2e5f8a-0000-4000-8000-000000000001",
        "local-hostname": "foo",
        "ami-launch-index": "0",
        "public-hostname": "foo",
        "hostname": "foo",
        "ami-id": "ami-1b2e5f8a-0000-4000-8000-000000000002",
        "instance-action": "none",
        "public-ipv4": "192.0.2.1",
        "instance-type": "flavor.small",
        "placement": {"availability-zone": "foo-az"},
        "mpi": {"foo-keypair": "192.0.2.1 slots=1"},
        "public-keys": {"0": {"openssh-key": "ssh-rsa AAAAAAAAABBBBBBBBCCCCCCCC"}},
        "block-device-mapping": {"ami": "vda", "ephemeral0": "/dev/vdb", "root": "/dev/vda"},
        "instance-id": "i-1b2e5f8a-0000-4000-8000-000000000003"
    })
}

/// The fake metadata service of test_ec2.FakeRequests, over real HTTP.
fn ec2_server(trailing_newline: bool) -> Server {
    let md = ec2_meta_data();
    Server::start(move |req| {
        let path = req.path();
        let Some(rel) = path.strip_prefix("/latest/meta-data/") else {
            return Response::new(404, "");
        };
        if rel.is_empty() {
            let keys: Vec<&str> = md
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| k.split('/').nth(1).is_none_or(str::is_empty))
                .collect();
            let mut listing = keys.join("\n");
            if trailing_newline {
                listing.push('\n');
            }
            return Response::new(200, listing);
        }
        match md.iter().find(|(k, _)| *k == rel) {
            Some((_, v)) => Response::new(200, *v),
            None => Response::new(404, "Not Found"),
        }
    })
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Fake blkid/mount/umount in `dir`; mount copies `meta` into the mount point, and every
/// mount/umount call is appended to `dir/calls`.
struct FakeDrive {
    dir: tempfile::TempDir,
}

impl FakeDrive {
    fn new(blkid_output: &str, meta: Option<&str>) -> FakeDrive {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("blkid.out"), blkid_output).unwrap();
        script(
            d,
            "blkid",
            &format!("cat '{}'", d.join("blkid.out").display()),
        );
        let copy = match meta {
            Some(m) => {
                std::fs::write(d.join("meta.json"), m).unwrap();
                format!(
                    "mkdir -p \"$2/ec2/latest\" && cp '{}' \"$2/ec2/latest/meta-data.json\"",
                    d.join("meta.json").display()
                )
            }
            None => "true".into(),
        };
        let calls = d.join("calls");
        script(
            d,
            "mount",
            &format!("echo mount \"$@\" >> '{}'\n{copy}", calls.display()),
        );
        script(
            d,
            "umount",
            &format!(
                "echo umount \"$@\" >> '{}'\nrm -rf \"$2/ec2\"",
                calls.display()
            ),
        );
        std::fs::write(d.join("mounts"), "proc /proc proc rw 0 0\n").unwrap();
        FakeDrive { dir }
    }

    fn tools(&self) -> Tools {
        let d = self.dir.path();
        Tools {
            blkid: d.join("blkid"),
            mount: d.join("mount"),
            umount: d.join("umount"),
            proc_mounts: d.join("mounts"),
            tmpdir: d.to_path_buf(),
            ..Tools::default()
        }
    }

    /// Point the env test hooks at these fakes.
    fn install_env(&self) {
        let t = self.tools();
        std::env::set_var("HEAT_AGENT_BLKID", &t.blkid);
        std::env::set_var("HEAT_AGENT_MOUNT", &t.mount);
        std::env::set_var("HEAT_AGENT_UMOUNT", &t.umount);
        std::env::set_var("HEAT_AGENT_PROC_MOUNTS", &t.proc_mounts);
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

const BLKID_EXPORT: &str = "DEVNAME=/dev/sr0\nUUID=2015-04-16-15-36-24-00\nLABEL=config-2\nTYPE=iso9660\n\nDEVNAME=/dev/block/253:1\nUUID=f13d84b4-c756-4d89-9d5e-6b534397aa14\nTYPE=xfs\n";

fn settings(srv: &Server) -> Settings {
    let mut s = Settings::default();
    s.ec2.metadata_url = srv.url("/latest/meta-data");
    s
}

/// No config drive: blkid lists only an xfs disk.
fn no_drive() -> FakeDrive {
    let f = FakeDrive::new("DEVNAME=/dev/vda1\nTYPE=xfs\n", None);
    f.install_env();
    f
}

#[test]
fn test_collect_ec2() {
    let _g = lock_env();
    let _drive = no_drive();
    capture_logs();
    let srv = ec2_server(false);
    let entries = collect("ec2", &settings(&srv)).unwrap();
    assert_eq!(entries, vec![("ec2".to_string(), ec2_meta_data_resolved())]);
    assert!(visible_logs().is_empty(), "{:?}", logs());
    let paths: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(paths[0], "/latest/meta-data/");
    let i = paths
        .iter()
        .position(|p| p == "/latest/meta-data/public-keys/")
        .unwrap();
    assert_eq!(
        &paths[i..i + 3],
        [
            "/latest/meta-data/public-keys/",
            "/latest/meta-data/public-keys/0/",
            "/latest/meta-data/public-keys/0/openssh-key"
        ]
    );
}

/// W-C3: a listing ending in a newline crashed the reference; empty lines are skipped.
#[test]
fn ec2_listing_with_trailing_newline() {
    let _g = lock_env();
    let _drive = no_drive();
    let srv = ec2_server(true);
    let entries = collect("ec2", &settings(&srv)).unwrap();
    assert_eq!(entries[0].1, ec2_meta_data_resolved());
}

/// W-C3: a metadata_url ending in "/" does not produce "//".
#[test]
fn ec2_metadata_url_with_trailing_slash() {
    let _g = lock_env();
    let _drive = no_drive();
    let srv = ec2_server(false);
    let mut s = settings(&srv);
    s.ec2.metadata_url = srv.url("/latest/meta-data/");
    collect("ec2", &s).unwrap();
    assert!(srv.requests().iter().all(|r| !r.path().contains("//")));
}

/// W-C3: a tree that never ends (every directory lists a sub-directory) is cut off.
#[test]
fn ec2_endless_tree_is_not_available() {
    let _g = lock_env();
    let _drive = no_drive();
    let srv = Server::start(|_| Response::new(200, "deeper/"));
    let msg = not_available(collect("ec2", &settings(&srv)));
    assert!(msg.contains("deeper than"), "{msg}");
}

#[test]
fn test_collect_ec2_fail() {
    let _g = lock_env();
    let _drive = no_drive();
    let srv = Server::start(|_| Response::new(403, "Forbidden"));
    let msg = not_available(collect("ec2", &settings(&srv)));
    assert!(msg.contains("Forbidden"), "{msg}");
}

#[test]
fn test_collect_ec2_invalid_cache() {
    let _g = lock_env();
    let _drive = no_drive();
    let srv = ec2_server(false);
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join("ec2.json"), "").unwrap();
    let entries =
        collect_with("ec2", &settings(&srv), cache.path(), &mut State::default()).unwrap();
    assert_eq!(entries, vec![("ec2".to_string(), ec2_meta_data_resolved())]);
}

#[test]
fn test_collect_ec2_collected() {
    let _g = lock_env();
    let drive = no_drive();
    let srv = Server::start(|_| Response::new(403, "Forbidden"));
    let cache = tempfile::tempdir().unwrap();
    let cached = json!({"local-ipv4": "192.0.2.1", "placement/": "availability-zone"});
    std::fs::write(cache.path().join("ec2.json"), cached.to_string()).unwrap();
    let entries =
        collect_with("ec2", &settings(&srv), cache.path(), &mut State::default()).unwrap();
    assert_eq!(entries, vec![("ec2".to_string(), cached)]);
    assert!(srv.requests().is_empty(), "the cache means no network");
    assert!(drive.calls().is_empty(), "and no config drive");
}

#[test]
fn test_collect_config_drive() {
    let _g = lock_env();
    let drive = FakeDrive::new(BLKID_EXPORT, Some(&ec2_meta_data_resolved().to_string()));
    drive.install_env();
    capture_logs();
    let srv = Server::start(|_| Response::new(403, "Forbidden"));
    let entries = collect("ec2", &settings(&srv)).unwrap();
    assert_eq!(entries, vec![("ec2".to_string(), ec2_meta_data_resolved())]);
    assert!(visible_logs().is_empty(), "{:?}", logs());
    assert!(srv.requests().is_empty());
    let calls = drive.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("mount /dev/sr0 "), "{calls:?}");
    assert!(calls[0].ends_with(" -o ro"), "{calls:?}");
}

#[test]
fn ec2_blkid_failure_is_logged_and_http_used() {
    let _g = lock_env();
    let drive = no_drive();
    script(
        drive.dir.path(),
        "blkid",
        "echo 'blkid: broken' >&2; exit 2",
    );
    capture_logs();
    let srv = ec2_server(false);
    collect("ec2", &settings(&srv)).unwrap();
    assert!(
        logs()
            .iter()
            .any(|l| l.starts_with("ERROR Problem running \"")
                && l.contains("blkid -o export\"")
                && l.contains("blkid: broken")),
        "{:?}",
        logs()
    );
}

#[test]
fn test_all_devices() {
    let devs = config_drive::parse_blkid_export(BLKID_EXPORT);
    assert_eq!(devs.len(), 2);
    assert_eq!(
        devs[0].to_string(),
        "/dev/sr0: TYPE=\"iso9660\" LABEL=\"config-2\""
    );
    assert!(devs[0].config_drive_candidate());
    assert_eq!(
        devs[1].to_string(),
        "/dev/block/253:1: TYPE=\"xfs\" LABEL=\"None\""
    );
    assert!(!devs[1].config_drive_candidate());
    // the same through the real program path
    let f = FakeDrive::new(BLKID_EXPORT, None);
    assert_eq!(config_drive::all_block_devices(&f.tools()), devs);
}

#[test]
fn test_config_drive() {
    let f = FakeDrive::new(BLKID_EXPORT, None);
    let bd = config_drive::config_drive(&f.tools()).unwrap();
    assert_eq!(bd.devname.as_deref(), Some("/dev/sr0"));
    let none = FakeDrive::new("DEVNAME=/dev/vda\nTYPE=ext4\n", None);
    assert_eq!(config_drive::config_drive(&none.tools()), None);
}

#[test]
fn test_parse_shell_var() {
    let p = config_drive::parse_shell_var;
    assert_eq!(p("foo=bar"), Some(("foo".into(), "bar".into())));
    assert_eq!(p("foo=bar=baz"), Some(("foo".into(), "bar=baz".into())));
    assert_eq!(p("foo=bar baz"), Some(("foo".into(), "bar baz".into())));
    assert_eq!(p("foo=bar\\ baz"), Some(("foo".into(), "bar baz".into())));
    assert_eq!(p("foo="), Some(("foo".into(), "".into())));
    assert_eq!(p("foo"), None);
}

#[test]
fn test_ensure_mounted() {
    let f = FakeDrive::new(BLKID_EXPORT, Some("{}"));
    let t = f.tools();
    let m = config_drive::ensure_mounted(&t, "/dev/sr0").unwrap();
    assert!(m.mounted_by_us);
    assert!(m.mountpoint.is_dir());
    let name = m
        .mountpoint
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("config-2-"), "{name}");
    assert_eq!(
        f.calls(),
        [format!("mount /dev/sr0 {} -o ro", m.mountpoint.display())]
    );
    config_drive::cleanup(&t, &m);
    assert_eq!(
        f.calls()[1],
        format!("umount -l {}", m.mountpoint.display())
    );
    assert!(!m.mountpoint.exists(), "mount point removed");
}

#[test]
fn mount_failure_removes_the_temp_dir() {
    let f = FakeDrive::new(BLKID_EXPORT, None);
    script(
        f.dir.path(),
        "mount",
        "echo \"$2\" > \"$(dirname \"$0\")/tried\"; exit 32",
    );
    let t = f.tools();
    assert!(config_drive::ensure_mounted(&t, "/dev/sr0").is_none());
    let tried = std::fs::read_to_string(f.dir.path().join("tried")).unwrap();
    assert!(!Path::new(tried.trim()).exists());
}

#[test]
fn test_already_mounted() {
    let f = FakeDrive::new(BLKID_EXPORT, None);
    let mnt = f.dir.path().join("mnt with space");
    std::fs::create_dir_all(mnt.join("ec2/latest")).unwrap();
    std::fs::write(
        mnt.join("ec2/latest/meta-data.json"),
        r#"{"from": "existing mount"}"#,
    )
    .unwrap();
    let escaped = mnt.display().to_string().replace(' ', "\\040");
    std::fs::write(
        f.dir.path().join("mounts"),
        format!("proc /proc proc rw 0 0\n/dev/sr0 {escaped} iso9660 ro 0 0\n"),
    )
    .unwrap();
    let t = f.tools();
    let m = config_drive::ensure_mounted(&t, "/dev/sr0").unwrap();
    assert!(!m.mounted_by_us);
    assert_eq!(m.mountpoint, mnt);
    let bd = BlockDevice {
        devname: Some("/dev/sr0".into()),
        fstype: Some("iso9660".into()),
        label: Some("config-2".into()),
    };
    assert_eq!(
        config_drive::device_metadata(&t, &bd),
        json!({"from": "existing mount"})
    );
    assert!(f.calls().is_empty(), "no mount or umount: {:?}", f.calls());
    assert!(mnt.exists());
}

#[test]
fn test_get_metadata() {
    capture_logs();
    let absent = FakeDrive::new(BLKID_EXPORT, None);
    assert_eq!(config_drive::get_metadata(&absent.tools()), json!({}));
    assert!(logs()
        .iter()
        .any(|l| l.starts_with("WARN No expected file at path: ")));
    let present = FakeDrive::new(BLKID_EXPORT, Some(r#"{"uuid": "x"}"#));
    assert_eq!(
        config_drive::get_metadata(&present.tools()),
        json!({"uuid": "x"})
    );
    let bad = FakeDrive::new(BLKID_EXPORT, Some("{truncated"));
    assert_eq!(config_drive::get_metadata(&bad.tools()), json!({}));
    assert!(logs()
        .iter()
        .any(|l| l.starts_with("ERROR Problem getting metadata: ")));
    // always unmounted again
    assert_eq!(bad.calls().len(), 2);
}

/// The walk has an overall deadline (6 × `timeout`), not only one per request: a server that
/// answers each of its many documents slowly, each within the per-request timeout, can no
/// longer hold a poll for up to 4,096 requests. Through the real binary.
#[test]
fn the_metadata_walk_has_an_overall_deadline() {
    let names: Vec<String> = (0..300).map(|i| format!("key{i}")).collect();
    let listing = names.join("\n");
    let srv = Server::start(move |req| {
        if req.path().ends_with('/') {
            return Response::new(200, listing.clone());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        Response::new(200, "v")
    });
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["collect", "--config-file", "/dev/null", "--cachedir"])
        .arg(dir.path().join("cache"))
        .args(["--ec2-metadata-url", &srv.url("/latest/meta-data")])
        .args(["--ec2-timeout", "0.5", "--print", "ec2"])
        .env("HEAT_AGENT_BLKID", "/bin/true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("EC2 metadata walk took longer than 3.0 s (at http://"),
        "{stderr}"
    );
    assert!(stderr.contains("Source [ec2] Unavailable."), "{stderr}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({}));
    // it stopped early: far fewer than the 300 documents were asked for
    assert!(srv.requests().len() < 100, "{}", srv.requests().len());
}
