//! `cfn`: signed (AWS signature v2) `DescribeStackResource`
//! calls against heat-api-cfn, one per `[cfn] path` entry, shallow-merged.

use super::{setting, CollectError, Context, Entries};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// `GET\n<host>\n<path>\n<canonical query>` over every parameter but `Signature`.
pub fn string_to_sign(host: &str, path: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|p| p.0 != "Signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let canonical: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", super::quote(k, ""), super::quote(v, "-_~")))
        .collect();
    format!("GET\n{host}\n{path}\n{}", canonical.join("&"))
}

/// AWS signature v2, HmacSHA256, base64 (keystoneclient `Ec2Signer`).
pub fn sign_v2(secret: &str, host: &str, path: &str, params: &[(&str, &str)]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign(host, path, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `(host with port, path, query)` of a URL the way Python's urlparse splits it.
pub fn split_url(url: &str) -> (String, String, Option<String>) {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q.to_string())),
        None => (rest, None),
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string(), query),
        None => (rest.to_string(), String::new(), query),
    }
}

/// The request URL: the query in the reference's order, form-encoded, signature last.
pub fn signed_url(url: &str, secret: &str, params: &[(&str, &str)]) -> String {
    let (host, path, _) = split_url(url);
    let signature = sign_v2(secret, &host, &path, params);
    let mut query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", super::quote_plus(k), super::quote_plus(v)))
        .collect();
    query.push(format!("Signature={}", super::quote_plus(&signature)));
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", query.join("&"))
}

/// The caller logs the reason (the reference logs these at info level).
fn not_configured(msg: &str) -> CollectError {
    CollectError::NotConfigured(msg.to_string())
}

/// The `cfn` collector: the metadata URL read from the `heat_metadata_hint` file is kept for
/// the process lifetime, as the reference does.
#[derive(Debug, Default)]
pub struct Cfn {
    hinted_url: Option<String>,
}

impl super::Collector for Cfn {
    fn collect(&mut self, ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
        let url = self.metadata_url(&ctx.settings.cfn)?;
        ctx.polled_url = Some(url.clone());
        collect(ctx, url)
    }
}

impl Cfn {
    /// `metadata_url`, or the one read (once per process) from `heat_metadata_hint`.
    fn metadata_url(&mut self, cfn: &crate::config::Cfn) -> Result<String, CollectError> {
        if let Some(u) = setting(&cfn.metadata_url) {
            return Ok(u.to_string());
        }
        if let Some(u) = &self.hinted_url {
            return Ok(u.clone());
        }
        let hint = &cfn.heat_metadata_hint;
        match std::fs::read_to_string(hint) {
            Ok(text) if !hint.as_os_str().is_empty() => {
                let u = format!("{}/v1/", text.trim());
                self.hinted_url = Some(u.clone());
                Ok(u)
            }
            _ => Err(not_configured("No metadata_url configured.")),
        }
    }
}

