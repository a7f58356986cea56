//! Man pages and shell completions are generated from the clap definitions; the checked-in
//! copies (packaging/man, packaging/completions) must be exactly what the binary generates now.
mod common;
mod packaging_support;

use packaging_support::{files_under, read, repo, run_ok};
use std::path::Path;
use std::process::Command;

fn assert_same_tree(generated: &std::path::Path, checked_in: &str) {
    let checked = repo().join(checked_in);
    let want = files_under(generated);
    let have = files_under(&checked);
    assert_eq!(
        have, want,
        "{checked_in} lists other files than the generator writes: run packaging/regen-docs.sh"
    );
    for f in &want {
        assert!(
            std::fs::read(generated.join(f)).unwrap() == std::fs::read(checked.join(f)).unwrap(),
            "{checked_in}/{} is out of date: run packaging/regen-docs.sh",
            f.display()
        );
    }
}

#[test]
fn man_pages_match_checked_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man");
    run_ok(Command::new(common::bin()).arg("gen-man").arg(&dir));
    assert!(dir.join("heat-agent.1").exists());
    assert_same_tree(&dir, "packaging/man");
}

#[test]
fn completions_match_checked_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("completions");
    run_ok(Command::new(common::bin()).arg("gen-completions").arg(&dir));
    for f in ["heat-agent.bash", "_heat-agent", "heat-agent.fish"] {
        assert!(dir.join(f).exists(), "{f}");
    }
    assert_same_tree(&dir, "packaging/completions");
}

#[test]
fn gen_commands_need_a_directory() {
    for sub in ["gen-man", "gen-completions"] {
        let out = Command::new(common::bin()).arg(sub).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("DIR"),
            "{sub}"
        );
    }
}

#[test]
fn bash_completion_script_is_valid_shell() {
    if !packaging_support::have_tool("bash", "bash") {
        return;
    }
    let script = repo().join("packaging/completions/heat-agent.bash");
    // sourcing defines the completion function and registers it
    let out = run_ok(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p heat-agent",
        script.display()
    )));
    assert!(String::from_utf8_lossy(&out.stdout).contains("heat-agent"));
}

/// What the checked-in bash completion offers for the command line `words` (the last one is
/// the word being completed), run in real bash through the function `complete -p` names.
fn bash_completions(words: &[&str]) -> Vec<String> {
    let script = repo().join("packaging/completions/heat-agent.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let out = run_ok(Command::new("bash").arg("-c").arg(format!(
        "source '{}'\n\
         f=$(complete -p heat-agent | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')\n\
         COMP_WORDS=({})\nCOMP_CWORD={cword}\n\
         \"$f\" heat-agent '{}' '{prev}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[cword],
    )));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_continues_after_the_subcommand() {
    if !packaging_support::have_tool("bash", "bash") {
        return;
    }
    let top = bash_completions(&["heat-agent", "st"]);
    assert_eq!(top, ["status"]);
    // clap_complete's labels for a hyphenated binary name did not match (clap-rs/clap#6421):
    // nothing was offered after the subcommand
    let status = bash_completions(&["heat-agent", "status", "--"]);
    assert!(
        status.contains(&"--state-dir".to_string()) && status.contains(&"--json".to_string()),
        "{status:?}"
    );
    let hooks = bash_completions(&["heat-agent", "hook", ""]);
    for hook in ["script", "ansible", "puppet", "salt", "chef"] {
        assert!(hooks.contains(&hook.to_string()), "{hook}: {hooks:?}");
    }
    let run = bash_completions(&["heat-agent", "run-parts", "--"]);
    assert!(!run.is_empty(), "run-parts flags: {run:?}");
}

