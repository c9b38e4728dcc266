//! Escalation: which tier of a policy is due for an alert group, decided as a pure function of the
//! group's state and `now`, returning the reason with the decision.
//!
//! A group climbs the tiers while it fires unacknowledged: tier `i` is due `after` its delay from
//! the moment the group fired (or was last un-acknowledged). An acknowledgement stops the climb until
//! it is withdrawn; `repeat` re-notifies the last tier while nobody answers. When the group resolves,
//! every tier that was notified gets the resolve.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// One step of a policy: who is notified, and how long after firing.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Delay since the group fired (or was un-acknowledged), e.g. "15m"; "0s" notifies at once.
    #[serde(with = "humantime_serde", default)]
    pub after: Duration,
    /// Receiver names from `alerting.yaml`'s `receivers`.
    pub receivers: Vec<String>,
}

/// Ordered tiers; the seeds' war rooms use Slack at once, PagerDuty after 15 minutes, the next
/// level after an hour.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    /// Name the routes refer to.
    pub name: String,
    /// Tiers in the order they fire; their `after` delays must not decrease.
    pub tiers: Vec<Tier>,
    /// Re-notify the last tier this often while the group stays unacknowledged ("30m").
    #[serde(with = "humantime_serde", default)]
    pub repeat: Option<Duration>,
}

/// An acknowledgement: who took the page and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The responder.
    pub by: String,
    /// When they acknowledged.
    pub at: SystemTime,
}

/// What escalation remembers about one alert group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEscalation {
    /// When the current climb started: the group's first firing, or the last un-acknowledgement.
    pub clock_start: SystemTime,
    /// The standing acknowledgement, if any.
    pub ack: Option<Ack>,
    /// Tiers notified in the current climb, with when (the last one's time drives `repeat`).
    pub notified: Vec<(usize, SystemTime)>,
    /// Every tier notified since the group fired, in any climb: they all get the resolve.
    pub ever_notified: Vec<usize>,
    /// Set once the group resolved.
    pub resolved_at: Option<SystemTime>,
    /// Set once the resolve went out.
    pub resolve_sent: bool,
}

/// Why escalation does what it does; shown on the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Tier `tier` is due: the group has fired unacknowledged for `elapsed`.
    TierDue {
        /// The tier.
        tier: usize,
        /// Time since the clock started.
        elapsed: Duration,
    },
    /// The last tier is repeated after `repeat` without an answer.
    Repeat {
        /// The repeat interval.
        repeat: Duration,
    },
    /// The next tier is not due yet.
    NextTierLater {
        /// The tier that comes next.
        tier: usize,
    },
    /// Someone acknowledged the group.
    Acknowledged {
        /// Who.
        by: String,
    },
    /// Every tier was notified and the policy does not repeat.
    TiersExhausted,
    /// The group resolved; the notified tiers are told.
    Resolved,
    /// The group resolved and the notified tiers were told.
    Finished,
}

/// What to do now for one alert group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the firing notification to tier `tier`'s receivers.
    Notify {
        /// Tier index.
        tier: usize,
        /// Its receivers.
        receivers: Vec<String>,
        /// Why now.
        reason: Reason,
    },
    /// Send the resolve to every receiver that was notified.
    NotifyResolved {
        /// Receivers of every notified tier, deduplicated, in tier order.
        receivers: Vec<String>,
        /// Always [`Reason::Resolved`].
        reason: Reason,
    },
    /// Nothing now; ask again at `until` (if set).
    Wait {
        /// When something becomes due, if anything will.
        until: Option<SystemTime>,
        /// Why nothing is due.
        reason: Reason,
    },
}

impl GroupEscalation {
    /// The state of a group that fired at `at`.
    pub fn fired(at: SystemTime) -> Self {
        Self {
            clock_start: at,
            ack: None,
            notified: Vec::new(),
            ever_notified: Vec::new(),
            resolved_at: None,
            resolve_sent: false,
        }
    }

    /// Records that `tier`'s notification was handed to the outbox at `now`.
    pub fn record_notified(&mut self, tier: usize, now: SystemTime) {
        self.notified.push((tier, now));
        if !self.ever_notified.contains(&tier) {
            self.ever_notified.push(tier);
        }
    }

