//! Admission latency: how soon a freed machine reaches the head of the line.
//!
//! Run by `bench/admission.sh`, against a `car_server` whose cloud is a
//! separate `car_server simulator` (so that its control API can set the
//! machines per project). Two measurements:
//!
//! 1. **StopProject → the head sees 10101.** One machine, one user in a
//!    session on it, and a head of the line polling Enqueue every 10 ms. The
//!    time runs from sending the holder's StopProject to receiving the head's
//!    first 10101. The head then starts its own session and becomes the next
//!    holder; repeated `ROUNDS` times.
//! 2. **K machines freed at once.** K machines all in sessions and K users
//!    waiting. The K StopProjects go out together; the time runs until the
//!    cloud (the simulator's state, watched every 2 ms) has granted the K
//!    waiters their reservations, and each waiter then polls 10101.
//!
//! Settings (environment): `SERVICE` and `SIMULATOR` base URLs, `ROUNDS`
//! (default 200), `FREED` (the values of K, default "1 10 50 100").

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How often a waiting page polls in these measurements.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Gives up on a waiter that never gets its turn.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Service {
    client: reqwest::Client,
    base: String,
}

impl Service {
    async fn call(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path} failed: {error}"));
        response
            .json()
            .await
            .unwrap_or_else(|error| panic!("{path} answered no JSON: {error}"))
    }

    async fn enqueue(&self, user: &str, project: &str) -> u64 {
        let reply = self
            .call("/Enqueue", json!({"UserId": user, "ProjectId": project}))
            .await;
        reply["Code"].as_u64().unwrap_or(0)
    }

    async fn expect(&self, path: &str, body: Value, code: u64) {
        let reply = self.call(path, body.clone()).await;
        assert_eq!(reply["Code"], code, "{path} {body} answered {reply}");
    }

    async fn start(&self, user: &str, project: &str) {
        self.expect(
            "/StartProject",
            json!({"UserId": user, "ProjectId": project, "ClientSession": "bench"}),
            0,
        )
        .await;
    }

    async fn stop(&self, user: &str) {
        self.expect("/StopProject", json!({"UserId": user}), 0)
            .await;
    }

    /// Polls every [`POLL_EVERY`] until 10101; returns when that answer came.
    async fn poll_until_admitted(&self, user: &str, project: &str) -> Instant {
        let started = Instant::now();
        let mut ticks = tokio::time::interval(POLL_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.enqueue(user, project).await {
                10101 => return Instant::now(),
                10100 => {}
                other => panic!("{user} polled {other}"),
            }
            assert!(started.elapsed() < PATIENCE, "{user} was never admitted");
        }
    }
}

