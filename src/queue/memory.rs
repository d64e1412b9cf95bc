//! The in-memory queue store, for a single instance. A restart empties it.
//!
//! Every queued user is one [`Entry`] in a slab, found by `UserId` through a
//! hash table of slab keys (so the id is stored once). Two orders thread
//! through the entries:
//!
//! - each project's [`Line`], for positions and heads;
//! - one recency list, oldest poll first, so that dropping silent users
//!   looks only at the users it drops rather than scanning every line.
//!
//! A poll is a hash lookup, a splice of the recency list and a Fenwick prefix
//! sum: O(log n) in the line's length, with no allocation for a user already
//! queued.

use super::line::Line;
use super::store::{Lease, Left, Polled, QueueStore, Refusal, StoreError, Waiting};
use crate::domain::{ProjectId, UserId};
use async_trait::async_trait;
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use slab::Slab;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// No entry: the end of the recency list.
const NIL: u32 = u32::MAX;

pub struct MemoryStore {
    /// A std mutex rather than Tokio's: every critical section is a few hash
    /// lookups and list splices with no `.await` inside, which a blocking lock
    /// serves faster, and which makes holding it across a cloud call
    /// impossible by construction.
    state: Mutex<State>,
    /// Times are kept as milliseconds since this instant.
    epoch: Instant,
    /// How long an admitted user may take to call StartProject.
    ready_ttl: Duration,
    /// How long a refusal waits for the refused user's next poll.
    refusal_ttl: Duration,
}

#[derive(Default)]
struct State {
    entries: Slab<Entry>,
    /// Slab keys, hashed by their entry's `UserId`.
    by_user: HashTable<u32>,
    hasher: DefaultHashBuilder,
    lines: HashMap<ProjectId, Line>,
    /// The entry that polled longest ago, and the one that polled last.
    oldest: Option<u32>,
    newest: Option<u32>,
    admitted: HashMap<UserId, Admitted>,
    refused: HashMap<UserId, (Refusal, u64)>,
    leases: HashMap<ProjectId, (String, u64)>,
    next_lease: u64,
}

/// One queued user.
struct Entry {
    user_id: Box<str>,
    project_id: ProjectId,
    user_ip: IpAddr,
    /// The optional ApplyConcurrent fields, boxed: most users have none.
    applications: Option<Box<Applications>>,
    ticket: u64,
    /// Milliseconds since the store's epoch.
    last_seen: u64,
    /// Neighbours in the recency list ([`NIL`] at either end).
    older: u32,
    newer: u32,
}

struct Applications {
    application_id: Option<String>,
    application_version_id: Option<String>,
}

struct Admitted {
    project_id: ProjectId,
    until: u64,
}

impl MemoryStore {
    pub fn new(ready_ttl: Duration, refusal_ttl: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            epoch: Instant::now(),
            ready_ttl,
            refusal_ttl,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-made change behind
        // that later calls would trip on (each change is finished before any
        // code that can panic), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().try_into().unwrap_or(u64::MAX)
}

impl State {
    fn find(&self, user_id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(user_id);
        self.by_user
            .find(hash, |key| &*self.entries[*key as usize].user_id == user_id)
            .copied()
    }

    /// Appends `key` to `project_id`'s line; true when the line was empty.
    fn join(&mut self, key: u32, project_id: &ProjectId) -> bool {
        let line = self.lines.entry_ref(project_id).or_default();
        let was_empty = line.is_empty();
        self.entries[key as usize].ticket = line.push(key);
        was_empty
    }

    /// Takes `key` out of its line, dropping the line once empty.
    fn part(&mut self, key: u32) {
        let entry = &self.entries[key as usize];
        let Some(line) = self.lines.get_mut(&entry.project_id) else {
            return;
        };
        line.remove(entry.ticket);
        if line.is_empty() {
            self.lines.remove(&entry.project_id);
        } else if line.wants_compaction() {
            let entries = &mut self.entries;
            line.compact(|key, ticket| entries[key as usize].ticket = ticket);
        }
    }