    /// Acknowledges the group: the climb stops.
    pub fn acknowledge(&mut self, by: &str, now: SystemTime) {
        self.ack = Some(Ack {
            by: by.to_owned(),
            at: now,
        });
    }

    /// Withdraws the acknowledgement: a new climb starts at `now` from the first tier.
    pub fn unacknowledge(&mut self, now: SystemTime) {
        self.ack = None;
        self.clock_start = now;
        self.notified.clear();
    }

    /// Marks the group resolved at `now`.
    pub fn resolve(&mut self, now: SystemTime) {
        self.resolved_at.get_or_insert(now);
    }
}

/// Decides what is due for a group under `policy` at `now`.
pub fn decide(policy: &EscalationPolicy, state: &GroupEscalation, now: SystemTime) -> Decision {
    if state.resolved_at.is_some() {
        return decide_resolved(policy, state);
    }
    if let Some(ack) = &state.ack {
        let reason = Reason::Acknowledged { by: ack.by.clone() };
        return Decision::Wait {
            until: None,
            reason,
        };
    }
    let elapsed = now.duration_since(state.clock_start).unwrap_or_default();
    let next = state
        .notified
        .iter()
        .map(|(tier, _)| tier + 1)
        .max()
        .unwrap_or(0);
    match policy.tiers.get(next) {
        Some(tier) if elapsed >= tier.after => Decision::Notify {
            tier: next,
            receivers: tier.receivers.clone(),
            reason: Reason::TierDue {
                tier: next,
                elapsed,
            },
        },
        Some(tier) => Decision::Wait {
            until: Some(state.clock_start + tier.after),
            reason: Reason::NextTierLater { tier: next },
        },
        None => decide_repeat(policy, state, now),
    }
}

/// Every tier is done: repeat the last one if the policy says so.
fn decide_repeat(policy: &EscalationPolicy, state: &GroupEscalation, now: SystemTime) -> Decision {
    let (Some(repeat), Some(&(tier, last_at))) = (policy.repeat, state.notified.last()) else {
        return Decision::Wait {
            until: None,
            reason: Reason::TiersExhausted,
        };
    };
    let due = last_at + repeat;
    if now < due {
        return Decision::Wait {
            until: Some(due),
            reason: Reason::Repeat { repeat },
        };
    }
    let receivers = policy
        .tiers
        .get(tier)
        .map(|t| t.receivers.clone())
        .unwrap_or_default();
    Decision::Notify {
        tier,
        receivers,
        reason: Reason::Repeat { repeat },
    }
}

/// A resolved group tells every tier it ever notified, once.
fn decide_resolved(policy: &EscalationPolicy, state: &GroupEscalation) -> Decision {
    if state.resolve_sent || state.ever_notified.is_empty() {
        return Decision::Wait {
            until: None,
            reason: Reason::Finished,
        };
    }
    Decision::NotifyResolved {
        receivers: notified_receivers(policy, state),
        reason: Reason::Resolved,
    }
}

