#![forbid(unsafe_code)]
//! Thin shim: everything lives in the library; the exit code comes from the dispatcher.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(heat_agent::cli::dispatch(args));
}
