//! Mustache exactly as os-apply-config configures pystache 0.6
//! (docs/compatibility.md, "Rendering (mustache)"):
//! no HTML escaping, missing names render empty, non-string values as Python compact JSON,
//! Python truthiness for sections, only maps hold names on the context stack, partials from the
//! current directory as `<name>.mustache`.
//!
//! The tag scanner uses the same regular expression as pystache's parser (leftmost-first
//! semantics are identical in the `regex` crate), so odd inputs such as `{{}}`, `{{{x}}` or
//! tags spanning lines split exactly where the reference splits them.

use crate::pyjson;
use regex::Regex;
use serde_json::Value;
use std::path::Path;

/// One parsed element of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    /// `{{x}}`, `{{{x}}}` and `{{&x}}`: all the same without escaping.
    Var(String),
    Section(String, Vec<Node>),
    Inverted(String, Vec<Node>),
    /// Name and the indentation of a standalone partial tag.
    Partial(String, String),
}

/// A parse or render failure; the text is what the reference logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Where `{{>name}}` comes from.
pub trait Partials {
    /// `Ok(None)` when there is no such partial (it renders as "").
    fn load(&self, name: &str) -> Result<Option<String>, Error>;
}

/// pystache's default: `./<name>.mustache` relative to the process's working directory.
pub struct CwdPartials;

impl Partials for CwdPartials {
    fn load(&self, name: &str) -> Result<Option<String>, Error> {
        let path = Path::new(".").join(format!("{name}.mustache"));
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| Error(format!("cannot read partial {}: {e}", path.display())))?;
        // pystache decodes partials strictly and does not translate newlines in them.
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| Error(format!("partial {} is not UTF-8: {e}", path.display())))
    }
}

/// No partials at all (every `{{>x}}` renders as "").
pub struct NoPartials;

impl Partials for NoPartials {
    fn load(&self, _name: &str) -> Result<Option<String>, Error> {
        Ok(None)
    }
}

/// Python's `\s` also matches U+001C..U+001F, Rust's does not.
const WS: &str = r"[\s\x1C-\x1F]";

/// pystache's tag pattern, kept as the reference for [`TagScanner`]: it is used when a tag is
/// too odd for the scanner's step budget, and the tests check the scanner against it.
fn tag_regex(open: &str, close: &str) -> Result<Regex, Error> {
    let pattern = format!(
        r"(?P<ws>[ \t]*){o}{ws}*(?:(?P<change>=){ws}*(?P<delims>.+?){ws}*=|(?P<raw>\{{){ws}*(?P<raw_name>.+?){ws}*\}}|(?P<tag>[!>&/#^]?){ws}*(?P<tag_key>(?s:.)+?)){ws}*{c}",
        o = regex::escape(open),
        c = regex::escape(close),
        ws = WS,
    );
    Regex::new(&pattern).map_err(|e| Error(format!("bad delimiters {open} {close}: {e}")))
}

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// One tag found by the scanner: byte offsets into the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TagMatch {
    /// The whole match, leading spaces included.
    start: usize,
    end: usize,
    /// Length of the leading `[ \t]*`.
    ws_len: usize,
    /// `=` (delimiter change), `&` (triple mustache or `&`), a sigil from `!>/#^`, or 0.
    tag_type: u8,
    key: (usize, usize),
}

/// Finds tags exactly where pystache's regular expression ([`tag_regex`]) matches them, with
/// plain string search: the expression's leftmost-first backtracking order is replayed by
/// hand (greedy `\s*`, lazy `.+?`), which for ordinary templates is a few comparisons per tag.
/// Pathological input that would need many steps is handed to the regular expression.
struct TagScanner {
    open: String,
    close: String,
    regex: Option<Regex>,
}

/// Backtracking steps the scanner may take for one tag before deferring to the regex.
const SCAN_BUDGET: usize = 4096;

impl TagScanner {
    fn new(open: &str, close: &str) -> TagScanner {
        TagScanner {
            open: open.to_string(),
            close: close.to_string(),
            regex: None,
        }
    }

