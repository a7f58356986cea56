//! What an HTTP response means: its body (bounded), headers, JSON, and the error texts for a
//! refused status or a failed transport, worded like Python requests so logs read the same.

use serde_json::Value;
use std::time::Duration;

/// Cap on any response body we read: a hostile or broken server cannot exhaust memory.
pub const MAX_BODY: u64 = 64 << 20;

/// `403 Client Error: Forbidden for url: <url>`, like Python requests' `raise_for_status`.
pub(crate) fn status_error(status: u16, url: &str) -> String {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let kind = if status >= 500 {
        "Server Error"
    } else {
        "Client Error"
    };
    format!(
        "{status} {kind}: {reason} for url: {}",
        crate::logging::redact_url(url)
    )
}

/// A transport failure (connection refused, timeout, TLS, ...) naming the URL.
pub(crate) fn transport_error(e: &ureq::Error, url: &str) -> String {
    // timers round: a call cut by the deadline may end a hair before it
    let cut_short = if crate::http::remaining().is_some_and(|left| left < Duration::from_millis(50))
    {
        " (the time limit of this poll cycle was reached)"
    } else {
        ""
    };
    format!("{}: {e}{cut_short}", crate::logging::redact_url(url))
}

/// Read a response body, at most [`MAX_BODY`] bytes.
pub(crate) fn read_body(
    resp: &mut ureq::http::Response<ureq::Body>,
    url: &str,
) -> Result<Vec<u8>, String> {
    resp.body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => format!(
                "{}: response body larger than {} MiB",
                crate::logging::redact_url(url),
                MAX_BODY >> 20
            ),
            e => transport_error(&e, url),
        })
}

/// A header value as text (None when missing or not visible ASCII).
pub(crate) fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parse a JSON reply as requests' `.json()` does (Python's reader; a UTF-8 byte order mark
/// is fine); the caller words the error.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
    crate::pyjson::parse_value(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_error_reads_like_requests() {
        let m = status_error(403, "http://h/x?Signature=abc");
        assert_eq!(
            m,
            "403 Client Error: Forbidden for url: http://h/x?Signature=***"
        );
        assert!(status_error(503, "http://h/").starts_with("503 Server Error: Service Unavailable"));
    }
}
