//! `.oac` control files: YAML 1.1 as PyYAML's `safe_load` reads it, and the `allow_empty`,
//! `mode`, `owner`, `group` keys (docs/compatibility.md, "Control files (`.oac`)").
//!
//! yaml-rust2 resolves scalars by YAML 1.2 rules (`0755` would be decimal 755), so only its
//! event parser is used: we take each scalar's text and style and resolve plain scalars with
//! PyYAML's YAML 1.1 implicit resolvers ourselves.

use std::fmt::Write as _;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML 1.1 value as PyYAML's safe loader constructs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i128),
    /// An integer too large for i128; kept as its text.
    BigInt(String),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    Map(Vec<(Yaml, Yaml)>),
}

impl Yaml {
    /// Python `str()` of the constructed value, as the reference's messages print it.
    pub fn py_str(&self) -> String {
        match self {
            Yaml::Str(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.write_repr(&mut out);
                out
            }
        }
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Yaml::Null => out.push_str("None"),
            Yaml::Bool(true) => out.push_str("True"),
            Yaml::Bool(false) => out.push_str("False"),
            Yaml::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Yaml::BigInt(s) => out.push_str(s),
            Yaml::Float(f) => out.push_str(&py_float(*f)),
            Yaml::Str(s) => crate::pyjson::write_str_repr(out, s),
            Yaml::Seq(items) => {
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    it.write_repr(out);
                }
                out.push(']');
            }
            Yaml::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_repr(out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Yaml::Null => false,
            Yaml::Bool(b) => *b,
            Yaml::Int(i) => *i != 0,
            Yaml::BigInt(_) => true,
            Yaml::Float(f) => *f != 0.0,
            Yaml::Str(s) => !s.is_empty(),
            Yaml::Seq(v) => !v.is_empty(),
            Yaml::Map(v) => !v.is_empty(),
        }
    }
}

fn py_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        crate::pyjson::float_repr(f)
    }
}

fn is_bool_word(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn all_in(s: &str, ok: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().all(ok)
}

/// PyYAML's int resolver and constructor (YAML 1.1): decimal, `0` octal, `0x`, `0b`, `_`
/// separators and sexagesimal `1:30`.
fn resolve_int(text: &str) -> Option<Yaml> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = |s: &str, radix: u32| all_in(s, |c| c == '_' || c.is_digit(radix));
    let (radix, value): (u32, String) = if let Some(b) = body.strip_prefix("0b") {
        if !digits(b, 2) {
            return None;
        }
        (2, b.replace('_', ""))
    } else if let Some(h) = body.strip_prefix("0x") {
        if !digits(h, 16) {
            return None;
        }
        (16, h.replace('_', ""))
    } else if body == "0" {
        (10, "0".into())
    } else if body.len() > 1 && body.starts_with('0') {
        if !digits(&body[1..], 8) {
            return None;
        }
        (8, body.replace('_', ""))
    } else if body.starts_with(|c: char| c.is_ascii_digit() && c != '0') {
        if body.contains(':') {
            // [1-9][0-9_]*(:[0-5]?[0-9])+
            let mut parts = body.split(':');
            let head = parts.next()?;
            if !digits(head, 10) {
                return None;
            }
            let mut total: i128 = head.replace('_', "").parse().ok()?;
            for p in parts {
                let ok = matches!(p.len(), 1 | 2)
                    && p.chars().all(|c| c.is_ascii_digit())
                    && (p.len() == 1 || p.as_bytes()[0] <= b'5');
                if !ok {
                    return None;
                }
                total = total
                    .checked_mul(60)?
                    .checked_add(p.parse::<i128>().ok()?)?;
            }
            return Some(Yaml::Int(if neg { -total } else { total }));
        }
        if !digits(body, 10) {
            return None;
        }
        (10, body.replace('_', ""))
    } else {
        return None;
    };
    if value.is_empty() {
        // "0b_" and friends: matched by PyYAML's regex, then int('') fails; treat as a string
        return None;
    }
    match i128::from_str_radix(&value, radix) {
        Ok(v) => Some(Yaml::Int(if neg { -v } else { v })),
        Err(_) => Some(Yaml::BigInt(text.to_string())),
    }
}

