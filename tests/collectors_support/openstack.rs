//! A fake Keystone v3 (discovery, password auth, catalog, revocable tokens) on loopback.

use crate::common::{Request, Response, Server};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

pub const USER_ID: &str = "2c5a5046d94640bcb9dbe6bed0239abf";
pub const PASSWORD: &str = "5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq";
pub const PROJECT_ID: &str = "14ad48c00cce4926a2c6a588f455972d";

/// The body python-keystoneclient sends (captures/heat-heat), for these credentials.
pub fn expected_auth_body() -> String {
    format!(
        r#"{{"auth": {{"identity": {{"methods": ["password"], "password": {{"user": {{"password": "{PASSWORD}", "id": "{USER_ID}"}}}}}}, "scope": {{"project": {{"id": "{PROJECT_ID}"}}}}}}}}"#
    )
}

#[derive(Default)]
pub struct KeystoneState {
    /// Tokens handed out that services still accept.
    pub valid: Vec<String>,
    pub issued: usize,
    /// `expires_at` written into new tokens.
    pub expires_at: String,
    /// Answer 403 to every authentication.
    pub refuse: bool,
    /// Answer discovery with this status (None: a normal version document).
    pub discovery_status: Option<u16>,
    /// Only list v2.0 in discovery.
    pub v2_only: bool,
}

pub struct FakeKeystone {
    pub server: Server,
    pub state: Arc<Mutex<KeystoneState>>,
}

impl FakeKeystone {
    /// `catalog` is the token's catalog (service entries).
    pub fn start(catalog: Value) -> FakeKeystone {
        let state = Arc::new(Mutex::new(KeystoneState {
            expires_at: "2099-01-01T00:00:00.000000Z".into(),
            ..Default::default()
        }));
        let st = state.clone();
        let server = Server::start(move |req: &Request| {
            let mut s = st.lock().unwrap();
            let host = req.header("host").unwrap_or("").to_string();
            if req.method == "GET" {
                if let Some(code) = s.discovery_status {
                    return Response::new(code, "discovery broken");
                }
                let v3 = json!({"id": "v3.14", "status": "stable",
                    "links": [{"rel": "self", "href": format!("http://{host}/v3/")}]});
                let v2 = json!({"id": "v2.0", "status": "deprecated",
                    "links": [{"rel": "self", "href": format!("http://{host}/v2.0/")}]});
                if req.path() == "/v3/" || req.path() == "/v3" {
                    return Response::json(200, &json!({"version": v3}));
                }
                // at the root, v3 lives under a prefix: proves the self link is followed
                let v3_root = json!({"id": "v3.14", "status": "stable",
                    "links": [{"rel": "self", "href": format!("http://{host}/identity/v3/")}]});
                let values = if s.v2_only {
                    vec![v2]
                } else {
                    vec![v2, v3_root]
                };
                return Response::json(300, &json!({"versions": {"values": values}}));
            }
            if req.method == "POST" && req.path().ends_with("/auth/tokens") {
                if s.refuse {
                    return Response::json(
                        403,
                        &json!({"error": {"code": 403, "title": "Forbidden"}}),
                    );
                }
                if String::from_utf8_lossy(&req.body) != expected_auth_body() {
                    return Response::json(401, &json!({"error": {"code": 401}}));
                }
                s.issued += 1;
                let token = format!("gAAAAAB-token-{}", s.issued);
                s.valid.push(token.clone());
                let body = json!({"token": {
                    "methods": ["password"],
                    "user": {"id": USER_ID, "name": "server-user"},
                    "expires_at": s.expires_at,
                    "issued_at": "2026-11-23T04:59:29.000000Z",
                    "project": {"id": PROJECT_ID},
                    "roles": [{"name": "heat_stack_user"}],
                    "catalog": catalog,
                }});
                return Response::json(201, &body).header("X-Subject-Token", &token);
            }
            Response::new(404, "")
        });
        FakeKeystone { server, state }
    }

    pub fn token_is_valid(state: &Arc<Mutex<KeystoneState>>, token: Option<&str>) -> bool {
        token.is_some_and(|t| state.lock().unwrap().valid.iter().any(|v| v == t))
    }

    pub fn revoke_all(&self) {
        self.state.lock().unwrap().valid.clear();
    }

    pub fn auth_requests(&self) -> Vec<Request> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }
}

/// A catalog entry like Keystone's, one public and one internal endpoint.
pub fn service(kind: &str, public_url: &str, region: &str) -> Value {
    json!({"type": kind, "name": kind, "id": format!("id-{kind}"), "endpoints": [
        {"id": "e1", "interface": "internal", "region_id": region, "region": region,
         "url": "http://192.0.2.99/internal-must-not-be-used"},
        {"id": "e2", "interface": "public", "region_id": region, "region": region, "url": public_url}
    ]})
}