    /// The next tag at or after `from`.
    fn find(&mut self, text: &str, from: usize) -> Result<Option<TagMatch>, Error> {
        let mut search = from;
        let mut budget = SCAN_BUDGET;
        while let Some(i) = text[search..].find(self.open.as_str()) {
            let q = search + i;
            match self.after_open(text, q + self.open.len(), &mut budget) {
                Step::Match(end, tag_type, key) => {
                    let ws_len = text.as_bytes()[from..q]
                        .iter()
                        .rev()
                        .take_while(|b| matches!(b, b' ' | b'\t'))
                        .count();
                    return Ok(Some(TagMatch {
                        start: q - ws_len,
                        end,
                        ws_len,
                        tag_type,
                        key,
                    }));
                }
                Step::NoMatch => {}
                Step::NoCloseAfter => return Ok(None),
                Step::OverBudget => return self.find_with_regex(text, from),
            }
            search = q + text[q..].chars().next().map_or(1, char::len_utf8);
        }
        Ok(None)
    }

    fn find_with_regex(&mut self, text: &str, from: usize) -> Result<Option<TagMatch>, Error> {
        if self.regex.is_none() {
            self.regex = Some(tag_regex(&self.open, &self.close)?);
        }
        let re = self.regex.as_ref().expect("compiled above");
        let Some(caps) = re.captures_at(text, from) else {
            return Ok(None);
        };
        let whole = caps.get(0).expect("group 0 always matches");
        let span = |name: &str| caps.name(name).map_or((0, 0), |m| (m.start(), m.end()));
        let (tag_type, key) = if caps.name("change").is_some() {
            (b'=', span("delims"))
        } else if caps.name("raw").is_some() {
            (b'&', span("raw_name"))
        } else {
            let t = caps.name("tag").map_or("", |m| m.as_str());
            (t.as_bytes().first().copied().unwrap_or(0), span("tag_key"))
        };
        Ok(Some(TagMatch {
            start: whole.start(),
            end: whole.end(),
            ws_len: caps.name("ws").map_or(0, |m| m.len()),
            tag_type,
            key,
        }))
    }

    /// The rest of the pattern after the opening delimiter (which ends at `a`).
    fn after_open(&self, text: &str, a: usize, budget: &mut usize) -> Step {
        if !text[a..].contains(self.close.as_str()) {
            // every alternative ends with the closing delimiter: no later tag can match either
            return Step::NoCloseAfter;
        }
        let stops = ws_stops(text, a);
        // greedy `\s*`: the longest run first
        for &b in stops.iter().rev() {
            let next = text.as_bytes().get(b).copied();
            if next == Some(b'=') {
                match self.delimited(text, b + 1, b'=', budget) {
                    Step::NoMatch => {}
                    Step::Match(end, _, key) => return Step::Match(end, b'=', key),
                    other => return other,
                }
            }
            if next == Some(b'{') {
                match self.delimited(text, b + 1, b'}', budget) {
                    Step::NoMatch => {}
                    Step::Match(end, _, key) => return Step::Match(end, b'&', key),
                    other => return other,
                }
            }
            match self.plain_tag(text, b, budget) {
                Step::NoMatch => {}
                other => return other,
            }
        }
        Step::NoMatch
    }

    /// `\s*(.+?)\s*<term>\s*<close>` from `x`: the change-delimiter and raw alternatives.
    fn delimited(&self, text: &str, x: usize, term: u8, budget: &mut usize) -> Step {
        let stops = ws_stops(text, x);
        for &d0 in stops.iter().rev() {
            // lazy `.+?`: one more character at a time, never across a newline
            for (i, c) in text[d0..].char_indices() {
                if c == '\n' {
                    break;
                }
                if *budget == 0 {
                    return Step::OverBudget;
                }
                *budget -= 1;
                let e = d0 + i + c.len_utf8();
                let f = skip_ws(text, e);
                if text.as_bytes().get(f) == Some(&term) {
                    let g = skip_ws(text, f + 1);
                    if text[g..].starts_with(self.close.as_str()) {
                        return Step::Match(g + self.close.len(), 0, (d0, e));
                    }
                }
            }
        }
        Step::NoMatch
    }

