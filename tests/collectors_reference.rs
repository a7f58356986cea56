//! Differential tests: the reference os-collect-config (Python, from the test venv) and our
//! collectors poll the same loopback servers; the requests they make and the `--print`
//! output must agree. Skipped (with a note) when the venv is missing, unless
//! `HEAT_AGENT_REQUIRE_REFERENCE=1`.

mod collectors_support;
mod common;

use collectors_support::openstack::*;
use collectors_support::*;
use common::{Request, Response, Server};
use heat_agent::collectors::Entries;
use heat_agent::config::Settings;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::Command;

fn reference() -> Option<PathBuf> {
    common::reference_venv(&["bin/os-collect-config"]).map(|v| v.join("bin/os-collect-config"))
}

/// `os-collect-config --print` with `args`; its stdout.
fn run_reference(bin: &PathBuf, args: &[String]) -> String {
    run_reference_full(bin, args).0
}

/// `os-collect-config --print` with `args`; (stdout, stderr).
fn run_reference_full(bin: &PathBuf, args: &[String]) -> (String, String) {
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args(["--print", "--config-file", "/dev/null", "--cachedir"])
        .arg(cache.path())
        .args(args)
        .env("no_proxy", "*")
        // the reference crashes restoring a C.UTF-8 locale (W-C17)
        .env("LC_ALL", "C")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stdout == "{}\n" {
        eprintln!("reference stderr: {stderr}");
    }
    (stdout, stderr)
}

/// What `--print` prints for our entries: merged map, Python JSON indent=1, newline.
fn print_form(entries: &Entries) -> String {
    let mut m = Map::new();
    for (k, v) in entries {
        m.insert(k.clone(), v.clone());
    }
    heat_agent::pyjson::dumps_indent(&Value::Object(m), 1) + "\n"
}

fn arg(s: &str) -> String {
    s.to_string()
}

#[test]
fn differential_cfn() {
    let Some(bin) = reference() else { return };
    let srv = Server::start(|_| {
        let md = software_config_data()
            .to_string()
            .replace('&', "&amp;")
            .replace('<', "&lt;");
        Response::new(
            200,
            format!("<DescribeStackResourceResponse><DescribeStackResourceResult><StackResourceDetail><Metadata>{md}</Metadata></StackResourceDetail></DescribeStackResourceResult></DescribeStackResourceResponse>"),
        )
    });
    let (key, secret) = (
        "0c2c34a783dc498fbd162b0df22d5054",
        "d5Iq^VEFAGKE&ooNRjRi8Bd!od%z2wz^",
    );
    let url = srv.url("/v1/");
    let printed = run_reference(
        &bin,
        &[
            arg("--cfn-metadata-url"),
            url.clone(),
            arg("--cfn-access-key-id"),
            arg(key),
            arg("--cfn-secret-access-key"),
            arg(secret),
            arg("--cfn-stack-name"),
            arg("my stack/ü"),
            arg("--cfn-path"),
            arg("server.Metadata"),
            arg("cfn"),
        ],
    );
    let mut s = Settings::default();
    s.cfn.metadata_url = Some(url);
    s.cfn.access_key_id = Some(key.into());
    s.cfn.secret_access_key = Some(secret.into());
    s.cfn.stack_name = Some("my stack/ü".into());
    s.cfn.path = vec!["server.Metadata".into()];
    let ours = collect("cfn", &s).unwrap();
    assert_eq!(print_form(&ours), printed);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].target, reqs[1].target, "same URL, same signature");
    assert_eq!(
        reqs[0].header("content-type"),
        reqs[1].header("content-type")
    );
}

#[test]
fn differential_heat() {
    let Some(bin) = reference() else { return };
    heat_case(&bin, "/v3/");
}

/// A v2.0 auth_url: discovery at the root, then the v3 self link (as keystoneclient).
#[test]
fn differential_heat_v2_auth_url() {
    let Some(bin) = reference() else { return };
    heat_case(&bin, "/v2.0");
}

