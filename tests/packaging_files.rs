//! The systemd unit, tmpfiles.d, the diskimage-builder elements and the os-apply-config
//! templates they ship: parsed and exercised with the real tools.
mod common;
mod packaging_support;

use packaging_support::{have_tool, mode, read, repo, run_ok, venv};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `[Section] Key=Value` pairs of a unit file (repeated keys joined by a space).
fn unit_entries(text: &str) -> BTreeMap<(String, String), String> {
    let mut section = String::new();
    let mut out: BTreeMap<(String, String), String> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not Key=Value: {line}"));
        out.entry((section.clone(), k.trim().to_string()))
            .and_modify(|old| {
                old.push(' ');
                old.push_str(v.trim())
            })
            .or_insert_with(|| v.trim().to_string());
    }
    out
}

#[test]
fn systemd_unit_declares_the_service_contract() {
    let unit = unit_entries(&read(&repo().join("packaging/systemd/heat-agent.service")));
    let get = |s: &str, k: &str| {
        unit.get(&(s.to_string(), k.to_string()))
            .unwrap_or_else(|| panic!("[{s}] {k}= missing"))
            .as_str()
    };
    assert_eq!(get("Service", "Type"), "notify");
    assert_eq!(
        get("Service", "NotifyAccess"),
        "main",
        "hooks must not speak for the agent"
    );
    assert_eq!(get("Service", "ExecStart"), "/usr/bin/heat-agent run");
    assert_eq!(get("Service", "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(get("Service", "WatchdogSec").parse::<u32>().unwrap() >= 60);
    assert_eq!(get("Service", "Restart"), "on-failure");
    let permanent: Vec<_> = get("Service", "RestartPreventExitStatus")
        .split(' ')
        .collect();
    assert!(permanent.contains(&"2") && permanent.contains(&"78"));
    assert!(get("Unit", "StartLimitBurst").parse::<u32>().unwrap() > 0);
    assert!(get("Unit", "After").contains("cloud-init.service"));
    // cron jobs see the agent's first deployment: Red Hat's crond.service and Debian's cron.service
    let before: Vec<_> = get("Unit", "Before").split(' ').collect();
    assert!(
        before.contains(&"crond.service") && before.contains(&"cron.service"),
        "Before={before:?}"
    );
    assert!(get("Unit", "Wants").contains("network-online.target"));
    assert_eq!(get("Install", "WantedBy"), "multi-user.target");
    assert_eq!(get("Install", "Alias"), "os-collect-config.service");
    // hooks manage the system: none of the sandboxing that would stop them
    for key in [
        "ProtectSystem",
        "PrivateTmp",
        "NoNewPrivileges",
        "CapabilityBoundingSet",
    ] {
        assert!(!unit.contains_key(&("Service".into(), key.into())), "{key}");
    }
}

#[test]
fn systemd_unit_verifies() {
    if !have_tool("systemd-analyze", "systemd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // verify checks that ExecStart exists: point it at the built binary
    let text = read(&repo().join("packaging/systemd/heat-agent.service"))
        .replace("/usr/bin/heat-agent", common::bin().to_str().unwrap());
    let unit = tmp.path().join("heat-agent.service");
    std::fs::write(&unit, text).unwrap();
    let out = run_ok(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&unit),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // systemd-analyze exits 0 on unknown keys and bad values: any message is a finding
    let findings: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("heat-agent.service"))
        .collect();
    assert!(findings.is_empty(), "systemd-analyze verify:\n{stderr}");
}

#[test]
fn tmpfiles_create_private_state_dirs() {
    if !have_tool("systemd-tmpfiles", "systemd") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // a credentials file left world-readable by an older image gets tightened
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/os-collect-config.conf"), "[DEFAULT]\n").unwrap();
    std::fs::set_permissions(
        r.join("etc/os-collect-config.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    run_ok(
        Command::new("systemd-tmpfiles")
            .arg("--create")
            .arg(format!("--root={}", r.display()))
            .arg(repo().join("packaging/tmpfiles.d/heat-agent.conf")),
    );
    for (dir, want) in [
        ("var/lib/heat-agent", 0o700),
        ("var/lib/os-collect-config", 0o700),
        ("var/lib/heat-config/deployed", 0o700),
        ("var/lib/heat-config/hooks", 0o755),
        ("var/lib/heat-cfntools", 0o700),
        ("run/os-collect-config", 0o700),
        ("run/heat-config", 0o700),
    ] {
        assert!(r.join(dir).is_dir(), "{dir}");
        assert_eq!(mode(&r.join(dir)), want, "{dir}");
    }
    assert_eq!(mode(&r.join("etc/os-collect-config.conf")), 0o600);
}

#[test]
fn element_carries_the_packaging_unit_and_tmpfiles() {
    let files = repo().join("elements/heat-agent/heat-agent-files");
    assert_eq!(
        read(&files.join("heat-agent.service")),
        read(&repo().join("packaging/systemd/heat-agent.service")),
        "elements/heat-agent/heat-agent-files/heat-agent.service differs from packaging/systemd"
    );
    assert_eq!(
        read(&files.join("heat-agent.tmpfiles")),
        read(&repo().join("packaging/tmpfiles.d/heat-agent.conf")),
        "elements/heat-agent/heat-agent-files/heat-agent.tmpfiles differs from packaging/tmpfiles.d"
    );
}

/// dib-run-parts runs only executables named like this (others are silently skipped).
fn dib_runnable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[test]
fn elements_follow_diskimage_builder_conventions() {
    let elements = repo().join("elements");
    for element in [
        "heat-agent",
        "heat-agent-ansible",
        "heat-agent-puppet",
        "heat-agent-salt",
        "heat-agent-chef",
    ] {
        let dir = elements.join(element);
        assert!(dir.join("README.rst").is_file(), "{element}: README.rst");
        assert!(
            dir.join("element-deps").is_file(),
            "{element}: element-deps"
        );
        for sub in [
            "extra-data.d",
            "install.d",
            "os-refresh-config/configure.d",
            "os-refresh-config/post-configure.d",
        ] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_str().unwrap().to_string();
                assert!(
                    dib_runnable_name(&name),
                    "{}: not run by dib",
                    path.display()
                );
                assert_eq!(
                    mode(&path) & 0o111,
                    0o111,
                    "{}: not executable",
                    path.display()
                );
                let shell = if read(&path).starts_with("#!/bin/sh") {
                    "sh"
                } else {
                    "bash"
                };
                run_ok(Command::new(shell).arg("-n").arg(&path));
            }
        }
        if let Ok(entries) = std::fs::read_dir(dir.join("environment.d")) {
            for entry in entries {
                run_ok(Command::new("bash").arg("-n").arg(entry.unwrap().path()));
            }
        }
    }
    let provides = read(&elements.join("heat-agent/element-provides"));
    for replaced in [
        "os-collect-config",
        "os-refresh-config",
        "os-apply-config",
        "heat-config",
        "heat-config-script",
    ] {
        assert!(
            provides.lines().any(|l| l == replaced),
            "provides {replaced}"
        );
    }
    assert!(
        read(&elements.join("heat-agent-ansible/element-provides")).contains("heat-config-ansible")
    );
    assert!(
        read(&elements.join("heat-agent-puppet/element-provides")).contains("heat-config-puppet")
    );
    for tool in ["salt", "chef"] {
        assert_eq!(
            read(&elements.join(format!("heat-agent-{tool}/element-provides"))),
            format!("heat-config-{tool}\n")
        );
    }
    // the packages the reference elements installed
    assert!(
        read(&elements.join("heat-agent-salt/package-installs.yaml")).contains("\nsalt-minion:\n")
    );
    let chef = read(&elements.join("heat-agent-chef/package-installs.yaml"));
    assert!(
        chef.contains("\nchef:\n") && chef.contains("\ngit:\n"),
        "{chef}"
    );
    let t = elements.join("heat-agent/os-apply-config");
    for oac in [
        "etc/os-collect-config.conf.oac",
        "var/run/heat-config/heat-config.oac",
    ] {
        assert_eq!(read(&t.join(oac)), "mode: 0600\n", "{oac}");
    }
    assert_eq!(
        read(&t.join("var/run/heat-config/heat-config")),
        "{{deployments}}"
    );
}

#[test]
fn sub_elements_add_their_hooks() {
    // environment.d files are sourced in name order before every phase
    let elements = repo().join("elements");
    let out = run_ok(Command::new("bash").arg("-c").arg(format!(
        "unset DIB_HEAT_AGENT_HOOKS; for f in '{0}/heat-agent/environment.d/10-heat-agent.bash' \
         '{0}/heat-agent-ansible/environment.d/20-heat-agent-ansible.bash' \
         '{0}/heat-agent-puppet/environment.d/20-heat-agent-puppet.bash' \
         '{0}/heat-agent-salt/environment.d/20-heat-agent-salt.bash' \
         '{0}/heat-agent-chef/environment.d/20-heat-agent-chef.bash'; do . \"$f\"; done; \
         echo \"$DIB_HEAT_AGENT_HOOKS\"",
        elements.display()
    )));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "script ansible puppet salt chef"
    );
}

