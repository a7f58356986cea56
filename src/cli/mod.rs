//! Front door: picks the tool from the basename of argv[0] (legacy names installed as
//! symlinks) or from the first argument (`heat-agent <subcommand>`), and hands over the rest.
//! Each tool parses its own flags, so the legacy spellings stay exactly the reference's.

use std::ffi::OsString;
use std::path::Path;

pub mod apply;
pub mod collect;
pub mod deploy;
pub mod gen;
pub mod hook;
pub mod notify;
pub mod refresh;
pub mod status;

/// A tool entry point: `args[0]` is the program name to show in usage.
type Entry = fn(Vec<OsString>) -> i32;

/// Which tool a program name stands for.
pub fn tool_for_name(name: &str) -> Option<Entry> {
    Some(match name {
        "os-collect-config" => collect::legacy_main,
        "os-apply-config" | "os-config-applier" => apply::main,
        "os-refresh-config" => refresh::main,
        "dib-run-parts" => refresh::run_parts_main,
        "55-heat-config" | "heat-config" => deploy::main,
        "heat-config-notify" => notify::main,
        _ => return None,
    })
}

/// Native subcommands: name, entry, one-line help.
pub const SUBCOMMANDS: &[(&str, Entry, &str)] = &[
    (
        "run",
        collect::run_main,
        "the daemon: poll, cache, diff, refresh, deploy, signal, forever",
    ),
    (
        "collect",
        collect::collect_main,
        "poll once, print merged metadata or the cache dir (os-collect-config)",
    ),
    (
        "apply",
        apply::main,
        "render config templates, look up keys (os-apply-config)",
    ),
    (
        "refresh",
        refresh::main,
        "run the phase directories (os-refresh-config)",
    ),
    (
        "run-parts",
        refresh::run_parts_main,
        "run the executables of one directory in order (dib-run-parts)",
    ),
    (
        "deploy",
        deploy::main,
        "run pending deployments through hooks and signal Heat (55-heat-config)",
    ),
    (
        "notify",
        notify::main,
        "send one deployment signal to Heat (heat-config-notify)",
    ),
    (
        "hook",
        hook::main,
        "run a built-in hook (script, ansible, puppet, ...) on stdin JSON",
    ),
    (
        "status",
        status::main,
        "list deployments, their results and signal delivery",
    ),
    (
        "version",
        version_main,
        "print the version, git revision and features",
    ),
    (
        "gen-man",
        gen::man_main,
        "write the man pages into DIR (packaging)",
    ),
    (
        "gen-completions",
        gen::completions_main,
        "write bash/zsh/fish completions into DIR (packaging)",
    ),
];

/// The one parse step of the clap-based front ends: `--help` and `--version` are printed and
/// end with 0, a usage error is printed and ends with clap's 2.
pub fn parse_or_exit(cmd: clap::Command, args: &[OsString]) -> Result<clap::ArgMatches, i32> {
    cmd.try_get_matches_from(args).map_err(|e| {
        crate::logging::print_clap_error(&e);
        e.exit_code()
    })
}

fn basename(arg0: &OsString) -> String {
    Path::new(arg0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub use crate::build_info::version_text;

/// `--version` under a legacy name whose reference tool has one: the reference release on stdout,
/// as tools compare it, and on stderr which agent answers.
pub fn print_legacy_version(reference: &str) {
    crate::output::println(reference);
    crate::logging::write_plain_line(
        log::Level::Info,
        &format!(
            "(installed: {}, matching release {reference})",
            version_text()
        ),
    );
}

/// `--version` under a native command or a legacy name whose reference tool has none.
pub fn print_version() -> i32 {
    crate::output::println(version_text());
    0
}

/// `heat-agent version`.
fn version_main(args: Vec<OsString>) -> i32 {
    let cmd = clap::Command::new("heat-agent version")
        .about("Print the version, the git revision and the features")
        .disable_version_flag(true);
    match parse_or_exit(cmd, &args) {
        Ok(_) => print_version(),
        Err(code) => code,
    }
}

fn usage() -> String {
    let mut s = String::from(
        "heat-agent: OpenStack in-guest agent (os-collect-config, os-apply-config, \
         os-refresh-config, heat-config) in one binary\n\nUsage: heat-agent <COMMAND> [ARGS]...\n\nCommands:\n",
    );
    let width = SUBCOMMANDS
        .iter()
        .map(|(n, _, _)| n.len())
        .max()
        .unwrap_or(0);
    for (name, _, help) in SUBCOMMANDS {
        s.push_str(&format!("  {name:<width$}  {help}\n"));
    }
    s.push_str(
        "\nLegacy names (symlinks to this binary): os-collect-config, os-apply-config, \
         os-config-applier,\nos-refresh-config, dib-run-parts, heat-config-notify, 55-heat-config, \
         hook-<name>.\n\n`heat-agent <COMMAND> --help` describes each command.\n\n\
         Options:\n  -h, --help     Print help\n  -V, --version  Print version, git revision and features\n",
    );
    s
}

/// Dispatch on argv[0], then on the subcommand.
pub fn dispatch(args: Vec<OsString>) -> i32 {
    let name = args.first().map(basename).unwrap_or_default();
    if let Some(entry) = tool_for_name(&name) {
        return entry(args);
    }
    if let Some(hook) = name.strip_prefix("hook-") {
        let mut hargs = vec![OsString::from(name.to_string()), OsString::from(hook)];
        hargs.extend(args.into_iter().skip(1));
        return hook::main(hargs);
    }
    let Some(sub) = args.get(1).map(|s| s.to_string_lossy().into_owned()) else {
        crate::logging::write_plain(log::Level::Error, &usage());
        return 2;
    };
    match sub.as_str() {
        "-h" | "--help" | "help" => {
            crate::output::print(usage());
            return 0;
        }
        "-V" | "--version" => return print_version(),
        _ => {}
    }
    for (cmd, entry, _) in SUBCOMMANDS {
        if *cmd == sub {
            let mut rest = vec![OsString::from(format!("heat-agent {cmd}"))];
            rest.extend(args.into_iter().skip(2));
            return entry(rest);
        }
    }
    // legacy tool names also work as subcommands: `heat-agent os-apply-config ...`
    if let Some(entry) = tool_for_name(&sub) {
        let mut rest = vec![OsString::from(sub)];
        rest.extend(args.into_iter().skip(2));
        return entry(rest);
    }
    crate::logging::write_plain(
        log::Level::Error,
        &format!("heat-agent: unknown command '{sub}'\n\n{}", usage()),
    );
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names_map_to_tools() {
        for n in [
            "os-collect-config",
            "os-apply-config",
            "os-config-applier",
            "os-refresh-config",
            "dib-run-parts",
            "heat-config-notify",
            "55-heat-config",
        ] {
            assert!(tool_for_name(n).is_some(), "{n}");
        }
        assert!(tool_for_name("heat-agent").is_none());
    }

    #[test]
    fn basename_of_paths() {
        assert_eq!(
            basename(&"/usr/local/bin/os-collect-config".into()),
            "os-collect-config"
        );
        assert_eq!(basename(&"os-apply-config".into()), "os-apply-config");
    }
}
