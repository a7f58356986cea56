//! `os-apply-config`, `os-config-applier` and `heat-agent apply`: the flags of the reference
//! plus `--diff`; the work is `apply::run`.

use crate::apply::{
    run, templates_dir, Applied, Environment, Log, Options, FALLBACK_METADATA, REFERENCE_VERSION,
};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::ffi::OsString;
use std::path::Path;

/// The reference's flags plus `--diff`.
pub fn command() -> Command {
    Command::new("os-apply-config")
        .about(
            "Render the configuration templates of a template tree into files, from the merged \
             JSON metadata (-m, else $OS_CONFIG_FILES, else the os_config_files.json list), or \
             print one metadata value (--key, --boolean-key).",
        )
        .infer_long_args(true)
        .args_override_self(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("templates")
                .short('t')
                .long("templates")
                .value_name("TEMPLATE_ROOT")
                .help("template tree to render [default: $OS_CONFIG_APPLIER_TEMPLATES, else /usr/libexec/os-apply-config/templates]"),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .value_name("OUT_DIR")
                .default_value("/")
                .help("where the rendered tree is written"),
        )
        .arg(
            Arg::new("metadata")
                .short('m')
                .long("metadata")
                .value_name("METADATA_FILE")
                .num_args(0..)
                .action(ArgAction::Set)
                .help("metadata JSON files, later ones win (instead of $OS_CONFIG_FILES). List them all after one -m: a second -m replaces the first list"),
        )
        .arg(
            Arg::new("fallback-metadata")
                .long("fallback-metadata")
                .value_name("FALLBACK_METADATA")
                .num_args(0..)
                .action(ArgAction::Set)
                .default_values(FALLBACK_METADATA)
                .help("metadata files read first, with the lowest priority"),
        )
        .arg(
            Arg::new("validate")
                .short('v')
                .long("validate")
                .action(ArgAction::SetTrue)
                .help("render everything (executable templates run) but write nothing"),
        )
        .arg(
            Arg::new("diff")
                .long("diff")
                .action(ArgAction::SetTrue)
                .help("dry run: print a unified diff of every file that would change, write nothing"),
        )
        .arg(
            Arg::new("print-templates")
                .long("print-templates")
                .action(ArgAction::SetTrue)
                .help("print the template tree path and exit"),
        )
        .arg(
            Arg::new("subhash")
                .short('s')
                .long("subhash")
                .help("render from the map at this dotted path instead of the whole metadata"),
        )
        .arg(
            Arg::new("key")
                .long("key")
                .value_name("KEY")
                .help("print the value at this dotted path (list items by index) and exit"),
        )
        .arg(Arg::new("type").long("type").default_value("default").help(
            "check the --key value against a type and fail when it does not match: \
             int, default, netaddress, netdevice, dsn, swiftdevices, username, raw",
        ))
        .arg(
            Arg::new("key-default")
                .long("key-default")
                .allow_negative_numbers(true)
                .help("what --key prints when the path is missing (not type checked)"),
        )
        .arg(Arg::new("boolean-key").long("boolean-key").help(
            "exit 0 if the value at this path is true, 1 if false, 255 otherwise (ignored with --key)",
        ))
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("print the version and exit"),
        )
        .arg(
            Arg::new("os-config-files")
                .long("os-config-files")
                .help("JSON list of metadata files [default: $OS_CONFIG_FILES_PATH, else /var/lib/os-collect-config/os_config_files.json]"),
        )
}

fn basename(arg0: Option<&OsString>) -> String {
    arg0.and_then(|a| {
        Path::new(a)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
    })
    .unwrap_or_else(|| "os-apply-config".into())
}

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

/// `os-apply-config` / `heat-agent apply`.
pub fn main(args: Vec<OsString>) -> i32 {
    crate::logging::set_style(crate::logging::style_for(
        args.first(),
        crate::logging::Style::OsApplyConfig,
    ));
    let prog = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let legacy = matches!(
        basename(args.first()).as_str(),
        "os-apply-config" | "os-config-applier"
    );
    let (default_templates, warning) =
        templates_dir(crate::config::vars::os_config_applier_templates(), |p| {
            Path::new(p).is_dir()
        });
    if let Some(w) = warning {
        crate::logging::write_plain_line(log::Level::Warn, &w);
    }
    let cmd = command().bin_name(if legacy || prog.is_empty() {
        basename(args.first())
    } else {
        prog
    });
    let m = match super::parse_or_exit(cmd, &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.get_flag("version") {
        if legacy {
            super::print_legacy_version(REFERENCE_VERSION);
        } else {
            crate::output::println(super::version_text());
        }
        return 0;
    }
    let templates = m
        .get_one::<String>("templates")
        .cloned()
        .unwrap_or(default_templates);
    if m.get_flag("print-templates") {
        crate::output::println(&templates);
        return 0;
    }
    let log = Log::stderr();
    let looks_up =
        m.get_one::<String>("key").is_some() || m.get_one::<String>("boolean-key").is_some();
    // one line naming the path; the exit status stays the reference's
    if !looks_up && !Path::new(&templates).is_dir() {
        log.warn(&format!(
            "template root {templates} does not exist: nothing to render"
        ));
    }
    for file in strings(&m, "metadata") {
        if !Path::new(&file).exists() {
            log.warn(&format!("metadata file {file} does not exist"));
        }
    }
    let opts = Options {
        templates,
        output: m
            .get_one::<String>("output")
            .cloned()
            .unwrap_or_else(|| "/".into()),
        metadata: strings(&m, "metadata"),
        fallback: strings(&m, "fallback-metadata"),
        validate: m.get_flag("validate"),
        diff: m.get_flag("diff"),
        subhash: m.get_one::<String>("subhash").cloned(),
        key: m.get_one::<String>("key").cloned(),
        value_type: m
            .get_one::<String>("type")
            .cloned()
            .unwrap_or_else(|| "default".into()),
        key_default: m.get_one::<String>("key-default").cloned(),
        boolean_key: m.get_one::<String>("boolean-key").cloned(),
        os_config_files: m.get_one::<String>("os-config-files").cloned(),
    };
    let mut stdout = crate::output::stdout();
    // the reference's codes: --boolean-key exits 0 for true, 1 for false, 255 (-1) otherwise
    match run(opts, &Environment::from_process(), &log, &mut stdout) {
        Applied::Done | Applied::Boolean(Some(true)) => 0,
        Applied::Failed | Applied::Boolean(Some(false)) => 1,
        Applied::Boolean(None) => 255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_flag_replaces_when_repeated_and_prefixes_work() {
        let m = command()
            .try_get_matches_from(["x", "-m", "a", "b", "-m", "c", "--key-d", "-1", "--val"])
            .unwrap();
        assert_eq!(strings(&m, "metadata"), vec!["c"]);
        assert_eq!(m.get_one::<String>("key-default").unwrap(), "-1");
        assert!(m.get_flag("validate"));
        let m = command()
            .try_get_matches_from(["x", "--key", "k", "--key-default", "d"])
            .unwrap();
        assert_eq!(m.get_one::<String>("key").unwrap(), "k");
        assert!(command().try_get_matches_from(["x", "--v"]).is_err());
        assert_eq!(
            command()
                .try_get_matches_from(["x", "--bogus"])
                .unwrap_err()
                .exit_code(),
            2
        );
        let m = command().try_get_matches_from(["x", "-m"]).unwrap();
        assert!(strings(&m, "metadata").is_empty());
    }
}
