//! The `car_server` command as a whole process: starting on the simulator,
//! refusing bad configuration, stopping on signals, and the simulator alone
//! serving the official Python SDK.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::process::{self, Running};
use support::python_sdk;

async fn post(running: &Running, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(running.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn simulate_runs_the_whole_flow_without_a_cloud_account() {
    let mut service = Running::start(&["--simulate"], &[]).await;

    let queued = post(
        &service,
        "/Enqueue",
        json!({"UserId": "u", "ProjectId": "cap-demo"}),
    )
    .await;
    assert_eq!(queued["Code"], 10101, "{queued}");
    let started = post(
        &service,
        "/StartProject",
        json!({"UserId": "u", "ProjectId": "cap-demo", "ClientSession": "c"}),
    )
    .await;
    assert_eq!(started["Code"], 0, "{started}");
    assert!(started["SessionDescribe"]["ServerSession"].is_string());
    let stopped = post(&service, "/StopProject", json!({"UserId": "u"})).await;
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
