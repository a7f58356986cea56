//! Man pages and shell completions, generated from the clap definitions of the commands so the
//! documentation cannot drift from the flags (`tests/packaging_docs.rs` compares the checked-in
//! copies under `packaging/man` and `packaging/completions` with fresh output).
//!
//! `heat-agent gen-man DIR` writes `heat-agent.1`, `heat-agent-<command>.1` and one page per
//! legacy name; `heat-agent gen-completions DIR` writes bash, zsh and fish completions.
//! Regenerate with `packaging/regen-docs.sh` after changing any flag.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Command;

use crate::cli::SUBCOMMANDS;
use crate::fsutil::{atomic_write, ensure_dir, Owner};

/// Subcommands that exist only for building packages: not in the generated documentation.
const HIDDEN: &[&str] = &["gen-man", "gen-completions"];

/// A tool's `command()`: its clap definition.
type Definition = fn() -> Command;

/// The clap definition of each native subcommand. A subcommand not listed here is documented
/// by its one-line help from `SUBCOMMANDS` only; once a tool exposes `command()`, add one line.
const DEFINITIONS: &[(&str, Definition)] = &[
    ("run", crate::cli::collect::run_command),
    ("collect", crate::cli::collect::command),
    ("apply", super::apply::command),
    ("refresh", super::refresh::command),
    ("run-parts", super::refresh::run_parts_command),
    ("deploy", super::deploy::command),
    ("notify", super::notify::command),
    ("hook", super::hook::command),
    ("status", super::status::command),
];

/// Legacy program names (symlinks to the binary) and their clap definition; without one, the
/// page points at the native command it stands for.
const LEGACY: &[(&str, &str, Option<Definition>)] = &[
    (
        "os-collect-config",
        "collect",
        Some(crate::cli::collect::command),
    ),
    ("os-apply-config", "apply", Some(super::apply::command)),
    // os-apply-config's older name: the same page
    ("os-config-applier", "apply", None),
    (
        "os-refresh-config",
        "refresh",
        Some(super::refresh::command),
    ),
    ("heat-config-notify", "notify", Some(super::notify::command)),
];

fn definition(name: &str) -> Option<Command> {
    DEFINITIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f())
}

/// The whole `heat-agent` command tree as documented.
pub fn command() -> Command {
    let mut cmd = Command::new("heat-agent")
        .version(env!("CARGO_PKG_VERSION"))
        .about("OpenStack in-guest agent: os-collect-config, os-apply-config, os-refresh-config and heat-config in one binary")
        .long_about(
            "heat-agent polls Heat for software deployments, renders configuration files, runs \
             the os-refresh-config phase scripts and the deployment hooks, and signals the \
             results back to Heat. Installed under the legacy names os-collect-config, \
             os-apply-config, os-refresh-config and heat-config-notify (symlinks), it accepts \
             their flags.",
        )
        .subcommand_required(true)
        .disable_help_subcommand(true)
        .after_help(
            "Legacy names (symlinks to this binary): os-collect-config, os-apply-config, \
             os-config-applier, os-refresh-config, dib-run-parts, heat-config-notify, \
             55-heat-config, hook-<name>.",
        );
    for (name, _, help) in SUBCOMMANDS {
        if HIDDEN.contains(name) {
            continue;
        }
        let sub = definition(name)
            .unwrap_or_else(|| Command::new(*name))
            .name(*name)
            .about(*help);
        cmd = cmd.subcommand(sub);
    }
    cmd
}

fn write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    atomic_write(path, data, 0o644, Owner::default())
}

fn render_man(cmd: Command) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .source(concat!("heat-agent ", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)?;
    buf.extend_from_slice(common_sections().as_bytes());
    Ok(buf)
}

/// Exit codes (docs/operators.md "Exit codes").
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "success; a stop request (SIGTERM, SIGINT) is a clean exit"),
    ("1", "runtime failure; a configuration error under the legacy name os-collect-config; os-refresh-config: a phase script failed; deploy: a result could not be saved"),
    ("2", "usage error (unknown flag, missing argument); systemd does not restart"),
    ("78", "run: invalid configuration (EX_CONFIG), the message names the file and key; systemd does not restart"),
    ("N", "--one-time and --force runs: the exit code of the command run after a collection (128+N when it was killed by signal N)"),
    ("128+N", "deploy stopped by signal N (SIGTERM, SIGINT, SIGHUP): the running hook was stopped, its deployment recorded and signalled as interrupted"),
];

