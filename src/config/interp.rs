//! oslo.config's `$` interpolation (W-C16 in docs/compatibility.md): Python `string.Template`
//! `safe_substitute` with identifiers `[_a-z][._a-z0-9]*` (ASCII, case-insensitive), after
//! `\$` has been rewritten to `$$`. `$$` is a literal `$`; `$name`/`${name}` is replaced by the
//! lookup; a `$` not followed by an identifier stays as it is.

/// Substitute every reference in `text` through `lookup` (which gets the identifier, possibly
/// dotted `group.opt`, and answers its value or an error message).
pub(crate) fn substitute(
    text: &str,
    lookup: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let text = text.replace("\\$", "$$");
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // copy runs of plain text by byte index; '$' and identifiers are ASCII so slicing is safe
    let mut plain_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&text[plain_start..i]);
        let rest = &bytes[i + 1..];
        if rest.first() == Some(&b'$') {
            out.push('$');
            i += 2;
        } else if rest.first() == Some(&b'{') {
            let id_len = identifier_len(&rest[1..]);
            if id_len > 0 && rest.get(1 + id_len) == Some(&b'}') {
                let name = &text[i + 2..i + 2 + id_len];
                out.push_str(&lookup(name)?);
                i += 2 + id_len + 1;
            } else {
                out.push('$');
                i += 1;
            }
        } else {
            let id_len = identifier_len(rest);
            if id_len > 0 {
                let name = &text[i + 1..i + 1 + id_len];
                out.push_str(&lookup(name)?);
                i += 1 + id_len;
            } else {
                out.push('$');
                i += 1;
            }
        }
        plain_start = i;
    }
    out.push_str(&text[plain_start..]);
    Ok(out)
}

fn identifier_len(b: &[u8]) -> usize {
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return 0,
    }
    1 + b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str) -> Result<String, String> {
        substitute(text, &mut |name| match name {
            "cachedir" => Ok("/var/lib/occ".into()),
            "none_opt" => Ok(String::new()),
            "cfn.stack_name" => Ok("stk".into()),
            "Mixed_Case" => Ok("mc".into()),
            other => Err(format!("no such option {other} in group [DEFAULT]")),
        })
    }

    #[test]
    fn double_dollar_is_literal() {
        assert_eq!(sub("a$$b").unwrap(), "a$b");
        assert_eq!(sub("$$cachedir").unwrap(), "$cachedir");
    }

    #[test]
    fn backslash_dollar_is_literal() {
        assert_eq!(sub("a\\$cachedir").unwrap(), "a$cachedir");
    }

    #[test]
    fn named_and_braced() {
        assert_eq!(sub("x $cachedir/y").unwrap(), "x /var/lib/occ/y");
        assert_eq!(sub("${cachedir}x").unwrap(), "/var/lib/occx");
        assert_eq!(sub("$Mixed_Case").unwrap(), "mc");
    }

    #[test]
    fn dotted_names_reach_other_groups() {
        assert_eq!(sub("${cfn.stack_name}").unwrap(), "stk");
        assert_eq!(sub("$cfn.stack_name-1").unwrap(), "stk-1");
    }

    #[test]
    fn none_substitutes_as_empty() {
        assert_eq!(sub("[$none_opt]").unwrap(), "[]");
    }

    #[test]
    fn dollar_without_identifier_stays() {
        assert_eq!(sub("a $ b $9 ${ x} ${} $").unwrap(), "a $ b $9 ${ x} ${} $");
        assert_eq!(sub("${cachedir").unwrap(), "${cachedir");
    }

    #[test]
    fn unknown_reference_is_an_error() {
        assert_eq!(
            sub("echo $OS_CONFIG_FILES").unwrap_err(),
            "no such option OS_CONFIG_FILES in group [DEFAULT]"
        );
        assert_eq!(
            sub("pass${word}").unwrap_err(),
            "no such option word in group [DEFAULT]"
        );
    }

    #[test]
    fn non_ascii_text_is_kept() {
        assert_eq!(sub("é$$ü $cachedir ß").unwrap(), "é$ü /var/lib/occ ß");
    }
}
