//! Admission: turning the heads of lines into admitted users.
//!
//! A round of admission drops users who stopped polling, then admits each
//! non-empty line on its own task, so that a slow cloud answer for one
//! project never holds up another. Admitting a line means: take the line's
//! lease (one admitter per line across all instances), then call
//! ApplyConcurrent for its head, and keep going while the cloud says yes.
//!
//! | the cloud says            | the head                        | the line        |
//! |---------------------------|---------------------------------|-----------------|
//! | yes                       | admitted for `READY_TTL`        | next head       |
//! | `NoIdle`, transient error | stays at the head               | stops this round|
//! | permanent error           | dropped; its next poll gets 10202 | next head     |
//!
//! Rounds run every `QUEUE_CHECK_INTERVAL`, and at once when this instance
//! frees a machine ([`Queue::wake`](super::Queue::wake)).

use super::store::{Lease, QueueStore, Refusal};
use crate::cloud::CarClient;
use crate::cloud::error::{Class, CloudError};
use crate::cloud::protocol::{Action, ApplyConcurrent};
use crate::domain::ProjectId;
use crate::telemetry::LineGauges;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Admits heads of lines; cheap to clone.
#[derive(Clone)]
pub struct Admission {
    store: Arc<dyn QueueStore>,
    cloud: CarClient,
    /// Queued users silent longer than this are dropped.
    enqueue_timeout: Duration,
    /// The queue-length gauges this worker sets each round.
    gauges: Arc<Mutex<LineGauges>>,
}

impl Admission {
    pub fn new(store: Arc<dyn QueueStore>, cloud: CarClient, enqueue_timeout: Duration) -> Self {
        Self {
            store,
            cloud,
            enqueue_timeout,
            gauges: Arc::default(),
        }
    }

    /// Long enough to cover one ApplyConcurrent, so that a live admitter
    /// never loses its lease mid-call; short enough that a crashed one
    /// stalls its line only briefly.
    fn lease_ttl(&self) -> Duration {
        self.cloud.deadline(Action::ApplyConcurrent) + Duration::from_secs(5)
    }

    /// Admits `project_id`'s line as far as the cloud allows, unless another
    /// admitter holds the line's lease.
    pub async fn admit_line(&self, project_id: &ProjectId) {
        let lease = match self.store.try_lease(project_id, self.lease_ttl()).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(project_id = project_id.as_str(), %error, "admission skipped: queue store unavailable");
                return;
            }
        };

        if let Err(error) = self.admit_heads(&lease).await {
            tracing::warn!(project_id = project_id.as_str(), %error, "admission interrupted: queue store unavailable");
        }
        if let Err(error) = self.store.release(&lease).await {
            tracing::debug!(project_id = project_id.as_str(), %error, "could not release the admission lease; it will lapse");
        }
    }

    async fn admit_heads(&self, lease: &Lease) -> Result<(), super::StoreError> {
        let project_id = &lease.project_id;
        while let Some(head) = self.store.head(project_id).await? {
            let request = ApplyConcurrent {
                user_id: head.user_id.to_string(),
                user_ip: head.user_ip.to_string(),
                project_id: project_id.to_string(),
                application_id: head.application_id.clone(),
                application_version_id: head.application_version_id.clone(),
            };
            match self.cloud.apply_concurrent(&request).await {
                Ok(cloud_request_id) => {
                    if self.store.admit(lease, &head.user_id).await? {
                        crate::telemetry::record_admission(project_id);
                        tracing::info!(
                            user_id = head.user_id.as_str(),
                            project_id = project_id.as_str(),
                            cloud_request_id = cloud_request_id.as_str(),
                            "user admitted"
                        );
                    } else {
                        // The user left, or our lease lapsed, while the cloud
                        // answered; the reservation lapses in the cloud.
                        tracing::info!(
                            user_id = head.user_id.as_str(),
                            project_id = project_id.as_str(),
                            "admission granted after the user left; the reservation will lapse"
                        );
                    }
                }
                Err(error) => match error.class() {
                    Class::NoIdle => break,
                    Class::Transient => break,
                    Class::Permanent => {
                        self.store
                            .refuse(lease, &head.user_id, &refusal(&error))
                            .await?;
                        crate::telemetry::record_drop(project_id, "refused");
                        tracing::warn!(
                            user_id = head.user_id.as_str(),
                            project_id = project_id.as_str(),
                            code = error.code(),
                            "user refused by the cloud and dropped from the line"
                        );
                    }
                },
            }
            if !self.store.renew(lease, self.lease_ttl()).await? {
                tracing::warn!(
                    project_id = project_id.as_str(),
                    "admission lease lapsed; another admitter took the line"
                );
                break;
            }
        }
        Ok(())
    }

    /// One round: drop silent users, then admit every line on its own task.
    pub async fn round(&self, tasks: &TaskTracker) {
        match self.store.drop_silent(self.enqueue_timeout).await {
            Ok(dropped) => {
                for (user_id, project_id) in dropped {
                    crate::telemetry::record_drop(&project_id, "silent");
                    tracing::info!(
                        user_id = user_id.as_str(),
                        project_id = project_id.as_str(),
                        "user dropped for silence"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(%error, "admission round skipped: queue store unavailable");
                return;
            }
        }

        let lines = match self.store.lines().await {
            Ok(lines) => lines,
            Err(error) => {
                tracing::warn!(%error, "admission round skipped: queue store unavailable");
                return;
            }
        };
        self.gauges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .record(&lines);
        for (project_id, _) in lines {
            let admission = self.clone();
            tasks.spawn(async move {
                admission.admit_line(&project_id).await;
            });
        }
    }

    /// Runs rounds every `interval` and whenever `wake` is notified, until
    /// `shutdown`; then waits for line admissions already under way.
    pub async fn run(self, interval: Duration, wake: Arc<Notify>, shutdown: CancellationToken) {
        let tasks = TaskTracker::new();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
                _ = wake.notified() => {}
            }
            self.round(&tasks).await;
        }
        tasks.close();
        tasks.wait().await;
        tracing::debug!("admission stopped");
    }
}

/// The part of a cloud error kept for the refused user's next poll.
pub fn refusal(error: &CloudError) -> Refusal {
    match error {
        CloudError::Refused {
            code,
            message,
            request_id,
            ..
        } => Refusal {
            code: code.clone(),
            message: message.clone(),
            request_id: request_id.clone(),
        },
        other => Refusal {
            code: other.code().to_owned(),
            message: other.to_string(),
            request_id: String::new(),
        },
    }
}
