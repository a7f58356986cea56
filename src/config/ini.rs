//! The oslo.config INI grammar (`oslo_config/iniparser.py` + `cfg.ConfigParser`):
//! right-stripped lines, `#`/`;` comments, `[section]`, `key = value` or `key: value` split at
//! whichever comes first, one pair of matching quotes stripped, indented continuation lines
//! joined with `\n`, a blank line ends a value, an inline `#` is part of the value.
//! `DEFAULT` is case-sensitive; every other section name is lowercased.

/// One `key = value` as read, in file order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parse a whole file. The error is oslo's text: `at line N, <why>: '<line>'`.
pub(crate) fn parse(text: &str) -> Result<Vec<Assignment>, String> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    // the assignment being built: key, value lines, line number
    let mut pending: Option<(String, Vec<String>, usize)> = None;

    let flush = |pending: &mut Option<(String, Vec<String>, usize)>,
                 section: &Option<String>,
                 out: &mut Vec<Assignment>|
     -> Result<(), String> {
        if let Some((key, lines, line)) = pending.take() {
            let Some(sec) = section else {
                return Err(format!(
                    "at line {line}, Section must be started before assignment: {}",
                    py_quote(&key)
                ));
            };
            out.push(Assignment {
                section: sec.clone(),
                key,
                value: lines.join("\n"),
                line,
            });
        }
        Ok(())
    };

    // Python's universal newlines: \n, \r\n and a lone \r all end a line.
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut lines: Vec<&str> = normalised.split('\n').collect();
    if normalised.ends_with('\n') {
        lines.pop();
    }
    for (idx, raw) in lines.iter().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            flush(&mut pending, &section, &mut out)?;
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match pending.as_mut() {
                Some((_, value, _)) => value.push(line.trim_start().to_string()),
                None => {
                    return Err(format!(
                        "at line {lineno}, Unexpected continuation line: {}",
                        py_quote(line)
                    ))
                }
            }
            continue;
        }
        flush(&mut pending, &section, &mut out)?;
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(format!(
                    "at line {lineno}, Invalid section (must end with ]): {}",
                    py_quote(line)
                ));
            }
            if line.len() <= 2 {
                return Err(format!(
                    "at line {lineno}, Empty section name: {}",
                    py_quote(line)
                ));
            }
            let name = &line[1..line.len() - 1];
            section = Some(if name == "DEFAULT" {
                name.to_string()
            } else {
                name.to_lowercase()
            });
        } else if line.starts_with('#') || line.starts_with(';') {
            // comment
        } else {
            let (key, value) = split_key_value(line).ok_or_else(|| {
                format!(
                    "at line {lineno}, No ':' or '=' found in assignment: {}",
                    py_quote(line)
                )
            })?;
            if key.is_empty() {
                return Err(format!(
                    "at line {lineno}, Key cannot be empty: {}",
                    py_quote(line)
                ));
            }
            pending = Some((key, vec![value], lineno));
        }
    }
    flush(&mut pending, &section, &mut out)?;
    Ok(out)
}

fn split_key_value(line: &str) -> Option<(String, String)> {
    let colon = line.find(':');
    let equal = line.find('=');
    let at = match (colon, equal) {
        (None, None) => return None,
        (Some(c), None) => c,
        (None, Some(e)) => e,
        (Some(c), Some(e)) => c.min(e),
    };
    let key = line[..at].trim();
    let mut value = line[at + 1..].trim();
    if let (Some(first), Some(last)) = (value.chars().next(), value.chars().last()) {
        if first == last && (first == '"' || first == '\'') {
            // a lone quote character becomes the empty string, as in Python's value[1:-1]
            value = if value.len() >= 2 {
                &value[1..value.len() - 1]
            } else {
                ""
            };
        }
    }
    Some((key.to_string(), value.to_string()))
}

