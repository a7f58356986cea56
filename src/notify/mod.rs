//! Deployment signals to Heat (heat-config-notify replacement; spec heat-deployments §3).

/// `heat-config-notify` / `heat-agent notify`.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("heat-config-notify: not built in yet");
    1
}
