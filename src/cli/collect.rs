//! os-collect-config front end.
use std::ffi::OsString;

pub fn legacy_main(_args: Vec<OsString>) -> i32 {
    eprintln!("os-collect-config: not built in yet");
    1
}
pub fn run_main(args: Vec<OsString>) -> i32 {
    legacy_main(args)
}
pub fn collect_main(args: Vec<OsString>) -> i32 {
    legacy_main(args)
}
