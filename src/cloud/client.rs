//! The CAR API client: signed calls with deadlines, retries and a rate limit.
//!
//! Every call goes through [`CarClient::call`], which
//!
//! - waits for the action's rate limiter, so that this process stays under
//!   the cloud's 100 requests per second per action however busy it is;
//! - signs the exact bytes it sends with TC3, the `Host` header included;
//! - retries transient failures with jittered exponential backoff, never past
//!   the action's deadline, and never retries a permanent refusal;
//! - records the outcome in the metrics and, on failure, in the log.

use super::error::CloudError;
use super::protocol::{
    Acknowledged, Action, ApplyConcurrent, ConcurrentCount, CreateSession, DescribeConcurrentCount,
    DestroySession, Envelope, FailureReply, SERVICE, SessionCreated, VERSION,
};
use super::tc3::{self, Credentials, Scope};
use crate::cloud::error::Class;
use backon::{BackoffBuilder, ExponentialBuilder};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::{Instant, timeout_at};
use url::Url;

/// Where and how to reach the cloud.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// Base URL of the API, e.g. `https://car.tencentcloudapi.com`.
    pub endpoint: Url,
    /// Sent as `X-TC-Region`; left out when `None`.
    pub region: Option<String>,
    pub credentials: Credentials,
    /// Replaces every action's own deadline when set (`CAR_TIMEOUT`).
    pub timeout: Option<Duration>,
    /// Requests per second allowed per action, below the cloud's 100.
    pub rate_limit: NonZeroU32,
}

/// A cheap-to-clone handle on the CAR API.
#[derive(Clone)]
pub struct CarClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    url: Url,
    /// The `Host` header as sent and signed: host, plus `:port` when the
    /// endpoint names a non-default port.
    host: String,
    region: Option<String>,
    credentials: Credentials,
    timeout: Option<Duration>,
    /// One limiter per action, indexed like `Action::ALL`: the cloud counts
    /// each action's budget separately.
    limiters: Vec<DefaultDirectRateLimiter>,
}

impl CarClient {
    pub fn new(settings: CloudSettings) -> Result<Self, String> {
        let host = match (settings.endpoint.host_str(), settings.endpoint.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(format!("{} has no host", settings.endpoint)),
        };
        // HTTP/1.1 only: the signature covers the Host header, which HTTP/2
        // would replace with an `:authority` pseudo-header.
        let http = reqwest::Client::builder()
            .http1_only()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("car_server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
        let quota = Quota::per_second(settings.rate_limit);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                url: settings.endpoint,
                host,
                region: settings.region.filter(|region| !region.is_empty()),
                credentials: settings.credentials,
                timeout: settings.timeout,
                limiters: Action::ALL
                    .iter()
                    .map(|_| RateLimiter::direct(quota))
                    .collect(),
            }),
        })
    }

    /// Reserves a machine of the project for the user.
    pub async fn apply_concurrent(&self, request: &ApplyConcurrent) -> Result<String, CloudError> {
        let reply: Acknowledged = self.call(Action::ApplyConcurrent, request).await?;
        Ok(reply.request_id)
    }

    /// Starts the stream on the user's reserved machine.
    pub async fn create_session(
        &self,
        request: &CreateSession,
    ) -> Result<SessionCreated, CloudError> {
        self.call(Action::CreateSession, request).await
    }

    /// Ends the user's session, freeing its machine.
    pub async fn destroy_session(&self, user_id: &str) -> Result<String, CloudError> {
        let request = DestroySession {
            user_id: user_id.to_owned(),
        };
        let reply: Acknowledged = self.call(Action::DestroySession, &request).await?;
        Ok(reply.request_id)
    }

    /// How many machines the project has, and how many are in use.
    pub async fn describe_concurrent_count(
        &self,
        project_id: &str,
    ) -> Result<ConcurrentCount, CloudError> {
        let request = DescribeConcurrentCount {
            project_id: project_id.to_owned(),
        };
        self.call(Action::DescribeConcurrentCount, &request).await
    }

    /// The deadline this client gives `action`.
    pub fn deadline(&self, action: Action) -> Duration {
        self.inner.timeout.unwrap_or_else(|| action.deadline())
    }

    async fn call<Request, Reply>(
        &self,
        action: Action,
        request: &Request,
    ) -> Result<Reply, CloudError>
    where
        Request: Serialize,
        Reply: DeserializeOwned,
    {
        let started = Instant::now();
        let deadline = started + self.deadline(action);
        let payload = serde_json::to_vec(request).expect("request types always serialise");
        let mut backoff = ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(4)
            .build();

        let outcome = loop {
            let attempt = self.attempt(action, &payload, deadline).await;
            let Err(error) = attempt else { break attempt };
            if error.class() != Class::Transient {
                break Err(error);
            }
            match backoff.next() {
                Some(pause) if Instant::now() + pause < deadline => {
                    tracing::debug!(%action, code = error.code(), ?pause, "retrying a transient cloud failure");
                    tokio::time::sleep(pause).await;
                }
                _ => break Err(error),
            }
        };

        crate::telemetry::record_cloud_call(action, outcome.as_ref().err(), started.elapsed());
        match &outcome {
            // "No machine free" is the queue's everyday signal, not a fault.
            Err(error) if error.class() == Class::NoIdle => {
                tracing::debug!(%action, cloud_request_id = error.request_id().unwrap_or(""), "no idle machine");
            }
            Err(error) => tracing::warn!(
                %action,
                code = error.code(),
                cloud_request_id = error.request_id().unwrap_or(""),
                %error,
                "cloud call failed"
            ),
            Ok(_) => {}
        }
        outcome
    }

    /// One signed request, answered or abandoned by `deadline`.
    async fn attempt<Reply: DeserializeOwned>(
        &self,
        action: Action,
        payload: &[u8],
        deadline: Instant,
    ) -> Result<Reply, CloudError> {
        let timed_out = || CloudError::Timeout {
            action,
            deadline: self.deadline(action),
        };
        let limiter = &self.inner.limiters[action as usize];
        timeout_at(deadline, limiter.until_ready())
            .await
            .map_err(|_| timed_out())?;

        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() as i64);
        let authorization = tc3::authorization(
            &self.inner.credentials,
            Scope {
                service: SERVICE,
                timestamp,
            },
            "application/json",
            &self.inner.host,
            payload,
        );

        let mut request = self
            .inner
            .http
            .post(self.inner.url.clone())
            .header("Host", &self.inner.host)
            .header("Content-Type", "application/json")
            .header("Authorization", authorization)
            .header("X-TC-Action", action.name())
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .body(payload.to_vec());
        if let Some(region) = &self.inner.region {
            request = request.header("X-TC-Region", region);
        }

        let exchange = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        };
        let (status, body) = match timeout_at(deadline, exchange).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(error)) => {
                return Err(CloudError::Unreachable {
                    action,
                    detail: error.without_url().to_string(),
                });
            }
            Ok(Ok(answer)) => answer,
        };

        parse_reply(action, status, &body)
    }
}

