//! The contract between the deploy runner and the hooks, shared by both (deploy uses hooks,
//! never the reverse): which names are built-in hooks and the wrapper an image installs for each,
//! the runner's own status codes, the capture bound, deployment ids as file names, captured
//! text, and which input values are secrets.

use super::BUILTIN;
use crate::pyjson;
use serde_json::Value;

/// `name` is in the one list of built-in hooks (`builtin_hooks!` in `hooks/mod.rs`).
pub fn is_builtin(name: &str) -> bool {
    BUILTIN.contains(&name)
}

/// Captured stdout/stderr of a hook: the tail is kept (Heat takes at most ~1 MiB anyway).
pub const CAPTURE_LIMIT: usize = 1 << 20;

/// `deploy_status_code` of the failures the runner itself reports.
pub const STATUS_TIMED_OUT: i64 = 124;
pub const STATUS_INTERRUPTED: i64 = 125;
pub const STATUS_NOT_EXECUTABLE: i64 = 126;
pub const STATUS_NOT_FOUND: i64 = 127;

/// The hook wrapper an image installs as `<hook dir>/NAME`: the one text, written by packaging
/// and the element through `heat-agent hook --wrapper NAME`. `agent` is the path the binary is
/// installed at.
pub fn wrapper_text(agent: &str, name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # heat-agent runs the built-in \"{name}\" hook in-process when it finds this wrapper;\n\
         # replace the file with your own hook program to override the built-in.\n\
         exec {agent} hook {name} \"$@\"\n"
    )
}

/// The built-in a hook file stands for when it is one of our wrappers: a `#!` script whose
/// `exec` line runs `heat-agent hook NAME`, by name or by any absolute path ending in
/// `/heat-agent` (the packages use /usr/bin, the element its bindir, cloud-init /usr/local/bin).
pub fn wrapper_builtin(text: &str) -> Option<String> {
    if !text.starts_with("#!") {
        return None;
    }
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next()? != "exec" {
            return None;
        }
        let agent = words.next()?;
        if agent != "heat-agent" && !agent.ends_with("/heat-agent") {
            return None;
        }
        if words.next()? != "hook" {
            return None;
        }
        let name = words.next()?;
        is_builtin(name).then(|| name.to_string())
    })
}

/// An id is used as a file name: refuse anything that could escape the directory.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

/// The file stem for deployment `id` (`<deployed>/<stem>.json`, `<stem>.notify.json`, the
/// journal's `<stem>.json`, hooks' working files). The id itself, as the reference names
/// them, for every id that can be one: no `%`, no leading `.`, not ending in `.notify` (whose
/// marker would be the notify file of another id) and at most
/// [`crate::notify::outbox::MAX_FILE_STEM`] bytes. Otherwise `%` and those dots are escaped
/// (`%25`, `%2E`), and a stem still too long is cut and ends in a hash of the id. Injective:
/// only escaped stems contain `%`.
pub fn file_stem(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, c) in id.char_indices() {
        match c {
            '%' => out.push_str("%25"),
            '.' if i == 0 => out.push_str("%2E"),
            _ => out.push(c),
        }
    }
    if let Some(base) = out.strip_suffix(".notify") {
        out = format!("{base}%2Enotify");
    }
    crate::notify::outbox::shorten_stem(out, id)
}

/// Captured text, with a note when the front was dropped to respect the capture bound.
pub fn decode_tail(bytes: &[u8], dropped: u64) -> String {
    let text = String::from_utf8_lossy(bytes);
    if dropped > 0 {
        format!("[heat-agent: {dropped} earlier bytes dropped]\n{text}")
    } else {
        text.into_owned()
    }
}

/// Names whose values are secrets (masked in logs): anything named like a password, secret,
/// token, credential or key (`db_pass`, `ssh_private_key`, `apiKey`), and the signal URL.
pub fn is_secret_input(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const PARTS: [&str; 7] = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "private",
    ];
    const WORDS: [&str; 4] = ["pass", "pwd", "key", "apikey"];
    PARTS.iter().any(|p| n.contains(p))
        || n == "deploy_signal_id"
        || n.ends_with("key")
        || n.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| WORDS.contains(&w))
}

