//! `heat-agent status`: the deployments the state directory records (see `crate::status`).
//! Exit status: 0 when nothing failed and every signal is delivered; 1 when a deployment failed
//! or was interrupted, a signal is still queued or failed permanently, a file is unreadable, the
//! state directory cannot be read, or `--wait` timed out.

use crate::status::{collect, to_json, to_table, wait, Detail};
use serde_json::json;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub fn command() -> clap::Command {
    clap::Command::new("heat-agent status")
        .about("List deployments, their results and signal delivery")
        .long_about(
            "Lists every deployment the agent knows (journal and signal outbox in the state \
             directory): id, name, group, action, state, exit code, duration, signal delivery; a \
             failure's reason on a line of its own. With ID, shows that deployment in full: start \
             and end, hook and exit status, the last lines of stdout and stderr, the outputs, \
             the signal's transport, attempts and last error, and the files that hold the whole \
             record. Exit status 1 when a deployment failed or was interrupted, a signal is \
             undelivered (queued or failed permanently), a result was not saved (a journal \
             record left running with no deployment run active), the state directory cannot be \
             read, or --wait timed out; 0 otherwise.",
        )
        .arg(
            clap::Arg::new("id")
                .value_name("ID")
                .help("show this deployment in full"),
        )
        .arg(
            clap::Arg::new("json")
                .long("json")
                .action(clap::ArgAction::SetTrue)
                .help("print one JSON document (schema in docs/compatibility.md)"),
        )
        .arg(
            clap::Arg::new("wait")
                .long("wait")
                .action(clap::ArgAction::SetTrue)
                .help(
                    "wait until every known deployment (or ID) has ended and its signal is \
                     delivered; exit 0 when all succeeded",
                ),
        )
        .arg(
            clap::Arg::new("timeout")
                .long("timeout")
                .value_name("SECONDS")
                .requires("wait")
                .value_parser(clap::value_parser!(u64))
                .help("with --wait: give up after SECONDS (exit 1); default: wait forever"),
        )
        .arg(
            clap::Arg::new("state_dir")
                .long("state-dir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("state directory (default: $HEAT_AGENT_STATE_DIR or /var/lib/heat-agent)"),
        )
}

/// `heat-agent status`.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut cmd = command();
    if let Some(name) = args.first() {
        cmd = cmd.bin_name(name.to_string_lossy().into_owned());
    }
    let matches = match super::parse_or_exit(cmd, &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let state_dir = matches
        .get_one::<PathBuf>("state_dir")
        .cloned()
        .unwrap_or_else(crate::notify::state_dir);
    let json_out = matches.get_flag("json");
    let id = matches.get_one::<String>("id").map(String::as_str);
    let collected = if matches.get_flag("wait") {
        let timeout = matches
            .get_one::<u64>("timeout")
            .map(|s| Duration::from_secs(*s));
        wait(&state_dir, id, timeout).map(|r| {
            r.unwrap_or_else(|(rows, mut problems)| {
                let open: Vec<&str> = rows
                    .iter()
                    .filter(|r| r.is_open())
                    .map(|r| r.id.as_str())
                    .collect();
                let msg = format!(
                    "timed out after {}s waiting for: {}",
                    timeout.unwrap_or_default().as_secs(),
                    if open.is_empty() {
                        "the running deploy".to_string()
                    } else {
                        open.join(", ")
                    }
                );
                crate::logging::write_plain_line(
                    log::Level::Error,
                    &format!("heat-agent status: {}", crate::logging::log_text(&msg)),
                );
                problems.push(msg);
                (rows, problems)
            })
        })
    } else {
        collect(&state_dir)
    };
    let (rows, problems) = match collected {
        Ok(c) => c,
        Err(e) => {
            crate::logging::write_plain_line(
                log::Level::Error,
                &format!("heat-agent status: {}", crate::logging::log_text(&e)),
            );
            if json_out {
                let mut doc = to_json(&[], std::slice::from_ref(&e));
                doc["ok"] = json!(false);
                doc["error"] = json!(e);
                crate::output::println(crate::pyjson::dumps_indent(&doc, 2));
            }
            return 1;
        }
    };
    let doc = to_json(&rows, &problems);
    let ok = doc["ok"] == json!(true);
    if let Some(id) = id {
        let Some(detail) = Detail::find(&state_dir, rows, id) else {
            crate::logging::write_plain_line(
                log::Level::Error,
                &format!(
                    "heat-agent status: no deployment {} in {}",
                    crate::logging::log_text(id),
                    state_dir.display()
                ),
            );
            return 1;
        };
        let ok = !detail.row.is_problem();
        if json_out {
            crate::output::println(crate::pyjson::dumps_indent(&detail.to_json(), 2));
        } else {
            crate::output::print(detail.to_text());
        }
        return if ok { 0 } else { 1 };
    }
    if json_out {
        crate::output::println(crate::pyjson::dumps_indent(&doc, 2));
    } else {
        crate::output::print(to_table(&rows, &problems));
    }
    if ok {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_is_well_formed() {
        super::command().debug_assert();
    }
}
