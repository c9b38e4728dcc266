//! The single writer task: group commit of appends, checkpoints and retention.
//!
//! Every append and every change to the index runs here, one command group at a time, so
//! decisions taken before a commit ([`plan`](super::plan)) still hold when it is applied after.
//! Timed checkpoints start here and run beside the appends ([`Background`]); explicit ones,
//! retention and close wait for them and run here.

use std::sync::Arc;

use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::checkpoint::{Background, checkpoint, log_failure};
use super::head::OpenChunk;
use super::plan::{Newest, Plan, plan_group, plan_known};
use super::wal::{self, Entry};
use super::{Command, Shared, wal_limit};
use crate::model::{AppendReport, WriteBatch};
use crate::store::{KnownSamples, StoreError};

/// New series rows per `INSERT` statement (2 bound values each).
const SERIES_PER_INSERT: usize = 400;

/// A group stops growing past this many samples, to bound one transaction.
const GROUP_SAMPLES: usize = 500_000;

type Reply = oneshot::Sender<Result<AppendReport, StoreError>>;

/// One caller's batch: series named by labels plus series named by id.
pub struct Append {
    /// Series named by labels.
    pub batch: WriteBatch,
    /// Samples of series named by id.
    pub known: KnownSamples,
}

impl Append {
    /// Samples in both parts.
    pub fn sample_count(&self) -> usize {
        self.batch.sample_count() + self.known.samples.len()
    }
}

/// Runs until [`Command::Close`] or until every sender is gone; no timed checkpoint starts
/// once `shutdown` is cancelled.
pub async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Command>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(shared.config.checkpoint_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut wal_bytes = 0u64;
    let mut background = Background::default();
    // A committed group whose samples are applied (and callers answered) while the next group
    // commits: the head append then overlaps the next fsync instead of adding to it. It is
    // applied before a checkpoint starts, which needs every committed record in the head.
    let mut pending: Option<Committed> = None;
    loop {
        if rx.is_empty() {
            finish(&shared, pending.take());
        }
        let first = tokio::select! {
            cmd = rx.recv() => match cmd { Some(cmd) => cmd, None => break },
            _ = ticker.tick(), if !shutdown.is_cancelled() => {
                finish(&shared, pending.take());
                if !shutdown.is_cancelled() && background.start(&shared).await {
                    wal_bytes = 0;
                }
                continue;
            }
        };
        let (appends, controls) = gather(first, &mut rx);
        if !appends.is_empty() {
            let previous = pending.take();
            let (bytes, next) = commit_group(&shared, appends, previous).await;
            wal_bytes += bytes;
            pending = next;
        }
        let full = wal_bytes > wal_limit(shared.read().head.len());
        if full || !controls.is_empty() {
            finish(&shared, pending.take());
        }
        if full && background.start(&shared).await {
            wal_bytes = 0;
        }
        for cmd in controls {
            background.finish().await;
            if !control(&shared, cmd, &mut wal_bytes).await {
                return;
            }
        }
    }
    finish(&shared, pending.take());
    background.finish().await;
    log_failure(checkpoint(&shared, OpenChunk::AsWritten).await);
}

/// The first command plus whatever else is already waiting, split into appends and the rest.
fn gather(
    first: Command,
    rx: &mut mpsc::Receiver<Command>,
) -> (Vec<(Append, Reply)>, Vec<Command>) {
    let mut appends = Vec::new();
    let mut controls = Vec::new();
    let mut samples = 0;
    let mut next = Some(first);
    while let Some(cmd) = next.take() {
        match cmd {
            Command::Append(append, reply) => {
                samples += append.sample_count();
                appends.push((append, reply));
            }
            other => controls.push(other),
        }
        if samples < GROUP_SAMPLES && controls.is_empty() {
            next = rx.try_recv().ok();
        }
    }
    (appends, controls)
}

/// Runs one control command; false when the writer must stop.
async fn control(shared: &Shared, cmd: Command, wal_bytes: &mut u64) -> bool {
    match cmd {
        Command::Append(..) => true,
        Command::Checkpoint(reply) => {
            *wal_bytes = 0;
            let _ = reply.send(checkpoint(shared, OpenChunk::Compacted).await);
            true
        }
        Command::Retain(now, reply) => {
            *wal_bytes = 0;
            let _ = reply.send(super::retention::retain(shared, now).await);
            true
        }
        Command::Close(reply) => {
            // As written: a million series close in seconds, not half a minute.
            let _ = reply.send(checkpoint(shared, OpenChunk::AsWritten).await);
            false
        }
    }
}

