//! `zaqar` collector: HTTP pop against a loopback Zaqar, and websocket mode against a
//! tungstenite server on 127.0.0.1 (ports of test_zaqar.py).

mod collectors_support;
mod common;

use collectors_support::openstack::*;
use collectors_support::*;
use common::{Request, Response, Server};
use heat_agent::collectors::State;
use heat_agent::config::Settings;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

const QUEUE: &str = "server-queue_1";

struct Cloud {
    keystone: FakeKeystone,
    zaqar: Server,
    queue: Arc<Mutex<Vec<Value>>>,
}

/// Zaqar v2: pop the oldest message (204 when the queue is empty).
fn cloud(messages: Vec<Value>) -> Cloud {
    let zaqar = Server::start(|_| Response::new(503, ""));
    let keystone = FakeKeystone::start(json!([
        service("identity", "http://192.0.2.1:5000", "RegionOne"),
        service("messaging", &zaqar.url("/"), "RegionOne"),
    ]));
    let queue = Arc::new(Mutex::new(messages));
    let (ks, q) = (keystone.state.clone(), queue.clone());
    zaqar.set_handler(move |req: &Request| {
        if !FakeKeystone::token_is_valid(&ks, req.header("x-auth-token")) {
            return Response::json(401, &json!({"title": "Unauthorized"}));
        }
        if req.method != "DELETE"
            || req.path() != format!("/v2/queues/{QUEUE}/messages")
            || req.query() != "pop=1"
        {
            return Response::new(404, "");
        }
        let mut q = q.lock().unwrap();
        if q.is_empty() {
            return Response::new(204, "");
        }
        let body = q.remove(0);
        Response::json(
            200,
            &json!({"messages": [{"body": body, "id": "5f0c", "ttl": 3600, "age": 2}]}),
        )
    });
    Cloud {
        keystone,
        zaqar,
        queue,
    }
}

fn settings(auth_url: &str) -> Settings {
    let mut s = Settings::default();
    s.zaqar.auth_url = Some(auth_url.to_string());
    s.zaqar.user_id = Some(USER_ID.into());
    s.zaqar.password = Some(PASSWORD.into());
    s.zaqar.project_id = Some(PROJECT_ID.into());
    s.zaqar.queue_id = Some(QUEUE.into());
    s
}

#[test]
fn test_collect_zaqar() {
    capture_logs();
    let c = cloud(vec![meta_data()]);
    let entries = collect("zaqar", &settings(&c.keystone.server.url("/v3/"))).unwrap();
    assert_eq!(entries, vec![("zaqar".to_string(), meta_data())]);
    let reqs = c.zaqar.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "DELETE");
    assert_eq!(r.target, format!("/v2/queues/{QUEUE}/messages?pop=1"));
    assert_eq!(r.header("x-auth-token"), Some("gAAAAAB-token-1"));
    assert_eq!(r.header("x-project-id"), Some(PROJECT_ID));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let id = r.header("client-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    assert!(r.body.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&c.keystone.auth_requests()[0].body),
        expected_auth_body()
    );
    assert!(visible_logs().is_empty(), "{:?}", logs());
}

#[test]
fn test_collect_zaqar_deployments() {
    let c = cloud(vec![heat_software_config_data()]);
    let entries = collect("zaqar", &settings(&c.keystone.server.url("/v3/"))).unwrap();
    assert_eq!(names(&entries), ["zaqar", "dep-name1"]);
    assert_eq!(entries[1].1, json!({"config1": "value1"}));
}

#[test]
fn test_collect_zaqar_fail() {
    let c = cloud(vec![meta_data()]);
    c.keystone.state.lock().unwrap().refuse = true;
    let msg = not_available(collect("zaqar", &settings(&c.keystone.server.url("/v3/"))));
    assert!(msg.contains("Forbidden"), "{msg}");
    assert!(c.zaqar.requests().is_empty());
}

fn missing(field: &str) {
    capture_logs();
    let mut s = settings("http://127.0.0.1:9/v3");
    match field {
        "auth_url" => s.zaqar.auth_url = None,
        "password" => s.zaqar.password = None,
        "project_id" => s.zaqar.project_id = None,
        "user_id" => s.zaqar.user_id = None,
        "queue_id" => s.zaqar.queue_id = None,
        _ => unreachable!(),
    }
    let msg = format!("No {field} configured.");
    assert_eq!(not_configured(collect("zaqar", &s)), msg);
    assert!(
        visible_logs().contains(&format!("WARN {msg}")),
        "{:?}",
        logs()
    );
}

