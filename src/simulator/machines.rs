//! The simulated cloud's machines: who holds one, in which project, and for
//! how long.
//!
//! Every project has the same number of machines (its capacity). A machine is
//! free, *reserved* for a user by `ApplyConcurrent` — until the reservation
//! lifetime runs out, unless `CreateSession` follows — or *in a session* until
//! `DestroySession`. A user holds at most one machine in all projects, which
//! is how the cloud keys its concurrency: by `UserId`.
//!
//! Lapsed reservations are reclaimed lazily: every operation first drops the
//! ones whose time is up, so no timer task is needed and no answer can ever
//! count a lapsed reservation. The clock is a parameter of every operation,
//! which keeps this a plain state machine that tests can drive through time.

use crate::cloud::protocol::codes;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What a user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hold {
    /// Reserved by `ApplyConcurrent`; lapses at `until` unless a session starts.
    Reserved { until: Instant },
    /// Streaming; lasts until `DestroySession`.
    Session { server_session: String },
}

/// One user's machine.
#[derive(Debug, Clone)]
struct Machine {
    /// The project whose machine this is.
    project_id: String,
    /// Its state.
    hold: Hold,
}

/// Why the cloud refused an operation on the machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every machine of the project is reserved or in a session.
    NoIdle,
    /// `CreateSession` without a live reservation: none was made, or it lapsed.
    LockTimeout,
    /// `DestroySession` for a user who holds nothing.
    SessionNotFound,
}

impl Refused {
    /// The cloud's error code for this refusal.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refused::NoIdle => codes::NO_IDLE,
            Refused::LockTimeout => codes::LOCK_TIMEOUT,
            Refused::SessionNotFound => codes::SESSION_NOT_FOUND,
        }
    }

    /// A message in the spirit of the cloud's.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refused::NoIdle => "No idle concurrency is available in this project.",
            Refused::LockTimeout => {
                "The concurrency reservation for this user does not exist or has expired; \
                 call ApplyConcurrent first."
            }
            Refused::SessionNotFound => "No session or reservation exists for this user.",
        }
    }
}

/// One project's machines as seen from outside, for the control API and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectSnapshot {
    /// Machines the project has.
    pub total: u32,
    /// Reserved plus in a session.
    pub running: u32,
    /// Users holding an unexpired reservation, sorted.
    pub reserved_users: Vec<String>,
    /// Users in a session, sorted.
    pub session_users: Vec<String>,
}

/// All machines of all projects.
#[derive(Debug)]
pub(crate) struct Machines {
    /// Machines per project; changing it never evicts anyone, it only decides
    /// whether the next `ApplyConcurrent` finds a free one.
    capacity: u32,
    /// How long a reservation waits for its `CreateSession`.
    reservation_ttl: Duration,
    /// Keyed by `UserId`: a user holds at most one machine.
    by_user: HashMap<String, Machine>,
}

