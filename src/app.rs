//! Wiring: from checked [`Settings`] to a running service.
//!
//! [`Application::build`] does everything that can fail at start — binding
//! the port, opening the queue store, starting the built-in simulator — so
//! that a misconfiguration stops the start with a message instead of
//! surfacing on the first request. [`Application::run_until`] then serves
//! until told to stop and shuts down in order: stop accepting, finish
//! requests in flight, stop admission, stop the simulator.

use crate::cloud::CarClient;
use crate::cloud::client::CloudSettings;
use crate::cloud::protocol::Action;
use crate::config::{CloudTarget, Settings};
use crate::http::{self, ApiContext};
use crate::queue::Queue;
use crate::server;
use crate::simulator::{RunningSimulator, Simulator};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address} (PORT/BIND): {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the built-in simulator: {0}")]
    Simulator(std::io::Error),
    #[error("cannot build the cloud client (CAR_ENDPOINT): {0}")]
    Cloud(String),
    #[error("cannot open the queue store (REDIS/REDIS_PWD): {0}")]
    Store(crate::queue::StoreError),
}

/// A service that is bound and ready to run.
pub struct Application {
    listener: TcpListener,
    context: ApiContext,
    /// The in-process simulator of `--simulate`, stopped with the service.
    simulator: Option<RunningSimulator>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics_handle();

        let (endpoint, credentials, simulator) = match &settings.cloud {
            CloudTarget::Cloud {
                endpoint,
                credentials,
            } => (endpoint.clone(), credentials.clone(), None),
            CloudTarget::Simulated(simulator_settings) => {
                let running = Simulator::new(simulator_settings.clone())
                    .start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                    .await
                    .map_err(StartError::Simulator)?;
                let endpoint = running
                    .endpoint()
                    .parse()
                    .expect("the simulator's URL parses");
                tracing::warn!(
                    endpoint = %running.endpoint(),
                    "SIMULATED CLOUD: cloud calls go to a built-in CAR simulator, not to Tencent Cloud; no real stream can start"
                );
                (
                    endpoint,
                    simulator_settings.credentials.clone(),
                    Some(running),
                )
            }
        };

        // StartProject waits on ApplyConcurrent, then CreateSession.
        let start_project_deadline = settings.car_timeout.map_or(
            Action::ApplyConcurrent.deadline() + Action::CreateSession.deadline(),
            |timeout| timeout * 2,
        );
        if settings.http.request_timeout <= start_project_deadline {
            tracing::warn!(
                request_timeout = ?settings.http.request_timeout,
                cloud_deadlines = ?start_project_deadline,
                "REQUEST_TIMEOUT is not above the cloud deadlines (CAR_TIMEOUT): a slow cloud will make StartProject answer 10002 instead of the cloud's error"
            );
        }

        let cloud = CarClient::new(CloudSettings {
            endpoint,
            region: settings.car_region.clone(),
            credentials,
            timeout: settings.car_timeout,
            rate_limit: settings.car_rate_limit,
        })
        .map_err(StartError::Cloud)?;

        let queue = Queue::open(settings.queue.clone(), cloud.clone())
            .await
            .map_err(StartError::Store)?;

        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Listen {
                    address: settings.listen,
                    source,
                })?;

        Ok(Self {
            listener,
            context: ApiContext {
                settings: Arc::new(settings),
                cloud,
                queue,
            },
            simulator,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The queue, for tests and benchmarks that inspect it.
    pub fn queue(&self) -> Queue {
        self.context.queue.clone()
    }

    /// Serves until `shutdown` completes, then drains and stops.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let settings = self.context.settings.clone();
        tracing::info!(address = %self.local_addr(), store = settings.queue.store_kind(), sign = settings.sign.is_some(), "car_server listening");

        let stop_admission = CancellationToken::new();
        let admission = self.context.queue.spawn_admission(stop_admission.clone());
        let upkeep = tokio::spawn(crate::telemetry::run_metrics_upkeep(stop_admission.clone()));

        let api = http::router(self.context);
        server::serve(self.listener, api, &settings.http, shutdown).await;

        stop_admission.cancel();
        if tokio::time::timeout(settings.http.shutdown_timeout, admission)
            .await
            .is_err()
        {
            tracing::warn!("admission was still waiting on the cloud at the shutdown deadline");
        }
        let _ = upkeep.await;
        if let Some(simulator) = self.simulator {
            simulator.stop().await;
        }
        tracing::info!("car_server stopped");
    }
}
