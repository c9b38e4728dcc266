//! The pipeline on a real SQLite file with an injected clock: the timeline events of alerts,
//! notifications and escalations, and the cutover's `phase` label on alerts coming in.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use warroom_alerts::dispatch::fingerprint;
use warroom_alerts::escalation::Reason;

use super::*;
use crate::timeline::{Event, Filter, MAX_PAGE};

/// Chat at once, the pager after ten minutes; alerts of phase `rollback` page the pager at once.
const ALERTING: &str = r#"
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 0s
  escalation: cutover
  routes:
    - matchers: ['phase="rollback"']
      receiver: pager
      escalation: straight-to-pager
receivers:
  - name: chat
    webhook_configs: [{url: "http://127.0.0.1:9/chat"}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:9/pager"}]
escalation_policies:
  - name: cutover
    tiers:
      - {after: 0s, receivers: [chat]}
      - {after: 10m, receivers: [pager]}
  - name: straight-to-pager
    tiers:
      - {after: 0s, receivers: [pager]}
"#;

const T0: Duration = Duration::from_secs(1_800_000_000);
const MINUTE: Duration = Duration::from_secs(60);

/// A pipeline over a fresh database in `dir`, routed by [`ALERTING`].
pub(in crate::alerting) async fn pipeline(dir: &tempfile::TempDir) -> Arc<Pipeline> {
    let db = crate::db::open(&dir.path().join("w.db")).await.unwrap();
    reopen(db).await
}

/// The pipeline as a restart finds it in `db`.
async fn reopen(db: SqlitePool) -> Arc<Pipeline> {
    let config: AlertingConfig = serde_norway::from_str(ALERTING).unwrap();
    let integrations = Integrations::build(&config, &reqwest::Client::new()).unwrap();
    let routing = Routing {
        config,
        integrations,
    };
    Pipeline::open(db.clone(), Timeline::new(db), routing)
        .await
        .unwrap()
}

fn at(offset: Duration) -> SystemTime {
    UNIX_EPOCH + T0 + offset
}

/// An alert as a rule gives it: `alertname` and `labels`, firing, or resolved at `ended`.
pub(in crate::alerting) fn alert(labels: &[(&str, &str)], ended: Option<SystemTime>) -> AlertView {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    AlertView {
        fingerprint: fingerprint(&labels),
        labels,
        annotations: BTreeMap::new(),
        starts_at: at(Duration::ZERO),
        ends_at: ended,
    }
}

const ERRORS: &[(&str, &str)] = &[("alertname", "TargetErrors"), ("service", "checkout")];

async fn events(p: &Pipeline) -> Vec<Event> {
    p.timeline()
        .page(&Filter::default(), MAX_PAGE)
        .await
        .unwrap()
}

/// `kind what` of each event, e.g. `alert firing`.
fn summary(events: &[Event]) -> Vec<String> {
    let what = |e: &Event| e.body["what"].as_str().unwrap_or("").to_owned();
    events
        .iter()
        .map(|e| format!("{} {}", e.kind, what(e)))
        .collect()
}

/// The only alert the pipeline holds.
async fn the_alert(p: &Pipeline) -> AlertView {
    let groups = p.groups().await;
    let alerts: Vec<&AlertView> = groups
        .iter()
        .flat_map(|g| g.group.alerts.values())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    alerts[0].clone()
}

#[tokio::test]
async fn an_alert_is_on_the_timeline_when_it_fires_and_when_it_resolves_not_on_resends() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;

    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();
    p.receive(vec![alert(ERRORS, None)], at(MINUTE))
        .await
        .unwrap();
    let resolved = alert(ERRORS, Some(at(2 * MINUTE)));
    p.receive(vec![resolved], at(2 * MINUTE)).await.unwrap();

    let all = events(&p).await;
    let alerts: Vec<&Event> = all.iter().filter(|e| e.kind == "alert").collect();
    assert_eq!(alerts.len(), 2, "{:?}", summary(&all));
    let (fired, ended) = (alerts[0], alerts[1]);
    assert_eq!(fired.body["what"], "firing");
    assert_eq!(ended.body["what"], "resolved");
    assert_eq!(fired.subject.as_deref(), Some("TargetErrors"));
    assert_eq!(fired.service.as_deref(), Some("checkout"));
    assert_eq!(fired.body["labels"]["service"], "checkout");
    assert_eq!(
        fired.body["fingerprint"],
        fingerprint(&alert(ERRORS, None).labels)
    );
}

