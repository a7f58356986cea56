//! `heat`: Keystone v3 token, orchestration endpoint from the
//! catalog, `GET .../stacks/<stack_id>/resources/<resource>/metadata`, deployments exploded.

use super::{setting, CollectError, Context, Entries, Outcome};
use crate::http::keystone;
use serde_json::Value;
use std::time::Duration;

pub fn collect(ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
    let h = &ctx.settings.heat;
    if let Some(name) = super::first_unset(&[
        ("auth_url", &h.auth_url),
        ("password", &h.password),
        ("project_id", &h.project_id),
        ("user_id", &h.user_id),
        ("stack_id", &h.stack_id),
        ("resource_name", &h.resource_name),
    ]) {
        return Err(CollectError::NotConfigured(format!(
            "No {name} configured."
        )));
    }
    let creds = super::keystone_credentials(&h.auth_url, &h.user_id, &h.password, &h.project_id);
    let unset = |v: &Option<String>| setting(v).unwrap_or_default().to_string();
    let stack_id = unset(&h.stack_id);
    let resource_name = unset(&h.resource_name);
    let region = setting(&h.region_name);
    let timeout = super::secs(ctx.settings.http.timeout, 60.0);
    let agent = super::agent(&super::http_settings(ctx.settings, timeout, None, true))?;
    let ttl = Duration::from_secs(ctx.settings.keystone.cache_ttl.max(0) as u64);

    let mut polled_url = None;
    let metadata = super::with_token(&mut *ctx.tokens, &agent, &creds, ttl, |token| {
        let endpoint =
            keystone::endpoint_for(&token.catalog, "orchestration", region).ok_or_else(|| {
                CollectError::NotAvailable(
                    "publicURL endpoint for orchestration service not found".into(),
                )
            })?;
        log::debug!("Fetching metadata from {endpoint}");
        let fetched = fetch_metadata(&agent, &endpoint, &token.token, &stack_id, &resource_name);
        polled_url = Some(endpoint);
        fetched.map_err(CollectError::NotAvailable)
    })?;
    ctx.polled_url = polled_url;
    Ok(crate::merge::merged_list_from_content(
        metadata,
        &ctx.settings.deployment_key,
        "heat",
    ))
}

fn get(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    follow: bool,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let headers = [
        ("X-Auth-Token", token),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
    ];
    if follow {
        // the token never follows a redirect to another host or port
        return crate::http::get_same_origin(agent, url, &headers);
    }
    let mut req = agent.get(url);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    req.config()
        .max_redirects(0)
        .build()
        .call()
        .map_err(|e| super::transport_error(&e, url))
}

/// The stack's `name/id` from heat's redirect for a bare stack name or id.
fn resolve_stack(
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    stack_id: &str,
) -> Result<Outcome<String>, String> {
    let url = format!("{base}/stacks/{}", super::quote(stack_id, "/"));
    let resp = get(agent, &url, token, false)?;
    let status = resp.status().as_u16();
    if let Some(refusal) = super::refusal(status, &url)? {
        return Ok(refusal);
    }
    let location = super::header(&resp, "Location")
        .ok_or_else(|| format!("{url}: no Location header in the answer ({status})"))?;
    match location.split_once("/stacks/") {
        Some((_, rest)) => Ok(Outcome::Done(rest.to_string())),
        None => Err(format!("{url}: unexpected Location {location}")),
    }
}

pub(crate) fn fetch_metadata(
    agent: &ureq::Agent,
    endpoint: &str,
    token: &str,
    stack_id: &str,
    resource_name: &str,
) -> Result<Outcome<Value>, String> {
    let base = endpoint.trim_end_matches('/');
    // heatclient looks a bare name/id up first; the redirect names the stack fully
    let stack_path = if stack_id.contains('/') {
        super::quote(stack_id, "/")
    } else {
        match resolve_stack(agent, base, token, stack_id)? {
            Outcome::Done(p) => p,
            Outcome::Unauthorized(m) => return Ok(Outcome::Unauthorized(m)),
        }
    };
    let url = format!(
        "{base}/stacks/{stack_path}/resources/{}/metadata",
        super::quote(resource_name, "/")
    );
    let mut resp = get(agent, &url, token, true)?;
    let status = resp.status().as_u16();
    if let Some(refusal) = super::refusal(status, &url)? {
        return Ok(refusal);
    }
    let body = super::read_body(&mut resp, &url)?;
    let doc = super::parse_json(&body).map_err(|e| format!("{url}: response is not JSON ({e})"))?;
    match doc {
        Value::Object(mut m) => match m.remove("metadata") {
            Some(v @ Value::Object(_)) => Ok(Outcome::Done(v)),
            // the reference fails in the explosion on these (TypeError → unavailable)
            Some(_) => Err(format!("{url}: metadata is not a JSON object")),
            None => Err(format!("{url}: no metadata in the response")),
        },
        _ => Err(format!("{url}: response is not a JSON object")),
    }
}

/// The `heat` collector: no state of its own.
#[derive(Debug, Default)]
pub struct Heat;

impl super::Collector for Heat {
    fn collect(
        &mut self,
        ctx: &mut super::Context<'_>,
    ) -> Result<super::Entries, super::CollectError> {
        collect(ctx)
    }
}
