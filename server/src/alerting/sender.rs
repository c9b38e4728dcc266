//! The outbox's sender: delivers pending rows in order per integration (a PagerDuty
//! `acknowledge` never overtakes its `trigger`), one in flight per integration, Slack at most one
//! a second, each attempt's outcome stored before the next is tried. Different integrations send
//! concurrently, so a PagerDuty outage does not hold up Slack.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use warroom_alerts::notify::NotifyError;
use warroom_alerts::outbox::{AttemptOutcome, rate_gate};

use super::integrations::Service;
use super::pipeline::Pipeline;
use super::records::{self, StoredDelivery};

/// How long one send may take before it counts as a retryable failure.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack's incoming webhooks take one message a second.
const SLACK_GAP: Duration = Duration::from_secs(1);
/// Longest sleep between looks at the outbox.
const IDLE: Duration = Duration::from_secs(5);

/// Integrations with an attempt in flight, and when each last sent.
#[derive(Default)]
struct Lanes {
    busy: HashSet<String>,
    last_sent: HashMap<String, SystemTime>,
}

/// Runs forever: sends what is due, sleeps until the next row is due or the outbox changes.
pub async fn run(pipeline: Arc<Pipeline>) {
    let lanes = Arc::new(Mutex::new(Lanes::default()));
    loop {
        let wait = match send_due(&pipeline, &lanes).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!("outbox: {e}");
                IDLE
            }
        };
        let _ = tokio::time::timeout(wait, pipeline.outbox_changed.notified()).await;
    }
}

/// Starts an attempt for every integration whose oldest pending row is due; returns how long
/// until the next one may be.
async fn send_due(
    pipeline: &Arc<Pipeline>,
    lanes: &Arc<Mutex<Lanes>>,
) -> Result<Duration, records::RecordError> {
    let rows = records::pending(pipeline.db()).await?;
    let routing = pipeline.routing().await;
    let now = SystemTime::now();
    let mut wait = IDLE;
    let mut seen = HashSet::new();
    for row in rows {
        if !seen.insert(row.integration.clone()) {
            continue; // Only the oldest row of an integration may go.
        }
        let Some(integration) = routing.integrations.get(&row.integration) else {
            let gone = NotifyError::Permanent {
                reason: format!("integration {} is no longer configured", row.integration),
            };
            finish(pipeline, row, Err(gone)).await;
            continue;
        };
        let mut l = lanes.lock().unwrap_or_else(|p| p.into_inner());
        if l.busy.contains(&row.integration) {
            continue;
        }
        let mut at = row.delivery.next_attempt_at;
        if integration.service == Service::Slack {
            let last = l.last_sent.get(&row.integration).copied();
            at = at.max(rate_gate(last, now, SLACK_GAP));
        }
        if at > now {
            wait = wait.min(at.duration_since(now).unwrap_or_default());
            continue;
        }
        l.busy.insert(row.integration.clone());
        l.last_sent.insert(row.integration.clone(), now);
        drop(l);
        let (pipeline, lanes) = (pipeline.clone(), lanes.clone());
        tokio::spawn(async move {
            let key = row.integration.clone();
            let result =
                tokio::time::timeout(SEND_TIMEOUT, integration.notifier.notify(&row.notification))
                    .await
                    .unwrap_or_else(|_| {
                        Err(NotifyError::Retry {
                            after: None,
                            reason: format!("no answer within {SEND_TIMEOUT:?}"),
                        })
                    });
            finish(&pipeline, row, result).await;
            let mut l = lanes.lock().unwrap_or_else(|p| p.into_inner());
            l.busy.remove(&key);
            drop(l);
            pipeline.outbox_changed.notify_one();
        });
    }
    Ok(wait)
}

/// Records an attempt's result on the row.
async fn finish(pipeline: &Pipeline, mut row: StoredDelivery, result: Result<(), NotifyError>) {
    let now = SystemTime::now();
    let jitter = jitter();
    let outcome = row.delivery.record(result, now, pipeline.retry, jitter);
    match &outcome {
        AttemptOutcome::Delivered { attempt } => tracing::info!(
            "delivered {} of {} to {} (attempt {attempt})",
            records::kind_name(row.notification.kind),
            row.notification.group_key,
            row.integration
        ),
        AttemptOutcome::RetryAt { reason, .. } => {
            tracing::warn!("{} failed, will retry: {reason}", row.integration)
        }
        AttemptOutcome::Failed { reason } => {
            tracing::error!("{} failed for good: {reason}", row.integration)
        }
    }
    if let Err(e) =
        records::record_attempt(pipeline.db(), row.id, &row.delivery, &outcome, now).await
    {
        tracing::error!("outbox row {}: cannot record the attempt: {e}", row.id);
    }
}

/// A number in [0, 1) for the backoff's jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}