#[tokio::test]
async fn the_alert_firing_comes_before_the_notification_it_queued_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    let mut live = p.timeline().subscribe();

    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();

    let all = events(&p).await;
    assert_eq!(summary(&all), ["alert firing", "notification queued"]);
    let queued = &all[1];
    assert_eq!(queued.body["receiver"], "chat");
    assert_eq!(queued.body["notification"], "firing");
    assert_eq!(queued.service.as_deref(), Some("checkout"));
    assert_eq!(
        *live.recv().await.unwrap(),
        all[0],
        "published after commit"
    );
    assert_eq!(*live.recv().await.unwrap(), all[1]);
}

#[tokio::test]
async fn a_further_tier_paged_is_an_escalation_with_its_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();

    p.step(at(9 * MINUTE)).await.unwrap();
    let before = events(&p).await.len();
    p.step(at(10 * MINUTE)).await.unwrap();

    let all = events(&p).await;
    assert_eq!(
        summary(&all[before..]),
        ["notification queued", "escalation escalated"]
    );
    let escalation = &all[before + 1];
    assert_eq!(escalation.body["tier"], 1);
    assert_eq!(escalation.body["receivers"], serde_json::json!(["pager"]));
    assert_eq!(escalation.subject, all[before].subject, "the group's key");
    assert!(
        summary(&all[..before])
            .iter()
            .all(|s| s != "escalation escalated"),
        "the first tier is no escalation"
    );
}

#[test]
fn only_a_tier_past_the_first_being_due_counts_as_escalating() {
    let due = |tier| {
        format!(
            "{:?}",
            Reason::TierDue {
                tier,
                elapsed: MINUTE
            }
        )
    };
    let repeat = format!("{:?}", Reason::Repeat { repeat: MINUTE });

    assert_eq!(events::escalated_to(&due(0)), None);
    assert_eq!(events::escalated_to(&due(2)), Some(2));
    assert_eq!(events::escalated_to(&due(12)), Some(12));
    assert_eq!(events::escalated_to(&repeat), None);
    assert_eq!(events::escalated_to("acknowledged by alice"), None);
}

#[tokio::test]
async fn an_alert_carries_the_cutover_phase_and_its_fingerprint_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.timeline().set_phase(Some("shift-10".into()));

    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();

    let held = the_alert(&p).await;
    assert_eq!(held.labels["phase"], "shift-10");
    assert_eq!(held.fingerprint, fingerprint(&held.labels));
    let fired = &events(&p).await[0];
    assert_eq!(fired.body["labels"]["phase"], "shift-10");
    assert_eq!(fired.phase.as_deref(), Some("shift-10"));
}

#[tokio::test]
async fn an_alert_keeps_its_phase_across_phase_changes_until_it_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.timeline().set_phase(Some("shift-10".into()));
    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();
    let first = the_alert(&p).await;

    p.timeline().set_phase(Some("shift-50".into()));
    p.receive(vec![alert(ERRORS, None)], at(MINUTE))
        .await
        .unwrap();
    let resent = the_alert(&p).await;
    let resolved = alert(ERRORS, Some(at(2 * MINUTE)));
    p.receive(vec![resolved], at(2 * MINUTE)).await.unwrap();

    assert_eq!(resent.labels["phase"], "shift-10");
    assert_eq!(resent.fingerprint, first.fingerprint, "the same alert");
    let all = events(&p).await;
    let alerts: Vec<&Event> = all.iter().filter(|e| e.kind == "alert").collect();
    assert_eq!(
        summary(&all)
            .iter()
            .filter(|s| *s == "alert firing")
            .count(),
        1
    );
    let ended = alerts.last().unwrap();
    assert_eq!(ended.body["what"], "resolved");
    assert_eq!(ended.body["fingerprint"], first.fingerprint.as_str());
    assert_eq!(
        ended.phase.as_deref(),
        Some("shift-50"),
        "written in shift-50"
    );
}

