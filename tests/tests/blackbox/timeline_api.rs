//! The timeline on the real server: a rule fires and Slack gets the page, and the timeline API
//! lists, in order, the alert firing, the notification queued and delivered, the escalation to
//! PagerDuty, then the acknowledgement; notes are posted with an admin token only (an ingest one
//! is 403), and `after_id` pages through the rest.

use std::time::Duration;

use serde_json::{Value, json};
use warroom_tests::alerting::{AlertingServer, alerting_yaml, spawn_alerting_server, wait_for};
use warroom_tests::http;
use warroom_tests::saas::Saas;
use warroom_tests::server::{Server, token};

/// Fires at the first evaluation: checkout's errors, in the target environment.
const RULES: &str = r#"groups:
  - name: checkout
    interval: 1s
    rules:
      - alert: CheckoutErrors
        expr: vector(1)
        labels: {env: target, severity: page, service: checkout}
        annotations: {summary: "checkout is failing on the target"}
"#;

/// `GET /api/warroom/v1/timeline?query` with the read token: its JSON.
fn timeline(s: &AlertingServer, query: &str) -> Value {
    let path = format!("/api/warroom/v1/timeline?{query}");
    let r = http::get(s.server.addr, &path, &[&s.server.reader()]).expect("GET timeline");
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    serde_json::from_str(&r.body).expect("timeline JSON")
}

fn events(s: &AlertingServer, query: &str) -> Vec<Value> {
    let page = timeline(s, query);
    page["events"].as_array().cloned().unwrap_or_default()
}

/// `kind what`, e.g. `notification delivered`, of each event.
fn steps(events: &[Value]) -> Vec<String> {
    let what = |e: &Value| e["body"]["what"].as_str().unwrap_or("").to_owned();
    events
        .iter()
        .map(|e| format!("{} {}", e["kind"].as_str().unwrap_or(""), what(e)))
        .collect()
}

/// Where the first `kind what` event is, for `receiver` if one is given.
fn position(events: &[Value], step: &str, receiver: Option<&str>) -> Option<usize> {
    let steps = steps(events);
    let to = |i: usize| receiver.is_none_or(|r| events[i]["body"]["receiver"] == r);
    (0..events.len()).find(|&i| steps[i] == step && to(i))
}

/// `POST /api/warroom/v1/notes` with `token`: the status and the body.
fn post_note(s: &AlertingServer, token: &str, note: &Value) -> (u16, String) {
    let bearer = Server::bearer(token);
    let headers = [bearer.as_str(), "Content-Type: application/json"];
    let body = note.to_string();
    let r = http::post(
        s.server.addr,
        "/api/warroom/v1/notes",
        &headers,
        body.as_bytes(),
    );
    let r = r.expect("POST note");
    (r.status, r.body)
}

fn admin_token(s: &AlertingServer) -> String {
    token(
        &s.server.data_dir,
        &["create", "commander", "--scope", "admin"],
    )
}

#[test]
fn a_rule_firing_is_on_the_timeline_with_its_page_delivered_its_escalation_and_its_ack() {
    // Arrange: Slack at once, PagerDuty after 3s.
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let s = spawn_alerting_server(RULES, &alerting_yaml(&slack.url(), &pd.url(), "3s", "1h"));
    // Act: the rule fires and both tiers are paged.
    wait_for("the Slack page", Duration::from_secs(20), || {
        slack.accepted().into_iter().next()
    });
    wait_for("the PagerDuty trigger", Duration::from_secs(20), || {
        pd.accepted().into_iter().next()
    });
    let paged = wait_for("PagerDuty's delivery", Duration::from_secs(10), || {
        let all = events(&s, "");
        let pagerduty = Some("pagerduty-sre");
        position(&all, "notification delivered", pagerduty).map(|_| all)
    });
    // Assert: in order, each with its details.
    let slack_tier = Some("slack-warroom");
    let fired = position(&paged, "alert firing", None).expect("the alert firing");
    let queued = position(&paged, "notification queued", slack_tier).expect("Slack's page");
    let delivered = position(&paged, "notification delivered", slack_tier);
    let delivered = delivered.expect("Slack's delivery");
    let escalated = position(&paged, "escalation escalated", None).expect("the escalation");
    assert!(
        fired < queued && queued < delivered && delivered < escalated,
        "{:?}",
        steps(&paged)
    );
    let alert = &paged[fired];
    assert_eq!(alert["subject"], "CheckoutErrors");
    assert_eq!(alert["service"], "checkout");
    assert_eq!(alert["body"]["labels"]["severity"], "page");
    assert_eq!(
        paged[delivered]["body"]["integration"],
        "slack-warroom/slack/0"
    );
    assert_eq!(paged[delivered]["body"]["attempt"], 1);
    assert_eq!(paged[escalated]["body"]["tier"], 1);
    assert_eq!(
        paged[escalated]["body"]["receivers"],
        json!(["pagerduty-sre"])
    );
    assert_eq!(
        steps(&paged)
            .iter()
            .filter(|x| *x == "alert firing")
            .count(),
        1,
        "each evaluation's re-send is no new event"
    );
    // The acknowledgement.
    let id = s.groups()[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = s.act(&id, "ack", "alice");
    assert_eq!(status, 200, "{body}");
    let acks = events(&s, "kind=ack");
    assert_eq!(steps(&acks), ["ack acknowledged"]);
    assert!(
        acks[0]["actor"].as_str().unwrap().starts_with("alice"),
        "{}",
        acks[0]
    );
    assert_eq!(acks[0]["service"], "checkout");
    assert!(acks[0]["id"].as_i64() > paged[escalated]["id"].as_i64());
}

#[test]
fn notes_need_an_admin_token_and_after_id_pages_through_the_rest() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let s = spawn_alerting_server(
        "groups: []\n",
        &alerting_yaml(&slack.url(), &pd.url(), "1h", "2h"),
    );
    let admin = admin_token(&s);
    // Act: five notes by the commander, one attempt with the agent's ingest token.
    for i in 1..=5 {
        let note = json!({"text": format!("step {i} done"), "by": "bob", "service": "checkout"});
        let (status, body) = post_note(&s, &admin, &note);
        assert_eq!(status, 201, "{body}");
        let stored: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(stored["kind"], "note");
        assert_eq!(stored["actor"], "bob");
        assert_eq!(stored["body"]["token"], "commander");
    }
    let (status, body) = post_note(&s, &s.server.token, &json!({"text": "sneaky"}));
    // Assert
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs scope admin"), "{body}");
    let all = events(&s, "kind=note");
    let texts: Vec<&str> = all
        .iter()
        .map(|e| e["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "step 1 done",
            "step 2 done",
            "step 3 done",
            "step 4 done",
            "step 5 done"
        ]
    );
    let first = timeline(&s, "kind=note&limit=2");
    assert_eq!(first["events"].as_array().unwrap()[..], all[..2]);
    let after = &first["next_after_id"];
    let rest = events(&s, &format!("kind=note&after_id={after}"));
    assert_eq!(rest[..], all[2..], "the rest, in order");
    let past_the_end = timeline(&s, &format!("after_id={}", all[4]["id"]));
    assert_eq!(past_the_end, json!({"events": [], "next_after_id": null}));
}
