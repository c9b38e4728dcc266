//! `alerting.yaml`: Alertmanager's shape (route tree, receivers, inhibit rules) plus warroom's
//! escalation policies. Receivers' secrets come inline, from `*_file` or from `*_env`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::escalation::EscalationPolicy;
use crate::mute::InhibitRule;
use crate::notify::secret::{Secret, SecretSource};
use crate::route::Route;
use crate::rules::LoadError;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Defaults for receivers.
    #[serde(default)]
    pub global: Global,
    /// The route tree.
    pub route: Route,
    /// Named receivers.
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Inhibit rules.
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRule>,
    /// Escalation policies routes refer to by name.
    #[serde(default)]
    pub escalation_policies: Vec<EscalationPolicy>,
}

/// `global:` defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    /// PagerDuty Events API URL (tests point it at a local receiver).
    pub pagerduty_url: String,
    /// The war room's external URL, for links in messages.
    pub external_url: String,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            pagerduty_url: "https://events.pagerduty.com/v2/enqueue".into(),
            external_url: "http://localhost:8080".into(),
        }
    }
}

/// A named receiver with any number of integrations.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// Name routes and tiers refer to.
    pub name: String,
    /// Slack incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    /// PagerDuty services.
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerDutyConfig>,
    /// Email recipients.
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    /// Alertmanager-style webhooks.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
}

/// A secret written as `x`, `x_file` or `x_env` (exactly one).
struct SecretField {
    value: Option<Secret>,
    file: Option<PathBuf>,
    env: Option<String>,
}

impl SecretField {
    fn source(&self, what: &str) -> Result<SecretSource, String> {
        match (&self.value, &self.file, &self.env) {
            (Some(v), None, None) => Ok(SecretSource::Value(v.clone())),
            (None, Some(f), None) => Ok(SecretSource::File(f.clone())),
            (None, None, Some(e)) => Ok(SecretSource::Env(e.clone())),
            _ => Err(format!(
                "{what}: give exactly one of the value, `_file` or `_env`"
            )),
        }
    }
}

/// `slack_configs` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Webhook URL inline (discouraged).
    pub api_url: Option<Secret>,
    /// File holding the webhook URL.
    pub api_url_file: Option<PathBuf>,
    /// Variable holding the webhook URL.
    pub api_url_env: Option<String>,
    /// Send resolves too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

/// `pagerduty_configs` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// Routing key inline (discouraged).
    pub routing_key: Option<Secret>,
    /// File holding the routing key.
    pub routing_key_file: Option<PathBuf>,
    /// Variable holding the routing key.
    pub routing_key_env: Option<String>,
    /// Events API URL; defaults to `global.pagerduty_url`.
    pub url: Option<String>,
    /// Send resolves too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

/// `email_configs` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Recipient(s), comma separated.
    pub to: String,
    /// Sender address.
    pub from: String,
    /// SMTP server `host:port`.
    pub smarthost: String,
    /// SMTP user, if the server wants authentication.
    pub auth_username: Option<String>,
    /// SMTP password inline (discouraged).
    pub auth_password: Option<Secret>,
    /// File holding the SMTP password.
    pub auth_password_file: Option<PathBuf>,
    /// Variable holding the SMTP password.
    pub auth_password_env: Option<String>,
    /// Require STARTTLS (default false: loopback relays often offer none).
    #[serde(default)]
    pub require_tls: bool,
    /// Send resolves too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

/// `webhook_configs` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// URL inline.
    pub url: Option<Secret>,
    /// File holding the URL.
    pub url_file: Option<PathBuf>,
    /// Send resolves too (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

fn yes() -> bool {
    true
}

/// Builds the source of a secret written as `x`, `x_file` or `x_env`.
pub fn secret_source(
    what: &str,
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    env: &Option<String>,
) -> Result<SecretSource, String> {
    SecretField {
        value: value.clone(),
        file: file.clone(),
        env: env.clone(),
    }
    .source(what)
}

impl AlertingConfig {
    /// Reads and checks `alerting.yaml`; errors name file, line and column where known.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |line, column, message| LoadError::Invalid {
            path: path.to_owned(),
            line,
            column,
            message,
        };
        let config: Self = serde_norway::from_str(&text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let message = e.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            invalid(line, column, message)
        })?;
        config.validate().map_err(|m| invalid(0, 0, m))?;
        Ok(config)
    }

    /// Cross-checks names: every receiver and policy referred to exists; tiers are in order.
    pub fn validate(&self) -> Result<(), String> {
        self.route.validate()?;
        let receivers: HashSet<&str> = self.receivers.iter().map(|r| r.name.as_str()).collect();
        let policies: HashSet<&str> = self
            .escalation_policies
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        check_route(&self.route, &receivers, &policies)?;
        for p in &self.escalation_policies {
            check_policy(p, &receivers)?;
        }
        self.receivers.iter().try_for_each(check_secrets)
    }

    /// The receiver called `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The escalation policy called `name`.
    pub fn policy(&self, name: &str) -> Option<&EscalationPolicy> {
        self.escalation_policies.iter().find(|p| p.name == name)
    }
}

