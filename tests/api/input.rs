//! Bad input: every malformed request gets a JSON reply with a Code, never an
//! HTML page or a crash, and the service keeps serving.

use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_get_10001_in_json() {
    let app = TestApp::spawn().await;
    let deep = format!(
        "{{\"UserId\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let many_fields: Vec<String> = (0..5000).map(|n| format!("f{n}=x")).collect();
    let cases: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("application/json"), b"{not json".to_vec()),
        (Some("application/json"), b"[1,2,3]".to_vec()),
        (Some("application/json"), b"".to_vec()),
        (None, b"".to_vec()),
        (
            Some("application/json"),
            br#"{"UserId":null,"ProjectId":"cap-1"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"UserId":{"a":1},"ProjectId":"cap-1"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"UserId":42,"ProjectId":"cap-1"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"UserId":"a","UserId":"b","ProjectId":"c"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"UserId":"u","ProjectId":"c","N":1e999}"#.to_vec(),
        ),
        (
            Some("application/json"),
            b"{\"UserId\":\"\xff\xfe\",\"ProjectId\":\"c\"}".to_vec(),
        ),
        (Some("application/json"), deep.into_bytes()),
        (
            Some("application/x-www-form-urlencoded"),
            b"UserId=%ff&ProjectId=c".to_vec(),
        ),
        (
            Some("application/x-www-form-urlencoded"),
            many_fields.join("&").into_bytes(),
        ),
        (Some("multipart/form-data; boundary=x"), b"--x--".to_vec()),
        (
            Some("application/json"),
            br#"{"UserId":"a\nb","ProjectId":"cap-1"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            format!(r#"{{"UserId":"{}","ProjectId":"c"}}"#, "x".repeat(129)).into_bytes(),
        ),
        (Some("application/json"), vec![b'{'; 20_000]),
    ];

    for (content_type, body) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (status, reply) = app.post_raw("/Enqueue", content_type, body).await;
        assert_eq!(status, 200, "{content_type:?} {shown}");
        assert_eq!(reply["Code"], 10001, "{content_type:?} {shown}: {reply}");
    }

    assert_eq!(app.enqueue("still-serving", "cap-1").await["Code"], 10101);
}

