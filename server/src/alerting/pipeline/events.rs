//! What the pipeline's decisions write to the timeline: an alert starting to fire or resolving,
//! each notification queued, and a group's escalation to a further tier.

use serde_json::json;
use warroom_alerts::dispatch::Action;
use warroom_alerts::notify::AlertView;

use crate::alerting::records::{group_service, kind_name};
use crate::timeline::{Kind, NewEvent};

/// `a` started firing or resolved (`what`), about its alert name.
pub fn alert(a: &AlertView, what: &str) -> NewEvent {
    let subject = a.labels.get("alertname").unwrap_or(&a.fingerprint);
    let body = json!({"what": what, "labels": a.labels, "fingerprint": a.fingerprint});
    NewEvent::new(Kind::Alert, body)
        .about(subject.clone())
        .of_service(a.labels.get("service").cloned())
}

/// One `queued` notification event per action, and one escalation event per group and tier
/// beyond the first that the actions page, with that tier's receivers.
pub fn of_actions(actions: &[Action]) -> Vec<NewEvent> {
    let mut out: Vec<NewEvent> = actions.iter().map(queued).collect();
    let mut escalations: Vec<(&str, usize, NewEvent)> = Vec::new();
    for a in actions {
        let Some(tier) = escalated_to(&a.reason) else {
            continue;
        };
        let key = a.notification.group_key.as_str();
        match escalations
            .iter_mut()
            .find(|(k, t, _)| *k == key && *t == tier)
        {
            Some((_, _, e)) => push_receiver(e, &a.receiver),
            None => escalations.push((key, tier, escalation(a, tier))),
        }
    }
    out.extend(escalations.into_iter().map(|(_, _, e)| e));
    out
}

fn queued(a: &Action) -> NewEvent {
    let n = &a.notification;
    let body = json!({
        "what": "queued",
        "notification": kind_name(n.kind),
        "receiver": a.receiver,
        "reason": a.reason,
    });
    NewEvent::new(Kind::Notification, body)
        .about(n.group_key.clone())
        .of_service(group_service(&n.group_labels, &n.alerts))
}

fn escalation(a: &Action, tier: usize) -> NewEvent {
    let n = &a.notification;
    let body = json!({
        "what": "escalated",
        "tier": tier,
        "receivers": [a.receiver],
        "reason": a.reason,
    });
    NewEvent::new(Kind::Escalation, body)
        .about(n.group_key.clone())
        .of_service(group_service(&n.group_labels, &n.alerts))
}

fn push_receiver(e: &mut NewEvent, receiver: &str) {
    if let Some(list) = e.body["receivers"].as_array_mut() {
        list.push(json!(receiver));
    }
}

/// The tier an action pages when it is a climb past the first tier: the dispatcher gives an
/// escalation tier's page the reason `TierDue { tier: N, .. }` (repeats and updates of a group
/// already paged have other reasons).
pub fn escalated_to(reason: &str) -> Option<usize> {
    let rest = reason.strip_prefix("TierDue { tier: ")?;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok().filter(|tier| *tier > 0)
}
