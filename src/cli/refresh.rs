//! `os-refresh-config` / `heat-agent refresh` and `dib-run-parts` / `heat-agent run-parts`.

use crate::refresh::{
    base_dir_from_environment, close_inherited_fds, refresh, runparts, Level, Log, Options,
    Outcome, DEFAULT_LOCKFILE, PHASES,
};
use clap::{Arg, ArgAction, Command};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

/// The `os-refresh-config` command line (argparse-compatible: unique prefixes are accepted).
pub fn command() -> Command {
    Command::new("os-refresh-config")
        .about(
            "Run the phase directories (pre-configure.d, configure.d, post-configure.d, \
             migration.d) of the base directory in order; stop at the first failing phase, run \
             error.d and exit 1. The base directory is $OS_REFRESH_CONFIG_BASE_DIR, else \
             /usr/libexec/os-refresh-config.",
        )
        .infer_long_args(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the heat-agent version, then exit"),
        )
        .arg(
            Arg::new("print_base")
                .long("print-base")
                .action(ArgAction::SetTrue)
                .help("Print the base directory, then exit"),
        )
        .arg(
            Arg::new("print_phases")
                .long("print-phases")
                .action(ArgAction::SetTrue)
                .help("Print the phase names, tab separated, then exit"),
        )
        .arg(
            Arg::new("log_level")
                .long("log-level")
                .value_name("LEVEL")
                .value_parser(["ERROR", "WARN", "CRITICAL", "INFO", "DEBUG"])
                .default_value("INFO"),
        )
        .arg(
            Arg::new("lockfile")
                .long("lockfile")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .default_value(DEFAULT_LOCKFILE)
                .help("Lock held during the run; a second run exits 11 at once"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64))
                .help(
                    "Limit for the whole run: the running script and its children get SIGTERM, \
                     then SIGKILL; 0 means none",
                ),
        )
}

/// The `dib-run-parts` command line, for help, man pages and completions. (Parsing is done by
/// hand: the reference's rules — `--list` only first, extra arguments ignored, exit 1 on usage
/// errors — are not clap's.)
pub fn run_parts_command() -> Command {
    Command::new("dib-run-parts")
        .about(
            "Run the executables of one directory in `sort -n` order, after sourcing \
             ../environment.d; stop at the first failure with its exit status",
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("print the heat-agent version"),
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("print names of all valid files"),
        )
        .arg(
            Arg::new("scripts_directory")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf)),
        )
}

