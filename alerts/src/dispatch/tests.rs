//! Whole scenarios through the dispatcher with an injected clock.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::*;
use crate::mute::Silence;

const MIN: Duration = Duration::from_secs(60);
const URL: &str = "http://warroom.test/alerts";

fn config() -> AlertingConfig {
    serde_norway::from_str(
        r#"
route:
  receiver: slack-warroom
  group_by: [alertname, env]
  group_wait: 0s
  escalation: cutover
receivers:
  - name: slack-warroom
  - name: pagerduty-sre
  - name: next-level
escalation_policies:
  - name: cutover
    tiers:
      - {after: 0s, receivers: [slack-warroom]}
      - {after: 15m, receivers: [pagerduty-sre]}
      - {after: 1h, receivers: [next-level]}
"#,
    )
    .unwrap()
}

fn alert(t0: SystemTime, ends_at: Option<SystemTime>) -> AlertView {
    let labels = BTreeMap::from([
        ("alertname".to_string(), "TargetErrorRate".to_string()),
        ("env".to_string(), "target".to_string()),
    ]);
    AlertView {
        fingerprint: fingerprint(&labels),
        labels,
        annotations: BTreeMap::new(),
        starts_at: t0,
        ends_at,
    }
}

fn sent(actions: &[Action]) -> Vec<(String, Kind)> {
    actions
        .iter()
        .map(|a| (a.receiver.clone(), a.notification.kind))
        .collect()
}

fn no_mutes() -> Vec<Silence> {
    Vec::new()
}

#[test]
fn fire_slack_then_pagerduty_then_ack_stops_tier_three_and_resolve_reaches_both() {
    // Arrange
    let config = config();
    let silences = no_mutes();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut d = Dispatcher::default();
    d.upsert(&config, alert(t0, None), t0);
    // Act + Assert: Slack at once.
    let (a, wake) = d.tick(&config, &silences, t0, URL);
    assert_eq!(sent(&a), vec![("slack-warroom".to_string(), Kind::Firing)]);
    assert_eq!(
        wake,
        Some(t0 + 15 * MIN),
        "the next tier is the next thing due"
    );
    assert!(d.tick(&config, &silences, t0 + 14 * MIN, URL).0.is_empty());
    // PagerDuty after 15 minutes, once.
    let (a, _) = d.tick(&config, &silences, t0 + 15 * MIN, URL);
    assert_eq!(sent(&a), vec![("pagerduty-sre".to_string(), Kind::Firing)]);
    assert!(d.tick(&config, &silences, t0 + 16 * MIN, URL).0.is_empty());
    // Ack: both notified receivers hear of it; tier 3 never comes.
    let key = d.groups.keys().next().unwrap().clone();
    let acks = d.acknowledge(&config, &key, "alice", t0 + 20 * MIN, URL);
    assert_eq!(
        sent(&acks),
        vec![
            ("slack-warroom".to_string(), Kind::Acknowledged),
            ("pagerduty-sre".to_string(), Kind::Acknowledged)
        ]
    );
    assert!(d.tick(&config, &silences, t0 + 120 * MIN, URL).0.is_empty());
    // Resolve goes to Slack and PagerDuty, then the group is gone.
    d.upsert(&config, alert(t0, Some(t0 + 180 * MIN)), t0 + 180 * MIN);
    let (a, _) = d.tick(&config, &silences, t0 + 180 * MIN, URL);
    assert_eq!(
        sent(&a),
        vec![
            ("slack-warroom".to_string(), Kind::Resolved),
            ("pagerduty-sre".to_string(), Kind::Resolved)
        ]
    );
    assert!(d.groups.is_empty());
}

#[test]
fn a_restart_between_tier_one_and_two_fires_tier_two_once() {
    let config = config();
    let silences = no_mutes();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut d = Dispatcher::default();
    d.upsert(&config, alert(t0, None), t0);
    d.tick(&config, &silences, t0, URL);
    // The server persists the state and comes back.
    let saved = serde_json::to_string(&d).unwrap();
    let mut d: Dispatcher = serde_json::from_str(&saved).unwrap();
    let (a, _) = d.tick(&config, &silences, t0 + 16 * MIN, URL);
    assert_eq!(sent(&a), vec![("pagerduty-sre".to_string(), Kind::Firing)]);
    assert!(d.tick(&config, &silences, t0 + 17 * MIN, URL).0.is_empty());
}

#[test]
fn a_silenced_alert_notifies_nobody_and_its_group_waits() {
    let config = config();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let silences = vec![Silence {
        id: "s".into(),
        matchers: vec![crate::matcher::Matcher::parse("env=\"target\"").unwrap()],
        starts_at: t0,
        ends_at: t0 + 60 * MIN,
        created_by: "bob".into(),
        comment: "cutover window".into(),
    }];
    let mut d = Dispatcher::default();
    d.upsert(&config, alert(t0, None), t0);
    assert!(d.tick(&config, &silences, t0, URL).0.is_empty());
    let (a, _) = d.tick(&config, &silences, t0 + 61 * MIN, URL);
    assert_eq!(sent(&a), vec![("slack-warroom".to_string(), Kind::Firing)]);
}

#[test]
fn a_second_alert_joining_the_group_updates_the_notified_tiers_at_the_group_interval() {
    let config = config();
    let silences = no_mutes();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut d = Dispatcher::default();
    d.upsert(&config, alert(t0, None), t0);
    d.tick(&config, &silences, t0, URL);
    let mut second = alert(t0, None);
    second.labels.insert("pod".into(), "api-2".into());
    second.fingerprint = fingerprint(&second.labels);
    d.upsert(&config, second, t0 + MIN);
    assert!(d.tick(&config, &silences, t0 + 2 * MIN, URL).0.is_empty());
    let (a, _) = d.tick(&config, &silences, t0 + 5 * MIN, URL);
    assert_eq!(sent(&a), vec![("slack-warroom".to_string(), Kind::Firing)]);
    assert_eq!(a[0].notification.alerts.len(), 2);
}

#[test]
fn an_external_alert_with_an_end_ahead_fires_and_resolves_itself_when_not_refreshed() {
    // Arrange: a Prometheus says "firing until t0 + 4m" and then falls silent.
    let config = config();
    let silences = no_mutes();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut d = Dispatcher::default();
    d.upsert(&config, alert(t0, Some(t0 + 4 * MIN)), t0);
    // Act
    let (fired, wake) = d.tick(&config, &silences, t0, URL);
    let (resolved, _) = d.tick(&config, &silences, t0 + 4 * MIN, URL);
    // Assert
    assert_eq!(
        sent(&fired),
        vec![("slack-warroom".to_string(), Kind::Firing)]
    );
    assert_eq!(
        fired[0].notification.alerts[0].ends_at, None,
        "receivers see it firing, not ending"
    );
    assert_eq!(wake, Some(t0 + 4 * MIN), "the end is the next thing due");
    assert_eq!(
        sent(&resolved),
        vec![("slack-warroom".to_string(), Kind::Resolved)]
    );
    assert!(d.groups.is_empty(), "a resolved group is forgotten");
}
