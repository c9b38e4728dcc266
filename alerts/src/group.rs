//! Alert groups: when a group's notification is due, as Alertmanager's dispatcher and dedup stage
//! decide it — `group_wait` before the first, then at most every `group_interval` when the set of
//! firing or resolved alerts changed, and after `repeat_interval` when nothing changed.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Timings of the route the group lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// Wait before the first notification.
    pub group_wait: Duration,
    /// Least time between two notifications about a changed group.
    pub group_interval: Duration,
    /// Re-send an unchanged firing group this often.
    pub repeat_interval: Duration,
}

/// What the group looked like at its last notification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flushed {
    /// When it went out.
    pub at: Option<SystemTime>,
    /// Fingerprints of the firing alerts then.
    pub firing: BTreeSet<String>,
    /// Fingerprints of the resolved alerts then.
    pub resolved: BTreeSet<String>,
}

/// Why a group notification goes out now, or why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlushReason {
    /// A new group's `group_wait` has passed.
    FirstAfterGroupWait,
    /// Alerts started firing or resolved since the last notification.
    Changed,
    /// Nothing changed, but `repeat_interval` has passed.
    Repeat,
    /// Waiting for `group_wait` or `group_interval`.
    NotYet,
    /// Nothing changed and the repeat is not due.
    Unchanged,
    /// Every alert resolved and that was already told.
    AllResolvedAndSent,
}

/// Whether to notify now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushDecision {
    /// Notify now.
    pub now: bool,
    /// Ask again at this time (if anything can become due).
    pub next_check: Option<SystemTime>,
    /// Why.
    pub reason: FlushReason,
}

/// Decides for a group first seen at `created` whose alerts are now `firing` / `resolved`.
pub fn flush_decision(
    t: Timings,
    created: SystemTime,
    last: &Flushed,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    now: SystemTime,
) -> FlushDecision {
    let Some(last_at) = last.at else {
        let due = created + t.group_wait;
        return if now >= due && !firing.is_empty() {
            decision(true, None, FlushReason::FirstAfterGroupWait)
        } else {
            decision(false, Some(due), FlushReason::NotYet)
        };
    };
    let next_tick = last_at + t.group_interval;
    if now < next_tick {
        return decision(false, Some(next_tick), FlushReason::NotYet);
    }
    let newly_resolved = resolved.iter().any(|f| !last.resolved.contains(f));
    if !firing.is_subset(&last.firing) || newly_resolved {
        return decision(true, None, FlushReason::Changed);
    }
    if firing.is_empty() {
        return decision(false, None, FlushReason::AllResolvedAndSent);
    }
    let repeat_due = last_at + t.repeat_interval;
    if now >= repeat_due {
        return decision(true, None, FlushReason::Repeat);
    }
    decision(false, Some(repeat_due), FlushReason::Unchanged)
}

fn decision(now: bool, next_check: Option<SystemTime>, reason: FlushReason) -> FlushDecision {
    FlushDecision {
        now,
        next_check,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const T: Timings = Timings {
        group_wait: Duration::from_secs(30),
        group_interval: Duration::from_secs(300),
        repeat_interval: Duration::from_secs(4 * 3600),
    };

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_new_group_waits_group_wait_then_notifies() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        let last = Flushed::default();
        let early = flush_decision(T, t0, &last, &set(&["a"]), &set(&[]), t0 + 10 * S);
        assert_eq!(
            early,
            decision(false, Some(t0 + 30 * S), FlushReason::NotYet)
        );
        let due = flush_decision(T, t0, &last, &set(&["a"]), &set(&[]), t0 + 30 * S);
        assert_eq!(due.reason, FlushReason::FirstAfterGroupWait);
    }

    #[test]
    fn a_changed_group_notifies_at_the_next_interval_and_an_unchanged_one_after_repeat() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        let last = Flushed {
            at: Some(t0),
            firing: set(&["a"]),
            resolved: set(&[]),
        };
        let changed = flush_decision(T, t0, &last, &set(&["a", "b"]), &set(&[]), t0 + 100 * S);
        assert_eq!(changed.reason, FlushReason::NotYet);
        let changed = flush_decision(T, t0, &last, &set(&["a", "b"]), &set(&[]), t0 + 300 * S);
        assert_eq!(changed.reason, FlushReason::Changed);
        let same = flush_decision(T, t0, &last, &set(&["a"]), &set(&[]), t0 + 300 * S);
        assert_eq!(same.reason, FlushReason::Unchanged);
        let repeat = flush_decision(T, t0, &last, &set(&["a"]), &set(&[]), t0 + 4 * 3600 * S);
        assert_eq!(repeat.reason, FlushReason::Repeat);
    }

    #[test]
    fn a_resolve_is_told_once() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * S;
        let last = Flushed {
            at: Some(t0),
            firing: set(&["a"]),
            resolved: set(&[]),
        };
        let resolved = flush_decision(T, t0, &last, &set(&[]), &set(&["a"]), t0 + 300 * S);
        assert_eq!(resolved.reason, FlushReason::Changed);
        let told = Flushed {
            at: Some(t0 + 300 * S),
            firing: set(&[]),
            resolved: set(&["a"]),
        };
        let again = flush_decision(T, t0, &told, &set(&[]), &set(&["a"]), t0 + 900 * S);
        assert_eq!(again.reason, FlushReason::AllResolvedAndSent);
    }
}
