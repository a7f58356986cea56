//! `yaml.safe_dump(value)` (PyYAML, `default_flow_style=False`) for JSON values: the text the
//! reference salt hook puts in `deploy_stdout`/`deploy_stderr`. Keys sorted, block style, and
//! PyYAML's choice of scalar style (plain, single- or double-quoted) and line folding at 80
//! columns, so the text is the reference's byte for byte.

use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;

pub fn safe_dump(value: &Value) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        open_ended: false,
        indent: None,
        indents: Vec::new(),
    };
    e.node(value, Ctx::Root);
    e.write_indent();
    if e.open_ended {
        e.write_indicator("...", true, false, false);
        e.write_indent();
    }
    e.out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    Sequence,
    /// A mapping value (block sequences in it are not indented).
    MappingValue,
    SimpleKey,
}

struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_space_or_break(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, '\0' | ' ' | '\t' | '\r') || is_break(c),
    }
}

/// PyYAML's `analyze_scalar` (allow_unicode=False).
struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut scan = ScalarScan::default();
    scan.mark_indicators(&chars);
    scan.mark_spaces_and_breaks(&chars);
    scan.verdict()
}

/// What `analyze_scalar` finds in a non-empty scalar, named as PyYAML names it.
#[derive(Default)]
struct ScalarScan {
    block_indicators: bool,
    flow_indicators: bool,
    line_breaks: bool,
    special_characters: bool,
    leading_space: bool,
    leading_break: bool,
    trailing_space: bool,
    trailing_break: bool,
    break_space: bool,
    space_break: bool,
}

impl ScalarScan {
    /// Document markers and the indicator characters that rule out a plain style.
    fn mark_indicators(&mut self, chars: &[char]) {
        let n = chars.len();
        if chars.starts_with(&['-'; 3]) || chars.starts_with(&['.'; 3]) {
            self.block_indicators = true;
            self.flow_indicators = true;
        }
        let mut preceded_ws = true;
        let mut followed_ws = n == 1 || is_space_or_break(chars.get(1).copied());
        for (i, &ch) in chars.iter().enumerate() {
            if i == 0 {
                if "#,[]{}&*!|>'\"%@`".contains(ch) {
                    self.flow_indicators = true;
                    self.block_indicators = true;
                }
                if ch == '?' || ch == ':' {
                    self.flow_indicators = true;
                    if followed_ws {
                        self.block_indicators = true;
                    }
                }
                if ch == '-' && followed_ws {
                    self.flow_indicators = true;
                    self.block_indicators = true;
                }
            } else {
                if ",?[]{}".contains(ch) {
                    self.flow_indicators = true;
                }
                if ch == ':' {
                    self.flow_indicators = true;
                    if followed_ws {
                        self.block_indicators = true;
                    }
                }
                if ch == '#' && preceded_ws {
                    self.flow_indicators = true;
                    self.block_indicators = true;
                }
            }
            preceded_ws = is_space_or_break(Some(ch));
            followed_ws = i + 2 >= n || is_space_or_break(chars.get(i + 2).copied());
        }
    }

    /// Line breaks, non-printable characters and where spaces and breaks stand.
    fn mark_spaces_and_breaks(&mut self, chars: &[char]) {
        let n = chars.len();
        let (mut prev_space, mut prev_break) = (false, false);
        for (i, &ch) in chars.iter().enumerate() {
            if is_break(ch) {
                self.line_breaks = true;
            }
            if !(ch == '\n' || ('\x20'..='\x7e').contains(&ch)) {
                // allow_unicode=False: every non-ASCII character is special
                self.special_characters = true;
            }
            if ch == ' ' {
                if i == 0 {
                    self.leading_space = true;
                }
                if i == n - 1 {
                    self.trailing_space = true;
                }
                if prev_break {
                    self.break_space = true;
                }
                prev_space = true;
                prev_break = false;
            } else if is_break(ch) {
                if i == 0 {
                    self.leading_break = true;
                }
                if i == n - 1 {
                    self.trailing_break = true;
                }
                if prev_space {
                    self.space_break = true;
                }
                prev_space = false;
                prev_break = true;
            } else {
                prev_space = false;
                prev_break = false;
            }
        }
    }