/// Answers the appends naming series by ids that are no longer known, and returns the others.
fn drop_stale(shared: &Shared, appends: Vec<(Append, Reply)>) -> Vec<(Append, Reply)> {
    let state = shared.read();
    let generation = state.index.generation();
    let mut live = Vec::with_capacity(appends.len());
    for (append, reply) in appends {
        let known = &append.known;
        let stale = match known.generation == generation {
            true => 0,
            false => (known.samples.iter())
                .filter(|(id, _)| !state.index.contains(*id))
                .count(),
        };
        match stale {
            0 => live.push((append, reply)),
            n => drop(reply.send(Err(StoreError::StaleIds(n)))),
        }
    }
    live
}

/// A group that committed: its samples still to apply, its callers still to answer.
struct Committed {
    plan: Plan,
    replies: Vec<Reply>,
    batches: Vec<Append>,
}

/// Applies a committed group to the head, then answers its callers: only then are their
/// samples both durable and visible to queries.
fn finish(shared: &Shared, committed: Option<Committed>) {
    let Some(Committed {
        plan,
        replies,
        batches,
    }) = committed
    else {
        return;
    };
    apply(shared, &plan.entries);
    for (reply, report) in replies.into_iter().zip(plan.reports) {
        let _ = reply.send(Ok(report));
    }
    // Freeing thousands of label sets is work the next group need not wait for.
    tokio::task::spawn_blocking(move || drop(batches));
}

/// Commits a group of batches while finishing the `previous` one (planning against its
/// accepted samples, which the head does not hold yet); returns the WAL bytes written and the
/// group, committed, for [`finish`]. A group that fails is answered here.
async fn commit_group(
    shared: &Shared,
    appends: Vec<(Append, Reply)>,
    previous: Option<Committed>,
) -> (u64, Option<Committed>) {
    let appends = drop_stale(shared, appends);
    let (batches, replies): (Vec<_>, Vec<_>) = appends.into_iter().unzip();
    let mut planned = None;
    let mut previous = previous;
    let overlay =
        (previous.as_mut()).map_or_else(Newest::default, |p| std::mem::take(&mut p.plan.newest));
    let write = write_group(shared, &batches, &mut planned, overlay);
    let (result, ()) = tokio::join!(write, async { finish(shared, previous) });
    if result.is_err()
        && let Some(plan) = &planned
    {
        forget_new_series(shared, plan);
    }
    match result {
        Ok(bytes) => {
            let plan = planned.unwrap_or_default();
            let committed = Committed {
                plan,
                replies,
                batches,
            };
            (bytes, Some(committed))
        }
        Err(e) => {
            tracing::error!(error = %e, "store group commit failed");
            let message = format!("group commit failed: {e}");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                    message.clone(),
                ))));
            }
            (0, None)
        }
    }
}

/// Plans a group: under the read lock when every series is named by id (the steady state of
/// remote_write), so that ingest's lookups are not stopped meanwhile; else under the write
/// lock, which creating series needs. Only the writer changes the head, so what it reads
/// under the read lock still holds when the group is applied.
fn plan(shared: &Shared, batches: &[Append], replayed: &[bool], overlay: Newest) -> Plan {
    if batches.iter().all(|a| a.batch.series.is_empty()) {
        plan_known(&shared.read(), batches, replayed, overlay)
    } else {
        plan_group(&mut shared.write(), batches, replayed, overlay)
    }
}

