#![forbid(unsafe_code)]
//! Thin shim: everything lives in the library; the exit code comes from the dispatcher.

// musl's own allocator unmaps freed memory at once: see Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(heat_agent::cli::dispatch(args));
}
