//! Black-box tests of the CAR cloud simulator: it is started on a loopback
//! port and spoken to over real HTTP, signed as a cloud client signs. (The
//! official Python SDK's calls are in `tests/cli.rs`, against the
//! `car_server simulator` command.)

use car_server::cloud::protocol::{Action, codes};
use car_server::cloud::tc3::{self, Credentials, Scope};
use car_server::simulator::{RunningSimulator, Simulator, SimulatorSettings};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET_ID: &str = "AKIDsimulatortest0000000000000000";
const SECRET_KEY: &str = "simulator-test-secret-key-000000";

fn settings() -> SimulatorSettings {
    SimulatorSettings::new(Credentials::new(SECRET_ID, SECRET_KEY))
}

async fn start(settings: SimulatorSettings) -> RunningSimulator {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Simulator::new(settings).start(loopback).await.unwrap()
}

fn now() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_secs()).unwrap()
}

/// A request to the cloud endpoint, signed by default as this service's
/// client signs it; each field can be spoiled to test one check.
struct CloudCall {
    action: String,
    version: String,
    body: String,
    timestamp: i64,
    credentials: Credentials,
    /// What is signed as the host; reqwest sends `127.0.0.1:<port>`.
    signed_host: Option<String>,
    authorization: Option<String>,
}

impl CloudCall {
    fn new(action: Action, body: Value) -> Self {
        Self {
            action: action.name().to_owned(),
            version: "2022-01-10".to_owned(),
            body: body.to_string(),
            timestamp: now(),
            credentials: Credentials::new(SECRET_ID, SECRET_KEY),
            signed_host: None,
            authorization: None,
        }
    }

    async fn send(self, simulator: &RunningSimulator) -> Value {
        let host = format!("127.0.0.1:{}", simulator.addr.port());
        let authorization = self.authorization.unwrap_or_else(|| {
            let scope = Scope {
                service: "car",
                timestamp: self.timestamp,
            };
            let signed_host = self.signed_host.as_deref().unwrap_or(&host);
            tc3::authorization(
                &self.credentials,
                scope,
                "application/json",
                signed_host,
                self.body.as_bytes(),
            )
        });
        let request = client()
            .post(format!("{}/", simulator.endpoint()))
            .header("Content-Type", "application/json")
            .header("X-TC-Action", self.action)
            .header("X-TC-Version", self.version)
            .header("X-TC-Timestamp", self.timestamp.to_string())
            .header("X-TC-Region", "ap-guangzhou")
            .header("Authorization", authorization)
            .body(self.body);
        envelope(request.send().await.unwrap()).await
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .build()
        .unwrap()
}

/// The `Response` object of a reply, after checking what every reply of the
/// cloud shares: HTTP 200, exactly `application/json`, a request id.
async fn envelope(reply: reqwest::Response) -> Value {
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"],
        "application/json",
        "the Python SDK reads errors only under exactly this content type"
    );
    let body: Value = reply.json().await.unwrap();
    let response = body["Response"].clone();
    let request_id = response["RequestId"].as_str().unwrap_or_default();
    assert_eq!(request_id.len(), 36, "{body}");
    response
}

/// The error code of a reply, or `"none"` for a success.
fn code(response: &Value) -> &str {
    response["Error"]["Code"].as_str().unwrap_or("none")
}

async fn call(simulator: &RunningSimulator, action: Action, body: Value) -> Value {
    CloudCall::new(action, body).send(simulator).await
}

fn apply_body(user_id: &str, project_id: &str) -> Value {
    json!({"UserId": user_id, "UserIp": "203.0.113.7", "ProjectId": project_id})
}

fn create_body(user_id: &str) -> Value {
    json!({"UserId": user_id, "UserIp": "203.0.113.7", "ClientSession": "eyJjIjoxfQ=="})
}

async fn apply(simulator: &RunningSimulator, user_id: &str, project_id: &str) -> Value {
    call(
        simulator,
        Action::ApplyConcurrent,
        apply_body(user_id, project_id),
    )
    .await
}

async fn create(simulator: &RunningSimulator, user_id: &str) -> Value {
    call(simulator, Action::CreateSession, create_body(user_id)).await
}

async fn destroy(simulator: &RunningSimulator, user_id: &str) -> Value {
    call(
        simulator,
        Action::DestroySession,
        json!({"UserId": user_id}),
    )
    .await
}

async fn describe(simulator: &RunningSimulator, project_id: &str) -> Value {
    let body = json!({"ProjectId": project_id});
    call(simulator, Action::DescribeConcurrentCount, body).await
}

