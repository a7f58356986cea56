//! Built-in hooks (spec heat-deployments §4).

/// `heat-agent hook NAME` (args[1] is NAME).
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("heat-agent hook: not built in yet");
    1
}
