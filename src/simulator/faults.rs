//! Injected failures: the simulator's way of making the cloud misbehave on
//! purpose.
//!
//! Two kinds exist because two audiences need them. Tests want certainty —
//! "the next two `CreateSession` calls fail with `InternalError`" — so they
//! queue scripted failures with [`Faults::fail_next`]. Front-end developers
//! running the simulator by hand want a cloud that is flaky now and then, so
//! they give probabilistic [`FaultRule`]s on the command line, written as
//! `CreateSession:InternalError:0.2,*:RequestLimitExceeded:0.01`.
//!
//! A fault answers *instead of* the action: the call is refused with the
//! chosen code and the machines are left exactly as they were.

use crate::cloud::protocol::Action;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

/// "Calls of `action` (or of any action) answer `code` with probability
/// `probability`."
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The action it applies to; `None` means every action.
    pub action: Option<Action>,
    /// The cloud error code to answer with, e.g. `InternalError`.
    pub code: String,
    /// Chance per call, from 0 (never) to 1 (always).
    pub probability: f64,
}

/// A comma-separated list of [`FaultRule`]s, as given on the command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultRules(pub Vec<FaultRule>);

/// Why a fault rule could not be read; the message names the offending rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultRuleError {
    /// The rule does not have the three parts `Action:Code:Probability`.
    #[error("fault rule {0:?} is not of the form Action:Code:Probability")]
    Shape(String),
    /// The action is neither `*` nor one of the four CAR actions.
    #[error(
        "fault rule {rule:?} names the unknown action {action:?} \
         (use ApplyConcurrent, CreateSession, DestroySession, DescribeConcurrentCount or *)"
    )]
    Action { rule: String, action: String },
    /// The error code is empty or contains characters no cloud code has.
    #[error("fault rule {0:?} has an empty or malformed error code")]
    Code(String),
    /// The probability is not a number between 0 and 1.
    #[error("fault rule {rule:?} has the probability {probability:?}; use a number from 0 to 1")]
    Probability { rule: String, probability: String },
}

impl FromStr for FaultRule {
    type Err = FaultRuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let rule = text.trim();
        let parts: Vec<&str> = rule.split(':').map(str::trim).collect();
        let [action, code, probability] = parts[..] else {
            return Err(FaultRuleError::Shape(rule.to_owned()));
        };

        let action = match action {
            "*" | "Any" => None,
            name => Some(
                Action::from_name(name).ok_or_else(|| FaultRuleError::Action {
                    rule: rule.to_owned(),
                    action: name.to_owned(),
                })?,
            ),
        };

        // Cloud codes are dotted identifiers such as `ResourceUnavailable.Timeout`.
        let well_formed = !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        if !well_formed {
            return Err(FaultRuleError::Code(rule.to_owned()));
        }

        let probability = probability
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| FaultRuleError::Probability {
                rule: rule.to_owned(),
                probability: probability.to_owned(),
            })?;

        Ok(FaultRule {
            action,
            code: code.to_owned(),
            probability,
        })
    }
}

impl FromStr for FaultRules {
    type Err = FaultRuleError;

    /// An empty string is the empty list, so "no faults" needs no special flag.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .filter(|rule| !rule.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(FaultRules)
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = self.action.map_or("*", Action::name);
        write!(f, "{action}:{}:{}", self.code, self.probability)
    }
}

/// Scripted failures still to come, and the standing probabilistic rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Per action, `(code, remaining calls)` in the order they were asked for.
    scripted: HashMap<Action, VecDeque<(String, u32)>>,
    /// Checked in order after the scripted failures; the first that fires wins.
    rules: Vec<FaultRule>,
}

impl Faults {
    pub(crate) fn new(rules: Vec<FaultRule>) -> Self {
        Self {
            scripted: HashMap::new(),
            rules,
        }
    }

    /// Queues `times` failures with `code` for the next calls of `action`.
    pub(crate) fn fail_next(&mut self, action: Action, code: &str, times: u32) {
        if times > 0 {
            self.scripted
                .entry(action)
                .or_default()
                .push_back((code.to_owned(), times));
        }
    }

    pub(crate) fn set_rules(&mut self, rules: Vec<FaultRule>) {
        self.rules = rules;
    }

