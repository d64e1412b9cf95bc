//! The operators' endpoints: health, readiness, metrics.

use crate::helpers::TestApp;

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_all_is_well() {
    let app = TestApp::spawn().await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], status, "{path}");
    }
}

#[tokio::test]
async fn metrics_count_requests_cloud_calls_admissions_and_lines() {
    let app = TestApp::spawn_with(|_| {}, |sim| sim.capacity = 1).await;
    assert_eq!(app.enqueue("metrics-a", "cap-metrics").await["Code"], 10101);
    assert_eq!(app.enqueue("metrics-b", "cap-metrics").await["Code"], 10100);
    assert_eq!(app.stop_project("metrics-nobody").await["Code"], 10201);
    // Let a tick report the line's length.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "Prometheus text format"
    );
    let text = response.text().await.unwrap();

    for expected in [
        r#"car_http_requests_total{route="/Enqueue",code="10101"}"#,
        r#"car_http_requests_total{route="/Enqueue",code="10100"}"#,
        r#"car_http_requests_total{route="/StopProject",code="10201"}"#,
        r#"car_http_request_duration_seconds_bucket{route="/Enqueue",le="0.005"}"#,
        r#"car_cloud_calls_total{action="ApplyConcurrent",outcome="OK"}"#,
        r#"car_cloud_calls_total{action="ApplyConcurrent",outcome="ResourceNotFound.NoIdle"}"#,
        r#"car_cloud_calls_total{action="DestroySession",outcome="ResourceNotFound.SessionNotFound"}"#,
        r#"car_cloud_call_duration_seconds_count{action="ApplyConcurrent"}"#,
        r#"car_queue_admissions_total{project="cap-metrics"}"#,
        r#"car_queue_length{project="cap-metrics"} 1"#,
    ] {
        assert!(
            text.contains(expected),
            "/metrics lacks {expected}:\n{text}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
}
