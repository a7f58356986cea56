//! `55-heat-config` / `heat-agent deploy`: run the pending deployments.

use crate::deploy::{forget, mark_deployed_all, run, ForgetFailure, Paths};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

/// The clap description of `heat-agent deploy` / `55-heat-config`.
pub fn command() -> clap::Command {
    use clap::{Arg, ArgAction};
    clap::Command::new("deploy")
        .about("Run pending Heat software deployments through their hooks and signal Heat (55-heat-config)")
        .long_about(
            "Reads the deployments list ($HEAT_SHELL_CONFIG, default /var/run/heat-config/heat-config), \
             runs each deployment not yet deployed (no marker <deployed>/<id>.json) through its hook, \
             records it in the journal (<state dir>/journal/<id>.json) and hands the signal to the outbox. \
             Honours HEAT_SHELL_CONFIG, HEAT_CONFIG_DEPLOYED, HEAT_CONFIG_DEPLOYED_OLD, HEAT_CONFIG_HOOKS \
             and HEAT_CONFIG_NOTIFY like the reference. SIGTERM, SIGINT or SIGHUP stop the running hook \
             (SIGTERM, SIGKILL after 5 s), record and signal its deployment as interrupted, and exit 128+N. \
             Exit 1 also when a hook's result could not be saved (a full state dir); the next run signals it.",
        )
        .arg(
            Arg::new("mark-deployed-all")
                .long("mark-deployed-all")
                .action(ArgAction::SetTrue)
                .help("Mark every listed deployment as deployed without running or signalling it (heat-config-rebuild-deployed)"),
        )
        .arg(
            Arg::new("rerun")
                .long("rerun")
                .value_name("ID")
                .help("Forget deployment ID (marker, notify file, journal), so the next run executes it again"),
        )
        .arg(
            Arg::new("state-dir")
                .long("state-dir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Journal and outbox directory [env: HEAT_AGENT_STATE_DIR; default /var/lib/heat-agent]"),
        )
        .arg(
            Arg::new("hook-timeout")
                .long("hook-timeout")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(f64))
                .help("Kill a hook's process tree after this long (default 3600; 0: never); input deploy_timeout overrides it per deployment"),
        )
        .arg(
            Arg::new("rerun-interrupted")
                .long("rerun-interrupted")
                .action(ArgAction::SetTrue)
                .help("Re-run deployments interrupted by a crash or reboot instead of signalling them as failed"),
        )
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the heat-agent version and exit"),
        )
        .arg(
            Arg::new("debug")
                .short('d')
                .long("debug")
                .action(ArgAction::SetTrue)
                .help("Log at debug level"),
        )
}

/// `55-heat-config` / `heat-agent deploy`.
pub fn main(args: Vec<OsString>) -> i32 {
    let matches = match super::parse_or_exit(command(), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if matches.get_flag("version") {
        return super::print_version();
    }
    let level = if matches.get_flag("debug") {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    };
    let style =
        crate::logging::style_for(args.first(), crate::logging::Style::Tagged("heat-config"));
    crate::logging::init(level, style);
    // native config (TOML + OS_DEPLOY__* env) with HEAT_AGENT_STATE_DIR on top
    let mut settings = match crate::notify::settings() {
        Ok(s) => s,
        Err(e) => {
            log::error!("{}", e.message);
            return 1;
        }
    };
    if let Some(t) = matches.get_one::<f64>("hook-timeout") {
        settings.deploy.hook_timeout = *t;
    }
    if matches.get_flag("rerun-interrupted") {
        settings.deploy.rerun_interrupted = true;
    }
    let mut paths = Paths::from_env(&settings);
    if let Some(d) = matches.get_one::<PathBuf>("state-dir") {
        paths.state_dir = d.clone();
        paths.state_dir_explicit = true;
    }
    if matches.get_flag("mark-deployed-all") {
        return match mark_deployed_all(&paths) {
            Ok(_) => 0,
            Err(_) => 1,
        };
    }
    if let Some(id) = matches.get_one::<String>("rerun") {
        return match forget(&paths, id) {
            Ok(()) => 0,
            Err(ForgetFailure::BadId) => 2,
            Err(ForgetFailure::Io) => 1,
        };
    }
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicI32::new(0));
    // the running hook's processes are stopped (with hooks::STOP_GRACE), its deployment
    // recorded and signalled as interrupted, and no further deployment starts; after a second
    // signal a hook still in its grace period may be left running
    let what = "stopping the running hook, then exiting";
    if let Err(e) = crate::lifecycle::stop_on_signals(&stop, &received, what) {
        log::warn!("cannot handle SIGTERM/SIGINT/SIGHUP: {e}");
    }
    // failed hooks are reported through their signals, not the exit code
    let code = match run(&settings, &paths, Some(&stop)) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    match received.load(Ordering::SeqCst) {
        0 => code,
        sig => {
            log::warn!("stopped by signal {sig}");
            128 + sig
        }
    }
}
