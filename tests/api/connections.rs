//! Slow and greedy clients: header and request deadlines, the connection cap,
//! the cloud's rate limit, and cloud calls slower than their deadline.

use crate::helpers::TestApp;
use car_server::cloud::protocol::Action;
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection or `within` passes; returns
/// what was read, or `None` if the connection stayed open.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let outcome = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    outcome
        .ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_cut_off_at_the_header_timeout() {
    let app = TestApp::spawn_with(
        |settings| settings.http.header_timeout = Duration::from_millis(300),
        |_| {},
    )
    .await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"POST /Enqueue HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let closed = read_until_closed(&mut stream, Duration::from_secs(3)).await;

    assert!(
        closed.is_some(),
        "the connection is still open after the header timeout"
    );
}

#[tokio::test]
async fn a_thousand_dribbling_connections_do_not_delay_a_real_client() {
    let app = TestApp::spawn().await;
    let mut dribblers = Vec::new();
    for _ in 0..1000 {
        let mut stream = TcpStream::connect(app.address).await.unwrap();
        stream
            .write_all(b"POST /Enqueue HTTP/1.1\r\nHo")
            .await
            .unwrap();
        dribblers.push(stream);
    }

    let started = Instant::now();
    let reply = app.enqueue("real-client", "cap-1").await;
    let elapsed = started.elapsed();

    assert_eq!(reply["Code"], 10101, "{reply}");
    assert!(
        elapsed < Duration::from_secs(1),
        "the real client waited {elapsed:?}"
    );
    drop(dribblers);
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let app = TestApp::spawn_with(
        |settings| settings.http.max_connections = 1,
        |sim| sim.capacity = 10,
    )
    .await;
    let mut holder = TcpStream::connect(app.address).await.unwrap();
    let body = r#"{"UserId":"h"}"#;
    let request = format!(
        "POST /Dequeue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    holder.write_all(request.as_bytes()).await.unwrap();
    let mut first_reply = [0u8; 512];
    let read = holder.read(&mut first_reply).await.unwrap();
    assert!(String::from_utf8_lossy(&first_reply[..read]).contains("200 OK"));

    // The kept-alive connection holds the only slot.
    let waiting =
        tokio::time::timeout(Duration::from_millis(500), app.enqueue("second", "cap-1")).await;
    assert!(
        waiting.is_err(),
        "a second connection was served past the cap"
    );

    drop(holder);
    // (Another project: "second", served once the slot freed, may hold the
    // head of cap-1's line.)
    let reply = tokio::time::timeout(Duration::from_secs(3), app.enqueue("third", "cap-2"))
        .await
        .expect("served once the slot is free");
    assert_eq!(reply["Code"], 10101);
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_a_json_reply_at_the_request_timeout() {
    let app = TestApp::spawn_with(
        |settings| settings.http.request_timeout = Duration::from_millis(300),
        |_| {},
    )
    .await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"POST /Enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"UserId\":")
        .await
        .unwrap();

    let answer = read_until_closed(&mut stream, Duration::from_secs(3))
        .await
        .expect("answered and closed");

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"Code\":10002"), "{answer}");
}

/// Sends `request` as raw bytes to a service whose header timeout is
/// `header_timeout`, and returns its answer and how long it took.
async fn raw_answer(header_timeout: Duration, request: &[u8]) -> (String, Duration) {
    let app = TestApp::spawn_with(
        |settings| settings.http.header_timeout = header_timeout,
        |_| {},
    )
    .await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream.write_all(request).await.unwrap();

    let started = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(3))
        .await
        .expect("answered and closed");
    (answer, started.elapsed())
}

#[tokio::test]
async fn a_body_dribbled_past_the_header_timeout_is_10001_at_once() {
    let (answer, elapsed) = raw_answer(
        Duration::from_millis(300),
        b"POST /Enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"UserId\":",
    )
    .await;

    assert!(answer.contains("\"Code\":10001"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_10001_without_waiting_for_the_body() {
    // The header timeout (which also bounds the body) is longer than the
    // answer may take.
    let (answer, elapsed) = raw_answer(
        Duration::from_secs(5),
        b"POST /Enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{}",
    )
    .await;

    assert!(answer.contains("\"Code\":10001"), "{answer}");
    assert!(answer.contains("larger than"), "{answer}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn every_action_stays_under_its_rate_limit() {
    let app = TestApp::spawn_with(
        |settings| settings.car_rate_limit = NonZeroU32::new(10).unwrap(),
        |_| {},
    )
    .await;

    // 30 DestroySession calls at once: 10 pass at once (the burst), the rest
    // at 10 per second.
    let started = Instant::now();
    let stops: Vec<_> = (0..30)
        .map(|n| {
            let request = app
                .client
                .post(app.url("/StopProject"))
                .json(&json!({"UserId": format!("nobody-{n}")}));
            tokio::spawn(
                async move { request.send().await.unwrap().json::<Value>().await.unwrap() },
            )
        })
        .collect();
    let mut replies = Vec::new();
    for stop in stops {
        replies.push(stop.await.unwrap());
    }
    let elapsed = started.elapsed();

    assert!(replies.iter().all(|reply| reply["Code"] == 10201));
    assert_eq!(app.sim.calls(Action::DestroySession), 30);
    assert!(
        elapsed >= Duration::from_millis(1800),
        "30 calls at 10/s took {elapsed:?}"
    );
}

#[tokio::test]
async fn slow_cloud_calls_answer_their_code_within_the_deadline() {
    let deadline = Duration::from_millis(400);
    let app = TestApp::spawn_with(|settings| settings.car_timeout = Some(deadline), |_| {}).await;
    app.sim.set_latency(None, Duration::from_secs(3));

    for (path, body, code) in [
        (
            "/StartProject",
            json!({"UserId": "a", "ProjectId": "cap-1", "ClientSession": "c"}),
            10202,
        ),
        ("/StopProject", json!({"UserId": "a"}), 10201),
    ] {
        let started = Instant::now();
        let reply = app.call(path, body).await;
        let elapsed = started.elapsed();
        assert_eq!(reply["Code"], code, "{path}: {reply}");
        assert!(
            elapsed < deadline + Duration::from_millis(400),
            "{path} took {elapsed:?}"
        );
    }

    // CreateSession slow while ApplyConcurrent is quick.
    app.sim.set_latency(None, Duration::ZERO);
    app.sim
        .set_latency(Some(Action::CreateSession), Duration::from_secs(3));
    let started = Instant::now();
    let reply = app.start_project("b", "cap-1").await;
    assert_eq!(reply["Code"], 10200, "{reply}");
    assert!(started.elapsed() < deadline * 2 + Duration::from_millis(400));
}

#[tokio::test]
async fn an_enqueue_does_not_wait_long_on_a_slow_cloud() {
    let app = TestApp::spawn().await;
    app.sim
        .set_latency(Some(Action::ApplyConcurrent), Duration::from_secs(3));

    let started = Instant::now();
    let first = app.enqueue("patient", "cap-1").await;
    let elapsed = started.elapsed();

    assert_eq!(first["Code"], 10100, "{first}");
    assert_eq!(first["Data"]["Index"], 0);
    assert!(
        elapsed < Duration::from_secs(2),
        "the poll waited {elapsed:?}"
    );
    // The admission went on in the background.
    app.poll_until("patient", "cap-1", 10101, Duration::from_secs(5))
        .await;
}