impl Machines {
    pub(crate) fn new(capacity: u32, reservation_ttl: Duration) -> Self {
        Self {
            capacity,
            reservation_ttl,
            by_user: HashMap::new(),
        }
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    pub(crate) fn reservation_ttl(&self) -> Duration {
        self.reservation_ttl
    }

    pub(crate) fn set_capacity(&mut self, capacity: u32) {
        self.capacity = capacity;
    }

    /// `ApplyConcurrent`: reserve a machine of `project_id` for `user_id`.
    ///
    /// A user who already holds a machine in this project keeps it (a
    /// reservation is refreshed, a session left as it is), so retrying never
    /// takes a second machine. A machine in another project is given up first,
    /// even if this project then turns out to be full.
    pub(crate) fn apply(
        &mut self,
        user_id: &str,
        project_id: &str,
        now: Instant,
    ) -> Result<(), Refused> {
        self.reclaim_lapsed(now);
        let until = now + self.reservation_ttl;

        if let Some(machine) = self.by_user.get_mut(user_id) {
            if machine.project_id == project_id {
                if let Hold::Reserved { until: current } = &mut machine.hold {
                    *current = until;
                    tracing::debug!(user_id, project_id, "reservation refreshed");
                }
                return Ok(());
            }
            let previous = self.by_user.remove(user_id).map(|m| m.project_id);
            tracing::info!(
                user_id,
                project_id = previous.as_deref().unwrap_or_default(),
                "machine released: the user applied in another project"
            );
        }

        if self.running(project_id) >= self.capacity {
            return Err(Refused::NoIdle);
        }
        self.by_user.insert(
            user_id.to_owned(),
            Machine {
                project_id: project_id.to_owned(),
                hold: Hold::Reserved { until },
            },
        );
        tracing::info!(user_id, project_id, "machine reserved");
        Ok(())
    }

    /// `CreateSession`: turn the user's reservation into a session, or replace
    /// the user's session, on the same machine.
    pub(crate) fn create_session(
        &mut self,
        user_id: &str,
        server_session: String,
        now: Instant,
    ) -> Result<(), Refused> {
        self.reclaim_lapsed(now);
        let machine = self.by_user.get_mut(user_id).ok_or(Refused::LockTimeout)?;
        machine.hold = Hold::Session { server_session };
        tracing::info!(
            user_id,
            project_id = machine.project_id.as_str(),
            "session created"
        );
        Ok(())
    }

    /// `DestroySession`: free the user's machine, whatever its state.
    pub(crate) fn destroy(&mut self, user_id: &str, now: Instant) -> Result<(), Refused> {
        self.reclaim_lapsed(now);
        let machine = self
            .by_user
            .remove(user_id)
            .ok_or(Refused::SessionNotFound)?;
        let was = match machine.hold {
            Hold::Reserved { .. } => "reservation",
            Hold::Session { .. } => "session",
        };
        tracing::info!(
            user_id,
            project_id = machine.project_id.as_str(),
            was,
            "session destroyed"
        );
        Ok(())
    }

    /// `DescribeConcurrentCount`: `(total, running)` of a project.
    pub(crate) fn count(&mut self, project_id: &str, now: Instant) -> (u32, u32) {
        self.reclaim_lapsed(now);
        (self.capacity, self.running(project_id))
    }

    /// Whether the user is in a session (a bare reservation does not count).
    pub(crate) fn has_session(&mut self, user_id: &str, now: Instant) -> bool {
        self.reclaim_lapsed(now);
        self.by_user
            .get(user_id)
            .is_some_and(|machine| matches!(machine.hold, Hold::Session { .. }))
    }

    /// The user's current `ServerSession`, if in a session.
    #[cfg(test)]
    fn server_session(&self, user_id: &str) -> Option<&str> {
        match &self.by_user.get(user_id)?.hold {
            Hold::Session { server_session } => Some(server_session),
            Hold::Reserved { .. } => None,
        }
    }

    /// Every project that has at least one machine held.
    pub(crate) fn snapshot(&mut self, now: Instant) -> BTreeMap<String, ProjectSnapshot> {
        self.reclaim_lapsed(now);
        let mut projects: BTreeMap<String, ProjectSnapshot> = BTreeMap::new();
        for (user_id, machine) in &self.by_user {
            let project = projects
                .entry(machine.project_id.clone())
                .or_insert_with(|| ProjectSnapshot {
                    total: self.capacity,
                    running: 0,
                    reserved_users: Vec::new(),
                    session_users: Vec::new(),
                });
            project.running += 1;
            match machine.hold {
                Hold::Reserved { .. } => project.reserved_users.push(user_id.clone()),
                Hold::Session { .. } => project.session_users.push(user_id.clone()),
            }
        }
        for project in projects.values_mut() {
            project.reserved_users.sort();
            project.session_users.sort();
        }
        projects
    }

    /// Machines of `project_id` reserved or in a session. Callers reclaim first.
    fn running(&self, project_id: &str) -> u32 {
        let held = self
            .by_user
            .values()
            .filter(|machine| machine.project_id == project_id)
            .count();
        u32::try_from(held).unwrap_or(u32::MAX)
    }

    /// Frees every reservation whose lifetime has run out by `now`.
    fn reclaim_lapsed(&mut self, now: Instant) {
        self.by_user.retain(|user_id, machine| {
            let lapsed = matches!(machine.hold, Hold::Reserved { until } if until <= now);
            if lapsed {
                tracing::info!(
                    user_id,
                    project_id = machine.project_id.as_str(),
                    "reservation lapsed"
                );
            }
            !lapsed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    /// A fresh set of machines and a clock reading far enough from the
    /// monotonic clock's origin that tests may also look back in time.
    fn machines(capacity: u32) -> (Machines, Instant) {
        let now = Instant::now() + Duration::from_secs(3600);
        (Machines::new(capacity, TTL), now)
    }

    #[test]
    fn a_project_hands_out_no_more_machines_than_its_capacity() {
        let (mut machines, now) = machines(2);
        assert_eq!(machines.apply("u1", "p", now), Ok(()));
        assert_eq!(machines.apply("u2", "p", now), Ok(()));
        assert_eq!(machines.apply("u3", "p", now), Err(Refused::NoIdle));
        assert_eq!(machines.count("p", now), (2, 2));

        // Capacity is per project: another project still has its own.
        assert_eq!(machines.apply("u3", "q", now), Ok(()));
        assert_eq!(machines.count("q", now), (2, 1));
    }

    #[test]
    fn applying_again_in_the_same_project_takes_no_second_machine() {
        let (mut machines, now) = machines(1);
        machines.apply("u1", "p", now).unwrap();
        assert_eq!(machines.apply("u1", "p", now), Ok(()));
        assert_eq!(machines.count("p", now), (1, 1));
        assert_eq!(machines.apply("u2", "p", now), Err(Refused::NoIdle));
    }

    #[test]
    fn applying_again_refreshes_the_reservation() {
        let (mut machines, start) = machines(1);
        machines.apply("u1", "p", start).unwrap();
        machines.apply("u1", "p", start + TTL / 2).unwrap();

        let later = start + TTL + Duration::from_secs(1);
        assert_eq!(machines.count("p", later), (1, 1));
        machines
            .create_session("u1", "s".into(), later)
            .expect("the refreshed reservation is still alive");
    }

    #[test]
    fn applying_again_while_in_a_session_keeps_the_session() {
        let (mut machines, now) = machines(1);
        machines.apply("u1", "p", now).unwrap();
        machines.create_session("u1", "s1".into(), now).unwrap();
        machines.apply("u1", "p", now).unwrap();

        assert!(machines.has_session("u1", now + TTL * 10));
        assert_eq!(machines.count("p", now), (1, 1));
    }

    #[test]
    fn a_reservation_lapses_and_create_session_then_answers_lock_timeout() {
        let (mut machines, start) = machines(1);
        machines.apply("u1", "p", start).unwrap();

        let lapsed = start + TTL;
        assert_eq!(machines.count("p", lapsed), (1, 0));
        assert_eq!(
            machines.create_session("u1", "s".into(), lapsed),
            Err(Refused::LockTimeout)
        );
        // The machine went back to the pool for someone else.
        assert_eq!(machines.apply("u2", "p", lapsed), Ok(()));
    }

    #[test]
    fn create_session_without_any_reservation_answers_lock_timeout() {
        let (mut machines, now) = machines(1);
        assert_eq!(
            machines.create_session("u1", "s".into(), now),
            Err(Refused::LockTimeout)
        );
        assert!(!machines.has_session("u1", now));
    }

    #[test]
    fn a_session_does_not_lapse_and_holds_its_machine_until_destroyed() {
        let (mut machines, start) = machines(1);
        machines.apply("u1", "p", start).unwrap();
        machines.create_session("u1", "s".into(), start).unwrap();

        let much_later = start + TTL * 100;
        assert!(machines.has_session("u1", much_later));
        assert_eq!(machines.apply("u2", "p", much_later), Err(Refused::NoIdle));

        assert_eq!(machines.destroy("u1", much_later), Ok(()));
        assert!(!machines.has_session("u1", much_later));
        assert_eq!(machines.apply("u2", "p", much_later), Ok(()));
    }

    #[test]
    fn create_session_again_replaces_the_session_on_the_same_machine() {
        let (mut machines, now) = machines(1);
        machines.apply("u1", "p", now).unwrap();
        machines.create_session("u1", "first".into(), now).unwrap();
        machines.create_session("u1", "second".into(), now).unwrap();
        assert_eq!(machines.server_session("u1"), Some("second"));
        assert_eq!(machines.count("p", now), (1, 1));
    }

    #[test]
    fn destroying_for_an_unknown_user_answers_session_not_found() {
        let (mut machines, now) = machines(1);
        assert_eq!(
            machines.destroy("nobody", now),
            Err(Refused::SessionNotFound)
        );

        machines.apply("u1", "p", now).unwrap();
        machines.create_session("u1", "s".into(), now).unwrap();
        machines.destroy("u1", now).unwrap();
        assert_eq!(machines.destroy("u1", now), Err(Refused::SessionNotFound));
    }

    #[test]
    fn destroying_frees_a_bare_reservation_too() {
        let (mut machines, now) = machines(1);
        machines.apply("u1", "p", now).unwrap();
        assert_eq!(machines.destroy("u1", now), Ok(()));
        assert_eq!(machines.count("p", now), (1, 0));
    }

    #[test]
    fn applying_in_another_project_releases_the_first_machine() {
        let (mut machines, now) = machines(1);
        machines.apply("u1", "p", now).unwrap();
        machines.create_session("u1", "s".into(), now).unwrap();

        assert_eq!(machines.apply("u1", "q", now), Ok(()));
        assert_eq!(machines.count("p", now), (1, 0));
        assert_eq!(machines.count("q", now), (1, 1));
        assert!(!machines.has_session("u1", now));
        assert_eq!(machines.apply("u2", "p", now), Ok(()));
    }

    #[test]
    fn applying_in_a_full_project_still_releases_the_first_machine() {
        let (mut machines, now) = machines(1);
        machines.apply("u1", "p", now).unwrap();
        machines.apply("u2", "q", now).unwrap();

        assert_eq!(machines.apply("u1", "q", now), Err(Refused::NoIdle));
        assert_eq!(machines.count("p", now), (1, 0));
    }

    #[test]
    fn lowering_the_capacity_evicts_no_one_but_refuses_newcomers() {
        let (mut machines, now) = machines(3);
        machines.apply("u1", "p", now).unwrap();
        machines.apply("u2", "p", now).unwrap();
        machines.set_capacity(1);

        assert_eq!(machines.count("p", now), (1, 2));
        assert_eq!(machines.apply("u3", "p", now), Err(Refused::NoIdle));
        machines.destroy("u1", now).unwrap();
        assert_eq!(machines.apply("u3", "p", now), Err(Refused::NoIdle));
        machines.destroy("u2", now).unwrap();
        assert_eq!(machines.apply("u3", "p", now), Ok(()));
    }

    #[test]
    fn a_snapshot_lists_who_holds_what() {
        let (mut machines, now) = machines(3);
        machines.apply("u2", "p", now).unwrap();
        machines.apply("u1", "p", now).unwrap();
        machines.apply("u3", "p", now).unwrap();
        machines.create_session("u3", "s".into(), now).unwrap();
        machines.apply("u4", "q", now - TTL).unwrap();

        let snapshot = machines.snapshot(now);
        assert_eq!(
            snapshot.len(),
            1,
            "the lapsed project q is gone: {snapshot:?}"
        );
        assert_eq!(
            snapshot["p"],
            ProjectSnapshot {
                total: 3,
                running: 3,
                reserved_users: vec!["u1".into(), "u2".into()],
                session_users: vec!["u3".into()],
            }
        );
    }
}
