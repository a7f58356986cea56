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

/// Render `text` (named `name` in messages) with the metadata map `root` as the context.
pub fn render(name: &str, text: &str, root: &Value) -> Result<String, String> {
    let mut engine = tera::Tera::default();
    engine.autoescape_on(vec![]);
    engine.register_filter("to_json", to_json);
    engine.register_filter("py_str", py_str);
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
}
