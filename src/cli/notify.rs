//! `heat-config-notify` / `heat-agent notify`: one deployment signal, or `--flush` of the outbox.

use crate::notify::{flush, foreground_wait, notify_one, Notified, USAGE};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

pub fn command() -> clap::Command {
    clap::Command::new("heat-config-notify")
        .about("Send one deployment signal to Heat (heat-config-notify)")
        .long_about(
            "Reads the signal data (JSON) from stdin and signals the deployment described by CONFIG \
             (the deployment entry: its deploy_* inputs choose the transport). The signal is first \
             stored in the outbox (<state_dir>/outbox), then delivered with retries for up to 60 s \
             (HEAT_AGENT_NOTIFY_WAIT). Exit status: 0 delivered, or still queued for the heat-agent \
             daemon to deliver; 1 usage error, unreadable CONFIG, or permanent failure (an HTTP 4xx \
             other than 408/429).",
        )
        .arg(
            clap::Arg::new("config")
                .value_name("CONFIG")
                .value_parser(clap::value_parser!(PathBuf))
                .help("deployment entry (JSON) whose inputs say where to signal"),
        )
        .arg(
            // the reference reads argv[1] only and ignores anything after it
            clap::Arg::new("ignored")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .hide(true),
        )
        .arg(
            clap::Arg::new("version")
                .long("version")
                .action(clap::ArgAction::SetTrue)
                .help("print the heat-agent version and exit"),
        )
        .arg(
            clap::Arg::new("flush")
                .long("flush")
                .action(clap::ArgAction::SetTrue)
                .conflicts_with("config")
                .help(
                    "deliver the signals already queued in the outbox now (retrying for up to \
                     HEAT_AGENT_NOTIFY_WAIT seconds); exit 1 if any is still undelivered",
                ),
        )
        .arg(
            clap::Arg::new("refresh_completed")
                .long("refresh-completed")
                .action(clap::ArgAction::SetTrue)
                .conflicts_with_all(["config", "flush"])
                .help(
                    "report a completed refresh (TripleO's 99-refresh-completed, run in \
                     post-configure.d): PUT to the metadata's completion-handle and POST to its \
                     completion-signal a SUCCESS document for its instance-id; nothing without an \
                     instance-id; exit 1 if Heat does not accept it",
                ),
        )
        .after_help(
            "Environment: HEAT_AGENT_STATE_DIR (default /var/lib/heat-agent), HEAT_AGENT_NOTIFY_WAIT \
             (seconds of foreground retries), HEAT_AGENT_NOTIFY_BACKOFF (first retry step, seconds).",
        )
}

/// `heat-config-notify` / `heat-agent notify`.
pub fn main(args: Vec<OsString>) -> i32 {
    let level = crate::config::vars::notify_log_level()
        .and_then(|l| crate::logging::parse_level(&l))
        .unwrap_or(log::LevelFilter::Info);
    let style = crate::logging::style_for(
        args.first(),
        crate::logging::Style::Tagged("heat-config-notify"),
    );
    crate::logging::init(level, style);

    let mut cmd = command();
    if let Some(name) = args.first() {
        cmd = cmd.bin_name(name.to_string_lossy().into_owned());
    }
    // usage errors: logged in the reference's format, exit 1 (as the reference's usage error)
    let matches = match cmd.try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            log::error!("{}", e.to_string().lines().next().unwrap_or_default());
            log::error!("{USAGE}");
            return 1;
        }
    };
    if matches.get_flag("version") {
        return super::print_version();
    }
    let settings = match crate::notify::settings() {
        Ok(s) => s,
        Err(e) => {
            log::error!("{}", e.message);
            return 1;
        }
    };
    if matches.get_flag("flush") {
        // anything still queued or failed permanently: 1
        return match flush(&settings, foreground_wait()) {
            Ok(total) => i32::from(total.pending > 0 || total.failed > 0),
            Err(e) => {
                log::error!("outbox: {e}");
                1
            }
        };
    }
    if matches.get_flag("refresh_completed") {
        return refresh_completed(&settings);
    }
    let Some(config_path) = matches.get_one::<PathBuf>("config").cloned() else {
        log::error!("{USAGE}");
        return 1;
    };
    let mut stdin = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut stdin) {
        log::warn!("reading stdin: {e}");
    }
    // left queued for the daemon counts as handed over
    match notify_one(&settings, &config_path, &stdin, foreground_wait()) {
        Notified::Delivered | Notified::Queued => 0,
        Notified::Failed => 1,
    }
}

/// `--refresh-completed`: the metadata as os-apply-config reads it (`OS_CONFIG_FILES`, else
/// the os_config_files.json list, over the fallback files), then the completion, if any.
fn refresh_completed(settings: &crate::config::Settings) -> i32 {
    use crate::apply::{self, metadata};
    let log = apply::Log::stderr();
    let env = apply::Environment::from_process();
    let fallback: Vec<String> = apply::FALLBACK_METADATA.map(String::from).to_vec();
    let merged = apply::choose_metadata(&apply::Options::default(), &env, &log)
        .and_then(|files| metadata::collect_config(&files, &fallback));
    let merged = match merged {
        Ok(m) => m,
        Err(e) => {
            log::error!("refresh completion: {e}");
            return 1;
        }
    };
    let Some(completion) = crate::notify::completion::from_metadata(&merged) else {
        log::debug!("no instance-id, completion-handle or completion-signal: nothing to report");
        return 0;
    };
    let http = crate::notify::outbox::http_settings(settings);
    let result = crate::http::agent(&http)
        .and_then(|agent| crate::notify::completion::send(&agent, &completion));
    match result {
        Ok(()) => 0,
        Err(e) => {
            log::error!("refresh completion not reported: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
        let m = command()
            .try_get_matches_from(["n", "c.json", "extra", "--x"])
            .unwrap();
        assert_eq!(m.get_one::<PathBuf>("config").unwrap(), Path::new("c.json"));
        assert!(command()
            .try_get_matches_from(["n", "--flush"])
            .unwrap()
            .get_flag("flush"));
    }
}