#[tokio::test]
async fn a_user_reserves_starts_and_stops_a_session() {
    let simulator = start(settings()).await;

    let applied = apply(&simulator, "u1", "cap-1").await;
    assert_eq!(code(&applied), "none", "{applied}");
    assert_eq!(simulator.simulator.in_use("cap-1"), 1);
    assert!(!simulator.simulator.has_session("u1"));

    let created = create(&simulator, "u1").await;
    let server_session = created["ServerSession"].as_str().unwrap();
    assert!(server_session.len() >= 32, "{created}");
    assert_ne!(created["RequestId"], applied["RequestId"]);
    assert!(simulator.simulator.has_session("u1"));

    let count = describe(&simulator, "cap-1").await;
    assert_eq!(
        (count["Total"].as_u64(), count["Running"].as_u64()),
        (Some(2), Some(1))
    );

    let destroyed = destroy(&simulator, "u1").await;
    assert_eq!(code(&destroyed), "none", "{destroyed}");
    assert!(!simulator.simulator.has_session("u1"));
    let count = describe(&simulator, "cap-1").await;
    assert_eq!(count["Running"], 0);

    // DescribeConcurrentCount was asked twice, every other action once.
    let calls = Action::ALL.map(|action| simulator.simulator.calls(action));
    assert_eq!(calls, [1, 1, 1, 2]);
    assert_eq!(
        simulator.simulator.calls_for(Action::CreateSession, "u1"),
        1
    );
    assert_eq!(
        simulator.simulator.calls_for(Action::CreateSession, "u2"),
        0
    );
    simulator.stop().await;
}

#[tokio::test]
async fn a_signature_made_with_the_wrong_key_fails() {
    let simulator = start(settings()).await;
    let mut call = CloudCall::new(Action::ApplyConcurrent, apply_body("u1", "p"));
    call.credentials = Credentials::new(SECRET_ID, "not-the-secret-key");

    assert_eq!(code(&call.send(&simulator).await), codes::SIGNATURE_FAILURE);
    assert_eq!(simulator.simulator.calls(Action::ApplyConcurrent), 0);
    assert_eq!(simulator.simulator.in_use("p"), 0);
}

#[tokio::test]
async fn a_signature_over_another_host_or_body_fails() {
    let simulator = start(settings()).await;

    let mut without_port = CloudCall::new(Action::ApplyConcurrent, apply_body("u1", "p"));
    without_port.signed_host = Some("127.0.0.1".to_owned());
    assert_eq!(
        code(&without_port.send(&simulator).await),
        codes::SIGNATURE_FAILURE
    );

    let mut tampered = CloudCall::new(Action::ApplyConcurrent, apply_body("u1", "p"));
    let signed = tc3::authorization(
        &tampered.credentials,
        Scope {
            service: "car",
            timestamp: tampered.timestamp,
        },
        "application/json",
        &format!("127.0.0.1:{}", simulator.addr.port()),
        tampered.body.as_bytes(),
    );
    tampered.authorization = Some(signed);
    tampered.body = apply_body("u2", "p").to_string();
    assert_eq!(
        code(&tampered.send(&simulator).await),
        codes::SIGNATURE_FAILURE
    );
}

#[tokio::test]
async fn another_accounts_secret_id_is_not_found() {
    let simulator = start(settings()).await;
    let mut call = CloudCall::new(Action::ApplyConcurrent, apply_body("u1", "p"));
    call.credentials = Credentials::new("AKIDsomeoneelse", SECRET_KEY);
    assert_eq!(
        code(&call.send(&simulator).await),
        codes::SECRET_ID_NOT_FOUND
    );
}

