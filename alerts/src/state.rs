//! Alert states of one alerting rule: inactive → pending → firing → resolved, driven by each
//! evaluation's results and `now`, as Prometheus' rule manager does (`for`, `keep_firing_for`).
//!
//! [`RuleState::step`] takes the label sets the rule's expression returned at this evaluation and
//! returns the transitions it made, each with its reason, for the timeline and the router.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// A label set, sorted by name.
pub type LabelSet = BTreeMap<String, String>;

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The condition holds, but not yet for `for`.
    Pending,
    /// The condition held for `for` (or is kept firing by `keep_firing_for`).
    Firing,
    /// It fired and no longer does.
    Resolved,
}

/// One alert of a rule: one label set the expression returned.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The alert's labels (series labels plus the rule's labels).
    pub labels: LabelSet,
    /// Current state.
    pub state: AlertState,
    /// The last value the expression gave for this alert.
    pub value: f64,
    /// When the condition started to hold.
    pub active_at: SystemTime,
    /// When it started firing.
    pub fired_at: Option<SystemTime>,
    /// When it resolved.
    pub resolved_at: Option<SystemTime>,
    /// Since when the condition is gone while `keep_firing_for` holds the alert.
    pub keep_firing_since: Option<SystemTime>,
}

/// Why an alert changed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The condition started holding; the alert waits for `for`.
    BecamePending,
    /// The condition held for `for` (zero: at once).
    Fired {
        /// How long it had been pending.
        pending_for: Duration,
    },
    /// The condition went away before `for` elapsed.
    PendingCleared,
    /// The condition went away (after `keep_firing_for`, if any).
    Resolved,
}

/// A rule's `for` and `keep_firing_for`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// How long the condition must hold before the alert fires.
    pub hold: Duration,
    /// How long a firing alert keeps firing after the condition is gone.
    pub keep_firing_for: Duration,
}

/// How long resolved alerts are kept so the resolve can be routed (Prometheus keeps 15 minutes).
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// All alerts of one rule.
#[derive(Clone, Debug, Default)]
pub struct RuleState {
    alerts: HashMap<LabelSet, Alert>,
}

impl RuleState {
    /// Applies one evaluation's results (`(labels, value)` per returned series) at `now`.
    pub fn step(
        &mut self,
        timing: Timing,
        results: Vec<(LabelSet, f64)>,
        now: SystemTime,
    ) -> Vec<(LabelSet, Transition)> {
        let mut changes = Vec::new();
        let mut seen = Vec::with_capacity(results.len());
        for (labels, value) in results {
            if let Some(t) = self.observe(timing, &labels, value, now) {
                changes.push((labels.clone(), t));
            }
            seen.push(labels);
        }
        for (labels, alert) in self.alerts.iter_mut() {
            if !seen.contains(labels)
                && let Some(t) = absent(alert, timing, now)
            {
                changes.push((labels.clone(), t));
            }
        }
        self.forget(now);
        changes
    }

    /// Takes back an alert that was firing before a restart (as Prometheus restores
    /// `ALERTS_FOR_STATE`): the next evaluation keeps it firing or resolves it, with no new
    /// `for` wait and no lost resolve.
    pub fn restore(&mut self, labels: LabelSet, fired_at: SystemTime) {
        self.alerts.entry(labels.clone()).or_insert(Alert {
            labels,
            state: AlertState::Firing,
            value: f64::NAN,
            active_at: fired_at,
            fired_at: Some(fired_at),
            resolved_at: None,
            keep_firing_since: None,
        });
    }

    /// The alerts currently pending or firing (and recently resolved ones).
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// The condition holds for `labels` at this evaluation.
    fn observe(
        &mut self,
        timing: Timing,
        labels: &LabelSet,
        value: f64,
        now: SystemTime,
    ) -> Option<Transition> {
        let alert = match self.alerts.get_mut(labels) {
            Some(a) if a.state != AlertState::Resolved => a,
            _ => {
                let fresh = new_alert(labels.clone(), value, now);
                self.alerts.insert(labels.clone(), fresh);
                let alert = self.alerts.get_mut(labels)?;
                return Some(promote(alert, timing, now).unwrap_or(Transition::BecamePending));
            }
        };
        alert.value = value;
        alert.keep_firing_since = None;
        promote(alert, timing, now)
    }

    /// Drops cleared pending alerts and resolved ones older than [`RESOLVED_RETENTION`].
    fn forget(&mut self, now: SystemTime) {
        self.alerts.retain(|_, a| match (a.state, a.resolved_at) {
            (AlertState::Resolved, Some(at)) => {
                now.duration_since(at).unwrap_or_default() < RESOLVED_RETENTION
            }
            (AlertState::Resolved, None) => false,
            _ => true,
        });
    }
}

fn new_alert(labels: LabelSet, value: f64, now: SystemTime) -> Alert {
    Alert {
        labels,
        state: AlertState::Pending,
        value,
        active_at: now,
        fired_at: None,
        resolved_at: None,
        keep_firing_since: None,
    }
}