fn heat_case(bin: &PathBuf, auth_path: &str) {
    let heat = Server::start(|_| Response::new(503, ""));
    let keystone = FakeKeystone::start(json!([service(
        "orchestration",
        &heat.url(&format!("/v1/{PROJECT_ID}")),
        "RegionOne"
    ),]));
    let ks = keystone.state.clone();
    heat.set_handler(move |req: &Request| {
        if !FakeKeystone::token_is_valid(&ks, req.header("x-auth-token")) {
            return Response::new(401, "");
        }
        Response::json(200, &json!({"metadata": software_config_data()}))
    });
    let auth_url = keystone.server.url(auth_path);
    let stack = "heat-heat/a0fccd2e-2149-4439-bf57-f18ec642a38e";
    let printed = run_reference(
        bin,
        &[
            arg("--heat-auth-url"),
            auth_url.clone(),
            arg("--heat-user-id"),
            arg(USER_ID),
            arg("--heat-password"),
            arg(PASSWORD),
            arg("--heat-project-id"),
            arg(PROJECT_ID),
            arg("--heat-stack-id"),
            arg(stack),
            arg("--heat-resource-name"),
            arg("server"),
            arg("--heat-region-name"),
            arg("RegionOne"),
            arg("heat"),
        ],
    );
    let reference_ks: Vec<(String, String)> = keystone
        .server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.target.clone()))
        .collect();
    let reference_heat = heat.requests();
    keystone.server.clear();
    heat.clear();
    let mut s = Settings::default();
    s.heat.auth_url = Some(auth_url);
    s.heat.user_id = Some(USER_ID.into());
    s.heat.password = Some(PASSWORD.into());
    s.heat.project_id = Some(PROJECT_ID.into());
    s.heat.stack_id = Some(stack.into());
    s.heat.resource_name = Some("server".into());
    s.heat.region_name = Some("RegionOne".into());
    let ours = collect("heat", &s).unwrap();
    assert_eq!(print_form(&ours), printed);
    let our_ks: Vec<(String, String)> = keystone
        .server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.target.clone()))
        .collect();
    assert_eq!(our_ks, reference_ks);
    let ours_heat = heat.requests();
    assert_eq!(ours_heat.len(), reference_heat.len());
    for (a, b) in ours_heat.iter().zip(&reference_heat) {
        assert_eq!((&a.method, &a.target), (&b.method, &b.target));
        for h in ["accept", "content-type"] {
            assert_eq!(a.header(h), b.header(h), "{h}");
        }
    }
    let bodies: Vec<String> = keystone
        .auth_requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies, [expected_auth_body()]);
}

