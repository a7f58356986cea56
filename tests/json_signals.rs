//! Issue 11: deploy and notify read JSON as Python's `json` does (`NaN`, `Infinity`,
//! `-Infinity`, huge exponents, lone surrogate escapes) and write it back as Python does
//! (docs/compatibility.md, "JSON, as Python reads and writes it"): the deployment a hook is
//! given, what the agent keeps, and the signal body a loopback receiver gets.

mod common;
#[path = "fixtures/deploy/support.rs"]
mod support;

use common::{Response, Server};
use std::process::Output;
use support::Site;

/// Numbers Python reads as non-finite, a huge and a tiny exponent, a lone surrogate and a
/// valid pair: JSON text serde_json alone refuses.
const ODD: &str = r#"{"nan": NaN, "inf": Infinity, "ninf": -Infinity, "big": 1e400, "tiny": 1e-400, "lone": "a\ud800b", "pair": "\ud83d\ude00", "deep": [1E999]}"#;

/// `json.dumps(json.loads(ODD))` by Python 3, except the lone surrogate: a Rust string cannot
/// hold one, so it is U+FFFD (the documented deviation).
const ODD_AS_PYTHON_WRITES_IT: &str = r#"{"nan": NaN, "inf": Infinity, "ninf": -Infinity, "big": Infinity, "tiny": 0.0, "lone": "a\ufffdb", "pair": "\ud83d\ude00", "deep": [Infinity]}"#;

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The deployments file, as raw text: a script deployment whose inputs and options hold
/// [`ODD`], and one run by an external hook that answers with [`ODD`] in its response.
fn deployments(signal_url: &str) -> String {
    let script = "#!/bin/sh\\nprintf '%s\\\\n' \\\"$J\\\" \\\"$N\\\" \\\"$H\\\" \\\"$S\\\"\\n";
    format!(
        r#"[
 {{"id": "odd-script", "name": "odd", "group": "script", "config": "{script}",
   "options": {ODD},
   "inputs": [
     {{"name": "J", "type": "Json", "value": {ODD}}},
     {{"name": "N", "type": "Number", "value": NaN}},
     {{"name": "H", "type": "Number", "value": 1e400}},
     {{"name": "S", "type": "String", "value": "x\ud800y"}},
     {{"name": "deploy_signal_transport", "type": "String", "value": "CFN_SIGNAL"}},
     {{"name": "deploy_signal_id", "type": "String", "value": "{signal_url}/odd-script"}},
     {{"name": "deploy_signal_verb", "type": "String", "value": "POST"}}],
   "outputs": []}},
 {{"id": "odd-hook", "name": "odd2", "group": "oddhook", "config": {ODD},
   "options": {{}},
   "inputs": [
     {{"name": "deploy_signal_transport", "type": "String", "value": "CFN_SIGNAL"}},
     {{"name": "deploy_signal_id", "type": "String", "value": "{signal_url}/odd-hook"}},
     {{"name": "deploy_signal_verb", "type": "String", "value": "POST"}}],
   "outputs": []}}
]"#
    )
}

