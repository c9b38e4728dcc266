//! Shutdown with notifications under way, on the real server: a send in flight at SIGTERM is
//! awaited (a bounded time) and recorded; one the receiver holds past the bound is cut off,
//! stays pending in the outbox and is delivered after the restart; and a held send never keeps
//! the server from exiting promptly.

use std::time::{Duration, Instant};

use warroom_tests::alerting::{AlertingServer, alerting_yaml, spawn_alerting_server, wait_for};
use warroom_tests::outbox;
use warroom_tests::saas::Saas;

/// How long the server waits for sends in flight at shutdown (`[shutdown] sends`, default).
const DRAIN: Duration = Duration::from_secs(5);

/// Slack at once, PagerDuty after `pagerduty_after`; no rules (alerts come over the API).
fn server(slack: &Saas, pd: &Saas, pagerduty_after: &str) -> AlertingServer {
    let alerting = alerting_yaml(&slack.url(), &pd.url(), pagerduty_after, "2h");
    spawn_alerting_server("groups: []\n", &alerting)
}

/// Posts one firing alert as a Prometheus would.
fn fire(s: &AlertingServer) {
    let body = r#"[{"labels":{"alertname":"TargetDown","env":"target","severity":"page"},
        "annotations":{"summary":"target is down"}}]"#;
    let (status, text) = s.post_json("/api/v2/alerts", body);
    assert_eq!(status, 200, "{text}");
}

/// The outbox rows of `integration` (e.g. `slack-warroom/slack/0`).
fn rows_of(s: &AlertingServer, integration: &str) -> Vec<outbox::Row> {
    let rows = outbox::rows(&s.server.data_dir);
    rows.into_iter()
        .filter(|r| r.integration == integration)
        .collect()
}

const SLACK: &str = "slack-warroom/slack/0";

/// A server whose Slack send of one fired alert is in flight, Slack holding it for `hold`.
fn slack_send_in_flight(hold: Duration) -> (Saas, AlertingServer) {
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    slack.hold(&[hold]);
    let s = server(&slack, &pd, "1h");
    fire(&s);
    wait_for("the Slack send in flight", Duration::from_secs(10), || {
        (slack.requests() == 1).then_some(())
    });
    (slack, s)
}

/// Asserts the server exited cleanly on SIGTERM (`status` is what `terminate` saw).
fn assert_clean_exit(status: Option<std::process::ExitStatus>, s: &AlertingServer) {
    assert!(
        status.is_some_and(|st| st.success()),
        "clean exit on SIGTERM\n{}",
        s.server.log_text()
    );
}

#[test]
fn a_send_in_flight_at_sigterm_is_awaited_and_recorded_delivered_before_the_exit() {
    // Arrange: Slack answers after 2s, within the drain bound.
    let (slack, mut s) = slack_send_in_flight(Duration::from_secs(2));
    // Act
    let status = s.server.terminate(Duration::from_secs(20));
    // Assert
    assert_clean_exit(status, &s);
    assert_eq!(slack.accepted().len(), 1, "the held message was answered");
    let rows = rows_of(&s, SLACK);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, "delivered", "{rows:?}");
    assert_eq!(rows[0].attempts, 1, "{rows:?}");
}

#[test]
fn a_send_cut_off_by_sigterm_is_delivered_after_the_restart_and_its_row_ends_delivered() {
    // Arrange: Slack holds the first request far past the drain bound.
    let (slack, mut s) = slack_send_in_flight(Duration::from_secs(600));
    // Act: stop while the send is held, then start again on the same database.
    let status = s.server.terminate(Duration::from_secs(20));
    assert_clean_exit(status, &s);
    assert!(slack.accepted().is_empty(), "nothing was answered yet");
    let rows = rows_of(&s, SLACK);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("pending", 0),
        "the cut-off send is still to do: {rows:?}"
    );
    assert!(
        s.server.log_text().contains("cut off by shutdown"),
        "{}",
        s.server.log_text()
    );
    s.server.restart();
    // Assert
    let page = wait_for(
        "the page after the restart",
        Duration::from_secs(15),
        || slack.accepted().into_iter().next(),
    );
    let text = page.body["text"].as_str().unwrap();
    assert!(
        text.starts_with("[FIRING]") && text.contains("target is down"),
        "{text}"
    );
    let row = wait_for("the row delivered", Duration::from_secs(10), || {
        let rows = rows_of(&s, SLACK);
        rows.into_iter().find(|r| r.status == "delivered")
    });
    assert_eq!(row.id, rows[0].id, "the same outbox row was delivered");
    assert_eq!(
        rows_of(&s, SLACK).len(),
        1,
        "no second row for the same page"
    );
    assert_eq!(
        slack.requests(),
        2,
        "sent once before and once after the restart"
    );
}

#[test]
fn sigterm_with_a_held_send_and_a_retry_pending_exits_within_the_drain_bound() {
    // Arrange: Slack holds its request for minutes; PagerDuty (at once) keeps answering 503.
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    slack.hold(&[Duration::from_secs(600)]);
    pd.script(&[(503, None); 20]);
    let mut s = server(&slack, &pd, "0s");
    fire(&s);
    wait_for(
        "a held send and a PagerDuty retry",
        Duration::from_secs(10),
        || (slack.requests() == 1 && pd.requests() >= 1).then_some(()),
    );
    wait_for(
        "the PagerDuty retry recorded",
        Duration::from_secs(10),
        || {
            let rows = rows_of(&s, "pagerduty-sre/pagerduty/0");
            rows.into_iter()
                .find(|r| r.status == "pending" && r.attempts >= 1)
        },
    );
    // Act
    let start = Instant::now();
    let status = s.server.terminate(Duration::from_secs(30));
    let took = start.elapsed();
    // Assert
    assert_clean_exit(status, &s);
    assert!(
        took < DRAIN + Duration::from_secs(3),
        "exited {took:?} after SIGTERM, past the {DRAIN:?} bound\n{}",
        s.server.log_text()
    );
    assert!(
        took >= DRAIN - Duration::from_millis(500),
        "exited after {took:?}: did not wait for the send in flight"
    );
    let pending: Vec<_> = outbox::rows(&s.server.data_dir)
        .into_iter()
        .filter(|r| r.status == "pending")
        .collect();
    assert_eq!(
        pending.len(),
        2,
        "both stay for the next start: {pending:?}"
    );
}
