//! Helpers shared by the collector integration tests: a per-thread log capture, fixtures
//! copied from the reference tests, and a `collect` call with fresh or kept state.
#![allow(dead_code)]

pub mod openstack;

use heat_agent::collectors::{CollectError, Entries, State};
use heat_agent::config::Settings;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::Path;
use std::sync::Once;

thread_local! {
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("heat_agent") {
            let line = format!("{} {}", record.level(), record.args());
            LINES.with(|l| l.borrow_mut().push(line));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;
static INIT: Once = Once::new();

/// Start capturing this thread's log lines (and forget earlier ones).
pub fn capture_logs() {
    INIT.call_once(|| {
        let _ = log::set_logger(&CAPTURE);
        log::set_max_level(log::LevelFilter::Trace);
    });
    LINES.with(|l| l.borrow_mut().clear());
}

/// Lines logged by this thread since [`capture_logs`], `LEVEL message` each.
pub fn logs() -> Vec<String> {
    LINES.with(|l| l.borrow().clone())
}

/// Lines at WARN or ERROR (what the reference shows).
pub fn visible_logs() -> Vec<String> {
    logs()
        .into_iter()
        .filter(|l| l.starts_with("WARN") || l.starts_with("ERROR"))
        .collect()
}

/// One poll of collector `name` with the given state.
pub fn collect_with(
    name: &str,
    settings: &Settings,
    cachedir: &Path,
    state: &mut State,
) -> Result<Entries, CollectError> {
    state.collect(name, settings, cachedir)
}

/// One poll with fresh state and an empty cache dir.
pub fn collect(name: &str, settings: &Settings) -> Result<Entries, CollectError> {
    let dir = tempfile::tempdir().unwrap();
    collect_with(name, settings, dir.path(), &mut State::default())
}

pub fn not_available(r: Result<Entries, CollectError>) -> String {
    match r {
        Err(CollectError::NotAvailable(m)) => m,
        other => panic!("expected NotAvailable, got {other:?}"),
    }
}

pub fn not_configured(r: Result<Entries, CollectError>) -> String {
    match r {
        Err(CollectError::NotConfigured(m)) => m,
        other => panic!("expected NotConfigured, got {other:?}"),
    }
}

pub fn names(entries: &Entries) -> Vec<&str> {
    entries.iter().map(|e| e.0.as_str()).collect()
}

/// test_heat.META_DATA / test_cfn.META_DATA / test_request.META_DATA
pub fn meta_data() -> Value {
    json!({
        "int1": 1,
        "strfoo": "foo",
        "map_ab": {"a": "apple", "b": "banana"}
    })
}

/// test_cfn.SOFTWARE_CONFIG_DATA (also test_heat / test_request / test_zaqar; shared with the
/// unit tests in `src/merge.rs`)
pub fn software_config_data() -> Value {
    serde_json::from_str(include_str!("software_config_data.json")).unwrap()
}

/// test_cfn.SOFTWARE_CONFIG_IMPOSTER_DATA: `deployments` given as a map.
pub fn software_config_imposter_data() -> Value {
    json!({
        "old-style": "value",
        "deployments": {"not": "a list"}
    })
}

/// The heat/zaqar variant with one deployment (test_heat.SOFTWARE_CONFIG_DATA).
pub fn heat_software_config_data() -> Value {
    json!({
        "deployments": [
            {"inputs": [{"type": "String", "name": "input1", "value": "value1"}],
             "group": "Heat::Ungrouped", "name": "dep-name1", "outputs": null,
             "options": null, "config": {"config1": "value1"}}
        ]
    })
}
