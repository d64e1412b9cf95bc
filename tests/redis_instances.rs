//! Several car_server processes sharing one Redis, as behind a load balancer:
//! the same line seen from every instance, admission in order and never past
//! what the cloud granted, instances killed and restarted, Redis going away.

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::process::Running;
use support::redis::{KeySpace, RedisServer};

const SECRET_ID: &str = "AKIDinstancestest000000000000000";
const SECRET_KEY: &str = "instances-test-secret-key-000000";

/// The simulated cloud, as its own process, and how to reach it.
async fn cloud(capacity: u32) -> Running {
    let capacity = capacity.to_string();
    Running::start(
        &["simulator"],
        &[
            ("SECRET_ID", SECRET_ID),
            ("SECRET_KEY", SECRET_KEY),
            ("SIM_CAPACITY", &capacity),
        ],
    )
    .await
}

/// One car_server instance on `keys`, talking to `cloud`.
async fn instance(cloud: &Running, keys: &KeySpace) -> Running {
    let endpoint = format!("http://127.0.0.1:{}", cloud.port);
    Running::start(
        &[],
        &[
            ("SECRET_ID", SECRET_ID),
            ("SECRET_KEY", SECRET_KEY),
            ("CAR_ENDPOINT", &endpoint),
            ("REDIS_QUEUE", "Y"),
            ("REDIS", keys.url.as_str()),
            ("REDIS_PREFIX", &keys.prefix),
            ("QUEUE_CHECK_INTERVAL", "100ms"),
        ],
    )
    .await
}

async fn enqueue(instance: &Running, user: &str) -> Value {
    instance
        .post(
            "/Enqueue",
            json!({"UserId": user, "ProjectId": "cap-shared"}),
        )
        .await
}

async fn set_capacity(cloud: &Running, capacity: u32) {
    let response = reqwest::Client::new()
        .put(cloud.url("/_simulator/capacity"))
        .json(&json!({"capacity": capacity}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

async fn machines_in_use(cloud: &Running) -> u64 {
    let state: Value = reqwest::get(cloud.url("/_simulator/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["projects"]["cap-shared"]["running"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_report_the_same_positions_and_admit_in_order() {
    let keys = KeySpace::new();
    let cloud = cloud(0).await;
    let a = instance(&cloud, &keys).await;
    let b = instance(&cloud, &keys).await;
    let users: Vec<String> = (0..8).map(|n| format!("user-{n}")).collect();

    for (index, user) in users.iter().enumerate() {
        let joined_through = if index % 2 == 0 { &a } else { &b };
        let reply = enqueue(joined_through, user).await;
        assert_eq!(reply["Code"], 10100, "{reply}");
        assert_eq!(reply["Data"]["Index"], index, "{user} joining: {reply}");
    }
    for (index, user) in users.iter().enumerate() {
        assert_eq!(
            enqueue(&a, user).await["Data"]["Index"],
            index,
            "{user} seen from a"
        );
        assert_eq!(
            enqueue(&b, user).await["Data"]["Index"],
            index,
            "{user} seen from b"
        );
    }

    // Three machines come free; both instances run admission every 100 ms.
    set_capacity(&cloud, 3).await;
    let started = Instant::now();
    let mut admitted: Vec<usize> = Vec::new();
    while admitted.len() < 3 && started.elapsed() < Duration::from_secs(5) {
        for (index, user) in users.iter().enumerate() {
            let through = if index % 2 == 0 { &b } else { &a };
            if enqueue(through, user).await["Code"] == 10101 && !admitted.contains(&index) {
                admitted.push(index);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admitted.sort();
    assert_eq!(admitted, [0, 1, 2], "the three heads, and only them");

    // Nobody else gets in: the cloud granted three machines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (index, user) in users.iter().enumerate().skip(3) {
        let reply = enqueue(&a, user).await;
        assert_eq!(reply["Code"], 10100, "{user}: {reply}");
        assert_eq!(reply["Data"]["Index"], index - 3, "{user}: {reply}");
    }
    assert_eq!(machines_in_use(&cloud).await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_and_restarting_an_instance_loses_no_one() {
    let keys = KeySpace::new();
    let cloud = cloud(0).await;
    let mut a = instance(&cloud, &keys).await;
    let b = instance(&cloud, &keys).await;
    for n in 0..5 {
        assert_eq!(enqueue(&a, &format!("user-{n}")).await["Data"]["Index"], n);
    }

    a.kill().await;
    for n in 0..5 {
        assert_eq!(
            enqueue(&b, &format!("user-{n}")).await["Data"]["Index"],
            n,
            "after the kill"
        );
    }

    let a = instance(&cloud, &keys).await;
    for n in 0..5 {
        assert_eq!(
            enqueue(&a, &format!("user-{n}")).await["Data"]["Index"],
            n,
            "after the restart"
        );
    }
    let newcomer = enqueue(&a, "newcomer").await;
    assert_eq!(newcomer["Data"]["Index"], 5, "{newcomer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn while_redis_is_away_requests_answer_10002_promptly_and_service_resumes() {
    let mut redis = RedisServer::start(&[]).expect("a private redis-server");
    let keys = KeySpace::on(redis.url());
    let cloud = cloud(0).await;
    let service = instance(&cloud, &keys).await;
    for n in 0..3 {
        enqueue(&service, &format!("user-{n}")).await;
    }

    // A hung Redis: connections stay open, nothing answers.
    redis.pause();
    let started = Instant::now();
    let reply = enqueue(&service, "user-1").await;
    let elapsed = started.elapsed();
    assert_eq!(reply["Code"], 10002, "{reply}");
    assert!(
        elapsed < Duration::from_secs(4),
        "answered after {elapsed:?}"
    );
    let ready = reqwest::get(service.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);

    // Back, with everyone in place.
    redis.resume();
    let recovered = wait_for(
        || enqueue(&service, "user-1"),
        |reply| reply["Code"] == 10100,
    )
    .await;
    assert_eq!(recovered["Data"]["Index"], 1, "{recovered}");

    // A Redis that died and came back empty: the service reconnects by itself.
    redis.restart().expect("redis-server restarts");
    let rejoined = wait_for(
        || enqueue(&service, "user-9"),
        |reply| reply["Code"] == 10100,
    )
    .await;
    assert_eq!(rejoined["Data"]["Index"], 0, "{rejoined}");
    assert_eq!(
        reqwest::get(service.url("/readyz")).await.unwrap().status(),
        200
    );
}

/// Retries `call` until `done` holds, for up to 10 s.
async fn wait_for<F, Fut>(call: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let started = Instant::now();
    loop {
        let reply = call().await;
        if done(&reply) {
            return reply;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
