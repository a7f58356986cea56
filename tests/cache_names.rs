//! Issue 11, cache file names through the real binary (`os-collect-config --one-time` with the
//! request collector against a loopback server): distinct deployment names get distinct
//! files, and no deployment overwrites the agent's own files.

mod common;

use common::{Response, Server};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Guest {
    tmp: tempfile::TempDir,
    server: Server,
}

impl Guest {
    fn new(deployments: Value) -> Guest {
        let body = json!({"deployments": deployments}).to_string();
        let server = Server::start(move |_| {
            Response::new(200, body.clone())
                .header("Content-Type", "application/json")
                .header("ETag", "\"v1\"")
        });
        Guest {
            tmp: tempfile::tempdir().unwrap(),
            server,
        }
    }
    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }
    fn marker(&self) -> PathBuf {
        self.tmp.path().join("marker")
    }
    /// One `--one-time` run; its command records OS_CONFIG_FILES and counts runs. Returns
    /// stderr.
    fn run_once(&self) -> String {
        let command = format!(
            "printenv OS_CONFIG_FILES > {m}; echo run >> {m}.count",
            m = self.marker().display()
        );
        let out = Command::new(common::legacy(self.tmp.path(), "os-collect-config"))
            .args(["--config-file", "/dev/null", "--cachedir"])
            .arg(self.cache())
            .arg("--backup-cachedir")
            .arg(self.tmp.path().join("backup"))
            .arg("--request-metadata-url")
            .arg(self.server.url("/meta.json"))
            .args(["--one-time", "--command", &command, "request"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        err
    }
    fn runs(&self) -> usize {
        fs::read_to_string(format!("{}.count", self.marker().display()))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
    fn files(&self) -> Vec<String> {
        fs::read_to_string(self.marker())
            .unwrap()
            .trim_end()
            .split(':')
            .map(String::from)
            .collect()
    }
    fn contents(&self) -> Vec<Value> {
        self.files()
            .iter()
            .map(|f| read_json(Path::new(f)))
            .collect()
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dep(name: &str, v: &str) -> Value {
    json!({"name": name, "group": "os-apply-config", "config": {"v": v}})
}

/// `a/b` and `a%2Fb` used to share `a%2Fb.json`: each poll stored both values in turn, so the
/// command ran again on every poll. The ordinary name keeps the reference's file name.
#[test]
fn names_that_encoded_alike_get_their_own_files_and_settle() {
    let g = Guest::new(json!([dep("a/b", "slash"), dep("a%2Fb", "percent")]));
    g.run_once();
    assert_eq!(g.runs(), 1);
    let contents = g.contents();
    assert!(contents.contains(&json!({"v": "slash"})), "{contents:?}");
    assert!(contents.contains(&json!({"v": "percent"})), "{contents:?}");
    assert_eq!(
        read_json(&g.cache().join("a%2Fb.json")),
        json!({"v": "percent"}),
        "the ordinary name keeps the reference's file name"
    );
    g.run_once();
    g.run_once();
    assert_eq!(g.runs(), 1, "nothing changed, yet the command ran again");
}

/// Deployments named like the agent's own files (`os_config_files`, `.heat-agent-sources`,
/// `.heat-agent-request`) get files of their own; the list of paths and the bookkeeping stay
/// intact and the command runs once.
#[test]
fn deployments_named_like_the_agents_files_do_not_overwrite_them() {
    let g = Guest::new(json!([
        dep("os_config_files", "ocf"),
        dep(".heat-agent-sources", "src"),
        dep(".heat-agent-request", "req"),
        dep("ordinary", "plain")
    ]));
    let err = g.run_once();
    assert!(
        err.contains("Deployment os_config_files under deployments is named like one of the agent's own cache files; its config is cached as %os_config_files.json"),
        "{err}"
    );
    assert_eq!(g.runs(), 1);
    let files = g.files();
    assert_eq!(
        read_json(&g.cache().join("os_config_files.json")),
        json!(files),
        "os_config_files.json is the list of paths"
    );
    let contents = g.contents();
    for v in ["ocf", "src", "req", "plain"] {
        assert!(contents.contains(&json!({"v": v})), "{v}: {contents:?}");
    }
    for own in [".heat-agent-sources.json", ".heat-agent-request.json"] {
        let p = g.cache().join(own);
        if p.exists() {
            let v = read_json(&p);
            assert!(v.get("v").is_none(), "{own} was overwritten: {v}");
        }
    }
    g.run_once();
    g.run_once();
    assert_eq!(g.runs(), 1, "nothing changed, yet the command ran again");
    assert_eq!(
        read_json(&g.cache().join("os_config_files.json")),
        json!(files)
    );
}
