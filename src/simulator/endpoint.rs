//! The simulated cloud endpoint: `POST /`, one request per action.
//!
//! A request goes through the cloud's checks in the cloud's order, and the
//! first that fails decides the answer:
//!
//! 1. protocol — `POST` to `/`, a body of reasonable size (`UnsupportedProtocol`,
//!    `RequestSizeLimitExceeded`);
//! 2. authentication — see [`super::authentication`];
//! 3. `X-TC-Version` is `2022-01-10` (`NoSuchVersion`) and `X-TC-Action` one
//!    of the four actions (`InvalidAction`);
//! 4. the body — see [`super::requests`].
//!
//! Between 3 and 4 the call is counted and an injected fault, if one is due,
//! answers in place of the action. Every answer, refusals included, is HTTP
//! 200 with the JSON envelope, after the configured latency.

use super::authentication::{Signed, Verifier};
use super::reply::{self, Refusal};
use super::requests::{self, CloudRequest};
use super::{Simulator, lock};
use crate::cloud::protocol::{
    Acknowledged, Action, ConcurrentCount, SessionCreated, VERSION, codes,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use rand::RngExt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Bodies larger than this are refused unread; the largest real CAR request
/// is a few kilobytes.
const MAX_BODY: usize = 1024 * 1024;

/// What an accepted call answers besides its `RequestId`.
enum Answer {
    /// ApplyConcurrent and DestroySession: nothing but the request id.
    Done,
    /// CreateSession: the session the page hands to `TCGSDK.start()`.
    SessionCreated { server_session: String },
    /// DescribeConcurrentCount.
    ConcurrentCount { total: u32, running: u32 },
}

/// `/`, any method.
pub(super) async fn cloud(State(simulator): State<Simulator>, request: Request) -> Response {
    let request_id = reply::new_request_id();
    match simulator.answer(request).await {
        Ok(Answer::Done) => reply::success(Acknowledged { request_id }),
        Ok(Answer::SessionCreated { server_session }) => reply::success(SessionCreated {
            server_session,
            request_id,
        }),
        Ok(Answer::ConcurrentCount { total, running }) => reply::success(ConcurrentCount {
            total: total.into(),
            running: running.into(),
            request_id,
        }),
        Err(refusal) => {
            tracing::debug!(code = refusal.code, request_id, "call refused");
            refusal.into_reply(request_id)
        }
    }
}

/// Any path the simulator does not serve: still the cloud's JSON envelope,
/// never an HTML page.
pub(super) async fn elsewhere(method: Method, uri: axum::http::Uri) -> Response {
    Refusal::new(
        codes::UNSUPPORTED_PROTOCOL,
        format!(
            "{method} {} is not served: the CAR API is POST / (the simulator's control API is \
             under /_simulator/).",
            uri.path()
        ),
    )
    .into_reply(reply::new_request_id())
}

impl Simulator {
    /// Runs the checks and, if they pass, the action.
    async fn answer(&self, request: Request) -> Result<Answer, Refusal> {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            return Err(Refusal::new(
                codes::UNSUPPORTED_PROTOCOL,
                format!(
                    "This is the CAR cloud simulator; {} is not supported. Send POST / with a \
                     TC3-HMAC-SHA256-signed JSON body, or use the control API under /_simulator/.",
                    parts.method
                ),
            ));
        }
        let body = read_body(body).await?;

        // Latency comes first so that it also delays refusals, as a slow
        // network would; it is slept before any lock is taken.
        let named_action = header(&parts.headers, "x-tc-action").and_then(Action::from_name);
        let latency = lock(&self.shared.latency).of(named_action);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }

        let verifier = Verifier {
            credentials: &self.shared.credentials,
            max_clock_skew: self.shared.max_clock_skew,
            now: unix_now(),
        };
        verifier.verify(Signed {
            headers: &parts.headers,
            authority: parts.uri.authority().map(|authority| authority.as_str()),
            body: &body,
        })?;

        let action = action_of(&parts.headers)?;
        let user_id = requests::user_id_of(&body);
        lock(&self.shared.calls).record(action, user_id.clone(), &body);

        let fault = lock(&self.shared.faults).next_fault(action, || rand::rng().random());
        if let Some(code) = fault {
            tracing::info!(
                action = action.name(),
                code,
                user_id = user_id.as_deref().unwrap_or_default(),
                "fault injected"
            );
            return Err(Refusal::new(code, "Injected by the CAR simulator."));
        }

        check_content_type(&parts.headers)?;
        let request = CloudRequest::parse(action, &body)?;
        self.act(request)
    }

    /// Applies a validated request to the machines.
    fn act(&self, request: CloudRequest) -> Result<Answer, Refusal> {
        let now = Instant::now();
        let mut machines = lock(&self.shared.machines);
        let outcome = match request {
            CloudRequest::ApplyConcurrent(apply) => machines
                .apply(&apply.user_id, &apply.project_id, now)
                .map(|()| Answer::Done),
            CloudRequest::CreateSession(create) => {
                let server_session = reply::new_server_session();
                machines
                    .create_session(&create.user_id, server_session.clone(), now)
                    .map(|()| Answer::SessionCreated { server_session })
            }
            CloudRequest::DestroySession(destroy) => machines
                .destroy(&destroy.user_id, now)
                .map(|()| Answer::Done),
            CloudRequest::DescribeConcurrentCount(describe) => {
                let (total, running) = machines.count(&describe.project_id, now);
                Ok(Answer::ConcurrentCount { total, running })
            }
        };
        drop(machines);

        outcome.map_err(|refused| Refusal::new(refused.code(), refused.message()))
    }
}

/// The body, unless it is larger than the cloud would take.
async fn read_body(body: Body) -> Result<axum::body::Bytes, Refusal> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        Refusal::new(
            codes::REQUEST_SIZE_LIMIT_EXCEEDED,
            format!("The request body is larger than {MAX_BODY} bytes or could not be read."),
        )
    })
}

/// Step 3: the version and the action.
fn action_of(headers: &HeaderMap) -> Result<Action, Refusal> {
    let version = header(headers, "x-tc-version").ok_or_else(|| {
        Refusal::new(
            codes::MISSING_PARAMETER,
            "The request is missing the X-TC-Version header.",
        )
    })?;
    if version != VERSION {
        return Err(Refusal::new(
            codes::NO_SUCH_VERSION,
            format!("The API version {version:?} does not exist; CAR uses {VERSION}."),
        ));
    }

    let name = header(headers, "x-tc-action").ok_or_else(|| {
        Refusal::new(
            codes::MISSING_PARAMETER,
            "The request is missing the X-TC-Action header.",
        )
    })?;
    Action::from_name(name).ok_or_else(|| {
        Refusal::new(
            codes::INVALID_ACTION,
            format!("The action {name:?} does not exist in CAR {VERSION}."),
        )
    })
}

/// A signed POST to the cloud carries JSON; the simulator takes nothing else.
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let media_type = header(headers, "content-type")
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if media_type.is_some_and(|media_type| media_type.eq_ignore_ascii_case("application/json")) {
        Ok(())
    } else {
        Err(Refusal::new(
            codes::INVALID_PARAMETER,
            "The Content-Type must be application/json.",
        ))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// The simulator's clock for signature freshness, in unix seconds.
fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
