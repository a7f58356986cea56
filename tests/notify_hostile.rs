//! Defects found by hostile testing (issue 11), signal side: unsupported URL schemes, odd ids.

mod common;

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

use common::NotifyDir as Env;

impl Env {
    /// `heat-config-notify CONFIG < stdin` under its legacy name.
    fn notify(&self, config: &Path, stdin: &[u8]) -> Output {
        let mut c = Command::new(common::legacy(self.dir.path(), "heat-config-notify"));
        c.arg(config)
            .env("HEAT_AGENT_STATE_DIR", self.state())
            .env("HEAT_AGENT_NOTIFY_BACKOFF", "0.05")
            .env("HEAT_AGENT_NOTIFY_WAIT", "5")
            .env_remove("RUST_LOG");
        common::output_with_stdin(&mut c, stdin)
    }
    fn outbox_records(&self) -> Vec<Value> {
        let Ok(dir) = std::fs::read_dir(self.state().join("outbox")) else {
            return Vec::new();
        };
        dir.flatten()
            .filter(|f| f.path().extension().is_some_and(|x| x == "json"))
            .map(|f| serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap())
            .collect()
    }
}

/// Issue 11: `deploy_signal_id = mock://...` was queued and retried for 7 days with exit 0.
/// It is a final failure: one clear error naming the problem, exit 1, nothing left queued.
#[test]
fn unsupported_signal_url_scheme_is_a_final_failure() {
    for url in [
        "mock://signal/here?Signature=c2VjcmV0",
        "ftp://h/x",
        "no-scheme-at-all",
    ] {
        let env = Env::new();
        let config = env.config(&json!({
            "id": "scheme1",
            "group": "script",
            "inputs": [{"name": "deploy_signal_id", "value": url}],
        }));
        let out = env.notify(&config, b"{\"deploy_status_code\": 0}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{url}: one clear error: {err}");
        assert!(errors[0].contains("unsupported URL scheme"), "{err}");
        assert!(
            !err.contains("c2VjcmV0"),
            "the signature stays masked: {err}"
        );
        let queued: Vec<Value> = env
            .outbox_records()
            .into_iter()
            .filter(|r| r["state"] == "queued")
            .collect();
        assert!(queued.is_empty(), "{url}: not queued: {queued:#?}");
    }
}