    /// The styles the findings allow.
    fn verdict(&self) -> Analysis {
        let (mut flow_plain, mut block_plain, mut single) = (true, true, true);
        if self.leading_space || self.leading_break || self.trailing_space || self.trailing_break {
            flow_plain = false;
            block_plain = false;
        }
        if self.break_space {
            flow_plain = false;
            block_plain = false;
            single = false;
        }
        if self.space_break || self.special_characters {
            flow_plain = false;
            block_plain = false;
            single = false;
        }
        if self.line_breaks {
            flow_plain = false;
            block_plain = false;
        }
        if self.flow_indicators {
            flow_plain = false;
        }
        if self.block_indicators {
            block_plain = false;
        }
        Analysis {
            empty: false,
            multiline: self.line_breaks,
            allow_flow_plain: flow_plain,
            allow_block_plain: block_plain,
            allow_single_quoted: single,
        }
    }
}

/// Whether PyYAML's resolver reads the plain text back as a str (YAML 1.1 implicit types).
/// Python's `$` also matches before a final newline: `(?:\n)?\z` here.
fn resolves_to_str(s: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        let alts = [
            // bool
            r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
            // float
            r"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            // int
            r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            // merge, null, value
            r"<<|~|null|Null|NULL|=",
            // timestamp
            r"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
        ];
        Regex::new(&format!(r"\A(?:{})\n?\z", alts.join("|"))).expect("static regex")
    });
    !s.is_empty() && !re.is_match(s)
}

impl Emitter {
    fn write(&mut self, s: &str) {
        self.column += s.chars().count();
        self.out.push_str(s);
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, whitespace: bool, indention: bool) {
        let data = if self.whitespace || !need_ws {
            ind.to_string()
        } else {
            format!(" {ind}")
        };
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
        self.open_ended = false;
        self.write(&data);
    }

    fn write_line_break(&mut self, br: Option<char>) {
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
        self.out.push(br.unwrap_or('\n'));
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break(None);
        }
        if self.column < indent {
            self.whitespace = true;
            let pad = " ".repeat(indent - self.column);
            self.write(&pad);
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        self.indent = match self.indent {
            None => Some(if flow { BEST_INDENT } else { 0 }),
            Some(i) if !indentless => Some(i + BEST_INDENT),
            same => same,
        };
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().flatten();
    }

