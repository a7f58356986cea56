//! `zaqar`: Heat posts the whole metadata as a message to a
//! Zaqar queue; we pop one message per poll (`DELETE .../messages?pop=1`), or, with
//! `use_websockets`, subscribe over a websocket and wait (with a timeout) for a message.

use super::{setting, CollectError, Context, Entries, Outcome};
use crate::config::Zaqar as ZaqarSettings;
use crate::http::keystone;
use crate::http::tls as ws_tls;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tungstenite::Message;

/// Statuses in a websocket reply that zaqarclient turns into errors.
const WS_ERROR_STATUSES: [u64; 7] = [400, 401, 403, 404, 409, 500, 503];

/// 32 lower-case hex digits of a random (version 4) UUID.
pub fn client_id_hex() -> String {
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The same UUID form with dashes (8-4-4-4-12), as the websocket transport sends it.
pub fn client_id_dashed() -> String {
    let h = client_id_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Zaqar's queue name rule: `^[a-zA-Z0-9_-]+$`.
pub fn valid_queue_name(q: &str) -> bool {
    !q.is_empty()
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn not_configured(msg: &str) -> CollectError {
    // the reference logs these as warnings (visible), unlike the other collectors
    log::warn!("{msg}");
    CollectError::NotConfigured(msg.to_string())
}

pub fn collect(ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
    let z: &ZaqarSettings = &ctx.settings.zaqar;
    if let Some(name) = super::first_unset(&[
        ("auth_url", &z.auth_url),
        ("password", &z.password),
        ("project_id", &z.project_id),
        ("user_id", &z.user_id),
        ("queue_id", &z.queue_id),
    ]) {
        return Err(not_configured(&format!("No {name} configured.")));
    }
    if z.ssl_certificate_validation && z.ca_file.as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
        return Err(not_configured(
            "No CA file configured when flag ssl certificate validation is on.",
        ));
    }
    let val = |v: &Option<String>| setting(v).unwrap_or_default().to_string();
    let creds = super::keystone_credentials(&z.auth_url, &z.user_id, &z.password, &z.project_id);
    let queue = val(&z.queue_id);
    let region = setting(&z.region_name);
    let timeout = super::secs(ctx.settings.http.timeout, 60.0);
    // Keystone is verified as usual; the zaqar endpoint follows ssl_certificate_validation
    let ks_agent = super::agent(&super::http_settings(ctx.settings, timeout, None, true))?;
    let ttl = Duration::from_secs(ctx.settings.keystone.cache_ttl.max(0) as u64);
    if !valid_queue_name(&queue) {
        return Err(CollectError::NotAvailable(format!(
            "Queue name {queue} is invalid: only letters, digits, '_' and '-' are allowed."
        )));
    }

    // the messaging endpoint polled: where Zaqar signals go too (never the websocket one)
    let mut polled_url = None;
    let data = super::with_token(&mut *ctx.tokens, &ks_agent, &creds, ttl, |token| {
        if z.use_websockets {
            let endpoint = keystone::endpoint_for(&token.catalog, "messaging-websocket", region)
                .ok_or_else(|| {
                    CollectError::NotAvailable(
                        "publicURL endpoint for messaging-websocket service not found".into(),
                    )
                })?;
            log::debug!("Fetching metadata from {endpoint}");
            let tls = WsTls {
                verify: z.ssl_certificate_validation,
                ca_file: z.ca_file.clone().filter(|_| z.ssl_certificate_validation),
            };
            // the websocket is not a ureq call: the poll cycle's deadline is applied here
            let timeout = match crate::http::remaining() {
                Some(left) if left.is_zero() => {
                    return Err(CollectError::NotAvailable(format!(
                        "{endpoint}: the time limit of this poll cycle was reached"
                    )))
                }
                Some(left) => left.min(timeout),
                None => timeout,
            };
            websocket_data(
                &endpoint,
                &token.token,
                creds.project_id,
                &queue,
                timeout,
                &tls,
            )
        } else {
            let endpoint =
                keystone::endpoint_for(&token.catalog, "messaging", region).ok_or_else(|| {
                    CollectError::NotAvailable(
                        "publicURL endpoint for messaging service not found".into(),
                    )
                })?;
            log::debug!("Fetching metadata from {endpoint}");
            let http = super::http_settings(
                ctx.settings,
                timeout,
                z.ca_file
                    .as_deref()
                    .filter(|_| z.ssl_certificate_validation),
                z.ssl_certificate_validation,
            );
            let agent = super::agent(&http)?;
            let popped = pop_message(&agent, &endpoint, &token.token, creds.project_id, &queue);
            polled_url = Some(endpoint);
            popped
        }
        .map_err(CollectError::NotAvailable)
    })?;
    ctx.polled_url = polled_url;
    if !data.is_object() {
        return Err(CollectError::NotAvailable(format!(
            "The message on queue {queue} is not a JSON object."
        )));
    }
    Ok(crate::merge::merged_list_from_content(
        data,
        &ctx.settings.deployment_key,
        "zaqar",
    ))
}

/// WSGI mode: `DELETE <endpoint>/v2/queues/<q>/messages?pop=1`; the first message's body.
pub(crate) fn pop_message(
    agent: &ureq::Agent,
    endpoint: &str,
    token: &str,
    project_id: &str,
    queue: &str,
) -> Result<Outcome<Value>, String> {
    let url = format!(
        "{}/v2/queues/{queue}/messages?pop=1",
        endpoint.trim_end_matches('/')
    );
    let client_id = client_id_hex();
    let headers = [
        ("X-Auth-Token", token),
        ("X-Project-Id", project_id),
        ("Client-ID", client_id.as_str()),
        ("content-type", "application/json"),
    ];
    // the token never follows a redirect to another origin
    let mut resp =
        crate::http::call_same_origin(agent, &ureq::http::Method::DELETE, &url, &headers)?;
    let status = resp.status().as_u16();
    if let Some(refusal) = super::refusal(status, &url)? {
        return Ok(refusal);
    }
    let empty = || format!("Queue {queue} has no message.");
    if status == 204 {
        return Err(empty());
    }
    let body = super::read_body(&mut resp, &url)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(empty());
    }
    let doc = super::parse_json(&body).map_err(|e| format!("{url}: response is not JSON ({e})"))?;
    first_message_body(&doc)
        .map(Outcome::Done)
        .ok_or_else(empty)
}

/// `messages[0].body` of a pop / delete-many answer.
pub fn first_message_body(doc: &Value) -> Option<Value> {
    doc.get("messages")?
        .as_array()?
        .first()?
        .get("body")
        .cloned()
}

/// The four websocket frames, exactly as zaqarclient's websocket transport writes them.
pub fn websocket_frames(
    token: &str,
    client_id: &str,
    project_id: &str,
    queue: &str,
) -> [String; 4] {
    let headers = json!({"Client-ID": client_id, "X-Project-ID": project_id});
    let frame = |action: &str, body: Value| {
        crate::pyjson::dumps(&json!({"action": action, "headers": headers, "body": body}))
    };
    [
        crate::pyjson::dumps(&json!({"action": "authenticate", "headers": {
            "X-Auth-Token": token, "Client-ID": client_id, "X-Project-ID": project_id}})),
        frame("queue_create", json!({"queue_name": queue})),
        frame(
            "subscription_create",
            json!({"queue_name": queue, "ttl": 10000}),
        ),
        frame(
            "message_delete_many",
            json!({"queue_name": queue, "pop": 1}),
        ),
    ]
}

/// TLS for a `wss://` endpoint: whether to verify, and against which CA file.
#[derive(Clone, Debug, Default)]
pub struct WsTls {
    pub verify: bool,
    pub ca_file: Option<std::path::PathBuf>,
}

fn ws_connect(
    endpoint: &str,
    timeout: Duration,
    tls: &WsTls,
) -> Result<tungstenite::WebSocket<ws_tls::Stream>, String> {
    let uri: ureq::http::Uri = endpoint
        .parse()
        .map_err(|e| format!("{endpoint}: invalid websocket URL ({e})"))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(format!("{endpoint}: not a ws:// or wss:// URL")),
    };
    let host = uri.host().ok_or_else(|| format!("{endpoint}: no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let config = if secure {
        Some(ws_tls::client_config(tls.verify, tls.ca_file.as_deref())?)
    } else {
        None
    };
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{endpoint}: {e}"))?
        .collect();
    let mut last = format!("{endpoint}: no address");
    for addr in addrs {
        let tcp = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(t) => t,
            Err(e) => {
                last = format!("{endpoint}: {e}");
                continue;
            }
        };
        tcp.set_read_timeout(Some(timeout)).ok();
        tcp.set_write_timeout(Some(timeout)).ok();
        let stream = match &config {
            Some(c) => ws_tls::Stream::tls(tcp, host, c.clone())?,
            None => ws_tls::Stream::Plain(tcp),
        };
        let (ws, _) = tungstenite::client(endpoint, stream)
            .map_err(|e| format!("{endpoint}: websocket handshake failed: {e}"))?;
        return Ok(ws);
    }
    Err(last)
}

