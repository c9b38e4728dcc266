//! The Alertmanager webhook v4 payload, so receivers written for Alertmanager work unchanged.

use serde_json::{Value, json};

use super::http::{Answers, post_json};
use super::{Kind, Notification, Notifier, NotifyError, rfc3339};

/// Any 2xx is delivered; 4xx other than 429 is permanent.
pub const ANSWERS: Answers = Answers {
    ok: &[200, 201, 202, 204],
    permanent: &[],
};

/// Go's zero time, which Alertmanager sends as `endsAt` of a firing alert.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Builds the v4 payload.
pub fn payload(n: &Notification) -> Value {
    let status = if n.kind == Kind::Resolved {
        "resolved"
    } else {
        "firing"
    };
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            json!({
                "status": if a.ends_at.is_some() || n.kind == Kind::Resolved { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "endsAt": a.ends_at.map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
                "generatorURL": n.warroom_url,
                "fingerprint": a.fingerprint,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": n.receiver,
        "groupLabels": n.group_labels,
        "commonLabels": n.common_labels(),
        "commonAnnotations": n.common_annotations(),
        "externalURL": n.warroom_url,
        "alerts": alerts,
    })
}

/// Posts the v4 payload to a URL.
pub struct Webhook {
    /// Target URL (may carry credentials, so it is never logged).
    pub url: super::secret::Secret,
    /// Shared HTTP client.
    pub client: reqwest::Client,
}

#[async_trait::async_trait]
impl Notifier for Webhook {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let url = self.url.expose();
        post_json(&self.client, url, &payload(n), ANSWERS, &self.url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::group;

    #[test]
    fn the_payload_has_alertmanagers_v4_fields() {
        let p = payload(&group(Kind::Firing));
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["commonLabels"]["env"], "target");
        assert_eq!(p["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(p["alerts"][1]["labels"]["pod"], "api-2");
        assert_eq!(
            payload(&group(Kind::Resolved))["alerts"][0]["status"],
            "resolved"
        );
    }
}
