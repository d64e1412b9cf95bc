//! The request signature, with API_SIGN=Y, against the worked cases of the
//! Node original.

use crate::helpers::TestApp;
use car_server::config::SignSettings;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Deserialize)]
struct Vector {
    path: String,
    salt: String,
    params: serde_json::Map<String, Value>,
    sign: String,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("../vectors/request-sign.json")).unwrap()
}

async fn signing_app(salt: &str, max_age: Option<Duration>) -> TestApp {
    let salt = salt.to_owned();
    TestApp::spawn_with(
        move |settings| {
            settings.sign = Some(SignSettings {
                salt: salt.into(),
                max_age,
            })
        },
        |_| {},
    )
    .await
}

/// Sends `params` plus `Sign` as a form (values as text).
fn form(params: &serde_json::Map<String, Value>, sign: &str) -> String {
    let mut encoder = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        encoder.append_pair(name, &text);
    }
    encoder.append_pair("Sign", sign);
    encoder.finish()
}

#[tokio::test]
async fn every_worked_case_passes_the_check_as_json_and_as_a_form() {
    for vector in vectors() {
        let app = signing_app(&vector.salt, None).await;
        let mut body = vector.params.clone();
        body.insert("Sign".into(), vector.sign.clone().into());

        let (_, as_json) = app.post_json(&vector.path, &Value::Object(body)).await;
        let (_, as_form) = app
            .post_raw(
                &vector.path,
                Some("application/x-www-form-urlencoded"),
                form(&vector.params, &vector.sign),
            )
            .await;

        for reply in [as_json, as_form] {
            let code = reply["Code"].as_u64().unwrap();
            assert!(code != 10000 && code != 10001, "{}: {reply}", vector.path);
        }
    }
}

#[tokio::test]
async fn a_tampered_request_is_10000_and_reaches_no_cloud() {
    let vector = vectors().remove(0);
    let app = signing_app(&vector.salt, None).await;
    let mut body = vector.params.clone();
    body.insert("Sign".into(), vector.sign.clone().into());
    body.insert("UserId".into(), "someone-else".into());

    let reply = app.call(&vector.path, Value::Object(body)).await;

    assert_eq!(reply["Code"], 10000, "{reply}");
    assert_eq!(reply["RequestId"], "req123");
    assert!(!app.sim.has_session("someone-else"));
}

#[tokio::test]
async fn an_added_unknown_field_breaks_the_signature() {
    let vector = vectors().remove(1);
    let app = signing_app(&vector.salt, None).await;
    let mut body = vector.params.clone();
    body.insert("Sign".into(), vector.sign.clone().into());
    body.insert("Extra".into(), "x".into());

    assert_eq!(
        app.call(&vector.path, Value::Object(body)).await["Code"],
        10000
    );
}

#[tokio::test]
async fn a_missing_sign_is_10001() {
    let app = signing_app("my-salt", None).await;

    let reply = app
        .call(
            "/Enqueue",
            json!({"UserId": "u", "ProjectId": "cap-1", "RequestId": "r"}),
        )
        .await;

    assert_eq!(reply["Code"], 10001, "{reply}");
    assert!(reply["Msg"].as_str().unwrap().contains("Sign"));
    assert_eq!(reply["RequestId"], "r");
}

#[tokio::test]
async fn with_a_max_age_a_fresh_timestamp_passes_and_a_stale_one_is_10000() {
    let app = signing_app("my-salt", Some(Duration::from_secs(300))).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let sign = |timestamp: u64| {
        let fields = car_server::http::fields::Fields::from_json(
            json!({"UserId": "u", "ProjectId": "cap-1", "Timestamp": timestamp})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        car_server::http::sign::expected_sign(&fields, "my-salt")
    };

    let fresh = app
        .call(
            "/Enqueue",
            json!({"UserId": "u", "ProjectId": "cap-1", "Timestamp": now, "Sign": sign(now)}),
        )
        .await;
    assert_eq!(fresh["Code"], 10101, "{fresh}");

    let then = now - 3600;
    let stale = app
        .call(
            "/Enqueue",
            json!({"UserId": "u", "ProjectId": "cap-1", "Timestamp": then, "Sign": sign(then)}),
        )
        .await;
    assert_eq!(stale["Code"], 10000, "{stale}");
}