#[test]
fn differential_ec2() {
    let Some(bin) = reference() else { return };
    let srv = Server::start(|req: &Request| {
        let body = match req.path() {
            "/latest/meta-data/" => "ami-id\nplacement/\npublic-keys/",
            "/latest/meta-data/ami-id" => "ami-0001",
            "/latest/meta-data/placement/" => "availability-zone",
            "/latest/meta-data/placement/availability-zone" => "nova",
            "/latest/meta-data/public-keys/" => "0=mykey",
            "/latest/meta-data/public-keys/0/" => "openssh-key",
            "/latest/meta-data/public-keys/0/openssh-key" => "ssh-rsa AAA",
            _ => return Response::new(404, ""),
        };
        Response::new(200, body)
    });
    let url = srv.url("/latest/meta-data");
    let printed = run_reference(&bin, &[arg("--ec2-metadata-url"), url.clone(), arg("ec2")]);
    let reference_paths: Vec<String> = srv.requests().iter().map(|r| r.target.clone()).collect();
    srv.clear();
    // no config drive on our side either
    let drive = tempfile::tempdir().unwrap();
    let blkid = drive.path().join("blkid");
    std::fs::write(&blkid, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&blkid, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::env::set_var("HEAT_AGENT_BLKID", &blkid);
    let mut s = Settings::default();
    s.ec2.metadata_url = url;
    let ours = collect("ec2", &s).unwrap();
    assert_eq!(print_form(&ours), printed);
    let our_paths: Vec<String> = srv.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(our_paths, reference_paths);
}

#[test]
fn differential_request() {
    let Some(bin) = reference() else { return };
    let srv = Server::start(|_| Response::new(200, software_config_data().to_string()));
    let url = srv.url("/v1/AUTH_p/c/o?temp_url_sig=abc&temp_url_expires=2147483586");
    let printed = run_reference(
        &bin,
        &[arg("--request-metadata-url"), url.clone(), arg("request")],
    );
    let reference_gets: Vec<String> = srv
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.target.clone())
        .collect();
    srv.clear();
    let mut s = Settings::default();
    s.request.metadata_url = Some(url);
    let ours = collect("request", &s).unwrap();
    assert_eq!(print_form(&ours), printed);
    let our_reqs: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        our_reqs,
        reference_gets
            .iter()
            .map(|t| format!("GET {t}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn differential_zaqar() {
    let Some(bin) = reference() else { return };
    let zaqar = Server::start(|_| Response::new(503, ""));
    let keystone = FakeKeystone::start(json!([service("messaging", &zaqar.url("/"), "RegionOne")]));
    zaqar.set_handler(|_| {
        Response::json(200, &json!({"messages": [{"body": heat_software_config_data(), "id": "1", "ttl": 3600, "age": 1}]}))
    });
    let auth_url = keystone.server.url("/v3/");
    let printed = run_reference(
        &bin,
        &[
            arg("--zaqar-auth-url"),
            auth_url.clone(),
            arg("--zaqar-user-id"),
            arg(USER_ID),
            arg("--zaqar-password"),
            arg(PASSWORD),
            arg("--zaqar-project-id"),
            arg(PROJECT_ID),
            arg("--zaqar-queue-id"),
            arg("q1"),
            arg("zaqar"),
        ],
    );
    let reference_reqs = zaqar.requests();
    zaqar.clear();
    let mut s = Settings::default();
    s.zaqar.auth_url = Some(auth_url);
    s.zaqar.user_id = Some(USER_ID.into());
    s.zaqar.password = Some(PASSWORD.into());
    s.zaqar.project_id = Some(PROJECT_ID.into());
    s.zaqar.queue_id = Some("q1".into());
    let ours = collect("zaqar", &s).unwrap();
    assert_eq!(print_form(&ours), printed);
    let ours_reqs = zaqar.requests();
    assert_eq!(ours_reqs.len(), reference_reqs.len());
    for (a, b) in ours_reqs.iter().zip(&reference_reqs) {
        assert_eq!((&a.method, &a.target), (&b.method, &b.target));
        for h in ["x-project-id", "content-type"] {
            assert_eq!(a.header(h), b.header(h), "{h}");
        }
        assert_eq!(
            a.header("client-id").map(str::len),
            b.header("client-id").map(str::len)
        );
    }
}

#[test]
fn differential_local_and_heat_local() {
    let Some(bin) = reference() else { return };
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    std::fs::set_permissions(&local, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(local.join("zz.json"), r#"{"b": 1.0, "a": "é"}"#).unwrap();
    std::fs::write(local.join("Aa"), r#"[1, 2]"#).unwrap();
    std::fs::write(
        local.join("aa"),
        r#"{"big": 123456789012345678901234567890}"#,
    )
    .unwrap();
    let hl = dir.path().join("cfn-init-data");
    std::fs::write(
        &hl,
        r#"{"localstrA": "A", "localint9": 9, "localmap_xy": {"x": 42, "y": "foo"}}"#,
    )
    .unwrap();
    let printed = run_reference(
        &bin,
        &[
            arg("--local-path"),
            local.display().to_string(),
            arg("--heat_local-path"),
            hl.display().to_string(),
            arg("heat_local"),
            arg("local"),
        ],
    );
    let mut s = Settings::default();
    s.local.path = vec![local];
    s.heat_local.path = vec![hl];
    let mut ours = collect("heat_local", &s).unwrap();
    ours.extend(collect("local", &s).unwrap());
    assert_eq!(print_form(&ours), printed);
}

/// A one-connection websocket Zaqar: records the frames, answers 201/200, and returns
/// `body` as a popped message in the reply to the fourth frame.
fn ws_zaqar(body: Value) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let mut frames = Vec::new();
        for i in 0..4 {
            let Ok(msg) = ws.read() else { break };
            frames.push(msg.to_text().unwrap().to_string());
            let reply = if i == 3 {
                json!({"headers": {"status": 200}, "body": {"messages": [{"body": body, "id": "m"}]}})
            } else {
                json!({"headers": {"status": if i == 1 { 201 } else { 200 }}, "body": ""})
            };
            ws.send(tungstenite::Message::text(reply.to_string()))
                .unwrap();
        }
        let _ = ws.read();
        frames
    });
    (url, handle)
}

/// The frames with the (random) Client-ID replaced by `CID`.
fn normalise_client_id(frames: &[String]) -> Vec<String> {
    let first: Value = serde_json::from_str(&frames[0]).unwrap();
    let cid = first["headers"]["Client-ID"].as_str().unwrap().to_string();
    frames.iter().map(|f| f.replace(&cid, "CID")).collect()
}

/// Needs the optional `websocket-client` package in the reference venv (as the reference
/// does); skipped with a note without it.
#[test]
fn differential_zaqar_websocket() {
    let Some(bin) = reference() else { return };
    let python = bin.parent().unwrap().join("python");
    let has_ws = Command::new(&python)
        .args(["-c", "import websocket"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_ws {
        eprintln!("note: websocket-client is not installed in the reference venv; skipped");
        return;
    }
    let run = |use_reference: bool| -> (String, Vec<String>) {
        let (ws_url, handle) = ws_zaqar(heat_software_config_data());
        let keystone = FakeKeystone::start(json!([service(
            "messaging-websocket",
            &ws_url,
            "RegionOne"
        )]));
        let auth_url = keystone.server.url("/v3/");
        let printed = if use_reference {
            run_reference(
                &bin,
                &[
                    arg("--zaqar-auth-url"),
                    auth_url,
                    arg("--zaqar-user-id"),
                    arg(USER_ID),
                    arg("--zaqar-password"),
                    arg(PASSWORD),
                    arg("--zaqar-project-id"),
                    arg(PROJECT_ID),
                    arg("--zaqar-queue-id"),
                    arg("q1"),
                    arg("--zaqar-use-websockets"),
                    arg("zaqar"),
                ],
            )
        } else {
            let mut s = Settings::default();
            s.zaqar.auth_url = Some(auth_url);
            s.zaqar.user_id = Some(USER_ID.into());
            s.zaqar.password = Some(PASSWORD.into());
            s.zaqar.project_id = Some(PROJECT_ID.into());
            s.zaqar.queue_id = Some("q1".into());
            s.zaqar.use_websockets = true;
            print_form(&collect("zaqar", &s).unwrap())
        };
        (printed, handle.join().unwrap())
    };
    let (reference_out, reference_frames) = run(true);
    let (our_out, our_frames) = run(false);
    assert_eq!(our_out, reference_out);
    assert_eq!(
        normalise_client_id(&our_frames),
        normalise_client_id(&reference_frames)
    );
}

/// Failure texts: the reference's warning lines are our NotAvailable message (URLs with
/// credentials are redacted in both by the log masking).
#[test]
fn differential_http_error_messages() {
    let Some(bin) = reference() else { return };
    let srv = Server::start(|_| Response::new(403, "denied"));
    let cases: Vec<(&str, Vec<String>, Settings)> = vec![
        {
            let url = srv.url("/v1/");
            let mut s = Settings::default();
            s.cfn.metadata_url = Some(url.clone());
            s.cfn.access_key_id = Some("AKID".into());
            s.cfn.secret_access_key = Some("SECRETKEY".into());
            s.cfn.stack_name = Some("st".into());
            s.cfn.path = vec!["r.Metadata".into()];
            let args = vec![
                arg("--cfn-metadata-url"),
                url,
                arg("--cfn-access-key-id"),
                arg("AKID"),
                arg("--cfn-secret-access-key"),
                arg("SECRETKEY"),
                arg("--cfn-stack-name"),
                arg("st"),
                arg("--cfn-path"),
                arg("r.Metadata"),
                arg("cfn"),
            ];
            ("cfn", args, s)
        },
        {
            let url = srv.url("/obj?temp_url_sig=abcdef&temp_url_expires=1");
            let mut s = Settings::default();
            s.request.metadata_url = Some(url.clone());
            (
                "request",
                vec![arg("--request-metadata-url"), url, arg("request")],
                s,
            )
        },
        {
            let url = srv.url("/latest/meta-data");
            let mut s = Settings::default();
            s.ec2.metadata_url = url.clone();
            ("ec2", vec![arg("--ec2-metadata-url"), url, arg("ec2")], s)
        },
    ];
    let blkid = tempfile::tempdir().unwrap();
    let fake = blkid.path().join("blkid");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::env::set_var("HEAT_AGENT_BLKID", &fake);
    for (name, args, settings) in cases {
        let (out, err) = run_reference_full(&bin, &args);
        assert_eq!(out, "{}\n");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines.last().copied(),
            Some(format!("Source [{name}] Unavailable.").as_str())
        );
        let msg = not_available(collect(name, &settings));
        let mask = heat_agent::logging::mask;
        assert!(
            lines.iter().any(|l| mask(l) == mask(&msg)),
            "{name}: ours {msg:?} not among the reference's {lines:?}"
        );
    }
}
