//! Keystone v3 password authentication shared by `heat` and `zaqar` (spec os-config-tools
//! §1.12.4 steps 2–4, §1.12.8): version discovery, `POST /auth/tokens`, catalog lookup, and a
//! token cache in [`State::tokens`] reused until shortly before `expires_at`.

use super::{CachedToken, State};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
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
            log::debug!(
                "Keystone discovery failed: {}",
                super::transport_error(&e, &url)
            );
            return fallback();
        }
    };
    let status = resp.status().as_u16();
    // 300 Multiple Choices is the normal answer at the root
    if status >= 400 {
        log::debug!(
            "Keystone discovery failed: {}",
            super::status_error(status, &url)
        );
        return fallback();
    }
    match super::read_body(&mut resp, &url).and_then(|b| super::parse_json(&b)) {
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
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || !(0.0..61.0).contains(&sec)
    {
        return None;
    }
    let epoch = days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 - offset_secs;
    let epoch = u64::try_from(epoch).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(epoch) + Duration::from_secs_f64(sec))
}

/// `POST <v3>/auth/tokens`; the token is the `X-Subject-Token` header.
pub fn authenticate(
    agent: &ureq::Agent,
    identity_url: &str,
    c: &Credentials<'_>,
    default_ttl: Duration,
) -> Result<CachedToken, String> {
    let url = format!("{}/auth/tokens", identity_url.trim_end_matches('/'));
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .send(auth_body(c))
        .map_err(|e| super::transport_error(&e, &url))?;
    let status = resp.status().as_u16();
    if status >= 400 {
        return Err(format!(
            "Keystone authentication failed: {}",
            super::status_error(status, &url)
        ));
    }
    let token = super::header(&resp, "X-Subject-Token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{url}: no X-Subject-Token in the response"))?;
    crate::logging::register_secret(&token);
    let body = super::read_body(&mut resp, &url)
        .and_then(|b| super::parse_json(&b))
        .map_err(|e| format!("{url}: {e}"))?;
    let catalog = body
        .pointer("/token/catalog")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let expires_at = body
        .pointer("/token/expires_at")
        .and_then(Value::as_str)
        .and_then(parse_expires_at)
        .or_else(|| SystemTime::now().checked_add(default_ttl));
    Ok(CachedToken {
        token,
        catalog,
        expires_at,
        identity_url: identity_url.to_string(),
    })
}

fn still_valid(t: &CachedToken, now: SystemTime) -> bool {
    t.expires_at
        .and_then(|e| e.checked_sub(EXPIRY_MARGIN))
        .is_some_and(|limit| now < limit)
}

/// A token for `c`: the cached one while valid, else discovery + authentication (cached).
pub fn token(
    state: &mut State,
    agent: &ureq::Agent,
    c: &Credentials<'_>,
    default_ttl: Duration,
) -> Result<CachedToken, String> {
    crate::logging::register_secret(c.password);
    let key = token_key(c);
    if let Some(t) = state.tokens.get(&key) {
        if still_valid(t, SystemTime::now()) {
            return Ok(t.clone());
        }
    }
    state.tokens.remove(&key);
    let identity_url = discover(agent, c.auth_url);
    let t = authenticate(agent, &identity_url, c, default_ttl)?;
    state.tokens.insert(key, t.clone());
    Ok(t)
}

/// Forget the cached token for `c` (after the service refused it).
pub fn invalidate(state: &mut State, c: &Credentials<'_>) {
    state.tokens.remove(&token_key(c));
}

/// The public URL of `service_type` in a v3 catalog, in region `region` when given
/// (matching `region_id` or `region`).
pub fn endpoint_for(catalog: &Value, service_type: &str, region: Option<&str>) -> Option<String> {
    catalog
        .as_array()?
        .iter()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some(service_type))
        .filter_map(|s| s.get("endpoints").and_then(Value::as_array))
        .flatten()
        .find(|e| {
            e.get("interface").and_then(Value::as_str) == Some("public")
                && region.is_none_or(|r| {
                    e.get("region_id").and_then(Value::as_str) == Some(r)
                        || e.get("region").and_then(Value::as_str) == Some(r)
                })
        })
        .and_then(|e| e.get("url").and_then(Value::as_str))
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
    }

    #[test]
    fn catalog_lookup() {
        let catalog = serde_json::json!([
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k"}]},
            {"type": "orchestration", "endpoints": [
                {"interface": "internal", "region_id": "R1", "url": "http://internal"},
                {"interface": "public", "region_id": "R2", "region": "R2", "url": "http://r2"},
                {"interface": "public", "region": "R1", "url": "http://r1"}
            ]}
        ]);
        assert_eq!(
            endpoint_for(&catalog, "orchestration", None).as_deref(),
            Some("http://r2")
        );
        assert_eq!(
            endpoint_for(&catalog, "orchestration", Some("R1")).as_deref(),
            Some("http://r1")
        );
        assert_eq!(endpoint_for(&catalog, "orchestration", Some("R9")), None);
        assert_eq!(endpoint_for(&catalog, "messaging", None), None);
        assert_eq!(endpoint_for(&Value::Null, "messaging", None), None);
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