/// Reads `{"Response":{…}}`, turning `Response.Error` into [`CloudError::Refused`].
fn parse_reply<Reply: DeserializeOwned>(
    action: Action,
    status: reqwest::StatusCode,
    body: &[u8],
) -> Result<Reply, CloudError> {
    let malformed = |detail: String| CloudError::Malformed { action, detail };

    let envelope: Envelope<&RawValue> = serde_json::from_slice(body)
        .map_err(|_| malformed(format!("HTTP {status} with a body that is not a CAR reply")))?;
    let response = envelope.response.get();

    #[derive(serde::Deserialize)]
    struct ErrorProbe {
        #[serde(rename = "Error")]
        error: Option<serde::de::IgnoredAny>,
    }
    let probe: ErrorProbe = serde_json::from_str(response)
        .map_err(|error| malformed(format!("unreadable Response: {error}")))?;
    if probe.error.is_some() {
        let failure: FailureReply = serde_json::from_str(response)
            .map_err(|error| malformed(format!("unreadable Response.Error: {error}")))?;
        return Err(CloudError::Refused {
            action,
            code: failure.error.code,
            message: failure.error.message,
            request_id: failure.request_id,
        });
    }
    serde_json::from_str(response)
        .map_err(|error| malformed(format!("unexpected {action} reply: {error}")))
}

impl std::fmt::Debug for CarClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarClient")
            .field("endpoint", &self.inner.url.as_str())
            .field("region", &self.inner.region)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_the_cloud_code_message_and_request_id() {
        let body = br#"{"Response":{"Error":{"Code":"ResourceNotFound.NoIdle","Message":"no idle"},"RequestId":"r-1"}}"#;
        let error =
            parse_reply::<Acknowledged>(Action::ApplyConcurrent, reqwest::StatusCode::OK, body)
                .unwrap_err();
        assert_eq!(error.code(), "ResourceNotFound.NoIdle");
        assert_eq!(error.request_id(), Some("r-1"));
        assert_eq!(error.class(), Class::NoIdle);
    }

    #[test]
    fn a_gateway_error_page_is_a_transient_malformed_answer() {
        let error = parse_reply::<Acknowledged>(
            Action::CreateSession,
            reqwest::StatusCode::BAD_GATEWAY,
            b"<html>502</html>",
        )
        .unwrap_err();
        assert!(matches!(error, CloudError::Malformed { .. }));
        assert_eq!(error.class(), Class::Transient);
    }

    #[test]
    fn a_success_reads_the_actions_fields() {
        let body = br#"{"Response":{"ServerSession":"abc","RequestId":"r-2"}}"#;
        let created =
            parse_reply::<SessionCreated>(Action::CreateSession, reqwest::StatusCode::OK, body)
                .unwrap();
        assert_eq!(created.server_session, "abc");
        assert_eq!(created.request_id, "r-2");
    }

    #[test]
    fn the_debug_output_never_shows_the_secret_key() {
        let client = CarClient::new(CloudSettings {
            endpoint: Url::parse("https://car.tencentcloudapi.com").unwrap(),
            region: Some("ap-guangzhou".into()),
            credentials: Credentials::new("AKIDpublic", "the-secret-key"),
            timeout: None,
            rate_limit: NonZeroU32::new(90).unwrap(),
        })
        .unwrap();
        let debug = format!("{client:?}");
        assert!(debug.contains("AKIDpublic"));
        assert!(!debug.contains("the-secret-key"));
    }
}
