//! `--type` validation for `--key` (W-A6 in docs/compatibility.md).
//!
//! Python's `re.match` anchors at the start only and its `$` also matches before one final
//! `\n`; each pattern is therefore compiled as `^(?:inner)\n?\z`. The `(?#...)` comments of
//! the reference's dsn pattern are left out (the regex crate has no comment groups).

use regex::Regex;
use std::sync::LazyLock;

/// Type names and their patterns, without the `^`/`$` anchors.
const TYPES: &[(&str, &str)] = &[
    ("int", "[0-9]+"),
    ("default", "[A-Za-z0-9_]*"),
    ("netaddress", "[A-Za-z0-9/.:-]*"),
    ("netdevice", "[A-Za-z0-9/.:-]*"),
    (
        "dsn",
        r"[a-zA-Z0-9]+://([a-zA-Z0-9+_-]+(:[^@]+)?)?(@?[a-zA-Z0-9/_.-]+)?(/[a-zA-Z0-9_-]+)?(\?[a-zA-Z0-9=_-]+)?",
    ),
    // `.-_` is a range (U+002E..U+005F) in the reference too; kept on purpose (W-A6).
    (
        "swiftdevices",
        r"(r\d+z\d+-[A-Za-z0-9.-_]+:%PORT%/[^,]+,?)+",
    ),
    ("username", "[A-Za-z0-9_-]+"),
];

static COMPILED: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    TYPES
        .iter()
        .map(|(name, inner)| {
            let re =
                Regex::new(&format!(r"^(?:{inner})\n?\z")).expect("value type patterns compile");
            (*name, re)
        })
        .collect()
});

/// The names `--type` accepts.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = TYPES.iter().map(|(n, _)| *n).collect();
    v.push("raw");
    v
}

/// `ensure_type`: Ok when `value` is acceptable as `type_name`.
pub fn ensure_type(value: &str, type_name: &str) -> Result<(), String> {
    if type_name == "raw" {
        return Ok(());
    }
    let Some((_, re)) = COMPILED.iter().find(|(n, _)| *n == type_name) else {
        return Err(format!("requested validation of unknown type: {type_name}"));
    };
    if re.is_match(value) {
        Ok(())
    } else {
        Err(format!(
            "cannot interpret value '{value}' as type {type_name}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str, t: &str) -> bool {
        ensure_type(v, t).is_ok()
    }

    #[test]
    fn test_unknown_type() {
        assert_eq!(
            ensure_type("foo", "badtype").unwrap_err(),
            "requested validation of unknown type: badtype"
        );
    }

    #[test]
    fn test_int() {
        assert!(ok("123", "int"));
        assert_eq!(
            ensure_type("foo", "int").unwrap_err(),
            "cannot interpret value 'foo' as type int"
        );
    }

    #[test]
    fn test_default() {
        assert!(ok("foobar", "default"));
        assert!(ok("x86_64", "default"));
    }

    #[test]
    fn test_default_bad() {
        assert!(!ok("foo\nbar", "default"));
    }

    #[test]
    fn python_dollar_allows_one_trailing_newline() {
        assert!(ok("abc\n", "default"));
        assert!(!ok("abc\n\n", "default"));
    }

    #[test]
    fn test_default_empty() {
        assert!(ok("", "default"));
    }

    #[test]
    fn test_raw_empty() {
        assert!(ok("", "raw"));
    }

    #[test]
    fn test_net_address_ipv4() {
        assert!(ok("192.0.2.1", "netaddress"));
    }

    #[test]
    fn test_net_address_cidr() {
        assert!(ok("192.0.2.0/24", "netaddress"));
    }

    #[test]
    fn test_ent_address_ipv6() {
        assert!(ok("::", "netaddress"));
        assert!(ok("2001:db8::2:1", "netaddress"));
    }

    #[test]
    fn test_net_address_dns() {
        assert!(ok("host.0domain-name.test", "netaddress"));
    }

    #[test]
    fn test_net_address_empty() {
        assert!(ok("", "netaddress"));
    }

    #[test]
    fn test_net_address_bad() {
        assert!(!ok("192.0.2.1;DROP TABLE foo", "netaddress"));
    }

    #[test]
    fn test_netdevice() {
        assert!(ok("eth0", "netdevice"));
    }

    #[test]
    fn test_netdevice_dash() {
        assert!(ok("br-ctlplane", "netdevice"));
    }

    #[test]
    fn test_netdevice_alias() {
        assert!(ok("eth0:1", "netdevice"));
    }

    #[test]
    fn test_netdevice_bad() {
        assert!(!ok("br-tun; DROP TABLE bar", "netdevice"));
    }

    #[test]
    fn test_dsn_nopass() {
        assert!(ok("mysql://user@host/db", "dsn"));
    }

    #[test]
    fn test_dsn() {
        assert!(ok("mysql://user:pass@host/db", "dsn"));
    }

    #[test]
    fn test_dsn_set_variables() {
        assert!(ok("mysql://user:pass@host/db?charset=utf8", "dsn"));
    }

    #[test]
    fn test_dsn_sqlite_memory() {
        assert!(ok("sqlite://", "dsn"));
    }

    #[test]
    fn test_dsn_sqlite_file() {
        assert!(ok("sqlite:///tmp/foo.db", "dsn"));
    }

    #[test]
    fn test_dsn_bad() {
        assert!(!ok("mysql:/user:pass@host/db?charset=utf8", "dsn"));
        assert!(!ok(
            "mysql://user:pass@host/db?charset=utf8;DROP TABLE foo",
            "dsn"
        ));
    }

    #[test]
    fn test_swiftdevices_single() {
        assert!(ok("r1z1-127.0.0.1:%PORT%/d1", "swiftdevices"));
    }

    #[test]
    fn test_swiftdevices_multi() {
        assert!(ok(
            "r1z1-127.0.0.1:%PORT%/d1,r1z1-127.0.0.1:%PORT%/d2",
            "swiftdevices"
        ));
    }

    #[test]
    fn test_swiftdevices_blank() {
        assert!(!ok("", "swiftdevices"));
    }

    #[test]
    fn test_swiftdevices_bad() {
        assert!(!ok("rz1-127.0.0.1:%PORT%/d1", "swiftdevices"));
    }

    #[test]
    fn swiftdevices_range_quirk() {
        // '[' .. '^' lie inside the accidental range '.'..'_'
        assert!(ok("r1z1-a[b]@^:%PORT%/d1", "swiftdevices"));
    }

    #[test]
    fn test_username() {
        assert!(ok("guest", "username"));
        assert!(ok("guest_13-42", "username"));
    }

    #[test]
    fn test_username_bad() {
        assert!(!ok("guest`ls`", "username"));
        assert!(!ok("guest$PASSWD", "username"));
        assert!(!ok("guest 2", "username"));
    }
}
