//! Which transports a deployment signals through and the exact requests for each
//! (docs/compatibility.md, "Requests (exact)").
//!
//! The choice follows the inputs present, never `deploy_signal_transport`:
//! `deploy_signal_id` → HTTP (PUT when `deploy_signal_verb` is exactly `PUT`, else POST);
//! independently `deploy_queue_id` → Zaqar, else `deploy_auth_url` → Heat native; none → nothing.

use super::trim;
use crate::http::keystone::{self, CachedToken};
use crate::http::{send_same_origin, SameOriginError};
use crate::pyjson;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use ureq::http::Method;

/// Zaqar's default `max_messages_post_size` is 262144 bytes for the whole POST body; the
/// payload is trimmed to leave room for the envelope.
pub const ZAQAR_MAX_PAYLOAD: usize = 262_144 - 1024;

/// Message TTL for Zaqar signals. The reference uses 600 s, which expires a signal when Heat
/// does not poll for 10 minutes (W20); one hour matches Heat's own metadata messages.
pub const ZAQAR_TTL: u64 = 3600;

/// Keystone credentials from the deployment's `deploy_*` inputs. Stored (flattened) in outbox
/// records, so the field names are a file format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub auth_url: String,
    pub user_id: String,
    pub password: String,
    pub project_id: String,
    /// `deploy_region_name`; `None` (absent or null) matches any region.
    pub region: Option<String>,
}

impl Credentials {
    pub fn keystone(&self) -> keystone::Credentials<'_> {
        keystone::Credentials {
            auth_url: &self.auth_url,
            user_id: &self.user_id,
            password: &self.password,
            project_id: &self.project_id,
        }
    }
}

/// One place a signal goes. Stored in outbox records, so the field names are a file format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// CFN pre-signed URL (POST) or Swift temp URL (PUT), used verbatim.
    Http { url: String, verb: Verb },
    /// Heat native: `POST <orchestration>/stacks/<stack_id>/resources/<resource_name>/signal`.
    Heat {
        #[serde(flatten)]
        credentials: Credentials,
        stack_id: String,
        resource_name: String,
    },
    /// Zaqar: `POST <messaging>/v2/queues/<queue_id>/messages`; where v2 is missing (404),
    /// the reference's v1.1 `PUT <messaging>/v1.1/queues/<queue_id>`, then `POST .../messages`.
    Zaqar {
        #[serde(flatten)]
        credentials: Credentials,
        queue_id: String,
        /// Client-ID header; one per signal so retries look like the same client.
        client_id: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verb {
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
}

impl Target {
    /// Short name for logs, `status` and the outbox `transport` field.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Http {
                verb: Verb::Post, ..
            } => "cfn",
            Target::Http {
                verb: Verb::Put, ..
            } => "temp_url",
            Target::Heat { .. } => "heat",
            Target::Zaqar { .. } => "zaqar",
        }
    }
}

/// `cfn`, `temp_url`, `heat`, `zaqar`, joined by `+` in the rare case of several; `none`.
pub fn transport_label(targets: &[Target]) -> String {
    if targets.is_empty() {
        return "none".into();
    }
    targets
        .iter()
        .map(Target::name)
        .collect::<Vec<_>>()
        .join("+")
}

/// The input name → value map of a deployment entry (later duplicates win, like a Python dict).
pub fn input_map(entry: &Value) -> Result<Map<String, Value>, String> {
    let inputs = match entry.get("inputs") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Err("deployment has no 'inputs' list".into()),
        Some(_) => return Err("deployment 'inputs' is not a list".into()),
    };
    let mut map = Map::new();
    for (i, input) in inputs.iter().enumerate() {
        let name = input
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("deployment input #{i} has no name"))?;
        map.insert(
            name.to_string(),
            input.get("value").cloned().unwrap_or(Value::Null),
        );
    }
    Ok(map)
}

/// A present, non-null input as text (non-strings rendered like Python `str()`).
fn text(iv: &Map<String, Value>, key: &str) -> Option<String> {
    match iv.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(pyjson::py_str(other)),
    }
}

fn required(iv: &Map<String, Value>, key: &str, transport: &str) -> Result<String, String> {
    text(iv, key)
        .ok_or_else(|| format!("{transport} signal needs input '{key}', which is missing or null"))
}

fn credentials(iv: &Map<String, Value>, transport: &str) -> Result<Credentials, String> {
    Ok(Credentials {
        auth_url: required(iv, "deploy_auth_url", transport)?,
        user_id: required(iv, "deploy_user_id", transport)?,
        password: required(iv, "deploy_password", transport)?,
        project_id: required(iv, "deploy_project_id", transport)?,
        region: text(iv, "deploy_region_name"),
    })
}