#[test]
fn test_collect_zaqar_no_auth_url() {
    missing("auth_url");
}
#[test]
fn test_collect_zaqar_no_password() {
    missing("password");
}
#[test]
fn test_collect_zaqar_no_project_id() {
    missing("project_id");
}
#[test]
fn test_collect_zaqar_no_user_id() {
    missing("user_id");
}
#[test]
fn test_collect_zaqar_no_queue_id() {
    missing("queue_id");
}

#[test]
fn test_collect_zaqar_no_ca_file() {
    capture_logs();
    let mut s = settings("http://127.0.0.1:9/v3");
    s.zaqar.ssl_certificate_validation = true;
    let msg = not_configured(collect("zaqar", &s));
    assert_eq!(
        msg,
        "No CA file configured when flag ssl certificate validation is on."
    );
    assert!(visible_logs()
        .iter()
        .any(|l| l.contains("No CA file configured")));
}

/// With validation on, the CA file is what the zaqar endpoint is verified against.
#[test]
fn zaqar_validation_uses_the_ca_file() {
    let c = cloud(vec![meta_data()]);
    let mut s = settings(&c.keystone.server.url("/v3/"));
    s.zaqar.ssl_certificate_validation = true;
    s.zaqar.ca_file = Some("/nonexistent/zaqar-ca.pem".into());
    let msg = not_available(collect("zaqar", &s));
    assert!(msg.contains("/nonexistent/zaqar-ca.pem"), "{msg}");
}

#[test]
fn zaqar_empty_queue_is_not_available() {
    let c = cloud(vec![]);
    let msg = not_available(collect("zaqar", &settings(&c.keystone.server.url("/v3/"))));
    assert!(msg.contains(QUEUE), "{msg}");
}

#[test]
fn zaqar_new_client_id_each_poll_and_token_reused() {
    let c = cloud(vec![meta_data(), meta_data()]);
    let s = settings(&c.keystone.server.url("/v3/"));
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("zaqar", &s, cache.path(), &mut state).unwrap();
    collect_with("zaqar", &s, cache.path(), &mut state).unwrap();
    let ids: Vec<String> = c
        .zaqar
        .requests()
        .iter()
        .map(|r| r.header("client-id").unwrap().to_string())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(c.keystone.auth_requests().len(), 1);
}

#[test]
fn zaqar_reauthenticates_after_401() {
    let c = cloud(vec![meta_data(), json!({"second": 2})]);
    let s = settings(&c.keystone.server.url("/v3/"));
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("zaqar", &s, cache.path(), &mut state).unwrap();
    c.keystone.revoke_all();
    let e = collect_with("zaqar", &s, cache.path(), &mut state).unwrap();
    assert_eq!(e[0].1, json!({"second": 2}));
    assert_eq!(c.keystone.auth_requests().len(), 2);
    assert!(c.queue.lock().unwrap().is_empty());
}

#[test]
fn zaqar_invalid_queue_name() {
    let c = cloud(vec![meta_data()]);
    let mut s = settings(&c.keystone.server.url("/v3/"));
    s.zaqar.queue_id = Some("../evil".into());
    assert!(not_available(collect("zaqar", &s)).contains("invalid"));
    assert!(c.zaqar.requests().is_empty());
}

/// What the websocket server does after the fourth frame.
#[derive(Clone)]
enum WsPlan {
    /// A message already in the queue: returned in the message_delete_many reply.
    Popped(Value),
    /// Empty reply, then a subscription notification frame.
    Notify(Value),
    /// Empty reply and nothing else (the client must time out).
    Silent,
    /// queue_create answers this status.
    FailCreate(u64),
    /// Empty reply, then nothing but pings.
    PingFlood,
}

struct WsServer {
    url: String,
    frames: Arc<Mutex<Vec<String>>>,
    done: thread::JoinHandle<()>,
}

fn ws_server(plan: WsPlan) -> WsServer {
    ws_server_on(plan, None)
}

