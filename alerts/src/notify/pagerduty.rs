//! PagerDuty Events API v2 (`POST /v2/enqueue`): `trigger`, `acknowledge` and `resolve` with one
//! stable `dedup_key` per alert group, so a group is one incident however often it is re-sent.
//! 202 is accepted; 400 is permanent; 429 and 5xx are retried with backoff.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::http::{Answers, post_json};
use super::secret::Secret;
use super::{Kind, Notification, Notifier, NotifyError, rfc3339};

/// How PagerDuty's answers read.
pub const ANSWERS: Answers = Answers {
    ok: &[200, 201, 202],
    permanent: &[400, 401, 403, 404],
};

/// PagerDuty's limit on `payload.summary`.
pub const SUMMARY_MAX: usize = 1024;

/// The dedup key of a group: stable across restarts, at most 255 characters.
pub fn dedup_key(group_key: &str) -> String {
    // FNV-1a, spelled out so the key never changes with the standard library's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in group_key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("warroom-{h:016x}")
}

/// Maps warroom severities onto PagerDuty's four.
pub fn severity(label: Option<&str>) -> &'static str {
    match label {
        Some("critical" | "page") => "critical",
        Some("error" | "high") => "error",
        Some("warning" | "ticket" | "warn") => "warning",
        _ => "info",
    }
}

/// Builds the event for `n` with `routing_key`.
pub fn event(n: &Notification, routing_key: &str, now: SystemTime) -> Value {
    let key = dedup_key(&n.group_key);
    let action = match n.kind {
        Kind::Firing => "trigger",
        Kind::Acknowledged => "acknowledge",
        Kind::Resolved => "resolve",
    };
    if n.kind != Kind::Firing {
        return json!({"routing_key": routing_key, "event_action": action, "dedup_key": key});
    }
    let labels = n.common_labels();
    let summary: String = n.summary().chars().take(SUMMARY_MAX).collect();
    json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": key,
        "payload": {
            "summary": summary,
            "source": labels.get("node").or(labels.get("cluster")).cloned().unwrap_or_else(|| "warroom".into()),
            "severity": severity(labels.get("severity").map(String::as_str)),
            "timestamp": rfc3339(now),
            "component": labels.get("service").or(labels.get("job")).cloned().unwrap_or_default(),
            "group": labels.get("env").cloned().unwrap_or_default(),
            "class": labels.get("alertname").cloned().unwrap_or_default(),
            "custom_details": custom_details(n),
        },
        "links": [{"href": n.warroom_url, "text": "Open in war room"}],
        "client": "warroom",
        "client_url": n.warroom_url,
    })
}

fn custom_details(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| json!({"labels": a.labels, "annotations": a.annotations, "starts_at": rfc3339(a.starts_at)}))
        .collect();
    json!({"firing": alerts.len(), "group_labels": n.group_labels, "alerts": alerts})
}

/// Sends to one PagerDuty service.
pub struct PagerDuty {
    /// The integration's routing key (a secret).
    pub routing_key: Secret,
    /// Events API URL, `https://events.pagerduty.com/v2/enqueue` unless tests point elsewhere.
    pub url: String,
    /// Shared HTTP client.
    pub client: reqwest::Client,
}

#[async_trait::async_trait]
impl Notifier for PagerDuty {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = event(n, self.routing_key.expose(), SystemTime::now());
        post_json(&self.client, &self.url, &body, ANSWERS, &self.routing_key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::group;

    #[test]
    fn a_trigger_carries_the_published_fields_and_a_stable_dedup_key() {
        let n = group(Kind::Firing);
        let e = event(&n, "KEY", SystemTime::UNIX_EPOCH);
        assert_eq!(e["event_action"], "trigger");
        assert_eq!(e["dedup_key"], dedup_key(&n.group_key));
        assert_eq!(e["payload"]["severity"], "critical");
        assert_eq!(e["payload"]["group"], "target");
        assert_eq!(e["payload"]["class"], "PodCrashLooping");
        assert_eq!(e["payload"]["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(e["links"][0]["href"], "http://warroom.example/alerts/abc");
        assert_eq!(dedup_key(&n.group_key), dedup_key(&n.group_key.clone()));
    }

    #[test]
    fn acknowledge_and_resolve_reuse_the_triggers_dedup_key() {
        let trigger = event(&group(Kind::Firing), "KEY", SystemTime::UNIX_EPOCH);
        let ack = event(&group(Kind::Acknowledged), "KEY", SystemTime::UNIX_EPOCH);
        let resolve = event(&group(Kind::Resolved), "KEY", SystemTime::UNIX_EPOCH);
        assert_eq!(ack["event_action"], "acknowledge");
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(ack["dedup_key"], trigger["dedup_key"]);
        assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    }

    #[test]
    fn the_summary_is_cut_to_pagerdutys_limit() {
        let mut n = group(Kind::Firing);
        for a in &mut n.alerts {
            a.annotations.insert("summary".into(), "x".repeat(5000));
        }
        let e = event(&n, "KEY", SystemTime::UNIX_EPOCH);
        assert_eq!(
            e["payload"]["summary"].as_str().unwrap().chars().count(),
            SUMMARY_MAX
        );
    }
}
