//! cloud-init examples for pristine images: valid per `cloud-init schema` (Debian's
//! cloud-init), and what they write is what the packages install.
mod common;
mod packaging_support;

use packaging_support::{have_tool, read, repo, run_ok};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

const EXAMPLES: [&str; 3] = [
    "deb-from-url.yaml",
    "apt-repository.yaml",
    "static-binary.yaml",
];

fn load(name: &str) -> Yaml {
    let text = read(&repo().join("packaging/cloud-init").join(name));
    assert!(
        text.starts_with("#cloud-config\n"),
        "{name}: first line must be #cloud-config"
    );
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .remove(0)
}

/// write_files entries: (path, permissions, content).
fn write_files(doc: &Yaml) -> Vec<(String, String, String)> {
    doc["write_files"]
        .as_vec()
        .expect("write_files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["permissions"].as_str().unwrap().to_string(),
                f["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn runcmd_text(doc: &Yaml) -> String {
    doc["runcmd"]
        .as_vec()
        .expect("runcmd")
        .iter()
        .map(|c| match c {
            Yaml::Array(words) => words
                .iter()
                .map(|w| w.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            other => other.as_str().unwrap_or_default().to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn examples_pass_cloud_init_schema() {
    if !have_tool("cloud-init", "cloud-init") {
        return;
    }
    for name in EXAMPLES {
        let path = repo().join("packaging/cloud-init").join(name);
        let out = run_ok(
            Command::new("cloud-init")
                .arg("schema")
                .arg("--config-file")
                .arg(&path),
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Valid cloud-config"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn cloud_init_schema_rejects_a_broken_example() {
    // the validation above can fail: a wrong type in a copy of an example is caught
    if !have_tool("cloud-init", "cloud-init") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let broken = read(&repo().join("packaging/cloud-init/deb-from-url.yaml"))
        .replace("permissions: '0600'", "permissions: [0600]");
    let path = tmp.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = Command::new("cloud-init")
        .arg("schema")
        .arg("--config-file")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn every_example_writes_the_bootstrap_config_private_and_starts_the_service() {
    for name in EXAMPLES {
        let doc = load(name);
        let files = write_files(&doc);
        let (_, perms, content) = files
            .iter()
            .find(|(p, _, _)| p == "/etc/os-collect-config.conf")
            .unwrap_or_else(|| panic!("{name}: writes /etc/os-collect-config.conf"));
        assert_eq!(perms, "0600", "{name}");
        assert_eq!(
            content, "[DEFAULT]\ncommand = os-refresh-config\n",
            "{name}"
        );
        let cmds = runcmd_text(&doc);
        assert!(
            cmds.contains("systemctl enable heat-agent.service"),
            "{name}"
        );
        assert!(
            cmds.contains("systemctl start --no-block heat-agent.service"),
            "{name}"
        );
    }
}

#[test]
fn static_binary_example_embeds_the_repository_files() {
    let doc = load("static-binary.yaml");
    let files = write_files(&doc);
    let get = |path: &str| {
        files
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, m, c)| (m.as_str(), c.as_str()))
            .unwrap_or_else(|| panic!("static-binary.yaml does not write {path}"))
    };
    let element = repo().join("elements/heat-agent");
    let unit = read(&repo().join("packaging/systemd/heat-agent.service"))
        .replace("/usr/bin/heat-agent", "/usr/local/bin/heat-agent");
    assert_eq!(
        get("/etc/systemd/system/heat-agent.service"),
        ("0644", unit.as_str())
    );
    let tmpfiles = read(&repo().join("packaging/tmpfiles.d/heat-agent.conf"));
    assert_eq!(
        get("/etc/tmpfiles.d/heat-agent.conf"),
        ("0644", tmpfiles.as_str())
    );
    for shim in ["20-os-apply-config", "55-heat-config"] {
        let want = read(&element.join("os-refresh-config/configure.d").join(shim));
        let path = format!("/usr/libexec/os-refresh-config/configure.d/{shim}");
        assert_eq!(get(&path), ("0755", want.as_str()), "{shim}");
    }
    for t in [
        "etc/os-collect-config.conf",
        "etc/os-collect-config.conf.oac",
        "var/run/heat-config/heat-config",
        "var/run/heat-config/heat-config.oac",
    ] {
        let want = read(&element.join("os-apply-config").join(t));
        let path = format!("/usr/libexec/os-apply-config/templates/{t}");
        assert_eq!(get(&path).1, want, "{t}");
    }
    let (mode, hook) = get("/var/lib/heat-config/hooks/script");
    assert_eq!(mode, "0755");
    assert_eq!(
        hook,
        common::hook_wrapper("script", "/usr/local/bin/heat-agent")
    );
    let cmds = runcmd_text(&doc);
    assert!(cmds.contains("sha256sum -c"), "the download is checked");
    for name in [
        "os-collect-config",
        "os-apply-config",
        "os-refresh-config",
        "heat-config-notify",
    ] {
        assert!(cmds.contains(name), "links {name}");
    }
}
