//! Metadata sources. Each collector returns an ordered list of `(output key, JSON value)`
//! pairs, or says it is not configured / not available. What each collector keeps of the
//! reference and what it fixes:
//! (docs/compatibility.md, "os-collect-config: collectors and deployment explosion").
//!
//! Logging contract with the caller: collectors log their own non-fatal warnings (and the
//! warnings the reference prints before giving up, e.g. zaqar's missing settings); the
//! message carried by [`CollectError`] is the reason the caller logs (`NotAvailable` as a
//! warning followed by `Source [<name>] Unavailable.`, `NotConfigured` at info/debug).

use crate::cache::Cache;
use crate::config::Settings;
use crate::http::HttpSettings;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod config_drive;
pub mod cycle;

// the response helpers live with the one HTTP owner; re-exported for the collectors
pub(crate) use crate::http::quote::{quote, quote_plus};
pub use crate::http::response::MAX_BODY;
pub(crate) use crate::http::response::{
    header, parse_json, read_body, status_error, transport_error,
};

/// Why a collector produced nothing this cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectError {
    /// Logged at debug: `Source [<name>] Not configured.`
    NotConfigured(String),
    /// Logged as a warning: the message, then `Source [<name>] Unavailable.`
    NotAvailable(String),
}

impl CollectError {
    pub fn message(&self) -> &str {
        match self {
            CollectError::NotConfigured(m) | CollectError::NotAvailable(m) => m,
        }
    }
}

pub use crate::merge::Entries;

/// One metadata source. Each collector is a type in its own file, holding the state it keeps
/// between polls of one process (HTTP validators, a URL read once); the reference keeps none,
/// we keep it to be gentle on the control plane. Adding a collector: one file with a type
/// that implements this trait (and `Default`), one line in the `collectors!` list below, and
/// its options in `config`.
pub trait Collector: Send + std::fmt::Debug {
    /// One poll: the entries, or why there are none this cycle.
    fn collect(&mut self, ctx: &mut Context<'_>) -> Result<Entries, CollectError>;

    /// One poll that may answer [`Polled::Unchanged`] when the caller still holds what this
    /// collector returned last time (`have_previous`): an idle daemon then does no work per
    /// poll beyond the request itself.
    fn poll(&mut self, ctx: &mut Context<'_>, have_previous: bool) -> Result<Polled, CollectError> {
        let _ = have_previous;
        self.collect(ctx).map(Polled::Fresh)
    }

    /// The entries behind a [`Polled::Unchanged`], rebuilt from the collector's state.
    fn unchanged_entries(&self, _ctx: &Context<'_>) -> Entries {
        Entries::new()
    }

    /// Restore state kept in the cache by an earlier process (see [`Collector::bookkeeping`]).
    fn restore(&mut self, _cache: &Cache) {}

    /// A file of this collector's own to store with the cycle (path, contents), when its
    /// content differs from what is on disk: the cache writes it with the cycle's entries.
    fn bookkeeping(&self, _cache: &Cache) -> Option<(PathBuf, Vec<u8>)> {
        None
    }
}

/// The one list of collectors: `"name" => module::Type` declares `pub mod module;` (the file
/// `src/collectors/module.rs`), makes the name valid in `collectors =` ([`NAMES`], the list
/// the "Unknown collectors" message gives), and registers a `Type::default()` per process.
macro_rules! collectors {
    ($($name:literal => $module:ident::$ty:ident,)+) => {
        $(pub mod $module;)+

        /// Every valid collector name (the reference's `COLLECTORS` registry), in the order the
        /// reference's message lists them. Valid is not default: `config::DEFAULT_COLLECTORS`
        /// are the ones polled when `collectors` is not set.
        pub const NAMES: &[&str] = &[$($name),+];

        /// A fresh instance of every collector, by name.
        fn registry() -> Vec<(&'static str, Box<dyn Collector>)> {
            vec![$(($name, Box::<$module::$ty>::default() as Box<dyn Collector>)),+]
        }
    };
}

collectors! {
    "heat_local" => heat_local::HeatLocal,
    "ec2" => ec2::Ec2,
    "cfn" => cfn::Cfn,
    "heat" => heat::Heat,
    "request" => request::Request,
    "local" => local::Local,
    "zaqar" => zaqar::Zaqar,
}

/// The collectors of one process with their state, and what they share: Keystone tokens (heat
/// and zaqar may use the same credentials; one token serves both).
#[derive(Debug)]
pub struct State {
    tokens: crate::http::keystone::TokenCache,
    collectors: Vec<(&'static str, Box<dyn Collector>)>,
    /// Collectors already warned about as listed but not configured (once per process, so
    /// an idle daemon stays quiet).
    warned_not_configured: Vec<String>,
    /// Origins (`scheme://host:port`) of the polls that succeeded since [`State::take_answered`].
    answered: Vec<String>,
}

impl Default for State {
    fn default() -> State {
        State {
            tokens: Default::default(),
            collectors: registry(),
            warned_not_configured: Vec::new(),
            answered: Vec::new(),
        }
    }
}

impl State {
    /// True the first time collector `name` is found not configured although the operator
    /// listed it: `collectors` was set to something other than the default list, whose
    /// unconfigured members are expected (docs/compatibility.md, warnings).
    pub(crate) fn first_unconfigured_listing(&mut self, name: &str, settings: &Settings) -> bool {
        let listed = settings
            .collectors
            .iter()
            .map(String::as_str)
            .ne(crate::config::DEFAULT_COLLECTORS.iter().copied());
        if !listed || self.warned_not_configured.iter().any(|n| n == name) {
            return false;
        }
        self.warned_not_configured.push(name.to_string());
        true
    }

