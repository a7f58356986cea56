//! `request`: the whole metadata as one JSON document at a URL
//! (Heat's Swift temp URL). Deviation on purpose: one conditional `GET` (`If-None-Match` /
//! `If-Modified-Since` from the previous answer) instead of the reference's `HEAD` + `GET`;
//! a `304 Not Modified` serves the document parsed last time.

use super::{setting, CollectError, Collector, Context, Entries, Polled};
use crate::cache::Cache;
use crate::config::Settings;
use std::path::PathBuf;

/// The `request` collector and the HTTP validators of the last document it fetched.
#[derive(Debug, Default)]
pub struct Request {
    etag: Option<String>,
    last_modified: Option<String>,
    /// The last document fetched, as received (a JSON object; parsed again only when a 304
    /// Not Modified needs it served). Kept as bytes: moving the body in costs nothing, a deep
    /// copy of the parsed document would cost every changed poll.
    body: Option<Vec<u8>>,
    /// Where the document the validators confirm can be read when a `304` needs it (the
    /// cache's `request.json` at start-up): read lazily, so a changed document costs no
    /// parse of the old one.
    body_file: Option<PathBuf>,
    /// The URL the fields above belong to (a new URL starts afresh).
    url: Option<String>,
}

/// The validators, kept in the cache so that even a `--one-time` run asks with
/// `If-None-Match`/`If-Modified-Since` and reuses the cached document on `304`.
#[derive(serde::Serialize, serde::Deserialize, PartialEq, Default)]
struct Validators {
    url: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    fn path(cache: &Cache) -> PathBuf {
        cache
            .dir()
            .join(format!("{}.json", crate::cache::REQUEST_STEM))
    }

    fn load(cache: &Cache) -> Option<Validators> {
        std::fs::read_to_string(Self::path(cache))
            .ok()
            .and_then(|t| crate::pyjson::from_str::<Validators>(&t).ok())
    }
}

impl Collector for Request {
    fn collect(&mut self, ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
        match self.poll(ctx, false)? {
            Polled::Fresh(entries) => Ok(entries),
            Polled::Unchanged => Ok(self.unchanged_entries(ctx)),
        }
    }

    /// One conditional `GET`. `have_previous`: the caller still holds the entries of the last
    /// document, so a `304` is answered with [`Polled::Unchanged`] (nothing parsed, copied or
    /// compared); otherwise the cached document is served again.
    fn poll(&mut self, ctx: &mut Context<'_>, have_previous: bool) -> Result<Polled, CollectError> {
        let Some(url) = setting(&ctx.settings.request.metadata_url) else {
            return Err(CollectError::NotConfigured(
                "No metadata_url configured.".into(),
            ));
        };
        let url = url.to_string();
        ctx.polled_url = Some(url.clone());
        let state = self;
        if state.url.as_deref() != Some(url.as_str()) {
            state.url = Some(url.clone());
            state.etag = None;
            state.last_modified = None;
            state.body = None;
            state.body_file = None;
        }
        let timeout = super::secs(ctx.settings.request.timeout, 10.0);
        let agent = super::agent(&super::http_settings(ctx.settings, timeout, None, true))?;
        let conditional = state.body.is_some() || state.body_file.is_some();
        let mut resp = fetch(&agent, &url, state, conditional)?;
        // the cached document read for this 304, already parsed
        let mut confirmed: Option<serde_json::Value> = None;
        if resp.status().as_u16() == 304 {
            if let Some(file) = state.body_file.take() {
                if let Some((bytes, doc)) = read_document(&file) {
                    state.body = Some(bytes);
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
            if state.body.is_none() {
                return Err(CollectError::NotAvailable(format!(
                    "{}: 304 Not Modified without a previous document",
                    crate::logging::redact_url(&url)
                )));
            }
            log::debug!("{}: not modified", crate::logging::redact_url(&url));
            if have_previous {
                return Ok(Polled::Unchanged);
            }
            let doc = confirmed.or_else(|| state.body.as_deref().and_then(parse_object));
            return Ok(Polled::Fresh(entries_of(doc, ctx.settings)));
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
        state.etag = super::header(&resp, "ETag");
        state.last_modified = usable_last_modified(
            super::header(&resp, "Last-Modified").as_deref(),
            super::header(&resp, "Date").as_deref(),
        );
        // Keep the document only when a validator can ever confirm it (a 304 needs one).
        state.body_file = None;
        let keep = state.etag.is_some() || state.last_modified.is_some();
        state.body = keep.then_some(body);
        Ok(Polled::Fresh(crate::merge::merged_list_from_content(
            value,
            &ctx.settings.deployment_key,
            "request",
        )))
    }

    /// The entries of the document kept from the last fetch (empty when there is none).
    fn unchanged_entries(&self, ctx: &Context<'_>) -> Entries {
        entries_of(self.body.as_deref().and_then(parse_object), ctx.settings)
    }

    /// Restore the validators, with the document they validate (`request.json`, read only if
    /// a `304` needs it).
    fn restore(&mut self, cache: &Cache) {
        let Some(v) = Validators::load(cache) else {
            return;
        };
        if v.etag.is_none() && v.last_modified.is_none() {
            return; // nothing can confirm the cached document
        }
        let doc = cache.path("request");
        if !doc.is_file() {
            return;
        }
        self.url = v.url;
        self.etag = v.etag;
        self.last_modified = v.last_modified;
        self.body_file = Some(doc);
    }

    /// The validators file's new content, when it differs from what is on disk.
    fn bookkeeping(&self, cache: &Cache) -> Option<(PathBuf, Vec<u8>)> {
        let now = Validators {
            url: self.url.clone(),
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        };
        let on_disk = Validators::load(cache);
        if on_disk.as_ref() == Some(&now) || (on_disk.is_none() && now == Validators::default()) {
            return None;
        }
        let text = serde_json::to_string(&now).unwrap_or_else(|_| "{}".into());
        Some((Validators::path(cache), text.into_bytes()))
    }
}

/// `GET url`, with the validators in `state` when `conditional`.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    state: &Request,
    conditional: bool,
) -> Result<ureq::http::Response<ureq::Body>, CollectError> {
    let mut req = agent.get(url);
    if conditional {
        if let Some(etag) = &state.etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(lm) = &state.last_modified {
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

fn entries_of(doc: Option<serde_json::Value>, settings: &Settings) -> Entries {
    match doc {
        Some(doc) => {
            crate::merge::merged_list_from_content(doc, &settings.deployment_key, "request")
        }
        None => Entries::new(),
    }
}

/// A `Last-Modified` is only safe for `If-Modified-Since` when the server's `Date` is at least
/// one second later (RFC 7232 section 2.2.2): with one-second resolution, a document changed again
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
