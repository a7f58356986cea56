//! os-refresh-config and dib-run-parts (spec os-config-tools §2).

/// `os-refresh-config` / `heat-agent refresh`.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("os-refresh-config: not built in yet");
    1
}

/// `dib-run-parts` / `heat-agent run-parts`.
pub fn run_parts_main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("dib-run-parts: not built in yet");
    1
}