/// Runs a phase shim with a stand-in `heat-agent` first on PATH that records its arguments.
fn shim_invocation(shim: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("args");
    let fake = tmp.path().join("heat-agent");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", tmp.path().display());
    let script = repo()
        .join("elements/heat-agent/os-refresh-config")
        .join(shim);
    run_ok(Command::new(&script).env("PATH", path));
    read(&log).trim().to_string()
}

#[test]
fn phase_shims_run_heat_agent() {
    assert_eq!(shim_invocation("configure.d/20-os-apply-config"), "apply");
    assert_eq!(shim_invocation("configure.d/55-heat-config"), "deploy");
    assert_eq!(
        shim_invocation("post-configure.d/99-refresh-completed"),
        "notify --refresh-completed"
    );
}

/// Metadata inputs for the collector-config template: Heat's real ones (captures) and every
/// transport's map, plus the edge cases of the template (null maps, command override, splay).
fn template_inputs() -> Vec<(String, serde_json::Value)> {
    let mut inputs = Vec::new();
    let captures = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/real-heat-captures"
    ));
    for name in ["heat-heat", "cfn-cfn"] {
        let path = captures.join(name).join("metadata-1.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            inputs.push((format!("capture {name}"), v["metadata"].clone()));
        }
    }
    let synthetic = serde_json::json!([
        {},
        {"deployments": []},
        {"os-collect-config": {"command": "/usr/local/bin/my-refresh", "polling_interval": 10,
          "cachedir": "/var/cache/occ", "collectors": ["ec2", "request", "local"], "splay": 5}},
        {"os-collect-config": {"collectors": ["cfn", "local"], "cfn": {
          "metadata_url": "https://cfn.example.com:8000/v1/", "stack_name": "s1",
          "secret_access_key": "sk", "access_key_id": "ak", "path": "server.Metadata",
          "ca_certificate": "/etc/ssl/ca.pem"}}},
        {"os-collect-config": {"cfn": {"metadata_url": null, "stack_name": "s1",
          "secret_access_key": "sk", "access_key_id": "ak", "path": "server.Metadata"}}},
        {"os-collect-config": {"collectors": ["zaqar", "local"], "zaqar": {
          "auth_url": "http://ks:5000/v3", "user_id": "u", "password": "p", "project_id": "pr",
          "queue_id": "q", "region_name": "RegionOne", "use_websockets": true}}},
        {"os-collect-config": {"collectors": ["request", "local"], "request": {
          "metadata_url": "https://swift/v1/AUTH_x/c/o?temp_url_sig=abc&temp_url_expires=1"}}},
        {"os-collect-config": {"heat": {"auth_url": null, "user_id": null, "password": null,
          "project_id": null, "stack_id": null, "resource_name": null, "region_name": null},
          "request": {"metadata_url": null}, "zaqar": {"user_id": null}}}
    ]);
    for (i, v) in synthetic.as_array().unwrap().iter().enumerate() {
        inputs.push((format!("synthetic #{i}"), v.clone()));
    }
    inputs
}

