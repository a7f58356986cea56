//! `heat` collector against a loopback Keystone v3 + Heat pair (ports of test_heat.py and
//! test_keystone.py; token reuse and re-authentication).

mod collectors_support;
mod common;

use collectors_support::openstack::*;
use collectors_support::*;
use common::{Request, Response, Server};
use heat_agent::collectors::State;
use heat_agent::config::Settings;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const STACK_ID: &str = "heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e";
const METADATA_PATH: &str = "/v1/14ad48c00cce4926a2c6a588f455972d/stacks/heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e/resources/server/metadata";

struct Cloud {
    keystone: FakeKeystone,
    heat: Server,
    metadata: Arc<Mutex<Value>>,
}

/// Heat answers the metadata path (and the bare stack name with a redirect) when the
/// token is one Keystone still considers valid.
fn cloud(metadata: Value) -> Cloud {
    let heat = Server::start(|_| Response::new(503, ""));
    let keystone = FakeKeystone::start(json!([
        service("identity", "http://192.0.2.1:5000", "RegionOne"),
        service(
            "orchestration",
            &heat.url(&format!("/v1/{PROJECT_ID}")),
            "RegionOne"
        ),
    ]));
    let metadata = Arc::new(Mutex::new(metadata));
    let (ks, md) = (keystone.state.clone(), metadata.clone());
    let base = heat.url("");
    heat.set_handler(move |req: &Request| {
        if !FakeKeystone::token_is_valid(&ks, req.header("x-auth-token")) {
            return Response::json(
                401,
                &json!({"error": {"code": 401, "title": "Unauthorized"}}),
            );
        }
        if req.path() == format!("/v1/{PROJECT_ID}/stacks/heat-heat") {
            return Response::new(302, "").header(
                "Location",
                &format!("{base}/v1/{PROJECT_ID}/stacks/{STACK_ID}"),
            );
        }
        if req.path() == METADATA_PATH {
            return Response::json(200, &json!({"metadata": *md.lock().unwrap()}));
        }
        Response::new(404, "")
    });
    Cloud {
        keystone,
        heat,
        metadata,
    }
}

fn settings(c: &Cloud) -> Settings {
    let mut s = Settings::default();
    s.heat.auth_url = Some(c.keystone.server.url("/v3/"));
    s.heat.user_id = Some(USER_ID.into());
    s.heat.password = Some(PASSWORD.into());
    s.heat.project_id = Some(PROJECT_ID.into());
    s.heat.stack_id = Some(STACK_ID.into());
    s.heat.resource_name = Some("server".into());
    s.heat.region_name = Some("RegionOne".into());
    s
}

#[test]
fn test_collect_heat() {
    capture_logs();
    let c = cloud(meta_data());
    let entries = collect("heat", &settings(&c)).unwrap();
    assert_eq!(entries, vec![("heat".to_string(), meta_data())]);
    let auth = c.keystone.auth_requests();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].path(), "/v3/auth/tokens");
    assert_eq!(String::from_utf8_lossy(&auth[0].body), expected_auth_body());
    assert_eq!(auth[0].header("content-type"), Some("application/json"));
    assert_eq!(auth[0].header("accept"), Some("application/json"));
    let gets = c.heat.requests();
    assert_eq!(gets.len(), 1);
    assert_eq!(gets[0].method, "GET");
    assert_eq!(gets[0].path(), METADATA_PATH);
    assert_eq!(gets[0].header("x-auth-token"), Some("gAAAAAB-token-1"));
    assert_eq!(gets[0].header("accept"), Some("application/json"));
    assert_eq!(gets[0].header("content-type"), Some("application/json"));
    assert!(visible_logs().is_empty(), "{:?}", logs());
}

#[test]
fn test_collect_heat_fail() {
    let c = cloud(meta_data());
    c.keystone.state.lock().unwrap().refuse = true;
    let msg = not_available(collect("heat", &settings(&c)));
    assert!(msg.contains("Forbidden"), "{msg}");
    assert!(c.heat.requests().is_empty());
}

fn missing(field: &str) {
    let c = cloud(meta_data());
    let mut s = settings(&c);
    match field {
        "auth_url" => s.heat.auth_url = None,
        "password" => s.heat.password = None,
        "project_id" => s.heat.project_id = None,
        "user_id" => s.heat.user_id = None,
        "stack_id" => s.heat.stack_id = None,
        "resource_name" => s.heat.resource_name = None,
        _ => unreachable!(),
    }
    assert_eq!(
        not_configured(collect("heat", &s)),
        format!("No {field} configured.")
    );
    assert!(c.keystone.server.requests().is_empty());
}

#[test]
fn test_collect_heat_no_auth_url() {
    missing("auth_url");
}
#[test]
fn test_collect_heat_no_password() {
    missing("password");
}
#[test]
fn test_collect_heat_no_project_id() {
    missing("project_id");
}
#[test]
fn test_collect_heat_no_user_id() {
    missing("user_id");
}
#[test]
fn test_collect_heat_no_stack_id() {
    missing("stack_id");
}
#[test]
fn test_collect_heat_no_resource_name() {
    missing("resource_name");
}