    fn unlink(&mut self, key: u32) {
        let (older, newer) = {
            let entry = &self.entries[key as usize];
            (entry.older, entry.newer)
        };
        match older {
            NIL => self.oldest = (newer != NIL).then_some(newer),
            older => self.entries[older as usize].newer = newer,
        }
        match newer {
            NIL => self.newest = (older != NIL).then_some(older),
            newer => self.entries[newer as usize].older = older,
        }
    }

    fn push_newest(&mut self, key: u32) {
        let previous = self.newest.unwrap_or(NIL);
        {
            let entry = &mut self.entries[key as usize];
            entry.older = previous;
            entry.newer = NIL;
        }
        match previous {
            NIL => self.oldest = Some(key),
            previous => self.entries[previous as usize].newer = key,
        }
        self.newest = Some(key);
    }

    /// Removes a queued user entirely and returns its entry.
    fn remove(&mut self, key: u32) -> Entry {
        self.part(key);
        self.unlink(key);
        let hash = self.hasher.hash_one(&*self.entries[key as usize].user_id);
        if let Ok(found) = self.by_user.find_entry(hash, |candidate| *candidate == key) {
            found.remove();
        }
        self.entries.remove(key as usize)
    }

    fn lease_held(&self, lease: &Lease, now: u64) -> bool {
        self.leases
            .get(&lease.project_id)
            .is_some_and(|(token, until)| *token == lease.token && *until > now)
    }

