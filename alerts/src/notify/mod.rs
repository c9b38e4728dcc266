//! Notifiers: the payload each receiver kind publishes (Slack Block Kit, PagerDuty Events API v2,
//! Alertmanager webhook v4) built as pure functions, sent through one small [`Notifier`] trait
//! whose error says whether a retry can help.
//!
//! - [`secret`]: secrets that never print.
//! - [`slack`], [`pagerduty`], [`webhook`]: payloads and how each service's answers are read.
//! - [`email`]: SMTP mails through lettre.
//! - [`http`]: the shared HTTP sender and the answer classification.

pub mod email;
pub mod http;
pub mod pagerduty;
pub mod secret;
pub mod slack;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// What kind of message a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// The group fires (first time, an update, a repeat or a higher tier).
    Firing,
    /// Someone acknowledged it in warroom.
    Acknowledged,
    /// It resolved.
    Resolved,
}

/// One alert as receivers see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
    pub starts_at: SystemTime,
    /// When it resolved, if it did.
    pub ends_at: Option<SystemTime>,
    /// Stable id of the label set.
    pub fingerprint: String,
}

/// A message about one alert group for one receiver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Firing, acknowledged or resolved.
    pub kind: Kind,
    /// Receiver name.
    pub receiver: String,
    /// The group key; PagerDuty's `dedup_key` derives from it, so one incident per group.
    pub group_key: String,
    /// The group-by labels and their values.
    pub group_labels: BTreeMap<String, String>,
    /// The group's alerts.
    pub alerts: Vec<AlertView>,
    /// Link to the alert in the war room.
    pub warroom_url: String,
    /// Who acknowledged (for [`Kind::Acknowledged`]).
    pub acked_by: Option<String>,
}

impl Notification {
    /// Labels every alert of the group shares.
    pub fn common_labels(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    /// Annotations every alert of the group shares.
    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// A one-line summary: the summary annotation, else the alert name, with the count.
    pub fn summary(&self) -> String {
        let common = self.common_annotations();
        let labels = self.common_labels();
        let what = common
            .get("summary")
            .or_else(|| labels.get("alertname"))
            .cloned()
            .unwrap_or_else(|| self.group_key.clone());
        match self.alerts.len() {
            0 | 1 => what,
            n => format!("{what} ({n} alerts)"),
        }
    }
}

fn common<'a>(
    mut sets: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = sets.next() else {
        return BTreeMap::new();
    };
    let mut out = first.clone();
    for set in sets {
        out.retain(|k, v| set.get(k) == Some(v));
    }
    out
}

/// Why a send failed, and whether trying again can help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Try again (429, 5xx, connection errors), not before `after` if the service said so.
    #[error("retryable: {reason}")]
    Retry {
        /// The service's wait (`Retry-After`), if any.
        after: Option<Duration>,
        /// What happened (never contains a secret).
        reason: String,
    },
    /// Trying again cannot help (400, 403, 404, 410, a bad configuration); report it.
    #[error("permanent: {reason}")]
    Permanent {
        /// What happened (never contains a secret).
        reason: String,
    },
}

/// Sends notifications to one receiver integration.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one notification.
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError>;
}

/// Exponential backoff with full jitter: attempt 0 waits up to `base`, doubling to `cap`.
/// `jitter` is a number in [0, 1) the caller draws, so the function stays pure.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0)).max(base / 10)
}

/// RFC 3339 text of a time, as the payloads need it.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A two-alert firing group in the target environment.
    pub fn group(kind: Kind) -> Notification {
        let alert = |pod: &str| AlertView {
            labels: BTreeMap::from([
                ("alertname".to_string(), "PodCrashLooping".to_string()),
                ("env".to_string(), "target".to_string()),
                ("severity".to_string(), "page".to_string()),
                ("pod".to_string(), pod.to_string()),
            ]),
            annotations: BTreeMap::from([(
                "summary".to_string(),
                "Pods crash-loop on EKS".to_string(),
            )]),
            starts_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000),
            ends_at: None,
            fingerprint: format!("fp-{pod}"),
        };
        Notification {
            kind,
            receiver: "pagerduty-sre".into(),
            group_key: "0.1:{alertname=\"PodCrashLooping\",env=\"target\"}".into(),
            group_labels: BTreeMap::from([(
                "alertname".to_string(),
                "PodCrashLooping".to_string(),
            )]),
            alerts: vec![alert("api-1"), alert("api-2")],
            warroom_url: "http://warroom.example/alerts/abc".into(),
            acked_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_labels_keep_only_what_every_alert_shares_and_the_summary_counts_alerts() {
        let n = testing::group(Kind::Firing);
        assert!(!n.common_labels().contains_key("pod"));
        assert_eq!(n.common_labels()["env"], "target");
        assert_eq!(n.summary(), "Pods crash-loop on EKS (2 alerts)");
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap_and_jitter_scales_it() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(
            backoff(0, base, cap, 0.999_999),
            Duration::from_secs(1).mul_f64(0.999_999)
        );
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(30, base, cap, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(5, base, cap, 0.0), Duration::from_millis(100));
    }
}