/// Renders one template tree with the reference os-apply-config.
fn render_with_reference(venv: &Path, templates: &Path, metadata: &Path, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    run_ok(
        Command::new(venv.join("bin/os-apply-config"))
            .arg("--templates")
            .arg(templates)
            .arg("--output")
            .arg(out)
            .arg("--metadata")
            .arg(metadata),
    );
}

#[test]
fn collector_config_template_renders_like_heat_agents() {
    let Some(venv) = venv() else { return };
    let reference = venv.join("heat-agents/heat-config/os-apply-config");
    assert!(reference.is_dir(), "{}", reference.display());
    let ours = repo().join("elements/heat-agent/os-apply-config");
    let tmp = tempfile::tempdir().unwrap();
    let inputs = template_inputs();
    assert!(inputs.len() >= 9);
    for (i, (name, metadata)) in inputs.iter().enumerate() {
        let md = tmp.path().join(format!("md{i}.json"));
        std::fs::write(&md, serde_json::to_vec(metadata).unwrap()).unwrap();
        let (want, have) = (
            tmp.path().join(format!("ref{i}")),
            tmp.path().join(format!("ours{i}")),
        );
        render_with_reference(&venv, &reference, &md, &want);
        render_with_reference(&venv, &ours, &md, &have);
        for file in [
            "etc/os-collect-config.conf",
            "var/run/heat-config/heat-config",
        ] {
            assert_eq!(
                read(&have.join(file)),
                read(&want.join(file)),
                "{name}: {file}"
            );
            // ours fixes the reference's world-readable credentials (.oac mode 0600)
            assert_eq!(mode(&have.join(file)), 0o600, "{name}: {file}");
        }
    }
    // and the real Heat capture renders to what the Python agent wrote on that server
    let captured = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/real-heat-captures/heat-heat/rendered-os-collect-config.conf"
    ));
    if captured.exists() {
        assert_eq!(
            read(&tmp.path().join("ours0/etc/os-collect-config.conf")),
            read(captured)
        );
    }
}