    /// The key of `user_id` if it waits in `project_id`'s line.
    fn find_in(&self, user_id: &UserId, project_id: &ProjectId) -> Option<u32> {
        self.find(user_id.as_str())
            .filter(|key| self.entries[*key as usize].project_id == *project_id)
    }
}

fn applications(waiting: &Waiting) -> Option<Box<Applications>> {
    (waiting.application_id.is_some() || waiting.application_version_id.is_some()).then(|| {
        Box::new(Applications {
            application_id: waiting.application_id.clone(),
            application_version_id: waiting.application_version_id.clone(),
        })
    })
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn poll(&self, waiting: &Waiting) -> Result<Polled, StoreError> {
        let now = self.now();
        let mut state = self.lock();
        let state = &mut *state;
        let user_id = &waiting.user_id;

        if let Some(admitted) = state.admitted.get(user_id) {
            if admitted.until > now {
                return Ok(Polled::Admitted);
            }
            state.admitted.remove(user_id);
        }
        if let Some((refusal, until)) = state.refused.remove(user_id)
            && until > now
        {
            return Ok(Polled::Refused(refusal));
        }

        let key = match state.find(user_id.as_str()) {
            Some(key) => {
                state.unlink(key);
                state.push_newest(key);
                let moved = state.entries[key as usize].project_id != waiting.project_id;
                if moved {
                    state.part(key);
                }
                let entry = &mut state.entries[key as usize];
                entry.last_seen = now;
                entry.user_ip = waiting.user_ip;
                entry.applications = applications(waiting);
                if !moved {
                    let line = &state.lines[&entry.project_id];
                    return Ok(Polled::Queued {
                        index: line.position(entry.ticket),
                        joined_empty_line: false,
                    });
                }
                entry.project_id = waiting.project_id.clone();
                key
            }
            None => {
                let key = state.entries.insert(Entry {
                    user_id: user_id.as_str().into(),
                    project_id: waiting.project_id.clone(),
                    user_ip: waiting.user_ip,
                    applications: applications(waiting),
                    ticket: 0,
                    last_seen: now,
                    older: NIL,
                    newer: NIL,
                });
                let key = u32::try_from(key).expect("fewer than 4 billion queued users");
                let hash = state.hasher.hash_one(user_id.as_str());
                let (entries, hasher) = (&state.entries, &state.hasher);
                state.by_user.insert_unique(hash, key, |key| {
                    hasher.hash_one(&*entries[*key as usize].user_id)
                });
                state.push_newest(key);
                key
            }
        };

        let joined_empty_line = state.join(key, &waiting.project_id);
        let line = &state.lines[&waiting.project_id];
        Ok(Polled::Queued {
            index: line.len() as u64 - 1,
            joined_empty_line,
        })
    }

    async fn leave(&self, user_id: &UserId) -> Result<Left, StoreError> {
        let mut state = self.lock();
        state.refused.remove(user_id);
        if let Some(admitted) = state.admitted.remove(user_id) {
            return Ok(Left::Admitted(admitted.project_id));
        }
        match state.find(user_id.as_str()) {
            Some(key) => Ok(Left::Line(state.remove(key).project_id)),
            None => Ok(Left::Absent),
        }
    }

    async fn lines(&self) -> Result<Vec<(ProjectId, u64)>, StoreError> {
        let state = self.lock();
        Ok(state
            .lines
            .iter()
            .map(|(project_id, line)| (project_id.clone(), line.len() as u64))
            .collect())
    }

    async fn drop_silent(
        &self,
        silent_for: Duration,
    ) -> Result<Vec<(UserId, ProjectId)>, StoreError> {
        let now = self.now();
        let cutoff = now.saturating_sub(millis(silent_for));
        let mut state = self.lock();

        let mut dropped = Vec::new();
        while let Some(oldest) = state.oldest {
            if state.entries[oldest as usize].last_seen >= cutoff {
                break;
            }
            let entry = state.remove(oldest);
            let user_id = UserId::parse(String::from(entry.user_id)).expect("stored ids are valid");
            dropped.push((user_id, entry.project_id));
        }

        state.admitted.retain(|_, admitted| admitted.until > now);
        state.refused.retain(|_, (_, until)| *until > now);
        state.leases.retain(|_, (_, until)| *until > now);
        Ok(dropped)
    }

    async fn head(&self, project_id: &ProjectId) -> Result<Option<Waiting>, StoreError> {
        let state = self.lock();
        let Some(key) = state.lines.get(project_id).and_then(Line::head) else {
            return Ok(None);
        };
        let entry = &state.entries[key as usize];
        let applications = entry.applications.as_deref();
        Ok(Some(Waiting {
            user_id: UserId::parse(&*entry.user_id).expect("stored ids are valid"),
            project_id: entry.project_id.clone(),
            user_ip: entry.user_ip,
            application_id: applications.and_then(|apps| apps.application_id.clone()),
            application_version_id: applications
                .and_then(|apps| apps.application_version_id.clone()),
        }))
    }

    async fn admit(&self, lease: &Lease, user_id: &UserId) -> Result<bool, StoreError> {
        let now = self.now();
        let mut state = self.lock();
        if !state.lease_held(lease, now) {
            return Ok(false);
        }
        let Some(key) = state.find_in(user_id, &lease.project_id) else {
            return Ok(false);
        };
        let entry = state.remove(key);
        state.admitted.insert(
            user_id.clone(),
            Admitted {
                project_id: entry.project_id,
                until: now + millis(self.ready_ttl),
            },
        );
        Ok(true)
    }

    async fn refuse(
        &self,
        lease: &Lease,
        user_id: &UserId,
        refusal: &Refusal,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let mut state = self.lock();
        if let Some(key) = state.find_in(user_id, &lease.project_id) {
            state.remove(key);
            state.refused.insert(
                user_id.clone(),
                (refusal.clone(), now + millis(self.refusal_ttl)),
            );
        }
        Ok(())
    }

    async fn try_lease(
        &self,
        project_id: &ProjectId,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let now = self.now();
        let mut state = self.lock();
        if let Some((_, until)) = state.leases.get(project_id)
            && *until > now
        {
            return Ok(None);
        }
        state.next_lease += 1;
        let token = state.next_lease.to_string();
        state
            .leases
            .insert(project_id.clone(), (token.clone(), now + millis(ttl)));
        Ok(Some(Lease {
            project_id: project_id.clone(),
            token,
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let now = self.now();
        let mut state = self.lock();
        if !state.lease_held(lease, now) {
            return Ok(false);
        }
        state.leases.insert(
            lease.project_id.clone(),
            (lease.token.clone(), now + millis(ttl)),
        );
        Ok(true)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .leases
            .get(&lease.project_id)
            .is_some_and(|(token, _)| *token == lease.token)
        {
            state.leases.remove(&lease.project_id);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
