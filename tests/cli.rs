//! The `car_server` command as a whole process: starting on the simulator,
//! refusing bad configuration, stopping on signals, and the simulator alone
//! serving the official Python SDK.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::process::{self, Running};
use support::python_sdk;

#[tokio::test]
async fn simulate_runs_the_whole_flow_without_a_cloud_account() {
    let mut service = Running::start(&["--simulate"], &[]).await;

    let queued = service
        .post("/Enqueue", json!({"UserId": "u", "ProjectId": "cap-demo"}))
        .await;
    assert_eq!(queued["Code"], 10101, "{queued}");
    let started = service
        .post(
            "/StartProject",
            json!({"UserId": "u", "ProjectId": "cap-demo", "ClientSession": "c"}),
        )
        .await;
    assert_eq!(started["Code"], 0, "{started}");
    assert!(started["SessionDescribe"]["ServerSession"].is_string());
    let stopped = service.post("/StopProject", json!({"UserId": "u"})).await;
    assert_eq!(stopped["Code"], 0, "{stopped}");

    let status = service.terminate().await;
    assert!(status.success(), "{status}: {:#?}", service.seen);
    assert!(
        service
            .seen
            .iter()
            .any(|line| line.contains("SIMULATED CLOUD")),
        "the log must say loudly that the cloud is simulated: {:#?}",
        service.seen
    );
}

#[tokio::test]
async fn a_bad_setting_stops_the_start_with_a_message_naming_it() {
    /// Arguments, environment, and the setting the message must name.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&[], &[], "SECRET_ID"),
        (&[], &[("SECRET_ID", "AKID")], "SECRET_KEY"),
        (
            &["--simulate"],
            &[("ENQUEUE_TIMEOUT", "soon")],
            "ENQUEUE_TIMEOUT",
        ),
        (
            &["--simulate"],
            &[("QUEUE_CHECK_INTERVAL", "0s")],
            "QUEUE_CHECK_INTERVAL",
        ),
        (&["--simulate"], &[("API_SIGN", "Y")], "SALT"),
        (&["--simulate"], &[("API_SIGN", "perhaps")], "API_SIGN"),
        (&["--simulate"], &[("REDIS_QUEUE", "Y")], "REDIS"),
        (&["--simulate"], &[("PORT", "99999")], "PORT"),
        (
            &["--simulate"],
            &[("CAR_ENDPOINT", "ftp://car.example")],
            "CAR_ENDPOINT",
        ),
        (&["--simulate"], &[("LOG_FORMAT", "xml")], "LOG_FORMAT"),
        (
            &["--simulate"],
            &[("TRUST_PROXY", "10.0.0.0/99")],
            "TRUST_PROXY",
        ),
        (
            &["--simulate"],
            &[("SIM_FAULTS", "Nothing:Wrong")],
            "SIM_FAULTS",
        ),
        (&["--simulate"], &[("SIGN_MAX_AGE", "5m")], "SIGN_MAX_AGE"),
        (
            &["--simulate"],
            &[("BODY_LIMIT", "99999999999")],
            "BODY_LIMIT",
        ),
        (&["--simulate"], &[("RUST_LOG", ";;garbage==")], "RUST_LOG"),
    ];
    for (args, env, named) in cases {
        let (status, stderr) = process::run(args, env).await;
        assert!(!status.success(), "{env:?} started anyway");
        assert!(
            stderr.contains(named),
            "{env:?} should name {named}: {stderr}"
        );
    }
}

#[tokio::test]
async fn flags_win_over_the_environment() {
    // The environment's value alone stops the start (see above); the flag's
    // replaces it, so the service starts.
    let mut service = Running::start(
        &["--simulate", "--enqueue-timeout", "5s"],
        &[("ENQUEUE_TIMEOUT", "not-a-duration")],
    )
    .await;
    assert!(service.terminate().await.success());
}

#[tokio::test]
async fn help_lists_every_setting_with_its_variable() {
    let output = process::command(&["--help"], &[]).output().await.unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "SECRET_ID",
        "SECRET_KEY",
        "PORT",
        "BIND",
        "CAR_ENDPOINT",
        "CAR_REGION",
        "CAR_TIMEOUT",
        "API_SIGN",
        "SALT",
        "SIGN_MAX_AGE",
        "REDIS_QUEUE",
        "REDIS",
        "REDIS_PWD",
        "ENQUEUE_TIMEOUT",
        "QUEUE_CHECK_INTERVAL",
        "READY_TTL",
        "QUEUE_STRICT",
        "TRUST_PROXY",
        "CORS_ORIGINS",
        "LOG_FORMAT",
        "SIM_CAPACITY",
    ] {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "--help does not name {variable}"
        );
    }
}

