//! What the alert pipeline keeps in SQLite: the dispatcher's state, written in the same
//! transaction as the outbox rows its decisions produced (so a crash can neither lose a page nor
//! send one twice), every delivery attempt, silences and timeline events.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{Row, SqlitePool};
use warroom_alerts::dispatch::Dispatcher;
use warroom_alerts::matcher::Matcher;
use warroom_alerts::mute::Silence;
use warroom_alerts::notify::{AlertView, Kind, Notification};
use warroom_alerts::outbox::{AttemptOutcome, Delivery, Status};

use crate::timeline::{self, Event, NewEvent, Timeline};

/// Why the pipeline's records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row could not be decoded.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which row.
        what: String,
        /// What was wrong.
        detail: String,
    },
}

/// Milliseconds since the Unix epoch.
pub fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time `ms` milliseconds after the Unix epoch.
pub fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A notification to one integration, to be written to the outbox.
pub struct NewDelivery {
    /// The integration's key.
    pub integration: String,
    /// Why it is sent (for the timeline).
    pub reason: String,
    /// What to send.
    pub notification: Notification,
    /// Its retry state.
    pub delivery: Delivery,
}

/// A stored outbox row.
pub struct StoredDelivery {
    /// Row id: the outbox's order.
    pub id: i64,
    /// The integration's key.
    pub integration: String,
    /// What to send.
    pub notification: Notification,
    /// Its retry state.
    pub delivery: Delivery,
}

/// The pipeline's state as saved: the dispatcher, and which of its alerts' `phase` labels the
/// pipeline added (rules are given their alerts back without them after a restart).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// The dispatcher.
    #[serde(flatten)]
    pub dispatcher: Dispatcher,
    /// Fingerprints of the alerts whose `phase` label the pipeline added.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub phase_stamped: BTreeSet<String>,
}

/// The state as last saved (a row written before `phase_stamped` existed has none), or an
/// empty one.
pub async fn load_state(db: &SqlitePool) -> Result<Saved, RecordError> {
    let row = sqlx::query("SELECT state FROM alert_dispatch WHERE id = 1")
        .fetch_optional(db)
        .await?;
    let Some(row) = row else {
        return Ok(Saved::default());
    };
    let text: String = row.try_get("state")?;
    serde_json::from_str(&text).map_err(|e| RecordError::Corrupt {
        what: "alert_dispatch state".into(),
        detail: e.to_string(),
    })
}

/// Saves the state and appends its deliveries and timeline events, all or nothing; the stored
/// events, to publish once committed.
pub async fn commit(
    timeline: &Timeline,
    db: &SqlitePool,
    saved: &Saved,
    deliveries: &[NewDelivery],
    events: Vec<NewEvent>,
    now: SystemTime,
) -> Result<Vec<Event>, RecordError> {
    let state = serde_json::to_string(saved).map_err(|e| RecordError::Corrupt {
        what: "alert_dispatch state".into(),
        detail: e.to_string(),
    })?;
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO alert_dispatch (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state")
        .bind(state)
        .execute(&mut *tx)
        .await?;
    for d in deliveries {
        insert_delivery(&mut tx, d).await?;
    }
    let stored = timeline.write(&mut tx, now, events).await?;
    tx.commit().await?;
    Ok(stored)
}

async fn insert_delivery(
    tx: &mut sqlx::SqliteConnection,
    d: &NewDelivery,
) -> Result<(), RecordError> {
    let n = &d.notification;
    let json = serde_json::to_string(n).map_err(|e| RecordError::Corrupt {
        what: format!("notification for {}", d.integration),
        detail: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO outbox (integration, receiver, group_key, kind, reason, notification, \
         created_ms, deadline_ms, attempts, next_attempt_ms, status, last_error) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL)",
    )
    .bind(&d.integration)
    .bind(&n.receiver)
    .bind(&n.group_key)
    .bind(kind_name(n.kind))
    .bind(&d.reason)
    .bind(json)
    .bind(to_ms(d.delivery.created_at))
    .bind(to_ms(d.delivery.deadline))
    .bind(i64::from(d.delivery.attempts))
    .bind(to_ms(d.delivery.next_attempt_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// `firing`, `acknowledged` or `resolved`.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Firing => "firing",
        Kind::Acknowledged => "acknowledged",
        Kind::Resolved => "resolved",
    }
}

/// Every pending delivery, oldest first.
pub async fn pending(db: &SqlitePool) -> Result<Vec<StoredDelivery>, RecordError> {
    let rows = sqlx::query(
        "SELECT id, integration, notification, created_ms, deadline_ms, attempts, \
         next_attempt_ms, last_error FROM outbox WHERE status = 'pending' ORDER BY id",
    )
    .fetch_all(db)
    .await?;
    rows.iter().map(stored).collect()
}

fn stored(row: &sqlx::sqlite::SqliteRow) -> Result<StoredDelivery, RecordError> {
    let id: i64 = row.try_get("id")?;
    let text: String = row.try_get("notification")?;
    let notification = serde_json::from_str(&text).map_err(|e| RecordError::Corrupt {
        what: format!("outbox row {id}"),
        detail: e.to_string(),
    })?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(StoredDelivery {
        id,
        integration: row.try_get("integration")?,
        notification,
        delivery: Delivery {
            created_at: from_ms(row.try_get("created_ms")?),
            deadline: from_ms(row.try_get("deadline_ms")?),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            next_attempt_at: from_ms(row.try_get("next_attempt_ms")?),
            status: Status::Pending,
            last_error: row.try_get("last_error")?,
        },
    })
}

/// Stores an attempt's outcome on `row` (its delivery already updated) and its timeline event,
/// all or nothing; the stored event, to publish once committed.
pub async fn record_attempt(
    timeline: &Timeline,
    db: &SqlitePool,
    row: &StoredDelivery,
    outcome: &AttemptOutcome,
    now: SystemTime,
) -> Result<Vec<Event>, RecordError> {
    let (id, delivery) = (row.id, &row.delivery);
    let status = match delivery.status {
        Status::Pending => "pending",
        Status::Delivered => "delivered",
        Status::Failed { .. } => "failed",
    };
    let (what, detail) = match outcome {
        AttemptOutcome::Delivered { .. } => ("delivered", None),
        AttemptOutcome::RetryAt { reason, .. } => ("retry", Some(reason.as_str())),
        AttemptOutcome::Failed { reason } => ("failed", Some(reason.as_str())),
    };
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE outbox SET attempts = ?, next_attempt_ms = ?, status = ?, last_error = ? \
         WHERE id = ?",
    )
    .bind(i64::from(delivery.attempts))
    .bind(to_ms(delivery.next_attempt_at))
    .bind(status)
    .bind(&delivery.last_error)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox_attempts (delivery_id, at_ms, outcome, detail) VALUES (?, ?, ?, ?)",
    )
    .bind(id)
    .bind(to_ms(now))
    .bind(what)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    let event = attempt_event(row, what, detail);
    let stored = timeline.write(&mut tx, now, vec![event]).await?;
    tx.commit().await?;
    Ok(stored)
}