/// A section Heat nulled (every value unset) is "not configured", whatever the order.
#[test]
fn heat_all_null_section_is_not_configured() {
    assert_eq!(
        not_configured(collect("heat", &Settings::default())),
        "No auth_url configured."
    );
}

/// TestHeatSoftwareConfig.test_collect_heat
#[test]
fn test_collect_heat_software_config() {
    let c = cloud(heat_software_config_data());
    let entries = collect("heat", &settings(&c)).unwrap();
    assert_eq!(names(&entries), ["heat", "dep-name1"]);
    assert_eq!(entries[0].1, heat_software_config_data());
    assert_eq!(entries[1].1, json!({"config1": "value1"}));
}

#[test]
fn heat_explodes_with_the_global_deployment_key() {
    let c = cloud(json!({"other": [{"name": "o1", "config": {"x": 1}}]}));
    let mut s = settings(&c);
    s.deployment_key = vec!["other".into()];
    s.cfn.deployment_key = vec!["deployments".into()];
    assert_eq!(names(&collect("heat", &s).unwrap()), ["heat", "o1"]);
}

/// Two polls with kept state: one discovery + one POST /auth/tokens, two metadata GETs.
#[test]
fn heat_token_reused_across_polls() {
    let c = cloud(meta_data());
    let s = settings(&c);
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("heat", &s, cache.path(), &mut state).unwrap();
    *c.metadata.lock().unwrap() = json!({"changed": true});
    let second = collect_with("heat", &s, cache.path(), &mut state).unwrap();
    assert_eq!(second[0].1, json!({"changed": true}));
    assert_eq!(c.keystone.auth_requests().len(), 1);
    assert_eq!(
        c.keystone.server.requests().len(),
        2,
        "one discovery, one auth"
    );
    let gets = c.heat.requests();
    assert_eq!(gets.len(), 2);
    assert!(gets
        .iter()
        .all(|g| g.header("x-auth-token") == Some("gAAAAAB-token-1")));
}

/// A token Heat refuses (401) is dropped; one fresh authentication and one retry follow.
#[test]
fn heat_reauthenticates_after_401() {
    let c = cloud(meta_data());
    let s = settings(&c);
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("heat", &s, cache.path(), &mut state).unwrap();
    c.keystone.revoke_all();
    let entries = collect_with("heat", &s, cache.path(), &mut state).unwrap();
    assert_eq!(entries[0].1, meta_data());
    assert_eq!(c.keystone.auth_requests().len(), 2);
    let tokens: Vec<Option<String>> = c
        .heat
        .requests()
        .iter()
        .map(|r| r.header("x-auth-token").map(str::to_string))
        .collect();
    assert_eq!(
        tokens,
        [
            Some("gAAAAAB-token-1".to_string()),
            Some("gAAAAAB-token-1".to_string()),
            Some("gAAAAAB-token-2".to_string())
        ]
    );
    // and the new token is kept for the next poll
    collect_with("heat", &s, cache.path(), &mut state).unwrap();
    assert_eq!(c.keystone.auth_requests().len(), 2);
}

/// A 401 even with a fresh token is "unavailable" (no loop).
#[test]
fn heat_gives_up_after_one_reauthentication() {
    let c = cloud(meta_data());
    c.heat.set_handler(|_| Response::new(401, "Unauthorized"));
    let msg = not_available(collect("heat", &settings(&c)));
    assert!(msg.contains("401"), "{msg}");
    assert_eq!(c.keystone.auth_requests().len(), 2);
    assert_eq!(c.heat.requests().len(), 2);
}

/// A token about to expire (within the margin) is not reused.
#[test]
fn heat_expiring_token_is_renewed() {
    let c = cloud(meta_data());
    c.keystone.state.lock().unwrap().expires_at = "2000-01-01T00:00:00Z".into();
    let s = settings(&c);
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("heat", &s, cache.path(), &mut state).unwrap();
    collect_with("heat", &s, cache.path(), &mut state).unwrap();
    assert_eq!(c.keystone.auth_requests().len(), 2);
}

/// test_keystone.test_discover_fail: discovery fails → auth_url with /v2.0 → /v3.
#[test]
fn test_discover_fail() {
    let c = cloud(meta_data());
    c.keystone.state.lock().unwrap().discovery_status = Some(500);
    let mut s = settings(&c);
    s.heat.auth_url = Some(c.keystone.server.url("/v2.0"));
    collect("heat", &s).unwrap();
    let reqs = c.keystone.server.requests();
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path(), "/", "/v2.0 replaced by / for discovery");
    assert_eq!(reqs[1].path(), "/v3/auth/tokens");
}

