//! Reading and merging the metadata files and dotted-key lookups
//! (docs/compatibility.md, "Command line and metadata selection").

use crate::pyjson;
use serde_json::{Map, Value};
use std::path::Path;

/// Deep merge of `new` into `base` (the reference's `_deep_merge_dict`): a key whose existing
/// value is a map merges recursively, anything else is replaced; lists are replaced; existing
/// keys keep their position, new keys are appended.
pub fn deep_merge(base: &mut Map<String, Value>, new: Map<String, Value>) {
    for (k, v) in new {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Merge parsed documents: falsy or non-map roots are ignored, later wins.
pub fn merge_configs(docs: impl IntoIterator<Item = Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for doc in docs {
        if let Value::Object(m) = doc {
            if !m.is_empty() {
                deep_merge(&mut out, m);
            }
        }
    }
    out
}

/// `collect_config(files, fallback)`: fallbacks first (lowest priority), empty names and
/// missing files skipped.
pub fn collect_config(files: &[String], fallback: &[String]) -> Result<Map<String, Value>, String> {
    let mut docs = Vec::new();
    for path in fallback.iter().chain(files) {
        if path.is_empty() || !Path::new(path).exists() {
            continue;
        }
        let text = std::fs::read(path)
            .map_err(|e| format!("Could not open {path} for reading. {e}"))
            .and_then(|b| {
                String::from_utf8(b).map_err(|e| format!("Could not open {path} for reading. {e}"))
            })?;
        let doc = pyjson::loads(&text, path)
            .map_err(|_| format!("Could not parse metadata file: {path}"))?;
        docs.push(doc);
    }
    Ok(merge_configs(docs))
}

/// `load_list_from_json`: a missing file is `[]`; anything but a list of strings is an error.
pub fn load_list_from_json(path: &str) -> Result<Vec<String>, String> {
    if !Path::new(path).exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let no_list = || format!("No list defined in json file: {path}");
    match pyjson::loads(&text, path) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(format!(
                    "{path}: entry {} is not a file name",
                    pyjson::dumps(&other)
                )),
            })
            .collect(),
        Ok(_) => Err(no_list()),
        Err(e) => Err(format!("{}: {e}", no_list())),
    }
}

/// Python `int(text)` for list indices: surrounding whitespace, a sign, `_` between digits.
fn py_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// `_extract_key`: walk a dotted key through maps and (by integer index, negative from the
/// end) lists. `None` when not found or when a map value on the way is null.
pub fn extract_key<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    let mut cur = config;
    for part in key.split('.') {
        match cur {
            Value::Object(m) => match m.get(part) {
                Some(Value::Null) | None => return None,
                Some(v) => cur = v,
            },
            Value::Array(items) => {
                let i = py_int(part)?;
                let idx = if i < 0 { items.len() as i64 + i } else { i };
                if idx < 0 {
                    return None;
                }
                cur = items.get(idx as usize)?;
            }
            _ => return None,
        }
    }
    if cur.is_null() {
        None
    } else {
        Some(cur)
    }
}