fn deploy_with(legacy: bool) {
    let srv = Server::start(|_| Response::new(200, ""));
    let mut site = Site::new();
    site.notify = None; // the built-in outbox and transports
    let seen = site.root.join("hook-stdin.json");
    site.write_hook(
        "oddhook",
        &format!(
            "#!/bin/sh\ncat > {}\nprintf '%s' '{{\"deploy_status_code\": 0, \"deploy_stdout\": \"ok\", \"odd\": {ODD}}}'\n",
            seen.display()
        ),
    );
    std::fs::write(&site.conf, deployments(&srv.url("/signal"))).unwrap();
    let out = if legacy {
        site.legacy_cmd().output().unwrap()
    } else {
        site.deploy_cmd(&[]).output().unwrap()
    };
    assert!(out.status.success(), "{}", text(&out));
    let mut reqs = srv.requests();
    reqs.sort_by(|a, b| a.target.cmp(&b.target));
    assert_eq!(reqs.len(), 2, "{reqs:#?}\n{}", text(&out));
    let body = |i: usize| String::from_utf8(reqs[i].body.clone()).unwrap();

    // the external hook's answer is the signal, written back as Python writes it
    assert_eq!(reqs[0].path(), "/signal/odd-hook");
    let hook_body = body(0);
    assert!(
        hook_body.contains(&format!(r#""odd": {ODD_AS_PYTHON_WRITES_IT}"#)),
        "{hook_body}"
    );
    assert!(
        hook_body.contains(r#""deploy_status_code": 0"#),
        "{hook_body}"
    );
    // the hook was given the deployment as Python writes it
    let stdin = std::fs::read_to_string(&seen).unwrap();
    assert!(
        stdin.contains(&format!(r#""config": {ODD_AS_PYTHON_WRITES_IT}"#)),
        "{stdin}"
    );

    // the script hook: a Json input is json.dumps'd into its environment, a number is str()'d
    // (`nan`, `inf`), a lone surrogate is U+FFFD; the signal's strings are \u-escaped
    assert_eq!(reqs[1].path(), "/signal/odd-script");
    let script_body = body(1);
    let stdout = format!("{ODD_AS_PYTHON_WRITES_IT}\nnan\ninf\nx\u{fffd}y\n");
    let want = serde_json::to_string(&stdout)
        .unwrap()
        .replace('\u{fffd}', "\\ufffd");
    assert!(
        script_body.contains(&format!(r#""deploy_stdout": {want}"#)),
        "{script_body}\nwanted deploy_stdout {want}"
    );
    assert!(
        script_body.is_ascii(),
        "written with ensure_ascii: {script_body}"
    );
    // what the agent keeps of the deployment holds the same values, Python-style
    // (indented, as the reference keeps it; none of these strings holds a space)
    let kept = std::fs::read_to_string(site.marker("odd-script")).unwrap();
    let squeezed = |t: &str| t.replace([' ', '\n'], "");
    let kept_squeezed = squeezed(&kept);
    for want in [
        format!(r#""options": {ODD_AS_PYTHON_WRITES_IT}"#),
        r#""value": NaN"#.to_string(),
        r#""value": Infinity"#.to_string(),
        r#""value": "x\ufffdy""#.to_string(),
    ] {
        assert!(kept_squeezed.contains(&squeezed(&want)), "{want} in {kept}");
    }

    // and `status` reads everything back
    let st = std::process::Command::new(common::bin())
        .arg("status")
        .arg("--state-dir")
        .arg(&site.state)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0), "{}", text(&st));
}

#[test]
fn deploy_reads_and_signals_what_python_json_accepts() {
    deploy_with(false);
}

#[test]
fn legacy_55_heat_config_reads_and_signals_what_python_json_accepts() {
    deploy_with(true);
}

/// heat-config-notify: the deployment file (its inputs hold the odd values beside the signal
/// URL) and the signal on stdin.
#[test]
fn notify_reads_and_signals_what_python_json_accepts() {
    let srv = Server::start(|_| Response::new(200, ""));
    let env = common::NotifyDir::new();
    let deployment = env.dir.path().join("deployment.json");
    std::fs::write(
        &deployment,
        format!(
            r#"{{"id": "odd-notify", "group": "script", "config": {ODD}, "inputs": [
                {{"name": "odd", "value": {ODD}}},
                {{"name": "n", "value": NaN}},
                {{"name": "deploy_signal_id", "value": "{}"}},
                {{"name": "deploy_signal_verb", "value": "POST"}}]}}"#,
            srv.url("/signal/odd-notify")
        ),
    )
    .unwrap();
    let signal =
        format!(r#"{{"deploy_status_code": 0, "deploy_stdout": "a\ud800b", "odd": {ODD}}}"#);
    for legacy in [true, false] {
        srv.clear();
        let mut cmd = if legacy {
            std::process::Command::new(common::legacy(env.dir.path(), "heat-config-notify"))
        } else {
            let mut c = std::process::Command::new(common::bin());
            c.arg("notify");
            c
        };
        cmd.arg(&deployment)
            .env("HEAT_AGENT_STATE_DIR", env.state())
            .env("HEAT_AGENT_NOTIFY_WAIT", "20")
            .env_remove("RUST_LOG");
        let out = common::output_with_stdin(&mut cmd, signal.as_bytes());
        assert!(out.status.success(), "{}", text(&out));
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 1, "{reqs:#?}\n{}", text(&out));
        assert_eq!(
            String::from_utf8(reqs[0].body.clone()).unwrap(),
            format!(
                r#"{{"deploy_status_code": 0, "deploy_stdout": "a\ufffdb", "odd": {ODD_AS_PYTHON_WRITES_IT}}}"#
            ),
            "legacy name: {legacy}"
        );
        // a second run of the same deployment signals again (notify keeps no marker)
        std::fs::remove_dir_all(env.state()).ok();
    }
}