/// A pending alert whose condition held for `for` fires.
fn promote(alert: &mut Alert, timing: Timing, now: SystemTime) -> Option<Transition> {
    let pending_for = now.duration_since(alert.active_at).unwrap_or_default();
    if alert.state != AlertState::Pending || pending_for < timing.hold {
        return None;
    }
    alert.state = AlertState::Firing;
    alert.fired_at = Some(now);
    Some(Transition::Fired { pending_for })
}

/// The condition no longer holds for this alert.
fn absent(alert: &mut Alert, timing: Timing, now: SystemTime) -> Option<Transition> {
    match alert.state {
        AlertState::Resolved => None,
        AlertState::Pending => {
            // Resolved without a resolve time: `forget` drops it and routing never sees it.
            alert.state = AlertState::Resolved;
            alert.resolved_at = None;
            Some(Transition::PendingCleared)
        }
        AlertState::Firing => {
            let since = *alert.keep_firing_since.get_or_insert(now);
            if now.duration_since(since).unwrap_or_default() < timing.keep_firing_for {
                return None;
            }
            alert.state = AlertState::Resolved;
            alert.resolved_at = Some(now);
            Some(Transition::Resolved)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn labels(instance: &str) -> LabelSet {
        LabelSet::from([("instance".to_string(), instance.to_string())])
    }

    #[test]
    fn a_restored_firing_alert_stays_firing_without_a_new_wait_and_resolves_when_gone() {
        // Arrange
        let timing = Timing {
            hold: 600 * S,
            keep_firing_for: Duration::ZERO,
        };
        let mut rule = RuleState::default();
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        rule.restore(labels("a"), t0);
        // Act
        let still = rule.step(timing, vec![(labels("a"), 1.0)], t0 + 10 * S);
        let gone = rule.step(timing, vec![], t0 + 20 * S);
        // Assert
        assert!(
            still.is_empty(),
            "no transition: it was firing and still is"
        );
        assert_eq!(gone, vec![(labels("a"), Transition::Resolved)]);
    }

    #[test]
    fn an_alert_with_for_goes_pending_then_fires_then_resolves() {
        // Arrange
        let timing = Timing {
            hold: 60 * S,
            keep_firing_for: Duration::ZERO,
        };
        let mut rule = RuleState::default();
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        // Act + Assert
        let a = rule.step(timing, vec![(labels("a"), 1.0)], t0);
        assert_eq!(a, vec![(labels("a"), Transition::BecamePending)]);
        assert!(
            rule.step(timing, vec![(labels("a"), 1.0)], t0 + 30 * S)
                .is_empty()
        );
        let fired = rule.step(timing, vec![(labels("a"), 2.0)], t0 + 60 * S);
        assert_eq!(
            fired,
            vec![(
                labels("a"),
                Transition::Fired {
                    pending_for: 60 * S
                }
            )]
        );
        let resolved = rule.step(timing, vec![], t0 + 75 * S);
        assert_eq!(resolved, vec![(labels("a"), Transition::Resolved)]);
    }

    #[test]
    fn a_rule_with_for_zero_fires_on_the_first_evaluation() {
        let mut rule = RuleState::default();
        let got = rule.step(
            Timing::default(),
            vec![(labels("a"), 1.0)],
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            got,
            vec![(
                labels("a"),
                Transition::Fired {
                    pending_for: Duration::ZERO
                }
            )]
        );
    }

    #[test]
    fn a_pending_alert_whose_condition_goes_away_is_cleared_and_forgotten() {
        let timing = Timing {
            hold: 60 * S,
            keep_firing_for: Duration::ZERO,
        };
        let mut rule = RuleState::default();
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        rule.step(timing, vec![(labels("a"), 1.0)], t0);
        let got = rule.step(timing, vec![], t0 + 15 * S);
        assert_eq!(got, vec![(labels("a"), Transition::PendingCleared)]);
        assert_eq!(rule.alerts().count(), 0);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert_until_it_elapses() {
        let timing = Timing {
            hold: Duration::ZERO,
            keep_firing_for: 60 * S,
        };
        let mut rule = RuleState::default();
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        rule.step(timing, vec![(labels("a"), 1.0)], t0);
        assert!(rule.step(timing, vec![], t0 + 15 * S).is_empty());
        assert!(rule.step(timing, vec![], t0 + 74 * S).is_empty());
        assert_eq!(
            rule.step(timing, vec![], t0 + 75 * S),
            vec![(labels("a"), Transition::Resolved)]
        );
    }

    #[test]
    fn a_resolved_alert_that_comes_back_starts_pending_again() {
        let timing = Timing {
            hold: 30 * S,
            keep_firing_for: Duration::ZERO,
        };
        let mut rule = RuleState::default();
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        rule.step(timing, vec![(labels("a"), 1.0)], t0);
        rule.step(timing, vec![(labels("a"), 1.0)], t0 + 30 * S);
        rule.step(timing, vec![], t0 + 45 * S);
        let again = rule.step(timing, vec![(labels("a"), 1.0)], t0 + 60 * S);
        assert_eq!(again, vec![(labels("a"), Transition::BecamePending)]);
    }
}