fn collect(ctx: &mut Context<'_>, url: String) -> Result<Entries, CollectError> {
    let cfn = &ctx.settings.cfn;
    let Some(access_key_id) = setting(&cfn.access_key_id) else {
        return Err(not_configured("No Access Key ID configured."));
    };
    let Some(secret) = setting(&cfn.secret_access_key) else {
        return Err(not_configured("No Secret Access Key configured."));
    };
    crate::logging::register_secret(secret);
    let paths: Vec<&str> = cfn
        .path
        .iter()
        .map(String::as_str)
        .filter(|p| !p.trim().is_empty())
        .collect();
    if paths.is_empty() {
        return Err(not_configured("No path configured"));
    }
    // W-C2: the reference signs an unset stack name as "None" and is always refused
    let Some(stack_name) = setting(&cfn.stack_name) else {
        return Err(not_configured("No stack_name configured."));
    };

    let timeout = super::secs(cfn.timeout, 10.0);
    let http = super::http_settings(ctx.settings, timeout, cfn.ca_certificate.as_deref(), true);
    let agent = super::agent(&http)?;
    let mut final_content = Map::new();
    for path in paths {
        let Some((resource, rest)) = path.split_once('.') else {
            let msg = format!("Path not in format resource.field[.x.y] ({path})");
            log::error!("{msg}");
            return Err(CollectError::NotConfigured(msg));
        };
        let (field, sub_path) = match rest.split_once('.') {
            Some((f, s)) => (f, Some(s)),
            None => (rest, None),
        };
        let params = [
            ("Action", "DescribeStackResource"),
            ("StackName", stack_name),
            ("LogicalResourceId", resource),
            ("AWSAccessKeyId", access_key_id),
            ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256"),
        ];
        let full = signed_url(&url, secret, &params);
        let mut resp = agent
            .get(&full)
            .header("Content-Type", "application/json")
            .call()
            .map_err(|e| CollectError::NotAvailable(super::transport_error(&e, &full)))?;
        let status = resp.status().as_u16();
        if status >= 400 {
            return Err(CollectError::NotAvailable(super::status_error(
                status, &full,
            )));
        }
        let body = super::read_body(&mut resp, &full).map_err(CollectError::NotAvailable)?;
        let value = field_value(&body, path, field).map_err(|e| match e {
            CollectError::NotAvailable(m) => {
                CollectError::NotAvailable(format!("{}: {m}", crate::logging::redact_url(&full)))
            }
            other => other,
        })?;
        let value = walk_sub_path(value, sub_path, path)?;
        match value {
            Value::Object(m) => final_content.extend(m),
            other => {
                return Err(CollectError::NotAvailable(format!(
                    "Path {path} is not a JSON object but {}.",
                    kind(&other)
                )))
            }
        }
    }
    Ok(crate::merge::merged_list_from_content(
        Value::Object(final_content),
        &cfn.deployment_key,
        "cfn",
    ))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// `DescribeStackResourceResult/StackResourceDetail/<field>` of the response, parsed as JSON.
/// Every malformed shape is NotAvailable (W-C1: the reference crashes on most of them).
pub fn field_value(body: &[u8], path: &str, field: &str) -> Result<Value, CollectError> {
    let na = |m: String| CollectError::NotAvailable(m);
    let text = std::str::from_utf8(body)
        .map_err(|e| na(format!("Path {path}: response is not UTF-8 text ({e})")))?;
    if let Some(at) = too_deep(text, MAX_XML_DEPTH) {
        return Err(na(format!(
            "Path {path}: response is not valid XML (elements nested deeper than {MAX_XML_DEPTH} at byte {at})"
        )));
    }
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| na(format!("Path {path}: response is not valid XML ({e})")))?;
    let detail = child(doc.root_element(), "DescribeStackResourceResult")
        .and_then(|r| child(r, "StackResourceDetail"))
        .ok_or_else(|| {
            na(format!(
                "Path {path}: no DescribeStackResourceResult/StackResourceDetail in the response."
            ))
        })?;
    let element = child(detail, field).ok_or_else(|| na(format!("Path {path} does not exist.")))?;
    let text: String = element
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    if text.trim().is_empty() {
        return Err(na(format!("Path {path} is empty.")));
    }
    crate::pyjson::parse_value(&text)
        .map_err(|e| na(format!("Path {path} failed to parse as json. ({e})")))
}

/// The deepest element nesting accepted: libxml2's default, which the reference's lxml
/// enforces too. The XML parser recurses once per level, so without a bound a small reply
/// nested 30,000 deep overflows the stack.
pub const MAX_XML_DEPTH: usize = 256;

/// The byte offset where `text` first nests elements deeper than `limit`, if it does.
/// A scan without recursion over what roxmltree accepts (no DTD): comments, CDATA and
/// processing instructions are skipped; quoted attribute values may hold `>` and `/`.
/// Anything else that starts with `<!` ends the scan: the parser refuses it right there.
pub fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let b = text.as_bytes();
    let find = |from: usize, pat: &[u8]| -> usize {
        b[from.min(b.len())..]
            .windows(pat.len())
            .position(|w| w == pat)
            .map_or(b.len(), |p| from + p + pat.len())
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i = b[i..]
                .iter()
                .position(|&c| c == b'<')
                .map_or(b.len(), |p| i + p);
            continue;
        }
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            i = find(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = find(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = find(i + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            return None;
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            i = find(i + 2, b">");
        } else {
            let start = i;
            let mut quote = None;
            let mut j = i + 1;
            let mut empty = false;
            while j < b.len() {
                match (quote, b[j]) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, c @ (b'"' | b'\'')) => quote = Some(c),
                    (None, b'>') => {
                        empty = b[j - 1] == b'/';
                        break;
                    }
                    _ => {}
                }
                j += 1;
            }
            depth += 1;
            if depth > limit {
                return Some(start);
            }
            if empty {
                depth -= 1;
            }
            i = j + 1;
        }
    }
    None
}

