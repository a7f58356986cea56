#![forbid(unsafe_code)]
// stdout goes through `output`, which ends quietly on a closed pipe instead of panicking
#![deny(clippy::print_stdout)]
//! heat-agent: OpenStack's in-guest agents (os-collect-config, os-apply-config,
//! os-refresh-config, heat-config) in one binary. See DESIGN in docs/architecture.md.

pub mod apply;
pub mod build_info;
pub mod cache;
pub mod cli;
pub mod collectors;
pub mod config;
pub mod daemon;
pub mod deploy;
pub mod fsutil;
pub mod hooks;
pub mod http;
pub mod lifecycle;
pub mod logging;
pub mod merge;
pub mod notify;
pub mod output;
pub mod process;
pub mod pyjson;
pub mod refresh;
pub mod render;
pub mod retry;
pub mod status;
