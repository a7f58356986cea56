//! Logging setup (log + env_logger) and secret masking.
//!
//! Every log line passes through [`mask`]: any value registered with [`register_secret`]
//! (passwords, secret keys, tokens, signal URLs) is replaced by `***`, and URL query
//! signatures are redacted. Under journald (stderr is the `JOURNAL_STREAM`) lines carry no timestamp
//! but a priority prefix (`<3>` for errors).

use log::LevelFilter;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

fn secrets() -> &'static Mutex<Vec<String>> {
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remember a secret so it is masked in every later log line. Short values (< 4 chars) are
/// ignored: masking them would mangle ordinary words.
pub fn register_secret(s: &str) {
    if s.len() < 4 {
        return;
    }
    let mut v = secrets().lock().unwrap_or_else(|e| e.into_inner());
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
        // longest first, so a secret containing another is masked whole
        v.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Query keys whose values are credentials.
const SECRET_QUERY_KEYS: &[&str] = &[
    "signature",
    "temp_url_sig",
    "x-amz-signature",
    "awsaccesskeyid",
    "password",
    "token",
    "sig",
];

/// A URL with credentials removed: query values of signature-like keys, and user:password@.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}=***")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// Mask registered secrets and URL signatures in a line of text.
pub fn mask(text: &str) -> String {
    let mut out = text.to_string();
    {
        let v = secrets().lock().unwrap_or_else(|e| e.into_inner());
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
    }
    if out.contains("://") && out.contains('?') {
        out = out
            .split(' ')
            .map(|w| {
                if w.contains("://") && w.contains('?') {
                    redact_url(w)
                } else {
                    w.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    out
}

/// Control characters (newline, carriage return, escape, ...) written as visible escapes, so
/// a name or id that holds them cannot start a forged log line or drive the terminal.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// What a log line may show of `text`: secrets masked, control characters escaped. Every
/// log formatter (this module's and the legacy os-refresh-config/os-apply-config ones) uses
/// it.
pub fn log_text(text: &str) -> String {
    escape_controls(&mask(text))
}

/// How lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `[time] LEVEL target: message` (no time under journald).
    Agent,
    /// The bare message (what os-collect-config effectively prints).
    Bare,
    /// `[time] (<name>) [LEVEL] message`, like os-refresh-config and 55-heat-config.
    Tagged(&'static str),
}

/// Parse a level name as the legacy tools spell it (`WARN`, `warning`, `DEBUG`, ...).
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.to_ascii_lowercase().as_str() {
        "critical" | "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        "off" => Some(LevelFilter::Off),
        _ => None,
    }
}

/// Is stderr the journal? systemd sets `JOURNAL_STREAM=<dev>:<inode>` for the stream it
/// connected; a child whose stderr was redirected (a hook's captured output) inherits the
/// variable but not the stream, so the variable alone is not enough.
pub fn under_journald() -> bool {
    static JOURNALD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *JOURNALD.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
            return false;
        };
        match std::fs::metadata("/proc/self/fd/2") {
            Ok(m) => dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino()),
            Err(_) => false,
        }
    })
}

/// The sd-daemon priority prefix journald reads from the start of a line (`<3>` = err), so
/// `journalctl -p` finds errors and warnings.
pub fn journal_priority(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "<3>",
        log::Level::Warn => "<4>",
        log::Level::Info => "<6>",
        log::Level::Debug | log::Level::Trace => "<7>",
    }
}

/// Open (creating 0600: log lines may name the paths of secrets) the `--log-file` for
/// appending.
pub fn open_log_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Install the logger. `RUST_LOG`, when set, overrides `level`.
pub fn init(level: LevelFilter, style: Style) {
    init_with_file(level, style, None)
}

/// [`init`], also appending every line to `file` (`--log-file`). The file gets the line format
/// stderr has outside journald, timestamps included even under journald; the bare style of
/// `os-collect-config` gets a timestamp and level there too (a log file without times is of
/// little use).
pub fn init_with_file(level: LevelFilter, style: Style, file: Option<std::fs::File>) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    // quiet chatty dependencies unless asked for
    b.filter_module("rustls", LevelFilter::Warn);
    b.filter_module("ureq", LevelFilter::Warn);
    b.filter_module("ureq_proto", LevelFilter::Warn);
    b.filter_module("tungstenite", LevelFilter::Warn);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    let journald = under_journald();
    let file = file.map(Mutex::new);
    b.format(move |buf, record| {
        let msg = log_text(&record.args().to_string());
        let level = record.level();
        if let Some(file) = &file {
            let stamp = buf.timestamp_millis();
            let line = match style {
                Style::Agent | Style::Bare => format!("[{stamp}] {level} {msg}\n"),
                Style::Tagged(name) => format!("[{stamp}] ({name}) [{level}] {msg}\n"),
            };
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            // one write per line: O_APPEND keeps concurrent writers' lines whole
            let _ = f.write_all(line.as_bytes());
        }
        match style {
            Style::Bare => writeln!(buf, "{msg}"),
            Style::Agent if journald => {
                writeln!(buf, "{}{level} {msg}", journal_priority(level))
            }
            Style::Agent => writeln!(buf, "[{}] {level} {msg}", buf.timestamp_millis()),
            Style::Tagged(name) if journald => {
                writeln!(buf, "{}({name}) [{level}] {msg}", journal_priority(level))
            }
            Style::Tagged(name) => {
                writeln!(buf, "[{}] ({name}) [{level}] {msg}", buf.timestamp_millis())
            }
        }
    });
    b.target(env_logger::Target::Stderr);
    let _ = b.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_signatures_and_userinfo() {
        assert_eq!(
            redact_url("http://h:8000/v1/signal/x?Timestamp=1&Signature=abc%3D&AWSAccessKeyId=K"),
            "http://h:8000/v1/signal/x?Timestamp=1&Signature=***&AWSAccessKeyId=***"
        );
        assert_eq!(
            redact_url("https://u:pw@swift/v1/o?temp_url_sig=deadbeef&temp_url_expires=1"),
            "https://***@swift/v1/o?temp_url_sig=***&temp_url_expires=1"
        );
        assert_eq!(redact_url("http://h/plain"), "http://h/plain");
    }

    #[test]
    fn masks_registered_secrets() {
        register_secret("s3cr3t-pass");
        register_secret("ab"); // too short to mask
        assert_eq!(mask("password=s3cr3t-pass ab"), "password=*** ab");
        assert_eq!(
            mask("POST http://h/x?Signature=zz done"),
            "POST http://h/x?Signature=*** done"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            log_text("a\nb\r\tc\u{1b}[31m\u{7f}\u{85}é"),
            "a\\nb\\r\\tc\\u{001b}[31m\\u{007f}\\u{0085}é"
        );
        assert_eq!(log_text("plain name-1"), "plain name-1");
    }
}