/// Python `repr()` of a string, as oslo's parse errors show the offending line.
fn py_quote(s: &str) -> String {
    let mut out = String::new();
    crate::pyjson::write_str_repr(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|a| (a.section, a.key, a.value))
            .collect()
    }

    fn one(s: &str, k: &str, v: &str) -> (String, String, String) {
        (s.into(), k.into(), v.into())
    }

    #[test]
    fn equals_and_colon_split_at_the_first() {
        assert_eq!(
            kv("[DEFAULT]\na = b:c\nd: e=f\n"),
            vec![one("DEFAULT", "a", "b:c"), one("DEFAULT", "d", "e=f")]
        );
    }

    #[test]
    fn key_and_value_are_stripped() {
        assert_eq!(
            kv("[DEFAULT]\n  \nkey   =   v  \n"),
            vec![one("DEFAULT", "key", "v")]
        );
    }

    #[test]
    fn matching_quotes_are_stripped_once() {
        assert_eq!(
            kv("[DEFAULT]\na = \"x y\"\nb = 'z'\nc = \"q'\nd = \"\"x\"\"\ne = \"\n"),
            vec![
                one("DEFAULT", "a", "x y"),
                one("DEFAULT", "b", "z"),
                one("DEFAULT", "c", "\"q'"),
                one("DEFAULT", "d", "\"x\""),
                one("DEFAULT", "e", ""),
            ]
        );
    }

    #[test]
    fn comments_and_inline_hash() {
        assert_eq!(
            kv("# top\n[DEFAULT]\n; semi\ncommand: x # y\n#k = v\n"),
            vec![one("DEFAULT", "command", "x # y")]
        );
    }

    #[test]
    fn continuation_lines_join_with_newline() {
        assert_eq!(
            kv("[DEFAULT]\nk =\n  a\n\tb\n"),
            vec![one("DEFAULT", "k", "\na\nb")]
        );
        // an indented '#' line is a continuation, not a comment
        assert_eq!(
            kv("[DEFAULT]\nk = a\n  # b\n"),
            vec![one("DEFAULT", "k", "a\n# b")]
        );
    }

    #[test]
    fn blank_line_ends_a_value() {
        let err = parse("[DEFAULT]\nk = a\n\n  b\n").unwrap_err();
        assert_eq!(err, "at line 4, Unexpected continuation line: '  b'");
    }

    #[test]
    fn default_is_case_sensitive_other_sections_lowercased() {
        assert_eq!(
            kv("[default]\na=1\n[CFN]\nb=2\n[DEFAULT]\nc=3\n[Heat_Local]\nd=4\n"),
            vec![
                one("default", "a", "1"),
                one("cfn", "b", "2"),
                one("DEFAULT", "c", "3"),
                one("heat_local", "d", "4"),
            ]
        );
    }

    #[test]
    fn repeated_keys_are_all_kept_in_order() {
        assert_eq!(
            kv("[DEFAULT]\ncollectors = heat\ncollectors = local\n"),
            vec![
                one("DEFAULT", "collectors", "heat"),
                one("DEFAULT", "collectors", "local")
            ]
        );
    }

    #[test]
    fn crlf_line_endings() {
        assert_eq!(kv("[DEFAULT]\r\na = b\r\n"), vec![one("DEFAULT", "a", "b")]);
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(
            parse("[DEFAULT]\nnovalue\n").unwrap_err(),
            "at line 2, No ':' or '=' found in assignment: 'novalue'"
        );
        assert_eq!(
            parse("[DEFAULT\n").unwrap_err(),
            "at line 1, Invalid section (must end with ]): '[DEFAULT'"
        );
        assert_eq!(
            parse("[]\n").unwrap_err(),
            "at line 1, Empty section name: '[]'"
        );
        assert_eq!(
            parse("[DEFAULT]\n= v\n").unwrap_err(),
            "at line 2, Key cannot be empty: '= v'"
        );
        assert_eq!(
            parse("  x\n").unwrap_err(),
            "at line 1, Unexpected continuation line: '  x'"
        );
        assert!(parse("a = b\n")
            .unwrap_err()
            .contains("Section must be started before assignment"));
    }

    #[test]
    fn empty_file_and_value() {
        assert!(parse("").unwrap().is_empty());
        assert_eq!(
            kv("[cfn]\nmetadata_url =\n"),
            vec![one("cfn", "metadata_url", "")]
        );
    }
}
