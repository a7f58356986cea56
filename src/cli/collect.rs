//! os-collect-config front end: `os-collect-config` (legacy name), `heat-agent collect` (the same
//! tool) and `heat-agent run` (the daemon; runs `heat-agent refresh` when no command is set).

use crate::config::{self, Invocation, Settings};
use crate::daemon::{self, Ended, Launch};
use crate::logging::{self, Style};
use log::LevelFilter;
use std::ffi::OsString;
use std::path::Path;

/// sysexits.h EX_CONFIG: what `heat-agent run` exits with on a configuration error.
pub const EX_CONFIG: i32 = 78;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `os-collect-config`: the reference's behaviour and log format.
    Legacy,
    /// `heat-agent collect`: same tool, native log format.
    Collect,
    /// `heat-agent run`: the daemon; default command is the built-in refresh.
    Run,
}

pub fn legacy_main(args: Vec<OsString>) -> i32 {
    main_with(args, Mode::Legacy)
}

pub fn collect_main(args: Vec<OsString>) -> i32 {
    main_with(args, Mode::Collect)
}

pub fn run_main(args: Vec<OsString>) -> i32 {
    main_with(args, Mode::Run)
}

/// The clap description of `collect` and `os-collect-config` (help, man pages, completions).
pub fn command() -> clap::Command {
    config::command()
        .about(
            "Poll the collectors once or on an interval, cache the merged metadata, and run a \
             command when it changes. Without a command, print the merged metadata as JSON (or \
             the cache dir with --print-cachedir) and exit.",
        )
        .mut_arg("command", |a| {
            a.help(
                "Command to run when the metadata changes. Without it, print the collected data \
                 as JSON and exit.",
            )
        })
}

/// The clap description of `heat-agent run`, the daemon.
pub fn run_command() -> clap::Command {
    config::command()
        .about(
            "The daemon: poll the collectors every polling interval, cache the merged metadata, \
             and when it changes run the command (default: the built-in refresh, i.e. \
             `heat-agent refresh`: the os-refresh-config phases, which render the templates and \
             run the deployments); deployment signals go out through the outbox. Runs until \
             stopped (SIGTERM), or once with --one-time. A configuration error exits 78.",
        )
        .mut_arg("command", |a| {
            a.help(
                "Command to run when the metadata changes [default: heat-agent refresh, the \
                 built-in os-refresh-config]",
            )
        })
}

fn mode_command(mode: Mode) -> clap::Command {
    match mode {
        Mode::Run => run_command(),
        Mode::Legacy | Mode::Collect => command(),
    }
}

/// A usage error under a native name: clap's message, with the closest flag suggested, when
/// clap rejects an argument too. The argparse text stays under the legacy name.
fn native_usage_error(mode: Mode, args: &[OsString]) -> Option<String> {
    if mode == Mode::Legacy {
        return None;
    }
    let prog = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    match mode_command(mode).bin_name(prog).try_get_matches_from(args) {
        Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument => {
            Some(e.render().to_string())
        }
        _ => None,
    }
}

fn level_for(s: &Settings, mode: Mode) -> LevelFilter {
    if let Some(l) = s.log_level.as_deref().and_then(logging::parse_level) {
        return l;
    }
    match mode {
        // the reference effectively shows warnings and errors only (W-C15)
        Mode::Legacy | Mode::Collect => LevelFilter::Warn,
        Mode::Run => LevelFilter::Info,
    }
}

fn main_with(args: Vec<OsString>, mode: Mode) -> i32 {
    let mut settings =
        match config::parse_collect_args(&args, &config::process_env, crate::collectors::NAMES) {
            Ok(Invocation::Help(text)) => {
                if mode == Mode::Legacy {
                    crate::output::print(text);
                } else {
                    let prog = args
                        .first()
                        .map(|a| a.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let mut cmd = mode_command(mode).bin_name(prog);
                    crate::output::print(cmd.render_help().to_string());
                }
                return 0;
            }
            Ok(Invocation::Version(text)) => {
                if mode == Mode::Legacy {
                    super::print_legacy_version(&text);
                } else {
                    crate::output::println(text);
                }
                return 0;
            }
            Ok(Invocation::Run(s)) => *s,
            Err(e) => {
                if let Some(clap_text) = (e.exit_code == 2)
                    .then(|| native_usage_error(mode, &args))
                    .flatten()
                {
                    logging::write_plain(log::Level::Error, &clap_text);
                    return 2;
                }
                logging::write_plain_line(log::Level::Error, &e.message);
                // under systemd a configuration error is permanent: 78 (EX_CONFIG) is listed in the
                // unit's RestartPreventExitStatus, so the daemon does not restart in a loop
                return if mode == Mode::Run && e.exit_code == 1 {
                    EX_CONFIG
                } else {
                    e.exit_code
                };
            }
        };
    let style = if mode == Mode::Legacy {
        Style::Bare
    } else {
        Style::Agent
    };
    let log_file = match settings.log_file.as_deref().map(logging::open_log_file) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            let path = settings.log_file.as_deref().unwrap_or(Path::new(""));
            logging::write_plain_line(
                log::Level::Error,
                &format!("cannot open log_file {}: {e}", path.display()),
            );
            return if mode == Mode::Run { EX_CONFIG } else { 1 };
        }
    };
    logging::init_with_file(level_for(&settings, mode), style, log_file);
    config::log_deferred_warnings(&settings);
    if mode == Mode::Run && settings.command.is_none() {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "heat-agent".into());
        settings.command = Some(format!("{exe} refresh"));
    }
    if !settings.print_cachedir {
        let swept = crate::cache::sweep_leftovers(&settings.cachedir, &settings.backup_cachedir);
        if swept > 0 {
            log::info!("removed {swept} stale temporary files and dirs left by earlier runs");
        }
    }
    // OS_CONFIG_FILES carries absolute paths even when the cache dir was given relative.
    settings.cachedir = daemon::absolute(&settings.cachedir);
    // Re-exec with the argv we were started with (not the one rewritten for the subcommand).
    let argv: Vec<OsString> = std::env::args_os().collect();
    exit_code(daemon::run(settings, Launch { argv }))
}

/// The reference's exit codes: a one-time run ends with its command's status; printing and a
/// requested stop end with 0; a start, collection or re-exec failure with 1.
fn exit_code(ended: Ended) -> i32 {
    match ended {
        Ended::Printed | Ended::Stopped => 0,
        Ended::OneTime(rc) => rc,
        Ended::Failed | Ended::ReexecFailed => 1,
    }
}
