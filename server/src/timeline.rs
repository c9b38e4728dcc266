//! One timeline of the war room: an append-only table of events from every source (the
//! cutover's phases, gates and runbook, the alert pipeline's alerts, notifications,
//! acknowledgements, escalations and silences, people's notes), each written in the same
//! transaction as the change it records, then broadcast to subscribers (the live page).
//!
//! [`Timeline::write`] appends inside a caller's transaction and hands back the stored events;
//! [`Timeline::publish`] broadcasts them once that transaction has committed. Events carry the
//! phase the cutover was in when they were written (the timeline keeps the current one).

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::broadcast;

use crate::alerting::records::to_ms;

/// How many events a subscriber may fall behind before it misses some (and is told how many).
const BROADCAST_CAPACITY: usize = 1024;

/// The most events one page holds.
pub const MAX_PAGE: usize = 5000;

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The cutover moved to another phase (advance or rollback), with every gate's value.
    Phase,
    /// The cutover was held, by hand or because a gate turned red.
    Hold,
    /// A hold ended.
    Resume,
    /// An advance past gates not yet green, with its reason.
    Override,
    /// A gate changed colour.
    Gate,
    /// A runbook step's verification passed or failed.
    Integrity,
    /// A runbook step was done or undone.
    Runbook,
    /// A person of a role signed a phase off.
    Signoff,
    /// An alert started firing or resolved.
    Alert,
    /// A notification was queued, retried, delivered or failed.
    Notification,
    /// An alert group was acknowledged, or the acknowledgement withdrawn.
    Ack,
    /// A group's escalation went to a further tier.
    Escalation,
    /// A silence was added or expired.
    Silence,
    /// A person's note.
    Note,
}

const KINDS: [Kind; 14] = [
    Kind::Phase,
    Kind::Hold,
    Kind::Resume,
    Kind::Override,
    Kind::Gate,
    Kind::Integrity,
    Kind::Runbook,
    Kind::Signoff,
    Kind::Alert,
    Kind::Notification,
    Kind::Ack,
    Kind::Escalation,
    Kind::Silence,
    Kind::Note,
];

impl Kind {
    /// Its name, as stored and as `kind=` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Phase => "phase",
            Kind::Hold => "hold",
            Kind::Resume => "resume",
            Kind::Override => "override",
            Kind::Gate => "gate",
            Kind::Integrity => "integrity",
            Kind::Runbook => "runbook",
            Kind::Signoff => "signoff",
            Kind::Alert => "alert",
            Kind::Notification => "notification",
            Kind::Ack => "ack",
            Kind::Escalation => "escalation",
            Kind::Silence => "silence",
            Kind::Note => "note",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a [`Kind`]'s.
#[derive(Debug, thiserror::Error)]
#[error("unknown event kind {0:?} (one of: {list})", list = KINDS.map(Kind::as_str).join(", "))]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KINDS
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// An event to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// What it is about.
    pub kind: Kind,
    /// Who did it (a person, a token, or `warroom` for the server's own decisions).
    pub actor: Option<String>,
    /// What it is about within its kind: a gate, a group key, a step, a silence.
    pub subject: Option<String>,
    /// The service it concerns, if one.
    pub service: Option<String>,
    /// The details.
    pub body: Value,
}

impl NewEvent {
    /// An event of `kind` with `body` and nothing else set.
    pub fn new(kind: Kind, body: Value) -> Self {
        Self {
            kind,
            actor: None,
            subject: None,
            service: None,
            body,
        }
    }

    /// The same event by `actor`.
    pub fn by(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The same event about `subject`.
    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The same event concerning `service`, if there is one.
    pub fn of_service(mut self, service: Option<String>) -> Self {
        self.service = service;
        self
    }
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Its place in the timeline: ids grow with every append.
    pub id: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What it is about.
    pub kind: String,
    /// Who did it.
    pub actor: Option<String>,
    /// What within its kind.
    pub subject: Option<String>,
    /// The service it concerns.
    pub service: Option<String>,
    /// The cutover's phase when it was written.
    pub phase: Option<String>,
    /// The details.
    pub body: Value,
}

/// Which events a page holds: all of them, narrowed by each field that is set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// At or after this time (ms).
    pub from_ms: Option<i64>,
    /// At or before this time (ms).
    pub to_ms: Option<i64>,
    /// Of this kind.
    pub kind: Option<Kind>,
    /// Concerning this service.
    pub service: Option<String>,
    /// Written during this phase.
    pub phase: Option<String>,
    /// Appended after the event with this id (the next page).
    pub after_id: Option<i64>,
}