    fn node(&mut self, v: &Value, ctx: Ctx) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.increase_indent(false, false);
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    self.write_indent();
                    let a = analyze(k);
                    // PyYAML counts the prepared tag (`!!str`) in a simple key's length
                    if k.chars().count() + 5 < 128 && !a.empty && !a.multiline {
                        self.scalar(k, resolves_to_str(k), Ctx::SimpleKey);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.scalar(k, resolves_to_str(k), Ctx::MappingValue);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(&m[k.as_str()], Ctx::MappingValue);
                }
                self.pop_indent();
            }
            Value::Array(a) if !a.is_empty() => {
                let indentless = ctx == Ctx::MappingValue && !self.indention;
                self.increase_indent(false, indentless);
                for item in a {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, Ctx::Sequence);
                }
                self.pop_indent();
            }
            Value::Object(_) => self.write_indicator("{}", true, false, false),
            Value::Array(_) => self.write_indicator("[]", true, false, false),
            Value::String(s) => self.scalar(s, resolves_to_str(s), ctx),
            Value::Null => self.scalar("null", true, ctx),
            Value::Bool(b) => self.scalar(if *b { "true" } else { "false" }, true, ctx),
            Value::Number(n) => {
                let text = crate::pyjson::number_repr(n);
                let text = match text.as_str() {
                    "NaN" => ".nan".to_string(),
                    "Infinity" => ".inf".to_string(),
                    "-Infinity" => "-.inf".to_string(),
                    t if crate::pyjson::is_float(n) => {
                        let t = t.to_lowercase();
                        if !t.contains('.') && t.contains('e') {
                            t.replacen('e', ".0e", 1)
                        } else {
                            t
                        }
                    }
                    t => t.to_string(),
                };
                self.scalar(&text, true, ctx)
            }
        }
    }

    /// `expect_scalar`: style choice, then the text at one more indent level.
    fn scalar(&mut self, s: &str, plain_implicit: bool, ctx: Ctx) {
        self.increase_indent(true, false);
        let a = analyze(s);
        let simple_key = ctx == Ctx::SimpleKey;
        let plain =
            plain_implicit && !(simple_key && (a.empty || a.multiline)) && a.allow_block_plain;
        let _ = a.allow_flow_plain; // block context only (flow collections are always empty)
        if plain {
            self.write_plain(s, ctx == Ctx::Root);
        } else if a.allow_single_quoted && !(simple_key && a.multiline) {
            self.write_single_quoted(s, !simple_key);
        } else {
            self.write_double_quoted(s, !simple_key);
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, text: &str, root: bool) {
        if root {
            self.open_ended = true;
        }
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > BEST_WIDTH {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.write(&data);
                    }
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                let data: String = chars[start..end].iter().collect();
                self.write(&data);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
            }
            end += 1;
        }
    }

    fn write_breaks(&mut self, chars: &[char]) {
        if chars.first() == Some(&'\n') {
            self.write_line_break(None);
        }
        for &br in chars {
            self.write_line_break(if br == '\n' { None } else { Some(br) });
        }
        self.write_indent();
    }

    fn write_single_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > BEST_WIDTH
                        && split
                        && start != 0
                        && end != chars.len()
                    {
                        self.write_indent();
                    } else {
                        let data: String = chars[start..end].iter().collect();
                        self.write(&data);
                    }
                    start = end;
                }
            } else if breaks {
                if ch.is_none_or(|c| !is_break(c)) {
                    let brs: Vec<char> = chars[start..end].to_vec();
                    self.write_breaks(&brs);
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || c == '\'' || is_break(c)) && start < end {
                let data: String = chars[start..end].iter().collect();
                self.write(&data);
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_double_quoted(&mut self, text: &str, split: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            let escape = match ch {
                None => true,
                Some(c) => {
                    matches!(
                        c,
                        '"' | '\\' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
                    ) || !('\x20'..='\x7e').contains(&c)
                }
            };
            if escape {
                if start < end {
                    let data: String = chars[start..end].iter().collect();
                    self.write(&data);
                    start = end;
                }
                if let Some(c) = ch {
                    let data = match c {
                        '\0' => "\\0".to_string(),
                        '\x07' => "\\a".to_string(),
                        '\x08' => "\\b".to_string(),
                        '\t' => "\\t".to_string(),
                        '\n' => "\\n".to_string(),
                        '\x0b' => "\\v".to_string(),
                        '\x0c' => "\\f".to_string(),
                        '\r' => "\\r".to_string(),
                        '\x1b' => "\\e".to_string(),
                        '"' => "\\\"".to_string(),
                        '\\' => "\\\\".to_string(),
                        '\u{85}' => "\\N".to_string(),
                        '\u{a0}' => "\\_".to_string(),
                        '\u{2028}' => "\\L".to_string(),
                        '\u{2029}' => "\\P".to_string(),
                        c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                        c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                        c => format!("\\U{:08X}", c as u32),
                    };
                    self.write(&data);
                    start = end + 1;
                }
            }
            if end > 0
                && end + 1 < chars.len()
                && (ch == Some(' ') || start >= end)
                && self.column + end.saturating_sub(start) > BEST_WIDTH
                && split
            {
                let mut data: String = chars[start.min(end)..end].iter().collect();
                data.push('\\');
                if start < end {
                    start = end;
                }
                self.write(&data);
                self.write_indent();
                self.whitespace = false;
                self.indention = false;
                if chars.get(start) == Some(&' ') {
                    self.write("\\");
                }
            }
            end += 1;
        }
        self.write_indicator("\"", false, false, false);
    }
}