    /// Run collector `name` with `f`; unknown names are rejected earlier, at option
    /// validation, and here count as not configured. Also returns the URL the collector
    /// says it fetched from ([`Context::polled_url`]).
    fn with<T>(
        &mut self,
        name: &str,
        settings: &Settings,
        cachedir: &Path,
        f: impl FnOnce(&mut dyn Collector, &mut Context<'_>) -> Result<T, CollectError>,
    ) -> (Result<T, CollectError>, Option<String>) {
        let State {
            tokens, collectors, ..
        } = self;
        let Some((_, collector)) = collectors.iter_mut().find(|(n, _)| *n == name) else {
            let unknown = CollectError::NotConfigured(format!("Unknown collector {name}"));
            return (Err(unknown), None);
        };
        let mut ctx = Context {
            settings,
            cachedir,
            tokens,
            polled_url: None,
        };
        let result = f(collector.as_mut(), &mut ctx);
        (result, ctx.polled_url)
    }

    /// One poll of collector `name` (see [`Collector::poll`]). When it succeeds, the origin of
    /// the URL it fetched from is noted ([`State::take_answered`]).
    pub fn poll(
        &mut self,
        name: &str,
        settings: &Settings,
        cachedir: &Path,
        have_previous: bool,
    ) -> Result<Polled, CollectError> {
        let (result, url) = self.with(name, settings, cachedir, |c, ctx| {
            c.poll(ctx, have_previous)
        });
        if let Some(origin) = url
            .filter(|_| result.is_ok())
            .as_deref()
            .and_then(crate::http::origin_of)
        {
            if !self.answered.contains(&origin) {
                self.answered.push(origin);
            }
        }
        result
    }

    /// The origins (`scheme://host:port`) that successful polls fetched from since the last
    /// call: the servers known to answer again, for the signal outbox.
    pub fn take_answered(&mut self) -> Vec<String> {
        std::mem::take(&mut self.answered)
    }

    /// One poll of collector `name`, always with its entries.
    pub fn collect(
        &mut self,
        name: &str,
        settings: &Settings,
        cachedir: &Path,
    ) -> Result<Entries, CollectError> {
        self.with(name, settings, cachedir, |c, ctx| c.collect(ctx))
            .0
    }

    /// The entries behind collector `name`'s last [`Polled::Unchanged`].
    pub fn unchanged_entries(
        &mut self,
        name: &str,
        settings: &Settings,
        cachedir: &Path,
    ) -> Entries {
        self.with(name, settings, cachedir, |c, ctx| {
            Ok(c.unchanged_entries(ctx))
        })
        .0
        .unwrap_or_default()
    }

    /// Every collector restores what it kept in the cache.
    pub fn restore(&mut self, cache: &Cache) {
        for (_, c) in &mut self.collectors {
            c.restore(cache);
        }
    }

    /// The collectors' own files to store with this cycle.
    pub fn bookkeeping(&self, cache: &Cache) -> Vec<(PathBuf, Vec<u8>)> {
        self.collectors
            .iter()
            .filter_map(|(_, c)| c.bookkeeping(cache))
            .collect()
    }
}

pub struct Context<'a> {
    pub settings: &'a Settings,
    /// The cache directory (ec2 reads its own `ec2.json` from it).
    pub cachedir: &'a Path,
    /// Keystone tokens by [`crate::http::keystone::token_key`] (auth_url, user_id, project_id,
    /// password digest).
    pub tokens: &'a mut crate::http::keystone::TokenCache,
    /// The URL the poll fetched its metadata from, set by the collectors that poll the APIs
    /// signals go to (heat, cfn, request, zaqar). After a successful poll its origin is known
    /// to answer again, and signals whose last attempt failed there are sent at once.
    pub polled_url: Option<String>,
}

/// What one poll of a collector found.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    Fresh(Entries),
    /// The source confirmed (e.g. HTTP 304) that nothing changed since the entries this process
    /// collected from it last time: the caller reuses those without copying or comparing them.
    Unchanged,
}

/// A string option that counts as set: `None`, empty and blank values are "not configured"
/// (Heat nulls stale sections; rendered templates turn those into empty values).
pub(crate) fn setting(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// The name of the first option in `options` that is not set (callers list them in the
/// order the reference checks them, so the message names the same one).
pub(crate) fn first_unset<'n>(options: &[(&'n str, &Option<String>)]) -> Option<&'n str> {
    options
        .iter()
        .find(|(_, v)| setting(v).is_none())
        .map(|(name, _)| *name)
}