/// The next JSON frame (control frames are skipped; tungstenite answers pings).
fn ws_recv<S: Read + Write>(
    ws: &mut tungstenite::WebSocket<S>,
    endpoint: &str,
    what: &str,
    timeout: Duration,
) -> Result<Value, String> {
    // a server that only sends pings must not keep us here forever
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if std::time::Instant::now() > deadline {
            return Err(format!("{endpoint}: timed out waiting for {what}"));
        }
        let msg = ws.read().map_err(|e| match e {
            tungstenite::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                format!("{endpoint}: timed out waiting for {what}")
            }
            e => format!("{endpoint}: {e} (waiting for {what})"),
        })?;
        let text = match &msg {
            Message::Text(t) => t.as_str().to_string(),
            Message::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            Message::Close(_) => {
                return Err(format!(
                    "{endpoint}: connection closed (waiting for {what})"
                ))
            }
            _ => continue,
        };
        return crate::pyjson::parse_value(&text)
            .map_err(|e| format!("{endpoint}: reply to {what} is not JSON ({e})"));
    }
}

/// Send one frame, read its reply, fail on an error status (as zaqarclient does).
fn ws_call<S: Read + Write>(
    ws: &mut tungstenite::WebSocket<S>,
    endpoint: &str,
    action: &str,
    frame: String,
    timeout: Duration,
) -> Result<Value, String> {
    ws.send(Message::text(frame))
        .map_err(|e| format!("{endpoint}: sending {action}: {e}"))?;
    let reply = ws_recv(ws, endpoint, action, timeout)?;
    let status = reply.pointer("/headers/status").and_then(|s| match s {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    match status {
        Some(st) if WS_ERROR_STATUSES.contains(&st) => {
            let detail = reply
                .pointer("/body/error")
                .map(crate::pyjson::py_str)
                .unwrap_or_else(|| {
                    reply
                        .get("body")
                        .map(crate::pyjson::dumps)
                        .unwrap_or_default()
                });
            Err(format!(
                "Websocket Transport Error: {action} answered {st}: {detail}"
            ))
        }
        _ => Ok(reply),
    }
}

/// Websocket mode: authenticate, create the queue, subscribe, pop; a popped message or the
/// next notification frame (W-C12: waited for at most `timeout`).
pub(crate) fn websocket_data(
    endpoint: &str,
    token: &str,
    project_id: &str,
    queue: &str,
    timeout: Duration,
    tls: &WsTls,
) -> Result<Outcome<Value>, String> {
    let mut ws = ws_connect(endpoint, timeout, tls)?;
    let result = websocket_exchange(&mut ws, endpoint, token, project_id, queue, timeout);
    let _ = ws.close(None);
    let _ = ws.flush();
    result
}

fn websocket_exchange<S: Read + Write>(
    ws: &mut tungstenite::WebSocket<S>,
    endpoint: &str,
    token: &str,
    project_id: &str,
    queue: &str,
    timeout: Duration,
) -> Result<Outcome<Value>, String> {
    let [auth, create, subscribe, pop] =
        websocket_frames(token, &client_id_dashed(), project_id, queue);
    if let Err(e) = ws_call(ws, endpoint, "authenticate", auth, timeout) {
        if e.contains(" answered 401") {
            return Ok(Outcome::Unauthorized(e));
        }
        return Err(e);
    }
    ws_call(ws, endpoint, "queue_create", create, timeout)?;
    ws_call(ws, endpoint, "subscription_create", subscribe, timeout)?;
    let reply = ws_call(ws, endpoint, "message_delete_many", pop, timeout)?;
    if let Some(body) = reply.get("body").and_then(first_message_body) {
        log::debug!("Websocket message found...");
        return Ok(Outcome::Done(body));
    }
    log::debug!("websocket recv()");
    let frame = ws_recv(ws, endpoint, "a message on the subscribed queue", timeout)?;
    match frame.get("body") {
        Some(body) => Ok(Outcome::Done(body.clone())),
        None => Err(format!("{endpoint}: notification frame without a body")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_uuid4() {
        let h = client_id_hex();
        assert_eq!(h.len(), 32);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(&h[12..13], "4");
        assert!("89ab".contains(&h[16..17]));
        assert_ne!(h, client_id_hex());
        let d = client_id_dashed();
        assert_eq!(d.len(), 36);
        assert_eq!(d.matches('-').count(), 4);
    }

    #[test]
    fn queue_names() {
        assert!(valid_queue_name("server-abc_1"));
        assert!(!valid_queue_name("a/b"));
        assert!(!valid_queue_name(""));
        assert!(!valid_queue_name("a b"));
    }

    #[test]
    fn frames_are_byte_exact() {
        let f = websocket_frames("T", "C", "P", "Q");
        assert_eq!(
            f[0],
            r#"{"action": "authenticate", "headers": {"X-Auth-Token": "T", "Client-ID": "C", "X-Project-ID": "P"}}"#
        );
        assert_eq!(
            f[1],
            r#"{"action": "queue_create", "headers": {"Client-ID": "C", "X-Project-ID": "P"}, "body": {"queue_name": "Q"}}"#
        );
        assert_eq!(
            f[2],
            r#"{"action": "subscription_create", "headers": {"Client-ID": "C", "X-Project-ID": "P"}, "body": {"queue_name": "Q", "ttl": 10000}}"#
        );
        assert_eq!(
            f[3],
            r#"{"action": "message_delete_many", "headers": {"Client-ID": "C", "X-Project-ID": "P"}, "body": {"queue_name": "Q", "pop": 1}}"#
        );
    }

    #[test]
    fn first_message() {
        let doc = json!({"messages": [{"body": {"a": 1}, "id": "x", "ttl": 3600, "age": 1}, {"body": 2}]});
        assert_eq!(first_message_body(&doc), Some(json!({"a": 1})));
        assert_eq!(first_message_body(&json!({"messages": []})), None);
        assert_eq!(first_message_body(&json!("")), None);
    }
}

/// The `zaqar` collector: no state of its own.
#[derive(Debug, Default)]
pub struct Zaqar;

impl super::Collector for Zaqar {
    fn collect(
        &mut self,
        ctx: &mut super::Context<'_>,
    ) -> Result<super::Entries, super::CollectError> {
        collect(ctx)
    }
}