#[test]
fn packaging_scripts_parse() {
    for script in [
        "packaging/build-static.sh",
        "packaging/stage.sh",
        "packaging/regen-docs.sh",
        "packaging/deb/build-deb.sh",
        "tests/dib/build-and-check.sh",
    ] {
        let path = repo().join(script);
        assert_eq!(mode(&path) & 0o111, 0o111, "{script}: not executable");
        run_ok(Command::new("bash").arg("-n").arg(&path));
    }
    for script in ["postinst", "prerm", "postrm"] {
        run_ok(
            Command::new("sh")
                .arg("-n")
                .arg(repo().join("packaging/deb").join(script)),
        );
    }
    let help = run_ok(Command::new(repo().join("packaging/build-static.sh")).arg("--help"));
    assert!(String::from_utf8_lossy(&help.stdout).contains("x86_64-unknown-linux-musl"));
    let bad = Command::new(repo().join("packaging/build-static.sh"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn demo_runs_and_says_how_to_look_at_its_result() {
    if !have_tool("python3", "python3") {
        return;
    }
    // the test binary instead of a nested `cargo build` (which run.sh does by default)
    let out = run_ok(
        Command::new("bash")
            .arg(repo().join("packaging/demo/run.sh"))
            .env("HEAT_AGENT_DEMO_BIN", common::bin()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("== using "), "{stdout}");
    // the collect step is shown
    assert!(
        stdout.contains("\n1 changed; local: 1; command succeeded\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n0 changed; local: 1\n"), "{stdout}");
    assert!(
        stdout.contains("signals received: 1 (still one)"),
        "{stdout}"
    );
    // the exact command to run afterwards, and where the files are
    let status_cmd = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .find(|l| l.contains(" status --state-dir /tmp/heat-agent-demo."))
        .unwrap_or_else(|| panic!("no status command printed:\n{stdout}"));
    let words: Vec<&str> = status_cmd.split(' ').collect();
    let root = std::path::Path::new(words[3])
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(
        stdout.contains(&format!("remove them with: rm -rf {}", root.display())),
        "{stdout}"
    );
    let status = run_ok(Command::new(words[0]).args(&words[1..]));
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("10_hello") && table.contains("succeeded"),
        "{table}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