/// Every path the agent reads or writes by default (tests/packaging_docs.rs checks that each
/// default path in the code is here).
const FILES: &[(&str, &str)] = &[
    (
        "/etc/os-collect-config.conf",
        "collector configuration, rendered from Heat's metadata (0600)",
    ),
    (
        "/etc/os-collect-config.conf.d/",
        "more collector configuration, read after it",
    ),
    (
        "/etc/heat-agent/config.toml, /etc/heat-agent/config.d/*.toml",
        "native configuration (0600)",
    ),
    (
        "/var/lib/heat-cfntools/cfn-init-data, /var/lib/cloud/data/cfn-init-data",
        "boot metadata written by cloud-init (read by the heat_local collector and apply)",
    ),
    (
        "/var/lib/heat-cfntools/cfn-metadata-server",
        "cfn collector: metadata URL hint written by cloud-init (read)",
    ),
    (
        "/var/cache/heat-cfntools/last_metadata",
        "apply with no metadata file given: the first of this and the two cfn-init-data paths \
         that exists (read)",
    ),
    (
        "/var/lib/os-collect-config/",
        "metadata cache: <collector>.json, .last and .orig copies, .heat-agent-sources.json",
    ),
    (
        "/var/lib/os-collect-config/os_config_files.json, /var/run/os-collect-config/os_config_files.json",
        "the list of metadata files for apply (written by the collector, read by apply)",
    ),
    (
        "/var/lib/os-collect-config/local-data/",
        "local collector input",
    ),
    (
        "/var/run/os-collect-config/",
        "backup copy of the metadata cache, refreshed whenever the metadata changed",
    ),
    (
        "/usr/libexec/os-apply-config/templates/",
        "os-apply-config template root",
    ),
    (
        "/opt/stack/os-apply-config/templates/, /opt/stack/os-config-applier/templates/",
        "older template roots, used when the default is missing (with a warning)",
    ),
    (
        "/usr/libexec/os-refresh-config/",
        "os-refresh-config phases: pre-configure.d, configure.d, migration.d, post-configure.d, \
         error.d; environment.d is sourced",
    ),
    (
        "/opt/stack/os-config-refresh/",
        "older os-refresh-config base dir, used when present (with a warning)",
    ),
    ("/var/run/os-refresh-config.lock", "os-refresh-config lock"),
    (
        "/var/run/heat-config/heat-config",
        "the deployments, rendered by os-apply-config (0600)",
    ),
    (
        "/var/lib/heat-config/deployed/",
        "one marker (and result) per deployment already run",
    ),
    (
        "/var/run/heat-config/deployed/",
        "markers of older installs, moved to /var/lib/heat-config/deployed/",
    ),
    (
        "/var/lib/heat-config/hooks/, /usr/libexec/heat-config/hooks/",
        "hooks, built-in wrappers and external ones; wrappers run /usr/bin/heat-agent",
    ),
    (
        "/var/lib/heat-config/heat-config-script/, /var/run/heat-config/heat-config-script/",
        "script hook: working and outputs directories",
    ),
    (
        "/var/lib/heat-config/heat-config-ansible/, /var/run/heat-config/heat-config-ansible/",
        "ansible hook: working and outputs directories",
    ),
    (
        "/var/lib/heat-config/heat-config-puppet/, /var/run/heat-config/heat-config-puppet/",
        "puppet hook: working and outputs directories",
    ),
    (
        "/var/lib/heat-config/heat-config-chef/, /var/run/heat-config/heat-config-chef/",
        "chef hook: working and outputs directories",
    ),
    (
        "/var/lib/heat-config/heat-config-salt/",
        "salt hook: working directory (a minion configuration per deployment in it)",
    ),
    (
        "/etc/salt/minion",
        "salt hook: the minion configuration it includes (read)",
    ),
    (
        "/etc/puppet/hieradata/, /etc/puppet/hiera.yaml",
        "hiera and puppet hooks: hiera data written per deployment, and hiera's configuration",
    ),
    (
        "/var/log/puppet/heat-debug.log, /var/log/puppet/heat-verbose.log",
        "puppet hook: puppet's log when the deployment asks for debug or verbose",
    ),
    (
        "/var/lib/heat-agent/",
        "state (0700); heat-agent status reads it",
    ),
    (
        "/var/lib/heat-agent/journal/",
        "one record per deployment: start, end, hook, exit status, output",
    ),
    (
        "/var/lib/heat-agent/outbox/",
        "signals to Heat, kept until delivered",
    ),
    (
        "/var/lib/heat-agent/deploy.lock",
        "one deploy run at a time",
    ),
    (
        "/usr/lib/systemd/system/heat-agent.service",
        "the unit (alias os-collect-config.service)",
    ),
    (
        "/usr/share/doc/heat-agent/",
        "README.md, operators.md, configuration.md, compatibility.md, config.toml.example",
    ),
];

