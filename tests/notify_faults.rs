//! Signals are never lost: receivers that are down, 5xx, 429, permanent 4xx, a killed
//! `notify` process, and oversized payloads (weak spots W2–W6).

mod common;

use common::{Response, Server};
use heat_agent::notify::{Outbox, State};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn entry(inputs: &[(&str, Value)]) -> Value {
    let list: Vec<Value> = inputs
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({"id": "d-1", "name": "cfg", "group": "script", "inputs": list})
}

fn write_config(dir: &Path, data: &Value) -> PathBuf {
    let p = dir.join("d-1.json");
    std::fs::write(&p, serde_json::to_vec(data).unwrap()).unwrap();
    p
}

fn notify_cmd(dir: &Path, config: &Path, wait: &str) -> Command {
    let mut c = Command::new(common::legacy(dir, "heat-config-notify"));
    c.arg(config)
        .env("HEAT_AGENT_STATE_DIR", dir.join("state"))
        .env("HEAT_AGENT_NOTIFY_BACKOFF", "0.05")
        .env("HEAT_AGENT_NOTIFY_WAIT", wait)
        .env_remove("RUST_LOG")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn feed(mut child: Child, stdin: &[u8]) -> Output {
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let w = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    w.join().unwrap();
    out
}

fn notify(dir: &Path, config: &Path, wait: &str, stdin: &[u8]) -> Output {
    feed(notify_cmd(dir, config, wait).spawn().unwrap(), stdin)
}

fn record(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("state/outbox/d-1.json")).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Deliver through the library the way the daemon does, until nothing is queued.
fn drain(state: &Path) {
    let ob = Outbox::open(state).unwrap();
    let settings = heat_agent::config::Settings::default();
    for _ in 0..50 {
        if let Some(due) = ob.next_due() {
            if let Ok(wait) = due.duration_since(std::time::SystemTime::now()) {
                std::thread::sleep(wait);
            }
        }
        let s = ob.deliver_due(&settings, None);
        if s.pending == 0 {
            return;
        }
    }
    panic!("outbox never drained");
}

/// A handler answering `statuses` in order, then `last`.
fn scripted(statuses: Vec<u16>, last: u16) -> impl Fn(&common::Request) -> Response + Send + Sync {
    let n = AtomicUsize::new(0);
    move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        Response::new(*statuses.get(i).unwrap_or(&last), "")
    }
}

fn retried_until_success(verb: Option<&str>, statuses: Vec<u16>, last: u16) {
    let dir = tempfile::tempdir().unwrap();
    let n = statuses.len();
    let srv = Server::start(scripted(statuses, last));
    let mut inputs = vec![("deploy_signal_id", json!(srv.url("/sig?x=1")))];
    if let Some(v) = verb {
        inputs.push(("deploy_signal_verb", json!(v)));
    }
    let cfg = write_config(dir.path(), &entry(&inputs));
    let out = notify(
        dir.path(),
        &cfg,
        "30",
        br#"{"deploy_stdout": "ok", "deploy_status_code": 0}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = srv.requests();
    assert_eq!(
        reqs.len(),
        n + 1,
        "one attempt per scripted failure plus the success"
    );
    for r in &reqs {
        assert_eq!(r.method, verb.unwrap_or("POST"));
        assert_eq!(r.target, "/sig?x=1");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            r#"{"deploy_stdout": "ok", "deploy_status_code": 0}"#
        );
    }
    let rec = record(dir.path());
    assert_eq!(rec["state"], json!("delivered"));
    assert_eq!(rec["attempts"], json!(n + 1));
    assert_eq!(rec["last_status"], json!(last));
}

#[test]
fn cfn_post_is_retried_on_5xx() {
    retried_until_success(None, vec![500, 503], 200);
}

#[test]
fn temp_url_put_is_retried_on_5xx() {
    retried_until_success(Some("PUT"), vec![502, 500], 201);
}

#[test]
fn too_many_requests_and_request_timeout_are_retried() {
    retried_until_success(None, vec![429, 408], 200);
}

