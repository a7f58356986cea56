//! The .deb (dpkg-deb) and the rpm spec: build them from the real binary (rpm: a stand-in
//! binary, the spec and the staging are what is tested) and inspect what they install.
mod common;
mod packaging_support;

use packaging_support::{have_tool, mode, read, repo, run_ok};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What every package installs: path → (mode, symlink target).
fn expected_entries() -> Vec<(&'static str, u32, Option<&'static str>)> {
    let mut v = vec![
        ("usr/bin/heat-agent", 0o755, None),
        ("usr/bin/heat-config-rebuild-deployed", 0o755, None),
        ("usr/lib/systemd/system/heat-agent.service", 0o644, None),
        ("usr/lib/tmpfiles.d/heat-agent.conf", 0o644, None),
        (
            "usr/libexec/os-refresh-config/configure.d/20-os-apply-config",
            0o755,
            None,
        ),
        (
            "usr/libexec/os-refresh-config/configure.d/55-heat-config",
            0o755,
            None,
        ),
        ("usr/libexec/os-refresh-config/pre-configure.d", 0o755, None),
        ("usr/libexec/os-refresh-config/migration.d", 0o755, None),
        (
            "usr/libexec/os-refresh-config/post-configure.d",
            0o755,
            None,
        ),
        (
            "usr/libexec/os-refresh-config/post-configure.d/99-refresh-completed",
            0o755,
            None,
        ),
        (
            "usr/libexec/os-apply-config/templates/etc/os-collect-config.conf",
            0o644,
            None,
        ),
        (
            "usr/libexec/os-apply-config/templates/etc/os-collect-config.conf.oac",
            0o644,
            None,
        ),
        (
            "usr/libexec/os-apply-config/templates/var/run/heat-config/heat-config",
            0o644,
            None,
        ),
        (
            "usr/libexec/os-apply-config/templates/var/run/heat-config/heat-config.oac",
            0o644,
            None,
        ),
        ("var/lib/heat-config/hooks/script", 0o755, None),
        ("var/lib/heat-config/hooks/ansible", 0o755, None),
        ("var/lib/heat-config/hooks/puppet", 0o755, None),
        ("var/lib/heat-config/hooks/salt", 0o755, None),
        ("var/lib/heat-config/hooks/chef", 0o755, None),
        ("var/lib/heat-config/hooks/json-file", 0o755, None),
        ("var/lib/heat-config/hooks/hiera", 0o755, None),
        ("var/lib/heat-config/hooks/apply-config", 0o755, None),
        ("usr/share/man/man1/heat-agent.1.gz", 0o644, None),
        ("usr/share/man/man1/heat-agent-run.1.gz", 0o644, None),
        ("usr/share/man/man1/os-collect-config.1.gz", 0o644, None),
        (
            "usr/share/bash-completion/completions/heat-agent",
            0o644,
            None,
        ),
        ("usr/share/zsh/vendor-completions/_heat-agent", 0o644, None),
        (
            "usr/share/fish/vendor_completions.d/heat-agent.fish",
            0o644,
            None,
        ),
        ("usr/share/doc/heat-agent/config.toml.example", 0o644, None),
    ];
    for link in [
        "usr/bin/os-collect-config",
        "usr/bin/os-apply-config",
        "usr/bin/os-config-applier",
        "usr/bin/os-refresh-config",
        "usr/bin/heat-config-notify",
    ] {
        v.push((link, 0o777, Some("heat-agent")));
    }
    v
}

/// `dpkg-deb -c` listing: path → (permission bits, owner, link target).
fn deb_listing(deb: &Path) -> BTreeMap<String, (u32, String, Option<String>)> {
    let out = run_ok(Command::new("dpkg-deb").arg("-c").arg(deb));
    let mut map = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let perms = fields[0];
        let bits = perms[1..].chars().enumerate().fold(0u32, |acc, (i, c)| {
            if c == '-' {
                acc
            } else {
                acc | (1 << (8 - i))
            }
        });
        let path = fields[5]
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let target = (fields.len() > 7 && fields[6] == "->").then(|| fields[7].to_string());
        map.insert(path, (bits, fields[1].to_string(), target));
    }
    map
}

