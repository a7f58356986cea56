//! `request` (spec os-config-tools §1.12.5): the whole metadata as one JSON document at a URL
//! (Heat's Swift temp URL). Deviation on purpose: one conditional `GET` (`If-None-Match` /
//! `If-Modified-Since` from the previous answer) instead of the reference's `HEAD` + `GET`;
//! a `304 Not Modified` serves the document parsed last time.

use super::{setting, CollectError, Context, Entries, Polled};

pub fn collect(ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
    match poll(ctx, false)? {
        Polled::Fresh(entries) => Ok(entries),
        Polled::Unchanged => Ok(last_entries(ctx)),
    }
}

/// One conditional `GET`. `have_previous`: the caller still holds the entries of the last
/// document, so a `304` is answered with [`Polled::Unchanged`] (nothing parsed, copied or
/// compared); otherwise the cached document is served again.
pub fn poll(ctx: &mut Context<'_>, have_previous: bool) -> Result<Polled, CollectError> {
    let Some(url) = setting(&ctx.settings.request.metadata_url) else {
        return Err(CollectError::NotConfigured(
            "No metadata_url configured.".into(),
        ));
    };
    let url = url.to_string();
    let state = &mut *ctx.state;
    if state.request_url.as_deref() != Some(url.as_str()) {
        state.request_url = Some(url.clone());
        state.request_etag = None;
        state.request_last_modified = None;
        state.request_body = None;
        state.request_body_file = None;
    }
    let timeout = super::secs(ctx.settings.request.timeout, 10.0);
    let agent = super::agent(&super::http_settings(ctx.settings, timeout, None, true))?;
    let conditional = state.request_body.is_some() || state.request_body_file.is_some();
    let mut resp = fetch(&agent, &url, state, conditional)?;
    // the cached document read for this 304, already parsed
    let mut confirmed: Option<serde_json::Value> = None;
    if resp.status().as_u16() == 304 {
        if let Some(file) = state.request_body_file.take() {
            if let Some((bytes, doc)) = read_document(&file) {
                state.request_body = Some(bytes);
                confirmed = Some(doc);
            } else {
                // the cached copy is gone or damaged: the validators confirm nothing
                log::warn!(
                    "{}: unreadable; fetching the document again",
                    file.display()
                );
                resp = fetch(&agent, &url, state, false)?;
            }
        }
    }
    let status = resp.status().as_u16();
    if status == 304 {
        if state.request_body.is_none() {
            return Err(CollectError::NotAvailable(format!(
                "{}: 304 Not Modified without a previous document",
                crate::logging::redact_url(&url)
            )));
        }
        log::debug!("{}: not modified", crate::logging::redact_url(&url));
        if have_previous {
            return Ok(Polled::Unchanged);
        }
        let doc = confirmed.or_else(|| state.request_body.as_deref().and_then(parse_object));
        return Ok(Polled::Fresh(entries_of(doc, ctx)));
    }
    if status >= 400 {
        return Err(CollectError::NotAvailable(super::status_error(
            status, &url,
        )));
    }
    let body = super::read_body(&mut resp, &url).map_err(CollectError::NotAvailable)?;
    let value = super::parse_json(&body)
        .map_err(|e| CollectError::NotAvailable(format!("Failed to parse as json. ({e})")))?;
    if !value.is_object() {
        // W-C5: the reference crashes in dict.update
        return Err(CollectError::NotAvailable(format!(
            "{}: the document is not a JSON object",
            crate::logging::redact_url(&url)
        )));
    }
    state.request_etag = super::header(&resp, "ETag");
    state.request_last_modified = usable_last_modified(
        super::header(&resp, "Last-Modified").as_deref(),
        super::header(&resp, "Date").as_deref(),
    );
    // Keep the document only when a validator can ever confirm it (a 304 needs one).
    state.request_body_file = None;
    let keep = state.request_etag.is_some() || state.request_last_modified.is_some();
    state.request_body = keep.then_some(body);
    Ok(Polled::Fresh(crate::merge::merged_list_from_content(
        value,
        &ctx.settings.deployment_key,
        "request",
    )))
}

/// `GET url`, with the validators in `state` when `conditional`.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    state: &super::State,
    conditional: bool,
) -> Result<ureq::http::Response<ureq::Body>, CollectError> {
    let mut req = agent.get(url);
    if conditional {
        if let Some(etag) = &state.request_etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(lm) = &state.request_last_modified {
            req = req.header("If-Modified-Since", lm);
        }
    }
    req.call()
        .map_err(|e| CollectError::NotAvailable(super::transport_error(&e, url)))
}