/// A random v4 UUID for Zaqar's Client-ID (the form the zaqar collector sends too).
pub fn uuid4() -> String {
    crate::collectors::zaqar::client_id_dashed()
}

/// The transports for a deployment entry. An error means the inputs select a transport
/// but cannot be used (the reference would crash with a KeyError): a permanent failure.
pub fn targets(entry: &Value) -> Result<Vec<Target>, String> {
    let iv = input_map(entry)?;
    let mut out = Vec::new();
    if iv.contains_key("deploy_signal_id") {
        let url = required(&iv, "deploy_signal_id", "HTTP")?;
        crate::logging::register_secret(&url);
        if !has_http_scheme(&url) {
            // the reference's requests raises InvalidSchema/MissingSchema: final, never retried
            return Err(format!(
                "deploy_signal_id {}: unsupported URL scheme (only http:// and https:// can be signalled)",
                crate::logging::redact_url(&url)
            ));
        }
        let verb = match iv.get("deploy_signal_verb") {
            Some(Value::String(v)) if v == "PUT" => Verb::Put,
            _ => Verb::Post,
        };
        out.push(Target::Http { url, verb });
    }
    if iv.contains_key("deploy_queue_id") {
        out.push(Target::Zaqar {
            credentials: credentials(&iv, "Zaqar")?,
            queue_id: required(&iv, "deploy_queue_id", "Zaqar")?,
            client_id: uuid4(),
        });
    } else if iv.contains_key("deploy_auth_url") {
        out.push(Target::Heat {
            credentials: credentials(&iv, "Heat")?,
            stack_id: required(&iv, "deploy_stack_id", "Heat")?,
            resource_name: required(&iv, "deploy_resource_name", "Heat")?,
        });
    }
    for t in &out {
        if let Target::Heat { credentials, .. } | Target::Zaqar { credentials, .. } = t {
            crate::logging::register_secret(&credentials.password);
        }
    }
    Ok(out)
}

/// `http://` or `https://`, in any letter case (what requests can send to).
fn has_http_scheme(url: &str) -> bool {
    let lower = url
        .trim_start()
        .get(..8)
        .unwrap_or(url)
        .to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Why an attempt did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Worth another attempt later (connection error, timeout, 408, 429, 5xx).
    pub retryable: bool,
    pub status: Option<u16>,
    pub message: String,
    /// `scheme://host:port` of the server that failed (Keystone, or the service itself): once
    /// a poll of the same origin succeeds, a retry need not wait for its schedule.
    pub origin: Option<String>,
}

impl Failure {
    pub fn transient(status: Option<u16>, message: String) -> Failure {
        Failure {
            retryable: true,
            status,
            message: crate::logging::mask(&message),
            origin: None,
        }
    }
    pub fn permanent(status: Option<u16>, message: String) -> Failure {
        Failure {
            retryable: false,
            status,
            message: crate::logging::mask(&message),
            origin: None,
        }
    }
    /// The failure happened at `url`'s origin (unless a more precise one is already known).
    pub fn at(mut self, url: &str) -> Failure {
        if self.origin.is_none() {
            self.origin = crate::http::origin_of(url);
        }
        self
    }
    pub fn from_status(status: u16, message: String) -> Failure {
        if crate::http::retryable_status(status) {
            Failure::transient(Some(status), message)
        } else {
            Failure::permanent(Some(status), message)
        }
    }
}

/// Python's `urllib.parse.quote(s)` (safe `/`): what heatclient does to the stack id and
/// resource name in the signal path.
pub fn quote_path(s: &str) -> String {
    crate::http::quote::quote(s, "/")
}