/// A delivery attempt as the timeline shows it.
fn attempt_event(row: &StoredDelivery, what: &str, detail: Option<&str>) -> NewEvent {
    let n = &row.notification;
    let mut body = json!({
        "what": what,
        "notification": kind_name(n.kind),
        "integration": row.integration,
        "attempt": row.delivery.attempts,
    });
    if !n.receiver.is_empty() {
        body["receiver"] = json!(n.receiver);
    }
    if let Some(detail) = detail {
        body["detail"] = json!(detail);
    }
    NewEvent::new(timeline::Kind::Notification, body)
        .about(n.group_key.clone())
        .of_service(group_service(&n.group_labels, &n.alerts))
}

/// The service an alert group concerns: its `service` group label, else the `service` label
/// every one of its alerts has, if they agree.
pub fn group_service<'a>(
    group_labels: &BTreeMap<String, String>,
    alerts: impl IntoIterator<Item = &'a AlertView>,
) -> Option<String> {
    if let Some(s) = group_labels.get("service") {
        return Some(s.clone());
    }
    let mut services = alerts.into_iter().map(|a| a.labels.get("service"));
    let first = services.next()??;
    services.all(|s| s == Some(first)).then(|| first.clone())
}

/// Every silence, expired ones included (they stay for the timeline).
pub async fn silences(db: &SqlitePool) -> Result<Vec<Silence>, RecordError> {
    let rows = sqlx::query(
        "SELECT id, matchers, starts_ms, ends_ms, created_by, comment FROM silences ORDER BY starts_ms",
    )
    .fetch_all(db)
    .await?;
    rows.iter().map(silence).collect()
}

fn silence(row: &sqlx::sqlite::SqliteRow) -> Result<Silence, RecordError> {
    let id: String = row.try_get("id")?;
    let text: String = row.try_get("matchers")?;
    let corrupt = |detail: String| RecordError::Corrupt {
        what: format!("silence {id}"),
        detail,
    };
    let texts: Vec<String> = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    let matchers = texts
        .iter()
        .map(|t| Matcher::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(corrupt)?;
    Ok(Silence {
        matchers,
        starts_at: from_ms(row.try_get("starts_ms")?),
        ends_at: from_ms(row.try_get("ends_ms")?),
        created_by: row.try_get("created_by")?,
        comment: row.try_get("comment")?,
        id,
    })
}

/// Stores a new or changed silence.
pub async fn save_silence(db: &SqlitePool, s: &Silence) -> Result<(), RecordError> {
    let texts: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
    let matchers = serde_json::to_string(&texts).map_err(|e| RecordError::Corrupt {
        what: format!("silence {}", s.id),
        detail: e.to_string(),
    })?;
    sqlx::query(
        "INSERT INTO silences (id, matchers, starts_ms, ends_ms, created_by, comment) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET matchers = excluded.matchers, \
         starts_ms = excluded.starts_ms, ends_ms = excluded.ends_ms, \
         created_by = excluded.created_by, comment = excluded.comment",
    )
    .bind(&s.id)
    .bind(matchers)
    .bind(to_ms(s.starts_at))
    .bind(to_ms(s.ends_at))
    .bind(&s.created_by)
    .bind(&s.comment)
    .execute(db)
    .await?;
    Ok(())
}
