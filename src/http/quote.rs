//! URL quoting as Python's urllib does it, for URLs the agent builds (query strings of signed
//! requests, path segments of service calls).

/// Python's `urllib.parse.quote(s, safe)`: unreserved characters and those in `safe` stay,
/// every other byte of the UTF-8 form becomes `%XX` (upper-case hex).
pub fn quote(s: &str, safe: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) || safe.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` value (Python `quote_plus(s, safe='')`).
pub fn quote_plus(s: &str) -> String {
    quote(s, " ").replace(' ', "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_python() {
        assert_eq!(quote("a b/c~_.-é", "/"), "a%20b/c~_.-%C3%A9");
        assert_eq!(quote("my.stack/x", ""), "my.stack%2Fx");
        assert_eq!(quote_plus("a b+c=d"), "a+b%2Bc%3Dd");
    }
}
