//! `heat-agent hook NAME` and `hook-NAME`: one built-in hook on a deployment entry (JSON on
//! stdin, result JSON on stdout). `--list` and `--wrapper` give packaging, the element and the
//! tests the one list of hooks and the one wrapper text.

use crate::hooks::{self, contract, Context, Outcome, BUILTIN};
use crate::pyjson;
use clap::{Arg, ArgAction};
use std::ffi::OsString;
use std::io::{Read, Write};

/// Where the packages install the binary: the wrapper's default `exec` path.
const PACKAGED_AGENT: &str = "/usr/bin/heat-agent";

/// The clap description of `heat-agent hook`.
pub fn command() -> clap::Command {
    clap::Command::new("hook")
        .about("Run a built-in hook: deployment JSON on stdin, result JSON on stdout")
        .long_about(format!(
            "Runs one of the built-in hooks ({}) \
             with the reference hooks' contract: the deployment entry as JSON on stdin, \
             {{deploy_stdout, deploy_stderr, deploy_status_code, <outputs>}} as JSON on stdout, exit 0. \
             Honours HEAT_SCRIPT_*, HEAT_ANSIBLE_*, HEAT_PUPPET_*, HEAT_SALT_*, SALT_MINION_CONFIG, \
             HEAT_CHEF_*, HEAT_HIERA_*, HEAT_APPLY_CONFIG_CMD.",
            BUILTIN.join(", ")
        ))
        .arg(
            Arg::new("name")
                .required_unless_present_any(["list", "wrapper"])
                .value_parser(clap::builder::PossibleValuesParser::new(BUILTIN))
                .help("hook name"),
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["name", "wrapper"])
                .help("Print the built-in hooks, one per line"),
        )
        .arg(
            Arg::new("wrapper")
                .long("wrapper")
                .value_name("NAME")
                .conflicts_with("name")
                .value_parser(clap::builder::PossibleValuesParser::new(BUILTIN))
                .help(
                    "Print the wrapper to install as <hook dir>/NAME; heat-agent runs the \
                     built-in in-process when it finds it",
                ),
        )
        .arg(
            Arg::new("agent")
                .long("agent")
                .value_name("PATH")
                .requires("wrapper")
                .default_value(PACKAGED_AGENT)
                .help("The installed heat-agent the wrapper execs"),
        )
}

pub fn main(args: Vec<OsString>) -> i32 {
    let m = match super::parse_or_exit(command(), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if m.get_flag("list") {
        crate::output::print(BUILTIN.iter().map(|h| format!("{h}\n")).collect::<String>());
        return 0;
    }
    if let Some(name) = m.get_one::<String>("wrapper") {
        let agent = m.get_one::<String>("agent").map_or(PACKAGED_AGENT, |a| a);
        crate::output::print(contract::wrapper_text(agent, name));
        return 0;
    }
    crate::logging::init(
        log::LevelFilter::Info,
        crate::logging::style_for(args.first(), crate::logging::Style::Tagged("heat-config")),
    );
    let name = m.get_one::<String>("name").cloned().unwrap_or_default();
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        log::error!("reading stdin: {e}");
        return 1;
    }
    let ctx = Context {
        capture: 4 << 20,
        ..Context::default()
    };
    match hooks::run_on_json(&name, &input, &ctx) {
        Ok(Outcome::Printed(v)) => {
            let mut out = crate::output::stdout();
            let _ = out.write_all(pyjson::dumps(&v).as_bytes());
            let _ = out.flush();
            0
        }
        Ok(Outcome::Nothing) => 0,
        Ok(Outcome::Cancelled) => 1,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}