/// PyYAML's float resolver (YAML 1.1).
fn resolve_float(text: &str) -> Option<Yaml> {
    let lower = text.to_ascii_lowercase();
    let (neg, body) = match lower.as_bytes().first() {
        Some(b'-') => (true, &lower[1..]),
        Some(b'+') => (false, &lower[1..]),
        _ => (false, &lower[..]),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    if matches!(
        text,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
    ) {
        return Some(Yaml::Float(sign * f64::INFINITY));
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(Yaml::Float(f64::NAN));
    }
    let num_ok = |s: &str| -> bool {
        // [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?  |  \.[0-9_]+([eE][-+][0-9]+)?
        let (mant, exp) = match s.find('e') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        if let Some(e) = exp {
            let Some(d) = e.strip_prefix('-').or_else(|| e.strip_prefix('+')) else {
                return false;
            };
            if !all_in(d, |c| c.is_ascii_digit()) {
                return false;
            }
        }
        let Some((int, frac)) = mant.split_once('.') else {
            return false;
        };
        let frac_ok = frac.chars().all(|c| c.is_ascii_digit() || c == '_');
        if int.is_empty() {
            // leading-dot form takes no sign in PyYAML's pattern
            !neg && text.starts_with('.') && !frac.is_empty() && frac_ok
        } else {
            int.starts_with(|c: char| c.is_ascii_digit())
                && int.chars().all(|c| c.is_ascii_digit() || c == '_')
                && frac_ok
        }
    };
    if body.contains(':') {
        // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
        let (whole, frac) = body.split_once('.')?;
        if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return None;
        }
        let mut parts = whole.split(':');
        let head = parts.next()?;
        if !head.starts_with(|c: char| c.is_ascii_digit())
            || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
        {
            return None;
        }
        let mut total: f64 = head.replace('_', "").parse().ok()?;
        let mut n = 0;
        for p in parts {
            let ok = matches!(p.len(), 1 | 2)
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5');
            if !ok {
                return None;
            }
            total = total * 60.0 + p.parse::<f64>().ok()?;
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let last: f64 = format!("0.{}", frac.replace('_', ""))
            .parse()
            .unwrap_or(0.0);
        return Some(Yaml::Float(sign * (total + last)));
    }
    if !num_ok(body) {
        return None;
    }
    let cleaned = body.replace('_', "");
    let v: f64 = if cleaned.ends_with('.') {
        format!("{cleaned}0").parse().ok()?
    } else {
        cleaned.parse().ok()?
    };
    Some(Yaml::Float(sign * v))
}

/// Resolve a plain scalar by YAML 1.1 implicit rules.
fn resolve_plain(text: &str) -> Yaml {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Yaml::Null;
    }
    if let Some(b) = is_bool_word(text) {
        return Yaml::Bool(b);
    }
    if let Some(i) = resolve_int(text) {
        return i;
    }
    if let Some(f) = resolve_float(text) {
        return f;
    }
    Yaml::Str(text.to_string())
}

fn resolve_tagged(text: &str, tag: &str) -> Result<Yaml, String> {
    match tag {
        "str" => Ok(Yaml::Str(text.to_string())),
        "null" => Ok(Yaml::Null),
        "bool" => is_bool_word(text)
            .map(Yaml::Bool)
            .ok_or_else(|| format!("cannot read '{text}' as a bool")),
        "int" => resolve_int(text).ok_or_else(|| format!("cannot read '{text}' as an int")),
        "float" => resolve_float(text)
            .or_else(|| {
                resolve_int(text).map(|i| match i {
                    Yaml::Int(n) => Yaml::Float(n as f64),
                    other => other,
                })
            })
            .ok_or_else(|| format!("cannot read '{text}' as a float")),
        other => Err(format!("unsupported tag !!{other}")),
    }
}

/// The most values a control file may construct, aliases counted at their full size: PyYAML
/// shares an aliased value, a copying loader would expand a "billion laughs" file to gigabytes.
/// A control file has four scalar keys, so no real one comes near.
pub const MAX_YAML_NODES: usize = 100_000;
/// The deepest nesting accepted (the values are dropped and printed recursively).
pub const MAX_YAML_DEPTH: usize = 256;

enum Frame {
    /// Items, anchor, values constructed inside.
    Seq(Vec<Yaml>, usize, usize),
    /// Entries, the key read but not yet given its value, anchor, values constructed inside.
    Map(Vec<(Yaml, Yaml)>, Option<Yaml>, usize, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchored value with its size in values.
    anchors: std::collections::HashMap<usize, (Yaml, usize)>,
    docs: Vec<Yaml>,
    /// Values constructed so far, aliases at their full size.
    nodes: usize,
    error: Option<String>,
}

impl Builder {
    /// Count `size` more values; false (and the error set) past the budget.
    fn spend(&mut self, size: usize) -> bool {
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_YAML_NODES {
            self.error = Some(format!(
                "more than {MAX_YAML_NODES} values (aliases expanded); not a control file"
            ));
            return false;
        }
        true
    }