/// What the agent got back; 2xx is success, the rest is classified.
/// A transport failure is worth another attempt; a refused redirect (to another origin, where
/// the credential must not go) is not.
fn check(
    resp: Result<ureq::http::Response<ureq::Body>, SameOriginError>,
    what: &str,
) -> Result<u16, Failure> {
    match resp {
        Err(SameOriginError::Transport { error, .. }) => {
            Err(Failure::transient(None, format!("{what}: {error}")))
        }
        Err(SameOriginError::Redirect(message)) => Err(Failure::permanent(None, message)),
        Ok(mut r) => {
            let status = r.status().as_u16();
            if (200..300).contains(&status) {
                Ok(status)
            } else {
                let body = r
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_string()
                    .unwrap_or_default();
                let body = body.trim();
                let detail = if body.is_empty() {
                    String::new()
                } else {
                    format!(": {}", first_line(body))
                };
                Err(Failure::from_status(
                    status,
                    format!("{what} answered {status}{detail}"),
                ))
            }
        }
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}

/// Send the signal once to one target. `payload` is already trimmed to [`trim::MAX_SIGNAL_BODY`].
pub fn send(agent: &ureq::Agent, target: &Target, payload: &Value) -> Result<u16, Failure> {
    match target {
        Target::Http { url, verb } => {
            let body = pyjson::dumps(payload);
            let shown = crate::logging::redact_url(url);
            log::debug!(
                "signalling {} via {}",
                shown,
                if *verb == Verb::Put { "PUT" } else { "POST" }
            );
            let method = match verb {
                Verb::Post => Method::POST,
                Verb::Put => Method::PUT,
            };
            let what = format!("{method} {shown}");
            // the signed URL is the credential: its redirects stay on its origin
            let headers = [("content-type", "application/json")];
            let resp = send_same_origin(agent, &method, url, &headers, Some(body.as_bytes()));
            check(resp, &what).map_err(|f| f.at(url))
        }
        Target::Heat {
            credentials,
            stack_id,
            resource_name,
        } => with_token(agent, credentials, "orchestration", |token, endpoint| {
            let url = format!(
                "{endpoint}/stacks/{}/resources/{}/signal",
                quote_path(stack_id),
                quote_path(resource_name)
            );
            log::debug!("signalling {url}");
            let body = pyjson::dumps(payload);
            let headers = [
                ("X-Auth-Token", token.token.as_str()),
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ];
            let resp =
                send_same_origin(agent, &Method::POST, &url, &headers, Some(body.as_bytes()));
            check(resp, &format!("POST {url}"))
        }),
        Target::Zaqar {
            credentials,
            queue_id,
            client_id,
        } => with_token(agent, credentials, "messaging", |token, endpoint| {
            let fitted = trim::fit(payload, ZAQAR_MAX_PAYLOAD);
            let envelope =
                pyjson::dumps(&json!({"messages": [{"body": fitted, "ttl": ZAQAR_TTL}]}));
            // Zaqar API v2 first: it is what Heat reads the signal queue with, queues are
            // created on first post, and current Zaqar no longer serves v1.1. A Zaqar without
            // v2 answers 404 there: then the reference's v1.1 exchange (PUT queue, POST).
            let v2 = format!("{endpoint}/v2/queues/{}/messages", quote_path(queue_id));
            log::debug!("signalling queue {v2}");
            let post = zaqar_headers(token, credentials, client_id, true);
            let resp =
                send_same_origin(agent, &Method::POST, &v2, &post, Some(envelope.as_bytes()));
            match resp {
                Ok(r) if r.status().as_u16() == 404 => {
                    log::info!("Zaqar has no API v2 here ({v2} answered 404): using v1.1")
                }
                other => return check(other, &format!("POST {v2}")),
            }
            let queue_url = format!("{endpoint}/v1.1/queues/{}", quote_path(queue_id));
            let put = zaqar_headers(token, credentials, client_id, false);
            let resp = send_same_origin(agent, &Method::PUT, &queue_url, &put, Some(b""));
            check(resp, &format!("PUT {queue_url}"))?;
            let url = format!("{queue_url}/messages");
            let resp =
                send_same_origin(agent, &Method::POST, &url, &post, Some(envelope.as_bytes()));
            check(resp, &format!("POST {url}"))
        }),
    }
}

/// Tokens this process authenticated signals with, by [`keystone::token_key`]: a retry of a
/// signal (heat-api down while Keystone is up, or a queue of signals for the same deployment
/// user) reuses its token instead of having Keystone issue one per attempt
/// (docs/compatibility.md). Memory only, never written anywhere.
static SIGNAL_TOKENS: std::sync::Mutex<Option<keystone::TokenCache>> = std::sync::Mutex::new(None);

/// `call` with a token for `c` and the public `service` endpoint: the token this process
/// already holds while it is valid, else a fresh one. When the service refuses a reused token
/// (401), it is dropped and `call` made once more with a fresh one.
fn with_token(
    agent: &ureq::Agent,
    c: &Credentials,
    service: &str,
    mut call: impl FnMut(&CachedToken, &str) -> Result<u16, Failure>,
) -> Result<u16, Failure> {
    let key = keystone::token_key(&c.keystone());
    let held = SIGNAL_TOKENS
        .lock()
        .ok()
        .and_then(|m| m.as_ref()?.get(&key).cloned())
        .filter(|t| keystone::still_valid(t, std::time::SystemTime::now()));
    let forget = || {
        if let Ok(mut m) = SIGNAL_TOKENS.lock() {
            m.get_or_insert_with(Default::default).remove(&key);
        }
    };
    if let Some(token) = held {
        let endpoint = endpoint(&token, c, service)?;
        match call(&token, &endpoint).map_err(|f| f.at(&endpoint)) {
            Err(f) if f.status == Some(401) => {
                forget();
                log::info!("{}; authenticating again", f.message);
            }
            done => return done,
        }
    }
    let token = authenticate(agent, c).map_err(|f| f.at(&c.auth_url))?;
    let endpoint = endpoint(&token, c, service)?;
    if let Ok(mut m) = SIGNAL_TOKENS.lock() {
        m.get_or_insert_with(Default::default)
            .insert(key.clone(), token.clone());
    }
    let result = call(&token, &endpoint).map_err(|f| f.at(&endpoint));
    if matches!(&result, Err(f) if f.status == Some(401)) {
        forget();
    }
    result
}

/// A fresh token for `c`. Keystone answering with a status is classified like any answer;
/// no usable answer is worth another attempt.
fn authenticate(agent: &ureq::Agent, c: &Credentials) -> Result<CachedToken, Failure> {
    let mut token =
        keystone::authenticate(agent, &c.auth_url, &c.keystone()).map_err(|e| match e {
            keystone::AuthError::Refused { status, message } => {
                Failure::from_status(status, message)
            }
            keystone::AuthError::Unusable { status, message } => {
                Failure::transient(status, message)
            }
        })?;
    if token.expires_at.is_none() {
        // no expiry in the answer: good for this attempt only
        token.expires_at = Some(std::time::UNIX_EPOCH);
    }
    Ok(token)
}

/// The public `service` endpoint from the token's catalog, without a trailing `/`.
fn endpoint(token: &CachedToken, c: &Credentials, service: &str) -> Result<String, Failure> {
    keystone::endpoint_for(&token.catalog, service, c.region.as_deref())
        .map(|url| url.trim_end_matches('/').to_string())
        .ok_or_else(|| no_endpoint(service, c))
}

/// The headers of a Zaqar request of a signal: the token, the names of the project and the
/// client, JSON accepted (and sent, with `json_body`).
fn zaqar_headers<'a>(
    token: &'a CachedToken,
    c: &'a Credentials,
    client_id: &'a str,
    json_body: bool,
) -> Vec<(&'static str, &'a str)> {
    let mut headers = vec![
        ("X-Auth-Token", token.token.as_str()),
        ("X-Project-Id", c.project_id.as_str()),
        ("Client-ID", client_id),
        ("Accept", "application/json"),
    ];
    if json_body {
        headers.push(("Content-Type", "application/json"));
    }
    headers
}

