//! os-apply-config: render templates into files, look up keys (spec os-config-tools §3).

/// `os-apply-config` / `heat-agent apply`.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("os-apply-config: not built in yet");
    1
}
