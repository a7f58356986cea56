//! `request` collector against a Swift-like loopback server that honours If-None-Match and
//! If-Modified-Since (ports of test_request.py; the conditional GET replaces HEAD + GET).

mod collectors_support;
mod common;

use collectors_support::*;
use common::{Request, Response, Server};
use heat_agent::collectors::State;
use heat_agent::config::Settings;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const LAST_MODIFIED: &str = "Mon, 23 Nov 2026 03:00:00 GMT";
/// The server's clock when it answers (Swift sends `Date` on every response): later than both
/// Last-Modified values, so they are strong validators (RFC 7232 section 2.2.2).
const DATE: &str = "Wed, 25 Nov 2026 00:00:00 GMT";

struct Swift {
    server: Server,
    object: Arc<Mutex<(Value, u32)>>,
}

/// A Swift object: ETag = "etag-<version>"; 304 when the client's validators match.
fn swift(initial: Value) -> Swift {
    let object = Arc::new(Mutex::new((initial, 1u32)));
    let o = object.clone();
    let server = Server::start(move |req: &Request| {
        let (value, version) = o.lock().unwrap().clone();
        let etag = format!("\"etag-{version}\"");
        let last_modified = if version == 1 {
            LAST_MODIFIED.to_string()
        } else {
            "Tue, 24 Nov 2026 03:00:00 GMT".to_string()
        };
        let inm = req.header("if-none-match");
        let ims = req.header("if-modified-since");
        let unchanged = match (inm, ims) {
            (Some(tag), _) => tag == etag,
            (None, Some(since)) => since == last_modified,
            _ => false,
        };
        if unchanged {
            return Response::new(304, "").header("ETag", &etag);
        }
        Response::new(200, value.to_string())
            .header("Content-Type", "application/json")
            .header("ETag", &etag)
            .header("Last-Modified", &last_modified)
            .header("Date", DATE)
    });
    Swift { server, object }
}

fn settings(url: &str) -> Settings {
    let mut s = Settings::default();
    s.request.metadata_url = Some(url.to_string());
    s
}

fn temp_url(srv: &Server) -> String {
    srv.url("/v1/AUTH_p/server-abc/3f1c?temp_url_sig=0123456789abcdef0123456789abcdef01234567&temp_url_expires=2147483586")
}

#[test]
fn test_collect_request() {
    capture_logs();
    let sw = swift(meta_data());
    let entries = collect("request", &settings(&temp_url(&sw.server))).unwrap();
    assert_eq!(entries, vec![("request".to_string(), meta_data())]);
    assert!(visible_logs().is_empty(), "{:?}", logs());
    let reqs = sw.server.requests();
    assert_eq!(reqs.len(), 1, "one GET, no HEAD");
    assert_eq!(reqs[0].method, "GET");
    assert!(reqs[0].query().contains("temp_url_sig="));
}

#[test]
fn test_collect_request_fail() {
    let srv = Server::start(|_| Response::new(403, "Forbidden"));
    let msg = not_available(collect("request", &settings(&temp_url(&srv))));
    assert!(msg.contains("Forbidden"), "{msg}");
    assert!(
        !msg.contains("0123456789abcdef"),
        "signature redacted: {msg}"
    );
}

/// The reference raises a NotAvailable subclass here (a warning every poll); we report
/// "not configured" (recorded in docs/compatibility.md).
#[test]
fn test_collect_request_no_metadata_url() {
    capture_logs();
    let msg = not_configured(collect("request", &Settings::default()));
    assert_eq!(msg, "No metadata_url configured.");
}

/// TestRequestSoftwareConfig.test_collect_request
#[test]
fn test_collect_request_software_config() {
    let sw = swift(software_config_data());
    let entries = collect("request", &settings(&temp_url(&sw.server))).unwrap();
    assert_eq!(
        names(&entries),
        ["request", "dep-name1", "dep-name2", "dep-name3"]
    );
    assert_eq!(entries[0].1, software_config_data());
}

/// The second, unchanged poll is one request answered 304 with no body, and still gives
/// the same entries.
#[test]
fn request_unchanged_poll_is_one_conditional_get() {
    let sw = swift(software_config_data());
    let s = settings(&temp_url(&sw.server));
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    let first = collect_with("request", &s, cache.path(), &mut state).unwrap();
    let second = collect_with("request", &s, cache.path(), &mut state).unwrap();
    assert_eq!(first, second);
    let reqs = sw.server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.method == "GET"));
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert_eq!(reqs[0].header("if-modified-since"), None);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"etag-1\""));
    assert_eq!(reqs[1].header("if-modified-since"), Some(LAST_MODIFIED));
}

