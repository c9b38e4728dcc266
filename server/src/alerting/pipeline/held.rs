//! What the dispatcher holds of each alert, for the alerts coming in: whether it fires (so the
//! timeline gets an alert's changes, not each re-send) and its `phase` label.
//!
//! Every alert the pipeline takes in carries the cutover's phase as a `phase` label, so routes
//! and escalation policies can match on it. One alert keeps the phase it was first held with
//! (none, if no phase was set then): its re-sends and its resolve lack the label like the
//! first, and get the same one back, so its fingerprint and its group never change as the
//! cutover moves on.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use warroom_alerts::dispatch::{Dispatcher, fingerprint};
use warroom_alerts::notify::AlertView;

/// The label.
pub const PHASE: &str = "phase";

type Labels = BTreeMap<String, String>;

/// The dispatcher's alerts, by fingerprint and by their labels apart from `phase`.
pub struct Held {
    firing: HashMap<String, bool>,
    phases: HashMap<Labels, Known>,
}

/// The phase of a held alert, and whether it fires (a firing one wins over a resolved one).
#[derive(Clone)]
struct Known {
    phase: Option<String>,
    firing: bool,
}

impl Held {
    /// Every alert `d` holds, as of `now`.
    pub fn of(d: &Dispatcher, now: SystemTime) -> Self {
        let mut held = Self {
            firing: HashMap::new(),
            phases: HashMap::new(),
        };
        for a in d.groups.values().flat_map(|g| g.alerts.values()) {
            held.note(a, now);
        }
        held
    }

    /// Remembers `a` as held (the dispatcher has just taken it).
    pub fn note(&mut self, a: &AlertView, now: SystemTime) {
        let firing = fires(a, now);
        self.firing.insert(a.fingerprint.clone(), firing);
        let mut labels = a.labels.clone();
        let known = Known {
            phase: labels.remove(PHASE),
            firing,
        };
        let entry = self.phases.entry(labels).or_insert_with(|| known.clone());
        if known.firing || entry.phase == known.phase {
            *entry = known;
        }
    }

    /// `a` with a `phase` label if it has none: that of the same alert held, else `current`.
    /// `true` when the label was added here.
    pub fn stamp(&self, mut a: AlertView, current: Option<&str>) -> (AlertView, bool) {
        if a.labels.contains_key(PHASE) {
            return (a, false);
        }
        let phase = match self.phases.get(&a.labels) {
            Some(held) => held.phase.clone(),
            None => current.map(str::to_owned),
        };
        let Some(phase) = phase else {
            return (a, false);
        };
        a.labels.insert(PHASE.to_owned(), phase);
        a.fingerprint = fingerprint(&a.labels);
        (a, true)
    }

    /// `firing` when `a` fires and was not held firing, `resolved` when it was and no longer
    /// does; nothing for a re-send.
    pub fn change(&self, a: &AlertView, now: SystemTime) -> Option<&'static str> {
        let was = self.firing.get(&a.fingerprint).copied().unwrap_or(false);
        match (was, fires(a, now)) {
            (false, true) => Some("firing"),
            (true, false) => Some("resolved"),
            _ => None,
        }
    }
}

/// Firing until its end time has come (one still ahead is Alertmanager's "until refreshed").
fn fires(a: &AlertView, now: SystemTime) -> bool {
    a.ends_at.is_none_or(|e| e > now)
}

/// `a` as it came in, before the pipeline added its `phase` label.
pub fn unstamped(a: &AlertView) -> AlertView {
    let mut a = a.clone();
    a.labels.remove(PHASE);
    a.fingerprint = fingerprint(&a.labels);
    a
}