#[test]
fn deb_package_installs_binary_names_unit_hooks_and_docs() {
    if !have_tool("dpkg-deb", "dpkg") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = run_ok(
        Command::new(repo().join("packaging/deb/build-deb.sh"))
            .arg(common::bin())
            .arg(tmp.path())
            .env("HEAT_AGENT_DEB_COMPRESS", "none"),
    );
    let deb = tmp.path().join(String::from_utf8_lossy(&out.stdout).trim());
    assert!(deb.exists(), "{}", deb.display());
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("heat-agent_{}_amd64.deb", env!("CARGO_PKG_VERSION"))
    );

    let field = |name: &str| {
        let o = run_ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(field("Package"), "heat-agent");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(field("Architecture"), "amd64");
    assert!(field("Conflicts").contains("python3-os-collect-config"));
    assert!(field("Installed-Size").parse::<u64>().unwrap() > 0);

    let listing = deb_listing(&deb);
    for (path, want_mode, target) in expected_entries() {
        let (bits, owner, link) = listing
            .get(path)
            .unwrap_or_else(|| panic!("{path} not in the package"));
        assert_eq!(owner, "root/root", "{path}");
        assert_eq!(link.as_deref(), target, "{path}");
        if target.is_none() {
            assert_eq!(*bits, want_mode, "{path}: mode {bits:o}");
        }
    }
    // nothing that would clobber state or configuration Heat renders
    for path in listing.keys() {
        assert!(!path.starts_with("etc/os-collect-config.conf"), "{path}");
        assert!(!path.starts_with("var/lib/os-collect-config"), "{path}");
    }

    // unpack: the binary runs, man pages are the checked-in ones, maintainer scripts parse
    let root = tmp.path().join("root");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let version = run_ok(Command::new(root.join("usr/bin/heat-agent")).arg("--version"));
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let man = run_ok(
        Command::new("gzip")
            .arg("-dc")
            .arg(root.join("usr/share/man/man1/heat-agent.1.gz")),
    );
    assert_eq!(
        man.stdout,
        std::fs::read(repo().join("packaging/man/heat-agent.1")).unwrap()
    );
    for hook in common::hook_list() {
        assert_eq!(
            read(&root.join("var/lib/heat-config/hooks").join(&hook)),
            common::hook_wrapper(&hook, "/usr/bin/heat-agent"),
            "{hook}"
        );
    }
    let control = tmp.path().join("control");
    run_ok(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        assert_eq!(mode(&control.join(script)), 0o755, "{script}");
        run_ok(Command::new("sh").arg("-n").arg(control.join(script)));
    }
    // heat-config-rebuild-deployed marks the listed deployments as deployed, runs nothing
    let site = tmp.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("heat-config"),
        r#"[{"id": "r1", "group": "script", "inputs": []}]"#,
    )
    .unwrap();
    let rebuild = read(&root.join("usr/bin/heat-config-rebuild-deployed"))
        .replace("/usr/bin/heat-agent", common::bin().to_str().unwrap());
    std::fs::write(site.join("rebuild"), rebuild).unwrap();
    run_ok(
        Command::new("sh")
            .arg(site.join("rebuild"))
            .env("HEAT_SHELL_CONFIG", site.join("heat-config"))
            .env("HEAT_CONFIG_DEPLOYED", site.join("deployed"))
            .env("HEAT_CONFIG_DEPLOYED_OLD", site.join("deployed-old"))
            .env("HEAT_CONFIG_HOOKS", site.join("hooks"))
            .env("HEAT_AGENT_STATE_DIR", site.join("state")),
    );
    assert!(site.join("deployed/r1.json").exists());
    // conffiles live under /etc only (Debian policy); the hook wrappers are package files
    assert!(!control.join("conffiles").exists());
    let md5sums = read(&control.join("md5sums"));
    assert!(md5sums.contains("  usr/bin/heat-agent\n"), "{md5sums}");
    // Debian's changelog and a DEP-5 copyright naming the holder
    let changelog = run_ok(
        Command::new("gzip")
            .arg("-dc")
            .arg(root.join("usr/share/doc/heat-agent/changelog.gz")),
    );
    assert!(String::from_utf8_lossy(&changelog.stdout)
        .starts_with(&format!("heat-agent ({}) ", env!("CARGO_PKG_VERSION"))));
    let copyright = read(&root.join("usr/share/doc/heat-agent/copyright"));
    assert!(copyright
        .starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    assert!(copyright.contains("\nCopyright: 2026 The heat-agent contributors\n"));
    // every doc --help points to is installed
    for page in help_doc_references() {
        assert!(
            root.join("usr/share/doc/heat-agent").join(&page).exists(),
            "--help points to docs/{page}, which the package does not install"
        );
    }
}