#[cfg(test)]
mod tests {
    use super::safe_dump;
    use serde_json::json;

    // Expected texts are PyYAML 6's `yaml.safe_dump(v)` output.
    #[test]
    fn mappings_sequences_and_scalars() {
        assert_eq!(
            safe_dump(&json!({"b": 1, "a": [1, "x"]})),
            "a:\n- 1\n- x\nb: 1\n"
        );
        assert_eq!(
            safe_dump(&json!({"a": {}, "b": [], "c": null})),
            "a: {}\nb: []\nc: null\n"
        );
        assert_eq!(
            safe_dump(&json!(["a", ["b", "c"], {"d": 1, "e": 2}])),
            "- a\n- - b\n  - c\n- d: 1\n  e: 2\n"
        );
        assert_eq!(safe_dump(&json!("hello")), "hello\n...\n");
        assert_eq!(
            safe_dump(&json!({"x": {"y": {"z": true}}})),
            "x:\n  y:\n    z: true\n"
        );
    }

    #[test]
    fn scalar_styles() {
        assert_eq!(
            safe_dump(&json!({"t": "18:31:48.281280"})),
            "t: '18:31:48.281280'\n"
        );
        assert_eq!(
            safe_dump(&json!({"e": "", "n": "false", "i": "12", "y": "yes"})),
            "e: ''\ni: '12'\nn: 'false'\ny: 'yes'\n"
        );
        assert_eq!(
            safe_dump(&json!({"c": "Command \"echo hi\" run"})),
            "c: Command \"echo hi\" run\n"
        );
        assert_eq!(
            safe_dump(&json!({"t": "a\tb", "u": "é"})),
            "t: \"a\\tb\"\nu: \"\\xE9\"\n"
        );
        assert_eq!(
            safe_dump(&json!({"f": 1.5, "g": 1e20})),
            "f: 1.5\ng: 1.0e+20\n"
        );
        assert_eq!(
            safe_dump(&json!({"k": "a: b", "h": "#x", "d": "- x"})),
            "d: '- x'\nh: '#x'\nk: 'a: b'\n"
        );
    }

    #[test]
    fn long_and_multiline_scalars_are_folded_like_pyyaml() {
        let v = json!({"comment": "State 'test.echo' was not found in SLS 'fake_stack'\nReason: 'test.echo' is not available.\n"});
        assert_eq!(
            safe_dump(&v),
            "comment: 'State ''test.echo'' was not found in SLS ''fake_stack''\n\n  Reason: ''test.echo'' is not available.\n\n  '\n"
        );
        let v = json!({"long": "word ".repeat(30), "longq": "it's ".repeat(30), "longd": "tab\t ".repeat(30)});
        assert_eq!(
            safe_dump(&v),
            "long: 'word word word word word word word word word word word word word word word\n  word word word word word word word word word word word word word word word '\nlongd: \"tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t\\\n  \\ tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t tab\\t\\\n  \\ tab\\t tab\\t tab\\t tab\\t \"\nlongq: 'it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s\n  it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s it''s\n  it''s it''s it''s '\n"
        );
    }

    #[test]
    fn complex_keys_and_nesting() {
        let long = "k".repeat(130);
        let v = json!({long.clone(): 1, "": 2, "a\nb": 3});
        assert_eq!(
            safe_dump(&v),
            format!("? ''\n: 2\n? 'a\n\n  b'\n: 3\n? {long}\n: 1\n")
        );
        assert_eq!(
            safe_dump(&json!({"x": [{"a": [1, 2]}]})),
            "x:\n- a:\n  - 1\n  - 2\n"
        );
        assert_eq!(safe_dump(&json!("-")), "'-'\n");
        // the `!!str` tag counts: 122 characters are a simple key, 123 are not
        assert!(safe_dump(&json!({"a".repeat(122): 1})).starts_with("aaa"));
        assert!(safe_dump(&json!({"a".repeat(123): 1})).starts_with("? aaa"));
        assert_eq!(safe_dump(&json!("a b")), "a b\n...\n");
    }
}
