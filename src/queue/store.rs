//! The queue store: where lines, admissions and refusals live.
//!
//! Two stores implement [`QueueStore`]: [`MemoryStore`](super::memory::MemoryStore)
//! for one instance, and [`RedisStore`](super::redis::RedisStore) for several
//! instances sharing one line. Each method is one atomic change of the store's
//! state; the queue's rules that need the cloud (admission) are built on top,
//! in [`Admission`](super::admission::Admission), and never hold a store lock
//! across a cloud call.

use crate::domain::{ProjectId, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// A user in (or joining) a project's line, with what admission needs to
/// call ApplyConcurrent on its behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub user_id: UserId,
    pub project_id: ProjectId,
    /// Where the user connects from; the cloud schedules a machine near it.
    pub user_ip: IpAddr,
    pub application_id: Option<String>,
    pub application_version_id: Option<String>,
}

/// The cloud's permanent refusal of a queued user, kept for its next poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

/// What a poll found, after refreshing or joining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// Admitted and not yet expired: call StartProject now.
    Admitted,
    /// Admission hit a permanent cloud error for this user, who is no longer
    /// queued. Reported once.
    Refused(Refusal),
    /// In the project's line at `index` (0-based).
    Queued {
        index: u64,
        /// The user just joined a line that was empty: nobody waits ahead, so
        /// admission may run for it at once.
        joined_empty_line: bool,
    },
}

/// Where a user was when it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// It waited in this project's line.
    Line(ProjectId),
    /// It was admitted to this project: a machine is reserved for it.
    Admitted(ProjectId),
    /// It was neither.
    Absent,
}

/// The right to admit one project's line, held by one admission at a time
/// across every instance sharing the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub project_id: ProjectId,
    /// Tells this holder from a later one after the lease lapsed.
    pub token: String,
}

/// The store failed to answer (Redis unreachable, say).
#[derive(Debug, Clone, thiserror::Error)]
#[error("queue store: {0}")]
pub struct StoreError(pub String);

#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Enqueue's bookkeeping for one poll, atomically: an admitted user stays
    /// admitted (nothing refreshed); a refused user gets its refusal once; a
    /// queued user's last-seen time and fields are refreshed; a user queued
    /// for another project moves to the end of this one's line; anyone else
    /// joins the end.
    async fn poll(&self, waiting: &Waiting) -> Result<Polled, StoreError>;

    /// Removes the user from its line, the admitted set and the refusals.
    async fn leave(&self, user_id: &UserId) -> Result<Left, StoreError>;

    /// Projects whose lines are not empty, with their lengths.
    async fn lines(&self) -> Result<Vec<(ProjectId, u64)>, StoreError>;

    /// Drops every queued user whose last poll is older than `silent_for`,
    /// wherever it stands, and forgets lapsed admissions and refusals.
    /// Returns the dropped users.
    async fn drop_silent(
        &self,
        silent_for: Duration,
    ) -> Result<Vec<(UserId, ProjectId)>, StoreError>;

    /// The first user of a project's line.
    async fn head(&self, project_id: &ProjectId) -> Result<Option<Waiting>, StoreError>;

    /// Moves a user from its line to the admitted set, if the lease is still
    /// held and the user still waits in the lease's line.
    async fn admit(&self, lease: &Lease, user_id: &UserId) -> Result<bool, StoreError>;

    /// Drops a user from the lease's line and keeps the cloud's refusal for
    /// its next poll.
    async fn refuse(
        &self,
        lease: &Lease,
        user_id: &UserId,
        refusal: &Refusal,
    ) -> Result<(), StoreError>;

    /// Takes the lease on a project's line for `ttl`, unless someone holds it.
    async fn try_lease(
        &self,
        project_id: &ProjectId,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Extends a held lease; false when it lapsed and someone else took it.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives a lease back.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Succeeds when the store can serve requests.
    async fn ping(&self) -> Result<(), StoreError>;
}
