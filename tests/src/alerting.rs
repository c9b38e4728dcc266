//! A `warroom serve` with alerting for black-box tests: rule files and an `alerting.yaml` whose
//! escalation tiers page the local Slack and PagerDuty stand-ins (tier delays shortened), plus the
//! HTTP actions on alert groups and a polling wait.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http;
use crate::server::{Server, spawn_server_with_env};

/// Routing keys of the two PagerDuty tiers.
pub const TIER2_KEY: &str = "tier2-routing-key";
/// The next level's routing key.
pub const TIER3_KEY: &str = "tier3-routing-key";

/// `alerting.yaml`: Slack at once, PagerDuty (tier 2) after `tier2`, the next level after
/// `tier3`, grouped by alert name and env, no group wait.
pub fn alerting_yaml(slack: &str, pagerduty: &str, tier2: &str, tier3: &str) -> String {
    format!(
        r#"global:
  pagerduty_url: {pagerduty}/v2/enqueue
  external_url: http://warroom.test
route:
  receiver: slack-warroom
  group_by: [alertname, env]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
  escalation: cutover
receivers:
  - name: slack-warroom
    slack_configs:
      - api_url: {slack}/services/T000/B000/XXXX
  - name: pagerduty-sre
    pagerduty_configs:
      - routing_key: {TIER2_KEY}
  - name: next-level
    pagerduty_configs:
      - routing_key: {TIER3_KEY}
escalation_policies:
  - name: cutover
    tiers:
      - {{after: 0s, receivers: [slack-warroom]}}
      - {{after: {tier2}, receivers: [pagerduty-sre]}}
      - {{after: {tier3}, receivers: [next-level]}}
"#
    )
}

/// A server with alerting, and the directory of its files.
pub struct AlertingServer {
    /// The server.
    pub server: Server,
    /// The rules directory (write files here to change the rules).
    pub rules_dir: PathBuf,
    _files: tempfile::TempDir,
}

/// Starts a server with `rules` as `rules/main.yaml` and `alerting` as its `alerting.yaml`,
/// evaluating every second.
pub fn spawn_alerting_server(rules: &str, alerting: &str) -> AlertingServer {
    spawn_alerting_server_with_env(rules, alerting, &[])
}

/// As [`spawn_alerting_server`], with `env` added to the server's environment.
pub fn spawn_alerting_server_with_env(
    rules: &str,
    alerting: &str,
    env: &[(&str, &str)],
) -> AlertingServer {
    let files = tempfile::tempdir().expect("temp dir");
    let rules_dir = files.path().join("rules");
    std::fs::create_dir(&rules_dir).expect("rules dir");
    std::fs::write(rules_dir.join("main.yaml"), rules).expect("write rules");
    let alerting_file = files.path().join("alerting.yaml");
    std::fs::write(&alerting_file, alerting).expect("write alerting.yaml");
    let config = format!(
        "[alerting]\nrules_dir = {:?}\nconfig_file = {:?}\nevaluation_interval = \"1s\"\n",
        rules_dir.display().to_string(),
        alerting_file.display().to_string()
    );
    AlertingServer {
        server: spawn_server_with_env(&config, env),
        rules_dir,
        _files: files,
    }
}

impl AlertingServer {
    /// `GET /api/warroom/v1/alerts`: the groups.
    pub fn groups(&self) -> Vec<Value> {
        let bearer = self.server.reader();
        let r =
            http::get(self.server.addr, "/api/warroom/v1/alerts", &[&bearer]).expect("GET alerts");
        assert_eq!(r.status, 200, "GET /api/warroom/v1/alerts: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).expect("alerts JSON");
        v["groups"].as_array().cloned().unwrap_or_default()
    }

    /// `POST /api/warroom/v1/alerts/{id}/{action}` as `by`; the answer's status and body.
    pub fn act(&self, id: &str, action: &str, by: &str) -> (u16, String) {
        let bearer = Server::bearer(&self.server.token);
        let path = format!("/api/warroom/v1/alerts/{id}/{action}");
        let body = format!(r#"{{"by":"{by}"}}"#);
        let headers = [bearer.as_str(), "Content-Type: application/json"];
        let r =
            http::post(self.server.addr, &path, &headers, body.as_bytes()).expect("POST action");
        (r.status, r.body)
    }

    /// POSTs `body` to `path` with the token and a JSON content type; the status.
    pub fn post_json(&self, path: &str, body: &str) -> (u16, String) {
        let bearer = Server::bearer(&self.server.token);
        let headers = [bearer.as_str(), "Content-Type: application/json"];
        let r = http::post(self.server.addr, path, &headers, body.as_bytes()).expect("POST");
        (r.status, r.body)
    }
}

/// Polls `check` every 50 ms until it gives `Some`, or panics with `what` after `within`.
pub fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
