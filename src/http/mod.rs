//! The one place HTTP clients are built: connect and total timeouts, TLS (rustls; verification
//! on unless explicitly disabled; an optional CA file), proxies from the environment
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), our user agent. Statuses >= 400 are
//! returned as responses, not errors, so callers can branch on them.
//!
//! Credentials never follow a redirect to another origin ([`call_same_origin`]).
//!
//! A caller can bound every call its thread makes with one deadline ([`with_deadline`]): the
//! poll loop caps a whole collection cycle that way, the EC2 walk its many requests. The
//! agents' connector clips each connect, write and read to the time left.

pub mod keystone;
pub mod quote;
pub mod response;
pub mod tls;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

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
        let certs: Vec<Certificate<'static>> = tls::ca_certificates(ca)?
            .iter()
            .map(|der| Certificate::from_der(der).to_owned())
            .collect();
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
        DeadlineConnector::default(),
        LiteralFirstResolver::default(),
    ))
}

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Run `f` with every HTTP call this thread makes bounded by `deadline` as well as by the
/// call's own timeouts (the earlier wins). Nested deadlines: the earliest holds.
pub fn with_deadline<T>(deadline: Instant, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let outer = DEADLINE.with(Cell::get);
    let _restore = Restore(outer);
    DEADLINE.with(|d| d.set(Some(outer.map_or(deadline, |o| o.min(deadline)))));
    f()
}

/// Time left before this thread's [`with_deadline`] deadline; `None` without one.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .with(Cell::get)
        .map(|d| d.saturating_duration_since(Instant::now()))
}

/// `timeout`, shortened to the time left before the thread's deadline; an error once it has
/// passed.
fn clip(mut timeout: NextTimeout) -> Result<NextTimeout, ureq::Error> {
    let Some(left) = remaining() else {
        return Ok(timeout);
    };
    if left.is_zero() {
        return Err(ureq::Error::Timeout(ureq::Timeout::Global));
    }
    let left = left.into();
    if left < timeout.after {
        timeout.after = left;
        timeout.reason = ureq::Timeout::Global;
    }
    Ok(timeout)
}

/// ureq's connector, with every connect, write and read clipped by [`clip`]. The transport
/// stays wrapped in the connection pool, so a kept-alive connection is bounded too.
#[derive(Debug, Default)]
struct DeadlineConnector(DefaultConnector);

impl Connector<()> for DeadlineConnector {
    type Out = DeadlineTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let clipped = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: clip(details.timeout)?,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        Ok(self.0.connect(&clipped, chained)?.map(DeadlineTransport))
    }
}

#[derive(Debug)]
struct DeadlineTransport(Box<dyn Transport>);

impl Transport for DeadlineTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }
    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, clip(timeout)?)
    }
    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(clip(timeout)?)
    }
    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }
    fn is_tls(&self) -> bool {
        self.0.is_tls()
    }
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
            None => self.0.resolve(uri, config, clip(timeout)?),
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

/// GET `url` with `headers`, following redirects (at most 10) only while they stay on the
/// same origin: [`call_same_origin`] for a GET.
pub fn get_same_origin(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<ureq::http::Response<ureq::Body>, String> {
    call_same_origin(agent, &ureq::http::Method::GET, url, headers)
}

/// A request without a body (`GET`, `DELETE`): [`send_same_origin`] with the error as text.
pub fn call_same_origin(
    agent: &ureq::Agent,
    method: &ureq::http::Method,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<ureq::http::Response<ureq::Body>, String> {
    send_same_origin(agent, method, url, headers, None).map_err(|e| e.to_string())
}

/// Why [`send_same_origin`] has no response.
#[derive(Debug)]
pub enum SameOriginError {
    /// The request failed on its way (connection, timeout, TLS): worth another attempt.
    Transport { url: String, error: ureq::Error },
    /// A redirect that is not followed: to another origin, a bad `Location`, too many.
    Redirect(String),
}

impl std::fmt::Display for SameOriginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SameOriginError::Transport { url, error } => write!(f, "{}: {error}", redact(url)),
            SameOriginError::Redirect(message) => f.write_str(message),
        }
    }
}