/// The websocket server; with `tls` (cert chain PEM, key PEM) it speaks wss://.
fn ws_server_on(plan: WsPlan, tls: Option<(PathBuf, PathBuf)>) -> WsServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let url = format!("{scheme}://{}/", listener.local_addr().unwrap());
    let frames = Arc::new(Mutex::new(Vec::new()));
    let f = frames.clone();
    let done = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        match tls {
            None => {
                if let Ok(ws) = tungstenite::accept(stream) {
                    serve_ws(ws, plan, f);
                }
            }
            Some((cert, key)) => {
                let certs: Vec<_> = CertificateDer::pem_file_iter(&cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(&key).unwrap();
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_no_client_auth()
                    .with_single_cert(certs, key)
                    .unwrap();
                let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
                let tls_stream = rustls::StreamOwned::new(conn, stream);
                if let Ok(ws) = tungstenite::accept(tls_stream) {
                    serve_ws(ws, plan, f);
                }
            }
        }
    });
    WsServer { url, frames, done }
}

fn serve_ws<S: std::io::Read + std::io::Write>(
    mut ws: tungstenite::WebSocket<S>,
    plan: WsPlan,
    f: Arc<Mutex<Vec<String>>>,
) {
    let reply = |status: u64, body: Value| {
        tungstenite::Message::text(json!({"headers": {"status": status}, "body": body}).to_string())
    };
    for i in 0..4 {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(_) => return,
        };
        f.lock().unwrap().push(msg.to_text().unwrap().to_string());
        let answer = match (i, &plan) {
            (1, WsPlan::FailCreate(st)) => {
                let _ = ws.send(reply(*st, json!({"error": "queue refused"})));
                return;
            }
            (3, WsPlan::Popped(v)) => reply(200, json!({"messages": [{"body": v, "id": "m1"}]})),
            (3, _) => reply(200, json!({"messages": []})),
            (_, _) => reply(if i == 1 { 201 } else { 200 }, json!("")),
        };
        ws.send(answer).unwrap();
    }
    match &plan {
        WsPlan::Notify(v) => {
            ws.send(tungstenite::Message::text(
                json!({"body": v, "ttl": 3600}).to_string(),
            ))
            .unwrap();
        }
        WsPlan::PingFlood => {
            for _ in 0..2000 {
                if ws
                    .send(tungstenite::Message::Ping(vec![1u8].into()))
                    .is_err()
                {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            return;
        }
        WsPlan::Silent => {
            // hold the connection open until the client gives up
            let _ = ws.read();
            return;
        }
        _ => {}
    }
    // the client closes the connection
    let _ = ws.read();
}

fn ws_settings(ws: &WsServer) -> (FakeKeystone, Settings) {
    let keystone = FakeKeystone::start(json!([
        service("messaging", "http://192.0.2.1:8888/", "RegionOne"),
        service("messaging-websocket", &ws.url, "RegionOne"),
    ]));
    let mut s = settings(&keystone.server.url("/v3/"));
    s.zaqar.use_websockets = true;
    (keystone, s)
}

fn assert_four_frames(frames: &[String]) {
    assert_eq!(frames.len(), 4, "{frames:?}");
    let first: Value = serde_json::from_str(&frames[0]).unwrap();
    let cid = first["headers"]["Client-ID"].as_str().unwrap().to_string();
    assert_eq!(cid.len(), 36);
    assert_eq!(cid.matches('-').count(), 4);
    let h = format!(r#""headers": {{"Client-ID": "{cid}", "X-Project-ID": "{PROJECT_ID}"}}"#);
    assert_eq!(
        frames[0],
        format!(
            r#"{{"action": "authenticate", "headers": {{"X-Auth-Token": "gAAAAAB-token-1", "Client-ID": "{cid}", "X-Project-ID": "{PROJECT_ID}"}}}}"#
        )
    );
    assert_eq!(
        frames[1],
        format!(r#"{{"action": "queue_create", {h}, "body": {{"queue_name": "{QUEUE}"}}}}"#)
    );
    assert_eq!(
        frames[2],
        format!(
            r#"{{"action": "subscription_create", {h}, "body": {{"queue_name": "{QUEUE}", "ttl": 10000}}}}"#
        )
    );
    assert_eq!(
        frames[3],
        format!(
            r#"{{"action": "message_delete_many", {h}, "body": {{"queue_name": "{QUEUE}", "pop": 1}}}}"#
        )
    );
}

#[test]
fn test_collect_zaqar_websocket() {
    let ws = ws_server(WsPlan::Popped(meta_data()));
    let (_ks, s) = ws_settings(&ws);
    let entries = collect("zaqar", &s).unwrap();
    assert_eq!(entries, vec![("zaqar".to_string(), meta_data())]);
    ws.done.join().unwrap();
    assert_four_frames(&ws.frames.lock().unwrap());
}

#[test]
fn test_collect_zaqar_websocket_recv() {
    let ws = ws_server(WsPlan::Notify(heat_software_config_data()));
    let (_ks, s) = ws_settings(&ws);
    let entries = collect("zaqar", &s).unwrap();
    assert_eq!(names(&entries), ["zaqar", "dep-name1"]);
    ws.done.join().unwrap();
    assert_four_frames(&ws.frames.lock().unwrap());
}

/// W-C12: the wait for a notification is bounded.
#[test]
fn zaqar_websocket_wait_times_out() {
    let ws = ws_server(WsPlan::Silent);
    let (_ks, mut s) = ws_settings(&ws);
    s.http.timeout = 1.0;
    let msg = not_available(collect("zaqar", &s));
    assert!(msg.contains("timed out"), "{msg}");
    ws.done.join().unwrap();
}

#[test]
fn zaqar_websocket_error_status() {
    let ws = ws_server(WsPlan::FailCreate(503));
    let (_ks, s) = ws_settings(&ws);
    let msg = not_available(collect("zaqar", &s));
    assert!(
        msg.contains("queue_create answered 503: queue refused"),
        "{msg}"
    );
    ws.done.join().unwrap();
}

/// A test CA and a 127.0.0.1 server certificate it signed, made with the openssl CLI.
/// Returns (ca.pem, leaf chain pem, leaf key pem), or None (with a note) without openssl.
fn make_pki(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let ca = format!("{name}-ca.pem");
    let ca_key = format!("{name}-ca.key");
    let key = format!("{name}-leaf.key");
    let csr = format!("{name}-leaf.csr");
    let leaf = format!("{name}-leaf.pem");
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ok = run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            "/CN=heat-agent test CA",
        ],
    ]
    .concat())
        && run(&[
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
        ]
        .concat())
        && run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &leaf,
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
    if !ok {
        eprintln!("note: openssl CLI not usable; wss tests skipped");
        return None;
    }
    Some((dir.join(ca), dir.join(leaf), dir.join(key)))
}

