//! Logging: the one owner of log lines. The log facade's setup (log + env_logger), every
//! line format (heat-agent's own and the legacy tools': os-apply-config, os-refresh-config and
//! the heat-config tools, dib-run-parts), the one clock (local time) and secret masking.
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

/// How lines look (docs/operators.md, "Log formats"). The front end picks one per process
/// ([`init`]): [`Style::Agent`] under heat-agent's own names, a legacy style under a legacy
/// tool's name. Under journald no style carries a timestamp (journald stamps lines itself) and
/// every line starts with its priority (`<3>` = err).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// heat-agent's own lines: `[2026-11-23T03:46:57.507+00:00] INFO message` (RFC 3339, local
    /// time with its offset, milliseconds).
    Agent,
    /// The bare message (what os-collect-config effectively prints).
    Bare,
    /// Python's `[%(asctime)s] (%(name)s) [%(levelname)s] %(message)s`:
    /// `[2026-11-23 03:46:57,507] (os-refresh-config) [INFO] message`, as os-refresh-config,
    /// 55-heat-config, the hooks and heat-config-notify print.
    Tagged(&'static str),
    /// os-apply-config's `[2026/11/23 03:46:24 AM] [INFO] message`.
    OsApplyConfig,
}

/// The style [`init`] installed; [`Style::Agent`] before that.
static STYLE: OnceLock<Style> = OnceLock::new();

/// The style for a program invoked as `arg0`: heat-agent's own under its names (the front
/// door passes `heat-agent <command>`), `legacy` under a legacy tool's name.
pub fn style_for(arg0: Option<&std::ffi::OsString>, legacy: Style) -> Style {
    match arg0 {
        Some(a) if a.to_string_lossy().starts_with("heat-agent ") => Style::Agent,
        _ => legacy,
    }
}

/// Make `style` the process's line style without installing the log facade (for the tools
/// that write their own lines through [`write_lines`]). The first style set stays.
pub fn set_style(style: Style) {
    let _ = STYLE.set(style);
}

/// The process's line style.
pub fn style() -> Style {
    STYLE.get().copied().unwrap_or(Style::Agent)
}

/// The local time zone, loaded once: the one clock every log line and date uses. Without
/// `TZ`, `/etc/localtime` is read directly: resolving it by name would make jiff index the
/// whole zoneinfo tree on every start.
fn local_tz() -> jiff::tz::TimeZone {
    static TZ: OnceLock<jiff::tz::TimeZone> = OnceLock::new();
    TZ.get_or_init(|| {
        if std::env::var_os("TZ").is_none() {
            if let Ok(data) = std::fs::read("/etc/localtime") {
                if let Ok(tz) = jiff::tz::TimeZone::tzif("localtime", &data) {
                    return tz;
                }
            }
        }
        jiff::tz::TimeZone::system()
    })
    .clone()
}

/// Now, in local time.
pub fn local_now() -> jiff::Zoned {
    jiff::Timestamp::now().to_zoned(local_tz())
}

/// Unix seconds in local time.
pub fn local_time(unix_seconds: f64) -> Option<jiff::Zoned> {
    let ts =
        jiff::Timestamp::from_duration(jiff::SignedDuration::try_from_secs_f64(unix_seconds).ok()?)
            .ok()?;
    Some(ts.to_zoned(local_tz()))
}

/// RFC 3339 (and ISO 8601) with milliseconds and the local offset:
/// `2026-11-23T03:46:57.507+00:00`. heat-agent's own timestamp, in lines and in JSON.
pub fn rfc3339(t: &jiff::Zoned) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// `date` in the C locale, local time: `Mon Nov 23 03:46:57 UTC 2026` (dib-run-parts).
pub fn c_date_now() -> String {
    local_now().strftime("%a %b %e %H:%M:%S %Z %Y").to_string()
}

/// Python's level names (`WARNING`, not `WARN`).
pub fn python_level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARNING",
        log::Level::Info => "INFO",
        log::Level::Debug | log::Level::Trace => "DEBUG",
    }
}

/// One line in `style` (newline included), `text` already passed through [`log_text`].
/// `journald`: the journal's form (priority prefix, no time).
pub fn format_line(style: Style, journald: bool, level: log::Level, text: &str) -> String {
    let python = python_level_name(level);
    let prefix = if journald {
        journal_priority(level).to_string()
    } else {
        String::new()
    };
    match style {
        Style::Bare => format!("{prefix}{text}\n"),
        Style::Agent if journald => format!("{prefix}{level} {text}\n"),
        Style::Agent => format!("[{}] {level} {text}\n", rfc3339(&local_now())),
        Style::Tagged(name) if journald => format!("{prefix}({name}) [{python}] {text}\n"),
        Style::Tagged(name) => {
            let now = local_now();
            format!(
                "[{},{:03}] ({name}) [{python}] {text}\n",
                now.strftime("%Y-%m-%d %H:%M:%S"),
                now.millisecond(),
            )
        }
        Style::OsApplyConfig if journald => format!("{prefix}[{python}] {text}\n"),
        Style::OsApplyConfig => format!(
            "[{}] [{python}] {text}\n",
            local_now().strftime("%Y/%m/%d %I:%M:%S %p")
        ),
    }
}

