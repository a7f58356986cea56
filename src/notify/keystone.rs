//! Minimal Keystone v3 password authentication for the Heat-native and Zaqar signals:
//! one token request, the token from `X-Subject-Token`, an endpoint from the token's catalog.

use super::transport::Failure;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Credentials from the deployment's `deploy_*` inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub auth_url: String,
    pub user_id: String,
    pub password: String,
    pub project_id: String,
    /// `deploy_region_name`; `None` (absent or null) matches any region.
    pub region: Option<String>,
}

/// The request body the legacy keystoneclient sends for `v3.Client(user_id=, password=, project_id=)`.
pub fn auth_body(c: &Credentials) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"id": c.user_id, "password": c.password}}},
        "scope": {"project": {"id": c.project_id}},
    }})
}

/// `<auth_url>/auth/tokens`.
pub fn tokens_url(auth_url: &str) -> String {
    format!("{}/auth/tokens", auth_url.trim_end_matches('/'))
}

/// A token and the catalog that came with it.
pub struct Token {
    pub id: String,
    pub catalog: Value,
}

/// Authenticate. Transport errors, timeouts, 408/429/5xx are retryable; other statuses final.
pub fn authenticate(agent: &ureq::Agent, c: &Credentials) -> Result<Token, Failure> {
    crate::logging::register_secret(&c.password);
    let url = tokens_url(&c.auth_url);
    let body = crate::pyjson::dumps(&auth_body(c));
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send(body.as_bytes())
        .map_err(|e| {
            Failure::transient(
                None,
                format!("Keystone {}: {e}", crate::logging::redact_url(&url)),
            )
        })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(Failure::from_status(
            status,
            format!("Keystone {url} answered {status}"),
        ));
    }
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Failure::transient(
                Some(status),
                format!("Keystone {url}: no X-Subject-Token in the answer"),
            )
        })?;
    crate::logging::register_secret(&token);
    let text = resp
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| {
            Failure::transient(
                Some(status),
                format!("Keystone {url}: reading the answer: {e}"),
            )
        })?;
    let body: Value = serde_json::from_str(&text).map_err(|e| {
        Failure::transient(
            Some(status),
            format!("Keystone {url}: answer is not JSON: {e}"),
        )
    })?;
    let catalog = body
        .pointer("/token/catalog")
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Token { id: token, catalog })
}

/// The public endpoint of `service_type` in `region` (any region when `None`).
pub fn endpoint(catalog: &Value, service_type: &str, region: Option<&str>) -> Option<String> {
    let services = catalog.as_array()?;
    for service in services
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(service_type))
    {
        let Some(endpoints) = service.get("endpoints").and_then(Value::as_array) else {
            continue;
        };
        for ep in endpoints {
            if ep.get("interface").and_then(Value::as_str) != Some("public") {
                continue;
            }
            if let Some(want) = region {
                let matches = ["region_id", "region"]
                    .iter()
                    .any(|k| ep.get(*k).and_then(Value::as_str) == Some(want));
                if !matches {
                    continue;
                }
            }
            if let Some(url) = ep.get("url").and_then(Value::as_str) {
                return Some(url.trim_end_matches('/').to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Value {
        json!([
            {"type": "identity", "endpoints": [{"interface": "public", "region_id": "RegionOne", "url": "http://k/v3"}]},
            {"type": "orchestration", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "http://internal/v1/p"},
                {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "http://one/v1/p/"},
                {"interface": "public", "region_id": "RegionTwo", "url": "http://two/v1/p"}
            ]}
        ])
    }

    #[test]
    fn endpoint_by_type_interface_and_region() {
        let c = catalog();
        assert_eq!(
            endpoint(&c, "orchestration", None).as_deref(),
            Some("http://one/v1/p")
        );
        assert_eq!(
            endpoint(&c, "orchestration", Some("RegionTwo")).as_deref(),
            Some("http://two/v1/p")
        );
        assert_eq!(endpoint(&c, "orchestration", Some("RegionThree")), None);
        assert_eq!(endpoint(&c, "messaging", None), None);
        assert_eq!(endpoint(&Value::Null, "orchestration", None), None);
    }

    #[test]
    fn auth_body_is_the_password_scoped_request() {
        let c = Credentials {
            auth_url: "http://k/v3/".into(),
            user_id: "aaaa".into(),
            password: "pw".into(),
            project_id: "bbbb".into(),
            region: None,
        };
        assert_eq!(
            auth_body(&c),
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "aaaa", "password": "pw"}}},
                            "scope": {"project": {"id": "bbbb"}}}})
        );
        assert_eq!(tokens_url(&c.auth_url), "http://k/v3/auth/tokens");
    }
}