/// wss:// verified against the configured CA file.
#[test]
fn zaqar_websocket_over_tls_verified_with_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, leaf, key)) = make_pki(dir.path(), "good") else {
        return;
    };
    let ws = ws_server_on(WsPlan::Popped(meta_data()), Some((leaf, key)));
    assert!(ws.url.starts_with("wss://"));
    let (_ks, mut s) = ws_settings(&ws);
    s.zaqar.ssl_certificate_validation = true;
    s.zaqar.ca_file = Some(ca);
    let entries = collect("zaqar", &s).unwrap();
    assert_eq!(entries, vec![("zaqar".to_string(), meta_data())]);
    ws.done.join().unwrap();
    assert_four_frames(&ws.frames.lock().unwrap());
}

/// The reference's default (validation off) accepts any certificate (W-C18, copied).
#[test]
fn zaqar_websocket_over_tls_unverified_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_ca, leaf, key)) = make_pki(dir.path(), "any") else {
        return;
    };
    let ws = ws_server_on(WsPlan::Notify(meta_data()), Some((leaf, key)));
    let (_ks, s) = ws_settings(&ws);
    assert!(!s.zaqar.ssl_certificate_validation);
    assert_eq!(collect("zaqar", &s).unwrap()[0].1, meta_data());
    ws.done.join().unwrap();
}