/// The `docs/NAME.md` pages the commands' --help texts point to.
fn help_doc_references() -> std::collections::BTreeSet<String> {
    let mut pages = std::collections::BTreeSet::new();
    for cmd in [
        "",
        "run",
        "collect",
        "apply",
        "refresh",
        "run-parts",
        "deploy",
        "notify",
        "hook",
        "status",
    ] {
        let mut c = Command::new(common::bin());
        if !cmd.is_empty() {
            c.arg(cmd);
        }
        let out = c.arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
        for (i, _) in text.match_indices("docs/") {
            let rest = &text[i + 5..];
            if let Some(end) = rest.find(".md") {
                pages.insert(format!("{}.md", &rest[..end]));
            }
        }
    }
    assert!(
        !pages.is_empty(),
        "no --help points to docs/: update this test"
    );
    pages
}

/// Builds the .deb from the test binary (stripped by build-deb.sh), compressed as a release.
fn build_deb(dir: &Path) -> std::path::PathBuf {
    let out = run_ok(
        Command::new(repo().join("packaging/deb/build-deb.sh"))
            .arg(common::bin())
            .arg(dir)
            .env("HEAT_AGENT_DEB_COMPRESS", "gzip"),
    );
    dir.join(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn deb_package_has_no_lintian_errors() {
    if !have_tool("lintian", "lintian") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(tmp.path());
    let out = Command::new("lintian")
        // (not --show-overrides: with it, lintian exits 2 on overridden tags)
        .args(["--no-cfg", "--fail-on", "error", "--display-info"])
        .arg(&deb)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<_> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "lintian ({}):\n{report}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // each override still matches a real finding (else lintian reports it, at info level)
    assert!(
        !report.contains("unused-override") && !report.contains("mismatched-override"),
        "{report}"
    );
    // every direct systemctl call has its own override with its reason (overridden findings
    // are not in the report): a new one, or a moved line, shows up here
    let direct: Vec<_> = report
        .lines()
        .filter(|l| l.contains("maintainer-script-calls-systemctl"))
        .collect();
    assert!(direct.is_empty(), "{direct:#?}");
}

/// Runs a maintainer script against `root` with the real deb-systemd-helper (DPKG_ROOT keeps
/// it inside `root`) and without systemd running; host paths are rewritten into `root`.
fn run_maintainer_script(root: &Path, script: &str, args: &[&str]) {
    let text = maintainer_script(script)
        // the takeover block's paths and the removal's flush stay inside `root` too
        .replace(
            "/var/lib/heat-agent",
            root.join("var/lib/heat-agent").to_str().unwrap(),
        )
        .replace(
            "/usr/bin/heat-agent",
            root.join("no-such-bin").to_str().unwrap(),
        )
        .replace(
            "/etc/os-collect-config.conf",
            root.join("etc/os-collect-config.conf").to_str().unwrap(),
        )
        .replace(
            "/run/systemd/system",
            root.join("run/systemd/system").to_str().unwrap(),
        )
        .replace("systemd-tmpfiles", "true")
        .replace("rm -rf /var/lib/os-collect-config", "true")
        .replace(
            &format!(
                "rm -rf {} /run/os-collect-config",
                root.join("var/lib/heat-agent").display()
            ),
            "true",
        );
    let path = root.join(script);
    std::fs::write(&path, text).unwrap();
    run_ok(
        Command::new("sh")
            .arg(&path)
            .args(args)
            .env("DPKG_ROOT", root)
            .env("DPKG_MAINTSCRIPT_PACKAGE", "heat-agent"),
    );
}

#[test]
fn deb_maintainer_scripts_enable_and_purge_through_deb_systemd_helper() {
    if !have_tool("deb-systemd-helper", "init-system-helpers") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    let unit = root.join("usr/lib/systemd/system/heat-agent.service");
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    std::fs::copy(repo().join("packaging/systemd/heat-agent.service"), &unit).unwrap();
    let wants = root.join("etc/systemd/system/multi-user.target.wants/heat-agent.service");
    let alias = root.join("etc/systemd/system/os-collect-config.service");

    run_maintainer_script(root, "postinst", &["configure", ""]);
    assert!(wants.is_symlink(), "first install enables the unit");
    assert!(alias.is_symlink(), "with its os-collect-config alias");
    // the admin disables it; an upgrade keeps it disabled
    std::fs::remove_file(&wants).unwrap();
    std::fs::remove_file(&alias).unwrap();
    run_maintainer_script(root, "postinst", &["configure", "0.0.9"]);
    assert!(root
        .join("var/lib/systemd/deb-systemd-helper-enabled/heat-agent.service.dsh-also")
        .exists());
    run_maintainer_script(root, "prerm", &["remove"]);
    run_maintainer_script(root, "postrm", &["remove"]);
    run_maintainer_script(root, "postrm", &["purge"]);
    assert!(!wants.exists() && !alias.exists());
    assert!(
        !root
            .join("var/lib/systemd/deb-systemd-helper-enabled/heat-agent.service.dsh-also")
            .exists(),
        "purge forgets the enablement state"
    );
}

#[test]
fn deb_postinst_writes_the_bootstrap_config_private() {
    // the maintainer script's bootstrap step, run against a scratch root through a chroot-free
    // rewrite of the path
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("os-collect-config.conf");
    let script = maintainer_script("postinst")
        .replace("/etc/os-collect-config.conf", conf.to_str().unwrap())
        .replace("systemctl", "true")
        .replace("deb-systemd-helper", "true")
        .replace("systemd-tmpfiles", "true");
    let path = tmp.path().join("postinst");
    std::fs::write(&path, script).unwrap();
    run_ok(Command::new("sh").arg(&path).arg("configure").arg(""));
    assert_eq!(read(&conf), "[DEFAULT]\ncommand = os-refresh-config\n");
    assert_eq!(mode(&conf), 0o600);
    // an existing (Heat-rendered) config is left alone
    std::fs::write(&conf, "[DEFAULT]\ncollectors = heat\n").unwrap();
    run_ok(Command::new("sh").arg(&path).arg("configure").arg("0.0.9"));
    assert_eq!(read(&conf), "[DEFAULT]\ncollectors = heat\n");
}

/// Builds the heat-agent rpm from the spec under `top` (rpmbuild's _topdir) with a stand-in
/// binary (the deb test installs the real one); returns its path.
fn build_rpm(top: &Path) -> std::path::PathBuf {
    let version = env!("CARGO_PKG_VERSION");
    std::fs::create_dir_all(top.join("SOURCES")).unwrap();
    run_ok(
        Command::new("tar")
            .current_dir(repo())
            .arg(format!("--transform=s,^,heat-agent-{version}/,"))
            .arg("-czf")
            .arg(top.join(format!("SOURCES/heat-agent-{version}.tar.gz")))
            .args(["LICENSE", "Cargo.toml", "packaging", "elements"]),
    );
    std::fs::write(
        top.join("SOURCES/heat-agent"),
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", common::bin().display()),
    )
    .unwrap();
    let spec = repo().join("packaging/rpm/heat-agent.spec");
    let parsed = run_ok(Command::new("rpmspec").arg("--parse").arg(&spec));
    assert!(String::from_utf8_lossy(&parsed.stdout).contains(&format!("Version:        {version}")));
    rpmbuild(top, &spec);
    top.join(format!("RPMS/x86_64/heat-agent-{version}-1.x86_64.rpm"))
}

fn rpmbuild(top: &Path, spec: &Path) {
    run_ok(
        Command::new("rpmbuild")
            .args(["-bb", "--nodeps"])
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--define", "_binary_payload w1.gzdio"])
            .arg(spec),
    );
}

#[test]
fn rpm_spec_builds_and_installs_the_same_tree() {
    if !packaging_support::have_tool("rpmbuild", "rpm") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rpm = build_rpm(tmp.path());
    let dump = run_ok(Command::new("rpm").args(["-qp", "--dump"]).arg(&rpm));
    let mut listed = BTreeMap::new();
    for line in String::from_utf8_lossy(&dump.stdout).lines() {
        let f: Vec<&str> = line.split(' ').collect();
        // path size mtime digest mode owner group isconfig isdoc rdev symlink
        let mode = u32::from_str_radix(f[4], 8).unwrap();
        listed.insert(
            f[0].trim_start_matches('/').to_string(),
            (mode, f[7] == "1", f[10].to_string()),
        );
    }
    for (path, want_mode, target) in expected_entries() {
        let (m, _, link) = listed
            .get(path)
            .unwrap_or_else(|| panic!("{path} not in the rpm"));
        match target {
            Some(t) => assert_eq!(link, t, "{path}"),
            None => assert_eq!(m & 0o7777, want_mode, "{path}"),
        }
    }
    assert!(
        listed["var/lib/heat-config/hooks/script"].1,
        "hook wrappers are %config"
    );
    let provides = run_ok(Command::new("rpm").args(["-qp", "--provides"]).arg(&rpm));
    assert!(String::from_utf8_lossy(&provides.stdout).contains("os-collect-config = 15"));
}

/// The postinst of an upgrade: see [`upgrade_calls`].
fn postinst_upgrade_calls(invocation: Option<&str>) -> String {
    upgrade_calls(
        &maintainer_script("postinst"),
        &["configure", "0.0.9"],
        invocation,
    )
}

/// Runs a package's upgrade scriptlet `script` with `args`, a fake `systemctl` (logging its
/// arguments) and a scratch /run/systemd/system; `invocation` is the INVOCATION_ID the script
/// runs with, the agent's own is "agent-invocation". Returns the systemctl calls.
fn upgrade_calls(script: &str, args: &[&str], invocation: Option<&str>) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = tmp.path().join("calls");
    let systemctl = bin.join("systemctl");
    std::fs::write(
        &systemctl,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\n[ \"$1\" = show ] && echo agent-invocation\nexit 0\n",
            calls.display()
        ),
    )
    .unwrap();
    run_ok(Command::new("chmod").arg("0755").arg(&systemctl));
    let run_systemd = tmp.path().join("run-systemd-system");
    std::fs::create_dir_all(&run_systemd).unwrap();
    let conf = tmp.path().join("os-collect-config.conf");
    std::fs::write(&conf, "[DEFAULT]\n").unwrap();
    let script = script
        .replace("/etc/os-collect-config.conf", conf.to_str().unwrap())
        .replace("/run/systemd/system", run_systemd.to_str().unwrap())
        .replace("systemd-tmpfiles", "true");
    let path = tmp.path().join("postinst");
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(&path)
        .args(args)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        // the real deb-systemd-helper, kept inside the scratch dir
        .env("DPKG_ROOT", tmp.path())
        .env("DPKG_MAINTSCRIPT_PACKAGE", "heat-agent");
    match invocation {
        Some(id) => cmd.env("INVOCATION_ID", id),
        None => cmd.env_remove("INVOCATION_ID"),
    };
    run_ok(&mut cmd);
    read(&calls)
}

#[test]
fn deb_postinst_upgrade_restarts_an_idle_agent() {
    let calls = postinst_upgrade_calls(None);
    assert!(calls.contains("try-restart heat-agent.service"), "{calls}");
    assert!(!calls.contains("reload --no-block"), "{calls}");
    // another service's dpkg run is not the agent's
    let calls = postinst_upgrade_calls(Some("someone-else"));
    assert!(calls.contains("try-restart heat-agent.service"), "{calls}");
}

#[test]
fn deb_postinst_upgrade_from_a_deployment_defers_the_restart() {
    // dpkg run by a deployment's hook (inside heat-agent.service): a restart would kill the
    // hook and dpkg with it; the agent is asked to re-exec at its next safe point instead
    let calls = postinst_upgrade_calls(Some("agent-invocation"));
    assert!(
        calls.contains("reload --no-block heat-agent.service"),
        "{calls}"
    );
    assert!(!calls.contains("try-restart"), "{calls}");
}

/// The built rpm's %post scriptlet (what an upgrade runs).
fn rpm_post_scriptlet() -> Option<String> {
    if !packaging_support::have_tool("rpmbuild", "rpm") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rpm = build_rpm(tmp.path());
    let out = run_ok(
        Command::new("rpm")
            .args(["-qp", "--queryformat", "%{POSTIN}"])
            .arg(&rpm),
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn rpm_upgrade_restarts_an_idle_agent_and_defers_inside_a_deployment() {
    let Some(post) = rpm_post_scriptlet() else {
        return;
    };
    // rpm passes the number of installed instances: 2 during an upgrade
    let calls = upgrade_calls(&post, &["2"], None);
    assert!(calls.contains("try-restart heat-agent.service"), "{calls}");
    assert!(!calls.contains("reload --no-block"), "{calls}");
    // run by a deployment's own script (dnf upgrade inside heat-agent.service)
    let calls = upgrade_calls(&post, &["2"], Some("agent-invocation"));
    assert!(
        calls.contains("reload --no-block heat-agent.service"),
        "{calls}"
    );
    assert!(!calls.contains("restart"), "{calls}");
    // the old package's postun must not restart either: no restart macro left in the spec
    let spec = read(&repo().join("packaging/rpm/heat-agent.spec"));
    assert!(!spec.contains("postun_with_restart"), "{spec}");
}

/// A stand-in for one of RDO's heat-agent packages: a package owning the paths it owns.
fn build_rdo_standin(top: &Path, name: &str, owned: &[&str]) -> std::path::PathBuf {
    let install: String = owned
        .iter()
        .map(|p| {
            format!(
                "install -D -m 0755 /dev/null %{{buildroot}}{p}\necho python >%{{buildroot}}{p}\n"
            )
        })
        .collect();
    std::fs::create_dir_all(top).unwrap();
    let spec = top.join(format!("{name}.spec"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 10.0.0\nRelease: 1\nSummary: stand-in\n\
             License: Apache-2.0\nBuildArch: noarch\n%description\nstand-in\n\
             %install\n{install}%files\n{}\n",
            owned.join("\n")
        ),
    )
    .unwrap();
    rpmbuild(top, &spec);
    top.join(format!("RPMS/noarch/{name}-10.0.0-1.noarch.rpm"))
}

/// RDO's python3-heat-agent: the notify tool, the phase shims and the two templates.
fn build_python3_heat_agent_standin(top: &Path) -> std::path::PathBuf {
    build_rdo_standin(
        top,
        "python3-heat-agent",
        &[
            "/usr/bin/heat-config-notify",
            "/usr/bin/heat-config-rebuild-deployed",
            "/usr/libexec/os-refresh-config/configure.d/20-os-apply-config",
            "/usr/libexec/os-refresh-config/configure.d/55-heat-config",
            "/usr/libexec/os-apply-config/templates/etc/os-collect-config.conf",
            "/usr/libexec/os-apply-config/templates/var/run/heat-config/heat-config",
        ],
    )
}

#[test]
fn rpm_replaces_rdo_python3_heat_agent_which_owns_the_same_files() {
    if !packaging_support::have_tool("rpmbuild", "rpm") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ours = build_rpm(&tmp.path().join("ours"));
    let theirs = build_python3_heat_agent_standin(&tmp.path().join("theirs"));
    // RDO's hook subpackages own the hook wrappers our package installs
    let hiera = build_rdo_standin(
        &tmp.path().join("hiera"),
        "python3-heat-agent-hiera",
        &["/var/lib/heat-config/hooks/hiera"],
    );
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let rpm = |args: &[&str], pkg: Option<&Path>| {
        let mut c = Command::new("rpm");
        c.arg("--root").arg(&root).args(args);
        if let Some(p) = pkg {
            c.arg(p);
        }
        c.output().unwrap()
    };
    // a server with the Python agent (no scriptlets, no dependency closure: a bare root)
    let out = rpm(&["-i", "--nodeps", "--noscripts"], Some(&theirs));
    assert!(out.status.success(), "{out:?}");
    let out = rpm(&["-i", "--nodeps", "--noscripts"], Some(&hiera));
    assert!(out.status.success(), "{out:?}");
    // installing beside it is refused: the conflict is declared (a dependency check, so no
    // --nodeps here; the bare root's missing /bin/sh is reported too)
    let out = rpm(&["-i", "--test"], Some(&ours));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "rpm -i beside python3-heat-agent succeeded"
    );
    assert!(
        err.contains("python3-heat-agent conflicts with heat-agent-"),
        "{err}"
    );
    // an upgrade replaces it
    let out = rpm(&["-U", "--test", "--nodeps"], Some(&ours));
    assert!(out.status.success(), "{out:?}");
    let out = rpm(&["-U", "--nodeps", "--noscripts"], Some(&ours));
    assert!(out.status.success(), "{out:?}");
    for replaced in ["python3-heat-agent", "python3-heat-agent-hiera"] {
        let out = rpm(&["-q", replaced], None);
        assert!(!out.status.success(), "{replaced} still installed");
    }
    let out = rpm(&["-qf", "/var/lib/heat-config/hooks/hiera"], None);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("heat-agent-"),
        "{out:?}"
    );
    let out = rpm(&["-qf", "/usr/bin/heat-config-notify"], None);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("heat-agent-"),
        "{out:?}"
    );
}