fn no_endpoint(service: &str, c: &Credentials) -> Failure {
    let region = match &c.region {
        Some(r) => format!("region {r}"),
        None => "any region".into(),
    };
    Failure::permanent(
        None,
        format!(
            "no public '{service}' endpoint for {region} in the Keystone catalog from {}",
            c.auth_url
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(inputs: &[(&str, Value)]) -> Value {
        let list: Vec<Value> = inputs
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        json!({"id": "x", "inputs": list})
    }

    fn heat_inputs() -> Vec<(&'static str, Value)> {
        vec![
            ("deploy_auth_url", json!("http://k/v3")),
            ("deploy_user_id", json!("aaaa")),
            ("deploy_password", json!("password")),
            ("deploy_project_id", json!("bbbb")),
            ("deploy_stack_id", json!("cccc")),
            ("deploy_resource_name", json!("the_resource")),
        ]
    }

    #[test]
    fn signal_id_selects_post_unless_verb_is_exactly_put() {
        let t = targets(&entry(&[("deploy_signal_id", json!("http://h/x"))])).unwrap();
        assert_eq!(
            t,
            vec![Target::Http {
                url: "http://h/x".into(),
                verb: Verb::Post
            }]
        );
        for (verb, want) in [
            ("PUT", Verb::Put),
            ("put", Verb::Post),
            ("POST", Verb::Post),
            ("GET", Verb::Post),
        ] {
            let t = targets(&entry(&[
                ("deploy_signal_id", json!("https://u")),
                ("deploy_signal_verb", json!(verb)),
            ]))
            .unwrap();
            assert_eq!(
                t,
                vec![Target::Http {
                    url: "https://u".into(),
                    verb: want
                }],
                "{verb}"
            );
        }
        assert_eq!(transport_label(&t), "cfn");
    }

    #[test]
    fn only_http_and_https_signal_urls_are_usable() {
        for url in ["http://h/x", "HTTPS://h/x", "Http://h"] {
            assert!(
                targets(&entry(&[("deploy_signal_id", json!(url))])).is_ok(),
                "{url}"
            );
        }
        for url in ["mock://h/x", "ftp://h", "h/x", "", "file:///etc/passwd"] {
            let e = targets(&entry(&[("deploy_signal_id", json!(url))])).unwrap_err();
            assert!(e.contains("unsupported URL scheme"), "{url}: {e}");
        }
    }

    #[test]
    fn auth_url_selects_heat_with_optional_region() {
        let mut inputs = heat_inputs();
        let t = targets(&entry(&inputs)).unwrap();
        match &t[..] {
            [Target::Heat {
                credentials,
                stack_id,
                resource_name,
            }] => {
                assert_eq!(credentials.region, None);
                assert_eq!(
                    (stack_id.as_str(), resource_name.as_str()),
                    ("cccc", "the_resource")
                );
            }
            other => panic!("{other:?}"),
        }
        inputs.push(("deploy_region_name", json!("RegionOne")));
        let t = targets(&entry(&inputs)).unwrap();
        assert!(
            matches!(&t[0], Target::Heat { credentials, .. } if credentials.region.as_deref() == Some("RegionOne"))
        );
        inputs.pop();
        inputs.push(("deploy_region_name", Value::Null));
        let t = targets(&entry(&inputs)).unwrap();
        assert!(matches!(&t[0], Target::Heat { credentials, .. } if credentials.region.is_none()));
    }

    #[test]
    fn queue_id_selects_zaqar_instead_of_heat() {
        let mut inputs = heat_inputs();
        inputs.push(("deploy_queue_id", json!("q1")));
        let t = targets(&entry(&inputs)).unwrap();
        assert_eq!(transport_label(&t), "zaqar");
        assert!(
            matches!(&t[0], Target::Zaqar { queue_id, client_id, .. } if queue_id == "q1" && client_id.len() == 36)
        );
    }

    #[test]
    fn signal_id_and_queue_are_independent() {
        let mut inputs = heat_inputs();
        inputs.push(("deploy_signal_id", json!("http://h/x")));
        assert_eq!(
            transport_label(&targets(&entry(&inputs)).unwrap()),
            "cfn+heat"
        );
    }

    #[test]
    fn nothing_present_is_no_signal() {
        let t = targets(&entry(&[
            ("deploy_signal_transport", json!("NO_SIGNAL")),
            ("foo", json!(1)),
        ]))
        .unwrap();
        assert!(t.is_empty());
        assert_eq!(transport_label(&t), "none");
        // the transport input alone never selects anything
        let t = targets(&entry(&[("deploy_signal_transport", json!("HEAT_SIGNAL"))])).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn unusable_inputs_are_errors_not_panics() {
        assert!(targets(&json!({"id": "x"})).is_err());
        assert!(targets(&entry(&[("deploy_signal_id", Value::Null)])).is_err());
        let err = targets(&entry(&[("deploy_auth_url", json!("http://k"))])).unwrap_err();
        assert!(err.contains("deploy_user_id"), "{err}");
    }

    #[test]
    fn targets_round_trip_through_the_record_format() {
        let mut inputs = heat_inputs();
        inputs.push(("deploy_signal_id", json!("http://h/x")));
        inputs.push(("deploy_signal_verb", json!("PUT")));
        let t = targets(&entry(&inputs)).unwrap();
        let text = serde_json::to_string(&t).unwrap();
        assert!(
            text.contains(r#""kind":"http""#)
                && text.contains(r#""verb":"PUT""#)
                && text.contains(r#""auth_url""#)
        );
        let back: Vec<Target> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn quote_path_matches_python_quote() {
        assert_eq!(quote_path("stack/1234-ab_c.d~"), "stack/1234-ab_c.d~");
        assert_eq!(quote_path("my res:1 é"), "my%20res%3A1%20%C3%A9");
    }

    #[test]
    fn statuses_are_classified() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(Failure::from_status(s, String::new()).retryable, "{s}");
        }
        for s in [400, 401, 403, 404, 409, 413] {
            assert!(!Failure::from_status(s, String::new()).retryable, "{s}");
        }
    }
}
