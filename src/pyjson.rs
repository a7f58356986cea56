//! JSON the way the Python reference tools read and write it
//! (docs/compatibility.md, "JSON, as Python reads and writes it").
//!
//! serde_json is built with `preserve_order` (dict insertion order) and `arbitrary_precision`
//! (numbers keep their source text, so big integers stay exact). This module adds what Python's
//! `json.dumps` does differently from serde_json: `ensure_ascii`, the `", "`/`": "` separators,
//! Python's `repr` of floats, the `indent=N` layout; plus Python `str()`/`repr()` of values and
//! Python truthiness.

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// How to lay out a document, mirroring the `json.dumps` arguments the reference uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct DumpOptions {
    /// `None`: one line with `", "` and `": "`; `Some(n)`: n spaces per level, `","` and `": "`.
    pub indent: Option<usize>,
    pub sort_keys: bool,
    /// Python's default: every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
}

impl DumpOptions {
    /// `json.dumps(v)`
    pub const COMPACT: DumpOptions = DumpOptions {
        indent: None,
        sort_keys: false,
        ensure_ascii: true,
    };
    /// `json.dumps(v, indent=n)`
    pub const fn indented(n: usize) -> DumpOptions {
        DumpOptions {
            indent: Some(n),
            sort_keys: false,
            ensure_ascii: true,
        }
    }
}

/// `json.dumps(value)` with Python's defaults.
pub fn dumps(value: &Value) -> String {
    dumps_with(value, DumpOptions::COMPACT)
}

/// `json.dumps(value, indent=n)`; no trailing newline, like Python.
pub fn dumps_indent(value: &Value, indent: usize) -> String {
    dumps_with(value, DumpOptions::indented(indent))
}

pub fn dumps_with(value: &Value, opts: DumpOptions) -> String {
    let mut out = String::new();
    write_value(&mut out, value, opts, 0);
    out
}

fn newline_indent(out: &mut String, opts: DumpOptions, level: usize) {
    if let Some(n) = opts.indent {
        out.push('\n');
        for _ in 0..n * level {
            out.push(' ');
        }
    }
}

fn write_value(out: &mut String, value: &Value, opts: DumpOptions, level: usize) {
    let item_sep = if opts.indent.is_some() { "," } else { ", " };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s, opts.ensure_ascii),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline_indent(out, opts, level + 1);
                write_value(out, item, opts, level + 1);
            }
            newline_indent(out, opts, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline_indent(out, opts, level + 1);
                write_string(out, k, opts.ensure_ascii);
                out.push_str(": ");
                write_value(out, v, opts, level + 1);
            }
            newline_indent(out, opts, level);
            out.push('}');
        }
    }
}

/// A JSON string literal as Python writes it.
pub fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    // Copy runs of characters that need no escape in one go; escape the rest one by one.
    let needs_escape = |c: char| {
        matches!(c, '"' | '\\') || (c as u32) < 0x20 || (ensure_ascii && (c as u32) >= 0x7f)
    };
    let mut rest = s;
    while let Some(at) = rest.find(needs_escape) {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or_default();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            // ensure_ascii escapes everything outside ' '..='~', DEL included.
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
    out.push('"');
}

/// Whether Python's `json.loads` would make this number a float.
pub fn is_float(n: &Number) -> bool {
    n.as_str().contains(['.', 'e', 'E'])
}

/// The number as f64 (Python's float() of the source text).
pub fn number_f64(n: &Number) -> f64 {
    match n.as_str() {
        NAN_TEXT => f64::NAN,
        text => text.parse::<f64>().unwrap_or(f64::NAN),
    }
}

/// [`number_repr`] appended to `out` (integers, the common case, without a temporary).
fn write_number(out: &mut String, n: &Number) {
    let start = out.len();
    let _ = write!(out, "{n}");
    let text = &out[start..];
    if text.contains(['.', 'e', 'E']) || text == "-0" {
        let repr = number_repr(n);
        out.truncate(start);
        out.push_str(&repr);
    }
}

/// Python's text for a JSON number: `int` text as is, `float` through `repr`.
pub fn number_repr(n: &Number) -> String {
    let text = n.to_string();
    if text.contains(['.', 'e', 'E']) {
        float_repr(number_f64(n))
    } else if text == "-0" {
        "0".to_string()
    } else {
        text
    }
}

