//! `heat-agent status`: deployments, results and signal delivery, for humans and machines.

pub fn main(_args: Vec<std::ffi::OsString>) -> i32 {
    eprintln!("heat-agent status: not built in yet");
    1
}
