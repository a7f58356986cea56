//! The one place HTTP clients are built: connect and total timeouts, TLS (rustls; verification
//! on unless explicitly disabled; an optional CA file), proxies from the environment
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), our user agent. Statuses >= 400 are
//! returned as responses, not errors, so callers can branch on them.

use std::path::PathBuf;
use std::time::Duration;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

pub const USER_AGENT: &str = concat!("heat-agent/", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Debug, PartialEq)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Whole-call limit: connect, send, headers and body together.
    pub timeout: Duration,
    /// Extra CA bundle (PEM) trusted instead of the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// `false` only where an operator (or the reference's zaqar default) asks for it.
    pub verify_tls: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            ca_file: None,
            verify_tls: true,
        }
    }
}

impl HttpSettings {
    pub fn with_timeout(mut self, total: Duration) -> Self {
        self.timeout = total;
        self.connect_timeout = self.connect_timeout.min(total);
        self
    }
}

/// Build an agent. Fails only when the CA file cannot be read or holds no certificate.
pub fn agent(s: &HttpSettings) -> Result<ureq::Agent, String> {
    let mut tls = TlsConfig::builder();
    if let Some(ca) = &s.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("CA file {}: {e}", ca.display()))?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!(
                "CA file {}: no PEM certificate found",
                ca.display()
            ));
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if !s.verify_tls {
        tls = tls.disable_verification(true);
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(s.connect_timeout))
        .timeout_global(Some(s.timeout))
        .proxy(ureq::Proxy::try_from_env())
        .user_agent(USER_AGENT)
        .tls_config(tls.build())
        .max_redirects(10)
        .build();
    Ok(ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        LiteralFirstResolver::default(),
    ))
}

/// ureq resolves the host before it looks in its connection pool, and with a timeout set each
/// lookup runs in a new thread: a poller paid a thread per request even on a kept-alive
/// connection. An IP literal (the usual metadata and Heat endpoints) needs no lookup at all;
/// names still go through ureq's resolver.
#[derive(Debug, Default)]
struct LiteralFirstResolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        match ip_literal(uri) {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URI whose host is an IP literal (`127.0.0.1`, `[::1]`).
fn ip_literal(uri: &ureq::http::Uri) -> Option<std::net::SocketAddr> {
    let host = uri.host()?;
    let ip: std::net::IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    let port = uri.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(std::net::SocketAddr::new(ip, port))
}

/// Agents kept for the life of the process, one per distinct settings: the TLS roots are parsed
/// once and keep-alive connections are reused from one poll to the next.
static SHARED: std::sync::Mutex<Vec<(HttpSettings, ureq::Agent)>> =
    std::sync::Mutex::new(Vec::new());

/// Like [`agent`], but the same agent (and its connection pool) is handed out again for the
/// same settings. For pollers; a reload re-executes the process, so settings changes are seen.
pub fn shared_agent(s: &HttpSettings) -> Result<ureq::Agent, String> {
    let mut cache = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, a)) = cache.iter().find(|(k, _)| k == s) {
        return Ok(a.clone());
    }
    let a = agent(s)?;
    if cache.len() >= 16 {
        cache.remove(0);
    }
    cache.push((s.clone(), a.clone()));
    Ok(a)
}

/// Whether a failed call is worth retrying: connection problems, timeouts, 408, 429, 5xx.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_need_no_lookup() {
        let addr = |u: &str| ip_literal(&u.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(
            addr("http://127.0.0.1:8000/x").as_deref(),
            Some("127.0.0.1:8000")
        );
        assert_eq!(addr("https://10.0.0.1/v1").as_deref(), Some("10.0.0.1:443"));
        assert_eq!(addr("http://[::1]/m").as_deref(), Some("[::1]:80"));
        assert_eq!(
            addr("http://169.254.169.254/latest/").as_deref(),
            Some("169.254.169.254:80")
        );
        assert_eq!(addr("http://heat.example:8004/"), None);
        assert_eq!(addr("http://localhost:5000/"), None);
    }
}
