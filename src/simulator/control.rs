//! The control API under `/_simulator/`: the same knobs as the [`Simulator`]
//! handle, for people driving the simulator by hand.
//!
//! It is unsigned (the simulator is a development tool on a loopback or team
//! port) and speaks JSON with snake_case fields, so that it cannot be mistaken
//! for the cloud's PascalCase protocol. Unlike the cloud endpoint it uses HTTP
//! status codes: 400 for a bad request, 404 and 405 for a wrong path or
//! method, always with a JSON `{"error": "…"}` body.
//!
//! | request | effect |
//! | --- | --- |
//! | `GET /_simulator/` | this list |
//! | `GET /_simulator/state` | capacity, latency, fault rules, who holds which machine |
//! | `GET /_simulator/calls` | call counters per action and per `UserId` |
//! | `PUT /_simulator/capacity` `{"capacity": 3}` | machines per project |
//! | `PUT /_simulator/latency` `{"action": "CreateSession", "ms": 800}` | delay; without `action`, every answer's |
//! | `POST /_simulator/faults/next` `{"action": "CreateSession", "code": "InternalError", "times": 2}` | the next calls fail |
//! | `PUT /_simulator/faults/rules` `{"rules": "CreateSession:InternalError:0.2"}` | replace the probabilistic faults |
//! | `DELETE /_simulator/faults` | no more faults of either kind |
//! | `POST /_simulator/reset` | free every machine, zero the counters |

use super::{ActionCalls, Simulator, Snapshot};
use crate::cloud::protocol::Action;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The control routes, to be merged into the simulator's router.
pub(super) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/_simulator", get(index))
        .route("/_simulator/", get(index))
        .route("/_simulator/state", get(state))
        .route("/_simulator/calls", get(calls))
        .route("/_simulator/capacity", put(capacity))
        .route("/_simulator/latency", put(latency))
        .route("/_simulator/faults/next", post(fail_next))
        .route("/_simulator/faults/rules", put(fault_rules))
        .route("/_simulator/faults", delete(clear_faults))
        .route("/_simulator/reset", post(reset))
        .route("/_simulator/{*rest}", axum::routing::any(not_found))
}

/// A control request the simulator could not carry out.
struct ControlError {
    /// 400, 404 or 405.
    status: StatusCode,
    /// What to fix, for the person at the keyboard.
    message: String,
}

impl ControlError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

async fn index() -> Json<serde_json::Value> {
    Json(json!({
        "simulator": "CAR cloud API simulator; the cloud endpoint is POST / (TC3-signed)",
        "control": {
            "GET /_simulator/state": "capacity, latency, fault rules, machines per project",
            "GET /_simulator/calls": "call counters per action and UserId",
            "PUT /_simulator/capacity": {"capacity": 3},
            "PUT /_simulator/latency": {"action": "CreateSession (optional)", "ms": 800},
            "POST /_simulator/faults/next": {"action": "CreateSession", "code": "InternalError", "times": 1},
            "PUT /_simulator/faults/rules": {"rules": "CreateSession:InternalError:0.2,*:RequestLimitExceeded:0.01"},
            "DELETE /_simulator/faults": "remove every fault",
            "POST /_simulator/reset": "free every machine and zero the counters",
        },
    }))
}

async fn state(State(simulator): State<Simulator>) -> Json<Snapshot> {
    Json(simulator.snapshot())
}

async fn calls(State(simulator): State<Simulator>) -> Json<BTreeMap<&'static str, ActionCalls>> {
    Json(simulator.call_summary())
}

/// `PUT /_simulator/capacity`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityChange {
    /// Machines per project from now on.
    capacity: u32,
}

async fn capacity(
    State(simulator): State<Simulator>,
    body: Bytes,
) -> Result<Json<Snapshot>, ControlError> {
    let change: CapacityChange = parse(&body)?;
    simulator.set_capacity(change.capacity);
    tracing::info!(capacity = change.capacity, "capacity changed");
    Ok(Json(simulator.snapshot()))
}

/// `PUT /_simulator/latency`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyChange {
    /// An action name, or absent (or `*`) for the global delay.
    #[serde(default)]
    action: Option<String>,
    /// The delay in milliseconds.
    ms: u64,
}

async fn latency(
    State(simulator): State<Simulator>,
    body: Bytes,
) -> Result<Json<Snapshot>, ControlError> {
    let change: LatencyChange = parse(&body)?;
    let action = match change.action.as_deref() {
        None | Some("*") => None,
        Some(name) => Some(action(name)?),
    };
    simulator.set_latency(action, Duration::from_millis(change.ms));
    tracing::info!(
        action = action.map_or("*", Action::name),
        ms = change.ms,
        "latency changed"
    );
    Ok(Json(simulator.snapshot()))
}

/// `POST /_simulator/faults/next`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptedFault {
    /// The action whose next calls fail.
    action: String,
    /// The cloud error code they answer.
    code: String,
    /// How many calls; one when absent.
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

async fn fail_next(
    State(simulator): State<Simulator>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ControlError> {
    let fault: ScriptedFault = parse(&body)?;
    let action = action(&fault.action)?;
    // Reuse the rule parser's idea of a well-formed code.
    format!("{}:{}:1", action.name(), fault.code)
        .parse::<super::FaultRule>()
        .map_err(|error| ControlError::bad_request(error.to_string()))?;

    simulator.fail_next(action, &fault.code, fault.times);
    tracing::info!(
        action = action.name(),
        code = fault.code,
        times = fault.times,
        "faults scripted"
    );
    Ok(Json(json!({
        "action": action.name(),
        "code": fault.code,
        "times": fault.times,
    })))
}

/// `PUT /_simulator/faults/rules`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleChange {
    /// `Action:Code:Probability`, comma-separated; empty for none.
    rules: String,
}

async fn fault_rules(
    State(simulator): State<Simulator>,
    body: Bytes,
) -> Result<Json<Snapshot>, ControlError> {
    let change: RuleChange = parse(&body)?;
    let rules: super::FaultRules = change
        .rules
        .parse()
        .map_err(|error: super::FaultRuleError| ControlError::bad_request(error.to_string()))?;
    tracing::info!(rules = change.rules, "fault rules replaced");
    simulator.set_fault_rules(rules.0);
    Ok(Json(simulator.snapshot()))
}

async fn clear_faults(State(simulator): State<Simulator>) -> Json<Snapshot> {
    simulator.clear_faults();
    tracing::info!("faults cleared");
    Json(simulator.snapshot())
}

async fn reset(State(simulator): State<Simulator>) -> Json<Snapshot> {
    simulator.reset();
    Json(simulator.snapshot())
}

async fn not_found(uri: Uri) -> ControlError {
    ControlError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "{} is not part of the control API; GET /_simulator/ lists it.",
            uri.path()
        ),
    }
}

/// Any route hit with a method it does not take.
pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ControlError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{method} is not allowed on {}; GET /_simulator/ lists the control API.",
            uri.path()
        ),
    }
    .into_response()
}

/// Reads a JSON body, turning every mistake into a 400 that says what it was.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body)
        .map_err(|error| ControlError::bad_request(format!("bad JSON body: {error}")))
}

fn action(name: &str) -> Result<Action, ControlError> {
    Action::from_name(name).ok_or_else(|| {
        ControlError::bad_request(format!(
            "unknown action {name:?}; use ApplyConcurrent, CreateSession, DestroySession or \
             DescribeConcurrentCount"
        ))
    })
}
