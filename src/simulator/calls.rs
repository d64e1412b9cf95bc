//! Counting the calls the simulated cloud received, so that tests can assert
//! "the cloud was (not) called for this user".
//!
//! A call counts once it has passed authentication and named a known action,
//! whatever happens next: an injected fault, a validation error or a refusal
//! of the machines still means the cloud was called.

use crate::cloud::protocol::Action;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// How many (action, user) pairs get counters and a latest request.
const MAX_USERS_RECORDED: usize = 10_000;

/// Counters per action, and per action and `UserId`.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    /// Every counted call of each action.
    per_action: HashMap<Action, u64>,
    /// Calls whose body carried a string `UserId`.
    per_user: HashMap<(Action, String), u64>,
    /// The body of each user's latest call of each action, so that tests can
    /// check what reached the cloud (the `UserIp`, the fields passed through).
    latest: HashMap<(Action, String), serde_json::Value>,
}

/// One action's counters, for the control API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActionCalls {
    /// Every counted call.
    pub total: u64,
    /// Calls per `UserId`, for the actions that carry one.
    pub by_user: BTreeMap<String, u64>,
}

impl Calls {
    pub(crate) fn record(&mut self, action: Action, user_id: Option<String>, body: &[u8]) {
        *self.per_action.entry(action).or_default() += 1;
        // Per-user records are for tests, which see a handful of users; a
        // long `--simulate` session sees endless new ones, so past a bound
        // new users are counted in the totals only.
        let known = user_id
            .as_ref()
            .is_some_and(|user_id| self.per_user.contains_key(&(action, user_id.clone())));
        if !known && self.per_user.len() >= MAX_USERS_RECORDED {
            return;
        }
        if let Some(user_id) = user_id {
            *self.per_user.entry((action, user_id.clone())).or_default() += 1;
            if let Ok(body) = serde_json::from_slice(body) {
                self.latest.insert((action, user_id), body);
            }
        }
    }

    pub(crate) fn latest(&self, action: Action, user_id: &str) -> Option<serde_json::Value> {
        self.latest.get(&(action, user_id.to_owned())).cloned()
    }

    pub(crate) fn of(&self, action: Action) -> u64 {
        self.per_action.get(&action).copied().unwrap_or(0)
    }

    pub(crate) fn of_user(&self, action: Action, user_id: &str) -> u64 {
        // The key owns its String, so look up by building one; counting is
        // a test-time operation and this keeps the map simple.
        self.per_user
            .get(&(action, user_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every action with its counters, keyed by action name.
    pub(crate) fn summary(&self) -> BTreeMap<&'static str, ActionCalls> {
        let mut summary: BTreeMap<&'static str, ActionCalls> = Action::ALL
            .iter()
            .map(|action| {
                let calls = ActionCalls {
                    total: self.of(*action),
                    by_user: BTreeMap::new(),
                };
                (action.name(), calls)
            })
            .collect();
        for ((action, user_id), count) in &self.per_user {
            if let Some(calls) = summary.get_mut(action.name()) {
                calls.by_user.insert(user_id.clone(), *count);
            }
        }
        summary
    }

    pub(crate) fn clear(&mut self) {
        self.per_action.clear();
        self.per_user.clear();
        self.latest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_per_action_and_per_user() {
        let mut calls = Calls::default();
        calls.record(
            Action::ApplyConcurrent,
            Some("u1".into()),
            br#"{"UserIp":"1.1.1.1"}"#,
        );
        calls.record(
            Action::ApplyConcurrent,
            Some("u1".into()),
            br#"{"UserIp":"2.2.2.2"}"#,
        );
        calls.record(Action::ApplyConcurrent, Some("u2".into()), b"{}");
        calls.record(Action::DescribeConcurrentCount, None, b"{}");

        assert_eq!(calls.of(Action::ApplyConcurrent), 3);
        assert_eq!(calls.of_user(Action::ApplyConcurrent, "u1"), 2);
        assert_eq!(calls.of_user(Action::CreateSession, "u1"), 0);
        assert_eq!(calls.of(Action::DescribeConcurrentCount), 1);
        let latest = calls.latest(Action::ApplyConcurrent, "u1").unwrap();
        assert_eq!(latest["UserIp"], "2.2.2.2");

        let summary = calls.summary();
        assert_eq!(summary.len(), 4);
        assert_eq!(summary["ApplyConcurrent"].by_user["u2"], 1);
        assert_eq!(summary["DestroySession"], ActionCalls::default());

        calls.clear();
        assert_eq!(calls.of(Action::ApplyConcurrent), 0);
    }

    #[test]
    fn past_the_bound_new_users_count_in_the_totals_only() {
        let mut calls = Calls::default();
        for n in 0..MAX_USERS_RECORDED + 5 {
            calls.record(Action::DestroySession, Some(format!("u{n}")), b"{}");
        }
        calls.record(Action::DestroySession, Some("u0".into()), b"{}");

        assert_eq!(
            calls.of(Action::DestroySession),
            MAX_USERS_RECORDED as u64 + 6
        );
        assert_eq!(calls.of_user(Action::DestroySession, "u0"), 2);
        assert_eq!(
            calls.of_user(Action::DestroySession, &format!("u{MAX_USERS_RECORDED}")),
            0
        );
        assert!(
            calls
                .latest(Action::DestroySession, &format!("u{MAX_USERS_RECORDED}"))
                .is_none()
        );
    }
}