/// With validation on, a server certificate from another CA is refused.
#[test]
fn zaqar_websocket_over_tls_wrong_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (Some((_, leaf, key)), Some((other_ca, _, _))) = (
        make_pki(dir.path(), "server"),
        make_pki(dir.path(), "other"),
    ) else {
        return;
    };
    let ws = ws_server_on(WsPlan::Popped(meta_data()), Some((leaf, key)));
    let (_ks, mut s) = ws_settings(&ws);
    s.zaqar.ssl_certificate_validation = true;
    s.zaqar.ca_file = Some(other_ca);
    let msg = not_available(collect("zaqar", &s));
    assert!(msg.contains("handshake"), "{msg}");
    ws.done.join().unwrap();
    assert!(ws.frames.lock().unwrap().is_empty());
}

/// A server that only sends pings cannot hold the poll forever.
#[test]
fn zaqar_websocket_ping_flood_times_out() {
    let ws = ws_server(WsPlan::PingFlood);
    let (_ks, mut s) = ws_settings(&ws);
    s.http.timeout = 1.0;
    let msg = not_available(collect("zaqar", &s));
    assert!(msg.contains("timed out waiting for a message"), "{msg}");
    ws.done.join().unwrap();
}

#[test]
fn zaqar_non_object_message_is_not_available() {
    let c = cloud(vec![json!("just text")]);
    let msg = not_available(collect("zaqar", &settings(&c.keystone.server.url("/v3/"))));
    assert!(msg.contains("not a JSON object"), "{msg}");
}

/// Run `heat-agent collect --print zaqar` against cloud `c` (the real binary).
fn collect_with_binary(c: &Cloud) -> std::process::Output {
    let auth_url = c.keystone.server.url("/v3/");
    std::process::Command::new(common::bin())
        .args(["collect", "--config-file", "/dev/null"])
        .args(["--zaqar-auth-url", &auth_url, "--zaqar-user-id", USER_ID])
        .args([
            "--zaqar-password",
            PASSWORD,
            "--zaqar-project-id",
            PROJECT_ID,
        ])
        .args(["--zaqar-queue-id", QUEUE, "--print", "zaqar"])
        .output()
        .unwrap()
}

/// Zaqar's pop redirects to another port: the Keystone token does not go there (the redirect
/// is not followed; the source is unavailable, naming both places). A redirect within the
/// origin is followed, still a DELETE with the token.
#[test]
fn token_does_not_follow_a_redirect_to_another_origin() {
    let c = cloud(vec![]);
    let elsewhere = Server::start(|_| {
        Response::json(
            200,
            &json!({"messages": [{"body": {"moved": 1}, "id": "1"}]}),
        )
    });
    let target = elsewhere.url("/v2/popped");
    let ks = c.keystone.state.clone();
    c.zaqar.set_handler(move |req: &Request| {
        if !FakeKeystone::token_is_valid(&ks, req.header("x-auth-token")) {
            return Response::new(401, "");
        }
        // ureq would follow a 302 as a GET, custom headers and all
        Response::new(302, "").header("Location", &target)
    });
    let out = collect_with_binary(&c);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let leaked: Vec<_> = elsewhere
        .requests()
        .into_iter()
        .filter_map(|r| r.header("x-auth-token").map(str::to_string))
        .collect();
    assert!(
        leaked.is_empty(),
        "the token went to another origin: {leaked:?}"
    );
    assert!(elsewhere.requests().is_empty());
    assert!(stderr.contains("redirected to another origin"), "{stderr}");
    assert!(stderr.contains(&elsewhere.url("/v2/popped")), "{stderr}");
    assert!(stderr.contains("Source [zaqar] Unavailable."), "{stderr}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, json!({}));

    // the same origin: followed, as a DELETE with the token
    let ks = c.keystone.state.clone();
    let here = c.zaqar.url("/v2/popped-here");
    c.zaqar.set_handler(move |req: &Request| {
        if !FakeKeystone::token_is_valid(&ks, req.header("x-auth-token")) {
            return Response::new(401, "");
        }
        if req.path() == "/v2/popped-here" && req.method == "DELETE" {
            return Response::json(
                200,
                &json!({"messages": [{"body": {"here": 1}, "id": "1"}]}),
            );
        }
        Response::new(307, "").header("Location", &here)
    });
    let out = collect_with_binary(&c);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed["zaqar"],
        json!({"here": 1}),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