    /// `([!>&/#^]?)\s*((?s:.)+?)\s*<close>` from `b`.
    fn plain_tag(&self, text: &str, b: usize, budget: &mut usize) -> Step {
        let sigil = text
            .as_bytes()
            .get(b)
            .copied()
            .filter(|c| b"!>&/#^".contains(c));
        let options: &[(u8, usize)] = match sigil {
            Some(s) => &[(s, 1), (0, 0)],
            None => &[(0, 0)],
        };
        for &(tag_type, skip) in options {
            let stops = ws_stops(text, b + skip);
            for &c in stops.iter().rev() {
                if *budget == 0 {
                    return Step::OverBudget;
                }
                *budget -= 1;
                let Some(first) = text[c..].chars().next() else {
                    continue;
                };
                let min_end = c + first.len_utf8();
                // lazy key: the first closing delimiter it can reach, through trailing spaces
                let Some(z) = text[min_end..]
                    .find(self.close.as_str())
                    .map(|i| min_end + i)
                else {
                    continue;
                };
                let run = text[min_end..z]
                    .char_indices()
                    .rev()
                    .take_while(|(_, ch)| is_py_space(*ch))
                    .last()
                    .map_or(z, |(i, _)| min_end + i);
                return Step::Match(z + self.close.len(), tag_type, (c, run));
            }
        }
        Step::NoMatch
    }
}

enum Step {
    /// End of the match, tag type, key span.
    Match(usize, u8, (usize, usize)),
    NoMatch,
    NoCloseAfter,
    OverBudget,
}

/// Every position `\s*` can stop at from `from`: `from` itself, then after each whitespace
/// character of the run.
fn ws_stops(text: &str, from: usize) -> Vec<usize> {
    let mut stops = vec![from];
    for (i, c) in text[from..].char_indices() {
        if !is_py_space(c) {
            break;
        }
        stops.push(from + i + c.len_utf8());
    }
    stops
}

fn skip_ws(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|(_, c)| !is_py_space(*c))
        .map_or(text.len(), |(i, _)| from + i)
}

/// Parse a template the way pystache's `_Parser.parse` does (non-raising on unclosed sections).
pub fn parse(template: &str) -> Result<Vec<Node>, Error> {
    let bytes = template.as_bytes();
    let len = template.len();
    let mut scanner = TagScanner::new("{{", "}}");
    let mut start = 0usize;
    // (tag type, enclosing section key, enclosing node list)
    let mut states: Vec<(u8, Option<String>, Vec<Node>)> = Vec::new();
    let mut section_key: Option<String> = None;
    let mut cur: Vec<Node> = Vec::new();
    while let Some(tag) = scanner.find(template, start)? {
        let mut match_index = tag.start;
        let mut end_index = tag.end;
        let tag_type = tag.tag_type;
        let tag_key = &template[tag.key.0..tag.key.1];
        let mut leading = &template[tag.start..tag.start + tag.ws_len];
        let begins_line = match_index == 0 || matches!(bytes[match_index - 1], b'\r' | b'\n');
        let ends_line = end_index == len || matches!(bytes[end_index], b'\r' | b'\n');
        let interpolating = tag_type == 0 || tag_type == b'&';
        if begins_line && ends_line && !interpolating {
            if end_index < len && bytes[end_index] == b'\r' {
                end_index += 1;
            }
            if end_index < len && bytes[end_index] == b'\n' {
                end_index += 1;
            }
        } else if !leading.is_empty() {
            match_index += leading.len();
            leading = "";
        }
        if start != match_index {
            cur.push(Node::Text(template[start..match_index].to_string()));
        }
        start = end_index;
        match tag_type {
            b'#' | b'^' => {
                if states.len() >= MAX_SECTION_DEPTH {
                    // pystache would hit Python's recursion limit while rendering
                    return Err(Error(format!(
                        "sections nested deeper than {MAX_SECTION_DEPTH} levels"
                    )));
                }
                states.push((tag_type, section_key.take(), std::mem::take(&mut cur)));
                section_key = Some(tag_key.to_string());
            }
            b'/' => {
                if section_key.as_deref() != Some(tag_key) {
                    let position = template[..start].chars().count();
                    let expected = match &section_key {
                        Some(k) => format!("/{k}"),
                        None => format!("#{tag_key}"),
                    };
                    return Err(Error(format!(
                        "Section end tag mismatch at position {position}. Found {{{{/{tag_key}}}}}, expected {{{{{expected}}}}}"
                    )));
                }
                let body = std::mem::take(&mut cur);
                let (kind, outer_key, outer) =
                    states.pop().expect("a section key implies an open section");
                cur = outer;
                section_key = outer_key;
                let key = tag_key.to_string();
                cur.push(if kind == b'#' {
                    Node::Section(key, body)
                } else {
                    Node::Inverted(key, body)
                });
            }
            b'!' => {}
            b'=' => {
                let parts: Vec<&str> = tag_key
                    .split(is_py_space)
                    .filter(|s| !s.is_empty())
                    .collect();
                if parts.len() < 2 {
                    return Err(Error(format!("invalid delimiter tag {{{{={tag_key}=}}}}")));
                }
                scanner = TagScanner::new(parts[0], parts[1]);
            }
            b'>' => cur.push(Node::Partial(tag_key.to_string(), leading.to_string())),
            _ => cur.push(Node::Var(tag_key.to_string())),
        }
    }
    // Unclosed sections are not an error in pystache: the innermost open section's body is
    // what the parser returns (the text before it is dropped). Copied on purpose (W-A7).
    if start != len {
        cur.push(Node::Text(template[start..].to_string()));
    }
    Ok(cur)
}

