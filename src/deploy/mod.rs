//! The deployment runner (55-heat-config replacement; spec heat-deployments §2).

/// `55-heat-config` / `heat-agent deploy`.
pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("heat-agent deploy: not built in yet");
    1
}