/// Keystone credentials from a collector section (its options already checked set).
pub(crate) fn keystone_credentials<'a>(
    auth_url: &'a Option<String>,
    user_id: &'a Option<String>,
    password: &'a Option<String>,
    project_id: &'a Option<String>,
) -> crate::http::keystone::Credentials<'a> {
    crate::http::keystone::Credentials {
        auth_url: setting(auth_url).unwrap_or_default(),
        user_id: setting(user_id).unwrap_or_default(),
        password: setting(password).unwrap_or_default(),
        project_id: setting(project_id).unwrap_or_default(),
    }
}

/// What a service call made with a Keystone token gave.
pub(crate) enum Outcome<T> {
    Done(T),
    /// 401: the token was refused (drop it and try once more with a fresh one).
    Unauthorized(String),
}

/// What a service's status means for a call made with a token: 401 is `Unauthorized` (the
/// token was refused), any other status >= 400 an error, the rest `None` (go on).
pub(crate) fn refusal<T>(status: u16, url: &str) -> Result<Option<Outcome<T>>, String> {
    match status {
        401 => Ok(Some(Outcome::Unauthorized(status_error(status, url)))),
        s if s >= 400 => Err(status_error(s, url)),
        _ => Ok(None),
    }
}

/// Call a service with a Keystone token for `creds` (cached in `tokens`); when the service
/// refuses the token, it is dropped and the call made once more with a fresh one.
pub(crate) fn with_token<T>(
    tokens: &mut crate::http::keystone::TokenCache,
    agent: &ureq::Agent,
    creds: &crate::http::keystone::Credentials<'_>,
    ttl: Duration,
    mut call: impl FnMut(&crate::http::keystone::CachedToken) -> Result<Outcome<T>, CollectError>,
) -> Result<T, CollectError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let token = crate::http::keystone::token(tokens, agent, creds, ttl)
            .map_err(CollectError::NotAvailable)?;
        match call(&token)? {
            Outcome::Done(v) => return Ok(v),
            Outcome::Unauthorized(msg) => {
                crate::http::keystone::invalidate(tokens, creds);
                if attempt >= 2 {
                    return Err(CollectError::NotAvailable(msg));
                }
                log::info!("{msg}; authenticating again");
            }
        }
    }
}

/// Seconds from a float option; nonsense (negative, NaN, infinite, zero) falls back.
pub(crate) fn secs(value: f64, fallback: f64) -> Duration {
    if value.is_finite() && value > 0.0 {
        Duration::try_from_secs_f64(value).unwrap_or(Duration::from_secs_f64(fallback))
    } else {
        Duration::from_secs_f64(fallback)
    }
}

/// HTTP settings for one collector call: `timeout` is the whole-call limit.
pub(crate) fn http_settings(
    settings: &Settings,
    timeout: Duration,
    ca_file: Option<&Path>,
    verify_tls: bool,
) -> HttpSettings {
    HttpSettings {
        connect_timeout: secs(settings.http.connect_timeout, 10.0),
        timeout,
        ca_file: ca_file
            .map(Path::to_path_buf)
            .or_else(|| settings.http.ca_file.clone()),
        verify_tls,
    }
    .with_timeout(timeout)
}

pub(crate) fn agent(s: &HttpSettings) -> Result<ureq::Agent, CollectError> {
    crate::http::shared_agent(s).map_err(CollectError::NotAvailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collector_is_listed_once() {
        for (i, name) in NAMES.iter().enumerate() {
            assert!(!NAMES[..i].contains(name), "{name} listed twice");
        }
    }

    #[test]
    fn every_default_collector_is_valid() {
        for c in crate::config::DEFAULT_COLLECTORS {
            assert!(NAMES.contains(c), "{c}");
        }
    }

    #[test]
    fn an_unknown_collector_is_not_configured() {
        let settings = Settings::default();
        let err = State::default()
            .collect("nope", &settings, Path::new("/nonexistent"))
            .unwrap_err();
        assert_eq!(
            err,
            CollectError::NotConfigured("Unknown collector nope".into())
        );
    }

    #[test]
    fn blank_settings_are_unset() {
        assert_eq!(setting(&None), None);
        assert_eq!(setting(&Some("  ".into())), None);
        assert_eq!(setting(&Some("x".into())), Some("x"));
    }

    #[test]
    fn first_unset_names_the_first_missing_option() {
        let (set, blank) = (Some("x".to_string()), Some(" ".to_string()));
        assert_eq!(
            first_unset(&[("a", &set), ("b", &blank), ("c", &None)]),
            Some("b")
        );
        assert_eq!(first_unset(&[("a", &set)]), None);
    }

    #[test]
    fn secs_rejects_nonsense() {
        assert_eq!(secs(-1.0, 10.0), Duration::from_secs(10));
        assert_eq!(secs(f64::NAN, 2.0), Duration::from_secs(2));
        assert_eq!(secs(1.5, 10.0), Duration::from_millis(1500));
    }
}
