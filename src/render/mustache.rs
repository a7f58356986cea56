//! Mustache exactly as os-apply-config configures pystache 0.6 (spec os-config-tools §3.8):
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
use std::sync::LazyLock;

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

fn tag_regex(open: &str, close: &str) -> Result<Regex, Error> {
    let pattern = format!(
        r"(?P<ws>[ \t]*){o}{ws}*(?:(?P<change>=){ws}*(?P<delims>.+?){ws}*=|(?P<raw>\{{){ws}*(?P<raw_name>.+?){ws}*\}}|(?P<tag>[!>&/#^]?){ws}*(?P<tag_key>(?s:.)+?)){ws}*{c}",
        o = regex::escape(open),
        c = regex::escape(close),
        ws = WS,
    );
    Regex::new(&pattern).map_err(|e| Error(format!("bad delimiters {open} {close}: {e}")))
}

static DEFAULT_TAG: LazyLock<Regex> =
    LazyLock::new(|| tag_regex("{{", "}}").expect("default mustache tag pattern compiles"));

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Parse a template the way pystache's `_Parser.parse` does (non-raising on unclosed sections).
pub fn parse(template: &str) -> Result<Vec<Node>, Error> {
    let bytes = template.as_bytes();
    let len = template.len();
    let mut custom: Option<Regex> = None;
    let mut start = 0usize;
    // (tag type, enclosing section key, enclosing node list)
    let mut states: Vec<(u8, Option<String>, Vec<Node>)> = Vec::new();
    let mut section_key: Option<String> = None;
    let mut cur: Vec<Node> = Vec::new();
    loop {
        let re = custom.as_ref().unwrap_or(&DEFAULT_TAG);
        let Some(caps) = re.captures_at(template, start) else {
            break;
        };
        let whole = caps.get(0).expect("group 0 always matches");
        let mut match_index = whole.start();
        let mut end_index = whole.end();
        let (tag_type, tag_key): (u8, &str) = if caps.name("change").is_some() {
            (b'=', caps.name("delims").map_or("", |m| m.as_str()))
        } else if caps.name("raw").is_some() {
            (b'&', caps.name("raw_name").map_or("", |m| m.as_str()))
        } else {
            let t = caps.name("tag").map_or("", |m| m.as_str());
            (
                t.as_bytes().first().copied().unwrap_or(0),
                caps.name("tag_key").map_or("", |m| m.as_str()),
            )
        };
        let mut leading = caps.name("ws").map_or("", |m| m.as_str());
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
                custom = Some(tag_regex(parts[0], parts[1])?);
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
        other => out.push_str(&pyjson::dumps(other)),
    }
}

const MAX_PARTIAL_DEPTH: usize = 64;
/// Deepest section nesting accepted (rendering recurses once per level).
const MAX_SECTION_DEPTH: usize = 256;

struct Renderer<'p> {
    partials: &'p dyn Partials,
    depth: usize,
}

impl Renderer<'_> {
    fn render(
        &mut self,
        nodes: &[Node],
        stack: &mut Vec<&Value>,
        out: &mut String,
    ) -> Result<(), Error> {
        for node in nodes {
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
    let mut out = String::new();
    let mut stack = vec![root];
    Renderer { partials, depth: 0 }.render(nodes, &mut stack, &mut out)?;
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

    #[test]
    fn universal_newline_translation() {
        assert_eq!(universal_newlines("a\r\nb\rc\n".into()), "a\nb\nc\n");
    }
}