fn check_route(
    route: &Route,
    receivers: &HashSet<&str>,
    policies: &HashSet<&str>,
) -> Result<(), String> {
    if let Some(r) = route.receiver.as_deref().filter(|r| !receivers.contains(r)) {
        return Err(format!("route refers to unknown receiver {r:?}"));
    }
    if let Some(p) = route
        .escalation
        .as_deref()
        .filter(|p| !policies.contains(p))
    {
        return Err(format!("route refers to unknown escalation policy {p:?}"));
    }
    route
        .routes
        .iter()
        .try_for_each(|child| check_route(child, receivers, policies))
}

fn check_policy(p: &EscalationPolicy, receivers: &HashSet<&str>) -> Result<(), String> {
    if p.tiers.is_empty() {
        return Err(format!("escalation policy {:?} has no tiers", p.name));
    }
    if p.tiers.windows(2).any(|w| w[1].after < w[0].after) {
        return Err(format!(
            "escalation policy {:?}: tier delays must not decrease",
            p.name
        ));
    }
    let unknown = p
        .tiers
        .iter()
        .flat_map(|t| &t.receivers)
        .find(|r| !receivers.contains(r.as_str()));
    match unknown {
        Some(r) => Err(format!(
            "escalation policy {:?} refers to unknown receiver {r:?}",
            p.name
        )),
        None => Ok(()),
    }
}

fn check_secrets(r: &Receiver) -> Result<(), String> {
    let what = |kind: &str| format!("receiver {:?} {kind}", r.name);
    for s in &r.slack_configs {
        secret_source(
            &what("slack api_url"),
            &s.api_url,
            &s.api_url_file,
            &s.api_url_env,
        )?;
    }
    for p in &r.pagerduty_configs {
        secret_source(
            &what("pagerduty routing_key"),
            &p.routing_key,
            &p.routing_key_file,
            &p.routing_key_env,
        )?;
    }
    for w in &r.webhook_configs {
        secret_source(&what("webhook url"), &w.url, &w.url_file, &None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
global:
  pagerduty_url: http://127.0.0.1:9/v2/enqueue
route:
  receiver: slack-warroom
  group_by: [alertname, env]
  escalation: cutover
receivers:
  - name: slack-warroom
    slack_configs: [{api_url_env: SLACK_WEBHOOK}]
  - name: pagerduty-sre
    pagerduty_configs: [{routing_key_file: /run/secrets/pd}]
  - name: next-level
    pagerduty_configs: [{routing_key: abc}]
    email_configs: [{to: mgmt@example.com, from: warroom@example.com, smarthost: "127.0.0.1:2525"}]
escalation_policies:
  - name: cutover
    tiers:
      - {after: 0s, receivers: [slack-warroom]}
      - {after: 15m, receivers: [pagerduty-sre]}
      - {after: 1h, receivers: [next-level]}
"#;

    fn load(text: &str) -> Result<AlertingConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerting.yaml");
        std::fs::write(&path, text).unwrap();
        AlertingConfig::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn the_seed_war_rooms_three_tiers_load() {
        let config = load(SEED).unwrap();
        let policy = config.policy("cutover").unwrap();
        assert_eq!(policy.tiers[1].after, std::time::Duration::from_secs(900));
        assert_eq!(
            config.receiver("next-level").unwrap().email_configs.len(),
            1
        );
    }

    #[test]
    fn an_unknown_receiver_in_a_tier_is_rejected_by_name() {
        let err =
            load(&SEED.replace("receivers: [next-level]", "receivers: [nobody]")).unwrap_err();
        assert!(err.contains("unknown receiver \"nobody\""), "{err}");
    }

    #[test]
    fn an_unknown_field_is_named_with_its_line() {
        let err = load(&SEED.replace("group_by:", "groupby:")).unwrap_err();
        assert!(
            err.contains(":6:3:") && err.contains("unknown field `groupby`"),
            "{err}"
        );
    }

    #[test]
    fn a_secret_given_two_ways_is_rejected() {
        let err = load(&SEED.replace(
            "{api_url_env: SLACK_WEBHOOK}",
            "{api_url_env: A, api_url: b}",
        ))
        .unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
    }
}