/// The timeline: its table, the broadcast of appended events, and the current phase.
pub struct Timeline {
    db: SqlitePool,
    sent: broadcast::Sender<Arc<Event>>,
    phase: RwLock<Option<String>>,
}

impl Timeline {
    /// The timeline kept in `db` (its migrations run).
    pub fn new(db: SqlitePool) -> Arc<Self> {
        let (sent, _) = broadcast::channel(BROADCAST_CAPACITY);
        Arc::new(Self {
            db,
            sent,
            phase: RwLock::new(None),
        })
    }

    /// The cutover's current phase, which every event written now is stamped with.
    pub fn phase(&self) -> Option<String> {
        self.phase.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// Sets the current phase (the cutover does, as it moves).
    pub fn set_phase(&self, phase: Option<String>) {
        if let Ok(mut p) = self.phase.write() {
            *p = phase;
        }
    }

    /// Appends `events` at `at` within the caller's transaction `conn`, stamped with the
    /// current phase; the stored events, to [`publish`](Self::publish) once it commits.
    pub async fn write(
        &self,
        conn: &mut SqliteConnection,
        at: SystemTime,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, sqlx::Error> {
        let phase = self.phase();
        let at_ms = to_ms(at);
        let mut stored = Vec::with_capacity(events.len());
        for e in events {
            let body = e.body.to_string();
            let row = sqlx::query(
                "INSERT INTO timeline (at_ms, kind, actor, subject, service, phase, body) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(at_ms)
            .bind(e.kind.as_str())
            .bind(&e.actor)
            .bind(&e.subject)
            .bind(&e.service)
            .bind(&phase)
            .bind(&body)
            .fetch_one(&mut *conn)
            .await?;
            stored.push(Event {
                id: row.try_get("id")?,
                at_ms,
                kind: e.kind.as_str().to_owned(),
                actor: e.actor,
                subject: e.subject,
                service: e.service,
                phase: phase.clone(),
                body: e.body,
            });
        }
        Ok(stored)
    }

    /// Broadcasts committed events to every subscriber (none listening is fine).
    pub fn publish(&self, events: Vec<Event>) {
        for e in events {
            let _ = self.sent.send(Arc::new(e));
        }
    }

    /// Appends `events` in a transaction of their own and publishes them.
    pub async fn append(
        &self,
        at: SystemTime,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        let stored = self.write(&mut tx, at, events).await?;
        tx.commit().await?;
        self.publish(stored.clone());
        Ok(stored)
    }

    /// Events appended from now on. A subscriber that falls more than
    /// [`BROADCAST_CAPACITY`] behind gets `Lagged(n)` once and carries on with the newest (it
    /// can page the missed ones in by id).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sent.subscribe()
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) events matching `filter`, oldest first.
    pub async fn page(&self, filter: &Filter, limit: usize) -> Result<Vec<Event>, sqlx::Error> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, at_ms, kind, actor, subject, service, phase, body FROM timeline WHERE 1 = 1",
        );
        if let Some(from) = filter.from_ms {
            q.push(" AND at_ms >= ").push_bind(from);
        }
        if let Some(to) = filter.to_ms {
            q.push(" AND at_ms <= ").push_bind(to);
        }
        if let Some(kind) = filter.kind {
            q.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(service) = &filter.service {
            q.push(" AND service = ").push_bind(service.clone());
        }
        if let Some(phase) = &filter.phase {
            q.push(" AND phase = ").push_bind(phase.clone());
        }
        if let Some(after) = filter.after_id {
            // In a window bounded on both sides the window's index drives, so a next page costs
            // what the window holds; SQLite would otherwise walk every id after `after` (half
            // the table for a window a few days back). The unary `+` keeps the id off the index.
            let bounded = filter.from_ms.is_some() && filter.to_ms.is_some();
            let after_id = if bounded { " AND +id > " } else { " AND id > " };
            q.push(after_id).push_bind(after);
        }
        let limit = i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1);
        q.push(" ORDER BY id LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&self.db).await?;
        rows.iter().map(event).collect()
    }
}

fn event(row: &sqlx::sqlite::SqliteRow) -> Result<Event, sqlx::Error> {
    let body: String = row.try_get("body")?;
    Ok(Event {
        id: row.try_get("id")?,
        at_ms: row.try_get("at_ms")?,
        kind: row.try_get("kind")?,
        actor: row.try_get("actor")?,
        subject: row.try_get("subject")?,
        service: row.try_get("service")?,
        phase: row.try_get("phase")?,
        // A body that is not JSON (written by hand) is shown as the text it is.
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    })
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
