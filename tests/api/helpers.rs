//! Starts the real service on port 0 against the simulator on port 0, and
//! speaks HTTP to it.

use car_server::app::Application;
use car_server::cloud::tc3::Credentials;
use car_server::config::{CloudTarget, Settings};
use car_server::queue::Queue;
use car_server::simulator::{RunningSimulator, Simulator, SimulatorSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The simulated account's key, shared by the service and the simulator.
pub fn credentials() -> Credentials {
    Credentials::new("AKIDtestsuite", "test-suite-secret-key")
}

/// A running service and the simulated cloud behind it.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// The simulated cloud, to inspect calls and inject faults.
    pub sim: Simulator,
    pub queue: Queue,
    simulator: Option<RunningSimulator>,
    /// The Redis key space of a Redis-store test, deleted when the test ends.
    pub keys: Option<crate::support::redis::KeySpace>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    /// The service with default settings on a simulator with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}, |_| {}).await
    }

    /// The service and simulator with settings changed by the two closures.
    pub async fn spawn_with(
        configure: impl FnOnce(&mut Settings),
        configure_sim: impl FnOnce(&mut SimulatorSettings),
    ) -> Self {
        let mut sim_settings = SimulatorSettings::new(credentials());
        configure_sim(&mut sim_settings);
        let simulator = Simulator::new(sim_settings)
            .start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("the simulator starts");

        let mut settings = Settings::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            CloudTarget::Cloud {
                endpoint: simulator.endpoint().parse().unwrap(),
                credentials: credentials(),
            },
        );
        // Fast ticks so that tests do not wait a second per admission round.
        settings.queue.check_interval = Duration::from_millis(50);
        configure(&mut settings);
        Self::start(settings, simulator).await
    }

    async fn start(settings: Settings, simulator: RunningSimulator) -> Self {
        let application = Application::build(settings)
            .await
            .expect("the service starts");
        let address = application.local_addr();
        let queue = application.queue();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(application.run_until(shutdown.clone().cancelled_owned()));
        Self {
            address,
            client: reqwest::Client::new(),
            sim: simulator.simulator.clone(),
            queue,
            simulator: Some(simulator),
            keys: None,
            shutdown,
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// POSTs a JSON body and returns the reply's status and JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("the service answers");
        read(response).await
    }

    /// POSTs a body as it is, with the given content type (or none).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        read(request.send().await.expect("the service answers")).await
    }

    /// POSTs a JSON body and returns the reply, asserting HTTP 200.
    pub async fn call(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post_json(path, &body).await;
        assert_eq!(status, StatusCode::OK, "{path} {body} answered {reply}");
        reply
    }

    pub async fn enqueue(&self, user_id: &str, project_id: &str) -> Value {
        self.call(
            "/Enqueue",
            json!({"UserId": user_id, "ProjectId": project_id}),
        )
        .await
    }

    pub async fn dequeue(&self, user_id: &str) -> Value {
        self.call("/Dequeue", json!({"UserId": user_id})).await
    }

    pub async fn start_project(&self, user_id: &str, project_id: &str) -> Value {
        self.call(
            "/StartProject",
            json!({"UserId": user_id, "ProjectId": project_id, "ClientSession": "client-session"}),
        )
        .await
    }

    pub async fn stop_project(&self, user_id: &str) -> Value {
        self.call("/StopProject", json!({"UserId": user_id})).await
    }

    /// Polls Enqueue for `user_id` until it answers `code`, or panics after
    /// `within`; returns how long it took.
    pub async fn poll_until(
        &self,
        user_id: &str,
        project_id: &str,
        code: u64,
        within: Duration,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let reply = self.enqueue(user_id, project_id).await;
            if reply["Code"] == code {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{user_id} still answered {reply} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the service the way SIGTERM does, and the simulator.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("the server task ends cleanly");
        }
        if let Some(simulator) = self.simulator.take() {
            simulator.stop().await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("a readable body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("a non-JSON reply ({status}, {content_type}): {text:?}"));
    assert!(
        content_type.starts_with("application/json"),
        "a reply without a JSON content type: {content_type}"
    );
    (status, json)
}