/// Write lines a legacy tool's module logs itself (os-apply-config, os-refresh-config), with
/// one write: in `legacy`, the tool's own format, when the process runs under a legacy name;
/// in [`Style::Agent`] under heat-agent's names. Secrets are masked, controls escaped; a
/// message's own trailing newlines are kept (os-refresh-config ends some with one).
pub fn write_lines<'m>(legacy: Style, level: log::Level, msgs: impl IntoIterator<Item = &'m str>) {
    let style = match style() {
        Style::Agent => Style::Agent,
        _ => legacy,
    };
    let journald = under_journald();
    let mut out = String::new();
    for msg in msgs {
        let body = msg.trim_end_matches('\n');
        let line = format_line(style, journald, level, &log_text(body));
        out.push_str(&line);
        out.push_str(&msg[body.len()..]);
    }
    if !out.is_empty() {
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

/// What goes before each line dib-run-parts prints about `name`'s scripts at `level`:
/// `<name> <date> ` (its own format) under a legacy name, `[time] LEVEL <name>: ` under
/// heat-agent's names; under journald the priority takes the time's place (`<N><name> `,
/// `<N>LEVEL <name>: `).
pub fn run_parts_prefix(name: &str, level: log::Level) -> String {
    let agent = style() == Style::Agent;
    if under_journald() && agent {
        format!("{}{level} {name}: ", journal_priority(level))
    } else if under_journald() {
        format!("{}{name} ", journal_priority(level))
    } else if agent {
        format!("[{}] {level} {name}: ", rfc3339(&local_now()))
    } else {
        format!("{name} {} ", c_date_now())
    }
}

/// Write `text` (one or more lines, a usage text, a message written before or without the log
/// facade) to stderr as it is, except that under journald each non-empty line starts with
/// `level`'s priority, so the journal files it where it belongs.
pub fn write_plain(level: log::Level, text: &str) {
    let out = if under_journald() {
        let prefix = journal_priority(level);
        let mut out = String::with_capacity(text.len() + 16);
        for line in text.split_inclusive('\n') {
            if line != "\n" {
                out.push_str(prefix);
            }
            out.push_str(line);
        }
        out
    } else {
        text.to_string()
    };
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}

/// A clap parse result that ends the run: help and version on stdout as clap prints them, a
/// usage error on stderr (at err under journald).
pub fn print_clap_error(e: &clap::Error) {
    if e.use_stderr() && under_journald() {
        write_plain(log::Level::Error, &e.render().to_string());
    } else {
        let _ = e.print();
    }
}

/// [`write_plain`] of one line (a newline is added).
pub fn write_plain_line(level: log::Level, line: &str) {
    write_plain(level, &format!("{line}\n"));
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

/// Install the logger, and make `style` the process's line style ([`style`]). `RUST_LOG`,
/// when set, overrides `level`.
pub fn init(level: LevelFilter, style: Style) {
    init_with_file(level, style, None)
}

/// [`init`], also appending every line to `file` (`--log-file`). The file gets the line format
/// stderr has outside journald, timestamps included even under journald; the bare style of
/// `os-collect-config` gets heat-agent's format there (a log file without times is of little
/// use).
pub fn init_with_file(level: LevelFilter, style: Style, file: Option<std::fs::File>) {
    let _ = STYLE.set(style);
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
            let file_style = if style == Style::Bare {
                Style::Agent
            } else {
                style
            };
            let line = format_line(file_style, false, level, &msg);
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            // one write per line: O_APPEND keeps concurrent writers' lines whole
            let _ = f.write_all(line.as_bytes());
        }
        buf.write_all(format_line(style, journald, level, &msg).as_bytes())
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
    fn line_formats() {
        let agent = format_line(Style::Agent, false, log::Level::Warn, "m");
        // [2026-11-23T03:46:57.507+00:00] WARN m
        let stamp = agent[1..].split(']').next().unwrap();
        assert!(
            jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.f%:z", stamp).is_ok(),
            "{agent}"
        );
        assert!(agent.ends_with("] WARN m\n"), "{agent}");
        assert_eq!(
            format_line(Style::Agent, true, log::Level::Error, "m"),
            "<3>ERROR m\n"
        );
        let orc = format_line(
            Style::Tagged("os-refresh-config"),
            false,
            log::Level::Warn,
            "m",
        );
        assert_eq!(
            orc.len(),
            "[2026-11-23 03:46:57,507] (os-refresh-config) [WARNING] m\n".len(),
            "{orc}"
        );
        assert!(orc.ends_with(" (os-refresh-config) [WARNING] m\n"), "{orc}");
        assert_eq!(
            format_line(Style::Tagged("heat-config"), true, log::Level::Info, "m"),
            "<6>(heat-config) [INFO] m\n"
        );
        let oac = format_line(Style::OsApplyConfig, false, log::Level::Info, "m");
        assert_eq!(
            oac.len(),
            "[2026/11/23 03:46:24 AM] [INFO] m\n".len(),
            "{oac}"
        );
        assert!(oac.contains("M] [INFO] m"), "{oac}");
        assert_eq!(
            format_line(Style::OsApplyConfig, true, log::Level::Warn, "m"),
            "<4>[WARNING] m\n"
        );
        assert_eq!(
            format_line(Style::Bare, true, log::Level::Warn, "m"),
            "<4>m\n"
        );
        assert_eq!(
            format_line(Style::Bare, false, log::Level::Warn, "m"),
            "m\n"
        );
    }

    #[test]
    fn local_time_of_unix_seconds() {
        let t = local_time(0.5).unwrap();
        assert_eq!(t.timestamp().as_millisecond(), 500);
        assert!(rfc3339(&t).contains("T"), "{}", rfc3339(&t));
    }

    #[test]
    fn date_looks_like_c_locale_date() {
        let d = c_date_now();
        let parts: Vec<&str> = d.split_whitespace().collect();
        assert_eq!(parts.len(), 6, "{d}");
        assert_eq!(parts[3].len(), 8, "{d}");
        assert!(parts[5].parse::<u32>().is_ok(), "{d}");
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