/// Every `"HEAT_*"` / `"OS_*"` string literal under src/: the environment variables the code
/// reads (and a few values that are not variables, listed in `not_variables`).
fn env_names_in_source() -> std::collections::BTreeSet<String> {
    let not_variables = ["HEAT_SIGNAL"]; // a deploy_signal_transport value
    let mut names = std::collections::BTreeSet::new();
    for file in packaging_support::files_under(&repo().join("src")) {
        let text = std::fs::read_to_string(repo().join("src").join(&file)).unwrap();
        for (i, _) in text.match_indices('"') {
            let rest = &text[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            if (name.starts_with("HEAT_") || name.starts_with("OS_"))
                && rest[end..].starts_with('"')
                && !not_variables.contains(&name)
            {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn man_pages_have_exit_status_environment_files_and_see_also() {
    for page in packaging_support::files_under(&repo().join("packaging/man")) {
        let text = read(&repo().join("packaging/man").join(&page));
        if text.starts_with(".so ") {
            continue;
        }
        for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"] {
            assert!(
                text.contains(&format!(".SH \"{section}\"")),
                "{}: no {section} section",
                page.display()
            );
        }
    }
    let top = read(&repo().join("packaging/man/heat-agent.1"));
    let environment =
        &top[top.find(".SH \"ENVIRONMENT\"").unwrap()..top.find(".SH \"FILES\"").unwrap()];
    let names = env_names_in_source();
    assert!(names.len() > 30, "{names:?}");
    for name in &names {
        assert!(
            environment.contains(&format!("\\fB{name}\\fR")),
            "{name} is read by the code but not in ENVIRONMENT of heat-agent(1)"
        );
    }
    // docs/configuration.md lists every variable of the man page (config::vars::VARIABLES)
    let configuration = read(&repo().join("docs/configuration.md"));
    let listed: Vec<&str> = environment
        .split("\\fB")
        .skip(1)
        .filter_map(|s| s.split("\\fR").next())
        .collect();
    assert!(listed.len() > names.len(), "{listed:?}");
    for name in listed {
        assert!(
            configuration.contains(&format!("`{name}`")),
            "{name} is in ENVIRONMENT of heat-agent(1) but not in docs/configuration.md"
        );
    }
    // FILES names every directory the package's tmpfiles.d creates for the agent
    let files = &top[top.find(".SH \"FILES\"").unwrap()..top.find(".SH \"SEE ALSO\"").unwrap()];
    let tmpfiles = read(&repo().join("packaging/tmpfiles.d/heat-agent.conf"));
    for line in tmpfiles.lines().filter(|l| l.starts_with("d ")) {
        let path = line.split_whitespace().nth(1).unwrap();
        let path = path.replace("/run/", "/var/run/").replace('-', "\\-");
        assert!(
            files.contains(&path),
            "{path} not in FILES of heat-agent(1)"
        );
    }
}

/// The default paths the code reads and writes: every absolute path literal in `src/` (test
/// modules and the man page text itself left out) under the directories the agent owns or
/// reads, and each `state_dir.join("…")` under the default state dir.
fn default_paths_in_source() -> std::collections::BTreeSet<String> {
    // read through the C library or run as programs, not files of the agent: the user and
    // group databases (os-apply-config's owner names), the time zone, the shells and env
    let not_the_agents = [
        "/etc/passwd",
        "/etc/group",
        "/etc/localtime",
        "/usr/bin/bash",
        "/usr/bin/env",
    ];
    let literal = regex::Regex::new(r#""(/(?:etc|var|usr|opt|run)/[^"\s,<>*]+)""#).unwrap();
    let state_entry = regex::Regex::new(r#"state_dir\.join\("([^"]+)"\)"#).unwrap();
    // configuration under the sysconfdir (/etc): os-collect-config's file and dir, the native
    // dir and its files
    let in_sysconfdir =
        regex::Regex::new(r#"(?:paths\.find|sysconfdir\.join)\("([^"]+)""#).unwrap();
    let native_file = regex::Regex::new(r#"dir\.join\("(config\.[^"]+)"\)"#).unwrap();
    let mut paths = std::collections::BTreeSet::new();
    for file in packaging_support::files_under(&repo().join("src")) {
        if file == Path::new("cli/gen.rs") {
            continue;
        }
        let text = read(&repo().join("src").join(&file));
        // the test module starts at a `#[cfg(test)]` in column 0
        let code = match text.find("\n#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for c in literal.captures_iter(code) {
            if !not_the_agents.contains(&&c[1]) {
                paths.insert(c[1].trim_end_matches('/').to_string());
            }
        }
        for c in state_entry.captures_iter(code) {
            paths.insert(format!("/var/lib/heat-agent/{}", &c[1]));
        }
        for c in in_sysconfdir.captures_iter(code) {
            paths.insert(format!("/etc/{}", &c[1]));
        }
        if file == Path::new("config/load.rs") {
            for c in native_file.captures_iter(code) {
                paths.insert(format!("/etc/heat-agent/{}", &c[1]));
            }
        }
    }
    paths
}

/// Issue 14: FILES lists every path the agent reads and writes by default, on every page.
#[test]
fn man_page_files_name_every_default_path_of_the_code() {
    let paths = default_paths_in_source();
    // the scan finds what it should: the single sources of the defaults
    for known in [
        "/etc/os-collect-config.conf",
        "/etc/heat-agent/config.toml",
        "/var/lib/os-collect-config",
        "/var/run/os-collect-config",
        "/var/lib/heat-agent",
        "/var/lib/heat-agent/outbox",
        "/var/lib/heat-agent/journal",
        "/usr/libexec/os-apply-config/templates",
        "/usr/libexec/os-refresh-config",
        "/var/run/heat-config/heat-config",
        "/var/lib/heat-config/hooks",
    ] {
        assert!(
            paths.contains(known),
            "{known} not found in src/: {paths:#?}"
        );
    }
    assert!(paths.len() > 40, "{paths:#?}");
    let man = repo().join("packaging/man");
    for page in packaging_support::files_under(&man) {
        let text = read(&man.join(&page));
        if text.starts_with(".so ") {
            continue;
        }
        let files =
            &text[text.find(".SH \"FILES\"").unwrap()..text.find(".SH \"SEE ALSO\"").unwrap()];
        let files = files.replace("\\-", "-");
        for path in &paths {
            // the path itself, not only a longer one it begins
            let named = files.match_indices(path.as_str()).any(|(i, _)| {
                files[i + path.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| matches!(c, '/' | ',' | '\n' | ' ' | ')' | '\\'))
            });
            assert!(
                named,
                "{path} is a default path in src/ but not in FILES of {}",
                page.display()
            );
        }
    }
}

#[test]
fn man_pages_render_without_warnings() {
    if !packaging_support::have_tool("groff", "groff-base") {
        return;
    }
    let man = repo().join("packaging/man");
    for page in files_under(&man) {
        let text = std::fs::read_to_string(man.join(&page)).unwrap();
        if text.starts_with(".so ") {
            let target = text
                .trim_start_matches(".so ")
                .trim()
                .trim_start_matches("man1/");
            assert!(
                man.join(target).exists(),
                "{} includes missing {target}",
                page.display()
            );
            continue;
        }
        let out = run_ok(
            Command::new("groff")
                // all warnings except line breaking (long defaults such as path lists cannot be broken)
                .args(["-man", "-Tutf8", "-ww", "-Wbreak", "-z"])
                .arg(man.join(&page)),
        );
        assert!(
            out.stderr.is_empty(),
            "{}: {}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Docs, code comments and --help point only to files a reader of the repository (or of the
/// package) has: not to the team's notes outside it.
#[test]
fn nothing_points_to_files_outside_the_repository() {
    let outside = [
        concat!("spec", "/"),
        concat!("DESIGN", ".md"),
        concat!("shared", "/"),
    ];
    let mut files: Vec<std::path::PathBuf> = vec![repo().join("README.md")];
    for dir in ["docs", "src", "elements", "packaging"] {
        files.extend(
            files_under(&repo().join(dir))
                .into_iter()
                .map(|f| repo().join(dir).join(f)),
        );
    }
    for file in std::fs::read_dir(repo().join("tests")).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if file.ends_with("packaging/rpm/heat-agent.spec") {
                continue;
            }
            if outside.iter().any(|o| line.contains(o)) {
                found.push(format!("{}:{}: {line}", file.display(), n + 1));
            }
        }
    }
    for cmd in [
        "", "run", "collect", "apply", "refresh", "deploy", "notify", "status",
    ] {
        let mut c = Command::new(common::bin());
        if !cmd.is_empty() {
            c.arg(cmd);
        }
        let help = String::from_utf8_lossy(&c.arg("--help").output().unwrap().stdout).to_string();
        if outside.iter().any(|o| help.contains(o)) {
            found.push(format!("heat-agent {cmd} --help"));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}