fn program_name(args: &[OsString], default: &str) -> String {
    args.first()
        .map(|a| {
            let b = a.as_bytes();
            let base = match b.iter().rposition(|&c| c == b'/') {
                Some(i) => &b[i + 1..],
                None => b,
            };
            String::from_utf8_lossy(base).into_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// `os-refresh-config` / `heat-agent refresh`.
pub fn main(args: Vec<OsString>) -> i32 {
    crate::logging::set_style(crate::logging::style_for(
        args.first(),
        crate::logging::Style::Tagged("os-refresh-config"),
    ));
    // Evaluated before argument parsing, like the reference's module-level BASE_DIR.
    let base_dir = base_dir_from_environment();
    let name = program_name(&args, "os-refresh-config");
    let matches = match super::parse_or_exit(command().bin_name(name), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if matches.get_flag("version") {
        return super::print_version();
    }
    if matches.get_flag("print_base") {
        let mut out = crate::output::stdout();
        let _ = out.write_all(base_dir.as_os_str().as_bytes());
        let _ = out.write_all(b"\n");
        return 0;
    }
    if matches.get_flag("print_phases") {
        crate::output::println(PHASES.join("\t"));
        return 0;
    }
    let level = matches
        .get_one::<String>("log_level")
        .and_then(|s| Level::parse(s))
        .unwrap_or(Level::Info);
    let log = Log { level };
    if !base_dir.is_dir() {
        // the reference runs no phase and says nothing; exit status stays 0
        log.warn(&format!(
            "base directory {} does not exist: no phase to run",
            base_dir.display()
        ));
    }
    let mut opts = Options::new(base_dir);
    opts.log = log;
    if let Some(p) = matches.get_one::<PathBuf>("lockfile") {
        opts.lockfile = p.clone();
    }
    opts.timeout = matches
        .get_one::<u64>("timeout")
        .copied()
        .filter(|&t| t > 0)
        .map(Duration::from_secs);
    close_inherited_fds();
    let signals = crate::lifecycle::StopSignals::install();
    let outcome = refresh(&opts, Some(signals.flag()));
    exit_code(&outcome, signals.exit_code())
}

/// The reference's exit codes: 0, 1 for a failed phase, the errno when locked (11 when another
/// run holds the lock); `stopped` (128+N for signal N) when a signal stopped the run.
fn exit_code(outcome: &Outcome, stopped: i32) -> i32 {
    match outcome {
        Outcome::Success => 0,
        Outcome::PhaseFailed { .. } | Outcome::LockError(_) => 1,
        Outcome::Locked { errno } => *errno,
        Outcome::Stopped => stopped,
    }
}

/// `dib-run-parts [--list] <dir>` / `heat-agent run-parts`.
pub fn run_parts_main(args: Vec<OsString>) -> i32 {
    crate::logging::set_style(crate::logging::style_for(
        args.first(),
        crate::logging::Style::Tagged("dib-run-parts"),
    ));
    let name = program_name(&args, "dib-run-parts");
    let rest = &args[1.min(args.len())..];
    let Some(first) = rest.first() else {
        crate::logging::write_plain(log::Level::Error, &runparts::usage(&name));
        return 1;
    };
    if first == "-h" || first == "--help" {
        crate::output::print(runparts::usage(&name));
        return 0;
    }
    if first == "--version" {
        return super::print_version();
    }
    let (list, dir): (bool, &OsStr) = if first == "--list" {
        (true, rest.get(1).map(|s| s.as_os_str()).unwrap_or_default())
    } else {
        (false, first.as_os_str())
    };
    let mut runner = match runparts::Runner::from_env(&name) {
        Ok(r) => r,
        Err(f) => {
            crate::logging::write_plain_line(
                log::Level::Error,
                &format!("{name}: {}", f.describe()),
            );
            return 1;
        }
    };
    if list {
        return match runner.targets(dir) {
            Ok(names) => {
                let mut out = crate::output::stdout();
                for n in names {
                    let mut line = dir.as_bytes().to_vec();
                    line.push(b'/');
                    line.extend_from_slice(n.as_bytes());
                    line.push(b'\n');
                    let _ = out.write_all(&line);
                }
                0
            }
            Err(f) => usage_failure(&runner, &name, &f),
        };
    }
    let signals = crate::lifecycle::StopSignals::install();
    runner.stop = Some(signals.flag());
    match runner.run(dir) {
        Ok(()) => 0,
        Err(runparts::Failure::Stopped { path }) => {
            let what = path
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default();
            runner.say_error(&format!(
                "Stopped by a signal: killed{what} and its children"
            ));
            signals.exit_code()
        }
        Err(f @ runparts::Failure::NotADirectory(_)) => usage_failure(&runner, &name, &f),
        Err(f @ runparts::Failure::Unreadable(..)) => {
            runner.say_error(&f.describe());
            f.exit_status()
        }
        Err(f) => f.exit_status(),
    }
}

fn usage_failure(runner: &runparts::Runner, name: &str, f: &runparts::Failure) -> i32 {
    runner.say_error(&f.describe());
    if let runparts::Failure::NotADirectory(_) = f {
        crate::logging::write_plain(log::Level::Error, &runparts::usage(name));
    }
    f.exit_status()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_the_reference_exit_codes() {
        let failed = Outcome::PhaseFailed {
            phase: "configure",
            failure: runparts::Failure::Stopped { path: None },
        };
        assert_eq!(exit_code(&Outcome::Success, 143), 0);
        assert_eq!(exit_code(&failed, 143), 1);
        assert_eq!(exit_code(&Outcome::LockError("x".into()), 143), 1);
        assert_eq!(exit_code(&Outcome::Locked { errno: 11 }, 143), 11);
        assert_eq!(exit_code(&Outcome::Stopped, 130), 130);
    }

    #[test]
    fn command_is_valid() {
        command().debug_assert();
        run_parts_command().debug_assert();
    }
}