const SEE_ALSO: &str =
    "heat-agent(1), heat-agent-run(1), heat-agent-collect(1), heat-agent-apply(1), \
    heat-agent-refresh(1), heat-agent-deploy(1), heat-agent-notify(1), heat-agent-hook(1), \
    heat-agent-status(1), os-collect-config(1), os-apply-config(1), os-refresh-config(1), \
    heat-config-notify(1), systemd.service(5), journalctl(1); \
    /usr/share/doc/heat-agent/operators.md";

/// roff text: backslashes doubled, hyphens as `\-` (a minus would be typeset otherwise).
fn roff(text: &str) -> String {
    text.replace('\\', "\\\\").replace('-', "\\-")
}

/// EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO: the same on every page.
fn common_sections() -> String {
    let mut out = String::new();
    let mut section = |title: &str, items: &[(&str, &str)], bold: bool| {
        out.push_str(&format!(".SH \"{title}\"\n"));
        for (key, text) in items {
            let font = if bold { "B" } else { "I" };
            out.push_str(&format!(
                ".TP\n\\f{font}{}\\fR\n{}\n",
                roff(key),
                roff(text)
            ));
        }
    };
    section("EXIT STATUS", EXIT_STATUS, true);
    section("ENVIRONMENT", crate::config::vars::VARIABLES, true);
    section("FILES", FILES, false);
    out.push_str(&format!(".SH \"SEE ALSO\"\n{}\n", roff(SEE_ALSO)));
    out
}

/// The page of a legacy name: its own definition, else a roff include of the native page
/// (`man os-config-applier` then shows `heat-agent-apply`).
fn legacy_page(
    legacy: &'static str,
    native: &str,
    def: Option<Definition>,
) -> std::io::Result<Vec<u8>> {
    match def {
        Some(f) => render_man(f().name(legacy)),
        None => Ok(format!(".so man1/heat-agent-{native}.1\n").into_bytes()),
    }
}

/// Every man page: (file name, contents).
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut top = command();
    // building names the subcommands `heat-agent-<name>` (page title) and `heat-agent <name>`
    // (synopsis)
    top.build();
    let mut pages = vec![("heat-agent.1".to_string(), render_man(top.clone())?)];
    for sub in top.get_subcommands() {
        let title = sub.get_display_name().unwrap_or(sub.get_name());
        pages.push((format!("{title}.1"), render_man(sub.clone())?));
    }
    for (legacy, native, def) in LEGACY {
        pages.push((format!("{legacy}.1"), legacy_page(legacy, native, *def)?));
    }
    Ok(pages)
}

/// Completion scripts: (file name, contents), named as each shell looks them up.
pub fn completions() -> Vec<(String, Vec<u8>)> {
    use clap_complete::Shell;
    [
        (Shell::Bash, "heat-agent.bash"),
        (Shell::Zsh, "_heat-agent"),
        (Shell::Fish, "heat-agent.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut command(), BIN, &mut buf);
        if shell == Shell::Bash {
            buf = fix_bash_subcommand_labels(&buf);
        }
        (file.to_string(), buf)
    })
    .collect()
}

const BIN: &str = "heat-agent";

/// clap_complete's bash script tracks the subcommand as `heat__agent__subcmd__NAME` but labels
/// its cases `heat__subcmd__agent__subcmd__NAME` when the binary name has a hyphen
/// (clap-rs/clap#6421), so nothing after the subcommand completed. Renames the labels to match;
/// a no-op once clap_complete is fixed.
fn fix_bash_subcommand_labels(script: &[u8]) -> Vec<u8> {
    let wrong = format!("{}__subcmd__", BIN.replace('-', "__subcmd__"));
    let right = format!("{}__subcmd__", BIN.replace('-', "__"));
    String::from_utf8_lossy(script)
        .replace(&wrong, &right)
        .into_bytes()
}