/// Plans the group (judging against `overlay`, then the head) and commits it.
async fn write_group(
    shared: &Shared,
    batches: &[Append],
    planned: &mut Option<Plan>,
    overlay: Newest,
) -> Result<u64, StoreError> {
    if batches.iter().all(|a| a.batch.id.is_none()) {
        return write_group_at_once(shared, batches, planned, overlay).await;
    }
    let mut tx = shared.pool.begin().await?;
    let replayed = record_batch_ids(&mut tx, batches).await?;
    let plan = planned.insert(plan(shared, batches, &replayed, overlay));
    insert_series(&mut tx, &plan.new_series).await?;
    let mut bytes = 0;
    if !plan.entries.is_empty() {
        let record = wal::encode(&plan.entries);
        bytes = record.len() as u64;
        sqlx::query("INSERT INTO wal (data) VALUES (?)")
            .bind(record)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(bytes)
}

/// [`write_group`] for batches without ids (nothing to ask the database before planning): the
/// whole transaction goes to SQLite as one multi-statement call, one hand-off to its thread
/// instead of one per statement.
async fn write_group_at_once(
    shared: &Shared,
    batches: &[Append],
    planned: &mut Option<Plan>,
    overlay: Newest,
) -> Result<u64, StoreError> {
    let replayed = vec![false; batches.len()];
    let plan = planned.insert(plan(shared, batches, &replayed, overlay));
    if plan.new_series.is_empty() && plan.entries.is_empty() {
        return Ok(0);
    }
    let record = (!plan.entries.is_empty()).then(|| wal::encode(&plan.entries));
    let mut conn = shared.pool.acquire().await?;
    let done = one_transaction(&plan.new_series, record.as_deref())
        .execute(&mut *conn)
        .await;
    if let Err(e) = done {
        // A statement or the COMMIT failed: the transaction may still be open on this connection.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(record.map_or(0, |r| r.len() as u64))
}

/// `BEGIN IMMEDIATE`, the new series rows, the WAL record (when `entries` were accepted) and
/// `COMMIT`, as one query.
fn one_transaction<'q>(
    new_series: &'q [(u32, Vec<u8>)],
    record: Option<&'q [u8]>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for part in new_series.chunks(SERIES_PER_INSERT) {
        sql.push_str("INSERT INTO series (id, labels) VALUES ");
        sql.push_str(&vec!["(?, ?)"; part.len()].join(", "));
        sql.push(';');
    }
    if record.is_some() {
        sql.push_str("INSERT INTO wal (data) VALUES (?);");
    }
    sql.push_str("COMMIT;");
    // Only placeholders are formatted in; every value is bound. The text differs with the
    // number of new series, so only the steady form is worth a cached statement.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(new_series.is_empty());
    for (id, labels) in new_series {
        query = query.bind(i64::from(*id)).bind(labels.as_slice());
    }
    if let Some(record) = record {
        query = query.bind(record);
    }
    query
}

/// Inserts each batch id; an id already present marks its batch as replayed.
async fn record_batch_ids(
    tx: &mut Transaction<'_, Sqlite>,
    batches: &[Append],
) -> Result<Vec<bool>, StoreError> {
    let now = super::load::now_ms();
    let mut replayed = Vec::with_capacity(batches.len());
    for Append { batch, .. } in batches {
        let Some(id) = &batch.id else {
            replayed.push(false);
            continue;
        };
        let done =
            sqlx::query("INSERT OR IGNORE INTO batches (agent, seq, received_ms) VALUES (?, ?, ?)")
                .bind(&id.agent)
                .bind(id.seq as i64)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        replayed.push(done.rows_affected() == 0);
    }
    Ok(replayed)
}

/// Inserts new series rows, several per statement.
async fn insert_series(
    tx: &mut Transaction<'_, Sqlite>,
    rows: &[(u32, Vec<u8>)],
) -> Result<(), StoreError> {
    for part in rows.chunks(SERIES_PER_INSERT) {
        let sql = format!(
            "INSERT INTO series (id, labels) VALUES {}",
            vec!["(?, ?)"; part.len()].join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, labels) in part {
            query = query.bind(i64::from(*id)).bind(labels.as_slice());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Undoes the in-memory series creation of a group that did not commit.
fn forget_new_series(shared: &Shared, plan: &Plan) {
    let ids = plan.new_series.iter().map(|(id, _)| *id).collect();
    shared.write().index.remove(&ids);
}

/// Entries whose series [`apply`] warms at once: their memory fits a core's cache.
const WARM_AHEAD: usize = 256;

/// Applies committed samples to the head, a part at a time: each part's series are warmed
/// ([`HeadSeries::warm`](super::head::HeadSeries::warm)) before its samples are appended.
fn apply(shared: &Shared, entries: &[Entry]) {
    let mut state = shared.write();
    for part in entries.chunks(WARM_AHEAD) {
        let warm = (part.iter()).fold(0, |acc, e| acc ^ state.head[e.series as usize].warm());
        std::hint::black_box(warm);
        for e in part {
            state.head[e.series as usize].append(e.t, e.v);
        }
    }
}
