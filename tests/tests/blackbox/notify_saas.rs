//! The notifiers against the local Slack and PagerDuty stand-ins over real HTTP, driven by the
//! outbox's retry decisions: 429s are waited out per `Retry-After`, and payloads pass the
//! services' shape checks.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use warroom_alerts::notify::pagerduty::PagerDuty;
use warroom_alerts::notify::secret::Secret;
use warroom_alerts::notify::slack::Slack;
use warroom_alerts::notify::{AlertView, Kind, Notification, Notifier};
use warroom_alerts::outbox::{AttemptOutcome, Delivery, RetryPolicy};
use warroom_tests::saas::Saas;

fn notification(kind: Kind) -> Notification {
    let labels = BTreeMap::from([
        ("alertname".to_string(), "TargetLatencyHigh".to_string()),
        ("env".to_string(), "target".to_string()),
        ("severity".to_string(), "page".to_string()),
    ]);
    Notification {
        kind,
        receiver: "r".into(),
        group_key: "0:{alertname=\"TargetLatencyHigh\"}".into(),
        group_labels: BTreeMap::new(),
        alerts: vec![AlertView {
            labels,
            annotations: BTreeMap::new(),
            starts_at: SystemTime::now(),
            ends_at: None,
            fingerprint: "f".into(),
        }],
        warroom_url: "http://127.0.0.1:8080/alerts".into(),
        acked_by: None,
    }
}

/// The stand-ins run their own runtime; the client side gets another.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    rt.expect("client runtime").block_on(f)
}

/// Sends through the outbox's decisions until delivered or failed, sleeping between attempts.
async fn deliver(notifier: &dyn Notifier, n: &Notification) -> AttemptOutcome {
    let policy = RetryPolicy::default();
    let mut d = Delivery::new(SystemTime::now(), policy);
    loop {
        let wait = d
            .next_attempt_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        tokio::time::sleep(wait).await;
        match d.record(notifier.notify(n).await, SystemTime::now(), policy, 0.5) {
            AttemptOutcome::RetryAt { .. } => continue,
            done => return done,
        }
    }
}

#[test]
fn slack_answering_429_with_retry_after_2_three_times_gets_the_message_once_after_the_waits() {
    // Arrange
    let slack = Saas::slack().expect("slack stand-in");
    slack.script(&[(429, Some(2)), (429, Some(2)), (429, Some(2))]);
    let url = Secret::new(format!("{}/services/T000/B000/XXXX", slack.url()));
    let notifier = Slack {
        webhook_url: url,
        client: reqwest::Client::new(),
    };
    // Act
    let start = Instant::now();
    let outcome = block_on(deliver(&notifier, &notification(Kind::Firing)));
    // Assert
    assert_eq!(outcome, AttemptOutcome::Delivered { attempt: 4 });
    assert_eq!(slack.requests(), 4);
    let accepted = slack.accepted();
    assert_eq!(accepted.len(), 1, "exactly one message arrives");
    assert!(
        accepted[0].at.duration_since(start) >= Duration::from_secs(6),
        "it waited 3 × 2 s"
    );
}

#[test]
fn pagerduty_gets_trigger_acknowledge_and_resolve_with_one_dedup_key_through_5xx() {
    let pd = Saas::pagerduty().expect("pagerduty stand-in");
    pd.script(&[(502, None)]);
    let notifier = PagerDuty {
        routing_key: Secret::new("R0UT1NGKEY0123456789abcdef012345"),
        url: format!("{}/v2/enqueue", pd.url()),
        client: reqwest::Client::new(),
    };
    for kind in [Kind::Firing, Kind::Acknowledged, Kind::Resolved] {
        let outcome = block_on(deliver(&notifier, &notification(kind)));
        assert!(
            matches!(outcome, AttemptOutcome::Delivered { .. }),
            "{kind:?}: {outcome:?}"
        );
    }
    let events = pd.accepted();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e.body["event_action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(actions, ["trigger", "acknowledge", "resolve"]);
    assert!(
        events
            .iter()
            .all(|e| e.body["dedup_key"] == events[0].body["dedup_key"])
    );
}

#[test]
fn a_slack_webhook_that_is_gone_fails_permanently_without_retrying() {
    let slack = Saas::slack().expect("slack stand-in");
    slack.script(&[(410, None)]);
    let url = Secret::new(format!("{}/services/T/B/gone", slack.url()));
    let notifier = Slack {
        webhook_url: url,
        client: reqwest::Client::new(),
    };
    let outcome = block_on(deliver(&notifier, &notification(Kind::Firing)));
    assert!(
        matches!(outcome, AttemptOutcome::Failed { .. }),
        "{outcome:?}"
    );
    assert_eq!(slack.requests(), 1);
}
