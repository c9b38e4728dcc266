//! The composition root of the alert pipeline, still pure: alerts in, routed into groups; each
//! tick decides per group (mute → group timing → escalation) and returns the notifications to
//! write to the outbox, each with its reason. The state serialises, so the server persists it and
//! a restart between tiers neither loses nor repeats one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::AlertingConfig;
use crate::escalation::{
    Decision, EscalationPolicy, GroupEscalation, Tier, decide, notified_receivers,
};
use crate::group::{Flushed, Timings, flush_decision};
use crate::mute::Muter;
use crate::notify::{AlertView, Kind, Notification};
use crate::route::RouteSettings;

/// A notification to hand to the outbox, for one receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// Receiver name from `alerting.yaml`.
    pub receiver: String,
    /// What to send.
    pub notification: Notification,
    /// Why, for the timeline ("tier 1 due after 15m0s", "group changed", ...).
    pub reason: String,
}

/// One group's remembered state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// Route settings where the group lives.
    pub settings: RouteSettings,
    /// The group-by labels and values.
    pub group_labels: BTreeMap<String, String>,
    /// When the first alert joined.
    pub created: SystemTime,
    /// Alerts by fingerprint; resolved once their `ends_at` has come.
    pub alerts: BTreeMap<String, AlertView>,
    /// The last notification's view of the group.
    pub flushed: Flushed,
    /// Escalation, once the group has fired.
    pub escalation: Option<GroupEscalation>,
}

/// Every group, by group key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispatcher {
    /// The groups.
    pub groups: BTreeMap<String, GroupState>,
}

/// A stable fingerprint of a label set (FNV-1a over `name=value` pairs).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl Dispatcher {
    /// Routes a firing or resolved alert into its groups.
    pub fn upsert(&mut self, config: &AlertingConfig, alert: AlertView, now: SystemTime) {
        for settings in config.route.resolve(&alert.labels) {
            let key = settings.group_key(&alert.labels);
            let group = self.groups.entry(key).or_insert_with(|| GroupState {
                group_labels: group_labels(&settings, &alert.labels),
                settings,
                created: now,
                alerts: BTreeMap::new(),
                flushed: Flushed::default(),
                escalation: None,
            });
            group
                .alerts
                .insert(alert.fingerprint.clone(), alert.clone());
        }
    }

    /// Acknowledges a group: escalation stops; PagerDuty and friends that were paged are told.
    pub fn acknowledge(
        &mut self,
        config: &AlertingConfig,
        key: &str,
        by: &str,
        now: SystemTime,
        url: &str,
    ) -> Vec<Action> {
        let Some(group) = self.groups.get_mut(key) else {
            return Vec::new();
        };
        let Some(esc) = group.escalation.as_mut() else {
            return Vec::new();
        };
        esc.acknowledge(by, now);
        let receivers = notified_receivers(&policy_for(config, &group.settings), esc);
        let mut n = notification(key, group, Kind::Acknowledged, url, now);
        n.acked_by = Some(by.to_owned());
        actions(receivers, &n, &format!("acknowledged by {by}"))
    }

    /// Withdraws an acknowledgement: escalation starts again from the first tier.
    pub fn unacknowledge(&mut self, key: &str, now: SystemTime) -> bool {
        let esc = self.groups.get_mut(key).and_then(|g| g.escalation.as_mut());
        esc.map(|e| e.unacknowledge(now)).is_some()
    }

    /// Decides every group at `now`; returns what to send and the next time something is due.
    pub fn tick(
        &mut self,
        config: &AlertingConfig,
        muter: &dyn Muter,
        now: SystemTime,
        url: &str,
    ) -> (Vec<Action>, Option<SystemTime>) {
        let mut out = Vec::new();
        let mut wake: Option<SystemTime> = None;
        for (key, group) in self.groups.iter_mut() {
            let (actions, next) = tick_group(config, muter, key, group, now, url);
            out.extend(actions);
            wake = [wake, next].into_iter().flatten().min();
        }
        self.groups.retain(|_, g| !finished(g, now));
        (out, wake)
    }
}

fn group_labels(
    settings: &RouteSettings,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    match &settings.group_by {
        None => labels.clone(),
        Some(names) => names
            .iter()
            .filter_map(|n| Some((n.clone(), labels.get(n)?.clone())))
            .collect(),
    }
}

/// The route's policy, or a one-tier policy of its receiver repeating at `repeat_interval`.
fn policy_for(config: &AlertingConfig, settings: &RouteSettings) -> EscalationPolicy {
    if let Some(p) = settings
        .escalation
        .as_deref()
        .and_then(|name| config.policy(name))
    {
        return p.clone();
    }
    EscalationPolicy {
        name: format!("route {}", settings.path),
        tiers: vec![Tier {
            after: std::time::Duration::ZERO,
            receivers: vec![settings.receiver.clone()],
        }],
        repeat: Some(settings.repeat_interval),
    }
}

