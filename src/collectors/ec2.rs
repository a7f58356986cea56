//! `ec2`: the cached `ec2.json` first, then the config drive,
//! then a walk of the EC2 metadata tree over HTTP. Leaf values are kept as text.

use super::config_drive;
use super::{CollectError, Context, Entries};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Deepest directory nesting followed (the real tree is 4 levels deep).
pub const MAX_DEPTH: usize = 16;
/// Most documents fetched in one walk.
pub const MAX_REQUESTS: usize = 4096;
/// The whole walk may take this many times the per-request `timeout` (60 s by default; a
/// real tree of about a hundred documents takes well under a second).
pub const WALK_TIMEOUTS: u32 = 6;

pub fn collect(ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
    // 1. the cache (W-C3, copied: once collected, EC2 data is not fetched again)
    let cache_path = ctx.cachedir.join("ec2.json");
    if cache_path.exists() {
        match std::fs::read(&cache_path)
            .map_err(|e| e.to_string())
            .and_then(|b| super::parse_json(&b))
        {
            Ok(v) if crate::pyjson::truthy(&v) => return Ok(vec![("ec2".to_string(), v)]),
            Ok(_) => {}
            Err(e) => log::warn!("{}: {e}", cache_path.display()),
        }
    }
    // 2. the config drive
    let md = config_drive::get_metadata(&config_drive::Tools::from_env());
    if crate::pyjson::truthy(&md) {
        return Ok(vec![("ec2".to_string(), md)]);
    }
    // 3. the metadata service
    let s = ctx.settings;
    let timeout = super::secs(s.ec2.timeout, 10.0);
    let agent = super::agent(&super::http_settings(s, timeout, None, true))?;
    // W-C3: a trailing "/" in metadata_url would give "//"
    let root = format!("{}/", s.ec2.metadata_url.trim_end_matches('/'));
    let limit = timeout.saturating_mul(WALK_TIMEOUTS);
    let deadline = Instant::now() + limit;
    let mut walk = Walk {
        agent: &agent,
        requests: 0,
        bytes: 0,
        deadline,
        limit,
    };
    let value = crate::http::with_deadline(deadline, || walk.fetch(&root, 0))
        .map_err(CollectError::NotAvailable)?;
    Ok(vec![("ec2".to_string(), value)])
}

struct Walk<'a> {
    agent: &'a ureq::Agent,
    requests: usize,
    bytes: u64,
    /// When the whole walk must be over (every request is bounded by it too).
    deadline: Instant,
    limit: Duration,
}

impl Walk<'_> {
    fn get(&mut self, url: &str) -> Result<String, String> {
        self.requests += 1;
        if self.requests > MAX_REQUESTS {
            return Err(format!(
                "EC2 metadata tree larger than {MAX_REQUESTS} documents (at {url})"
            ));
        }
        // a call cut by the deadline may end a hair before it (timers round)
        let deadline = self.deadline;
        let deadline_reached = || Instant::now() + Duration::from_millis(50) >= deadline;
        let result = if deadline_reached() {
            Err(String::new())
        } else {
            self.get_one(url)
        };
        result.map_err(|e| {
            if deadline_reached() {
                format!(
                    "EC2 metadata walk took longer than {:.1} s (at {})",
                    self.limit.as_secs_f64(),
                    crate::logging::redact_url(url)
                )
            } else {
                e
            }
        })
    }

    fn get_one(&mut self, url: &str) -> Result<String, String> {
        let mut resp = self
            .agent
            .get(url)
            .call()
            .map_err(|e| super::transport_error(&e, url))?;
        let status = resp.status().as_u16();
        if status >= 400 {
            return Err(super::status_error(status, url));
        }
        let body = super::read_body(&mut resp, url)?;
        self.bytes += body.len() as u64;
        if self.bytes > super::MAX_BODY {
            return Err(format!(
                "EC2 metadata tree larger than {} MiB (at {url})",
                super::MAX_BODY >> 20
            ));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn fetch(&mut self, url: &str, depth: usize) -> Result<Value, String> {
        let content = self.get(url)?;
        if !url.ends_with('/') {
            return Ok(Value::String(content));
        }
        if depth >= MAX_DEPTH {
            return Err(format!(
                "EC2 metadata tree deeper than {MAX_DEPTH} levels (at {url})"
            ));
        }
        let mut map = Map::new();
        for line in content.split('\n') {
            // W-C3: the reference crashes on an empty line (a trailing newline)
            if line.is_empty() {
                continue;
            }
            let sub = match line.split_once('=') {
                Some((before, _)) => format!("{before}/"),
                None => line.to_string(),
            };
            let child = format!("{url}{sub}");
            let key = sub.strip_suffix('/').unwrap_or(&sub).to_string();
            let value = self.fetch(&child, depth + 1)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// The `ec2` collector: no state of its own.
#[derive(Debug, Default)]
pub struct Ec2;

impl super::Collector for Ec2 {
    fn collect(
        &mut self,
        ctx: &mut super::Context<'_>,
    ) -> Result<super::Entries, super::CollectError> {
        collect(ctx)
    }
}