    /// Add a value of `size` values (itself and everything inside).
    fn add(&mut self, v: Yaml, anchor: usize, size: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), size));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _, inside)) => {
                items.push(v);
                *inside += size;
            }
            Some(Frame::Map(entries, pending, _, inside)) => {
                *inside += size;
                match pending.take() {
                    Some(k) => entries.push((k, v)),
                    None => *pending = Some(v),
                }
            }
            None => self.docs.push(v),
        }
    }

    fn open(&mut self, frame: Frame) {
        if self.stack.len() >= MAX_YAML_DEPTH {
            self.error = Some(format!("nested deeper than {MAX_YAML_DEPTH} levels"));
            return;
        }
        if self.spend(1) {
            self.stack.push(frame);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = match (&tag, style) {
                    (Some(t), _) if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" => {
                        match resolve_tagged(&text, &t.suffix) {
                            Ok(v) => v,
                            Err(e) => {
                                self.error = Some(e);
                                return;
                            }
                        }
                    }
                    (Some(t), _) if t.handle == "!" && t.suffix.is_empty() => Yaml::Str(text),
                    (Some(t), _) => {
                        self.error = Some(format!("unsupported tag {}{}", t.handle, t.suffix));
                        return;
                    }
                    (None, TScalarStyle::Plain) => resolve_plain(&text),
                    (None, _) => Yaml::Str(text),
                };
                if self.spend(1) {
                    self.add(v, anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq(Vec::new(), anchor, 0)),
            Event::MappingStart(anchor, _) => self.open(Frame::Map(Vec::new(), None, anchor, 0)),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq(items, anchor, inside)) => {
                    self.add(Yaml::Seq(items), anchor, inside + 1)
                }
                Some(Frame::Map(entries, _, anchor, inside)) => {
                    self.add(Yaml::Map(entries), anchor, inside + 1)
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                Some(size) => {
                    if self.spend(size) {
                        let v = self.anchors[&id].0.clone();
                        self.add(v, 0, size);
                    }
                }
                None => self.error = Some("unknown alias".into()),
            },
            _ => {}
        }
    }
}

/// `yaml.safe_load(text)`: `None` for an empty document.
pub fn load_yaml11(text: &str) -> Result<Option<Yaml>, String> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, true).map_err(|e| e.to_string())?;
    if let Some(e) = b.error {
        return Err(e);
    }
    if b.docs.len() > 1 {
        return Err("expected a single document in the stream".into());
    }
    Ok(b.docs.pop())
}

/// What a control file says about one output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub allow_empty: bool,
    pub mode: Option<u32>,
    pub owner: Option<u32>,
    pub group: Option<u32>,
}

impl Default for Control {
    fn default() -> Control {
        Control {
            allow_empty: true,
            mode: None,
            owner: None,
            group: None,
        }
    }
}

/// Python `'%#o' % n`.
fn py_octal(n: i128) -> String {
    if n < 0 {
        format!("-0o{:o}", -n)
    } else {
        format!("0o{n:o}")
    }
}

/// Parse a control file body; `template` names the template in "header is not a dict".
pub fn parse_control(text: &str, template: &str, db: &UserDb) -> Result<Control, String> {
    let doc = load_yaml11(text)?;
    let entries = match doc {
        None => Vec::new(),
        Some(v) if !v.truthy() => Vec::new(),
        Some(Yaml::Map(entries)) => entries,
        Some(_) => return Err(format!("header is not a dict: {template}")),
    };
    let mut c = Control::default();
    for (k, v) in entries {
        let Yaml::Str(key) = &k else {
            return Err(format!("unrecognised file control key '{}'", k.py_str()));
        };
        match key.as_str() {
            "allow_empty" => match v {
                Yaml::Bool(b) => c.allow_empty = b,
                other => {
                    return Err(format!(
                        "allow_empty requires Boolean, got: '{}'",
                        other.py_str()
                    ))
                }
            },
            "mode" => match v {
                Yaml::Int(n) => {
                    if !(0..=0o777).contains(&n) {
                        return Err(format!("mode '{}' out of range", py_octal(n)));
                    }
                    c.mode = Some(n as u32);
                }
                Yaml::BigInt(s) => return Err(format!("mode '{s}' out of range")),
                other => return Err(format!("mode '{}' is not numeric", other.py_str())),
            },
            "owner" => c.owner = Some(db.lookup(&v, Kind::User)?),
            "group" => c.group = Some(db.lookup(&v, Kind::Group)?),
            other => return Err(format!("unrecognised file control key '{other}'")),
        }
    }
    Ok(c)
}

