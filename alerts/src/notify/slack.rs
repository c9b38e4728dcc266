//! Slack incoming webhooks: a Block Kit message with a text fallback, the severity, the env and a
//! link to the war room. 200 is delivered; 429 waits for `Retry-After`; 400/403/404/410 are
//! permanent (bad payload, revoked or archived webhook); 5xx is retried.

use serde_json::{Value, json};

use super::http::{Answers, post_json};
use super::secret::Secret;
use super::{Kind, Notification, Notifier, NotifyError};

/// How Slack's answers read.
pub const ANSWERS: Answers = Answers {
    ok: &[200],
    permanent: &[400, 403, 404, 410],
};

/// Builds the message Slack receives.
pub fn payload(n: &Notification) -> Value {
    let labels = n.common_labels();
    let severity = labels.get("severity").map(String::as_str).unwrap_or("none");
    let env = labels.get("env").map(String::as_str).unwrap_or("unknown");
    let (icon, state) = match n.kind {
        Kind::Firing => (":rotating_light:", "FIRING"),
        Kind::Acknowledged => (":eyes:", "ACKNOWLEDGED"),
        Kind::Resolved => (":white_check_mark:", "RESOLVED"),
    };
    let mut text = format!("[{state}] {} — severity {severity}, env {env}", n.summary());
    let mut context = format!(
        "*Severity:* {severity}   *Env:* {env}   *Alerts:* {}",
        n.alerts.len()
    );
    if let Some(phase) = labels.get("phase") {
        text.push_str(&format!(", phase {phase}"));
        context.push_str(&format!("   *Phase:* {phase}"));
    }
    if let Some(by) = &n.acked_by {
        context.push_str(&format!("   *Acknowledged by:* {by}"));
    }
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("{icon} *[{state}]* {}", n.summary())}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            {"type": "actions", "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "Open in war room"},
                "url": n.warroom_url,
            }]},
        ],
    })
}

/// Posts to one incoming webhook.
pub struct Slack {
    /// The webhook URL (a secret).
    pub webhook_url: Secret,
    /// Shared HTTP client.
    pub client: reqwest::Client,
}

#[async_trait::async_trait]
impl Notifier for Slack {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        post_json(
            &self.client,
            self.webhook_url.expose(),
            &payload(n),
            ANSWERS,
            &self.webhook_url,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::group;

    #[test]
    fn the_message_has_a_text_fallback_severity_env_and_a_war_room_link() {
        let p = payload(&group(Kind::Firing));
        assert_eq!(
            p["text"],
            "[FIRING] Pods crash-loop on EKS (2 alerts) — severity page, env target"
        );
        assert_eq!(p["blocks"][0]["type"], "section");
        assert!(
            p["blocks"][1]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("*Env:* target")
        );
        assert_eq!(
            p["blocks"][2]["elements"][0]["url"],
            "http://warroom.example/alerts/abc"
        );
    }

    #[test]
    fn an_alert_raised_during_a_cutover_phase_names_the_phase() {
        let mut n = group(Kind::Firing);
        for a in &mut n.alerts {
            a.labels.insert("phase".into(), "shift-10".into());
        }

        let p = payload(&n);

        assert!(
            p["text"].as_str().unwrap().ends_with(", phase shift-10"),
            "{}",
            p["text"]
        );
        let context = p["blocks"][1]["elements"][0]["text"].as_str().unwrap();
        assert!(context.contains("*Phase:* shift-10"), "{context}");
    }
}