/// Resolve a name against the context stack (pystache `ContextStack.get`).
fn lookup<'a>(stack: &[&'a Value], name: &str) -> Option<&'a Value> {
    if name == "." {
        return stack.last().copied();
    }
    let mut parts = name.split('.');
    let first = parts.next().unwrap_or("");
    let mut result = stack.iter().rev().find_map(|item| match item {
        Value::Object(m) => m.get(first),
        _ => None,
    })?;
    for part in parts {
        result = match result {
            Value::Object(m) => m.get(part)?,
            _ => return None,
        };
    }
    Some(result)
}

/// The text a value interpolates as (the reference's `str_coerce`).
pub fn value_text(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // an integer's source text is its Python text (except "-0"): no allocation
        Value::Number(n) if !n.as_str().contains(['.', 'e', 'E']) && n.as_str() != "-0" => {
            out.push_str(n.as_str())
        }
        other => out.push_str(&pyjson::dumps(other)),
    }
}

const MAX_PARTIAL_DEPTH: usize = 64;
/// Deepest section nesting accepted (rendering recurses once per level).
const MAX_SECTION_DEPTH: usize = 256;

/// The most nodes one rendering visits (sections repeat their body per item): a few nested
/// sections over long lists grow exponentially, and pystache would run as long (at roughly a
/// microsecond a node, this bound is seconds of pystache). Real templates visit thousands.
pub const MAX_RENDER_STEPS: u64 = 4_000_000;
/// The largest text one rendering produces (as executable templates' output).
pub const MAX_RENDER_OUTPUT: usize = 256 << 20;

struct Renderer<'p> {
    partials: &'p dyn Partials,
    depth: usize,
    steps: u64,
    max_steps: u64,
}

impl Renderer<'_> {
    fn render(
        &mut self,
        nodes: &[Node],
        stack: &mut Vec<&Value>,
        out: &mut String,
    ) -> Result<(), Error> {
        for node in nodes {
            self.steps += 1;
            if self.steps > self.max_steps || out.len() > MAX_RENDER_OUTPUT {
                return Err(Error(format!(
                    "rendering takes more than {} steps or {} MiB (sections over long lists nested too deep?)",
                    self.max_steps,
                    MAX_RENDER_OUTPUT >> 20
                )));
            }
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Var(name) => {
                    if let Some(v) = lookup(stack, name) {
                        value_text(out, v);
                    }
                }
                Node::Section(name, body) => {
                    let Some(v) = lookup(stack, name) else {
                        continue;
                    };
                    if !pyjson::truthy(v) {
                        continue;
                    }
                    match v {
                        Value::Array(items) => {
                            for item in items {
                                stack.push(item);
                                let r = self.render(body, stack, out);
                                stack.pop();
                                r?;
                            }
                        }
                        other => {
                            stack.push(other);
                            let r = self.render(body, stack, out);
                            stack.pop();
                            r?;
                        }
                    }
                }
                Node::Inverted(name, body) => {
                    if !lookup(stack, name).is_some_and(pyjson::truthy) {
                        self.render(body, stack, out)?;
                    }
                }
                Node::Partial(name, indent) => {
                    let Some(text) = self.partials.load(name)? else {
                        continue;
                    };
                    if self.depth >= MAX_PARTIAL_DEPTH {
                        return Err(Error(format!(
                            "partial {name} nested deeper than {MAX_PARTIAL_DEPTH} levels"
                        )));
                    }
                    let text = if indent.is_empty() {
                        text
                    } else {
                        indent_lines(&text, indent)
                    };
                    let nodes = parse(&text)?;
                    self.depth += 1;
                    let r = self.render(&nodes, stack, out);
                    self.depth -= 1;
                    r?;
                }
            }
        }
        Ok(())
    }
}

