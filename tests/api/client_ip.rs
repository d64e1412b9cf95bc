//! UserIp: the peer's address, or what a trusted proxy forwards.

use crate::helpers::TestApp;
use car_server::cloud::protocol::Action;
use car_server::config::parse_cidrs;
use serde_json::json;

async fn user_ip_seen_by_the_cloud(app: &TestApp, headers: &[(&str, &str)], user: &str) -> String {
    let mut request = app
        .client
        .post(app.url("/StartProject"))
        .json(&json!({"UserId": user, "ProjectId": "cap-1", "ClientSession": "c"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["Code"], 0, "{reply}");
    let sent = app
        .sim
        .last_request(Action::ApplyConcurrent, user)
        .expect("the cloud saw the call");
    sent["UserIp"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_trusted_proxys_forwarded_address_is_the_user_ip() {
    // The test client connects over loopback, which is trusted by default.
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 10).await;

    let forwarded = [("X-Forwarded-For", "203.0.113.7, 10.0.0.1")];
    assert_eq!(
        user_ip_seen_by_the_cloud(&app, &forwarded, "a").await,
        "203.0.113.7"
    );

    let real_ip = [("X-Real-IP", "198.51.100.9")];
    assert_eq!(
        user_ip_seen_by_the_cloud(&app, &real_ip, "b").await,
        "198.51.100.9"
    );

    let garbage = [("X-Forwarded-For", "not-an-address")];
    assert_eq!(
        user_ip_seen_by_the_cloud(&app, &garbage, "c").await,
        "127.0.0.1"
    );

    let mapped = [("X-Forwarded-For", "::ffff:203.0.113.8")];
    assert_eq!(
        user_ip_seen_by_the_cloud(&app, &mapped, "d").await,
        "203.0.113.8"
    );
}

#[tokio::test]
async fn an_untrusted_peers_forwarding_headers_are_ignored() {
    let app = TestApp::spawn_with(
        |settings| settings.http.trust_proxy = parse_cidrs("none").unwrap(),
        |_| {},
    )
    .await;

    let forged = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Real-IP", "198.51.100.9"),
    ];
    assert_eq!(
        user_ip_seen_by_the_cloud(&app, &forged, "a").await,
        "127.0.0.1"
    );
}
