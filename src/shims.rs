//! TEMPORARY: stand-ins for APIs being built on other branches (config_hash, outbox delivery).
//! Removed when those branches merge.
use crate::config::Settings;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

pub fn deliver_pending(_s: &Settings, _stop: &Arc<AtomicBool>) -> Option<Duration> {
    None
}
