//! The outbox's sender: delivers pending rows in order per integration (a PagerDuty
//! `acknowledge` never overtakes its `trigger`), one in flight per integration, Slack at most one
//! a second, each attempt's outcome stored before the next is tried. Different integrations send
//! concurrently, so a PagerDuty outage does not hold up Slack.
//!
//! On shutdown no new attempt starts, and those in flight get `[shutdown] sends` to finish and be
//! recorded. One still going then is cut off unrecorded: its row stays pending, as it was, and
//! is sent again after the next start (at least once: the service may have had it already).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warroom_alerts::notify::NotifyError;
use warroom_alerts::outbox::{AttemptOutcome, rate_gate};

use super::integrations::{Integration, Service};
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

/// Sends in flight, and the switch that cuts them off.
#[derive(Default)]
struct InFlight {
    sends: TaskTracker,
    cut: CancellationToken,
}

/// Sends what is due and sleeps until the next row is due or the outbox changes, until
/// `shutdown` is cancelled; then waits for the sends in flight, at most `drain`
/// (`[shutdown] sends`).
pub async fn run(pipeline: Arc<Pipeline>, shutdown: CancellationToken, drain: Duration) {
    let lanes = Arc::new(Mutex::new(Lanes::default()));
    let in_flight = InFlight::default();
    while !shutdown.is_cancelled() {
        let wait = match send_due(&pipeline, &lanes, &in_flight).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::error!("outbox: {e}");
                IDLE
            }
        };
        let changed = tokio::time::timeout(wait, pipeline.outbox_changed.notified());
        let _ = shutdown.run_until_cancelled(changed).await;
    }
    wait_for(in_flight, drain).await;
}

/// Waits up to `drain` for the sends in flight, then cuts off the rest.
async fn wait_for(in_flight: InFlight, drain: Duration) {
    let InFlight { sends, cut } = in_flight;
    sends.close();
    if sends.is_empty() {
        return;
    }
    tracing::info!(
        "waiting up to {drain:?} for {} notification(s) in flight",
        sends.len()
    );
    if tokio::time::timeout(drain, sends.wait()).await.is_err() {
        tracing::warn!(
            "{} notification(s) still in flight after {drain:?}: cut off, they stay pending",
            sends.len()
        );
        cut.cancel();
        sends.wait().await;
    }
}

/// Starts an attempt for every integration whose oldest pending row is due; returns how long
/// until the next one may be.
async fn send_due(
    pipeline: &Arc<Pipeline>,
    lanes: &Arc<Mutex<Lanes>>,
    in_flight: &InFlight,
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
        let cut = in_flight.cut.clone();
        let attempt = attempt(pipeline.clone(), lanes.clone(), integration, row, cut);
        in_flight.sends.spawn(attempt);
    }
    Ok(wait)
}

/// One attempt: sends, records the outcome and frees the lane. Cut off by `cut`, it records
/// nothing and the row stays pending.
async fn attempt(
    pipeline: Arc<Pipeline>,
    lanes: Arc<Mutex<Lanes>>,
    integration: Arc<Integration>,
    row: StoredDelivery,
    cut: CancellationToken,
) {
    let key = row.integration.clone();
    let send = tokio::time::timeout(SEND_TIMEOUT, integration.notifier.notify(&row.notification));
    match cut.run_until_cancelled(send).await {
        Some(result) => {
            let result = result.unwrap_or_else(|_| {
                Err(NotifyError::Retry {
                    after: None,
                    reason: format!("no answer within {SEND_TIMEOUT:?}"),
                })
            });
            finish(&pipeline, row, result).await;
        }
        None => tracing::warn!(
            "outbox row {} to {key} cut off by shutdown: it is sent after the next start",
            row.id
        ),
    }
    let mut l = lanes.lock().unwrap_or_else(|p| p.into_inner());
    l.busy.remove(&key);
    drop(l);
    pipeline.outbox_changed.notify_one();
}

/// Records an attempt's result on the row, with its timeline event (published once stored).
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
    let timeline = pipeline.timeline();
    match records::record_attempt(timeline, pipeline.db(), &row, &outcome, now).await {
        Ok(stored) => timeline.publish(stored),
        Err(e) => tracing::error!("outbox row {}: cannot record the attempt: {e}", row.id),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::time::{Instant, sleep};

    use super::*;
    use crate::alerting::pipeline::tests::{alert, pipeline};

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_a_quick_send_and_cuts_off_a_slow_one_at_the_bound() {
        // Arrange: one send done in 1s, one that would take a minute.
        let in_flight = InFlight::default();
        let quick_done = Arc::new(AtomicBool::new(false));
        let slow_cut = Arc::new(AtomicBool::new(false));
        let done = quick_done.clone();
        in_flight.sends.spawn(async move {
            sleep(Duration::from_secs(1)).await;
            done.store(true, Ordering::SeqCst);
        });
        let (cut, was_cut) = (in_flight.cut.clone(), slow_cut.clone());
        in_flight.sends.spawn(async move {
            let slow = sleep(Duration::from_secs(60));
            if cut.run_until_cancelled(slow).await.is_none() {
                was_cut.store(true, Ordering::SeqCst);
            }
        });
        // Act
        let start = Instant::now();
        wait_for(in_flight, Duration::from_secs(5)).await;
        // Assert
        assert!(quick_done.load(Ordering::SeqCst), "the quick send finished");
        assert!(slow_cut.load(Ordering::SeqCst), "the slow send was cut off");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_with_nothing_in_flight_does_not_wait() {
        let start = Instant::now();
        wait_for(InFlight::default(), Duration::from_secs(5)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_finished_attempt_is_stored_and_published_on_the_timeline() {
        // Arrange: one queued notification, and someone watching the timeline.
        let dir = tempfile::tempdir().unwrap();
        let p = pipeline(&dir).await;
        let firing = alert(&[("alertname", "SourceDown")], None);
        p.receive(vec![firing], SystemTime::now()).await.unwrap();
        let row = records::pending(p.db()).await.unwrap().remove(0);
        let mut live = p.timeline().subscribe();
        // Act
        let unavailable = NotifyError::Retry {
            after: None,
            reason: "503 Service Unavailable".into(),
        };
        finish(&p, row, Err(unavailable)).await;
        // Assert
        let event = live.recv().await.unwrap();
        assert_eq!(event.kind, "notification");
        assert_eq!(event.body["what"], "retry");
        assert_eq!(event.body["detail"], "503 Service Unavailable");
        let filter = crate::timeline::Filter::default();
        let stored = p.timeline().page(&filter, 100).await.unwrap();
        assert_eq!(stored.last(), Some(&*event));
    }
}
