//! Receivers made real: every integration of every receiver in `alerting.yaml` (a Slack webhook,
//! a PagerDuty service, an email recipient list, a webhook) becomes a [`Notifier`] under a stable
//! key, `receiver/kind/index`, which the outbox stores with each delivery.

use std::collections::HashMap;
use std::sync::Arc;

use warroom_alerts::config::{AlertingConfig, Receiver, secret_source};
use warroom_alerts::notify::email::Email;
use warroom_alerts::notify::pagerduty::PagerDuty;
use warroom_alerts::notify::slack::Slack;
use warroom_alerts::notify::webhook::Webhook;
use warroom_alerts::notify::{Kind, Notifier};

/// Which service an integration talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Slack incoming webhook: at most one message a second.
    Slack,
    /// PagerDuty Events API v2.
    PagerDuty,
    /// SMTP.
    Email,
    /// Alertmanager webhook v4.
    Webhook,
}

/// One integration of one receiver.
pub struct Integration {
    /// `receiver/kind/index`, e.g. `pagerduty-sre/pagerduty/0`.
    pub key: String,
    /// The service.
    pub service: Service,
    /// Whether resolves are sent to it.
    pub send_resolved: bool,
    /// The sender.
    pub notifier: Box<dyn Notifier>,
}

impl Integration {
    /// Whether a notification of this kind goes to this integration. Acknowledgements are not
    /// part of the webhook v4 format, so webhooks do not get them.
    pub fn takes(&self, kind: Kind) -> bool {
        match kind {
            Kind::Firing => true,
            Kind::Resolved => self.send_resolved,
            Kind::Acknowledged => self.service != Service::Webhook,
        }
    }
}

/// Every integration, by receiver and by key.
#[derive(Default)]
pub struct Integrations {
    by_receiver: HashMap<String, Vec<Arc<Integration>>>,
    by_key: HashMap<String, Arc<Integration>>,
}

impl Integrations {
    /// Builds every receiver's integrations, reading their secrets; the error names the receiver
    /// and the integration (never a secret's value).
    pub fn build(config: &AlertingConfig, client: &reqwest::Client) -> Result<Self, String> {
        let mut out = Self::default();
        for receiver in &config.receivers {
            for integration in receiver_integrations(config, receiver, client)? {
                let integration = Arc::new(integration);
                out.by_key
                    .insert(integration.key.clone(), integration.clone());
                out.by_receiver
                    .entry(receiver.name.clone())
                    .or_default()
                    .push(integration);
            }
        }
        Ok(out)
    }

    /// The integrations of receiver `name` (none for an unknown name).
    pub fn of(&self, name: &str) -> &[Arc<Integration>] {
        self.by_receiver.get(name).map_or(&[], Vec::as_slice)
    }

    /// The integration stored under `key`, if it is still configured.
    pub fn get(&self, key: &str) -> Option<Arc<Integration>> {
        self.by_key.get(key).cloned()
    }
}

fn receiver_integrations(
    config: &AlertingConfig,
    r: &Receiver,
    client: &reqwest::Client,
) -> Result<Vec<Integration>, String> {
    let name = &r.name;
    let key = |kind: &str, i: usize| format!("{name}/{kind}/{i}");
    let mut out = Vec::new();
    for (i, c) in r.slack_configs.iter().enumerate() {
        let what = format!("receiver {name}: slack_configs[{i}] api_url");
        let url = secret_source(&what, &c.api_url, &c.api_url_file, &c.api_url_env)?.load()?;
        let notifier = Slack {
            webhook_url: url,
            client: client.clone(),
        };
        out.push(integration(
            key("slack", i),
            Service::Slack,
            c.send_resolved,
            notifier,
        ));
    }
    for (i, c) in r.pagerduty_configs.iter().enumerate() {
        let what = format!("receiver {name}: pagerduty_configs[{i}] routing_key");
        let routing_key = secret_source(
            &what,
            &c.routing_key,
            &c.routing_key_file,
            &c.routing_key_env,
        )?
        .load()?;
        let notifier = PagerDuty {
            routing_key,
            url: c
                .url
                .clone()
                .unwrap_or_else(|| config.global.pagerduty_url.clone()),
            client: client.clone(),
        };
        let service = Service::PagerDuty;
        out.push(integration(
            key("pagerduty", i),
            service,
            c.send_resolved,
            notifier,
        ));
    }
    for (i, c) in r.email_configs.iter().enumerate() {
        let what = format!("receiver {name}: email_configs[{i}]");
        let auth = match &c.auth_username {
            None => None,
            Some(user) => {
                let password = secret_source(
                    &format!("{what} auth_password"),
                    &c.auth_password,
                    &c.auth_password_file,
                    &c.auth_password_env,
                )?
                .load()?;
                Some((user.clone(), password))
            }
        };
        let notifier = Email::new(&c.to, &c.from, &c.smarthost, auth, c.require_tls)
            .map_err(|e| format!("{what}: {e}"))?;
        out.push(integration(
            key("email", i),
            Service::Email,
            c.send_resolved,
            notifier,
        ));
    }
    for (i, c) in r.webhook_configs.iter().enumerate() {
        let what = format!("receiver {name}: webhook_configs[{i}] url");
        let url = secret_source(&what, &c.url, &c.url_file, &None)?.load()?;
        let notifier = Webhook {
            url,
            client: client.clone(),
        };
        out.push(integration(
            key("webhook", i),
            Service::Webhook,
            c.send_resolved,
            notifier,
        ));
    }
    Ok(out)
}

fn integration(
    key: String,
    service: Service,
    send_resolved: bool,
    notifier: impl Notifier + 'static,
) -> Integration {
    Integration {
        key,
        service,
        send_resolved,
        notifier: Box::new(notifier),
    }
}
