//! The queue: one fair line per project while its machines are all taken.
//!
//! Nobody overtakes: while a project's line is not empty a newcomer joins its
//! end without any cloud call, and only the head is ever offered a machine.
//! A newcomer to an empty line is offered one at once. The pieces:
//!
//! - [`store`]: the trait every store implements, and its vocabulary;
//! - [`memory`] and [`redis`]: one instance, or several sharing a Redis;
//! - [`admission`]: the worker that admits heads as machines come free.

pub mod admission;
mod line;
pub mod memory;
pub mod redis;
pub mod store;

use crate::cloud::CarClient;
use crate::config::{QueueSettings, StoreSettings};
use crate::domain::UserId;
use admission::Admission;
use std::sync::Arc;
use std::time::Duration;
pub use store::{Left, Polled, QueueStore, Refusal, StoreError, Waiting};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long an Enqueue into an empty line waits for the cloud's answer.
const INLINE_ADMISSION_WAIT: Duration = Duration::from_secs(1);

/// Where a user stands after an Enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Its turn: call StartProject now (10101).
    Admitted,
    /// Waiting at this 0-based place (10100).
    Queued { index: u64 },
    /// The cloud refused it permanently; it is no longer queued (10202).
    Refused(Refusal),
}

/// The queue as the endpoints use it; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    store: Arc<dyn QueueStore>,
    admission: Admission,
    cloud: CarClient,
    settings: QueueSettings,
    wake: Arc<Notify>,
}

impl Queue {
    /// Opens the configured store.
    pub async fn open(settings: QueueSettings, cloud: CarClient) -> Result<Self, StoreError> {
        let store: Arc<dyn QueueStore> = match &settings.store {
            StoreSettings::Memory => Arc::new(memory::MemoryStore::new(
                settings.ready_ttl,
                settings.enqueue_timeout,
            )),
            StoreSettings::Redis {
                url,
                password,
                prefix,
            } => Arc::new(
                redis::RedisStore::connect(
                    url,
                    password.as_ref(),
                    prefix,
                    settings.ready_ttl,
                    settings.enqueue_timeout,
                )
                .await?,
            ),
        };
        Ok(Self::with_store(store, settings, cloud))
    }

    pub fn with_store(
        store: Arc<dyn QueueStore>,
        settings: QueueSettings,
        cloud: CarClient,
    ) -> Self {
        Self {
            admission: Admission::new(store.clone(), cloud.clone(), settings.enqueue_timeout),
            store,
            cloud,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Starts admission rounds in the background until `shutdown`.
    pub fn spawn_admission(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.admission.clone().run(
            self.settings.check_interval,
            self.wake.clone(),
            shutdown,
        ))
    }

    /// One Enqueue poll: join, refresh, or learn that it is one's turn.
    pub async fn enqueue(&self, waiting: &Waiting) -> Result<Standing, StoreError> {
        let polled = self.store.poll(waiting).await?;
        if let Polled::Queued {
            joined_empty_line: true,
            ..
        } = polled
        {
            // Nobody waits ahead: offer the newcomer a machine now rather
            // than at the next tick, then report where that left it. The
            // page polls again within a second or two anyway, so a slow
            // cloud answer is not awaited past that: admission carries on
            // in the background and the next poll sees its outcome.
            let admission = self.admission.clone();
            let project_id = waiting.project_id.clone();
            let attempt = tokio::spawn(async move { admission.admit_line(&project_id).await });
            let _ = tokio::time::timeout(INLINE_ADMISSION_WAIT, attempt).await;
            return Ok(self.store.poll(waiting).await?.into());
        }
        Ok(polled.into())
    }

    /// Leaves the line. A user who was admitted holds a reservation in the
    /// cloud: it is given back, and admission runs for the next in line.
    pub async fn dequeue(&self, user_id: &UserId) -> Result<(), StoreError> {
        if let Left::Admitted(project_id) = self.store.leave(user_id).await? {
            tracing::info!(
                user_id = user_id.as_str(),
                project_id = project_id.as_str(),
                "admitted user left the queue"
            );
            let queue = self.clone();
            let user_id = user_id.clone();
            tokio::spawn(async move { queue.give_back(&user_id).await });
        }
        Ok(())
    }

    /// Gives the user's reservation back to the cloud (DestroySession) and
    /// runs admission for the machine it frees. Best effort: a reservation
    /// the cloud no longer knows has lapsed already, which frees the machine
    /// just the same.
    pub async fn give_back(&self, user_id: &UserId) {
        match self.cloud.destroy_session(user_id.as_str()).await {
            Ok(_) => tracing::info!(user_id = user_id.as_str(), "reservation given back"),
            Err(error) => tracing::debug!(
                user_id = user_id.as_str(),
                %error,
                "could not give back the reservation; it will lapse"
            ),
        }
        self.wake();
    }

    /// With `QUEUE_STRICT=Y`, whether the user may start now: `None` when it
    /// is admitted or nobody waits; otherwise it is queued (or refreshed) and
    /// its place is returned. Without strict mode, always `None`.
    pub async fn start_permit(&self, waiting: &Waiting) -> Result<Option<u64>, StoreError> {
        if !self.settings.strict {
            return Ok(None);
        }
        match self.store.poll(waiting).await? {
            Polled::Admitted
            | Polled::Queued {
                joined_empty_line: true,
                ..
            } => Ok(None),
            Polled::Queued { index, .. } => Ok(Some(index)),
            // The refusal concerned an earlier attempt; StartProject asks
            // the cloud afresh.
            Polled::Refused(_) => Ok(None),
        }
    }

    /// The user's session started: it no longer waits and holds no admission.
    pub async fn started(&self, user_id: &UserId) -> Result<(), StoreError> {
        self.store.leave(user_id).await.map(drop)
    }

    /// The user's session ended: forget its queue state and admit the next
    /// users of every line now, since a machine just came free.
    pub async fn stopped(&self, user_id: &UserId) -> Result<(), StoreError> {
        let left = self.store.leave(user_id).await;
        self.wake();
        left.map(drop)
    }

    /// Runs an admission round now rather than at the next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Succeeds when the store can serve requests.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}

impl From<Polled> for Standing {
    fn from(polled: Polled) -> Self {
        match polled {
            Polled::Admitted => Standing::Admitted,
            Polled::Refused(refusal) => Standing::Refused(refusal),
            Polled::Queued { index, .. } => Standing::Queued { index },
        }
    }
}
