//! What this binary is: version, git revision and build features, for `--version` texts and
//! the HTTP User-Agent. A platform module: the front ends and the domain both read it.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision the binary was built from (`unknown` outside a checkout).
pub const GIT_REV: &str = env!("HEAT_AGENT_GIT_REV");

/// `heat-agent VERSION (git REV; features: ...)`: what `heat-agent --version` prints.
pub fn version_text() -> String {
    let mut features = vec!["rustls"];
    if cfg!(target_env = "musl") {
        features.push("static-musl");
    }
    format!(
        "heat-agent {VERSION} (git {GIT_REV}; features: {})",
        features.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_text_names_version_revision_and_tls() {
        let text = super::version_text();
        assert!(text.starts_with(&format!("heat-agent {} (git ", super::VERSION)));
        assert!(text.contains("features: rustls"), "{text}");
    }
}
