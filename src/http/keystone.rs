//! Keystone v3 password authentication, the one client for the `heat` and `zaqar` collectors
//! and the Heat-native and Zaqar signal transports: version discovery (collectors only),
//! `POST /auth/tokens`, catalog lookup, and a token cache reused until shortly before
//! `expires_at` (the collectors' cache is theirs; notify keeps its own for retries). The
//! requests, as the reference sends them, and the token cache (W-C19) are in
//! (docs/compatibility.md, "os-collect-config: collectors and deployment explosion") and
//! (docs/compatibility.md, "Requests (exact)").

use super::response::{header, parse_json, read_body, status_error, transport_error};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A cached token is not used when it expires within this margin.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    pub auth_url: &'a str,
    pub user_id: &'a str,
    pub password: &'a str,
    pub project_id: &'a str,
}

/// The cache key: auth_url, user and project (plus a digest of the password, so new
/// credentials for the same user never reuse a token obtained with the old ones).
pub fn token_key(c: &Credentials<'_>) -> String {
    let mut h = Sha256::new();
    for part in [c.auth_url, c.user_id, c.project_id, c.password] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Tokens by [`token_key`], kept between polls of one process.
pub type TokenCache = HashMap<String, CachedToken>;

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub token: String,
    pub catalog: Value,
    pub expires_at: Option<SystemTime>,
    /// The Keystone v3 URL the token came from (reused with the token: no discovery either).
    pub identity_url: String,
}

/// Why authentication gave no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Keystone answered with this status (not 2xx).
    Refused { status: u16, message: String },
    /// No usable answer: a transport failure (no status), or a 2xx without a token or JSON.
    Unusable {
        status: Option<u16>,
        message: String,
    },
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Refused { message, .. } | AuthError::Unusable { message, .. } => {
                f.write_str(message)
            }
        }
    }
}

/// `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": ..,
/// "id": ..}}}, "scope": {"project": {"id": ..}}}}`, byte for byte as keystoneclient sends it.
pub fn auth_body(c: &Credentials<'_>) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"password": c.password, "id": c.user_id}}},
        "scope": {"project": {"id": c.project_id}}
    }});
    crate::pyjson::dumps(&body)
}

/// The v3 entry of a version discovery document: the `self` link of the highest 3.x version.
pub fn v3_url_from_discovery(doc: &Value) -> Option<String> {
    let versions: Vec<&Value> = match (doc.get("versions"), doc.get("version")) {
        (Some(Value::Object(v)), _) => v
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        (Some(Value::Array(a)), _) => a.iter().collect(),
        (_, Some(v @ Value::Object(_))) => vec![v],
        _ => Vec::new(),
    };
    let mut best: Option<(u64, String)> = None;
    for v in versions {
        let Some(id) = v.get("id").and_then(Value::as_str) else {
            continue;
        };
        let mut parts = id.trim_start_matches(['v', 'V']).split('.');
        if parts.next() != Some("3") {
            continue;
        }
        let minor: u64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
        let href = v
            .get("links")
            .and_then(Value::as_array)
            .and_then(|links| {
                links
                    .iter()
                    .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
            })
            .and_then(|l| l.get("href"))
            .and_then(Value::as_str);
        if let Some(href) = href {
            if best.as_ref().is_none_or(|(m, _)| minor >= *m) {
                best = Some((minor, href.to_string()));
            }
        }
    }
    best.map(|b| b.1)
}

