//! StartProject and StopProject against the simulated cloud.

use crate::helpers::TestApp;
use car_server::cloud::protocol::Action;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn start_project_answers_a_server_session_and_echoes_the_request_id() {
    let app = TestApp::spawn().await;

    let reply = app
        .call(
            "/StartProject",
            json!({"UserId": "u-1", "ProjectId": "cap-1", "ClientSession": "cs", "RequestId": "req-7"}),
        )
        .await;

    assert_eq!(reply["Code"], 0, "{reply}");
    assert_eq!(reply["Msg"], "Ok");
    assert_eq!(reply["RequestId"], "req-7");
    let described = &reply["SessionDescribe"];
    assert!(
        !described["ServerSession"].as_str().unwrap().is_empty(),
        "{reply}"
    );
    assert!(
        !described["RequestId"].as_str().unwrap().is_empty(),
        "{reply}"
    );
    assert!(app.sim.has_session("u-1"));
    assert_eq!(app.sim.calls_for(Action::ApplyConcurrent, "u-1"), 1);
    assert_eq!(app.sim.calls_for(Action::CreateSession, "u-1"), 1);
}

#[tokio::test]
async fn start_project_accepts_the_seeds_form_body() {
    let app = TestApp::spawn().await;

    let (status, reply) = app
        .post_raw(
            "/StartProject",
            Some("application/x-www-form-urlencoded"),
            "ClientSession=xxx&RequestId=req123&UserId=userid123&ProjectId=cap-xxx",
        )
        .await;

    assert_eq!(status, 200);
    assert_eq!(reply["Code"], 0, "{reply}");
    assert_eq!(reply["RequestId"], "req123");
    assert!(app.sim.has_session("userid123"));
}

#[tokio::test]
async fn start_project_without_client_session_is_10001_and_calls_no_cloud() {
    let app = TestApp::spawn().await;

    let reply = app
        .call(
            "/StartProject",
            json!({"UserId": "u-1", "ProjectId": "cap-1", "RequestId": "r"}),
        )
        .await;

    assert_eq!(reply["Code"], 10001, "{reply}");
    assert!(
        reply["Msg"].as_str().unwrap().contains("ClientSession"),
        "{reply}"
    );
    assert_eq!(reply["RequestId"], "r");
    assert_eq!(app.sim.calls(Action::ApplyConcurrent), 0);
}

#[tokio::test]
async fn run_without_client_needs_no_client_session_and_reaches_the_cloud() {
    let app = TestApp::spawn().await;

    let reply = app
        .call(
            "/StartProject",
            json!({"UserId": "u-1", "ProjectId": "cap-1", "RunMode": "RunWithoutClient"}),
        )
        .await;

    // The simulator, like the cloud, refuses an empty ClientSession unless
    // RunMode=RunWithoutClient arrived with it.
    assert_eq!(reply["Code"], 0, "{reply}");
    assert!(app.sim.has_session("u-1"));
}

#[tokio::test]
async fn a_full_project_answers_10202_with_the_clouds_error() {
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 1).await;
    assert_eq!(app.start_project("first", "cap-1").await["Code"], 0);

    let reply = app.start_project("second", "cap-1").await;

    assert_eq!(reply["Code"], 10202, "{reply}");
    assert_eq!(reply["Error"]["Code"], "ResourceNotFound.NoIdle");
    assert!(!reply["Error"]["RequestId"].as_str().unwrap().is_empty());
    assert_eq!(app.sim.calls_for(Action::CreateSession, "second"), 0);
}

#[tokio::test]
async fn a_failed_create_session_answers_10200_with_the_clouds_error() {
    let app = TestApp::spawn().await;
    app.sim
        .fail_next(Action::CreateSession, "InvalidParameterValue", 1);

    let reply = app.start_project("u-1", "cap-1").await;

    assert_eq!(reply["Code"], 10200, "{reply}");
    assert_eq!(reply["Error"]["Code"], "InvalidParameterValue");
    assert!(!app.sim.has_session("u-1"));
}

