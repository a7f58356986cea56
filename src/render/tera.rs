//! Tera templates (`<name>.tera` in the template tree; written without the suffix).
//!
//! The context is the (sub-hashed) metadata map: every top-level key is a variable, and the
//! whole map is also `metadata` (unless it has such a key), for keys that are not
//! identifiers (`metadata["os-collect-config"]`). Undefined
//! variables are errors (tera's default), unlike mustache. Autoescaping is off. Besides tera's
//! built-in filters (without the optional `builtins` feature set: no date/slugify/urlencode/
//! filesizeformat, no random functions) there are:
//! - `to_json`: Python `json.dumps` text (what mustache prints for lists and maps);
//!   `to_json(indent=N)` for the indented form;
//! - `py_str`: Python `str()` of the value (`True`, `None`, `{'a': 1}`), as `--key` validates it.

use crate::pyjson;
use serde_json::Value;
use std::collections::HashMap;

fn to_json(value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = match args.get("indent").and_then(Value::as_u64) {
        Some(n) => pyjson::dumps_indent(value, n as usize),
        None => pyjson::dumps(value),
    };
    Ok(Value::String(text))
}

fn py_str(value: &Value, _args: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(pyjson::py_str(value)))
}

/// The deepest nesting of blocks (`if`, `for`, `macro`, `block`, `filter`) and of brackets and
/// `not`s within one tag: tera's parser and renderer recurse once per level, so 3,000 nested
/// `if`s overflowed the stack.
pub const MAX_NESTING: usize = 64;
/// The deepest chain of macro calls (a macro may call itself; without a bound, forever).
pub const MAX_MACRO_DEPTH: usize = 64;
/// The stack tera renders on: generous, as only what is used is ever touched.
const RENDER_STACK: usize = 64 << 20;

/// The name of the function counting macro calls (see [`instrument_macros`]).
const ENTER: &str = "__heat_agent_macro_enter";
const LEAVE: &str = "__heat_agent_macro_leave";

/// One `{{ }}` or `{% %}` tag of a tera source: its byte range and its words.
struct Tag<'t> {
    start: usize,
    end: usize,
    statement: bool,
    /// The text between the delimiters, without the `-` trim markers.
    inner: &'t str,
    trim_before: bool,
    trim_after: bool,
}

/// The tags of `text` in order, skipping comments and `raw` blocks; strings inside tags may
/// hold delimiters. Unterminated constructs end the list (tera reports them).
fn tags(text: &str) -> Vec<Tag<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_raw = false;
    while let Some(p) = text[i..].find('{') {
        let start = i + p;
        let kind = b.get(start + 1).copied();
        i = start + 1;
        if kind == Some(b'#') {
            match text[start + 2..].find("#}") {
                Some(e) => i = start + 2 + e + 2,
                None => break,
            }
            continue;
        }
        if kind != Some(b'{') && kind != Some(b'%') {
            continue;
        }
        let close = if kind == Some(b'{') { b'}' } else { b'%' };
        let mut j = start + 2;
        let mut quote = None;
        let mut end = None;
        while j + 1 < b.len() {
            match (quote, b[j]) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, c @ (b'"' | b'\'' | b'`')) => quote = Some(c),
                (None, c) if c == close && b[j + 1] == b'}' => {
                    end = Some(j + 2);
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let Some(end) = end else { break };
        let mut inner = &text[start + 2..end - 2];
        let trim_before = inner.starts_with('-');
        let trim_after = inner.ends_with('-');
        if trim_before {
            inner = &inner[1..];
        }
        if trim_after && !inner.is_empty() {
            inner = &inner[..inner.len() - 1];
        }
        let statement = close == b'%';
        let first = inner.split_whitespace().next().unwrap_or("");
        i = end;
        if in_raw {
            if statement && first == "endraw" {
                in_raw = false;
            }
            continue;
        }
        if statement && first == "raw" {
            in_raw = true;
            continue;
        }
        out.push(Tag {
            start,
            end,
            statement,
            inner,
            trim_before,
            trim_after,
        });
    }
    out
}

