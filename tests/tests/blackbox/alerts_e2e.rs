//! From breach to human on real processes: an agent ships to `warroom serve`, a rule fires, Slack
//! gets tier 1, PagerDuty tier 2 after the (shortened) delay, an acknowledgement through the HTTP
//! action stops tier 3 and tells PagerDuty; a restart between tiers neither loses nor repeats a
//! page; Slack's 429s are waited out; alerts from a real Prometheus and from an Alertmanager
//! webhook join the same pipeline; a broken rule file on reload keeps the last good rules.

use std::time::{Duration, Instant};

use serde_json::Value;
use warroom_tests::agent::{Agent, Shipping};
use warroom_tests::alerting::{
    AlertingServer, TIER2_KEY, TIER3_KEY, alerting_yaml, spawn_alerting_server, wait_for,
};
use warroom_tests::prometheus::Prometheus;
use warroom_tests::saas::{Arrival, Saas};

/// Fires as soon as the target-side agent's memory figures arrive.
const TARGET_RULES: &str = r#"groups:
  - name: target
    interval: 1s
    rules:
      - alert: TargetMemoryWatch
        expr: node_memory_MemAvailable_bytes{env="target"} > 0
        labels:
          severity: page
        annotations:
          summary: "Target node {{ $labels.node }} reports memory"
"#;

/// PagerDuty events for `routing_key` with `action` (`trigger`, `acknowledge`, `resolve`).
fn pd_events(pd: &Saas, routing_key: &str, action: &str) -> Vec<Arrival> {
    pd.accepted()
        .into_iter()
        .filter(|a| a.body["routing_key"] == routing_key && a.body["event_action"] == action)
        .collect()
}

/// Slack messages whose fallback text starts with `[STATE]`.
fn slack_messages(slack: &Saas, state: &str) -> Vec<Arrival> {
    let prefix = format!("[{state}]");
    slack
        .accepted()
        .into_iter()
        .filter(|a| {
            a.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&prefix))
        })
        .collect()
}

fn ship_target_agent(s: &AlertingServer) -> Agent {
    let token_file = s.server.scratch().join("agent.token");
    std::fs::write(&token_file, &s.server.token).unwrap();
    let spool = s.server.scratch().join("spool");
    let url = s.server.url();
    let shipping = Shipping {
        server: &url,
        token_file: &token_file,
        spool: &spool,
    };
    Agent::start("target", "eks-node-1", "1s", Some(shipping))
}

fn one_group(s: &AlertingServer) -> Value {
    wait_for("one alert group", Duration::from_secs(10), || {
        let groups = s.groups();
        (groups.len() == 1).then(|| groups[0].clone())
    })
}

#[test]
fn a_breach_pages_slack_then_pagerduty_and_an_ack_stops_tier_three_and_tells_pagerduty() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "4s", "12s");
    let s = spawn_alerting_server(TARGET_RULES, &alerting);
    let _agent = ship_target_agent(&s);
    // Act + Assert: Slack first.
    let first = wait_for("the Slack page", Duration::from_secs(20), || {
        slack_messages(&slack, "FIRING").into_iter().next()
    });
    let text = first.body["text"].as_str().unwrap();
    assert!(
        text.contains("eks-node-1") && text.contains("env target"),
        "{text}"
    );
    assert!(pd.accepted().is_empty(), "PagerDuty waits for its tier");
    // PagerDuty after the tier delay.
    let trigger = wait_for("the PagerDuty trigger", Duration::from_secs(15), || {
        pd_events(&pd, TIER2_KEY, "trigger").into_iter().next()
    });
    let waited = trigger.at - first.at;
    assert!(
        waited >= Duration::from_millis(3500),
        "tier 2 came after {waited:?}, not 4s"
    );
    // Acknowledge through the HTTP action.
    let group = one_group(&s);
    let id = group["id"].as_str().unwrap();
    let (status, body) = s.act(id, "ack", "alice");
    assert_eq!(status, 200, "{body}");
    let ack = wait_for("the PagerDuty acknowledge", Duration::from_secs(10), || {
        pd_events(&pd, TIER2_KEY, "acknowledge").into_iter().next()
    });
    assert_eq!(ack.body["dedup_key"], trigger.body["dedup_key"]);
    assert_eq!(
        ack.body["dedup_key"], id,
        "the group id is PagerDuty's dedup key"
    );
    wait_for("Slack told of the ack", Duration::from_secs(10), || {
        slack_messages(&slack, "ACKNOWLEDGED").into_iter().next()
    });
    // Tier 3 is due 12s after the first page: past it, nobody at the next level was paged.
    let tier3_due = first.at + Duration::from_secs(14);
    std::thread::sleep(tier3_due.saturating_duration_since(Instant::now()));
    assert!(
        pd.accepted()
            .iter()
            .all(|a| a.body["routing_key"] != TIER3_KEY),
        "tier 3 was paged after the ack"
    );
    assert_eq!(
        pd_events(&pd, TIER2_KEY, "trigger").len(),
        1,
        "one PagerDuty incident"
    );
    let acked = &s.groups()[0]["acknowledged"];
    assert!(
        acked["by"].as_str().unwrap().starts_with("alice"),
        "{acked}"
    );
}

