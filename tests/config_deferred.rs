//! Warnings raised while reading the configuration before any logger exists are kept in
//! `Settings::deferred_warnings` (the front end logs them after `logging::init`).

use heat_agent::config::{parse_collect_args, Invocation};
use std::ffi::OsString;

#[test]
fn warnings_before_logging_is_set_up_are_deferred() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("typo.conf");
    std::fs::write(&conf, "[cfn]\nmetadata-url = http://127.0.0.1/\n").unwrap();
    let argv: Vec<OsString> = vec![
        "os-collect-config".into(),
        "--config-file".into(),
        conf.clone().into(),
    ];
    let root = dir.path().display().to_string();
    let env = move |k: &str| match k {
        "HEAT_AGENT_SYSCONFDIR" | "HOME" => Some(root.clone()),
        _ => None,
    };
    let Ok(Invocation::Run(s)) = parse_collect_args(&argv, &env, heat_agent::collectors::NAMES)
    else {
        panic!("expected settings")
    };
    assert_eq!(s.deferred_warnings.len(), 1, "{:?}", s.deferred_warnings);
    assert!(s.deferred_warnings[0].contains("metadata-url"));
    assert!(s.deferred_warnings[0].contains(&conf.display().to_string()));
}