#[tokio::test]
async fn a_create_session_refused_for_good_gives_the_machine_back() {
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 1).await;
    app.sim
        .fail_next(Action::CreateSession, "InvalidParameterValue", 1);

    assert_eq!(app.start_project("u-1", "cap-1").await["Code"], 10200);

    // Without the give-back, u-1's reservation keeps the only machine until
    // it lapses, and u-2 gets 10202 NoIdle.
    let reply = app.start_project("u-2", "cap-1").await;
    assert_eq!(reply["Code"], 0, "{reply}");
    assert!(app.sim.has_session("u-2"));
    app.stop().await;
}

#[tokio::test]
async fn stop_project_frees_the_machine() {
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 1).await;
    assert_eq!(app.start_project("u-1", "cap-1").await["Code"], 0);

    let reply = app
        .call(
            "/StopProject",
            json!({"UserId": "u-1", "RequestId": "stop-1"}),
        )
        .await;

    assert_eq!(reply["Code"], 0, "{reply}");
    assert_eq!(reply["RequestId"], "stop-1");
    assert!(!app.sim.has_session("u-1"));
    assert_eq!(app.start_project("u-2", "cap-1").await["Code"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_stop_answers_10201_and_the_service_keeps_serving() {
    // The Node original crashed the whole process on this path.
    let app = TestApp::spawn().await;

    let reply = app.stop_project("never-started").await;
    assert_eq!(reply["Code"], 10201, "{reply}");
    assert_eq!(reply["Error"]["Code"], "ResourceNotFound.SessionNotFound");

    app.sim
        .fail_next(Action::DestroySession, "InternalError", 10);
    assert_eq!(app.stop_project("never-started").await["Code"], 10201);

    assert_eq!(app.start_project("u-1", "cap-1").await["Code"], 0);
}

#[tokio::test]
async fn a_transient_cloud_error_is_retried_within_the_deadline() {
    let app = TestApp::spawn().await;
    app.sim
        .fail_next(Action::ApplyConcurrent, "InternalError", 2);

    let reply = app.start_project("u-1", "cap-1").await;

    assert_eq!(reply["Code"], 0, "{reply}");
    assert_eq!(app.sim.calls_for(Action::ApplyConcurrent, "u-1"), 3);
}

#[tokio::test]
async fn a_permanent_cloud_error_is_not_retried() {
    let app = TestApp::spawn().await;
    app.sim
        .fail_next(Action::ApplyConcurrent, "OperationDenied", 1);

    let reply = app.start_project("u-1", "cap-1").await;

    assert_eq!(reply["Code"], 10202, "{reply}");
    assert_eq!(reply["Error"]["Code"], "OperationDenied");
    assert_eq!(app.sim.calls_for(Action::ApplyConcurrent, "u-1"), 1);
}

#[tokio::test]
async fn a_cloud_slower_than_the_deadline_answers_within_it() {
    let app = TestApp::spawn_with(
        |settings| settings.car_timeout = Some(Duration::from_millis(300)),
        |_| {},
    )
    .await;
    app.sim
        .set_latency(Some(Action::ApplyConcurrent), Duration::from_secs(3));

    let started = Instant::now();
    let reply = app.start_project("u-1", "cap-1").await;

    assert_eq!(reply["Code"], 10202, "{reply}");
    assert!(
        reply["Msg"].as_str().unwrap().contains("in time"),
        "{reply}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_by_the_cloud_as_a_permanent_error() {
    let app = TestApp::spawn_with(
        |settings| {
            if let car_server::config::CloudTarget::Cloud { credentials, .. } = &mut settings.cloud
            {
                *credentials = car_server::cloud::tc3::Credentials::new(
                    credentials.secret_id.clone(),
                    "a-wrong-secret-key",
                );
            }
        },
        |_| {},
    )
    .await;

    let reply = app.start_project("u-1", "cap-1").await;

    assert_eq!(reply["Code"], 10202, "{reply}");
    assert_eq!(reply["Error"]["Code"], "AuthFailure.SignatureFailure");
}