#[test]
fn a_restart_between_tier_one_and_two_still_pages_tier_two_once() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "6s", "1h");
    let mut s = spawn_alerting_server(TARGET_RULES, &alerting);
    let _agent = ship_target_agent(&s);
    let first = wait_for("the Slack page", Duration::from_secs(20), || {
        slack_messages(&slack, "FIRING").into_iter().next()
    });
    // Act: restart before tier 2 is due.
    let status = s.server.terminate(Duration::from_secs(20));
    assert!(
        status.is_some_and(|st| st.success()),
        "clean exit on SIGTERM"
    );
    s.server.restart();
    assert!(
        Instant::now() < first.at + Duration::from_secs(6),
        "restarted before tier 2 was due"
    );
    // Assert
    let trigger = wait_for("tier 2 after the restart", Duration::from_secs(20), || {
        pd_events(&pd, TIER2_KEY, "trigger").into_iter().next()
    });
    assert!(trigger.at - first.at >= Duration::from_millis(5500));
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        pd_events(&pd, TIER2_KEY, "trigger").len(),
        1,
        "no duplicate PagerDuty incident"
    );
    assert_eq!(
        slack_messages(&slack, "FIRING").len(),
        1,
        "Slack was not paged again by the restart"
    );
}

#[test]
fn slack_answering_429_three_times_gets_the_page_once_after_the_waits() {
    // Arrange: an alert posted as a Prometheus would.
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    slack.script(&[(429, Some(2)), (429, Some(2)), (429, Some(2))]);
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "1h", "2h");
    let s = spawn_alerting_server("groups: []\n", &alerting);
    let body = r#"[{"labels":{"alertname":"SourceDown","env":"source","severity":"page"},
        "annotations":{"summary":"source is down"}}]"#;
    // Act
    let start = Instant::now();
    let (status, text) = s.post_json("/api/v2/alerts", body);
    assert_eq!(status, 200, "{text}");
    let page = wait_for("the Slack page", Duration::from_secs(30), || {
        slack.accepted().into_iter().next()
    });
    // Assert
    assert!(
        page.at - start >= Duration::from_secs(6),
        "sent after three 2s waits"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(slack.accepted().len(), 1, "the message arrives once");
    assert_eq!(slack.requests(), 4, "three refused, one accepted");
}