    pub(crate) fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Forgets every scripted failure and every rule.
    pub(crate) fn clear(&mut self) {
        self.scripted.clear();
        self.rules.clear();
    }

    /// The code this call of `action` must fail with, if any. Scripted
    /// failures are used up first; `roll` draws a number in `[0, 1)` for the
    /// rules, and is a parameter so that tests can decide the dice.
    pub(crate) fn next_fault(
        &mut self,
        action: Action,
        mut roll: impl FnMut() -> f64,
    ) -> Option<String> {
        if let Some(queue) = self.scripted.get_mut(&action)
            && let Some((code, remaining)) = queue.front_mut()
        {
            let code = code.clone();
            *remaining -= 1;
            if *remaining == 0 {
                queue.pop_front();
            }
            return Some(code);
        }

        self.rules
            .iter()
            .filter(|rule| rule.action.is_none_or(|only| only == action))
            .find(|rule| roll() < rule.probability)
            .map(|rule| rule.code.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_list_from_the_command_line_parses_into_its_rules() {
        let rules: FaultRules = "CreateSession:InternalError:0.2, ApplyConcurrent:ResourceUnavailable.Timeout:0.05,*:RequestLimitExceeded:1"
            .parse()
            .unwrap();
        assert_eq!(
            rules.0,
            [
                FaultRule {
                    action: Some(Action::CreateSession),
                    code: "InternalError".into(),
                    probability: 0.2
                },
                FaultRule {
                    action: Some(Action::ApplyConcurrent),
                    code: "ResourceUnavailable.Timeout".into(),
                    probability: 0.05
                },
                FaultRule {
                    action: None,
                    code: "RequestLimitExceeded".into(),
                    probability: 1.0
                },
            ]
        );
        assert_eq!("".parse::<FaultRules>().unwrap(), FaultRules::default());
    }

    #[test]
    fn a_bad_rule_is_refused_with_a_message_naming_it() {
        let cases = [
            ("CreateSession:InternalError", "not of the form"),
            (
                "StartGame:InternalError:0.1",
                "unknown action \"StartGame\"",
            ),
            ("CreateSession::0.1", "malformed error code"),
            ("CreateSession:Internal Error:0.1", "malformed error code"),
            ("CreateSession:InternalError:1.5", "probability \"1.5\""),
            ("CreateSession:InternalError:often", "probability \"often\""),
        ];
        for (text, expected) in cases {
            let error = format!("{text},*:InternalError:0.1")
                .parse::<FaultRules>()
                .unwrap_err();
            let message = error.to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.contains(text), "{text}: {message}");
        }
    }

    #[test]
    fn a_rule_prints_back_as_it_was_written() {
        let rule: FaultRule = "*:InternalError:0.25".parse().unwrap();
        assert_eq!(rule.to_string(), "*:InternalError:0.25");
    }

    #[test]
    fn scripted_failures_are_used_up_in_order_then_stop() {
        let mut faults = Faults::default();
        faults.fail_next(Action::CreateSession, "InternalError", 2);
        faults.fail_next(Action::CreateSession, "FailedOperation.SlowDown", 1);
        let never = || 0.99;

        assert_eq!(faults.next_fault(Action::ApplyConcurrent, never), None);
        let codes: Vec<_> = (0..4)
            .map(|_| faults.next_fault(Action::CreateSession, never))
            .collect();
        assert_eq!(
            codes,
            [
                Some("InternalError".to_owned()),
                Some("InternalError".to_owned()),
                Some("FailedOperation.SlowDown".to_owned()),
                None
            ]
        );
    }

    #[test]
    fn a_rule_fires_only_for_its_action_and_when_the_dice_say_so() {
        let mut faults = Faults::new(vec!["CreateSession:InternalError:0.5".parse().unwrap()]);
        assert_eq!(faults.next_fault(Action::CreateSession, || 0.7), None);
        assert_eq!(
            faults.next_fault(Action::CreateSession, || 0.3),
            Some("InternalError".to_owned())
        );
        assert_eq!(faults.next_fault(Action::ApplyConcurrent, || 0.0), None);

        faults.clear();
        assert_eq!(faults.next_fault(Action::CreateSession, || 0.0), None);
    }
}