/// Every value of a deployment entry to mask in logs: inputs named like secrets
/// ([`is_secret_input`]) or marked `hidden`/`secret`/`sensitive` by Heat or the template,
/// and, inside structured input values, any string under a key named like a secret. A
/// multi-line secret (a private key) is masked line by line too.
pub fn secret_values(entry: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(inputs) = entry.get("inputs").and_then(Value::as_array) else {
        return out;
    };
    for input in inputs {
        let name = input.get("name").and_then(Value::as_str).unwrap_or("");
        let marked = ["hidden", "secret", "sensitive"]
            .iter()
            .any(|k| input.get(*k).is_some_and(pyjson::truthy));
        let value = input.get("value").unwrap_or(&Value::Null);
        if marked || is_secret_input(name) {
            all_strings(value, &mut out);
        } else {
            secret_members(value, &mut out);
        }
    }
    let lines: Vec<String> = out
        .iter()
        .filter(|s| s.contains('\n'))
        .flat_map(|s| s.lines().map(str::trim).filter(|l| l.len() >= 8))
        .map(str::to_string)
        .collect();
    out.extend(lines);
    out
}

/// The strings anywhere in `v`.
fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null => {}
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| all_strings(x, out)),
        // numbers and booleans: masking every `True` or `8080` in the logs would hide more
        // than it protects
        _ => {}
    }
}

/// Values under keys named like secrets, at any depth of a structured value.
fn secret_members(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| secret_members(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                if is_secret_input(k) {
                    all_strings(x, out);
                } else {
                    secret_members(x, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrappers_are_recognised_by_name_and_by_any_install_path() {
        for agent in [
            "heat-agent",
            "/usr/bin/heat-agent",
            "/usr/local/bin/heat-agent",
        ] {
            for &name in BUILTIN {
                assert_eq!(
                    wrapper_builtin(&wrapper_text(agent, name)).as_deref(),
                    Some(name),
                    "{agent} {name}"
                );
            }
        }
        assert_eq!(
            wrapper_builtin("#!/bin/sh\nexec /usr/bin/heat-agent hook script \"$@\"\n").as_deref(),
            Some("script")
        );
        for other in [
            "#!/bin/sh\nexec /opt/my-heat-agent hook script\n",
            "#!/bin/sh\nexec heat-agent hook nope\n",
            "#!/bin/sh\n/usr/bin/heat-agent hook script\n",
            "exec heat-agent hook script\n",
        ] {
            assert_eq!(wrapper_builtin(other), None, "{other}");
        }
    }

    #[test]
    fn secret_values_by_name_mark_and_nesting() {
        for n in [
            "db_pass",
            "ssh_private_key",
            "apiKey",
            "api_key",
            "user-pwd",
            "Token",
            "key",
        ] {
            assert!(is_secret_input(n), "{n}");
        }
        for n in [
            "deploy_action",
            "passage",
            "keystone_url",
            "monkeys",
            "deploy_queue_id",
        ] {
            assert!(!is_secret_input(n), "{n}");
        }
        let e = json!({"inputs": [
            {"name": "plain", "value": "visible"},
            {"name": "x", "hidden": true, "value": "h1"},
            {"name": "y", "secret": "yes", "value": ["h2", 3]},
            {"name": "cfg", "value": {"a": {"admin_password": "h3"}, "n": 1, "l": [{"token": "h4"}]}},
            {"name": "k_key", "value": "line1\nline-two-long\n"},
            {"name": "flag_key", "value": true}
        ]});
        let v = secret_values(&e);
        for s in [
            "h1",
            "h2",
            "h3",
            "h4",
            "line1\nline-two-long\n",
            "line-two-long",
        ] {
            assert!(v.iter().any(|x| x == s), "{s}: {v:?}");
        }
        assert!(!v
            .iter()
            .any(|x| x == "visible" || x == "3" || x == "True" || x == "line1"));
    }

    #[test]
    fn file_stems_keep_ordinary_ids_and_are_injective_and_bounded() {
        for id in ["8b1a2c3d-0000-4000-8000-00000000abcd", "X", "a.b", "é"] {
            assert_eq!(file_stem(id), id);
        }
        assert_eq!(file_stem("X.notify"), "X%2Enotify");
        assert_eq!(file_stem(".hidden"), "%2Ehidden");
        assert_eq!(file_stem("100%"), "100%25");
        assert_eq!(file_stem("100%25"), "100%2525");
        let long = "L".repeat(300);
        let longer = "L".repeat(301);
        assert!(file_stem(&long).len() <= 200);
        assert_ne!(file_stem(&long), file_stem(&longer));
        assert!(file_stem(&"é".repeat(200)).len() <= 200);
        assert_eq!(file_stem(&"L".repeat(200)), "L".repeat(200));
    }
}