#[tokio::test]
async fn a_body_over_the_limit_is_10001() {
    let app = TestApp::spawn().await;
    let body = json!({"UserId": "u", "ProjectId": "cap-1", "Pad": "x".repeat(17 * 1024)});

    let (status, reply) = app.post_json("/Enqueue", &body).await;

    assert_eq!(status, 200);
    assert_eq!(reply["Code"], 10001, "{reply}");
    assert!(
        reply["Msg"].as_str().unwrap().contains("larger than"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_refused_body_still_echoes_its_request_id() {
    let app = TestApp::spawn().await;
    let cases: [(&str, &str); 3] = [
        (
            "application/json",
            r#"{"UserId":"u","ProjectId":"cap-1","RequestId":"req-json","Extra":{"a":1}}"#,
        ),
        (
            "application/x-www-form-urlencoded",
            "UserId=%ff&ProjectId=cap-1&RequestId=req-form",
        ),
        (
            "application/json",
            r#"{"RequestId":"req-a","RequestId":"req-b"}"#,
        ),
    ];

    let mut echoed = Vec::new();
    for (content_type, body) in cases {
        let (_, reply) = app.post_raw("/Enqueue", Some(content_type), body).await;
        assert_eq!(reply["Code"], 10001, "{body}: {reply}");
        echoed.push(reply.get("RequestId").cloned());
    }

    // A RequestId given twice is ambiguous: neither copy is echoed.
    assert_eq!(
        echoed,
        [Some(json!("req-json")), Some(json!("req-form")), None]
    );
}

#[tokio::test]
async fn a_body_without_content_type_is_read_as_json_or_as_a_form() {
    let app = TestApp::spawn().await;

    let (_, json_reply) = app
        .post_raw("/Enqueue", None, r#"{"UserId":"a","ProjectId":"cap-1"}"#)
        .await;
    let (_, form_reply) = app
        .post_raw("/Enqueue", None, "UserId=b&ProjectId=cap-1")
        .await;
    let (_, text_plain) = app
        .post_raw(
            "/Enqueue",
            Some("text/plain"),
            r#"{"UserId":"c","ProjectId":"cap-1"}"#,
        )
        .await;

    assert_eq!(json_reply["Data"]["UserId"], "a", "{json_reply}");
    assert_eq!(form_reply["Data"]["UserId"], "b", "{form_reply}");
    assert_eq!(text_plain["Data"]["UserId"], "c", "{text_plain}");
}

#[tokio::test]
async fn optional_fields_sent_empty_count_as_absent_and_unknown_fields_are_accepted() {
    let app = TestApp::spawn().await;

    let reply = app
        .call(
            "/Enqueue",
            json!({"UserId": "u", "ProjectId": "cap-1", "ApplicationId": "", "Whatever": 1}),
        )
        .await;

    assert_eq!(reply["Code"], 10101, "{reply}");
}

#[tokio::test]
async fn each_endpoint_names_its_missing_field() {
    let app = TestApp::spawn().await;
    for (path, body, missing) in [
        ("/Enqueue", json!({"ProjectId": "cap-1"}), "UserId"),
        ("/Enqueue", json!({"UserId": "u"}), "ProjectId"),
        ("/Dequeue", json!({}), "UserId"),
        ("/StopProject", json!({"UserId": ""}), "UserId"),
        (
            "/StartProject",
            json!({"UserId": "u", "ClientSession": "c"}),
            "ProjectId",
        ),
    ] {
        let reply = app.call(path, body).await;
        assert_eq!(reply["Code"], 10001, "{path}: {reply}");
        assert!(
            reply["Msg"].as_str().unwrap().contains(missing),
            "{path}: {reply}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_json() {
    let app = TestApp::spawn().await;

    let (status, reply) = app.post_raw("/NoSuchThing", None, "").await;
    assert_eq!(status, 404);
    assert_eq!(reply["Code"], 10001);

    let response = app.client.get(app.url("/Enqueue")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["Code"], 10001);
}

#[tokio::test]
async fn options_on_any_path_answers_200_with_cors_headers() {
    let app = TestApp::spawn().await;
    for path in ["/StartProject", "/Enqueue", "/anything"] {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://game.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        assert!(
            headers["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("content-type"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_configured_origin_list_only_allows_those_origins() {
    let app = TestApp::spawn_with(
        |settings| {
            settings.http.cors_origins =
                car_server::config::CorsOrigins::List(vec!["https://game.example".into()])
        },
        |_| {},
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/Enqueue"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };

    let allowed = preflight("https://game.example").await.unwrap();
    let refused = preflight("https://evil.example").await.unwrap();

    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://game.example"
    );
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_project_outside_the_served_list_is_refused_before_any_cloud_call() {
    let app = TestApp::spawn_with(
        |settings| settings.projects = car_server::config::AllowedProjects::only(["cap-ours"]),
        |_| {},
    )
    .await;

    let foreign = app.enqueue("u", "cap-theirs").await;
    let foreign_start = app.start_project("u", "cap-theirs").await;

    assert_eq!(foreign["Code"], 10001, "{foreign}");
    assert!(
        foreign["Msg"].as_str().unwrap().contains("ProjectId"),
        "{foreign}"
    );
    assert_eq!(foreign_start["Code"], 10001, "{foreign_start}");
    assert_eq!(
        app.sim
            .calls(car_server::cloud::protocol::Action::ApplyConcurrent),
        0
    );
    assert_eq!(app.enqueue("u", "cap-ours").await["Code"], 10101);
}

#[tokio::test]
async fn an_invalid_request_id_is_refused_and_not_echoed() {
    let app = TestApp::spawn().await;

    let reply = app
        .call(
            "/Enqueue",
            json!({"UserId": "u", "ProjectId": "cap-1", "RequestId": "x".repeat(5000)}),
        )
        .await;

    assert_eq!(reply["Code"], 10001, "{reply}");
    assert!(reply.get("RequestId").is_none(), "echoed: {reply}");
}

#[tokio::test]
async fn a_request_outliving_request_timeout_answers_10002_that_a_page_can_read() {
    let app = TestApp::spawn_with(
        |settings| settings.http.request_timeout = std::time::Duration::from_millis(300),
        |sim| sim.latency = std::time::Duration::from_secs(3),
    )
    .await;

    let response = app
        .client
        .post(app.url("/StartProject"))
        .header("Origin", "https://game.example")
        .json(&json!({"UserId": "u-slow", "ProjectId": "cap-1", "ClientSession": "s"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["Code"], 10002, "{reply}");
}