#[tokio::test]
async fn a_missing_or_garbled_authorization_is_invalid() {
    let simulator = start(settings()).await;
    let host = format!("127.0.0.1:{}", simulator.addr.port());

    let reply = client()
        .post(simulator.endpoint())
        .header("Content-Type", "application/json")
        .header("X-TC-Action", "DestroySession")
        .header("X-TC-Version", "2022-01-10")
        .header("X-TC-Timestamp", now().to_string())
        .header("Host", &host)
        .body(r#"{"UserId":"u1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(code(&envelope(reply).await), codes::INVALID_AUTHORIZATION);

    let mut garbled = CloudCall::new(Action::DestroySession, json!({"UserId": "u1"}));
    garbled.authorization = Some("TC3-HMAC-SHA256 Signature=abc".to_owned());
    assert_eq!(
        code(&garbled.send(&simulator).await),
        codes::INVALID_AUTHORIZATION
    );
}

#[tokio::test]
async fn a_timestamp_more_than_five_minutes_off_has_expired() {
    let simulator = start(settings()).await;
    for timestamp in [now() - 600, now() + 600] {
        let mut call = CloudCall::new(Action::DescribeConcurrentCount, json!({"ProjectId": "p"}));
        call.timestamp = timestamp;
        assert_eq!(code(&call.send(&simulator).await), codes::SIGNATURE_EXPIRE);
    }

    let mut recent = CloudCall::new(Action::DescribeConcurrentCount, json!({"ProjectId": "p"}));
    recent.timestamp = now() - 200;
    assert_eq!(code(&recent.send(&simulator).await), "none");
}

#[tokio::test]
async fn another_api_version_does_not_exist() {
    let simulator = start(settings()).await;
    let mut call = CloudCall::new(Action::DescribeConcurrentCount, json!({"ProjectId": "p"}));
    call.version = "2017-03-12".to_owned();
    assert_eq!(code(&call.send(&simulator).await), codes::NO_SUCH_VERSION);
}

#[tokio::test]
async fn an_unknown_action_is_invalid() {
    let simulator = start(settings()).await;
    let mut call = CloudCall::new(Action::DescribeConcurrentCount, json!({"ProjectId": "p"}));
    call.action = "StartPublishStream".to_owned();
    assert_eq!(code(&call.send(&simulator).await), codes::INVALID_ACTION);
}

#[tokio::test]
async fn a_bad_body_gets_the_code_of_its_mistake() {
    let simulator = start(settings()).await;
    let cases = [
        (
            json!({"UserIp": "203.0.113.7", "ProjectId": "p"}),
            codes::MISSING_PARAMETER,
        ),
        (
            json!({"UserId": 42, "UserIp": "203.0.113.7", "ProjectId": "p"}),
            codes::INVALID_PARAMETER,
        ),
        (
            json!({"UserId": "", "UserIp": "203.0.113.7", "ProjectId": "p"}),
            codes::INVALID_PARAMETER_VALUE,
        ),
        (
            json!({"UserId": "u1", "UserIp": "localhost", "ProjectId": "p"}),
            codes::INVALID_PARAMETER_VALUE,
        ),
        (json!(["UserId"]), codes::INVALID_PARAMETER),
    ];
    for (body, expected) in cases {
        let response = call(&simulator, Action::ApplyConcurrent, body.clone()).await;
        assert_eq!(code(&response), expected, "{body}");
    }
    assert_eq!(simulator.simulator.in_use("p"), 0);

    let mut not_json = CloudCall::new(Action::ApplyConcurrent, json!({}));
    not_json.body = "UserId=u1".to_owned();
    assert_eq!(
        code(&not_json.send(&simulator).await),
        codes::INVALID_PARAMETER
    );

    let mut extra = apply_body("u1", "p");
    extra["Unknown"] = json!({"nested": true});
    assert_eq!(
        code(&call(&simulator, Action::ApplyConcurrent, extra).await),
        "none"
    );
}

#[tokio::test]
async fn a_full_project_answers_no_idle() {
    let simulator = start(settings()).await;
    assert_eq!(code(&apply(&simulator, "u1", "p").await), "none");
    assert_eq!(code(&apply(&simulator, "u2", "p").await), "none");
    assert_eq!(code(&apply(&simulator, "u3", "p").await), codes::NO_IDLE);

    // Applying again is idempotent and takes no second machine.
    assert_eq!(code(&apply(&simulator, "u1", "p").await), "none");
    assert_eq!(simulator.simulator.in_use("p"), 2);

    assert_eq!(code(&destroy(&simulator, "u2").await), "none");
    assert_eq!(code(&apply(&simulator, "u3", "p").await), "none");
}

#[tokio::test]
async fn create_session_without_a_reservation_is_a_lock_timeout() {
    let simulator = start(settings()).await;
    assert_eq!(code(&create(&simulator, "u1").await), codes::LOCK_TIMEOUT);
    assert!(!simulator.simulator.has_session("u1"));
}

#[tokio::test]
async fn a_reservation_lapses_when_no_session_follows() {
    let mut settings = settings();
    settings.reservation_ttl = Duration::from_millis(300);
    let simulator = start(settings).await;

    assert_eq!(code(&apply(&simulator, "u1", "p").await), "none");
    assert_eq!(simulator.simulator.in_use("p"), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(simulator.simulator.in_use("p"), 0);
    assert_eq!(code(&create(&simulator, "u1").await), codes::LOCK_TIMEOUT);
}

#[tokio::test]
async fn destroying_an_unknown_users_session_is_not_found() {
    let simulator = start(settings()).await;
    assert_eq!(
        code(&destroy(&simulator, "nobody").await),
        codes::SESSION_NOT_FOUND
    );
}

/// Signs with `content-type;host;x-tc-action`, as some official SDKs do.
fn sign_with_action(call: &CloudCall, host: &str) -> String {
    let headers = [
        ("content-type", "application/json"),
        ("host", host),
        ("x-tc-action", call.action.as_str()),
    ];
    let scope = Scope {
        service: "car",
        timestamp: call.timestamp,
    };
    let signature = tc3::signature(SECRET_KEY, scope, &headers, call.body.as_bytes());
    format!(
        "TC3-HMAC-SHA256 Credential={SECRET_ID}/{}/car/tc3_request, \
         SignedHeaders=content-type;host;x-tc-action, Signature={signature}",
        tc3::utc_date(call.timestamp)
    )
}

#[tokio::test]
async fn a_request_that_also_signs_the_action_header_is_accepted() {
    let simulator = start(settings()).await;
    let host = format!("127.0.0.1:{}", simulator.addr.port());

    let mut call = CloudCall::new(Action::ApplyConcurrent, apply_body("u1", "p"));
    call.authorization = Some(sign_with_action(&call, &host));
    assert_eq!(code(&call.send(&simulator).await), "none");

    // The action is covered: the same signature under another action fails.
    let mut moved = CloudCall::new(Action::DestroySession, json!({"UserId": "u1"}));
    let original = CloudCall::new(Action::ApplyConcurrent, json!({"UserId": "u1"}));
    moved.timestamp = original.timestamp;
    moved.authorization = Some(sign_with_action(&original, &host));
    assert_eq!(
        code(&moved.send(&simulator).await),
        codes::SIGNATURE_FAILURE
    );
    assert_eq!(
        simulator.simulator.in_use("p"),
        1,
        "the destroy did not happen"
    );
}

#[tokio::test]
async fn anything_but_post_to_the_root_answers_json() {
    let simulator = start(settings()).await;
    let endpoint = simulator.endpoint();

    let hint = envelope(client().get(&endpoint).send().await.unwrap()).await;
    assert_eq!(code(&hint), codes::UNSUPPORTED_PROTOCOL);
    assert!(
        hint["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("POST /")
    );

    let elsewhere = envelope(
        client()
            .post(format!("{endpoint}/v2/x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code(&elsewhere), codes::UNSUPPORTED_PROTOCOL);

    let huge = "x".repeat(2 * 1024 * 1024);
    let oversized = envelope(client().post(&endpoint).body(huge).send().await.unwrap()).await;
    assert_eq!(code(&oversized), codes::REQUEST_SIZE_LIMIT_EXCEEDED);
}

#[tokio::test]
async fn scripted_faults_answer_the_next_calls_then_stop() {
    let simulator = start(settings()).await;
    simulator
        .simulator
        .fail_next(Action::ApplyConcurrent, codes::INTERNAL_ERROR, 2);

    assert_eq!(
        code(&apply(&simulator, "u1", "p").await),
        codes::INTERNAL_ERROR
    );
    assert_eq!(
        code(&apply(&simulator, "u1", "p").await),
        codes::INTERNAL_ERROR
    );
    assert_eq!(
        simulator.simulator.in_use("p"),
        0,
        "a faulted call changes nothing"
    );
    assert_eq!(code(&apply(&simulator, "u1", "p").await), "none");
    assert_eq!(
        simulator.simulator.calls_for(Action::ApplyConcurrent, "u1"),
        3
    );
}

#[tokio::test]
async fn added_latency_delays_the_answer() {
    let simulator = start(settings()).await;
    simulator
        .simulator
        .set_latency(Some(Action::CreateSession), Duration::from_millis(400));

    let started = Instant::now();
    describe(&simulator, "p").await;
    assert!(started.elapsed() < Duration::from_millis(300));

    let started = Instant::now();
    create(&simulator, "u1").await;
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn capacity_can_change_at_run_time() {
    let simulator = start(settings()).await;
    simulator.simulator.set_capacity(1);
    assert_eq!(code(&apply(&simulator, "u1", "p").await), "none");
    assert_eq!(code(&apply(&simulator, "u2", "p").await), codes::NO_IDLE);
    assert_eq!(describe(&simulator, "p").await["Total"], 1);
}

/// Sends a control request and returns its status and JSON body.
async fn control(
    simulator: &RunningSimulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client().request(method, format!("{}{path}", simulator.endpoint()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

#[tokio::test]
async fn the_control_api_turns_the_same_knobs() {
    use reqwest::Method;
    let simulator = start(settings()).await;

    let (status, index) = control(&simulator, Method::GET, "/_simulator/", None).await;
    assert_eq!(status, 200);
    assert!(index["control"].is_object());

    let (status, state) = control(
        &simulator,
        Method::PUT,
        "/_simulator/capacity",
        Some(json!({"capacity": 1})),
    )
    .await;
    assert_eq!((status, state["capacity"].clone()), (200, json!(1)));
    assert_eq!(code(&apply(&simulator, "u1", "p").await), "none");
    assert_eq!(code(&apply(&simulator, "u2", "p").await), codes::NO_IDLE);
    assert_eq!(code(&create(&simulator, "u1").await), "none");

    let (_, state) = control(&simulator, Method::GET, "/_simulator/state", None).await;
    assert_eq!(
        state["projects"]["p"],
        json!({"total": 1, "running": 1, "reserved_users": [], "session_users": ["u1"]})
    );

    let (_, calls) = control(&simulator, Method::GET, "/_simulator/calls", None).await;
    assert_eq!(calls["ApplyConcurrent"]["total"], 2);
    assert_eq!(calls["ApplyConcurrent"]["by_user"]["u2"], 1);

    let fault = json!({"action": "DestroySession", "code": "InternalError", "times": 1});
    let (status, _) = control(
        &simulator,
        Method::POST,
        "/_simulator/faults/next",
        Some(fault),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        code(&destroy(&simulator, "u1").await),
        codes::INTERNAL_ERROR
    );
    assert_eq!(code(&destroy(&simulator, "u1").await), "none");

    let rules = json!({"rules": "DescribeConcurrentCount:ResourceUnavailable.Timeout:1"});
    let (status, state) = control(
        &simulator,
        Method::PUT,
        "/_simulator/faults/rules",
        Some(rules),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        state["fault_rules"],
        json!(["DescribeConcurrentCount:ResourceUnavailable.Timeout:1"])
    );
    assert_eq!(
        code(&describe(&simulator, "p").await),
        "ResourceUnavailable.Timeout"
    );
    control(&simulator, Method::DELETE, "/_simulator/faults", None).await;
    assert_eq!(code(&describe(&simulator, "p").await), "none");

    let latency = json!({"action": "DescribeConcurrentCount", "ms": 300});
    let (status, state) = control(
        &simulator,
        Method::PUT,
        "/_simulator/latency",
        Some(latency),
    )
    .await;
    assert_eq!(
        (
            status,
            state["latency"]["per_action_ms"]["DescribeConcurrentCount"].clone()
        ),
        (200, json!(300))
    );
    let started = Instant::now();
    describe(&simulator, "p").await;
    assert!(started.elapsed() >= Duration::from_millis(300));

    assert_eq!(code(&apply(&simulator, "u3", "p").await), "none");
    let (status, state) = control(&simulator, Method::POST, "/_simulator/reset", None).await;
    assert_eq!((status, state["projects"].clone()), (200, json!({})));
    assert_eq!(simulator.simulator.calls(Action::ApplyConcurrent), 0);
}

#[tokio::test]
async fn control_api_mistakes_get_json_errors() {
    use reqwest::Method;
    let simulator = start(settings()).await;
    let cases = [
        (
            Method::PUT,
            "/_simulator/capacity",
            Some(json!({"capacity": -1})),
            400,
        ),
        (
            Method::PUT,
            "/_simulator/capacity",
            Some(json!({"capcity": 3})),
            400,
        ),
        (
            Method::PUT,
            "/_simulator/latency",
            Some(json!({"action": "Nope", "ms": 1})),
            400,
        ),
        (
            Method::PUT,
            "/_simulator/faults/rules",
            Some(json!({"rules": "CreateSession:X:2"})),
            400,
        ),
        (
            Method::POST,
            "/_simulator/faults/next",
            Some(json!({"action": "CreateSession", "code": ""})),
            400,
        ),
        (Method::GET, "/_simulator/capacity", None, 405),
        (Method::GET, "/_simulator/nothing", None, 404),
    ];
    for (method, path, body, expected) in cases {
        let (status, reply) = control(&simulator, method.clone(), path, body).await;
        assert_eq!(status, expected, "{method} {path}: {reply}");
        assert!(reply["error"].is_string(), "{method} {path}: {reply}");
    }
}

#[tokio::test]
async fn a_stopped_simulator_no_longer_answers() {
    let simulator = start(settings()).await;
    let endpoint = simulator.endpoint();
    assert_eq!(code(&describe(&simulator, "p").await), "none");
    simulator.stop().await;
    assert!(client().get(endpoint).send().await.is_err());
}