/// Receivers of every tier notified since the group fired, deduplicated, in tier order: they get
/// the acknowledge (PagerDuty) and the resolve.
pub fn notified_receivers(policy: &EscalationPolicy, state: &GroupEscalation) -> Vec<String> {
    let mut tiers = state.ever_notified.clone();
    tiers.sort_unstable();
    let mut receivers: Vec<String> = Vec::new();
    for r in tiers
        .iter()
        .filter_map(|&t| policy.tiers.get(t))
        .flat_map(|t| &t.receivers)
    {
        if !receivers.contains(r) {
            receivers.push(r.clone());
        }
    }
    receivers
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn seed_policy() -> EscalationPolicy {
        let tier = |after, receivers: &[&str]| Tier {
            after,
            receivers: receivers.iter().map(|r| r.to_string()).collect(),
        };
        EscalationPolicy {
            name: "cutover".into(),
            tiers: vec![
                tier(Duration::ZERO, &["slack-warroom"]),
                tier(15 * MIN, &["pagerduty-sre"]),
                tier(60 * MIN, &["pagerduty-level4", "email-management"]),
            ],
            repeat: None,
        }
    }

    /// Applies decisions until nothing more is due at `now`, returning the notified tiers.
    fn run(policy: &EscalationPolicy, state: &mut GroupEscalation, now: SystemTime) -> Vec<usize> {
        let mut sent = Vec::new();
        while let Decision::Notify { tier, .. } = decide(policy, state, now) {
            state.record_notified(tier, now);
            sent.push(tier);
        }
        sent
    }

    #[test]
    fn a_group_climbs_slack_then_pagerduty_and_an_ack_stops_tier_three() {
        // Arrange
        let policy = seed_policy();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut state = GroupEscalation::fired(t0);
        // Act + Assert: Slack at once, nothing more before 15 minutes.
        assert_eq!(run(&policy, &mut state, t0), vec![0]);
        assert_eq!(
            decide(&policy, &state, t0 + 14 * MIN),
            Decision::Wait {
                until: Some(t0 + 15 * MIN),
                reason: Reason::NextTierLater { tier: 1 }
            }
        );
        assert_eq!(run(&policy, &mut state, t0 + 15 * MIN), vec![1]);
        state.acknowledge("alice", t0 + 20 * MIN);
        assert_eq!(
            run(&policy, &mut state, t0 + 2 * 60 * MIN),
            Vec::<usize>::new()
        );
        state.resolve(t0 + 3 * 60 * MIN);
        let Decision::NotifyResolved { receivers, .. } = decide(&policy, &state, t0) else {
            panic!("resolve expected");
        };
        assert_eq!(receivers, vec!["slack-warroom", "pagerduty-sre"]);
    }

    #[test]
    fn an_unanswered_group_reaches_the_next_level_after_an_hour_and_then_stops() {
        let policy = seed_policy();
        let t0 = SystemTime::UNIX_EPOCH;
        let mut state = GroupEscalation::fired(t0);
        assert_eq!(run(&policy, &mut state, t0 + 61 * MIN), vec![0, 1, 2]);
        let d = decide(&policy, &state, t0 + 600 * MIN);
        assert_eq!(
            d,
            Decision::Wait {
                until: None,
                reason: Reason::TiersExhausted
            }
        );
    }

    #[test]
    fn repeat_renotifies_the_last_tier_while_nobody_answers() {
        let policy = EscalationPolicy {
            repeat: Some(30 * MIN),
            ..seed_policy()
        };
        let t0 = SystemTime::UNIX_EPOCH;
        let mut state = GroupEscalation::fired(t0);
        run(&policy, &mut state, t0 + 60 * MIN);
        assert_eq!(run(&policy, &mut state, t0 + 89 * MIN), Vec::<usize>::new());
        assert_eq!(run(&policy, &mut state, t0 + 90 * MIN), vec![2]);
    }

    #[test]
    fn unacknowledging_restarts_the_climb_from_the_first_tier() {
        let policy = seed_policy();
        let t0 = SystemTime::UNIX_EPOCH;
        let mut state = GroupEscalation::fired(t0);
        run(&policy, &mut state, t0 + 16 * MIN);
        state.acknowledge("bob", t0 + 17 * MIN);
        state.unacknowledge(t0 + 40 * MIN);
        assert_eq!(run(&policy, &mut state, t0 + 40 * MIN), vec![0]);
        assert_eq!(run(&policy, &mut state, t0 + 54 * MIN), Vec::<usize>::new());
        assert_eq!(run(&policy, &mut state, t0 + 55 * MIN), vec![1]);
    }

    #[test]
    fn a_resolve_goes_out_once_and_only_to_tiers_that_were_notified() {
        let policy = seed_policy();
        let t0 = SystemTime::UNIX_EPOCH;
        let mut state = GroupEscalation::fired(t0);
        state.resolve(t0);
        assert_eq!(
            decide(&policy, &state, t0),
            Decision::Wait {
                until: None,
                reason: Reason::Finished
            }
        );
        let mut state = GroupEscalation::fired(t0);
        run(&policy, &mut state, t0);
        state.resolve(t0 + MIN);
        assert!(matches!(
            decide(&policy, &state, t0),
            Decision::NotifyResolved { .. }
        ));
        state.resolve_sent = true;
        assert_eq!(
            decide(&policy, &state, t0),
            Decision::Wait {
                until: None,
                reason: Reason::Finished
            }
        );
    }
}