/// Refuse sources nested deeper than [`MAX_NESTING`] before tera's parser recurses into them.
fn check_nesting(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for tag in tags(text) {
        // brackets and `not`s nest within an expression
        let mut level = 0usize;
        let mut deepest = 0usize;
        let mut quote = None;
        for c in tag.inner.bytes() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, c @ (b'"' | b'\'' | b'`')) => quote = Some(c),
                (None, b'(' | b'[' | b'{') => level += 1,
                (None, b')' | b']' | b'}') => level = level.saturating_sub(1),
                _ => {}
            }
            deepest = deepest.max(level);
        }
        let nots = tag.inner.split_whitespace().filter(|w| *w == "not").count();
        if deepest + nots > MAX_NESTING {
            return Err(format!(
                "an expression nested deeper than {MAX_NESTING} levels at byte {}",
                tag.start
            ));
        }
        if !tag.statement {
            continue;
        }
        match tag.inner.split_whitespace().next().unwrap_or("") {
            "if" | "for" | "macro" | "block" | "filter" => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "blocks nested deeper than {MAX_NESTING} levels at byte {}",
                        tag.start
                    ));
                }
            }
            "endif" | "endfor" | "endmacro" | "endblock" | "endfilter" => {
                depth = depth.saturating_sub(1)
            }
            _ => {}
        }
    }
    Ok(())
}

/// `text` with each macro body bracketed by calls that count the macro depth. Both render
/// nothing, and each keeps the body's whitespace trimming (`-%}` / `{%-`) as it was.
fn instrument_macros(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for tag in tags(text) {
        if !tag.statement {
            continue;
        }
        match tag.inner.split_whitespace().next().unwrap_or("") {
            "macro" => {
                out.push_str(&text[copied..tag.end]);
                let trim = if tag.trim_after { "-" } else { "" };
                out.push_str(&format!("{{{{ {ENTER}() {trim}}}}}"));
                copied = tag.end;
            }
            "endmacro" => {
                out.push_str(&text[copied..tag.start]);
                let trim = if tag.trim_before { "-" } else { "" };
                out.push_str(&format!("{{{{{trim} {LEAVE}() }}}}"));
                copied = tag.start;
            }
            _ => {}
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Render `text` (named `name` in messages) with the metadata map `root` as the context.
pub fn render(name: &str, text: &str, root: &Value) -> Result<String, String> {
    check_nesting(text)?;
    let text = instrument_macros(text);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(RENDER_STACK)
            .spawn_scoped(scope, || render_here(name, &text, root))
            .map_err(|e| format!("cannot start the renderer: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("the renderer failed".into()))
    })
}

fn render_here(name: &str, text: &str, root: &Value) -> Result<String, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut engine = tera::Tera::default();
    engine.autoescape_on(vec![]);
    engine.register_filter("to_json", to_json);
    engine.register_filter("py_str", py_str);
    let depth = Arc::new(AtomicUsize::new(0));
    let d = depth.clone();
    engine.register_function(ENTER, move |_: &HashMap<String, Value>| {
        if d.fetch_add(1, Ordering::SeqCst) >= MAX_MACRO_DEPTH {
            return Err(tera::Error::msg(format!(
                "macros call each other deeper than {MAX_MACRO_DEPTH} levels"
            )));
        }
        Ok(Value::String(String::new()))
    });
    engine.register_function(LEAVE, move |_: &HashMap<String, Value>| {
        depth.fetch_sub(1, Ordering::SeqCst);
        Ok(Value::String(String::new()))
    });
    engine.add_raw_template(name, text).map_err(|e| chain(&e))?;
    let mut context = tera::Context::from_value(root.clone()).map_err(|e| chain(&e))?;
    // top-level keys with dashes are not tera identifiers: `metadata["os-collect-config"]`
    if root.get("metadata").is_none() {
        context.insert("metadata", root);
    }
    engine.render(name, &context).map_err(|e| chain(&e))
}

/// tera puts the useful part of an error in its source chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s = s.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = s_source(source);
    }
    text.replace('\n', " ")
}