#[test]
fn request_changed_object_is_fetched_again() {
    let sw = swift(meta_data());
    let s = settings(&temp_url(&sw.server));
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("request", &s, cache.path(), &mut state).unwrap();
    *sw.object.lock().unwrap() = (json!({"new": "document"}), 2);
    let entries = collect_with("request", &s, cache.path(), &mut state).unwrap();
    assert_eq!(entries[0].1, json!({"new": "document"}));
    collect_with("request", &s, cache.path(), &mut state).unwrap();
    let reqs = sw.server.requests();
    assert_eq!(reqs[2].header("if-none-match"), Some("\"etag-2\""));
}

/// Only Last-Modified from the server: If-Modified-Since alone still gives 304.
#[test]
fn request_last_modified_only() {
    let srv = Server::start(|req: &Request| {
        if req.header("if-modified-since") == Some(LAST_MODIFIED) {
            return Response::new(304, "");
        }
        Response::new(200, "{\"a\": 1}")
            .header("Last-Modified", LAST_MODIFIED)
            .header("Date", DATE)
    });
    let s = settings(&srv.url("/obj"));
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("request", &s, cache.path(), &mut state).unwrap();
    let again = collect_with("request", &s, cache.path(), &mut state).unwrap();
    assert_eq!(again[0].1, json!({"a": 1}));
    assert_eq!(srv.requests()[1].header("if-none-match"), None);
    assert_eq!(
        srv.requests()[1].header("if-modified-since"),
        Some(LAST_MODIFIED)
    );
}

/// A document fetched within the second it was modified (Date == Last-Modified) could change
/// again in that same second: its Last-Modified is not used, the next poll is a full GET.
#[test]
fn request_same_second_last_modified_is_not_trusted() {
    let srv = Server::start(|req: &Request| {
        if req.header("if-modified-since").is_some() {
            return Response::new(304, "");
        }
        Response::new(200, "{\"a\": 1}")
            .header("Last-Modified", LAST_MODIFIED)
            .header("Date", LAST_MODIFIED)
    });
    let s = settings(&srv.url("/obj"));
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with("request", &s, cache.path(), &mut state).unwrap();
    collect_with("request", &s, cache.path(), &mut state).unwrap();
    assert_eq!(srv.requests()[1].header("if-modified-since"), None);
}

/// A new URL (Heat moved the object) does not send the old validators.
#[test]
fn request_new_url_starts_afresh() {
    let sw = swift(meta_data());
    let cache = tempfile::tempdir().unwrap();
    let mut state = State::default();
    collect_with(
        "request",
        &settings(&sw.server.url("/a")),
        cache.path(),
        &mut state,
    )
    .unwrap();
    collect_with(
        "request",
        &settings(&sw.server.url("/b")),
        cache.path(),
        &mut state,
    )
    .unwrap();
    assert_eq!(sw.server.requests()[1].header("if-none-match"), None);
}

#[test]
fn request_invalid_json() {
    let srv = Server::start(|_| Response::new(200, "{\"truncated\": "));
    let msg = not_available(collect("request", &settings(&srv.url("/o"))));
    assert!(msg.starts_with("Failed to parse as json. ("), "{msg}");
}

/// W-C5: a JSON list (or any non-object) is "unavailable", not a crash.
#[test]
fn request_non_object_document() {
    let srv = Server::start(|_| Response::new(200, "[1, 2, 3]"));
    let msg = not_available(collect("request", &settings(&srv.url("/o"))));
    assert!(msg.contains("not a JSON object"), "{msg}");
}

#[test]
fn request_connection_refused_is_not_available() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let msg = not_available(collect(
        "request",
        &settings(&format!("http://127.0.0.1:{port}/x")),
    ));
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
}

/// A 304 to a client that sent no validators (broken server) is not trusted.
#[test]
fn request_unexpected_304() {
    let srv = Server::start(|_| Response::new(304, ""));
    let msg = not_available(collect("request", &settings(&srv.url("/o"))));
    assert!(msg.contains("304"), "{msg}");
}

/// A body over the 64 MiB cap is refused with a clear message, not read into memory.
#[test]
fn request_huge_body_is_not_available() {
    let srv = Server::start(|_| Response::new(200, vec![b' '; (64 << 20) + 1]));
    let msg = not_available(collect("request", &settings(&srv.url("/huge"))));
    assert!(msg.contains("larger than 64 MiB"), "{msg}");
}