#[tokio::test]
async fn sigterm_lets_a_start_project_waiting_on_the_cloud_finish_then_exits_0() {
    let mut service = Running::start(&["--simulate"], &[("SIM_LATENCY", "1s")]).await;
    let url = service.url("/StartProject");
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"UserId": "u", "ProjectId": "cap-demo", "ClientSession": "c"}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let status = service.terminate().await;

    let reply = in_flight.await.unwrap();
    assert_eq!(reply["Code"], 0, "{reply}");
    assert!(status.success(), "{status}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", service.port))
            .await
            .is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn a_request_cut_off_at_the_request_timeout_is_logged_for_the_operator() {
    let mut service = Running::start(
        &["--simulate"],
        &[("SIM_LATENCY", "2s"), ("REQUEST_TIMEOUT", "500ms")],
    )
    .await;

    let reply = service
        .post(
            "/StartProject",
            json!({"UserId": "slow-1", "ProjectId": "cap-demo", "ClientSession": "c", "RequestId": "r-slow"}),
        )
        .await;
    assert_eq!(reply["Code"], 10002, "{reply}");
    assert!(service.terminate().await.success());

    let warned = service
        .seen
        .iter()
        .find(|line| line.contains("request cut off"))
        .unwrap_or_else(|| panic!("no line about the timeout: {:#?}", service.seen));
    assert!(warned.contains("WARN"), "{warned}");
    assert!(
        warned.contains("r-slow"),
        "not in the request's span: {warned}"
    );
}