fn s_source<'a>(
    e: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    e.and_then(|e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_with_metadata_context() {
        let v = json!({"a": {"b": [1, 2]}, "s": "x<y"});
        assert_eq!(
            render(
                "t",
                "{{ s }} {% for i in a.b %}{{ i }},{% endfor %} {{ a | to_json }}",
                &v
            )
            .unwrap(),
            "x<y 1,2, {\"b\": [1, 2]}"
        );
        assert_eq!(
            render("t", "{{ flag | py_str }}", &json!({"flag": true})).unwrap(),
            "True"
        );
    }

    #[test]
    fn metadata_variable_and_default_filter() {
        let v = json!({"os-collect-config": {"command": "c"}});
        assert_eq!(
            render(
                "t",
                r#"{{ metadata["os-collect-config"].command }}|{{ nope | default(value="d") }}"#,
                &v
            )
            .unwrap(),
            "c|d"
        );
        // a real `metadata` key is not shadowed
        assert_eq!(
            render("t", "{{ metadata }}", &json!({"metadata": "own"})).unwrap(),
            "own"
        );
    }

    #[test]
    fn undefined_is_an_error() {
        let e = render("etc/x.tera", "{{ nope }}", &json!({})).unwrap_err();
        assert!(e.contains("nope"), "{e}");
        assert!(render("t", "{% if %}", &json!({})).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let ifs = |n: usize| format!("{}x{}", "{% if true %}".repeat(n), "{% endif %}".repeat(n));
        assert_eq!(render("t", &ifs(MAX_NESTING), &json!({})).unwrap(), "x");
        let e = render("t", &ifs(3000), &json!({})).unwrap_err();
        assert!(e.contains("blocks nested deeper than 64 levels"), "{e}");
        let parens = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        assert_eq!(render("t", &parens(20), &json!({})).unwrap(), "1");
        let e = render("t", &parens(3000), &json!({})).unwrap_err();
        assert!(e.contains("expression nested deeper"), "{e}");
        let nots = format!("{{{{ {}true }}}}", "not ".repeat(3000));
        assert!(render("t", &nots, &json!({})).is_err());
        // delimiters in strings, comments and raw blocks are not tags
        let quiet = format!(
            "{{# {} #}}{{% raw %}}{}{{% endraw %}}{{{{ \"{}\" }}}}",
            "{% if x %}".repeat(100),
            "{% if x %}".repeat(100),
            "((((".repeat(100)
        );
        assert!(render("t", &quiet, &json!({})).is_ok());
    }

    #[test]
    fn macros_recurse_within_a_bound() {
        let countdown = "{% macro down(n) -%} {{ n }}{% if n > 0 %}{{ self::down(n=n-1) }}{% endif %} {%- endmacro down %}{{ self::down(n=start) }}";
        assert_eq!(
            render("t", countdown, &json!({"start": 3})).unwrap(),
            "3210"
        );
        let e = render("t", countdown, &json!({"start": 10_000})).unwrap_err();
        assert!(e.contains("deeper than 64 levels"), "{e}");
        let forever = "{% macro f() %}{{ self::f() }}{% endmacro f %}{{ self::f() }}";
        let e = render("t", forever, &json!({})).unwrap_err();
        assert!(e.contains("deeper than 64 levels"), "{e}");
        // the counting calls change no output, whitespace trimming included
        let ws = "{% macro m(a) %}\n [{{ a }}] \n{% endmacro m %}{% macro t(a) -%}\n [{{ a }}] \n{%- endmacro t %}<{{ self::m(a=1) }}|{{ self::t(a=2) }}>";
        assert_eq!(render("t", ws, &json!({})).unwrap(), "<\n [1] \n|[2]>");
    }
}