fn output_dir(args: &[OsString], usage: &str) -> Result<PathBuf, String> {
    match args {
        [_, dir] if !dir.to_string_lossy().starts_with('-') => Ok(PathBuf::from(dir)),
        _ => Err(format!("usage: {usage} DIR")),
    }
}

/// `--help`/`-h`: the usage on stdout, exit 0 (as every other command).
fn help(args: &[OsString], usage: &str) -> Option<i32> {
    match args {
        [_, flag] if flag == "--help" || flag == "-h" => {
            crate::output::println(format!("usage: {usage} DIR"));
            Some(0)
        }
        _ => None,
    }
}

fn write_all(tool: &str, dir: &Path, files: Vec<(String, Vec<u8>)>) -> i32 {
    let result = ensure_dir(dir, 0o755).and_then(|()| {
        for (name, data) in &files {
            write(&dir.join(name), data)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{tool}: {e}");
            1
        }
    }
}

/// `heat-agent gen-man DIR`
pub fn man_main(args: Vec<OsString>) -> i32 {
    if let Some(code) = help(&args, "heat-agent gen-man") {
        return code;
    }
    let dir = match output_dir(&args, "heat-agent gen-man") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    match man_pages() {
        Ok(pages) => write_all("heat-agent gen-man", &dir, pages),
        Err(e) => {
            eprintln!("heat-agent gen-man: {e}");
            1
        }
    }
}

/// `heat-agent gen-completions DIR`
pub fn completions_main(args: Vec<OsString>) -> i32 {
    if let Some(code) = help(&args, "heat-agent gen-completions") {
        return code;
    }
    match output_dir(&args, "heat-agent gen-completions") {
        Ok(dir) => write_all("heat-agent gen-completions", &dir, completions()),
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tree_is_consistent() {
        command().debug_assert();
        let names: Vec<_> = command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for (name, _, _) in SUBCOMMANDS {
            assert_eq!(
                names.contains(&name.to_string()),
                !HIDDEN.contains(name),
                "{name}"
            );
        }
    }

    #[test]
    fn definitions_and_legacy_names_refer_to_real_commands() {
        for (name, _) in DEFINITIONS {
            assert!(SUBCOMMANDS.iter().any(|(n, _, _)| n == name), "{name}");
        }
        for (legacy, native, _) in LEGACY {
            assert!(crate::cli::tool_for_name(legacy).is_some(), "{legacy}");
            assert!(SUBCOMMANDS.iter().any(|(n, _, _)| n == native), "{native}");
        }
    }

    #[test]
    fn man_pages_name_every_command() {
        let pages = man_pages().unwrap();
        let top = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(top.starts_with(".ie"), "roff output");
        assert!(top.contains("heat\\-agent"));
        for sub in command().get_subcommands() {
            let file = format!("heat-agent-{}.1", sub.get_name());
            assert!(pages.iter().any(|(f, _)| *f == file), "{file}");
        }
        assert_eq!(
            legacy_page("os-apply-config", "apply", None).unwrap(),
            b".so man1/heat-agent-apply.1\n"
        );
        let occ = pages
            .iter()
            .find(|(f, _)| f == "os-collect-config.1")
            .unwrap();
        let occ = String::from_utf8(occ.1.clone()).unwrap();
        assert!(occ.contains(".TH os-collect-config 1"), "{occ}");
        assert!(
            occ.contains("polling\\-interval"),
            "the legacy flags are documented"
        );
    }

    #[test]
    fn completions_cover_three_shells() {
        let files = completions();
        assert_eq!(files.len(), 3);
        let bash = String::from_utf8(files[0].1.clone()).unwrap();
        assert!(
            bash.contains("        heat__agent__subcmd__status)"),
            "{bash}"
        );
        assert!(!bash.contains("heat__subcmd__agent"), "{bash}");
        for (name, data) in files {
            let text = String::from_utf8(data).unwrap();
            assert!(
                text.contains("deploy"),
                "{name} completes the deploy subcommand"
            );
        }
    }

    #[test]
    fn output_dir_requires_one_argument() {
        assert!(output_dir(&["x".into()], "u").is_err());
        assert!(output_dir(&["x".into(), "--help".into()], "u").is_err());
        assert_eq!(
            output_dir(&["x".into(), "d".into()], "u").unwrap(),
            PathBuf::from("d")
        );
    }
}