#[tokio::test]
async fn sigint_stops_the_service_too() {
    let mut service = Running::start(&["--simulate"], &[]).await;
    service.signal(nix::sys::signal::Signal::SIGINT);
    let status = tokio::time::timeout(Duration::from_secs(20), service.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_python_sdk_is_accepted_by_the_simulator_command() {
    const SECRET_ID: &str = "AKIDsdktest000000000000000000000";
    const SECRET_KEY: &str = "sdk-test-secret-key-000000000000";
    let python = python_sdk::python().await;
    let mut simulator = Running::start(
        &["simulator"],
        &[("SECRET_ID", SECRET_ID), ("SECRET_KEY", SECRET_KEY)],
    )
    .await;

    let results = python_sdk::call(&python, simulator.port, SECRET_ID, SECRET_KEY).await;

    let actions: Vec<&str> = results
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "ApplyConcurrent",
            "CreateSession",
            "DescribeConcurrentCount",
            "DestroySession"
        ],
        "{results:?}"
    );
    for result in &results {
        assert!(result.get("error").is_none(), "{result}");
        assert_eq!(
            result["response"]["RequestId"].as_str().unwrap().len(),
            36,
            "{result}"
        );
    }
    assert!(
        !results[1]["response"]["ServerSession"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(results[2]["response"]["Total"], 2);
    assert_eq!(results[2]["response"]["Running"], 1);

    let refused = python_sdk::call(&python, simulator.port, SECRET_ID, "a-wrong-secret-key").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["error"]["code"], "AuthFailure.SignatureFailure");

    let calls: Value = reqwest::get(simulator.url("/_simulator/calls"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["ApplyConcurrent"]["total"], 1, "{calls}");
    assert!(simulator.terminate().await.success());
}

/// Starts `car_server simulator` and a service using it with known
/// credentials, signing on, and the given log settings; drives a mix of good
/// and hostile requests; returns the service's log lines.
async fn logs_of_a_busy_service(log_format: &str) -> Vec<String> {
    const SECRET_ID: &str = "AKIDlogtest000000000000000000000";
    const SECRET_KEY: &str = "SECRETKEY-must-never-be-logged-0";
    const SALT: &str = "SALT-must-never-be-logged-1";
    let mut simulator = Running::start(
        &["simulator"],
        &[
            ("SECRET_ID", SECRET_ID),
            ("SECRET_KEY", SECRET_KEY),
            ("SIM_CAPACITY", "1"),
            ("LOG_FORMAT", log_format),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let endpoint = format!("http://127.0.0.1:{}", simulator.port);
    let mut service = Running::start(
        &[],
        &[
            ("SECRET_ID", SECRET_ID),
            ("SECRET_KEY", SECRET_KEY),
            ("CAR_ENDPOINT", &endpoint),
            ("API_SIGN", "Y"),
            ("SALT", SALT),
            ("LOG_FORMAT", log_format),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;

    let signed = |fields: Value| {
        let parsed =
            car_server::http::fields::Fields::from_json(fields.to_string().as_bytes()).unwrap();
        let mut fields = fields;
        fields["Sign"] = car_server::http::sign::expected_sign(&parsed, SALT).into();
        fields
    };
    let forged = "u\n2026-12-03T00:00:00.000000Z  INFO car_server: forged line";
    // Spaces and quotes cannot forge fields either: ids are logged quoted,
    // by the service and by the simulator alike.
    let spaced = "x1 project_id=cap-EVIL";
    let quoted_project = r#"cap-spaced" user_id="admin"#;
    for body in [
        signed(json!({"UserId": "log-a", "ProjectId": "cap-log", "RequestId": "r-1"})),
        signed(json!({"UserId": "log-b", "ProjectId": "cap-log"})),
        signed(json!({"UserId": "log-a", "ProjectId": "cap-log", "ClientSession": "c"})),
        signed(json!({"UserId": forged, "ProjectId": "cap-log", "RequestId": forged})),
        json!({"UserId": "log-c", "ProjectId": "cap-log", "Sign": "0".repeat(64)}),
        json!({"UserId": forged, "ProjectId": "cap-log", "Sign": "bad", "RequestId": forged}),
    ] {
        service.post("/Enqueue", body.clone()).await;
        service.post("/StartProject", body).await;
    }
    service
        .post("/StopProject", signed(json!({"UserId": "log-a"})))
        .await;
    // A session for the user with spaces in its id, whose start and stop
    // are logged at info (on a project of its own, with a machine free).
    let started = service
        .post(
            "/StartProject",
            signed(json!({"UserId": spaced, "ProjectId": quoted_project, "ClientSession": "c"})),
        )
        .await;
    assert_eq!(started["Code"], 0, "{started}");
    service
        .post("/StopProject", signed(json!({"UserId": spaced})))
        .await;
    service
        .post("/StopProject", signed(json!({"UserId": "nobody"})))
        .await;

    assert!(service.terminate().await.success());
    assert!(simulator.terminate().await.success());
    for line in simulator.seen.iter().chain(&service.seen) {
        assert!(
            !line.contains(SECRET_KEY),
            "the secret key was logged: {line}"
        );
        assert!(!line.contains(SALT), "the salt was logged: {line}");
    }
    assert!(
        simulator
            .seen
            .iter()
            .any(|line| line.contains("session created")),
        "{:#?}",
        simulator.seen
    );
    simulator
        .seen
        .iter()
        .chain(&service.seen)
        .cloned()
        .collect()
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_never_show_secrets() {
    let lines = logs_of_a_busy_service("json").await;
    assert!(lines.len() > 10, "{lines:#?}");
    for line in &lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(
            parsed["timestamp"].is_string() && parsed["level"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"user admitted\"") || line.contains("session started")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn text_logs_cannot_be_forged_and_never_show_secrets() {
    let lines = logs_of_a_busy_service("text").await;
    let timestamp = regex_lite_timestamp();
    for line in &lines {
        assert!(
            timestamp(line),
            "a line that does not start with a timestamp: {line:?}"
        );
        assert!(
            !line.contains("forged line") || line.contains("\\n"),
            "a forged line: {line:?}"
        );
        assert!(!line.contains("user_id=x1 "), "a forged field: {line:?}");
        assert!(
            !line.contains(r#"user_id="admin"#),
            "a forged field: {line:?}"
        );
    }
}

/// Whether a line starts like `2026-12-03T16:27:20.639649Z`.
fn regex_lite_timestamp() -> impl Fn(&str) -> bool {
    |line: &str| {
        let bytes = line.as_bytes();
        bytes.len() > 20
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[4] == b'-'
            && bytes[10] == b'T'
    }
}

#[tokio::test]
async fn the_healthcheck_command_tells_a_running_service_from_none() {
    let mut service = Running::start(&["--simulate"], &[]).await;
    let port = service.port.to_string();

    let (up, stderr) = process::run(&["healthcheck"], &[("PORT", &port)]).await;
    assert!(up.success(), "{stderr}");

    service.terminate().await;
    let (down, stderr) = process::run(&["healthcheck"], &[("PORT", &port)]).await;
    assert!(!down.success());
    assert!(stderr.contains("/healthz"), "{stderr}");
}