/// A maintainer script as build-deb.sh writes it: the takeover block (packaging/deb/takeover.sh)
/// at its `#TAKEOVER#` line, with `paths` as the shipped paths.
fn maintainer_script_with(name: &str, paths: &str) -> String {
    let block = read(&repo().join("packaging/deb/takeover.sh")).replace("@TAKEOVER_PATHS@", paths);
    read(&repo().join("packaging/deb").join(name))
        .lines()
        .map(|l| {
            if l == "#TAKEOVER#" {
                block.clone()
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn maintainer_script(name: &str) -> String {
    maintainer_script_with(name, "")
}

/// A server built with the Python agents' elements (os-collect-config.service, unowned phase
/// scripts and hooks at paths the package ships), in a scratch root: preinst stops and
/// disables the Python unit and keeps its files aside, postinst starts heat-agent in its place,
/// postrm remove puts the files back and restores the unit, postrm purge puts back what dpkg
/// purged (the hook conffile) and keeps the Python agent's cache.
#[test]
fn deb_takeover_of_the_python_agents_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bin = t.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = t.join("calls");
    std::fs::write(
        bin.join("systemctl"),
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\ncase \"$1\" in is-enabled) echo enabled;; is-active) echo active;; esac\nexit 0\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::write(bin.join("dpkg-query"), "#!/bin/sh\nexit 1\n").unwrap();
    // the host's own helpers must not run: they would act on this machine's units
    for helper in ["deb-systemd-helper", "deb-systemd-invoke"] {
        std::fs::write(
            bin.join(helper),
            format!("#!/bin/sh\necho \"{helper} $*\" >> {}\n", calls.display()),
        )
        .unwrap();
    }
    run_ok(
        Command::new("chmod").arg("0755").args(
            [
                "systemctl",
                "dpkg-query",
                "deb-systemd-helper",
                "deb-systemd-invoke",
            ]
            .map(|n| bin.join(n)),
        ),
    );
    let unit = t.join("lib/systemd/system/os-collect-config.service");
    let orc = t.join("usr/libexec/os-refresh-config/configure.d/55-heat-config");
    let hook = t.join("var/lib/heat-config/hooks/script");
    let cache = t.join("var/lib/os-collect-config/heat.json");
    for (f, text) in [
        (&unit, "[Service]\n"),
        (&orc, "python 55-heat-config\n"),
        (&hook, "python hook\n"),
        (&cache, "{}\n"),
    ] {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    std::fs::create_dir_all(t.join("run-systemd")).unwrap();
    let state = t.join("state");
    let paths = format!(
        "{} {} {}",
        orc.display(),
        hook.display(),
        t.join("usr/bin/heat-agent").display()
    );
    let run = |name: &str, args: &[&str]| {
        let script = maintainer_script_with(name, &paths)
            .replace("/var/lib/heat-agent", state.to_str().unwrap())
            .replace(
                "/var/lib/os-collect-config",
                t.join("var/lib/os-collect-config").to_str().unwrap(),
            )
            .replace(
                "/usr/lib/systemd/system",
                t.join("usr/lib/systemd/system").to_str().unwrap(),
            )
            .replace(
                " /lib/systemd/system",
                &format!(" {}", t.join("lib/systemd/system").display()),
            )
            .replace(
                "/etc/systemd/system",
                t.join("etc/systemd/system").to_str().unwrap(),
            )
            .replace(
                "/run/systemd/system",
                t.join("run-systemd").to_str().unwrap(),
            )
            .replace("/sys/fs/cgroup", t.join("no-cgroup").to_str().unwrap())
            .replace(
                "/etc/os-collect-config.conf",
                t.join("occ.conf").to_str().unwrap(),
            )
            .replace("systemd-tmpfiles", "true");
        let path = t.join(name);
        std::fs::write(&path, script).unwrap();
        run_ok(Command::new("sh").arg(&path).args(args).env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        ));
    };
    run("preinst", &["install"]);
    assert!(
        !orc.exists() && !hook.exists(),
        "the Python files are kept aside"
    );
    let kept = |p: &Path| state.join(format!("python-agents/files{}", p.display()));
    assert_eq!(read(&kept(&orc)), "python 55-heat-config\n");
    assert_eq!(read(&kept(&hook)), "python hook\n");
    assert_eq!(
        read(&state.join("python-agents/unit-state")),
        "enabled=enabled\nactive=active\n"
    );
    let c = read(&calls);
    let stop = c.find("stop os-collect-config.service").expect("stopped");
    let disable = c
        .find("disable os-collect-config.service")
        .expect("disabled");
    assert!(stop < disable, "{c}");
    // dpkg unpacks ours
    std::fs::write(&orc, "ours\n").unwrap();
    std::fs::write(&hook, "ours\n").unwrap();
    std::fs::write(&calls, "").unwrap();
    run("postinst", &["configure", ""]);
    let c = read(&calls);
    assert!(c.contains("enable heat-agent.service"), "{c}");
    assert!(c.contains("start --no-block heat-agent.service"), "{c}");
    // an upgrade takes over nothing again
    run("preinst", &["upgrade", "0.1.0"]);
    assert_eq!(read(&orc), "ours\n");
    // apt-get remove: dpkg deletes our files; our Alias= link stays (the unit is only masked)
    std::fs::remove_file(&orc).unwrap();
    std::fs::remove_file(&hook).unwrap();
    let alias = t.join("etc/systemd/system/os-collect-config.service");
    std::fs::create_dir_all(alias.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/usr/lib/systemd/system/heat-agent.service", &alias).unwrap();
    std::fs::write(&calls, "").unwrap();
    run("postrm", &["remove"]);
    assert_eq!(read(&orc), "python 55-heat-config\n");
    assert_eq!(read(&hook), "python hook\n");
    assert!(alias.symlink_metadata().is_err(), "our alias link is gone");
    let c = read(&calls);
    let mask = c
        .find("deb-systemd-helper mask heat-agent.service")
        .expect("ours masked");
    let enable = c
        .find("enable os-collect-config.service")
        .expect("Python unit enabled");
    assert!(mask < enable, "{c}");
    assert!(
        c.contains("start --no-block os-collect-config.service"),
        "{c}"
    );
    run("postrm", &["purge"]);
    assert_eq!(read(&hook), "python hook\n");
    assert_eq!(read(&cache), "{}\n", "the Python agent's cache stays");
    assert!(!state.exists(), "our state is purged");
}

/// Without the Python agents there is nothing to take over: preinst leaves no record.
#[test]
fn deb_preinst_without_python_agents_takes_over_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let script = maintainer_script("preinst")
        .replace("/var/lib/heat-agent", state.to_str().unwrap())
        .replace(
            "systemd/system/os-collect-config.service",
            "systemd/system/no-such.service",
        );
    let path = tmp.path().join("preinst");
    std::fs::write(&path, script).unwrap();
    run_ok(Command::new("sh").arg(&path).arg("install"));
    assert!(!state.exists());
}