#[test]
fn a_real_prometheus_can_use_warroom_as_its_alertmanager() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "1h", "2h");
    let s = spawn_alerting_server("groups: []\n", &alerting);
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: p\n    rules:\n      - alert: FromPrometheus\n        expr: vector(1)\n        labels: {env: source, severity: page}\n",
    )
    .unwrap();
    let config = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [{:?}]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      authorization:\n        credentials: {}\n      static_configs:\n        - targets: [\"{}\"]\n",
        rules.display().to_string(),
        s.server.token,
        s.server.addr
    );
    // Act: Prometheus drops the first send if its Alertmanager list is not ready yet and
    // resends after `resend-delay` (1m by default): 1s keeps the test short.
    let prometheus =
        Prometheus::start_with_args(&config, &["--rules.alert.resend-delay=1s"]).unwrap();
    // Assert
    let page = wait_for(
        "Prometheus' alert on Slack",
        Duration::from_secs(60),
        || slack_messages(&slack, "FIRING").into_iter().next(),
    );
    assert!(
        page.body["text"]
            .as_str()
            .unwrap()
            .contains("FromPrometheus"),
        "{}\n{}",
        page.body,
        prometheus.log_tail()
    );
    let group = one_group(&s);
    assert_eq!(group["alerts"][0]["labels"]["alertname"], "FromPrometheus");
}

#[test]
fn an_alertmanager_webhook_fires_and_resolves_through_the_pipeline() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "1h", "2h");
    let s = spawn_alerting_server("groups: []\n", &alerting);
    let payload = |status: &str, ends: &str| {
        format!(
            r#"{{"version":"4","groupKey":"g","status":"{status}","receiver":"warroom","groupLabels":{{}},
            "commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am","truncatedAlerts":0,
            "alerts":[{{"status":"{status}","labels":{{"alertname":"DnsSlow","env":"target"}},"annotations":{{}},
            "startsAt":"2026-11-21T10:00:00Z","endsAt":"{ends}","generatorURL":"","fingerprint":"f"}}]}}"#
        )
    };
    // Act + Assert
    let (status, body) = s.post_json(
        "/hooks/alertmanager",
        &payload("firing", "0001-01-01T00:00:00Z"),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the firing page", Duration::from_secs(10), || {
        slack_messages(&slack, "FIRING").into_iter().next()
    });
    let (status, body) = s.post_json(
        "/hooks/alertmanager",
        &payload("resolved", "2026-11-21T10:05:00Z"),
    );
    assert_eq!(status, 200, "{body}");
    let resolved = wait_for("the resolve", Duration::from_secs(10), || {
        slack_messages(&slack, "RESOLVED").into_iter().next()
    });
    assert!(resolved.body["text"].as_str().unwrap().contains("DnsSlow"));
    let (status, _) = s.post_json("/hooks/alertmanager", "{\"version\":\"3\",\"alerts\":[]}");
    assert_eq!(status, 400, "another version is refused");
}