/// `strip_hash`: the sub-map at a dotted path; every step must be a map.
pub fn strip_hash(config: Map<String, Value>, keys: &str) -> Result<Map<String, Value>, String> {
    if keys.is_empty() {
        return Ok(config);
    }
    let mut cur = config;
    for k in keys.split('.') {
        match cur.remove(k) {
            Some(Value::Object(m)) => cur = m,
            _ => {
                return Err(format!(
                    "key '{keys}' does not correspond to a hash in the metadata file"
                ))
            }
        }
    }
    Ok(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Value {
        v
    }

    fn merged(docs: Vec<Value>) -> Value {
        Value::Object(merge_configs(docs))
    }

    #[test]
    fn test_merge_configs_noconflict() {
        assert_eq!(
            merged(vec![json!({"a": "1"}), json!({"b": "Y"})]),
            json!({"a": "1", "b": "Y"})
        );
    }

    #[test]
    fn test_merge_configs_conflict() {
        assert_eq!(
            merged(vec![json!({"a": "1"}), json!({"a": "Z"})]),
            json!({"a": "Z"})
        );
    }

    #[test]
    fn test_merge_configs_deep_conflict() {
        let r = merged(vec![
            json!({"a": "1"}),
            json!({"b": {"x": "foo-bar", "y": "tribbles"}}),
            json!({"b": {"x": "shazam"}}),
        ]);
        assert_eq!(r, json!({"a": "1", "b": {"x": "shazam", "y": "tribbles"}}));
        assert_eq!(
            pyjson::dumps(&r),
            r#"{"a": "1", "b": {"x": "shazam", "y": "tribbles"}}"#
        );
    }

    #[test]
    fn test_merge_configs_type_conflict() {
        assert_eq!(
            merged(vec![json!({"a": 1}), json!({"a": [7, 8, 9]})]),
            json!({"a": [7, 8, 9]})
        );
    }

    #[test]
    fn test_merge_configs_nested_type_conflict() {
        assert_eq!(
            merged(vec![json!({"a": {"foo": "bar"}}), json!({"a": "shazam"})]),
            json!({"a": "shazam"})
        );
    }

    #[test]
    fn test_merge_configs_list_conflict() {
        assert_eq!(
            merged(vec![json!({"a": [1, 2, 3]}), json!({"a": [4, 5, 6]})]),
            json!({"a": [4, 5, 6]})
        );
    }

    #[test]
    fn test_merge_configs_empty_notdict() {
        let r = merged(vec![
            json!([]),
            json!({"a": "1"}),
            json!(""),
            Value::Null,
            json!("tacocat"),
            json!({"b": "2"}),
            json!({}),
            json!("baseball"),
        ]);
        assert_eq!(r, json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn merge_keeps_existing_key_positions() {
        let r = merged(vec![
            serde_json::from_str(r#"{"z":1,"a":{"q":1,"p":2}}"#).unwrap(),
            serde_json::from_str(r#"{"a":{"p":3,"n":4},"z":5,"m":6}"#).unwrap(),
        ]);
        assert_eq!(
            pyjson::dumps(&r),
            r#"{"z": 5, "a": {"q": 1, "p": 3, "n": 4}, "m": 6}"#
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn test_collect_config() {
        let d = tempfile::tempdir().unwrap();
        let ec2 = write(
            d.path(),
            "ec2.json",
            r#"{"local-ipv4": "192.0.2.99", "instance-id": "feeddead"}"#,
        );
        let cfn = write(
            d.path(),
            "cfn.json",
            r#"{"foo": {"bar": "foo-bar"}, "local-ipv4": "198.51.100.50"}"#,
        );
        let c = collect_config(&[ec2, cfn], &[]).unwrap();
        assert_eq!(
            Value::Object(c),
            json!({"local-ipv4": "198.51.100.50", "instance-id": "feeddead", "foo": {"bar": "foo-bar"}})
        );
    }

    #[test]
    fn test_collect_config_fallback() {
        let d = tempfile::tempdir().unwrap();
        let t = write(d.path(), "does_exist.json", r#"{"a": 1}"#);
        let none = d
            .path()
            .join("does_not_exist.json")
            .to_string_lossy()
            .into_owned();
        let c = |files: &[String], fb: &[String]| Value::Object(collect_config(files, fb).unwrap());
        assert_eq!(c(&[], &[none.clone(), t.clone()]), json!({"a": 1}));
        let t2 = write(d.path(), "does_exist_new.json", r#"{"a": 2}"#);
        assert_eq!(c(&[t2], std::slice::from_ref(&t)), json!({"a": 2}));
        assert_eq!(c(&[], &[t, none.clone()]), json!({"a": 1}));
        assert_eq!(c(&[], &[none]), json!({}));
        assert_eq!(c(&[], &[]), json!({}));
    }

    #[test]
    fn test_failed_read() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "unreadable.json", "{}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        // root reads a 0o000 file; a directory fails to read for everyone
        let p = if std::fs::read(&p).is_ok() {
            d.path().to_string_lossy().into_owned()
        } else {
            p
        };
        let e = collect_config(std::slice::from_ref(&p), &[]).unwrap_err();
        assert!(
            e.starts_with(&format!("Could not open {p} for reading.")),
            "{e}"
        );
    }

    #[test]
    fn test_bad_json() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "bad.json", "{");
        assert_eq!(
            collect_config(std::slice::from_ref(&p), &[]).unwrap_err(),
            format!("Could not parse metadata file: {p}")
        );
    }

    #[test]
    fn test_load_list_from_json() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "l.json", "");
        assert!(load_list_from_json(&p)
            .unwrap_err()
            .contains("No list defined in json file"));
        write(d.path(), "l.json", r#"["/tmp/config.json"]"#);
        assert_eq!(
            load_list_from_json(&p).unwrap(),
            vec!["/tmp/config.json".to_string()]
        );
        std::fs::remove_file(&p).unwrap();
        assert_eq!(load_list_from_json(&p).unwrap(), Vec::<String>::new());
        write(d.path(), "l.json", "{}");
        assert_eq!(
            load_list_from_json(&p).unwrap_err(),
            format!("No list defined in json file: {p}")
        );
    }

    #[test]
    fn test_strip_hash() {
        let h = || {
            json!({"a": {"b": {"x": "y"}}, "c": [1, 2, 3]})
                .as_object()
                .unwrap()
                .clone()
        };
        assert_eq!(
            Value::Object(strip_hash(h(), "a.b").unwrap()),
            json!({"x": "y"})
        );
        assert!(strip_hash(h(), "a.nonexistent").is_err());
        assert_eq!(
            strip_hash(h(), "a.c").unwrap_err(),
            "key 'a.c' does not correspond to a hash in the metadata file"
        );
        assert_eq!(
            Value::Object(strip_hash(h(), "").unwrap()),
            Value::Object(h())
        );
    }

    #[test]
    fn key_lookup_through_maps_and_lists() {
        let c = obj(json!({"database": {"url": "u"}, "l": [1, 2, null], "z": null, "s": "str"}));
        assert_eq!(extract_key(&c, "database.url"), Some(&json!("u")));
        assert_eq!(extract_key(&c, "l.0"), Some(&json!(1)));
        assert_eq!(extract_key(&c, "l.-1"), None); // null item
        assert_eq!(extract_key(&c, "l.-2"), Some(&json!(2)));
        assert_eq!(extract_key(&c, "l. 1"), Some(&json!(2)));
        assert_eq!(extract_key(&c, "l.2.x"), None);
        assert_eq!(extract_key(&c, "l.5"), None);
        assert_eq!(extract_key(&c, "l.-4"), None);
        assert_eq!(extract_key(&c, "z"), None);
        assert_eq!(extract_key(&c, "s.x"), None);
        assert_eq!(extract_key(&c, "does.not.exist"), None);
    }
}