fn walk_sub_path(
    mut value: Value,
    sub_path: Option<&str>,
    path: &str,
) -> Result<Value, CollectError> {
    if let Some(sub) = sub_path {
        for key in sub.split('.') {
            value = match value {
                Value::Object(mut m) if m.contains_key(key) => m.remove(key).unwrap_or(Value::Null),
                _ => {
                    let msg = format!("Sub-key {key} does not exist. ({path})");
                    return Err(CollectError::NotAvailable(msg));
                }
            };
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signature_vector_heat_tests() {
        let params = [
            ("Action", "DescribeStackResource"),
            ("StackName", "foo"),
            ("LogicalResourceId", "foo"),
            ("AWSAccessKeyId", "0123456789ABCDEF"),
            ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256"),
        ];
        assert_eq!(
            string_to_sign("192.0.2.1:8000", "/v1/", &params),
            "GET\n192.0.2.1:8000\n/v1/\nAWSAccessKeyId=0123456789ABCDEF&Action=DescribeStackResource&LogicalResourceId=foo&SignatureMethod=HmacSHA256&SignatureVersion=2&StackName=foo"
        );
        assert_eq!(
            sign_v2("FEDCBA9876543210", "192.0.2.1:8000", "/v1/", &params),
            "nQy/OJs22LTGH+NjGlgWVvXBCTv+mBCbw6+FXjrnZ2w="
        );
    }

    #[test]
    fn signature_vector_special_characters() {
        let params = [
            ("Action", "DescribeStackResource"),
            ("StackName", "my.stack"),
            ("LogicalResourceId", "MyRes"),
            ("AWSAccessKeyId", "AKID123"),
            ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256"),
        ];
        assert_eq!(
            sign_v2("SECRET/+=", "127.0.0.1:29871", "/v1/", &params),
            "Wts5Q5rceCKj6HHFIrciOsxNC2dJHAFc6KyHeFTn45A="
        );
    }

    /// The exact request the Python agent sent to real heat-api-cfn (captures/cfn-cfn).
    #[test]
    fn signed_url_matches_real_heat_capture() {
        let params = [
            ("Action", "DescribeStackResource"),
            ("StackName", "cfn-cfn"),
            ("LogicalResourceId", "server"),
            ("AWSAccessKeyId", "0c2c34a783dc498fbd162b0df22d5054"),
            ("SignatureVersion", "2"),
            ("SignatureMethod", "HmacSHA256"),
        ];
        let url = signed_url(
            "http://127.0.0.1:8000/v1/",
            "d5Iq^VEFAGKE&ooNRjRi8Bd!od%z2wz^",
            &params,
        );
        assert_eq!(
            url,
            "http://127.0.0.1:8000/v1/?Action=DescribeStackResource&StackName=cfn-cfn&LogicalResourceId=server&AWSAccessKeyId=0c2c34a783dc498fbd162b0df22d5054&SignatureVersion=2&SignatureMethod=HmacSHA256&Signature=WPOM5Lp2B%2B8I1Hjx0Qad4KoC2mzeMO0LanqfP1BftAs%3D"
        );
    }

    #[test]
    fn split_url_keeps_port_and_path() {
        assert_eq!(
            split_url("https://h:8000/v1/?x=1"),
            ("h:8000".into(), "/v1/".into(), Some("x=1".into()))
        );
        assert_eq!(split_url("http://h"), ("h".into(), "".into(), None));
    }

    fn xml(inner: &str) -> Vec<u8> {
        format!("<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail>{inner}</StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>").into_bytes()
    }

    fn na(r: Result<Value, CollectError>) -> String {
        match r {
            Err(CollectError::NotAvailable(m)) => m,
            other => panic!("expected NotAvailable, got {other:?}"),
        }
    }

    #[test]
    fn wc1_malformed_responses_are_not_available() {
        assert_eq!(
            field_value(
                &xml("<Metadata>{\"a\": 1}</Metadata>"),
                "r.Metadata",
                "Metadata"
            )
            .unwrap(),
            json!({"a": 1})
        );
        assert!(na(field_value(&xml(""), "r.Metadata", "Metadata"))
            .contains("Path r.Metadata does not exist"));
        assert!(
            na(field_value(&xml("<Metadata/>"), "r.Metadata", "Metadata")).contains("is empty")
        );
        assert!(na(field_value(b"<a><b/></a>", "r.M", "M")).contains("StackResourceDetail"));
        assert!(na(field_value(b"not xml at all", "r.M", "M")).contains("not valid XML"));
        assert!(na(field_value(b"\xff\xfe", "r.M", "M")).contains("UTF-8"));
        assert!(na(field_value(
            &xml("<Metadata>{</Metadata>"),
            "r.Metadata",
            "Metadata"
        ))
        .contains("Path r.Metadata failed to parse as json."));
        let bomb = "<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><x>&b;</x>";
        assert!(na(field_value(bomb.as_bytes(), "r.M", "M")).contains("not valid XML"));
    }

    #[test]
    fn sub_path_through_non_map_is_not_available() {
        let v = json!({"a": [1], "m": {"x": {"y": 1}}});
        assert_eq!(
            walk_sub_path(v.clone(), Some("m.x"), "p").unwrap(),
            json!({"y": 1})
        );
        let e = walk_sub_path(v.clone(), Some("a.b"), "p").unwrap_err();
        assert_eq!(
            e,
            CollectError::NotAvailable("Sub-key b does not exist. (p)".into())
        );
        let e = walk_sub_path(v, Some("nope"), "p").unwrap_err();
        assert_eq!(e.message(), "Sub-key nope does not exist. (p)");
    }

    fn nested(n: usize) -> String {
        format!("<R>{}{}</R>", "<a>".repeat(n), "</a>".repeat(n))
    }

    #[test]
    fn depth_bound_is_libxml2s() {
        // lxml accepts 256 nested elements and refuses 257 ("Excessive depth in document")
        assert_eq!(too_deep(&nested(255), 256), None);
        assert_eq!(too_deep(&nested(256), 256), Some(3 + 255 * 3));
        assert!(too_deep(&nested(30_000), 256).is_some());
        // empty elements, comments, CDATA, PIs and quoted '>' and '/' do not nest
        let flat = format!(
            "<?xml version=\"1.0\"?><R>{}</R>",
            "<a x='/>' y=\"<\"/><!-- <b> --><![CDATA[<c>]]><?p <d>?>".repeat(1000)
        );
        assert_eq!(too_deep(&flat, 2), None);
        assert_eq!(too_deep("<R><a/><b></b><c><d/></c></R>", 3), None);
        assert_eq!(too_deep("<R><a/><b></b><c><d/></c></R>", 2), Some(17));
        // unterminated constructs end the scan without a panic
        for t in [
            "<",
            "<a",
            "<a x='",
            "<!--",
            "<![CDATA[",
            "<?",
            "</",
            "<!DOCTYPE",
        ] {
            let _ = too_deep(t, 1);
        }
    }

    #[test]
    fn deeply_nested_reply_is_not_available_not_a_crash() {
        let e = field_value(nested(30_000).as_bytes(), "srv.Metadata", "Metadata").unwrap_err();
        assert_eq!(
            e.message(),
            "Path srv.Metadata: response is not valid XML (elements nested deeper than 256 at byte 768)"
        );
        // the deepest nesting the reference accepts still parses (and lacks the result element)
        let e = field_value(nested(255).as_bytes(), "srv.Metadata", "Metadata").unwrap_err();
        assert!(
            e.message().contains("StackResourceDetail"),
            "{}",
            e.message()
        );
    }
}