/// test_keystone.test_discover_v3_unsupported: no v3 in discovery keeps auth_url.
#[test]
fn test_discover_v3_unsupported() {
    let c = cloud(meta_data());
    c.keystone.state.lock().unwrap().v2_only = true;
    let mut s = settings(&c);
    s.heat.auth_url = Some(c.keystone.server.url("/v2.0"));
    let _ = collect("heat", &s);
    let reqs = c.keystone.auth_requests();
    assert_eq!(reqs[0].path(), "/v2.0/auth/tokens");
}

#[test]
fn heat_discovery_at_root_uses_the_v3_self_link() {
    let c = cloud(meta_data());
    let mut s = settings(&c);
    s.heat.auth_url = Some(c.keystone.server.url("/v2.0/"));
    collect("heat", &s).unwrap();
    let reqs = c.keystone.server.requests();
    assert_eq!(reqs[0].path(), "//");
    assert_eq!(reqs[1].path(), "/identity/v3/auth/tokens");
}

#[test]
fn heat_region_must_match() {
    let c = cloud(meta_data());
    let mut s = settings(&c);
    s.heat.region_name = Some("RegionTwo".into());
    let msg = not_available(collect("heat", &s));
    assert_eq!(
        msg,
        "publicURL endpoint for orchestration service not found"
    );
    s.heat.region_name = None;
    collect("heat", &s).unwrap();
}

/// A bare stack name is resolved through heat's redirect, as heatclient does.
#[test]
fn heat_bare_stack_name_follows_location() {
    let c = cloud(meta_data());
    let mut s = settings(&c);
    s.heat.stack_id = Some("heat-heat".into());
    let entries = collect("heat", &s).unwrap();
    assert_eq!(entries[0].1, meta_data());
    let paths: Vec<String> = c
        .heat
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        paths,
        [
            format!("/v1/{PROJECT_ID}/stacks/heat-heat"),
            METADATA_PATH.to_string()
        ]
    );
}

#[test]
fn heat_garbage_answers_are_not_available() {
    let c = cloud(meta_data());
    c.heat
        .set_handler(|_| Response::new(200, "{\"metadata\": [trunc"));
    assert!(not_available(collect("heat", &settings(&c))).contains("not JSON"));
    c.heat.set_handler(|_| Response::new(200, "[1, 2]"));
    assert!(not_available(collect("heat", &settings(&c))).contains("not a JSON object"));
    c.heat
        .set_handler(|_| Response::json(200, &json!({"other": 1})));
    assert!(not_available(collect("heat", &settings(&c))).contains("no metadata"));
}

/// The password and the tokens are registered as secrets: masked in every log line.
#[test]
fn heat_secrets_are_masked_in_logs() {
    let c = cloud(meta_data());
    collect("heat", &settings(&c)).unwrap();
    assert_eq!(
        heat_agent::logging::mask(&format!("pw {PASSWORD}")),
        "pw ***"
    );
    assert_eq!(heat_agent::logging::mask("t gAAAAAB-token-1"), "t ***");
}

/// Issue 11: a metadata answer that redirects to another host or port must not take the
/// Keystone token along. The real binary polls once; the other origin never sees the token
/// (nor any request), the poll fails with one line naming both places, and a same-origin
/// redirect is still followed.
#[test]
fn token_does_not_follow_a_redirect_to_another_origin() {
    let elsewhere = Server::start(|_| Response::json(200, &json!({"metadata": {"stolen": 1}})));
    let c = cloud(meta_data());
    let (ks, target) = (c.keystone.state.clone(), elsewhere.url("/metadata"));
    let moved = format!("/v1/{PROJECT_ID}/stacks/heat-heat/moved/resources/server/metadata");
    c.heat.set_handler(move |req: &Request| {
        if !FakeKeystone::token_is_valid(&ks, req.header("x-auth-token")) {
            return Response::new(401, "");
        }
        match req.path() {
            p if p == METADATA_PATH => Response::new(302, "").header("Location", &target),
            p if p == moved => Response::new(307, "").header("Location", "/v1/final"),
            "/v1/final" => Response::json(200, &json!({"metadata": {"same": 1}})),
            _ => Response::new(404, ""),
        }
    });
    let run = |stack: &str| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(common::bin())
            .args(["collect", "--config-file", "/dev/null", "--print"])
            .arg("--cachedir")
            .arg(dir.path().join("cache"))
            .args(["--heat-auth-url", &c.keystone.server.url("/v3/")])
            .args(["--heat-user-id", USER_ID, "--heat-password", PASSWORD])
            .args(["--heat-project-id", PROJECT_ID, "--heat-stack-id", stack])
            .args(["--heat-resource-name", "server", "heat"])
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run(STACK_ID);
    assert!(elsewhere.requests().is_empty(), "{stderr}");
    assert!(!stdout.contains("stolen"), "{stdout}");
    assert!(
        stderr.contains("redirected to another origin")
            && stderr.contains(&elsewhere.url("/metadata")),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    let (stdout, stderr) = run("heat-heat/moved");
    assert!(stdout.contains("\"same\""), "{stdout}\n{stderr}");
    assert!(elsewhere.requests().is_empty());
}