#[tokio::test]
async fn an_alert_held_before_any_phase_stays_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();

    p.timeline().set_phase(Some("prepare".into()));
    p.receive(vec![alert(ERRORS, None)], at(MINUTE))
        .await
        .unwrap();

    let held = the_alert(&p).await;
    assert!(!held.labels.contains_key("phase"), "{:?}", held.labels);
    assert_eq!(held.fingerprint, fingerprint(&alert(ERRORS, None).labels));
}

#[tokio::test]
async fn an_alert_with_its_own_phase_label_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.timeline().set_phase(Some("shift-10".into()));
    let own = alert(&[("alertname", "Lag"), ("phase", "prepare")], None);

    p.receive(vec![own.clone()], at(Duration::ZERO))
        .await
        .unwrap();

    assert_eq!(the_alert(&p).await, own);
}

#[tokio::test]
async fn routes_match_on_the_phase_label() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.timeline().set_phase(Some("rollback".into()));

    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();

    let groups = p.groups().await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].group.settings.receiver, "pager");
    let queued = &events(&p).await[1];
    assert_eq!(queued.body["receiver"], "pager");
}

#[tokio::test]
async fn rules_get_their_alerts_back_without_the_phase_the_pipeline_added_after_a_restart() {
    // Arrange: one alert stamped with shift-10, one with its own phase.
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.timeline().set_phase(Some("shift-10".into()));
    let own = alert(&[("alertname", "Lag"), ("phase", "prepare")], None);
    p.receive(vec![alert(ERRORS, None), own.clone()], at(Duration::ZERO))
        .await
        .unwrap();
    // Act
    let restarted = reopen(p.db().clone()).await;
    let mut restored = restarted.alerts().await;
    restored.sort_by(|a, b| a.labels["alertname"].cmp(&b.labels["alertname"]));
    // Assert: as they came in; a re-send finds the stamped one again, in no phase now.
    assert_eq!(restored, [own, alert(ERRORS, None)]);
    let held = restarted.groups().await;
    restarted
        .receive(vec![alert(ERRORS, None)], at(MINUTE))
        .await
        .unwrap();
    assert_eq!(restarted.groups().await.len(), held.len(), "no new group");
    let fired = events(&restarted).await;
    let fired = fired.iter().filter(|e| e.body["what"] == "firing").count();
    assert_eq!(fired, 2, "the re-send after the restart is no new firing");
}

#[tokio::test]
async fn a_delivery_attempt_is_a_notification_event_with_its_integration() {
    // Arrange: the queued firing notification of one alert.
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(&dir).await;
    p.receive(vec![alert(ERRORS, None)], at(Duration::ZERO))
        .await
        .unwrap();
    let mut row = records::pending(p.db()).await.unwrap().remove(0);
    let outcome = row.delivery.record(Ok(()), at(MINUTE), p.retry, 0.5);
    // Act
    let stored = records::record_attempt(p.timeline(), p.db(), &row, &outcome, at(MINUTE))
        .await
        .unwrap();
    // Assert
    assert_eq!(events(&p).await.last(), stored.last());
    let body: &Value = &stored[0].body;
    assert_eq!(stored[0].kind, "notification");
    assert_eq!(body["what"], "delivered");
    assert_eq!(body["integration"], "chat/webhook/0");
    assert_eq!(body["receiver"], "chat");
    assert_eq!(body["attempt"], 1);
    assert_eq!(stored[0].service.as_deref(), Some("checkout"));
    assert!(records::pending(p.db()).await.unwrap().is_empty());
}
