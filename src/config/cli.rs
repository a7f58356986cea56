//! os-collect-config's command line, parsed the way oslo.config's argparse parser does
//! (docs/compatibility.md, "Configuration and the os-collect-config command line"):
//! `--<group>-<opt>` with the group name kept literally, `--no…`
//! inverse flags, unique-prefix abbreviations (`--polling` = `--polling-interval`), `--x=v`,
//! short clusters (`-dc cmd`, `-i5`), one run of positional collectors, and argparse's
//! error texts (`unrecognized arguments: …`, `ambiguous option: …`, exit 2).
//!
//! Why not clap's parser: clap's prefix inference, positional grouping and error texts differ
//! from argparse's in ways scripts can observe; [`command`] still describes the same flags
//! with clap for `--help`, man pages and completions.

use super::load::Layer;
use super::options::{Kind, OptDef, OPTIONS};
use clap::{Arg, ArgAction};

#[derive(Clone, Copy, Debug)]
enum Action {
    Help,
    Version,
    Value(&'static OptDef),
    Flag(&'static OptDef, bool),
    ConfigFile,
    ConfigDir,
    Verbose,
    LogLevel,
}

/// A `--config-file` or `--config-dir`, in command-line order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ConfigSource {
    File(String),
    Dir(String),
}

pub(crate) struct Parsed {
    pub layer: Layer,
    pub sources: Vec<ConfigSource>,
}

pub(crate) enum Outcome {
    Parsed(Parsed),
    Help,
    Version,
}

/// One argparse action: its option strings (long ones with `--`, short with `-`).
struct Spec {
    strings: Vec<String>,
    action: Action,
    metavar: Option<String>,
}

fn specs() -> Vec<Spec> {
    let mut out = vec![Spec {
        strings: vec!["-h".into(), "--help".into()],
        action: Action::Help,
        metavar: None,
    }];
    for def in OPTIONS {
        let Some(long) = def.long() else { continue };
        let mut strings = vec![format!("--{long}")];
        strings.extend(def.aliases.iter().map(|a| format!("--{a}")));
        if let Some(c) = def.short {
            strings.push(format!("-{c}"));
        }
        if def.kind == Kind::Bool {
            out.push(Spec {
                strings,
                action: Action::Flag(def, true),
                metavar: None,
            });
            if let Some(neg) = def.long_negated() {
                out.push(Spec {
                    strings: vec![format!("--{neg}")],
                    action: Action::Flag(def, false),
                    metavar: None,
                });
            }
        } else {
            let metavar = match def.name {
                "log_file" | "log_config_append" => "PATH".to_string(),
                _ => long.replace('-', "_").to_ascii_uppercase(),
            };
            out.push(Spec {
                strings,
                action: Action::Value(def),
                metavar: Some(metavar),
            });
        }
    }
    out.push(Spec {
        strings: vec!["--config-file".into()],
        action: Action::ConfigFile,
        metavar: Some("PATH".into()),
    });
    out.push(Spec {
        strings: vec!["--config-dir".into()],
        action: Action::ConfigDir,
        metavar: Some("DIR".into()),
    });
    out.push(Spec {
        strings: vec!["--version".into()],
        action: Action::Version,
        metavar: None,
    });
    out.push(Spec {
        strings: vec!["-v".into(), "--verbose".into()],
        action: Action::Verbose,
        metavar: None,
    });
    out.push(Spec {
        strings: vec!["--log-level".into()],
        action: Action::LogLevel,
        metavar: Some("LEVEL".into()),
    });
    // oslo registers the DEFAULT options sorted by flag, then each group (in this order)
    // sorted; argparse lists candidates of an ambiguous prefix in that order.
    const GROUP_ORDER: [&str; 8] = [
        "zaqar",
        "keystone",
        "request",
        "heat",
        "local",
        "heat_local",
        "cfn",
        "ec2",
    ];
    out.sort_by_cached_key(|sp| {
        let group = match sp.action {
            Action::Help => return (0, String::new()),
            Action::Value(def) | Action::Flag(def, _) => def.group,
            _ => "DEFAULT",
        };
        let rank = GROUP_ORDER
            .iter()
            .position(|g| *g == group)
            .map(|p| p + 2)
            .unwrap_or(1);
        let long = sp
            .strings
            .iter()
            .find(|s| s.starts_with("--"))
            .cloned()
            .unwrap_or_default();
        (rank, long)
    });
    out
}

/// argparse's `_parse_optional`: does this string look like an option? Known option strings
/// (exact, `--x=v`, a prefix, a short option with attached text) are options even with spaces.
fn is_optional(a: &str, specs: &[Spec]) -> bool {
    if !a.starts_with('-') || a.len() == 1 {
        return false;
    }
    if a == "--" {
        return true;
    }
    let known = |s: &str| specs.iter().any(|sp| sp.strings.iter().any(|x| x == s));
    if known(a) {
        return true;
    }
    let name = a.split_once('=').map(|(n, _)| n).unwrap_or(a);
    if known(name) {
        return true;
    }
    if a.starts_with("--") {
        if specs
            .iter()
            .flat_map(|sp| sp.strings.iter())
            .any(|s| s.starts_with("--") && s.starts_with(name))
        {
            return true;
        }
    } else {
        let short: String = a.chars().take(2).collect();
        if known(&short) {
            return true;
        }
    }
    if looks_negative_number(a) || a.contains(' ') {
        return false;
    }
    true
}

/// `^-\d+$|^-\d*\.\d+$`
fn looks_negative_number(a: &str) -> bool {
    let Some(rest) = a.strip_prefix('-') else {
        return false;
    };
    if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    match rest.split_once('.') {
        Some((int, frac)) => {
            int.chars().all(|c| c.is_ascii_digit())
                && !frac.is_empty()
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[derive(PartialEq)]
enum Positional {
    NotStarted,
    Active,
    Done,
}

/// Parse `args` (without the program name). `Err` is the argparse error text (exit 2).
pub(crate) fn parse(args: &[String]) -> Result<Outcome, String> {
    let specs = specs();
    let find_exact = |s: &str| specs.iter().find(|sp| sp.strings.iter().any(|x| x == s));
    let mut layer = Layer::default();
    let mut sources = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut pos_state = Positional::NotStarted;
    let mut extras: Vec<String> = Vec::new();
    let mut only_positional = false;
    let mut verbose = 0u32;
    let mut log_level: Option<String> = None;
    let mut debug: Option<bool> = None;

    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_positional || !is_optional(a, &specs) {
            if pos_state == Positional::Done {
                extras.push(a.clone());
            } else {
                positional.push(a.clone());
                pos_state = Positional::Active;
            }
            continue;
        }
        if pos_state == Positional::Active {
            pos_state = Positional::Done;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }

        // Resolve the option string and any explicit `=value` / attached value.
        let (spec, mut explicit): (&Spec, Option<String>) = if a.starts_with("--") {
            let (name, explicit) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            match find_exact(name) {
                Some(sp) => (sp, explicit),
                None => {
                    let matches: Vec<&String> = specs
                        .iter()
                        .flat_map(|sp| sp.strings.iter())
                        .filter(|s| s.starts_with("--") && s.starts_with(name))
                        .collect();
                    match matches.len() {
                        0 => {
                            extras.push(a.clone());
                            continue;
                        }
                        1 => (find_exact(matches[0]).expect("listed"), explicit),
                        _ => {
                            return Err(format!(
                                "ambiguous option: {name} could match {}",
                                matches
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        }
                    }
                }
            }
        } else if let Some(sp) = find_exact(a) {
            (sp, None)
        } else if let Some(sp) = a.split_once('=').and_then(|(n, _)| find_exact(n)) {
            (sp, a.split_once('=').map(|(_, v)| v.to_string()))
        } else {
            let short: String = a.chars().take(2).collect();
            match find_exact(&short) {
                Some(sp) => (sp, Some(a[short.len()..].to_string())),
                None => {
                    extras.push(a.clone());
                    continue;
                }
            }
        };

        // Flags may be clustered (`-dv`); loop while the attached text names further flags.
        let mut spec = spec;
        loop {
            let display = spec.strings.join("/");
            match spec.action {
                Action::Help => return Ok(Outcome::Help),
                Action::Version => return Ok(Outcome::Version),
                Action::Flag(..) | Action::Verbose => {
                    match spec.action {
                        Action::Flag(def, value) => {
                            if def.group == "DEFAULT" && def.name == "debug" {
                                debug = Some(value);
                            }
                            layer.push_raw(def, if value { "true" } else { "false" }.into(), "");
                        }
                        _ => verbose += 1,
                    }
                    match explicit.take() {
                        None => break,
                        Some(rest) => {
                            // `-dv`: the rest is another short flag only for single-dash forms
                            let next = format!("-{}", rest.chars().next().unwrap_or(' '));
                            let single_dash = !a.starts_with("--");
                            match find_exact(&next) {
                                Some(sp) if single_dash && !rest.is_empty() => {
                                    let tail = rest[next.len() - 1..].to_string();
                                    explicit = if tail.is_empty() { None } else { Some(tail) };
                                    spec = sp;
                                    continue;
                                }
                                _ => {
                                    return Err(format!(
                                        "argument {display}: ignored explicit argument {}",
                                        py_quote(&rest)
                                    ))
                                }
                            }
                        }
                    }
                }
                _ => {
                    let value = match explicit.take() {
                        Some(v) => v,
                        None => {
                            if i < args.len() && !is_optional(&args[i], &specs) {
                                i += 1;
                                args[i - 1].clone()
                            } else {
                                return Err(format!("argument {display}: expected one argument"));
                            }
                        }
                    };
                    match spec.action {
                        Action::Value(def) => {
                            if def.name == "shell_completion"
                                && !matches!(value.as_str(), "bash" | "zsh")
                            {
                                return Err(format!(
                                    "argument {display}: invalid choice: {} (choose from 'bash', 'zsh')",
                                    py_quote(&value)
                                ));
                            }
                            layer.push_raw(def, value, "")
                        }
                        Action::ConfigFile => sources.push(ConfigSource::File(value)),
                        Action::ConfigDir => sources.push(ConfigSource::Dir(value)),
                        Action::LogLevel => {
                            if crate::logging::parse_level(&value).is_none() {
                                return Err(format!(
                                    "argument {display}: invalid choice: {} (choose from 'error', 'warn', 'info', 'debug', 'trace')",
                                    py_quote(&value)
                                ));
                            }
                            log_level = Some(value);
                        }
                        _ => unreachable!("value actions only"),
                    }
                    break;
                }
            }
        }
    }
    if !extras.is_empty() {
        return Err(format!("unrecognized arguments: {}", extras.join(" ")));
    }
    if let Some(collectors) = super::options::find("DEFAULT", "collectors") {
        for c in positional {
            layer.push_raw(collectors, c, "");
        }
    }
    // --log-level beats -v, which beats --debug; all beat the files' log_level
    let level = log_level.or(match verbose {
        0 => None,
        1 => Some("info".to_string()),
        2 => Some("debug".to_string()),
        _ => Some("trace".to_string()),
    });
    let level = level.or(if debug == Some(true) {
        Some("debug".to_string())
    } else {
        None
    });
    if let (Some(level), Some(def)) = (level, super::options::find("DEFAULT", "log_level")) {
        layer.push_raw(def, level, "");
    }
    Ok(Outcome::Parsed(Parsed { layer, sources }))
}

fn py_quote(s: &str) -> String {
    let mut out = String::new();
    crate::pyjson::write_str_repr(&mut out, s);
    out
}

/// argparse-style usage text, wrapped like argparse does (for the exit-2 error output).
pub(crate) fn usage(prog: &str) -> String {
    let head = format!("usage: {prog} ");
    let indent = " ".repeat(head.len());
    let mut parts: Vec<String> = Vec::new();
    for sp in specs() {
        let first = &sp.strings[0];
        let opt = if first == "-h" || first == "-v" {
            first.clone()
        } else {
            sp.strings
                .iter()
                .find(|s| s.starts_with("--"))
                .cloned()
                .unwrap_or_else(|| first.clone())
        };
        parts.push(match &sp.metavar {
            Some(m) => format!("[{opt} {m}]"),
            None => format!("[{opt}]"),
        });
    }
    parts.push("[collectors ...]".into());
    let mut out = head.clone();
    let mut col = head.len();
    for (n, p) in parts.iter().enumerate() {
        if n > 0 && col + 1 + p.len() > 79 {
            out.push('\n');
            out.push_str(&indent);
            col = indent.len();
        } else if n > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(p);
        col += p.len();
    }
    out
}

/// Spellings computed once, so clap can borrow them for `'static` (no clap `string` feature).
struct ClapNames {
    def: &'static OptDef,
    long: &'static str,
    metavar: &'static str,
    negated: Option<(&'static str, &'static str)>,
}

fn clap_names() -> &'static [ClapNames] {
    static NAMES: std::sync::OnceLock<Vec<ClapNames>> = std::sync::OnceLock::new();
    static TEXT: std::sync::OnceLock<Vec<[String; 4]>> = std::sync::OnceLock::new();
    let text = TEXT.get_or_init(|| {
        OPTIONS
            .iter()
            .filter_map(|def| {
                let long = def.long()?;
                let metavar = long.replace('-', "_").to_ascii_uppercase();
                let neg = def.long_negated().unwrap_or_default();
                let neg_help = format!("The inverse of --{long}");
                Some([long, metavar, neg, neg_help])
            })
            .collect()
    });
    NAMES.get_or_init(|| {
        OPTIONS
            .iter()
            .filter(|def| def.long().is_some())
            .zip(text.iter())
            .map(|(def, [long, metavar, neg, neg_help])| ClapNames {
                def,
                long: long.as_str(),
                metavar: metavar.as_str(),
                negated: if neg.is_empty() {
                    None
                } else {
                    Some((neg.as_str(), neg_help.as_str()))
                },
            })
            .collect()
    })
}

/// The flags as a clap `Command` (help, man pages, completions). Parsing uses [`parse`].
pub fn command() -> clap::Command {
    let mut cmd = clap::Command::new("os-collect-config")
        .about("Collect configuration metadata from OpenStack sources, cache it, and run a command when it changes.")
        .after_help(
            "Options are also read from $HOME/os-collect-config.conf or /etc/os-collect-config.conf \
             (and the matching .conf.d directory), OS_<GROUP>__<OPT> environment variables, and \
             /etc/heat-agent/config.toml. See docs/configuration.md.",
        )
        .disable_version_flag(true)
        .version(env!("CARGO_PKG_VERSION"));
    cmd = cmd.arg(
        Arg::new("collectors")
            .value_name("COLLECTOR")
            .num_args(0..)
            .action(ArgAction::Append)
            .help(
                "Collectors to use, in this order (default: heat_local ec2 cfn heat request local zaqar)",
            ),
    );
    for n in clap_names() {
        let def = n.def;
        let mut arg = Arg::new(n.long).long(n.long).help(def.help);
        for a in def.aliases {
            arg = arg.visible_alias(*a);
        }
        if let Some(c) = def.short {
            arg = arg.short(c);
        }
        arg = match def.kind {
            Kind::Bool => arg.action(ArgAction::SetTrue),
            Kind::Multi => arg.action(ArgAction::Append).value_name(n.metavar),
            _ => arg.action(ArgAction::Set).value_name(n.metavar),
        };
        cmd = cmd.arg(arg);
        if let Some((neg, neg_help)) = n.negated {
            cmd = cmd.arg(
                Arg::new(neg)
                    .long(neg)
                    .action(ArgAction::SetTrue)
                    .help(neg_help),
            );
        }
    }
    cmd.arg(
        Arg::new("config-file")
            .long("config-file")
            .value_name("PATH")
            .action(ArgAction::Append)
            .help("Config file to use (repeatable; later files win). Replaces the search of $HOME and /etc."),
    )
    .arg(
        Arg::new("config-dir")
            .long("config-dir")
            .value_name("DIR")
            .action(ArgAction::Append)
            .help("Directory whose *.conf files are read, in name order, after the config files."),
    )
    .arg(
        Arg::new("version")
            .long("version")
            .action(ArgAction::SetTrue)
            .help("Print the version and exit"),
    )
    .arg(
        Arg::new("verbose")
            .short('v')
            .long("verbose")
            .action(ArgAction::Count)
            .help("More log output (-v info, -vv debug, -vvv trace)"),
    )
    .arg(
        Arg::new("log-level")
            .long("log-level")
            .value_name("LEVEL")
            .action(ArgAction::Set)
            .help("Log level: error, warn, info, debug, trace"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Outcome, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn clap_command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn ambiguous_prefix_lists_candidates() {
        let e = p(&["--no"]).err().unwrap();
        assert_eq!(e, "ambiguous option: --no could match --nodebug, --noforce, --noone-time, --noprint, --noprint-cachedir, --nouse-journal, --nouse-json, --nouse-syslog");
        let e = p(&["--c", "x"]).err().unwrap();
        assert_eq!(e, "ambiguous option: --c could match --cachedir, --command, --config-dir, --config-file, --cfn-access-key-id, --cfn-ca_certificate, --cfn-deployment-key, --cfn-heat-metadata-hint, --cfn-metadata-url, --cfn-path, --cfn-secret-access-key, --cfn-stack-name, --cfn-timeout");
    }

    #[test]
    fn flag_with_explicit_value_is_an_error() {
        assert_eq!(
            p(&["--one-time=1"]).err().unwrap(),
            "argument --one-time: ignored explicit argument '1'"
        );
        assert_eq!(
            p(&["-dx"]).err().unwrap(),
            "argument --debug/-d: ignored explicit argument 'x'"
        );
    }

    #[test]
    fn missing_value() {
        assert_eq!(
            p(&["-c"]).err().unwrap(),
            "argument --command/-c: expected one argument"
        );
        assert_eq!(
            p(&["--command", "--force"]).err().unwrap(),
            "argument --command/-c: expected one argument"
        );
    }

    #[test]
    fn unrecognized_are_all_listed() {
        assert_eq!(
            p(&["--bogus", "--other"]).err().unwrap(),
            "unrecognized arguments: --bogus --other"
        );
        // a second run of positionals is not consumed (argparse)
        assert_eq!(
            p(&["heat", "--one-time", "local"]).err().unwrap(),
            "unrecognized arguments: local"
        );
    }

    #[test]
    fn help_and_version_stop_parsing() {
        assert!(matches!(p(&["--bogus", "-h"]), Ok(Outcome::Help)));
        assert!(matches!(p(&["--vers"]), Ok(Outcome::Version)));
        assert!(matches!(p(&["--version"]), Ok(Outcome::Version)));
    }

    #[test]
    fn usage_wraps_and_names_collectors() {
        let u = usage("os-collect-config");
        assert!(u.starts_with("usage: os-collect-config [-h] "));
        assert!(u.ends_with("[collectors ...]"));
        assert!(u.lines().all(|l| l.len() <= 80), "{u}");
        assert!(u.contains("[--heat_local-path HEAT_LOCAL_PATH]"));
    }

    #[test]
    fn negative_numbers_are_values() {
        assert!(looks_negative_number("-5"));
        assert!(looks_negative_number("-.5"));
        assert!(!looks_negative_number("-x"));
        assert!(matches!(p(&["-i", "-5"]), Ok(Outcome::Parsed(_))));
    }
}