/// A file's bytes and their parse, when they hold a JSON object (None when missing,
/// unreadable or not one).
fn read_document(path: &std::path::Path) -> Option<(Vec<u8>, serde_json::Value)> {
    let text = std::fs::read(path).ok()?;
    let doc = parse_object(&text)?;
    Some((text, doc))
}

fn parse_object(bytes: &[u8]) -> Option<serde_json::Value> {
    super::parse_json(bytes).ok().filter(|v| v.is_object())
}

/// The entries of the document kept from the last fetch (empty when there is none).
pub fn last_entries(ctx: &Context<'_>) -> Entries {
    entries_of(
        ctx.state.request_body.as_deref().and_then(parse_object),
        ctx,
    )
}

fn entries_of(doc: Option<serde_json::Value>, ctx: &Context<'_>) -> Entries {
    match doc {
        Some(doc) => {
            crate::merge::merged_list_from_content(doc, &ctx.settings.deployment_key, "request")
        }
        None => Entries::new(),
    }
}

/// A `Last-Modified` is only safe for `If-Modified-Since` when the server's `Date` is at least
/// one second later (RFC 7232 §2.2.2): with one-second resolution, a document changed again
/// within the same second it was fetched would otherwise look unchanged forever.
pub fn usable_last_modified(last_modified: Option<&str>, date: Option<&str>) -> Option<String> {
    let lm = last_modified?;
    let lm_t = httpdate::parse_http_date(lm).ok()?;
    let date_t = httpdate::parse_http_date(date?).ok()?;
    let old_enough = date_t
        .duration_since(lm_t)
        .is_ok_and(|d| d >= std::time::Duration::from_secs(1));
    old_enough.then(|| lm.to_string())
}

/// The reference's `check_fetch_content` decision, kept as a pure function (its tests are
/// ported): parse `Last-Modified` (`%a, %d %b %Y %H:%M:%S %Z`) and decide whether a document
/// newer than `previous` is there. `Ok(None)`: no header, fetch. `Err`: not newer.
pub fn check_fetch_content(
    last_modified: Option<&str>,
    previous: Option<u64>,
) -> Result<Option<u64>, String> {
    let Some(lm) = last_modified.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // W-C5: any other format crashed the reference; we treat it as "fetch"
    let Ok(t) = httpdate::parse_http_date(lm) else {
        return Ok(None);
    };
    let epoch = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let Some(prev) = previous.filter(|p| *p != 0) else {
        return Ok(Some(epoch));
    };
    if epoch < prev {
        log::warn!("Last-Modified is older than previous collection");
    }
    if epoch <= prev {
        return Err("not modified".into());
    }
    Ok(Some(epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_check_fetch_content() {
        let t = "Mon, 23 Nov 2026 03:00:00 GMT";
        let first = check_fetch_content(Some(t), None).unwrap().unwrap();
        assert_eq!(first, 1795402800);
        assert!(check_fetch_content(Some(t), Some(first)).is_err());
        let later =
            check_fetch_content(Some("Mon, 23 Nov 2026 03:00:01 GMT"), Some(first)).unwrap();
        assert_eq!(later, Some(first + 1));
        assert!(check_fetch_content(Some("Mon, 23 Nov 2026 02:59:59 GMT"), Some(first)).is_err());
        assert_eq!(check_fetch_content(None, Some(first)).unwrap(), None);
        assert_eq!(
            check_fetch_content(Some("Mon, 23 Nov 2026 03:00:00 +0000"), None).unwrap(),
            None
        );
    }
}

#[cfg(test)]
mod validator_tests {
    use super::usable_last_modified;

    #[test]
    fn last_modified_needs_a_date_one_second_later() {
        let lm = "Mon, 23 Nov 2026 03:00:00 GMT";
        assert_eq!(
            usable_last_modified(Some(lm), Some("Mon, 23 Nov 2026 03:00:01 GMT")).as_deref(),
            Some(lm)
        );
        // fetched within the same second it was modified: a change in that second would be missed
        assert_eq!(usable_last_modified(Some(lm), Some(lm)), None);
        // no Date to compare with, or garbage
        assert_eq!(usable_last_modified(Some(lm), None), None);
        assert_eq!(usable_last_modified(Some("yesterday"), Some(lm)), None);
        assert_eq!(usable_last_modified(None, Some(lm)), None);
    }
}