/// The one way a call that carries a credential (a token header, a signed URL) is made:
/// redirects (at most 10) are followed only while they stay on the same origin (scheme, host
/// and port). ureq would send every custom header along to wherever a `Location` points; a
/// cross-origin redirect is an error naming both places instead (the reference's requests
/// library would follow it). The method and `body` are kept on a redirect, except that a 303,
/// or a 301/302 answering a POST, asks for a GET without a body.
pub fn send_same_origin(
    agent: &ureq::Agent,
    method: &ureq::http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<ureq::http::Response<ureq::Body>, SameOriginError> {
    use ureq::http::Method;
    let mut current = url.to_string();
    let (mut method, mut body) = (method.clone(), body);
    for _ in 0..=10 {
        let resp = send_once(agent, &method, &current, headers, body).map_err(|error| {
            SameOriginError::Transport {
                url: current.clone(),
                error,
            }
        })?;
        let status = resp.status().as_u16();
        let location = resp.headers().get("Location").and_then(|v| v.to_str().ok());
        let (true, Some(location)) = (matches!(status, 301 | 302 | 303 | 307 | 308), location)
        else {
            return Ok(resp);
        };
        let next = resolve_location(&current, location).ok_or_else(|| {
            SameOriginError::Redirect(format!(
                "{}: bad redirect Location {location}",
                redact(&current)
            ))
        })?;
        if origin(&next) != origin(&current) {
            return Err(SameOriginError::Redirect(format!(
                "{}: redirected to another origin ({}); not following it with credentials",
                redact(&current),
                redact(&next)
            )));
        }
        if status == 303 || (matches!(status, 301 | 302) && method == Method::POST) {
            (method, body) = (Method::GET, None);
        }
        current = next;
    }
    Err(SameOriginError::Redirect(format!(
        "{}: too many redirects",
        redact(url)
    )))
}

/// One request of [`send_same_origin`], redirects not followed.
fn send_once(
    agent: &ureq::Agent,
    method: &ureq::http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let mut req = ureq::http::Request::builder()
        .method(method.clone())
        .uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(body.unwrap_or_default().to_vec())?;
    let req = agent.configure_request(req).max_redirects(0).build();
    if body.is_none() {
        // no body at all (not an empty one): what ureq's get()/delete() send
        let (parts, _) = req.into_parts();
        return agent.run(ureq::http::Request::from_parts(parts, ()));
    }
    agent.run(req)
}

fn redact(url: &str) -> String {
    crate::logging::redact_url(url)
}

/// `scheme://host:port` of an absolute URL (lower case, the port defaulted by scheme): what
/// [`send_same_origin`] compares, as text. Never the user info, path or query, where secrets
/// live.
pub fn origin_of(url: &str) -> Option<String> {
    origin(url).map(|(scheme, host, port)| format!("{scheme}://{host}:{port}"))
}

/// (scheme, host, port) of an absolute http(s) URL, the port defaulted by scheme.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some((scheme, host, port))
}

/// The absolute URL a `Location` names, relative to `base`.
fn resolve_location(base: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let uri: ureq::http::Uri = base.parse().ok()?;
    let prefix = format!("{}://{}", uri.scheme_str()?, uri.authority()?);
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{}://{rest}", uri.scheme_str()?));
    }
    if location.starts_with('/') {
        return Some(format!("{prefix}{location}"));
    }
    let dir = uri.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    Some(format!("{prefix}{dir}/{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts connections (the kernel's backlog) and never answers: the
    /// thread's deadline ends the call long before the call's own 30 s timeout.
    #[test]
    fn a_deadline_bounds_every_call_of_the_thread() {
        let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", black_hole.local_addr().unwrap());
        let agent = agent(&HttpSettings::default()).unwrap();
        assert_eq!(remaining(), None);
        let outer = Instant::now() + Duration::from_secs(3600);
        let err = with_deadline(outer, || {
            assert!(remaining().unwrap() > Duration::from_secs(3000));
            // nested: the earlier deadline holds, and the outer one comes back after
            let err = with_deadline(Instant::now() + Duration::from_millis(200), || {
                agent.get(&url).call().unwrap_err()
            });
            assert!(remaining().unwrap() > Duration::from_secs(3000));
            err
        });
        assert!(
            matches!(err, ureq::Error::Timeout(ureq::Timeout::Global)),
            "{err:?}"
        );
        assert_eq!(remaining(), None);
        // once the deadline has passed, a call fails at once
        let err = with_deadline(Instant::now(), || agent.get(&url).call().unwrap_err());
        assert!(matches!(err, ureq::Error::Timeout(_)), "{err:?}");
    }

    #[test]
    fn origins_and_locations() {
        use super::{origin, resolve_location};
        assert_eq!(origin("http://A:80/x"), origin("http://a/y"));
        assert_ne!(origin("http://a:8004/x"), origin("http://a:8005/x"));
        assert_ne!(origin("http://a/x"), origin("https://a/x"));
        assert_eq!(
            origin_of("HTTP://user:secret@Heat.example:8004/v1/p?sig=x").as_deref(),
            Some("http://heat.example:8004")
        );
        assert_eq!(
            origin_of("https://swift.example/v1/AUTH_x/c/o?temp_url_sig=s").as_deref(),
            Some("https://swift.example:443")
        );
        assert_eq!(origin_of("not a url"), None);
        let base = "http://h:1/v1/p/stacks/s";
        assert_eq!(resolve_location(base, "/v1/x").unwrap(), "http://h:1/v1/x");
        assert_eq!(
            resolve_location(base, "t").unwrap(),
            "http://h:1/v1/p/stacks/t"
        );
        assert_eq!(resolve_location(base, "//e:2/z").unwrap(), "http://e:2/z");
        assert_eq!(
            resolve_location(base, "https://e/z").unwrap(),
            "https://e/z"
        );
    }

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
