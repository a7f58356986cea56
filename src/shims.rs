//! TEMPORARY: stand-ins for APIs being built on other branches (config_hash, outbox delivery).
//! Removed when those branches merge.
use crate::config::Settings;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub fn config_hash(s: &Settings) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for f in &s.config_files {
        if let Ok(b) = std::fs::read(f) {
            h.update(&b);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn deliver_pending(_s: &Settings, _stop: &Arc<AtomicBool>) -> Option<Duration> {
    None
}