fn tick_group(
    config: &AlertingConfig,
    muter: &dyn Muter,
    key: &str,
    group: &mut GroupState,
    now: SystemTime,
    url: &str,
) -> (Vec<Action>, Option<SystemTime>) {
    let (firing, resolved) = split(group, muter, now);
    let timings = Timings {
        group_wait: group.settings.group_wait,
        group_interval: group.settings.group_interval,
        repeat_interval: group.settings.repeat_interval,
    };
    let policy = policy_for(config, &group.settings);
    if group.escalation.is_none() {
        let first = flush_decision(
            timings,
            group.created,
            &group.flushed,
            &firing,
            &resolved,
            now,
        );
        if !first.now {
            let next = [first.next_check, next_end(group, now)];
            return (Vec::new(), next.into_iter().flatten().min());
        }
        group.escalation = Some(GroupEscalation::fired(now));
    }
    let mut out = Vec::new();
    if firing.is_empty() && !resolved.is_empty() {
        out.extend(resolve(key, group, &policy, now, url));
        return (out, None);
    }
    let (tiers, next_tier) = climb(key, group, &policy, now, url);
    let update = flush_decision(
        timings,
        group.created,
        &group.flushed,
        &firing,
        &resolved,
        now,
    );
    if tiers.is_empty() && update.now && group.flushed.at.is_some() {
        let receivers = group
            .escalation
            .as_ref()
            .map(|e| notified_receivers(&policy, e))
            .unwrap_or_default();
        let n = notification(key, group, Kind::Firing, url, now);
        out.extend(actions(receivers, &n, &format!("{:?}", update.reason)));
    }
    if !tiers.is_empty() || update.now {
        group.flushed = Flushed {
            at: Some(now),
            firing,
            resolved,
        };
    }
    out.extend(tiers);
    let next = [next_tier, update.next_check, next_end(group, now)];
    (out, next.into_iter().flatten().min())
}

/// Notifies every tier that is due; returns the actions and when the next tier is due.
fn climb(
    key: &str,
    group: &mut GroupState,
    policy: &EscalationPolicy,
    now: SystemTime,
    url: &str,
) -> (Vec<Action>, Option<SystemTime>) {
    let mut out = Vec::new();
    let n = notification(key, group, Kind::Firing, url, now);
    let Some(esc) = group.escalation.as_mut() else {
        return (out, None);
    };
    loop {
        match decide(policy, esc, now) {
            Decision::Notify {
                tier,
                receivers,
                reason,
            } => {
                esc.record_notified(tier, now);
                out.extend(actions(receivers, &n, &format!("{reason:?}")));
            }
            Decision::Wait { until, .. } => return (out, until),
            Decision::NotifyResolved { .. } => return (out, None),
        }
    }
}

fn resolve(
    key: &str,
    group: &mut GroupState,
    policy: &EscalationPolicy,
    now: SystemTime,
    url: &str,
) -> Vec<Action> {
    let n = notification(key, group, Kind::Resolved, url, now);
    let Some(esc) = group.escalation.as_mut() else {
        return Vec::new();
    };
    esc.resolve(now);
    let Decision::NotifyResolved { receivers, reason } = decide(policy, esc, now) else {
        return Vec::new();
    };
    esc.resolve_sent = true;
    actions(receivers, &n, &format!("{reason:?}"))
}

/// Fingerprints of firing (not muted) and resolved alerts.
fn split(
    group: &GroupState,
    muter: &dyn Muter,
    now: SystemTime,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut firing = BTreeSet::new();
    let mut resolved = BTreeSet::new();
    for (fp, a) in &group.alerts {
        if ended(a, now) {
            resolved.insert(fp.clone());
        } else if muter.mutes(&a.labels, now).is_none() {
            firing.insert(fp.clone());
        }
    }
    (firing, resolved)
}

fn finished(g: &GroupState, now: SystemTime) -> bool {
    let resolved = g.escalation.as_ref().is_some_and(|e| e.resolve_sent);
    let never_fired = g.escalation.is_none() && g.alerts.values().all(|a| ended(a, now));
    resolved || never_fired
}

/// Resolved: its end time has come. An end time still ahead (Alertmanager's "firing until
/// refreshed", as a Prometheus sends it) means firing.
fn ended(a: &AlertView, now: SystemTime) -> bool {
    a.ends_at.is_some_and(|e| e <= now)
}

/// The earliest end time still ahead: the group must be looked at again then.
fn next_end(group: &GroupState, now: SystemTime) -> Option<SystemTime> {
    group
        .alerts
        .values()
        .filter_map(|a| a.ends_at)
        .filter(|e| *e > now)
        .min()
}

/// The group as receivers see it at `now`: an alert whose end time is still ahead is firing, so
/// its end time is not shown.
fn notification(
    key: &str,
    group: &GroupState,
    kind: Kind,
    url: &str,
    now: SystemTime,
) -> Notification {
    let alerts = group
        .alerts
        .values()
        .map(|a| AlertView {
            ends_at: a.ends_at.filter(|e| *e <= now),
            ..a.clone()
        })
        .collect();
    Notification {
        kind,
        receiver: String::new(),
        group_key: key.to_owned(),
        group_labels: group.group_labels.clone(),
        alerts,
        warroom_url: url.to_owned(),
        acked_by: None,
    }
}

fn actions(receivers: Vec<String>, n: &Notification, reason: &str) -> Vec<Action> {
    receivers
        .into_iter()
        .map(|receiver| Action {
            notification: Notification {
                receiver: receiver.clone(),
                ..n.clone()
            },
            receiver,
            reason: reason.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