#[derive(Clone, Copy)]
pub enum Kind {
    User,
    Group,
}

/// Users and groups from the local files (`/etc/passwd`, `/etc/group`). NSS sources such as
/// LDAP or SSSD are not consulted.
pub struct UserDb {
    pub passwd: std::path::PathBuf,
    pub group: std::path::PathBuf,
}

impl Default for UserDb {
    fn default() -> UserDb {
        UserDb {
            passwd: "/etc/passwd".into(),
            group: "/etc/group".into(),
        }
    }
}

impl UserDb {
    fn entries(&self, kind: Kind) -> Vec<(String, u32)> {
        let path = match kind {
            Kind::User => &self.passwd,
            Kind::Group => &self.group,
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with('+') && !l.starts_with('-'))
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let _pw = f.next()?;
                let id: u32 = f.next()?.parse().ok()?;
                Some((name.to_string(), id))
            })
            .collect()
    }

    /// All (name, id) pairs (for tests and diagnostics).
    pub fn all(&self, kind: Kind) -> Vec<(String, u32)> {
        self.entries(kind)
    }

    /// `owner`/`group` value to a numeric id, with the reference's messages.
    pub fn lookup(&self, v: &Yaml, kind: Kind) -> Result<u32, String> {
        let (what, db) = match kind {
            Kind::User => ("owner", "passwd"),
            Kind::Group => ("group", "group"),
        };
        let not_found = || format!("{what} '{}' not found in {db} database", v.py_str());
        let entries = self.entries(kind);
        match v {
            Yaml::Int(n) => {
                let id = u32::try_from(*n).map_err(|_| not_found())?;
                entries
                    .iter()
                    .find(|(_, i)| *i == id)
                    .map(|(_, i)| *i)
                    .ok_or_else(not_found)
            }
            Yaml::BigInt(_) => Err(not_found()),
            Yaml::Str(name) => entries
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, i)| *i)
                .ok_or_else(not_found),
            other => Err(format!(
                "{what} '{}' must be a string or int",
                other.py_str()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Yaml {
        load_yaml11(s).unwrap().unwrap()
    }

    fn ctl(s: &str) -> Result<Control, String> {
        parse_control(s, "/t/f", &UserDb::default())
    }

    #[test]
    fn yaml11_scalars() {
        assert_eq!(y("0755"), Yaml::Int(0o755));
        assert_eq!(y("755"), Yaml::Int(755));
        assert_eq!(y("0x1ff"), Yaml::Int(0o777));
        assert_eq!(y("0b101"), Yaml::Int(5));
        assert_eq!(y("1_000"), Yaml::Int(1000));
        assert_eq!(y("1:30"), Yaml::Int(90));
        assert_eq!(y("-0755"), Yaml::Int(-0o755));
        assert_eq!(y("08"), Yaml::Str("08".into()));
        assert_eq!(y("0o755"), Yaml::Str("0o755".into()));
        assert_eq!(y("\"0644\""), Yaml::Str("0644".into()));
        assert_eq!(y("'0644'"), Yaml::Str("0644".into()));
        assert_eq!(y("!!str 0755"), Yaml::Str("0755".into()));
        for t in ["yes", "Yes", "YES", "on", "ON", "true", "True"] {
            assert_eq!(y(t), Yaml::Bool(true), "{t}");
        }
        for f in ["no", "off", "Off", "FALSE"] {
            assert_eq!(y(f), Yaml::Bool(false), "{f}");
        }
        assert_eq!(y("y"), Yaml::Str("y".into()));
        assert_eq!(y("1.5"), Yaml::Float(1.5));
        assert_eq!(y("1e3"), Yaml::Str("1e3".into()));
        assert_eq!(y("1.0e+3"), Yaml::Float(1000.0));
        assert_eq!(y("~"), Yaml::Null);
        assert_eq!(y("[1, a]").py_str(), "[1, 'a']");
        assert_eq!(load_yaml11("").unwrap(), None);
        assert_eq!(load_yaml11("# comment\n").unwrap(), None);
    }

    #[test]
    fn control_keys() {
        assert_eq!(ctl("mode: 0755").unwrap().mode, Some(0o755));
        assert_eq!(ctl("mode: 1:30").unwrap().mode, Some(0o132));
        assert_eq!(ctl("mode: 0x1ff").unwrap().mode, Some(0o777));
        assert_eq!(ctl("mode: 755").unwrap_err(), "mode '0o1363' out of range");
        assert_eq!(
            ctl("mode: 0o755").unwrap_err(),
            "mode '0o755' is not numeric"
        );
        assert_eq!(ctl("mode: true").unwrap_err(), "mode 'True' is not numeric");
        assert_eq!(ctl("mode: -1").unwrap_err(), "mode '-0o1' out of range");
        assert_eq!(ctl("mode: 0").unwrap().mode, Some(0));
        assert!(!ctl("allow_empty: false").unwrap().allow_empty);
        assert!(!ctl("allow_empty: Off").unwrap().allow_empty);
        assert_eq!(
            ctl("allow_empty: n").unwrap_err(),
            "allow_empty requires Boolean, got: 'n'"
        );
        assert_eq!(
            ctl("bogus: 1").unwrap_err(),
            "unrecognised file control key 'bogus'"
        );
        assert_eq!(ctl("- 1").unwrap_err(), "header is not a dict: /t/f");
        assert_eq!(ctl("# comment").unwrap(), Control::default());
        assert_eq!(ctl("false").unwrap(), Control::default());
        assert_eq!(
            ctl("owner: 1.5").unwrap_err(),
            "owner '1.5' must be a string or int"
        );
        assert!(ctl("mode: [").is_err());
    }

    #[test]
    fn test_mode_string() {
        assert!(ctl("mode: '0644'")
            .unwrap_err()
            .contains("mode '0644' is not numeric"));
    }

    #[test]
    fn test_mode_range() {
        assert_eq!(ctl("mode: -1").unwrap_err(), "mode '-0o1' out of range");
        assert_eq!(
            ctl("mode: 01000").unwrap_err(),
            "mode '0o1000' out of range"
        );
        assert_eq!(ctl("mode: 0").unwrap().mode, Some(0));
        assert_eq!(ctl("mode: 0777").unwrap().mode, Some(0o777));
    }

    #[test]
    fn test_owner_positive() {
        let db = UserDb::default();
        for (name, uid) in db.all(Kind::User) {
            assert_eq!(
                db.lookup(&Yaml::Str(name.clone()), Kind::User).unwrap(),
                uid,
                "{name}"
            );
            db.lookup(&Yaml::Int(uid as i128), Kind::User).unwrap();
        }
        assert_eq!(ctl("owner: root").unwrap().owner, Some(0));
        assert_eq!(ctl("owner: 0").unwrap().owner, Some(0));
    }

    #[test]
    fn test_owner_negative() {
        assert_eq!(
            ctl("owner: -1").unwrap_err(),
            "owner '-1' not found in passwd database"
        );
        assert_eq!(
            ctl("owner: za").unwrap_err(),
            "owner 'za' not found in passwd database"
        );
        assert_eq!(
            ctl("owner: \"0\"").unwrap_err(),
            "owner '0' not found in passwd database"
        );
    }

    #[test]
    fn test_group_positive() {
        let db = UserDb::default();
        for (name, gid) in db.all(Kind::Group) {
            db.lookup(&Yaml::Str(name), Kind::Group).unwrap();
            db.lookup(&Yaml::Int(gid as i128), Kind::Group).unwrap();
        }
        assert_eq!(ctl("group: root").unwrap().group, Some(0));
        assert_eq!(ctl("group: 0").unwrap().group, Some(0));
    }

    #[test]
    fn test_group_negative() {
        assert_eq!(
            ctl("group: -1").unwrap_err(),
            "group '-1' not found in group database"
        );
        assert_eq!(
            ctl("group: za").unwrap_err(),
            "group 'za' not found in group database"
        );
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "a".to_string()
            } else {
                format!("a{}", i - 1)
            };
            bomb.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        let e = load_yaml11(&bomb).unwrap_err();
        assert!(e.contains("more than 100000 values"), "{e}");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        // yaml-rust2's own limit comes first; ours holds for any parser
        let e = load_yaml11(&deep).unwrap_err();
        assert!(
            e.contains("recursion limit") || e.contains("nested deeper"),
            "{e}"
        );
        // aliases within the budget still work
        assert_eq!(
            load_yaml11("a: &x 0755\nb: *x\n").unwrap().unwrap(),
            Yaml::Map(vec![
                (Yaml::Str("a".into()), Yaml::Int(0o755)),
                (Yaml::Str("b".into()), Yaml::Int(0o755))
            ])
        );
    }
}
