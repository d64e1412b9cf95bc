//! Added latency: how long the simulated cloud waits before it answers, so
//! that timeouts and slow paths can be exercised.

use crate::cloud::protocol::Action;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A delay for every answer, and overrides for single actions.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    /// Applies to every answer unless its action has an override.
    global: Duration,
    /// Replaces (does not add to) the global delay for these actions.
    per_action: HashMap<Action, Duration>,
}

/// The latency settings as the control API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencySnapshot {
    /// The delay of actions without an override, in milliseconds.
    pub global_ms: u128,
    /// Per-action overrides, in milliseconds.
    pub per_action_ms: BTreeMap<&'static str, u128>,
}

impl Latency {
    pub(crate) fn new(global: Duration) -> Self {
        Self {
            global,
            per_action: HashMap::new(),
        }
    }

    /// Sets the global delay (`None`) or one action's override.
    pub(crate) fn set(&mut self, action: Option<Action>, latency: Duration) {
        match action {
            None => self.global = latency,
            Some(action) => {
                self.per_action.insert(action, latency);
            }
        }
    }

    /// The delay for an answer to `action`, or to a request naming no known action.
    pub(crate) fn of(&self, action: Option<Action>) -> Duration {
        action
            .and_then(|action| self.per_action.get(&action).copied())
            .unwrap_or(self.global)
    }

    pub(crate) fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            global_ms: self.global.as_millis(),
            per_action_ms: self
                .per_action
                .iter()
                .map(|(action, latency)| (action.name(), latency.as_millis()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_override_replaces_the_global_delay() {
        let mut latency = Latency::new(Duration::from_millis(100));
        latency.set(Some(Action::CreateSession), Duration::from_millis(700));

        assert_eq!(
            latency.of(Some(Action::CreateSession)),
            Duration::from_millis(700)
        );
        assert_eq!(
            latency.of(Some(Action::ApplyConcurrent)),
            Duration::from_millis(100)
        );
        assert_eq!(latency.of(None), Duration::from_millis(100));

        latency.set(None, Duration::ZERO);
        assert_eq!(latency.of(Some(Action::ApplyConcurrent)), Duration::ZERO);
        assert_eq!(latency.snapshot().per_action_ms["CreateSession"], 700);
    }
}