/// Python `repr(float)`: shortest round-trip digits; fixed notation for exponents in [-4, 16).
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e20", "1e-5", "0e0".
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// Python truthiness (docs/compatibility.md, "JSON, as Python reads and writes it").
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => {
            if is_float(n) {
                let f = number_f64(n);
                f != 0.0 // NaN != 0.0 is true: NaN is truthy, as in Python
            } else {
                let t = n.to_string();
                !t.trim_start_matches('-').trim_start_matches('0').is_empty()
            }
        }
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python `str(value)` of a value loaded by `json.loads`.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python `repr(value)` of a value loaded by `json.loads` (dicts, lists, strings, True/None).
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => {
            let r = number_repr(n);
            // repr(float('nan')) is 'nan', repr(float('inf')) is 'inf'
            match r.as_str() {
                "NaN" => out.push_str("nan"),
                "Infinity" => out.push_str("inf"),
                "-Infinity" => out.push_str("-inf"),
                _ => out.push_str(&r),
            }
        }
        Value::String(s) => write_str_repr(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(out, k);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// Characters Python's `str.isprintable()` rejects (other than ASCII controls), as far as
/// they matter in practice: separators, format characters, private use, noncharacters.
fn py_unprintable(c: char) -> bool {
    let u = c as u32;
    matches!(u,
        0x00..=0x1f | 0x7f..=0xa0 | 0xad | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f
        | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000 | 0xd800..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0xfffe | 0xffff | 0xf0000..=0x10ffff | 0xe0000..=0xe0fff)
        && c != ' '
}

/// Python `repr(str)`: single quotes unless the text has `'` and no `"`.
pub fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if py_unprintable(c) => {
                let u = c as u32;
                if u <= 0xff {
                    let _ = write!(out, "\\x{:02x}", u);
                } else if u <= 0xffff {
                    let _ = write!(out, "\\u{:04x}", u);
                } else {
                    let _ = write!(out, "\\U{:08x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Parse a document as Python's `json.loads` would, with a one-line error naming `source`.
/// Accepts what Python accepts beyond strict JSON: `NaN`, `Infinity`, `-Infinity`, huge
/// exponents, lone surrogate escapes (stored as U+FFFD: a Rust string cannot hold them; see
/// docs/compatibility.md). Nesting deeper than [`MAX_DEPTH`] is an error, as in Python.
pub fn loads(text: &str, source: &str) -> Result<Value, String> {
    parse(text, false).map_err(|e| format!("{source} is not valid JSON ({e})"))
}

/// [`loads`] without a source: the bare Python-like message, for callers that word the error.
pub fn parse_value(text: &str) -> Result<Value, String> {
    parse(text, false)
}

/// [`loads`] of bytes: UTF-8 with an optional byte order mark (Python's `json.loads(bytes)`).
pub fn loads_bytes(bytes: &[u8], source: &str) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("{source} is not valid JSON (not UTF-8: {e})"))?;
    loads(text, source)
}

/// A typed record the agent wrote itself (with serde_json), read like [`loads`] but keeping
/// [`NAN_TEXT`] as NaN: non-finite numbers in it read back as they were. The error is the
/// bare message; the caller names the file.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    // The agent writes non-finite numbers as number texts serde_json reads, so its own
    // files normally parse directly (with serde_json's nesting bound of 128, which keeps
    // the stack small); only a `NaN`/`Infinity` literal needs the Python reader, and then
    // the value goes through serde_json's Value deserializer, which recurses more deeply
    // per level: the same bound applies.
    let serde_error = match serde_json::from_str(text) {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    let value = parse(text, true)?;
    if nesting(&value) > SERDE_DEPTH {
        return Err(serde_error);
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// serde_json's own nesting bound.
const SERDE_DEPTH: usize = 128;

/// How deeply lists and maps nest in `v` (counted without recursion).
fn nesting(v: &Value) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(v, 0usize)];
    while let Some((v, depth)) = todo.pop() {
        deepest = deepest.max(depth);
        match v {
            Value::Array(items) => todo.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => todo.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// [`from_str`] of bytes.
pub fn from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    from_str(text)
}

/// The deepest nesting of lists and maps read: Python's default recursion limit, which its
/// `json` module hits a few levels earlier ("maximum recursion depth exceeded").
pub const MAX_DEPTH: usize = 1000;

/// How a number Python reads as a non-finite float is held in a [`Number`]: as number text
/// that serde_json itself reads and writes back unchanged (so the agent's own typed files
/// round-trip), and that [`number_f64`] and [`number_repr`] turn into the float Python has.
/// `1e400` and the like keep their own text: they already read as infinite.
pub const INFINITY_TEXT: &str = "1e99999999999999999999";
pub const NEG_INFINITY_TEXT: &str = "-1e99999999999999999999";
/// NaN has no number text, so one otherwise meaningless spelling of -0.0 stands for it; the
/// reader rewrites that exact spelling, should a document hold it, to `-0.0`.
pub const NAN_TEXT: &str = "-0.0e-99999999999999999999";

fn special_number(text: &str) -> Value {
    Value::Number(text.parse::<Number>().expect("valid JSON number text"))
}

/// A one-line parse error at byte `at`, worded like Python's `json.JSONDecodeError`.
fn parse_error(text: &str, at: usize, what: &str) -> String {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    let char_index = String::from_utf8_lossy(before).chars().count();
    format!("{what}: line {line} column {column} (char {char_index})")
}

/// `own`: the text is the agent's own, where [`NAN_TEXT`] already means NaN.
fn parse(text: &str, own: bool) -> Result<Value, String> {
    let mut p = Parser {
        text,
        b: text.as_bytes(),
        at: 0,
        own,
    };
    if text.starts_with('\u{feff}') {
        return p.err(0, "Unexpected UTF-8 BOM (decode using utf-8-sig)");
    }
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.at != p.b.len() {
        return Err(parse_error(text, p.at, "Extra data"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
    own: bool,
}

impl Parser<'_> {
    fn err<T>(&self, at: usize, what: &str) -> Result<T, String> {
        Err(parse_error(self.text, at, what))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.b[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        match self.b.get(self.at) {
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'n') if self.eat("null") => Ok(Value::Null),
            Some(b't') if self.eat("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat("NaN") => Ok(special_number(NAN_TEXT)),
            Some(b'I') if self.eat("Infinity") => Ok(special_number(INFINITY_TEXT)),
            Some(b'-') if self.eat("-Infinity") => Ok(special_number(NEG_INFINITY_TEXT)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(self.at, "Expecting value"),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while let Some(b'0'..=b'9') = p.b.get(p.at) {
                p.at += 1;
            }
            p.at - from
        };
        if self.b[self.at] == b'-' {
            self.at += 1;
        }
        match self.b.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return self.err(start, "Expecting value"),
        }
        // Like Python's scanner, a fraction or exponent without digits ends the number there
        // (and the next token is then the error).
        if self.b.get(self.at) == Some(&b'.')
            && matches!(self.b.get(self.at + 1), Some(b'0'..=b'9'))
        {
            self.at += 1;
            digits(self);
        }
        if let Some(b'e' | b'E') = self.b.get(self.at) {
            let mark = self.at;
            self.at += 1;
            if let Some(b'+' | b'-') = self.b.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                self.at = mark;
            }
        }
        let mut text = &self.text[start..self.at];
        if text == NAN_TEXT && !self.own {
            text = "-0.0";
        }
        Ok(special_number(text))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .b
            .get(self.at..self.at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        match digits {
            Some(d) => {
                self.at += 4;
                Ok(u32::from_str_radix(std::str::from_utf8(d).unwrap_or("0"), 16).unwrap_or(0))
            }
            None => self.err(self.at - 1, "Invalid \\uXXXX escape"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            let run = self.at;
            while let Some(&c) = self.b.get(self.at) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[run..self.at]);
            match self.b.get(self.at) {
                None => return self.err(start, "Unterminated string starting at"),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc = self.at;
                    self.at += 1;
                    let c = match self.b.get(self.at) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            let unit = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&unit)
                                && self.b[self.at..].starts_with(b"\\u")
                            {
                                let mark = self.at;
                                self.at += 2;
                                let low = self.hex4()?;
                                if (0xdc00..0xe000).contains(&low) {
                                    0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                                } else {
                                    self.at = mark;
                                    unit
                                }
                            } else {
                                unit
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            continue;
                        }
                        None => return self.err(start, "Unterminated string starting at"),
                        Some(_) => return self.err(esc, "Invalid \\escape"),
                    };
                    self.at += 1;
                    out.push(c);
                }
                Some(_) => return self.err(self.at, "Invalid control character at"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return self.err(self.at, "maximum recursion depth exceeded");
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.eat("]") {
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            if self.eat("]") {
                return Ok(Value::Array(items));
            }
            if !self.eat(",") {
                return self.err(self.at, "Expecting ',' delimiter");
            }
            self.skip_ws();
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return self.err(self.at, "maximum recursion depth exceeded");
        }
        self.at += 1;
        let mut map = Map::new();
        self.skip_ws();
        if self.eat("}") {
            return Ok(Value::Object(map));
        }
        loop {
            if self.b.get(self.at) != Some(&b'"') {
                return self.err(self.at, "Expecting property name enclosed in double quotes");
            }
            let key = self.string()?;
            self.skip_ws();
            if !self.eat(":") {
                return self.err(self.at, "Expecting ':' delimiter");
            }
            self.skip_ws();
            let value = self.value(depth)?;
            // a repeated key keeps its first place and takes the last value, as a dict does
            map.insert(key, value);
            self.skip_ws();
            if self.eat("}") {
                return Ok(Value::Object(map));
            }
            if !self.eat(",") {
                return self.err(self.at, "Expecting ',' delimiter");
            }
            self.skip_ws();
        }
    }
}

/// Value equality with Python's meaning for numbers (`1 == 1.0`), map key order ignored,
/// but bool and number kept apart (Python's `True == 1` is a quirk we fix; see compatibility.md).
pub fn semantic_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if !is_float(x) && !is_float(y) {
                number_repr(x) == number_repr(y)
            } else {
                let (fx, fy) = (number_f64(x), number_f64(y));
                fx == fy || (fx.is_nan() && fy.is_nan())
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| semantic_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| semantic_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Does JSON `text` hold a value equal to `expected` by [`semantic_eq`]? Decided while
/// parsing: nothing is built, and the parse stops at the first difference (a changed document
/// is usually told apart from its predecessor within its first lines). `Err` names what is
/// not JSON before that point. One difference from parse-then-compare: a text with a
/// duplicate key (which neither this agent nor the reference writes) counts as different.
pub fn text_semantic_eq(text: &str, expected: &Value) -> Result<bool, String> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    match Expect(Some(expected))
        .deserialize(&mut de)
        .and_then(|()| de.end())
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_data() && e.to_string().starts_with(DIFFERS) => Ok(false),
        // What serde_json refuses but Python reads (NaN, Infinity, lone surrogates, deep
        // nesting) is decided the slow way.
        Err(_) => parse(text, false).map(|old| semantic_eq(&old, expected)),
    }
}

/// The error [`Expect`] stops the parse with at the first difference.
const DIFFERS: &str = "heat-agent: values differ";
/// How serde_json (with `arbitrary_precision`) hands a number to a visitor: a one-entry map.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// A parse step that checks the value being parsed against its counterpart (`None`: there is
/// none, so any value differs).
struct Expect<'a>(Option<&'a Value>);

fn same<E: serde::de::Error>(equal: bool) -> Result<(), E> {
    if equal {
        Ok(())
    } else {
        Err(E::custom(DIFFERS))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Expect<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'a> serde::de::Visitor<'de> for Expect<'a> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        same(matches!(self.0, Some(Value::Null)))
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<(), E> {
        same(matches!(self.0, Some(Value::Bool(x)) if *x == b))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        same(matches!(self.0, Some(Value::String(x)) if x == s))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<(), E> {
        self.number(Number::from(n))
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<(), E> {
        self.number(Number::from(n))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<(), E> {
        match Number::from_f64(n) {
            Some(n) => self.number(n),
            None => same(false),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(Value::Array(items)) = self.0 else {
            return same(false);
        };
        let mut n = 0;
        while seq.next_element_seed(Expect(items.get(n)))?.is_some() {
            n += 1;
        }
        same(n == items.len())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = match self.0 {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let mut n = 0;
        while let Some(key) = map.next_key_seed(KeyOf(fields))? {
            match key {
                Key::Number => {
                    let text: String = map.next_value()?;
                    let parsed = text.parse::<Number>().map_err(serde::de::Error::custom)?;
                    return self.number(parsed);
                }
                Key::Field(counterpart) => {
                    if fields.is_none() {
                        return same(false);
                    }
                    map.next_value_seed(Expect(counterpart))?;
                    n += 1;
                }
            }
        }
        same(fields.is_some_and(|m| m.len() == n))
    }
}

impl Expect<'_> {
    fn number<E: serde::de::Error>(self, n: Number) -> Result<(), E> {
        same(matches!(self.0, Some(e @ Value::Number(_)) if semantic_eq(&Value::Number(n), e)))
    }
}

/// A map key as [`Expect`] needs it: serde_json's number marker, or the counterpart value
/// under that key (looked up without copying the key).
enum Key<'a> {
    Number,
    Field(Option<&'a Value>),
}

struct KeyOf<'a>(Option<&'a Map<String, Value>>);

impl<'de, 'a> serde::de::DeserializeSeed<'de> for KeyOf<'a> {
    type Value = Key<'a>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key<'a>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'a> serde::de::Visitor<'de> for KeyOf<'a> {
    type Value = Key<'a>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key<'a>, E> {
        if k == NUMBER_TOKEN {
            return Ok(Key::Number);
        }
        Ok(Key::Field(self.0.and_then(|m| m.get(k))))
    }
}

/// An empty JSON object.
pub fn empty_object() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn text_semantic_eq_decides_like_parse_then_compare() {
        let cases = [
            (
                r#"{"a": 1, "b": [true, null, "x"]}"#,
                json!({"b": [true, null, "x"], "a": 1.0}),
                true,
            ),
            (r#"{"a": 1}"#, json!({"a": 2}), false),
            (r#"{"a": 1}"#, json!({"a": 1, "b": 2}), false),
            (r#"{"a": 1, "b": 2}"#, json!({"a": 1}), false),
            (r#"[1, 2]"#, json!([1, 2, 3]), false),
            (r#"[1, 2, 3]"#, json!([1, 2]), false),
            (r#"{"a": 1}"#, json!([1]), false),
            (r#"[]"#, json!({}), false),
            (r#"{}"#, json!({}), true),
            (r#"true"#, json!(1), false),
            (r#"1e2"#, json!(100), true),
            (r#"0.1"#, json!(0.1), true),
            (r#""\u00e9\n""#, json!("é\n"), true),
            (r#"{"a": 1, "a": 1}"#, json!({"a": 1}), false), // duplicate key: documented
        ];
        for (text, expected, want) in cases {
            assert_eq!(
                text_semantic_eq(text, &expected),
                Ok(want),
                "{text} vs {expected}"
            );
        }
        // not JSON before any difference: an error; after one: "differs" already decided
        assert!(text_semantic_eq(r#"{"a": 1, "b": [tru"#, &json!({"a": 1, "b": [true]})).is_err());
        assert!(text_semantic_eq("", &json!({})).is_err());
        assert!(text_semantic_eq(r#"{"a": 1} x"#, &json!({"a": 1})).is_err());
        assert_eq!(
            text_semantic_eq(r#"{"a": 2, "b": [tru"#, &json!({"a": 1})),
            Ok(false)
        );
    }

    #[test]
    fn text_semantic_eq_agrees_with_semantic_eq_on_random_documents() {
        fn leaf(rng: &mut fastrand::Rng) -> Value {
            match rng.u8(..8) {
                0 => Value::Null,
                1 => Value::Bool(rng.bool()),
                2 => json!(rng.i64(-5..5)),
                3 => p(["1.0", "2.5", "-0.0", "1e3", "0.1"][rng.usize(..5)]),
                4 => json!(u64::MAX - rng.u64(..3)),
                _ => Value::String(
                    ["", "x", "é", "a\"b", "\u{1F600}", "line\n"][rng.usize(..6)].to_string(),
                ),
            }
        }
        fn value(rng: &mut fastrand::Rng, depth: u32) -> Value {
            if depth == 0 || rng.u8(..3) == 0 {
                return leaf(rng);
            }
            if rng.bool() {
                Value::Array((0..rng.usize(..4)).map(|_| value(rng, depth - 1)).collect())
            } else {
                let keys = ["a", "b", "c", "é", "d e"];
                Value::Object(
                    (0..rng.usize(..4))
                        .map(|_| (keys[rng.usize(..5)].to_string(), value(rng, depth - 1)))
                        .collect(),
                )
            }
        }
        /// The same value changed in one random place (or, sometimes, only reordered or
        /// written with equal numbers of another form).
        fn variant(rng: &mut fastrand::Rng, v: &Value) -> Value {
            match v {
                Value::Array(items) if !items.is_empty() && rng.u8(..4) != 0 => {
                    let mut items = items.clone();
                    let i = rng.usize(..items.len());
                    items[i] = variant(rng, &items[i]);
                    if rng.u8(..8) == 0 {
                        items.push(Value::Null);
                    }
                    Value::Array(items)
                }
                Value::Object(m) if !m.is_empty() && rng.u8(..4) != 0 => {
                    let mut entries: Vec<(String, Value)> =
                        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    rng.shuffle(&mut entries);
                    let i = rng.usize(..entries.len());
                    entries[i].1 = variant(rng, &entries[i].1);
                    if rng.u8(..8) == 0 {
                        entries.pop();
                    }
                    Value::Object(entries.into_iter().collect())
                }
                Value::Number(n) if rng.bool() => {
                    // the same number written as a float, when it is a small integer
                    match n.as_i64() {
                        Some(i) if i.abs() < 1000 => p(&format!("{i}.0")),
                        _ => leaf(rng),
                    }
                }
                _ if rng.bool() => v.clone(),
                _ => leaf(rng),
            }
        }
        let mut rng = fastrand::Rng::with_seed(11);
        let (mut equal, mut different) = (0, 0);
        for _ in 0..4000 {
            let old = value(&mut rng, 4);
            let new = variant(&mut rng, &old);
            for text in [dumps_indent(&old, 1), dumps(&old)] {
                let want = semantic_eq(&p(&text), &new);
                assert_eq!(text_semantic_eq(&text, &new), Ok(want), "{text} vs {new}");
                if want {
                    equal += 1;
                } else {
                    different += 1;
                }
            }
        }
        // both outcomes are exercised
        assert!(
            equal > 1000 && different > 1000,
            "{equal} equal, {different} different"
        );
    }

    #[test]
    fn strings_and_numbers_match_python() {
        // expected texts from Python 3.11 json.dumps
        let s = "a\"b\\c\nd\u{1}\u{e9}\u{20ac}\u{1F600}\u{7f}~\t\r\u{8}\u{c}\u{1f} end";
        let mut out = String::new();
        write_string(&mut out, s, true);
        assert_eq!(
            out,
            r#""a\"b\\c\nd\u0001\u00e9\u20ac\ud83d\ude00\u007f~\t\r\b\f\u001f end""#
        );
        out.clear();
        write_string(&mut out, s, false);
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\nd\\u0001\u{e9}\u{20ac}\u{1F600}\u{7f}~\\t\\r\\b\\f\\u001f end\""
        );
        let v: Value = serde_json::from_str(
            r#"{"n": [1, -0, 1.0, 1e20, -0.0, 12345678901234567890123, 1.5e-7]}"#,
        )
        .unwrap();
        assert_eq!(
            dumps(&v),
            r#"{"n": [1, 0, 1.0, 1e+20, -0.0, 12345678901234567890123, 1.5e-07]}"#
        );
    }

    #[test]
    fn indent_one_matches_python() {
        let v = p(r#"{"a":[1,2],"b":{},"c":"é","d":1.0,"e":null}"#);
        assert_eq!(
            dumps_indent(&v, 1),
            "{\n \"a\": [\n  1,\n  2\n ],\n \"b\": {},\n \"c\": \"\\u00e9\",\n \"d\": 1.0,\n \"e\": null\n}"
        );
    }

    #[test]
    fn compact_matches_python() {
        assert_eq!(
            dumps(&p(r#"{"a":[1,2],"b":null}"#)),
            r#"{"a": [1, 2], "b": null}"#
        );
        assert_eq!(
            dumps(&p(r#"[1,"é",{"b":2,"a":null}]"#)),
            r#"[1, "\u00e9", {"b": 2, "a": null}]"#
        );
        assert_eq!(dumps(&json!("a/b\u{7f}\u{1}")), r#""a/b\u007f\u0001""#);
        assert_eq!(dumps(&json!("😀")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn float_repr_matches_python() {
        for (src, want) in [
            ("1.0", "1.0"),
            ("1.5", "1.5"),
            ("1e2", "100.0"),
            ("1e20", "1e+20"),
            ("1e-5", "1e-05"),
            ("0.0001", "0.0001"),
            ("1e16", "1e+16"),
            ("1e15", "1000000000000000.0"),
            ("123456789012345678901.0", "1.2345678901234568e+20"),
            ("-0.0", "-0.0"),
            ("0.1", "0.1"),
            ("1e400", "Infinity"),
            ("-2.5e-7", "-2.5e-07"),
        ] {
            assert_eq!(
                number_repr(&p(src).as_number().unwrap().clone()),
                want,
                "{src}"
            );
        }
        assert_eq!(
            number_repr(p("12345678901234567890").as_number().unwrap()),
            "12345678901234567890"
        );
        assert_eq!(number_repr(p("-0").as_number().unwrap()), "0");
    }

    #[test]
    fn truthiness() {
        for falsy in [
            "null", "false", "0", "0.0", "-0.0", "\"\"", "[]", "{}", "-0",
        ] {
            assert!(!truthy(&p(falsy)), "{falsy}");
        }
        for t in [
            "\"0\"",
            "\"false\"",
            "1",
            "0.5",
            "[0]",
            "{\"a\":null}",
            "true",
            "10",
        ] {
            assert!(truthy(&p(t)), "{t}");
        }
    }

    #[test]
    fn python_str_forms() {
        assert_eq!(py_str(&json!(5)), "5");
        assert_eq!(py_str(&p("1.5")), "1.5");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(false)), "False");
        assert_eq!(py_str(&Value::Null), "None");
        assert_eq!(py_str(&p(r#"{"a": 1}"#)), "{'a': 1}");
        assert_eq!(py_str(&p(r#"["a", 1]"#)), "['a', 1]");
        assert_eq!(
            py_str(&p(r#"{"url": "sqlite:///blah"}"#)),
            "{'url': 'sqlite:///blah'}"
        );
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_repr(&json!("a'b\"c")), "'a\\'b\"c'");
        assert_eq!(py_repr(&json!("é\u{a0}\n")), "'é\\xa0\\n'");
    }

    #[test]
    fn order_and_duplicates_like_python() {
        let v = p(r#"{"b":1,"a":2,"b":3}"#);
        assert_eq!(dumps(&v), r#"{"b": 3, "a": 2}"#);
    }

    #[test]
    fn semantic_equality() {
        assert!(semantic_eq(&p(r#"{"a":1,"b":2}"#), &p(r#"{"b":2,"a":1}"#)));
        assert!(semantic_eq(&p("1"), &p("1.0")));
        assert!(semantic_eq(&p("1.0"), &p("1.00")));
        assert!(!semantic_eq(&p("1"), &p("true")));
        assert!(!semantic_eq(&p("[1,2]"), &p("[2,1]")));
    }

    #[test]
    fn sort_keys_indent_four() {
        let v = p(r#"{"b":1,"a":{"d":[],"c":2}}"#);
        let s = dumps_with(
            &v,
            DumpOptions {
                indent: Some(4),
                sort_keys: true,
                ensure_ascii: true,
            },
        );
        assert_eq!(
            s,
            "{\n    \"a\": {\n        \"c\": 2,\n        \"d\": []\n    },\n    \"b\": 1\n}"
        );
    }

    #[test]
    fn loads_accepts_what_python_accepts_and_dumps_writes_it_back() {
        // expected texts from Python 3.11: json.dumps(json.loads(text))
        for (text, want) in [
            ("[NaN, Infinity, -Infinity]", "[NaN, Infinity, -Infinity]"),
            (
                "[1e400, -1E400, 1e-400, 1.5e+3]",
                "[Infinity, -Infinity, 0.0, 1500.0]",
            ),
            (r#"{"a": 1e400}"#, r#"{"a": Infinity}"#),
            (r#""\ud83d\ude00 \u00e9""#, r#""\ud83d\ude00 \u00e9""#),
            (" \t\n[1 , 2 ]\r\n", "[1, 2]"),
            (r#"{"b":1,"a":2,"b":3}"#, r#"{"b": 3, "a": 2}"#),
            ("-0", "0"),
            ("-0.0e-99999999999999999999", "-0.0"),
            (r#""\/\b\f\n\r\t\"\\""#, r#""/\b\f\n\r\t\"\\""#),
        ] {
            let v = loads(text, "t").unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(dumps(&v), want, "{text}");
            // and what was written reads back the same
            let again = loads(&dumps(&v), "t").unwrap();
            assert_eq!(dumps(&again), want, "{text}");
        }
        // lone surrogates become U+FFFD (documented deviation: Python keeps them)
        assert_eq!(
            loads(r#""a\ud800b\udc00c\ud800\u0041""#, "t").unwrap(),
            json!("a\u{fffd}b\u{fffd}c\u{fffd}A")
        );
    }

    #[test]
    fn non_finite_numbers_behave_as_python_floats() {
        let v = loads("[NaN, Infinity, -Infinity, 1e400]", "t").unwrap();
        let n: Vec<&Number> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_number().unwrap())
            .collect();
        assert!(number_f64(n[0]).is_nan());
        assert_eq!(number_f64(n[1]), f64::INFINITY);
        assert_eq!(number_f64(n[2]), f64::NEG_INFINITY);
        assert_eq!(number_f64(n[3]), f64::INFINITY);
        assert!(n.iter().all(|x| is_float(x)));
        assert_eq!(py_str(&v), "[nan, inf, -inf, inf]");
        assert!(truthy(&v[0]) && truthy(&v[1]));
        assert!(semantic_eq(
            &v,
            &loads("[NaN, 1e999, -1e999, Infinity]", "t").unwrap()
        ));
        // the agent's own typed files (written by serde_json) read back unchanged
        let text = serde_json::to_string(&v).unwrap();
        let back: Value = from_str(&text).unwrap();
        assert_eq!(dumps(&back), "[NaN, Infinity, -Infinity, Infinity]");
        #[derive(serde::Deserialize)]
        struct Rec {
            payload: Value,
        }
        let rec: Rec = from_str(&format!("{{\"payload\": {text}}}")).unwrap();
        assert_eq!(dumps(&rec.payload), "[NaN, Infinity, -Infinity, Infinity]");
    }

    #[test]
    fn loads_errors_are_one_line_like_pythons() {
        for (text, want) in [
            ("", "Expecting value: line 1 column 1 (char 0)"),
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            (
                "{\"a\" 1}",
                "Expecting ':' delimiter: line 1 column 6 (char 5)",
            ),
            (
                "{1: 2}",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            ("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
            ("[1]\n x", "Extra data: line 2 column 2 (char 5)"),
            (
                "\"a\nb\"",
                "Invalid control character at: line 1 column 3 (char 2)",
            ),
            (
                "\"ab",
                "Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            ("\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)"),
            (
                "\"\\u12\"",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            ("nan", "Expecting value: line 1 column 1 (char 0)"),
            ("-NaN", "Expecting value: line 1 column 1 (char 0)"),
            ("1.", "Extra data: line 1 column 2 (char 1)"),
            ("01", "Extra data: line 1 column 2 (char 1)"),
            (
                "\u{feff}{}",
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
            ),
        ] {
            let e = loads(text, "f.json").unwrap_err();
            assert_eq!(e, format!("f.json is not valid JSON ({want})"), "{text:?}");
        }
        // a BOM is fine in bytes, as json.loads(bytes) decodes utf-8-sig
        assert_eq!(loads_bytes(b"\xef\xbb\xbf{}", "b").unwrap(), json!({}));
        // nesting: Python's recursion limit, and no stack overflow beyond it
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(loads(&deep(MAX_DEPTH), "t").is_ok());
        let e = loads(&deep(MAX_DEPTH + 1), "t").unwrap_err();
        assert!(e.contains("maximum recursion depth exceeded"), "{e}");
        assert!(loads(&deep(1_000_000), "t").is_err());
    }

    /// Found by the fuzzer: a 1,000-deep value through serde_json's Value deserializer
    /// overflowed a daemon thread's 2 MiB stack. Typed reads keep serde_json's bound.
    #[test]
    fn typed_reads_of_deep_documents_end_in_an_error_not_an_overflow() {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let deep = format!("{}NaN{}", "[".repeat(900), "]".repeat(900));
                assert!(loads(&deep, "t").is_ok());
                let e = from_str::<Value>(&deep).unwrap_err();
                assert!(e.contains("recursion limit"), "{e}");
                let shallow = format!("{}NaN{}", "[".repeat(100), "]".repeat(100));
                assert!(from_str::<Value>(&shallow).is_ok());
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