/// pystache's `re.sub('^(.)', indent + r'\1', text, flags=re.M)`: indent every line that has a
/// first character other than `\n`.
fn indent_lines(text: &str, indent: &str) -> String {
    let mut out = String::with_capacity(text.len() + indent.len() * 4);
    let mut at_line_start = true;
    for c in text.chars() {
        if at_line_start && c != '\n' {
            out.push_str(indent);
        }
        out.push(c);
        at_line_start = c == '\n';
    }
    out
}

/// Render parsed nodes with `root` as the only context item.
pub fn render_nodes(
    nodes: &[Node],
    root: &Value,
    partials: &dyn Partials,
) -> Result<String, Error> {
    render_within(nodes, root, partials, MAX_RENDER_STEPS)
}

fn render_within(
    nodes: &[Node],
    root: &Value,
    partials: &dyn Partials,
    max_steps: u64,
) -> Result<String, Error> {
    let mut out = String::new();
    let mut stack = vec![root];
    Renderer {
        partials,
        depth: 0,
        steps: 0,
        max_steps,
    }
    .render(nodes, &mut stack, &mut out)?;
    Ok(out)
}

/// Parse and render a template string.
pub fn render(template: &str, root: &Value, partials: &dyn Partials) -> Result<String, Error> {
    render_nodes(&parse(template)?, root, partials)
}

