//! A stand-in for the CAR cloud API that speaks its wire protocol and is as
//! strict as the cloud.
//!
//! It is the project's test double for the cloud: black-box tests start it on
//! a loopback port, `car_server --simulate` runs the whole product against it,
//! and front-end developers run it alone. It checks TC3 signatures, keeps a
//! number of machines per project, holds `ApplyConcurrent` reservations for a
//! while and lets them lapse, turns them into sessions and frees them again.
//!
//! Two doors open on the same port:
//!
//! - `POST /` — the cloud endpoint (`endpoint.rs`), signed like the real one;
//! - `/_simulator/…` — an unsigned JSON control API (`control.rs`) for latency,
//!   injected faults, capacity, call counters and a snapshot of the machines.
//!
//! Tests reach the same knobs through the [`Simulator`] handle.
//!
//! The other files: `machines.rs` is the state machine, `authentication.rs`
//! the signature check, `requests.rs` the body validation, `faults.rs` and
//! `latency.rs` the knobs, `calls.rs` the counters, `reply.rs` the envelope.

mod authentication;
mod calls;
mod control;
mod endpoint;
mod faults;
mod latency;
mod machines;
mod reply;
mod requests;

pub use calls::ActionCalls;
pub use faults::{FaultRule, FaultRuleError, FaultRules};
pub use latency::LatencySnapshot;
pub use machines::ProjectSnapshot;

use crate::cloud::protocol::Action;
use crate::cloud::tc3::Credentials;
use axum::Router;
use calls::Calls;
use faults::Faults;
use latency::Latency;
use machines::Machines;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the simulator starts; every knob can also change at run time.
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    /// The one API key the simulated account has; requests signed with any
    /// other are refused.
    pub credentials: Credentials,
    /// Machines per project (`SIM_CAPACITY`).
    pub capacity: u32,
    /// How long an `ApplyConcurrent` reservation waits for `CreateSession`.
    pub reservation_ttl: Duration,
    /// Delay added to every answer.
    pub latency: Duration,
    /// Probabilistic faults, e.g. parsed from `CreateSession:InternalError:0.2`.
    pub faults: Vec<FaultRule>,
    /// How far `X-TC-Timestamp` may be from the simulator's clock.
    pub max_clock_skew: Duration,
}

impl SimulatorSettings {
    /// The defaults: 2 machines per project, 30 s reservations, no latency,
    /// no faults, and the cloud's 300 s allowance for clock skew.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            capacity: 2,
            reservation_ttl: Duration::from_secs(30),
            latency: Duration::ZERO,
            faults: Vec::new(),
            max_clock_skew: Duration::from_secs(300),
        }
    }
}

/// A handle on one simulated cloud; clones share it.
#[derive(Clone)]
pub struct Simulator {
    /// Everything the handlers and the handle share.
    shared: Arc<Shared>,
}

/// The simulator's state.
///
/// Each part sits behind its own `std::sync::Mutex` rather than Tokio's: every
/// critical section is a few map operations and never spans an `.await` (the
/// added latency is slept before any lock is taken), so a blocking lock is
/// both correct and cheaper. Separate locks keep a slow snapshot of the
/// machines from delaying the counters, and no code holds two at once.
struct Shared {
    /// The account's key; the secret half is only ever fed to the signer.
    credentials: Credentials,
    /// See [`SimulatorSettings::max_clock_skew`].
    max_clock_skew: Duration,
    /// Who holds which machine.
    machines: Mutex<Machines>,
    /// Scripted and probabilistic failures.
    faults: Mutex<Faults>,
    /// Delays before answering.
    latency: Mutex<Latency>,
    /// Call counters.
    calls: Mutex<Calls>,
}

/// The whole state as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Machines per project.
    pub capacity: u32,
    /// How long a reservation waits for `CreateSession`, in milliseconds.
    pub reservation_ttl_ms: u128,
    /// The current delays.
    pub latency: LatencySnapshot,
    /// The standing probabilistic faults, as `Action:Code:Probability`.
    pub fault_rules: Vec<String>,
    /// Every project with at least one machine held.
    pub projects: BTreeMap<String, ProjectSnapshot>,
}

impl Simulator {
    pub fn new(settings: SimulatorSettings) -> Self {
        let SimulatorSettings {
            credentials,
            capacity,
            reservation_ttl,
            latency,
            faults,
            max_clock_skew,
        } = settings;
        Self {
            shared: Arc::new(Shared {
                credentials,
                max_clock_skew,
                machines: Mutex::new(Machines::new(capacity, reservation_ttl)),
                faults: Mutex::new(Faults::new(faults)),
                latency: Mutex::new(Latency::new(latency)),
                calls: Mutex::new(Calls::default()),
            }),
        }
    }

