//! Fitting a signal into Heat's request-body limit (weak spot W6).
//!
//! The reference meant to cut the *beginning* of `deploy_stdout` and `deploy_stderr` in proportion
//! to their size so the serialised body fits `MAX_RESPONSE_SIZE`, keeping the tails (where errors
//! usually are); under Python 3 that code always crashed. Here all sizes are measured on the
//! serialised form (`json.dumps`, ensure_ascii), and cuts fall only between characters, so an
//! escape such as `\ud83d\ude00` is never split.
//!
//! Stages, each tried only when the previous one is not enough:
//! 1. cut the heads of `deploy_stdout` / `deploy_stderr` proportionally;
//! 2. cut the heads of the other top-level string values proportionally;
//! 3. replace the largest remaining top-level values with a short note;
//! 4. last resort: a minimal payload saying what happened (status code kept when small).

use crate::pyjson;
use serde_json::{Map, Value};

/// Largest serialised signal body we send (Heat's `max_json_body_size` is 1048576).
pub const MAX_SIGNAL_BODY: usize = 950_000;

/// The keys the reference trims first.
const OUTPUT_KEYS: [&str; 2] = ["deploy_stdout", "deploy_stderr"];

/// Bytes one character takes inside a `json.dumps` (ensure_ascii) string literal.
pub fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c if (c as u32) < 0x7f => 1,
        c if (c as u32) <= 0xffff => 6,
        _ => 12,
    }
}

/// Serialised length of a string value, without its quotes.
pub fn escaped_str_len(s: &str) -> usize {
    s.chars().map(escaped_len).sum()
}

/// `s` without a head of at least `cut` serialised bytes (fewer only when `s` is shorter):
/// the tail is kept, whole characters only.
pub fn cut_head(s: &str, cut: usize) -> &str {
    if cut == 0 {
        return s;
    }
    let mut removed = 0;
    for (i, c) in s.char_indices() {
        if removed >= cut {
            return &s[i..];
        }
        removed += escaped_len(c);
    }
    ""
}

/// Cut `excess` serialised bytes off the heads of the string values under `keys`,
/// proportionally to their serialised sizes (rounding up, so the total cut is >= `excess`
/// whenever the values hold that much). Returns the bytes actually removed.
fn cut_proportionally(map: &mut Map<String, Value>, keys: &[String], excess: usize) -> usize {
    let sizes: Vec<(String, usize)> = keys
        .iter()
        .filter_map(|k| match map.get(k) {
            Some(Value::String(s)) => Some((k.clone(), escaped_str_len(s))),
            _ => None,
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let total: usize = sizes.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return 0;
    }
    let mut removed = 0;
    for (key, size) in sizes {
        // u128: size * excess can exceed u64 only in theory, but never overflow on input
        let share = ((size as u128 * excess as u128).div_ceil(total as u128)) as usize;
        if let Some(Value::String(s)) = map.get_mut(&key) {
            let kept = cut_head(s, share.min(size)).to_string();
            removed += size - escaped_str_len(&kept);
            *s = kept;
        }
    }
    removed
}

/// A note that stands in for a value too large to send.
fn note(original_len: usize) -> Value {
    Value::String(format!(
        "[heat-agent: value dropped, {original_len} bytes serialised would exceed the signal size limit]"
    ))
}

/// The signal as it will be sent: `unset_hook` removed (Heat would not treat the payload as a
/// deployment signal), and trimmed so `pyjson::dumps` of it is at most `limit` bytes.
/// Non-object signals are wrapped as the reference would fail on them: they are sent as is when
/// they fit, otherwise replaced by the last-resort payload.
pub fn fit(signal: &Value, limit: usize) -> Value {
    let mut value = signal.clone();
    if let Value::Object(map) = &mut value {
        if map.shift_remove("unset_hook").is_some() {
            log::warn!("signal key 'unset_hook' is reserved by Heat for breakpoints; not sent");
        }
    }
    let len = pyjson::dumps(&value).len();
    if len <= limit {
        return value;
    }
    let Value::Object(mut map) = value else {
        return last_resort(signal, len, limit);
    };
    log::warn!("signal is {len} bytes serialised, over the {limit} byte limit: trimming the beginning of deploy_stdout/deploy_stderr");

    let output_keys: Vec<String> = OUTPUT_KEYS.iter().map(|s| s.to_string()).collect();
    let other_keys: Vec<String> = map
        .keys()
        .filter(|k| !OUTPUT_KEYS.contains(&k.as_str()) && k.as_str() != "deploy_status_code")
        .cloned()
        .collect();

    // Stages 1 and 2: head cuts, first of stdout/stderr, then of the other strings, each only
    // when those strings can absorb the whole excess (cutting them is otherwise pointless).
    for keys in [&output_keys, &other_keys] {
        let len = serialised_len(&map);
        if len <= limit {
            return Value::Object(map);
        }
        if string_size(&map, keys) >= len - limit {
            shrink(&mut map, keys, limit);
        }
    }
    if serialised_len(&map) <= limit {
        return Value::Object(map);
    }

    // Stage 3: replace the largest other values with a note, then cut stdout/stderr for the rest.
    let mut sized: Vec<(String, usize)> = other_keys
        .iter()
        .filter_map(|k| map.get(k).map(|v| (k.clone(), pyjson::dumps(v).len())))
        .collect();
    sized.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let mut len = serialised_len(&map);
    for (key, size) in sized {
        if len <= limit || string_size(&map, &output_keys) >= len - limit {
            break;
        }
        let replacement = note(size);
        let new_size = pyjson::dumps(&replacement).len();
        if new_size >= size {
            continue;
        }
        map.insert(key, replacement);
        len -= size - new_size;
    }
    shrink(&mut map, &output_keys, limit);
    let len = serialised_len(&map);
    if len <= limit {
        return Value::Object(map);
    }
    last_resort(signal, len, limit)
}

fn serialised_len(map: &Map<String, Value>) -> usize {
    // the object's own bytes: braces, separators, keys, values
    let mut n = 2;
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            n += 2;
        }
        n += escaped_str_len(k) + 2 + 2 + pyjson::dumps(v).len();
    }
    n
}