#[test]
fn forbidden_is_final_recorded_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(|_| Response::new(403, "SignatureDoesNotMatch"));
    let url = srv.url("/v1/signal/x?Timestamp=1&Signature=SeCrEtSiG");
    let cfg = write_config(dir.path(), &entry(&[("deploy_signal_id", json!(url))]));
    let out = notify(dir.path(), &cfg, "30", b"{}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(srv.requests().len(), 1);
    let rec = record(dir.path());
    assert_eq!(rec["state"], json!("failed"));
    assert_eq!(rec["last_status"], json!(403));
    assert!(rec["last_error"].as_str().unwrap().contains("403"));
    assert_eq!(rec["targets"], json!([]), "credentials dropped once final");
    let err = stderr(&out);
    assert!(
        err.contains("FAILED permanently") && err.contains("auth_ttl"),
        "{err}"
    );
    assert!(!err.contains("SeCrEtSiG"), "{err}");
    // a later delivery pass leaves it alone
    let s = Outbox::open(&dir.path().join("state"))
        .unwrap()
        .deliver_due(&heat_agent::config::Settings::default(), None);
    assert_eq!(s, heat_agent::notify::DeliverySummary::default());
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn receiver_down_then_up_gets_the_signal_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens: connection refused
    let cfg = write_config(
        dir.path(),
        &entry(&[("deploy_signal_id", json!(format!("http://{addr}/sig")))]),
    );
    let out = notify(dir.path(), &cfg, "0", br#"{"deploy_status_code": 0}"#);
    // queued for the daemon: not a failure
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = record(dir.path());
    assert_eq!(rec["state"], json!("queued"));
    assert_eq!(rec["attempts"], json!(1));
    assert!(
        rec["last_error"].as_str().unwrap().contains("refused"),
        "{rec}"
    );

    // the receiver comes back on the same port; a new process (the daemon after a restart)
    // picks up the queued signal from disk
    let srv = Server::on(TcpListener::bind(addr).unwrap(), |_| Response::new(200, ""));
    drain(&dir.path().join("state"));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body_json(), json!({"deploy_status_code": 0}));
    assert_eq!(record(dir.path())["state"], json!("delivered"));
    // and nothing more is sent later
    drain(&dir.path().join("state"));
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn heat_native_retries_keystone_and_signal_failures() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(|_| Response::new(500, ""));
    let base = srv.url("");
    let auth_calls = Arc::new(AtomicUsize::new(0));
    let signal_calls = Arc::new(AtomicUsize::new(0));
    let (a, s) = (auth_calls.clone(), signal_calls.clone());
    srv.set_handler(move |r| {
        if r.path() == "/v3/auth/tokens" {
            if a.fetch_add(1, Ordering::SeqCst) == 0 {
                return Response::new(503, "keystone busy");
            }
            let catalog = json!([{"type": "orchestration", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": format!("{base}/heat/v1/p")}]}]);
            return Response::json(201, &json!({"token": {"catalog": catalog}})).header("X-Subject-Token", "tok-abcdef");
        }
        if s.fetch_add(1, Ordering::SeqCst) == 0 {
            return Response::new(504, "");
        }
        Response::json(200, &Value::Null)
    });
    let cfg = write_config(
        dir.path(),
        &entry(&[
            ("deploy_auth_url", json!(srv.url("/v3"))),
            ("deploy_user_id", json!("u")),
            ("deploy_password", json!("pw-very-secret")),
            ("deploy_project_id", json!("p")),
            ("deploy_stack_id", json!("s/1")),
            ("deploy_resource_name", json!("dep")),
        ]),
    );
    let out = notify(dir.path(), &cfg, "30", br#"{"deploy_status_code": 0}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(auth_calls.load(Ordering::SeqCst), 3);
    assert_eq!(signal_calls.load(Ordering::SeqCst), 2);
    let rec = record(dir.path());
    assert_eq!(
        (rec["state"].clone(), rec["attempts"].clone()),
        (json!("delivered"), json!(3))
    );
    assert!(!stderr(&out).contains("pw-very-secret"));
}

/// A Heat-native signal retried while heat-api is down (Keystone up): every attempt used to
/// authenticate, so a fleet riding out a heat-api outage had Keystone issue a token per agent
/// per retry. The token of the first attempt is reused while it is valid.
#[test]
fn heat_native_retries_reuse_the_token() {
    let (dir, srv, auth_calls, signal_calls) = heat_signal_server(|n| match n {
        0 | 1 => Response::new(503, "heat-api down"),
        _ => Response::json(200, &Value::Null),
    });
    let out = notify(
        dir.path(),
        &heat_config(dir.path(), &srv),
        "60",
        br#"{"deploy_status_code": 0}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(signal_calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        auth_calls.load(Ordering::SeqCst),
        1,
        "one token for three attempts"
    );
    assert_eq!(record(dir.path())["state"], json!("delivered"));
}

/// heat-api refusing a reused token (401) costs exactly one fresh authentication and the
/// signal is still delivered in that attempt.
#[test]
fn heat_native_401_on_a_reused_token_authenticates_once_more() {
    let (dir, srv, auth_calls, signal_calls) = heat_signal_server(|n| match n {
        0 => Response::new(503, "heat-api down"),
        1 => Response::new(401, "token revoked"),
        _ => Response::json(200, &Value::Null),
    });
    let out = notify(
        dir.path(),
        &heat_config(dir.path(), &srv),
        "60",
        br#"{"deploy_status_code": 0}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(signal_calls.load(Ordering::SeqCst), 3);
    assert_eq!(auth_calls.load(Ordering::SeqCst), 2);
    let rec = record(dir.path());
    assert_eq!(
        (rec["state"].clone(), rec["attempts"].clone()),
        (json!("delivered"), json!(2))
    );
}

/// A queued signal remembers the origin (scheme, host, port) of the server its last attempt
/// failed at, so the daemon can send it right after a poll reaches that server again: the
/// signed URL's origin; for Heat native, heat-api's (from the catalog) when heat-api failed
/// and Keystone's when Keystone did. Never the path or query, where the secrets are.
#[test]
fn a_queued_signal_records_the_origin_that_failed() {
    let origin = |srv: &Server| srv.url("").trim_end_matches('/').to_string();
    let queued = |dir: &Path, inputs: &[(&str, Value)]| {
        let cfg = write_config(dir, &entry(inputs));
        let out = notify(dir, &cfg, "0", br#"{"deploy_status_code": 0}"#);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let rec = record(dir);
        assert_eq!(rec["state"], json!("queued"), "{rec}");
        rec["retry_origin"].clone()
    };

    let dir = tempfile::tempdir().unwrap();
    let cfn = Server::start(|_| Response::new(503, "heat-api-cfn down"));
    let url = cfn.url("/v1/signal/x?Signature=SeCrEtSiG");
    let got = queued(dir.path(), &[("deploy_signal_id", json!(url))]);
    assert_eq!(got, json!(origin(&cfn)));

    let heat_api = Server::start(|_| Response::new(503, "heat-api down"));
    let endpoint = heat_api.url("/v1/p");
    let keystone_up = Arc::new(AtomicBool::new(true));
    let up = keystone_up.clone();
    let keystone = Server::start(move |_| {
        if !up.load(Ordering::SeqCst) {
            return Response::new(503, "keystone down");
        }
        let catalog = json!([{"type": "orchestration", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": endpoint}]}]);
        Response::json(
            201,
            &json!({"token": {"catalog": catalog, "expires_at": "2099-01-01T00:00:00.000000Z"}}),
        )
        .header("X-Subject-Token", "tok-1")
    });
    let heat_inputs = [
        ("deploy_auth_url", json!(keystone.url("/v3"))),
        ("deploy_user_id", json!("u")),
        ("deploy_password", json!("pw-very-secret")),
        ("deploy_project_id", json!("p")),
        ("deploy_stack_id", json!("s/1")),
        ("deploy_resource_name", json!("dep")),
    ];
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(queued(dir.path(), &heat_inputs), json!(origin(&heat_api)));
    assert_eq!(heat_api.requests().len(), 1);
    keystone_up.store(false, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(queued(dir.path(), &heat_inputs), json!(origin(&keystone)));
}

/// A Keystone + heat-api loopback server: tokens valid for an hour, the n-th signal (0-based)
/// answered by `signal`.
fn heat_signal_server(
    signal: impl Fn(usize) -> Response + Send + Sync + 'static,
) -> (
    tempfile::TempDir,
    Server,
    Arc<AtomicUsize>,
    Arc<AtomicUsize>,
) {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(|_| Response::new(500, ""));
    let base = srv.url("");
    let auth_calls = Arc::new(AtomicUsize::new(0));
    let signal_calls = Arc::new(AtomicUsize::new(0));
    let (a, s) = (auth_calls.clone(), signal_calls.clone());
    srv.set_handler(move |r| {
        if r.path() == "/v3/auth/tokens" {
            let n = a.fetch_add(1, Ordering::SeqCst);
            let catalog = json!([{"type": "orchestration", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": format!("{base}/heat/v1/p")}]}]);
            return Response::json(201, &json!({"token": {"catalog": catalog,
                "expires_at": "2099-01-01T00:00:00.000000Z"}}))
                .header("X-Subject-Token", &format!("tok-{n}"));
        }
        signal(s.fetch_add(1, Ordering::SeqCst))
    });
    (dir, srv, auth_calls, signal_calls)
}

fn heat_config(dir: &Path, srv: &Server) -> PathBuf {
    write_config(
        dir,
        &entry(&[
            ("deploy_auth_url", json!(srv.url("/v3"))),
            ("deploy_user_id", json!("u")),
            ("deploy_password", json!("pw-very-secret")),
            ("deploy_project_id", json!("p")),
            ("deploy_stack_id", json!("s/1")),
            ("deploy_resource_name", json!("dep")),
        ]),
    )
}

#[test]
fn killed_notify_loses_nothing_and_duplicates_at_most_once() {
    let dir = tempfile::tempdir().unwrap();
    let entered = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(AtomicBool::new(false));
    let (e, r) = (entered.clone(), release.clone());
    let srv = Server::start(move |_| {
        // the first request hangs until the test lets it go (after the client is dead)
        if e.fetch_add(1, Ordering::SeqCst) == 0 {
            while !r.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Response::new(200, "")
    });
    let cfg = write_config(
        dir.path(),
        &entry(&[("deploy_signal_id", json!(srv.url("/sig")))]),
    );
    let mut child = notify_cmd(dir.path(), &cfg, "30").spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"deploy_stdout": "done"}"#)
        .unwrap();
    while entered.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL while the request is in flight
    child.wait().unwrap();
    release.store(true, Ordering::SeqCst);
    assert_eq!(record(dir.path())["state"], json!("queued"));

    drain(&dir.path().join("state"));
    let reqs = srv.requests();
    assert!((1..=2).contains(&reqs.len()), "{}", reqs.len());
    for r in &reqs {
        assert_eq!(r.body_json(), json!({"deploy_stdout": "done"}));
    }
    assert_eq!(record(dir.path())["state"], json!("delivered"));
}

#[test]
fn five_megabytes_of_output_are_trimmed_keeping_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(|_| Response::new(200, ""));
    let cfg = write_config(
        dir.path(),
        &entry(&[("deploy_signal_id", json!(srv.url("/sig")))]),
    );
    let stdout = "log line ünïcødé 😀 текст\n".repeat(5 * 1024 * 1024 / 40) + "THE END";
    let stderr_text = "warning ☃\n".repeat(50_000) + "LAST WARNING";
    let signal = json!({"deploy_stdout": stdout, "deploy_stderr": stderr_text, "deploy_status_code": 0, "result": "r"});
    let out = notify(
        dir.path(),
        &cfg,
        "30",
        serde_json::to_string(&signal).unwrap().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    let body = &reqs[0].body;
    assert!(body.len() <= 950_000, "{}", body.len());
    assert!(body.is_ascii(), "ensure_ascii body");
    let sent: Value = serde_json::from_slice(body).unwrap();
    let o = sent["deploy_stdout"].as_str().unwrap();
    let e = sent["deploy_stderr"].as_str().unwrap();
    assert!(o.ends_with("текст\nTHE END") && stdout.ends_with(o) && o.len() < stdout.len());
    assert!(e.ends_with("LAST WARNING") && stderr_text.ends_with(e));
    assert_eq!(sent["deploy_status_code"], json!(0));
    assert_eq!(sent["result"], json!("r"));
}

#[test]
fn oversized_zaqar_message_fits_zaqar_post_limit() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(|_| Response::new(500, ""));
    let base = srv.url("");
    srv.set_handler(move |r| {
        if r.path() == "/v3/auth/tokens" {
            let catalog = json!([{"type": "messaging", "endpoints": [{"interface": "public", "region_id": "R", "url": format!("{base}/zaqar")}]}]);
            return Response::json(201, &json!({"token": {"catalog": catalog}})).header("X-Subject-Token", "tok-abcdef");
        }
        Response::new(201, "")
    });
    let cfg = write_config(
        dir.path(),
        &entry(&[
            ("deploy_auth_url", json!(srv.url("/v3"))),
            ("deploy_user_id", json!("u")),
            ("deploy_password", json!("pw-very-secret")),
            ("deploy_project_id", json!("p")),
            ("deploy_queue_id", json!("q")),
        ]),
    );
    let stdout = "😀 emoji output\n".repeat(200_000) + "TAIL";
    let signal = json!({"deploy_stdout": stdout, "deploy_status_code": 3});
    let out = notify(
        dir.path(),
        &cfg,
        "30",
        serde_json::to_string(&signal).unwrap().as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let post = srv
        .requests()
        .into_iter()
        .find(|r| r.path() == "/zaqar/v2/queues/q/messages")
        .unwrap();
    assert!(post.body.len() <= 262_144, "{}", post.body.len());
    let v = post.body_json();
    let body = &v["messages"][0]["body"];
    assert!(body["deploy_stdout"]
        .as_str()
        .unwrap()
        .ends_with("output\nTAIL"));
    assert_eq!(body["deploy_status_code"], json!(3));
}

#[test]
fn outbox_state_is_visible_to_the_library() {
    // enqueue through the public API the deploy runner uses, then check the record format
    let dir = tempfile::tempdir().unwrap();
    let ob = Outbox::open(dir.path()).unwrap();
    let e = entry(&[
        ("deploy_signal_id", json!("http://127.0.0.1:9/x")),
        ("deploy_action", json!("CREATE")),
    ]);
    ob.enqueue("d-1", &e, &json!({"deploy_status_code": 0}))
        .unwrap();
    let rec = ob.record("d-1").unwrap().unwrap();
    assert_eq!(rec.state, State::Queued);
    assert_eq!(rec.action.as_deref(), Some("CREATE"));
    assert!(ob.next_due().is_some());
}

#[test]
fn stop_flag_defers_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(|_| Response::new(200, ""));
    let ob = Outbox::open(dir.path()).unwrap();
    ob.enqueue(
        "d-1",
        &entry(&[("deploy_signal_id", json!(srv.url("/sig")))]),
        &json!({}),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(true));
    let settings = heat_agent::config::Settings::default();
    let s = ob.deliver_due(&settings, Some(&stop));
    assert_eq!((s.delivered, s.pending, s.failed), (0, 1, 0));
    assert!(srv.requests().is_empty());
    stop.store(false, Ordering::SeqCst);
    let s = ob.deliver_due(&settings, Some(&stop));
    assert_eq!((s.delivered, s.pending, s.failed), (1, 0, 0));
    assert_eq!(srv.requests().len(), 1);
    assert_eq!(ob.next_due(), None);
}

#[test]
fn partial_success_is_not_repeated() {
    // a signal URL and Heat-native inputs together: both are signalled, and a retry of the
    // failing one does not resend the one already acknowledged
    let dir = tempfile::tempdir().unwrap();
    let cfn = Server::start(|_| Response::new(200, ""));
    let keystone = Server::start(scripted(vec![503], 404));
    let ob = Outbox::open(dir.path()).unwrap();
    let e = entry(&[
        ("deploy_signal_id", json!(cfn.url("/sig"))),
        ("deploy_auth_url", json!(keystone.url("/v3"))),
        ("deploy_user_id", json!("u")),
        ("deploy_password", json!("pw-very-secret")),
        ("deploy_project_id", json!("p")),
        ("deploy_stack_id", json!("s/1")),
        ("deploy_resource_name", json!("dep")),
    ]);
    ob.enqueue("d-1", &e, &json!({})).unwrap();
    let rec = ob.record("d-1").unwrap().unwrap();
    assert_eq!(rec.transport, "cfn+heat");
    let settings = heat_agent::config::Settings::default();
    let s = ob.deliver_due(&settings, None);
    assert_eq!((s.delivered, s.pending, s.failed), (0, 1, 0));
    let rec = ob.record("d-1").unwrap().unwrap();
    assert_eq!(rec.delivered_targets, vec![0]);
    assert_eq!(rec.last_status, Some(503));
    // second pass (once due): Keystone now answers 404, which is final
    drain(dir.path());
    let rec = ob.record("d-1").unwrap().unwrap();
    assert_eq!(rec.state, State::Failed);
    assert_eq!(rec.last_status, Some(404));
    assert_eq!(cfn.requests().len(), 1);
    assert_eq!(keystone.requests().len(), 2);
}

#[test]
fn flush_delivers_what_a_previous_process_queued() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cfg = write_config(
        dir.path(),
        &entry(&[("deploy_signal_id", json!(format!("http://{addr}/sig")))]),
    );
    let out = notify(dir.path(), &cfg, "0", br#"{"deploy_status_code": 0}"#);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // still down: --flush reports the undelivered signal
    let flush = |wait: &str| {
        let mut c = Command::new(common::bin());
        c.args(["notify", "--flush"])
            .env("HEAT_AGENT_STATE_DIR", dir.path().join("state"))
            .env("HEAT_AGENT_NOTIFY_BACKOFF", "0.05")
            .env("HEAT_AGENT_NOTIFY_WAIT", wait)
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY");
        c.output().unwrap()
    };
    std::thread::sleep(Duration::from_millis(100)); // let the 0.05 s retry come due
    let out = flush("0");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(record(dir.path())["attempts"], json!(2));

    let srv = Server::on(TcpListener::bind(addr).unwrap(), |_| Response::new(200, ""));
    let out = flush("30");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(srv.requests().len(), 1);
    assert_eq!(record(dir.path())["state"], json!("delivered"));
    let out = flush("0");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(srv.requests().len(), 1);
}

/// A signal carries a credential (the Keystone token header, the signed URL): a redirect to
/// another origin is refused, not followed with it, and the signal is recorded as failed.
/// ureq alone followed it, sending the token to the other server.
#[test]
fn heat_native_signal_does_not_follow_a_cross_origin_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = Server::start(|_| Response::json(200, &Value::Null));
    let target = elsewhere.url("/collect");
    let srv = Server::start(|_| Response::new(500, ""));
    let base = srv.url("");
    srv.set_handler(move |r| {
        if r.path() == "/v3/auth/tokens" {
            let catalog = json!([{"type": "orchestration", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": format!("{base}/heat/v1/p")}]}]);
            return Response::json(201, &json!({"token": {"catalog": catalog}}))
                .header("X-Subject-Token", "tok-must-stay-home");
        }
        Response::new(302, "").header("Location", &target)
    });
    let cfg = write_config(
        dir.path(),
        &entry(&[
            ("deploy_auth_url", json!(srv.url("/v3"))),
            ("deploy_user_id", json!("u")),
            ("deploy_password", json!("pw")),
            ("deploy_project_id", json!("p")),
            ("deploy_stack_id", json!("s")),
            ("deploy_resource_name", json!("dep")),
        ]),
    );
    let out = notify(dir.path(), &cfg, "30", br#"{"deploy_status_code": 0}"#);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        elsewhere.requests().is_empty(),
        "the token went to another origin"
    );
    let rec = record(dir.path());
    assert_eq!(rec["state"], json!("failed"));
    assert!(
        rec["last_error"]
            .as_str()
            .unwrap()
            .contains("redirected to another origin"),
        "{rec}"
    );
}

/// The same for a pre-signed (CFN) URL: the signal is not posted anywhere else.
#[test]
fn signed_url_signal_does_not_follow_a_cross_origin_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = Server::start(|_| Response::json(200, &Value::Null));
    let target = elsewhere.url("/collect");
    let srv = Server::start(move |_| Response::new(307, "").header("Location", &target));
    let url = srv.url("/v1/signal/x?Timestamp=1&Signature=SeCrEtSiG");
    let cfg = write_config(dir.path(), &entry(&[("deploy_signal_id", json!(url))]));
    let out = notify(dir.path(), &cfg, "30", b"{}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(elsewhere.requests().is_empty(), "the signal went elsewhere");
    assert_eq!(srv.requests().len(), 1);
    assert!(!stderr(&out).contains("SeCrEtSiG"));
}