    /// The cloud endpoint at `/` and the control API under `/_simulator/`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", axum::routing::any(endpoint::cloud))
            .merge(control::routes())
            .fallback(endpoint::elsewhere)
            .method_not_allowed_fallback(control::method_not_allowed)
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 picks a free port) and serves in a spawned task
    /// until [`RunningSimulator::stop`] or until the handle is dropped.
    pub async fn start(self, addr: SocketAddr) -> io::Result<RunningSimulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();

        let router = self.router();
        // A dropped sender ends the wait as surely as a sent value, so a
        // test that forgets `stop()` still shuts its simulator down.
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "CAR simulator listening");

        Ok(RunningSimulator {
            addr,
            simulator: self,
            shutdown,
            task,
        })
    }

    /// Calls of `action` that passed authentication.
    pub fn calls(&self, action: Action) -> u64 {
        lock(&self.shared.calls).of(action)
    }

    /// Calls of `action` that passed authentication and carried this `UserId`.
    pub fn calls_for(&self, action: Action, user_id: &str) -> u64 {
        lock(&self.shared.calls).of_user(action, user_id)
    }

    /// The body of this user's latest call of `action`, as the cloud saw it.
    pub fn last_request(&self, action: Action, user_id: &str) -> Option<serde_json::Value> {
        lock(&self.shared.calls).latest(action, user_id)
    }

    /// Every action's counters, keyed by action name.
    pub fn call_summary(&self) -> BTreeMap<&'static str, ActionCalls> {
        lock(&self.shared.calls).summary()
    }

    /// The next `times` calls of `action` answer `code` instead of acting.
    pub fn fail_next(&self, action: Action, code: &str, times: u32) {
        lock(&self.shared.faults).fail_next(action, code, times);
    }

    /// Replaces the probabilistic fault rules.
    pub fn set_fault_rules(&self, rules: Vec<FaultRule>) {
        lock(&self.shared.faults).set_rules(rules);
    }

    /// Forgets every scripted failure and every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Sets the delay of every answer (`None`) or of one action's answers,
    /// which then no longer follow the global delay.
    pub fn set_latency(&self, action: Option<Action>, latency: Duration) {
        lock(&self.shared.latency).set(action, latency);
    }

    /// Machines per project from now on; nobody already holding one loses it.
    pub fn set_capacity(&self, capacity: u32) {
        lock(&self.shared.machines).set_capacity(capacity);
    }

    /// Machines of the project reserved or in a session; lapsed reservations
    /// are not counted.
    pub fn in_use(&self, project_id: &str) -> u32 {
        lock(&self.shared.machines)
            .count(project_id, Instant::now())
            .1
    }

    /// Whether the user is in a session (a bare reservation is not one).
    pub fn has_session(&self, user_id: &str) -> bool {
        lock(&self.shared.machines).has_session(user_id, Instant::now())
    }

    /// Frees every machine and zeroes the call counters; the knobs (capacity,
    /// latency, faults) stay as they are.
    pub fn reset(&self) {
        let mut machines = lock(&self.shared.machines);
        let (capacity, ttl) = (machines.capacity(), machines.reservation_ttl());
        *machines = Machines::new(capacity, ttl);
        drop(machines);
        lock(&self.shared.calls).clear();
        tracing::info!("simulator reset: every machine freed");
    }

    /// The whole state, as the control API's `GET /_simulator/state` shows it.
    pub fn snapshot(&self) -> Snapshot {
        let (capacity, reservation_ttl, projects) = {
            let mut machines = lock(&self.shared.machines);
            let projects = machines.snapshot(Instant::now());
            (machines.capacity(), machines.reservation_ttl(), projects)
        };
        let fault_rules = lock(&self.shared.faults)
            .rules()
            .iter()
            .map(ToString::to_string)
            .collect();
        Snapshot {
            capacity,
            reservation_ttl_ms: reservation_ttl.as_millis(),
            latency: lock(&self.shared.latency).snapshot(),
            fault_rules,
            projects,
        }
    }
}

/// A simulator serving on a socket.
pub struct RunningSimulator {
    /// Where it listens, with the port actually bound.
    pub addr: SocketAddr,
    /// The handle for knobs and counters.
    pub simulator: Simulator,
    /// Dropping or sending on it starts the graceful shutdown.
    shutdown: oneshot::Sender<()>,
    /// The serving task; it ends once shutdown completes.
    task: JoinHandle<io::Result<()>>,
}

impl RunningSimulator {
    /// The base URL a cloud client should use, e.g. `http://127.0.0.1:4055`.
    /// A simulator bound to every interface is reached through loopback.
    pub fn endpoint(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Stops accepting, lets answers in flight finish, and waits for that —
    /// at most a few seconds, after which the remaining connections are cut,
    /// so that a client holding a connection open cannot stall a test.
    pub async fn stop(self) {
        let Self { shutdown, task, .. } = self;
        let _ = shutdown.send(());

        let abort = task.abort_handle();
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(()))) => tracing::info!("CAR simulator stopped"),
            Ok(Ok(Err(error))) => tracing::warn!(%error, "CAR simulator stopped with an error"),
            Ok(Err(error)) => tracing::warn!(%error, "CAR simulator task failed"),
            Err(_) => {
                abort.abort();
                tracing::warn!("CAR simulator did not stop in time; connections cut");
            }
        }
    }
}

/// Takes a lock even if a panicking thread poisoned it: every critical section
/// leaves the state consistent between its single-step mutations, so the data
/// is still good, and one failed test must not cascade into every later call.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