#[test]
fn a_broken_rule_file_on_reload_is_reported_and_the_last_good_rules_keep_running() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "1h", "2h");
    let first = "groups:\n  - name: a\n    rules:\n      - alert: First\n        expr: vector(1)\n";
    let s = spawn_alerting_server(first, &alerting);
    wait_for("First fires", Duration::from_secs(15), || {
        slack_messages(&slack, "FIRING").into_iter().next()
    });
    // Act: a broken file, then a good one adding an alert.
    let extra = s.rules_dir.join("extra.yaml");
    std::fs::write(
        &extra,
        "groups:\n  - name: b\n    rules:\n      - alert: Broken\n        expr: sum(\n",
    )
    .unwrap();
    let log = wait_for(
        "the reload error in the log",
        Duration::from_secs(10),
        || {
            let log = s.server.log_text();
            log.contains("keeping the last good rules").then_some(log)
        },
    );
    assert!(
        log.contains("extra.yaml:5:"),
        "the error names the file and line:\n{log}"
    );
    std::fs::write(
        &extra,
        "groups:\n  - name: b\n    rules:\n      - alert: Second\n        expr: vector(2)\n",
    )
    .unwrap();
    // Assert
    wait_for(
        "Second fires after the good reload",
        Duration::from_secs(15),
        || {
            let second = slack_messages(&slack, "FIRING");
            second
                .iter()
                .any(|a| {
                    a.body["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("Second"))
                })
                .then_some(())
        },
    );
    let names: Vec<String> = s
        .groups()
        .iter()
        .map(|g| g["labels"]["alertname"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        names.contains(&"First".to_owned()),
        "First kept firing: {names:?}"
    );
}

#[test]
fn sighup_reloads_rules_even_when_the_file_looks_unchanged() {
    // Arrange: two rule files of the same length; the second keeps the first's mtime, so only
    // the signal can tell the server.
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "1h", "2h");
    let before =
        "groups:\n  - name: a\n    rules:\n      - alert: Before\n        expr: vector(1)\n";
    let after =
        "groups:\n  - name: a\n    rules:\n      - alert: Afters\n        expr: vector(1)\n";
    assert_eq!(before.len(), after.len());
    let s = spawn_alerting_server(before, &alerting);
    let file = s.rules_dir.join("main.yaml");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    wait_for("Before fires", Duration::from_secs(15), || {
        slack_messages(&slack, "FIRING").into_iter().next()
    });
    std::fs::write(&file, after).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !s.server.log_text().contains("reloaded rules"),
        "no reload without a change or a signal"
    );
    // Act
    s.server.hangup();
    // Assert
    wait_for("Afters fires after SIGHUP", Duration::from_secs(15), || {
        let pages = slack_messages(&slack, "FIRING");
        pages
            .iter()
            .any(|a| {
                a.body["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Afters"))
            })
            .then_some(())
    });
    assert!(
        s.server
            .log_text()
            .contains("reloaded rules and alerting config (SIGHUP)")
    );
}

#[test]
fn a_silence_mutes_a_matching_alert_and_unack_restarts_escalation() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let alerting = alerting_yaml(&slack.url(), &pd.url(), "3s", "1h");
    let s = spawn_alerting_server("groups: []\n", &alerting);
    let silence = r#"{"matchers":[{"name":"env","value":"source","isRegex":false}],
        "endsAt":"2099-01-01T00:00:00Z","createdBy":"alice","comment":"source drained"}"#;
    let (status, body) = s.post_json("/api/v2/silences", silence);
    assert_eq!(status, 200, "{body}");
    let alert = |name: &str, env: &str| {
        format!(r#"[{{"labels":{{"alertname":"{name}","env":"{env}","severity":"page"}}}}]"#)
    };
    // Act: one alert under the silence, one not.
    assert_eq!(
        s.post_json("/api/v2/alerts", &alert("SourceLag", "source"))
            .0,
        200
    );
    assert_eq!(
        s.post_json("/api/v2/alerts", &alert("TargetLag", "target"))
            .0,
        200
    );
    let page = wait_for("the unsilenced page", Duration::from_secs(10), || {
        slack_messages(&slack, "FIRING").into_iter().next()
    });
    // Ack at once, then withdraw it: PagerDuty's tier comes 3s after the un-ack.
    let group = wait_for("the target group", Duration::from_secs(10), || {
        s.groups()
            .into_iter()
            .find(|g| g["labels"]["alertname"] == "TargetLag")
    });
    let id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(s.act(&id, "ack", "bob").0, 200);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        pd_events(&pd, TIER2_KEY, "trigger").is_empty(),
        "acked: no tier 2"
    );
    let unacked = Instant::now();
    assert_eq!(s.act(&id, "unack", "bob").0, 200);
    // Assert
    let trigger = wait_for("tier 2 after the un-ack", Duration::from_secs(10), || {
        pd_events(&pd, TIER2_KEY, "trigger").into_iter().next()
    });
    assert!(
        trigger.at - unacked >= Duration::from_millis(2500),
        "the climb restarted"
    );
    assert!(page.body["text"].as_str().unwrap().contains("TargetLag"));
    assert!(
        slack
            .accepted()
            .iter()
            .all(|a| !a.body["text"].as_str().unwrap_or("").contains("SourceLag")),
        "the silenced alert paged nobody"
    );
    assert_eq!(s.act("nope", "ack", "bob").0, 404);
}