/// Discovery as keystoneclient does it: `GET <auth_url with "/v2.0" → "/">`; no v3 in the
/// answer keeps `auth_url`; a failed discovery uses `auth_url` with `/v2.0` → `/v3`.
pub fn discover(agent: &ureq::Agent, auth_url: &str) -> String {
    let url = auth_url.replace("/v2.0", "/");
    let fallback = || auth_url.replace("/v2.0", "/v3");
    // 300 Multiple Choices (Keystone's root answer) is a document here, not a redirect
    let req = agent
        .get(&url)
        .header("Accept", "application/json")
        .config()
        .max_redirects(0)
        .build();
    let mut resp = match req.call() {
        Ok(r) => r,
        Err(e) => {
            log::debug!("Keystone discovery failed: {}", transport_error(&e, &url));
            return fallback();
        }
    };
    let status = resp.status().as_u16();
    // 300 Multiple Choices is the normal answer at the root
    if status >= 400 {
        log::debug!("Keystone discovery failed: {}", status_error(status, &url));
        return fallback();
    }
    match read_body(&mut resp, &url).and_then(|b| parse_json(&b)) {
        Ok(doc) => v3_url_from_discovery(&doc).unwrap_or_else(|| auth_url.to_string()),
        Err(e) => {
            log::debug!("Keystone discovery failed: {url}: {e}");
            fallback()
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Keystone's `expires_at` (`2026-11-24T04:59:29.000000Z`, or with `+00:00`).
pub fn parse_expires_at(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let (time, offset_secs) = match time.rfind(['+', '-']) {
        Some(i) => {
            let (t, off) = time.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let mut hm = off[1..].split(':').map(|p| p.parse::<i64>().ok());
            let h = hm.next()??;
            let m = hm.next().flatten().unwrap_or(0);
            (t, sign * (h * 3600 + m * 60))
        }
        None => (time, 0),
    };
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next().unwrap_or("0").parse().ok()?;
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || !(0.0..61.0).contains(&sec)
    {
        return None;
    }
    let epoch = days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 - offset_secs;
    let epoch = u64::try_from(epoch).ok()?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(epoch))?
        .checked_add(Duration::from_secs_f64(sec))
}

/// `<identity_url>/auth/tokens`.
pub fn tokens_url(identity_url: &str) -> String {
    format!("{}/auth/tokens", identity_url.trim_end_matches('/'))
}

/// `POST <v3>/auth/tokens`; the token is the `X-Subject-Token` header. `expires_at` is
/// `None` when the answer has none (the cache applies its default lifetime).
pub fn authenticate(
    agent: &ureq::Agent,
    identity_url: &str,
    c: &Credentials<'_>,
) -> Result<CachedToken, AuthError> {
    crate::logging::register_secret(c.password);
    let url = tokens_url(identity_url);
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send(auth_body(c))
        .map_err(|e| AuthError::Unusable {
            status: None,
            message: transport_error(&e, &url),
        })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(AuthError::Refused {
            status,
            message: format!(
                "Keystone authentication failed: {}",
                status_error(status, &url)
            ),
        });
    }
    let unusable = |message: String| AuthError::Unusable {
        status: Some(status),
        message,
    };
    let token = header(&resp, "X-Subject-Token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unusable(format!("{url}: no X-Subject-Token in the response")))?;
    crate::logging::register_secret(&token);
    let body = read_body(&mut resp, &url)
        .and_then(|b| parse_json(&b))
        .map_err(|e| unusable(format!("{url}: {e}")))?;
    let catalog = body
        .pointer("/token/catalog")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let expires_at = body
        .pointer("/token/expires_at")
        .and_then(Value::as_str)
        .and_then(parse_expires_at);
    Ok(CachedToken {
        token,
        catalog,
        expires_at,
        identity_url: identity_url.to_string(),
    })
}

/// Whether `t` can still be used at `now` (it expires more than [`EXPIRY_MARGIN`] later).
pub fn still_valid(t: &CachedToken, now: SystemTime) -> bool {
    t.expires_at
        .and_then(|e| e.checked_sub(EXPIRY_MARGIN))
        .is_some_and(|limit| now < limit)
}

/// A token for `c`: the cached one while valid, else discovery + authentication (cached;
/// without `expires_at` in the answer it lives `default_ttl`).
pub fn token(
    cache: &mut TokenCache,
    agent: &ureq::Agent,
    c: &Credentials<'_>,
    default_ttl: Duration,
) -> Result<CachedToken, String> {
    crate::logging::register_secret(c.password);
    let key = token_key(c);
    if let Some(t) = cache.get(&key) {
        if still_valid(t, SystemTime::now()) {
            return Ok(t.clone());
        }
    }
    cache.remove(&key);
    let identity_url = discover(agent, c.auth_url);
    let mut t = authenticate(agent, &identity_url, c).map_err(|e| e.to_string())?;
    if t.expires_at.is_none() {
        t.expires_at = SystemTime::now().checked_add(default_ttl);
    }
    cache.insert(key, t.clone());
    Ok(t)
}

/// Forget the cached token for `c` (after the service refused it).
pub fn invalidate(cache: &mut TokenCache, c: &Credentials<'_>) {
    cache.remove(&token_key(c));
}

/// The URL of the first public endpoint of `service_type` in a v3 catalog, in region
/// `region` when given (matching `region_id` or `region`), as the catalog spells it.
pub fn endpoint_for(catalog: &Value, service_type: &str, region: Option<&str>) -> Option<String> {
    catalog
        .as_array()?
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(service_type))
        .filter_map(|s| s.get("endpoints").and_then(Value::as_array))
        .flatten()
        .filter(|e| {
            e.get("interface").and_then(Value::as_str) == Some("public")
                && region.is_none_or(|r| {
                    e.get("region_id").and_then(Value::as_str) == Some(r)
                        || e.get("region").and_then(Value::as_str) == Some(r)
                })
        })
        .find_map(|e| e.get("url").and_then(Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials<'static> {
        Credentials {
            auth_url: "http://127.0.0.1:5000/v3/",
            user_id: "2c5a5046d94640bcb9dbe6bed0239abf",
            password: "5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq",
            project_id: "14ad48c00cce4926a2c6a588f455972d",
        }
    }

    /// The body python-keystoneclient sent to real Keystone (captures/heat-heat).
    #[test]
    fn auth_body_matches_real_capture() {
        let body = auth_body(&creds());
        assert_eq!(
            body,
            r#"{"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": "5G@&YzRkiMGV3H*y!j7LfSa8ExIdg5Lq", "id": "2c5a5046d94640bcb9dbe6bed0239abf"}}}, "scope": {"project": {"id": "14ad48c00cce4926a2c6a588f455972d"}}}}"#
        );
        assert_eq!(body.len(), 229);
    }

    /// The notify transports' view of the same body (was `notify::keystone`'s test).
    #[test]
    fn auth_body_is_the_password_scoped_request() {
        let c = Credentials {
            auth_url: "http://k/v3/",
            user_id: "aaaa",
            password: "pw",
            project_id: "bbbb",
        };
        let body: Value = serde_json::from_str(&auth_body(&c)).unwrap();
        assert_eq!(
            body,
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "aaaa", "password": "pw"}}},
                            "scope": {"project": {"id": "bbbb"}}}})
        );
        assert_eq!(tokens_url(c.auth_url), "http://k/v3/auth/tokens");
        assert_eq!(tokens_url("http://k/v3"), "http://k/v3/auth/tokens");
    }

    #[test]
    fn discovery_documents() {
        let root = serde_json::json!({"versions": {"values": [
            {"id": "v2.0", "links": [{"rel": "self", "href": "http://k/v2.0/"}]},
            {"id": "v3.14", "status": "stable", "links": [{"rel": "self", "href": "http://k/v3/"}]}
        ]}});
        assert_eq!(
            v3_url_from_discovery(&root).as_deref(),
            Some("http://k/v3/")
        );
        let single = serde_json::json!({"version": {"id": "v3.10", "links": [
            {"rel": "describedby", "href": "x"}, {"rel": "self", "href": "http://k:5000/v3/"}]}});
        assert_eq!(
            v3_url_from_discovery(&single).as_deref(),
            Some("http://k:5000/v3/")
        );
        let v2only = serde_json::json!({"versions": {"values": [{"id": "v2.0", "links": []}]}});
        assert_eq!(v3_url_from_discovery(&v2only), None);
        assert_eq!(v3_url_from_discovery(&serde_json::json!([1])), None);
    }

    #[test]
    fn expires_at_parsing() {
        let t = parse_expires_at("2026-11-24T04:59:29.000000Z").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1795496369);
        let t2 = parse_expires_at("2026-11-24T05:59:29+01:00").unwrap();
        assert_eq!(t, t2);
        assert_eq!(parse_expires_at("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        assert_eq!(parse_expires_at("garbage"), None);
        assert_eq!(parse_expires_at("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_expires_at("999999999999-01-01T00:00:00Z"), None);
        assert_eq!(parse_expires_at("2026-01-01T00:00:00+99999999999:00"), None);
        assert_eq!(parse_expires_at("2026-01-01T25:00:00Z"), None);
    }

    /// The collectors' catalog and the notify tests' one (an endpoint without a URL is passed
    /// over; the URL comes back as the catalog spells it).
    #[test]
    fn catalog_lookup() {
        let collectors = json!([
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k"}]},
            {"type": "orchestration", "endpoints": [
                {"interface": "internal", "region_id": "R1", "url": "http://internal"},
                {"interface": "public", "region_id": "R2", "region": "R2", "url": "http://r2"},
                {"interface": "public", "region": "R1", "url": "http://r1"}
            ]}
        ]);
        let notify = json!([
            {"type": "identity", "endpoints": [{"interface": "public", "region_id": "RegionOne", "url": "http://k/v3"}]},
            {"type": "orchestration", "endpoints": [
                {"interface": "public", "region_id": "RegionOne"},
                {"interface": "internal", "region_id": "RegionOne", "url": "http://internal/v1/p"},
                {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "http://one/v1/p/"},
                {"interface": "public", "region_id": "RegionTwo", "url": "http://two/v1/p"}
            ]}
        ]);
        let cases = [
            (&collectors, "orchestration", None, Some("http://r2")),
            (&collectors, "orchestration", Some("R1"), Some("http://r1")),
            (&collectors, "orchestration", Some("R9"), None),
            (&collectors, "messaging", None, None),
            (&Value::Null, "messaging", None, None),
            (&notify, "orchestration", None, Some("http://one/v1/p/")),
            (
                &notify,
                "orchestration",
                Some("RegionTwo"),
                Some("http://two/v1/p"),
            ),
            (&notify, "orchestration", Some("RegionThree"), None),
            (&notify, "messaging", None, None),
        ];
        for (catalog, service, region, want) in cases {
            assert_eq!(
                endpoint_for(catalog, service, region).as_deref(),
                want,
                "{service} {region:?} in {catalog}"
            );
        }
    }

    #[test]
    fn token_expiry_margin() {
        let mut t = CachedToken {
            token: "t".into(),
            catalog: Value::Null,
            expires_at: None,
            identity_url: String::new(),
        };
        let now = SystemTime::now();
        assert!(!still_valid(&t, now));
        t.expires_at = Some(now + Duration::from_secs(30));
        assert!(!still_valid(&t, now));
        t.expires_at = Some(now + Duration::from_secs(3600));
        assert!(still_valid(&t, now));
    }

    /// test_keystone.test_cache_auth_ref, for the in-memory cache: a cached token is used
    /// without any request (the agent points at a closed port), and after `invalidate` the
    /// next access must authenticate (and here fails).
    #[test]
    fn test_cache_auth_ref() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/v3");
        let c = Credentials {
            auth_url: &url,
            ..creds()
        };
        let agent = crate::http::agent(&crate::http::HttpSettings::default()).unwrap();
        let mut cache = TokenCache::new();
        cache.insert(
            token_key(&c),
            CachedToken {
                token: "cached".into(),
                catalog: serde_json::json!([]),
                expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
                identity_url: url.clone(),
            },
        );
        let t = token(&mut cache, &agent, &c, Duration::from_secs(1800)).unwrap();
        assert_eq!(t.token, "cached");
        invalidate(&mut cache, &c);
        assert!(cache.is_empty());
        let err = token(&mut cache, &agent, &c, Duration::from_secs(1800)).unwrap_err();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }

    #[test]
    fn token_key_differs_per_identity() {
        let a = creds();
        let mut b = creds();
        b.project_id = "other";
        assert_ne!(token_key(&a), token_key(&b));
        assert_eq!(token_key(&a), token_key(&creds()));
        assert!(!token_key(&a).contains(a.password));
    }
}
