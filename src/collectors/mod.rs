//! Metadata sources. Each collector returns an ordered list of `(output key, JSON value)`
//! pairs (spec os-config-tools §1.4), or says it is not configured / not available.

use crate::config::Settings;
use serde_json::Value;
use std::path::Path;

/// Why a collector produced nothing this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectError {
    /// Logged at debug: `Source [<name>] Not configured.`
    NotConfigured(String),
    /// Logged as a warning: the message, then `Source [<name>] Unavailable.`
    NotAvailable(String),
}

pub type Entries = Vec<(String, Value)>;

/// State a collector keeps between polls of one process (ETags, Keystone tokens, ...).
/// The reference keeps none; we keep it to be gentle on the control plane.
#[derive(Debug, Default)]
pub struct State {
    pub request_etag: Option<String>,
    pub request_last_modified: Option<String>,
    /// The last document the `request` collector parsed (served again on 304 Not Modified).
    pub request_body: Option<Value>,
    pub tokens: std::collections::HashMap<String, CachedToken>,
}

#[derive(Debug, Clone)]
pub struct CachedToken {
    pub token: String,
    pub catalog: Value,
    pub expires_at: Option<std::time::SystemTime>,
}

pub struct Context<'a> {
    pub settings: &'a Settings,
    /// The cache directory (ec2 reads its own `ec2.json` from it).
    pub cachedir: &'a Path,
    pub state: &'a mut State,
}

/// Names the reference accepts, in its default order.
pub const NAMES: [&str; 7] = crate::config::DEFAULT_COLLECTORS;

/// Run collector `name`. Unknown names are rejected earlier, at option validation.
pub fn collect(name: &str, _ctx: &mut Context<'_>) -> Result<Entries, CollectError> {
    Err(CollectError::NotConfigured(format!(
        "collector {name} not built in yet"
    )))
}