/// Serialised bytes held by the string values under `keys`.
fn string_size(map: &Map<String, Value>, keys: &[String]) -> usize {
    keys.iter()
        .filter_map(|k| map.get(k).and_then(Value::as_str))
        .map(escaped_str_len)
        .sum()
}

/// Cut the heads of the strings under `keys` until the object fits `limit` or they are empty.
fn shrink(map: &mut Map<String, Value>, keys: &[String], limit: usize) {
    // a cut removes at least the excess asked for unless the strings run out, so this ends
    // after one round; the bound only guards against arithmetic surprises
    for _ in 0..4 {
        let len = serialised_len(map);
        if len <= limit || cut_proportionally(map, keys, len - limit) == 0 {
            return;
        }
    }
}

/// When nothing else fits (e.g. millions of small keys): an explicit failure the operator sees.
fn last_resort(signal: &Value, len: usize, limit: usize) -> Value {
    log::error!(
        "signal of {len} bytes cannot be trimmed to {limit} bytes; sending a failure note instead"
    );
    let status = signal
        .get("deploy_status_code")
        .filter(|v| pyjson::dumps(v).len() <= 64)
        .cloned()
        .unwrap_or(Value::from(1));
    let mut map = Map::new();
    map.insert("deploy_stdout".into(), Value::String(String::new()));
    map.insert(
        "deploy_stderr".into(),
        Value::String(format!(
            "heat-agent: the deployment signal ({len} bytes serialised) could not be reduced below {limit} bytes; outputs were dropped"
        )),
    );
    map.insert("deploy_status_code".into(), status);
    let v = Value::Object(map);
    if pyjson::dumps(&v).len() <= limit {
        v
    } else {
        serde_json::json!({})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn size(v: &Value) -> usize {
        pyjson::dumps(v).len()
    }

    #[test]
    fn escaped_lengths_match_python_dumps() {
        for s in [
            "abc",
            "a\"b\\c\n\t",
            "\u{1}",
            "é",
            "€",
            "😀",
            "\u{7f}",
            "mixé😀\u{0}",
        ] {
            let dumped = pyjson::dumps(&Value::String(s.into()));
            assert_eq!(escaped_str_len(s), dumped.len() - 2, "{s:?}");
        }
    }

    #[test]
    fn cut_head_keeps_whole_characters() {
        assert_eq!(cut_head("abcdef", 2), "cdef");
        assert_eq!(cut_head("abcdef", 0), "abcdef");
        assert_eq!(cut_head("abc", 10), "");
        // an emoji is 12 serialised bytes: cutting 1 byte removes all of it, never half
        assert_eq!(cut_head("😀x", 1), "x");
        assert_eq!(cut_head("é😀x", 7), "x");
        assert_eq!(cut_head("é😀x", 6), "😀x");
    }

    #[test]
    fn serialised_len_matches_dumps() {
        let v = json!({"a": "é\n", "ü😀": [1, 2.5, null], "c": {"d": true}});
        let Value::Object(m) = &v else { unreachable!() };
        assert_eq!(serialised_len(m), pyjson::dumps(&v).len());
        assert_eq!(serialised_len(&Map::new()), 2);
    }

    #[test]
    fn small_signals_are_untouched() {
        let s = json!({"deploy_stdout": "out", "deploy_stderr": "err", "deploy_status_code": 0});
        assert_eq!(fit(&s, MAX_SIGNAL_BODY), s);
    }

    #[test]
    fn unset_hook_is_never_sent() {
        let s = json!({"deploy_stdout": "x", "unset_hook": "pre-create"});
        assert_eq!(fit(&s, MAX_SIGNAL_BODY), json!({"deploy_stdout": "x"}));
    }

    #[test]
    fn proportional_cut_keeps_tails_and_fits_exactly_under_limit() {
        let out = format!("{}TAIL-OUT", "o".repeat(3000));
        let err = format!("{}TAIL-ERR", "e".repeat(1000));
        let s = json!({"deploy_stdout": out, "deploy_stderr": err, "deploy_status_code": 0, "result": "r"});
        let limit = 2000;
        let t = fit(&s, limit);
        assert!(size(&t) <= limit, "{}", size(&t));
        // not over-trimmed: within a few bytes of the limit
        assert!(size(&t) >= limit - 4, "{}", size(&t));
        let o = t["deploy_stdout"].as_str().unwrap();
        let e = t["deploy_stderr"].as_str().unwrap();
        assert!(o.ends_with("TAIL-OUT") && e.ends_with("TAIL-ERR"));
        // stdout was 3x larger, so it lost about 3x more
        let cut_o = 3008 - o.len();
        let cut_e = 1008 - e.len();
        assert!(cut_o > 2 * cut_e && cut_o < 4 * cut_e, "{cut_o} {cut_e}");
        assert_eq!(t["deploy_status_code"], json!(0));
        assert_eq!(t["result"], json!("r"));
    }

    #[test]
    fn multibyte_and_emoji_text_is_cut_on_character_boundaries() {
        let unit = "ünïcødé 😀 текст\n";
        let out = unit.repeat(20_000) + "END";
        let s = json!({"deploy_stdout": out, "deploy_status_code": 1});
        let t = fit(&s, 100_000);
        let text = pyjson::dumps(&t);
        assert!(text.len() <= 100_000);
        let back: Value = serde_json::from_str(&text).unwrap();
        let o = back["deploy_stdout"].as_str().unwrap();
        assert!(o.ends_with("текст\nEND"));
        assert!(out.ends_with(o));
    }

    #[test]
    fn missing_output_keys_fall_through_to_other_strings() {
        let s = json!({"result": "x".repeat(5000) + "TAIL", "deploy_status_code": 0});
        let t = fit(&s, 1000);
        assert!(size(&t) <= 1000);
        assert!(t["result"].as_str().unwrap().ends_with("TAIL"));
        assert_eq!(t["deploy_status_code"], json!(0));
    }

    #[test]
    fn huge_non_string_values_are_replaced_by_a_note() {
        let big: Vec<u32> = (0..10_000).collect();
        let s = json!({"deploy_stdout": "ok", "numbers": big, "deploy_status_code": 0});
        let t = fit(&s, 1000);
        assert!(size(&t) <= 1000);
        assert!(t["numbers"].as_str().unwrap().contains("value dropped"));
        assert_eq!(t["deploy_stdout"], json!("ok"));
    }

    #[test]
    fn too_many_keys_gives_the_last_resort_payload() {
        let mut m = Map::new();
        for i in 0..5000 {
            m.insert(format!("k{i}"), json!(i));
        }
        m.insert("deploy_status_code".into(), json!(2));
        let t = fit(&Value::Object(m), 1000);
        assert!(size(&t) <= 1000);
        assert_eq!(t["deploy_status_code"], json!(2));
        assert!(t["deploy_stderr"]
            .as_str()
            .unwrap()
            .contains("could not be reduced"));
    }

    #[test]
    fn five_megabytes_of_output_fit_the_default_limit() {
        let out = "ab😀é\n".repeat(5 * 1024 * 1024 / 10) + "LAST LINE";
        let err = "warn ☃\n".repeat(100_000) + "LAST ERR";
        let s = json!({"deploy_stdout": out, "deploy_stderr": err, "deploy_status_code": 0});
        let t = fit(&s, MAX_SIGNAL_BODY);
        let text = pyjson::dumps(&t);
        assert!(text.len() <= MAX_SIGNAL_BODY);
        assert!(text.len() > MAX_SIGNAL_BODY - 32);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert!(back["deploy_stdout"]
            .as_str()
            .unwrap()
            .ends_with("LAST LINE"));
        assert!(back["deploy_stderr"]
            .as_str()
            .unwrap()
            .ends_with("LAST ERR"));
    }
}