/// Python's universal-newline read: `\r\n` and lone `\r` become `\n`.
pub fn universal_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn r(t: &str, v: &Value) -> String {
        render(t, v, &NoPartials).unwrap()
    }

    struct MapPartials(Vec<(&'static str, &'static str)>);
    impl Partials for MapPartials {
        fn load(&self, name: &str) -> Result<Option<String>, Error> {
            Ok(self
                .0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.to_string()))
        }
    }

    #[test]
    fn no_html_escaping() {
        let v = json!({"x": "a<b>&\"'"});
        assert_eq!(r("{{x}}|{{{x}}}|{{&x}}", &v), "a<b>&\"'|a<b>&\"'|a<b>&\"'");
    }

    #[test]
    fn scalars_as_python_json() {
        let v = p(r#"{"n":1,"f":1.5,"t":true,"fa":false,"z":0,"nul":null}"#);
        assert_eq!(
            r("{{n}}|{{f}}|{{t}}|{{fa}}|{{z}}|{{nul}}", &v),
            "1|1.5|true|false|0|"
        );
        let v = p(r#"{"big":12345678901234567890,"e":1e20,"small":1e-5,"ff":1.0}"#);
        assert_eq!(
            r("{{big}}|{{e}}|{{small}}|{{ff}}", &v),
            "12345678901234567890|1e+20|1e-05|1.0"
        );
        let v = p(r#"{"nz":-0,"neg":-12,"fz":-0.0,"E":2E3}"#);
        assert_eq!(r("{{nz}}|{{neg}}|{{fz}}|{{E}}", &v), "0|-12|-0.0|2000.0");
    }

    #[test]
    fn lists_and_maps_as_ascii_json_strings_raw() {
        let v = p(r#"{"l":[1,"é",{"b":2,"a":null}],"s":"é☃","a":{"b":{"c":"deep"}}}"#);
        assert_eq!(r("{{l}}", &v), r#"[1, "\u00e9", {"b": 2, "a": null}]"#);
        assert_eq!(r("{{s}}", &v), "é☃");
        assert_eq!(r("{{a.b}}", &v), r#"{"c": "deep"}"#);
        assert_eq!(r("{{l.0}}", &v), "");
    }

    #[test]
    fn context_stack_resolution() {
        let v = p(r#"{"top":"T","l":[{"k":1},{"k":2},{}]}"#);
        assert_eq!(r("{{#l}}<{{k}}|{{top}}>{{/l}}", &v), "<1|T><2|T><|T>");
        let v = p(r#"{"a":{"x":1},"b":{"c":"from-root"}}"#);
        assert_eq!(r("{{#a}}{{b.c}}{{/a}}", &v), "from-root");
        // the first map that contains the key wins, even with null
        let v = p(r#"{"k":"outer","m":{"k":null}}"#);
        assert_eq!(r("{{#m}}[{{k}}]{{/m}}", &v), "[]");
        // strings and lists on the stack hold no names
        let v = p(r#"{"k":"outer","s":"str"}"#);
        assert_eq!(r("{{#s}}{{k}}/{{.}}{{/s}}", &v), "outer/str");
    }

    #[test]
    fn truthiness_of_sections() {
        assert_eq!(
            r("{{#z}}zero{{/z}}{{^z}}notzero{{/z}}", &json!({"z": 0})),
            "notzero"
        );
        assert_eq!(r("{{#f}}F{{/f}}", &p(r#"{"f":0.0}"#)), "");
        assert_eq!(r("{{#d}}in{{/d}}", &json!({"d": {}})), "");
        assert_eq!(r("{{#s}}{{.}}{{/s}}", &json!({"s": "txt"})), "txt");
        assert_eq!(r("{{^missing}}yes{{/missing}}", &json!({})), "yes");
        assert_eq!(
            r(
                "{{#l}}[{{.}}]{{/l}}",
                &p(r#"{"l":[0,false,null,"",[],{}]}"#)
            ),
            "[0][false][][][[]][{}]"
        );
        assert_eq!(
            r(
                "{{#l}}{{#.}}[{{.}}]{{/.}}{{/l}}",
                &p(r#"{"l":[[1,2],[3]]}"#)
            ),
            "[1][2][3]"
        );
    }

    #[test]
    fn standalone_lines() {
        assert_eq!(
            r("a\n  {{#x}}\n  in\n  {{/x}}\nb\n", &json!({"x": true})),
            "a\n  in\nb\n"
        );
        // trailing spaces after the tag: not standalone
        assert_eq!(
            r("a\n{{#x}}  \nin\n{{/x}}\nb", &json!({"x": true})),
            "a\n  \nin\nb"
        );
        assert_eq!(r("a\n{{! comment }}\nb", &json!({})), "a\nb");
        assert_eq!(
            r("a\r\n{{#x}}\r\nb\r\n{{/x}}\r\n", &json!({"x": 1})),
            "a\r\nb\r\n"
        );
        // interpolation is never standalone
        assert_eq!(r("  {{x}}\n", &json!({"x": "v"})), "  v\n");
    }

    #[test]
    fn delimiters_and_literals() {
        assert_eq!(r("{{=<% %>=}}<% x %> {{x}}", &json!({"x": "X"})), "X {{x}}");
        assert_eq!(r("{{}}", &json!({})), "{{}}");
        assert_eq!(r("{{ x }}{{a b}}", &json!({"x": 1, "a b": 2})), "12");
        assert_eq!(
            r("{{.}}", &p(r#"{"a":[1],"b":"é"}"#)),
            r#"{"a": [1], "b": "\u00e9"}"#
        );
        assert_eq!(
            r(
                "{{os-collect-config.command}}",
                &json!({"os-collect-config": {"command": "c"}})
            ),
            "c"
        );
    }

    #[test]
    fn unclosed_section_and_mismatch() {
        assert_eq!(r("pre {{#x}}unclosed", &json!({})), "unclosed");
        let e = parse("{{/x}}").unwrap_err();
        assert_eq!(
            e.0,
            "Section end tag mismatch at position 6. Found {{/x}}, expected {{#x}}"
        );
        let e = parse("{{#foo}}bar={{bar}}{{/bar}}").unwrap_err();
        assert!(
            e.0.starts_with(
                "Section end tag mismatch at position 27. Found {{/bar}}, expected {{/foo}}"
            ),
            "{e}"
        );
    }

    #[test]
    fn absurd_nesting_is_an_error_not_a_crash() {
        let deep = "{{#a}}".repeat(10_000);
        assert!(parse(&deep).unwrap_err().0.contains("nested deeper"));
        let ok = "{{#a}}".repeat(100) + &"{{/a}}".repeat(100);
        let v = serde_json::json!({"a": {"a": 1}});
        assert_eq!(render(&ok, &v, &NoPartials).unwrap(), "");
    }

    #[test]
    fn partials_with_indentation() {
        let parts = MapPartials(vec![("ml", "multi\nline\n"), ("v", "<{{x}}>")]);
        assert_eq!(
            render("a\n  {{>ml}}\nb", &json!({}), &parts).unwrap(),
            "a\n  multi\n  line\nb"
        );
        assert_eq!(
            render("[{{>v}}] {{>none}}", &json!({"x": 1}), &parts).unwrap(),
            "[<1>] "
        );
        let rec = MapPartials(vec![("me", "{{>me}}")]);
        assert!(render("{{>me}}", &json!({}), &rec).is_err());
    }

    #[test]
    fn test_json_renderer() {
        // test_render_moustache, _bad_key, _none, test_json_renderer
        assert_eq!(r("ab{{x.a}}cd", &json!({"x": {"a": "123"}})), "ab123cd");
        assert_eq!(r("{{badkey}}", &json!({})), "");
        assert_eq!(r("foo: {{foo}}", &json!({"foo": null})), "foo: ");
        let ctx = p(r#"{"a":{"b":[1,2,3,"foo"],"c": "the quick brown fox"}}"#);
        assert_eq!(r("{{a.b}}", &ctx), r#"[1, 2, 3, "foo"]"#);
        assert_eq!(r("{{a.c}}", &ctx), "the quick brown fox");
    }

    /// The scanner must find exactly the tags pystache's regular expression finds.
    #[test]
    fn scanner_agrees_with_the_reference_pattern() {
        let alphabet: Vec<char> = "{{}}{}= \t\n#^/!>&ab.\r\u{1c}\u{a0}é<%>".chars().collect();
        let delimiters = [
            ("{{", "}}"),
            ("<%", "%>"),
            ("[", "]"),
            ("{", "}"),
            ("=", "="),
            ("ab", "a"),
            ("|", "||"),
        ];
        // one compiled pattern per delimiter pair (compiling is the slow part in debug builds)
        let mut oracles: Vec<TagScanner> = delimiters
            .iter()
            .map(|(o, c)| TagScanner::new(o, c))
            .collect();
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..60_000 {
            let (open, close) = delimiters[round % delimiters.len()];
            let oracle = &mut oracles[round % delimiters.len()];
            let len = rng.usize(0..32);
            let text: String = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            let mut scanner = TagScanner::new(open, close);
            let mut from = 0;
            loop {
                let got = scanner.find(&text, from).unwrap();
                let want = oracle.find_with_regex(&text, from).unwrap();
                assert_eq!(
                    got, want,
                    "text {text:?} from {from} delimiters {open} {close}"
                );
                match got {
                    Some(m) if m.end > from => from = m.end,
                    _ => break,
                }
            }
        }
    }

    #[test]
    fn scanner_hands_pathological_tags_to_the_pattern() {
        // a change-delimiter tag that never closes on its line: many backtracking steps
        let text = format!("{{{{={} }}}}", "x ".repeat(5000));
        let mut scanner = TagScanner::new("{{", "}}");
        let got = scanner.find(&text, 0).unwrap();
        assert!(scanner.regex.is_some(), "the budget was not exceeded");
        let want = TagScanner::new("{{", "}}")
            .find_with_regex(&text, 0)
            .unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn universal_newline_translation() {
        assert_eq!(universal_newlines("a\r\nb\rc\n".into()), "a\nb\nc\n");
    }

    #[test]
    fn exponential_sections_are_bounded() {
        let v = json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]});
        let bounded = |t: &str| render_within(&parse(t).unwrap(), &v, &NoPartials, 100_000);
        let t = format!("{}x{}", "{{#a}}".repeat(12), "{{/a}}".repeat(12));
        let e = bounded(&t).unwrap_err();
        assert!(e.0.contains("more than 100000 steps"), "{}", e.0);
        // with empty output too
        let t = format!("{}{}", "{{#a}}".repeat(12), "{{/a}}".repeat(12));
        assert!(bounded(&t).is_err());
        // ordinary nesting renders
        let t = format!("{}x{}", "{{#a}}".repeat(3), "{{/a}}".repeat(3));
        assert_eq!(bounded(&t).unwrap().len(), 1000);
    }
}