async fn set_capacity(client: &reqwest::Client, simulator: &str, capacity: usize) {
    client
        .put(format!("{simulator}/_simulator/capacity"))
        .json(&json!({ "capacity": capacity }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("the simulator's control API answers");
}

/// Watches the simulator until `count` reservations (granted, not yet
/// sessions) are held in `project`; returns when it saw them.
async fn reservations_granted(
    client: &reqwest::Client,
    simulator: &str,
    project: &str,
    count: usize,
) -> Instant {
    let started = Instant::now();
    loop {
        let state: Value = client
            .get(format!("{simulator}/_simulator/state"))
            .send()
            .await
            .expect("the simulator's control API answers")
            .json()
            .await
            .expect("the state is JSON");
        let reserved = state["projects"][project]["reserved_users"]
            .as_array()
            .map_or(0, Vec::len);
        if reserved >= count {
            return Instant::now();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{project}: {reserved} of {count} admitted"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The value at `fraction` (0..=1) of sorted samples, nearest rank.
fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

async fn stop_to_head(service: &Service, rounds: usize) {
    let project = "cap-admission-head";
    let mut holder = "head-holder".to_owned();
    assert_eq!(service.enqueue(&holder, project).await, 10101);
    service.start(&holder, project).await;

    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let head = format!("head-{round}");
        assert_eq!(service.enqueue(&head, project).await, 10100);
        let poller = {
            let service = service.clone();
            let head = head.clone();
            tokio::spawn(async move { service.poll_until_admitted(&head, project).await })
        };
        // Let the head settle into its polling rhythm before the machine
        // comes free, so that the stop lands at a random point of its cycle.
        tokio::time::sleep(Duration::from_millis(35)).await;

        let stopped = Instant::now();
        service.stop(&holder).await;
        let admitted = poller.await.expect("the poller finishes");
        samples.push(admitted - stopped);

        service.start(&head, project).await;
        holder = head;
    }
    service.stop(&holder).await;

    samples.sort();
    println!(
        "RESULT stop_to_head rounds={rounds} poll_ms={} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        POLL_EVERY.as_millis(),
        millis(percentile(&samples, 0.5)),
        millis(percentile(&samples, 0.9)),
        millis(percentile(&samples, 0.99)),
        millis(percentile(&samples, 1.0)),
    );
}

async fn freed_at_once(service: &Service, simulator: &str, freed: usize) {
    let project = format!("cap-admission-k{freed}");
    set_capacity(&service.client, simulator, freed).await;

    let holders: Vec<String> = (0..freed).map(|n| format!("k{freed}-holder-{n}")).collect();
    for holder in &holders {
        assert_eq!(service.enqueue(holder, &project).await, 10101);
        service.start(holder, &project).await;
    }
    let waiters: Vec<String> = (0..freed).map(|n| format!("k{freed}-waiter-{n}")).collect();
    for waiter in &waiters {
        assert_eq!(service.enqueue(waiter, &project).await, 10100);
    }

    // Setting the stage spent 2K ApplyConcurrent calls of the client's rate
    // limit (CAR_RATE_LIMIT per second, with a burst as large); let it
    // refill, so that the figure is that of K machines freed in a quiet
    // moment rather than of a drained budget.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The waiters do not poll while K machines are admitted: K pages polling
    // every 10 ms would load the service more than the admission being
    // measured. The cloud's own state tells when the K-th reservation was
    // granted; admission marks the user admitted right after.
    let stopped = Instant::now();
    let mut stops = JoinSet::new();
    for holder in holders {
        let service = service.clone();
        stops.spawn(async move { service.stop(&holder).await });
    }
    let watcher = {
        let (client, simulator, project) = (
            service.client.clone(),
            simulator.to_owned(),
            project.clone(),
        );
        tokio::spawn(
            async move { reservations_granted(&client, &simulator, &project, freed).await },
        )
    };
    stops.join_all().await;
    let all_stopped = stopped.elapsed();
    let all_admitted = watcher.await.expect("the watcher finishes") - stopped;
    for waiter in &waiters {
        assert_eq!(service.enqueue(waiter, &project).await, 10101, "{waiter}");
    }

    for waiter in &waiters {
        service
            .expect("/Dequeue", json!({ "UserId": waiter }), 0)
            .await;
    }
    println!(
        "RESULT freed k={freed} stops_answered_ms={:.1} all_admitted_ms={:.1}",
        millis(all_stopped),
        millis(all_admitted),
    );
}

#[tokio::main]
async fn main() {
    let setting = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
    let service = Service {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .expect("an HTTP client"),
        base: setting("SERVICE", "http://127.0.0.1:3000"),
    };
    let simulator = setting("SIMULATOR", "http://127.0.0.1:3001");
    let rounds: usize = setting("ROUNDS", "200")
        .parse()
        .expect("ROUNDS is a number");

    set_capacity(&service.client, &simulator, 1).await;
    stop_to_head(&service, rounds).await;
    for freed in setting("FREED", "1 10 50 100").split_whitespace() {
        let freed: usize = freed.parse().expect("FREED lists numbers");
        freed_at_once(&service, &simulator, freed).await;
    }
}
