//! The single writer task: group commit of appends, checkpoints and retention.
//!
//! Everything that changes the database or the in-memory state runs here, one command group at a
//! time, so decisions taken before a commit still hold when it is applied after.

use super::hash::FxHashMap;
use std::sync::Arc;

use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{Background, checkpoint, log_failure};
use super::head::{Verdict, judge};
use super::index::{encode_labels, labels_hash};
use super::wal::{self, Entry};
use super::{Command, Shared, State, WAL_CHECKPOINT_BYTES};
use crate::model::{AppendReport, WriteBatch};
use crate::store::StoreError;

/// A group stops growing past this many samples, to bound one transaction.
const GROUP_SAMPLES: usize = 500_000;

type Reply = oneshot::Sender<Result<AppendReport, StoreError>>;

/// Runs until [`Command::Close`] or until every sender is gone.
pub async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Command>) {
    let mut ticker = tokio::time::interval(shared.config.checkpoint_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut wal_bytes = 0u64;
    let mut background = Background::default();
    loop {
        let first = tokio::select! {
            cmd = rx.recv() => match cmd { Some(cmd) => cmd, None => break },
            _ = ticker.tick() => {
                if background.start(&shared).await {
                    wal_bytes = 0;
                }
                continue;
            }
        };
        let (appends, controls) = gather(first, &mut rx);
        if !appends.is_empty() {
            wal_bytes += commit_group(&shared, appends).await;
        }
        if wal_bytes > WAL_CHECKPOINT_BYTES && background.start(&shared).await {
            wal_bytes = 0;
        }
        for cmd in controls {
            background.finish().await;
            if !control(&shared, cmd, &mut wal_bytes).await {
                return;
            }
        }
    }
    background.finish().await;
    log_failure(checkpoint(&shared).await);
}

/// The first command plus whatever else is already waiting, split into appends and the rest.
fn gather(
    first: Command,
    rx: &mut mpsc::Receiver<Command>,
) -> (Vec<(WriteBatch, Reply)>, Vec<Command>) {
    let mut appends = Vec::new();
    let mut controls = Vec::new();
    let mut samples = 0;
    let mut next = Some(first);
    while let Some(cmd) = next.take() {
        match cmd {
            Command::Append(batch, reply) => {
                samples += batch.sample_count();
                appends.push((batch, reply));
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
            let _ = reply.send(checkpoint(shared).await);
            true
        }
        Command::Retain(now, reply) => {
            *wal_bytes = 0;
            let _ = reply.send(super::retention::retain(shared, now).await);
            true
        }
        Command::Close(reply) => {
            let _ = reply.send(checkpoint(shared).await);
            false
        }
    }
}

/// What a group will write once committed.
#[derive(Default)]
struct Plan {
    reports: Vec<AppendReport>,
    entries: Vec<Entry>,
    new_series: Vec<(u32, Vec<u8>)>,
}

/// Commits a group of batches and answers each caller; returns the WAL bytes written.
async fn commit_group(shared: &Shared, appends: Vec<(WriteBatch, Reply)>) -> u64 {
    let (batches, replies): (Vec<_>, Vec<_>) = appends.into_iter().unzip();
    let mut planned = None;
    let result = write_group(shared, &batches, &mut planned).await;
    if result.is_err()
        && let Some(plan) = &planned
    {
        forget_new_series(shared, plan);
    }
    match result {
        Ok(bytes) => {
            let plan = planned.unwrap_or_default();
            apply(shared, &plan.entries);
            for (reply, report) in replies.into_iter().zip(plan.reports) {
                let _ = reply.send(Ok(report));
            }
            // Freeing thousands of label sets is work the next group need not wait for.
            tokio::task::spawn_blocking(move || drop(batches));
            bytes
        }
        Err(e) => {
            tracing::error!(error = %e, "store group commit failed");
            let message = format!("group commit failed: {e}");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                    message.clone(),
                ))));
            }
            0
        }
    }
}

async fn write_group(
    shared: &Shared,
    batches: &[WriteBatch],
    planned: &mut Option<Plan>,
) -> Result<u64, StoreError> {
    let mut tx = shared.pool.begin().await?;
    let replayed = record_batch_ids(&mut tx, batches).await?;
    let plan = plan_group(&mut shared.write(), batches, &replayed);
    let plan = planned.insert(plan);
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

/// Inserts each batch id; an id already present marks its batch as replayed.
async fn record_batch_ids(
    tx: &mut Transaction<'_, Sqlite>,
    batches: &[WriteBatch],
) -> Result<Vec<bool>, StoreError> {
    let now = super::load::now_ms();
    let mut replayed = Vec::with_capacity(batches.len());
    for batch in batches {
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

/// Resolves (or creates) series and judges every sample, without touching the head.
fn plan_group(state: &mut State, batches: &[WriteBatch], replayed: &[bool]) -> Plan {
    let series: usize = batches.iter().map(|b| b.series.len()).sum();
    let samples: usize = batches.iter().map(WriteBatch::sample_count).sum();
    let mut plan = Plan {
        entries: Vec::with_capacity(samples),
        ..Plan::default()
    };
    let mut newest: FxHashMap<u32, (i64, u64)> =
        FxHashMap::with_capacity_and_hasher(series, Default::default());
    for (batch, &replayed) in batches.iter().zip(replayed) {
        let mut report = AppendReport {
            replayed,
            ..AppendReport::default()
        };
        if !replayed {
            for series in &batch.series {
                let id = resolve(state, &series.labels, &mut plan, &mut report);
                let mut last = newest.get(&id).copied().or(state.head[id as usize].last);
                for s in &series.samples {
                    match judge(last, s.t, s.v) {
                        Verdict::Append => {
                            plan.entries.push(Entry {
                                series: id,
                                t: s.t,
                                v: s.v,
                            });
                            last = Some((s.t, s.v.to_bits()));
                            report.appended += 1;
                        }
                        Verdict::OutOfOrder => report.out_of_order += 1,
                        Verdict::Duplicate => report.duplicates += 1,
                        Verdict::Same => {}
                    }
                }
                if let Some(l) = last {
                    newest.insert(id, l);
                }
            }
        }
        plan.reports.push(report);
    }
    plan
}

fn resolve(
    state: &mut State,
    labels: &crate::model::Labels,
    plan: &mut Plan,
    report: &mut AppendReport,
) -> u32 {
    let hash = labels_hash(labels);
    if let Some(id) = state.index.lookup(labels, hash) {
        return id;
    }
    let id = state.index.next_id();
    state.index.insert(id, labels, hash);
    state.head.resize_with(id as usize + 1, Default::default);
    plan.new_series.push((id, encode_labels(labels)));
    report.series_created += 1;
    id
}

/// Inserts new series rows, several per statement.
async fn insert_series(
    tx: &mut Transaction<'_, Sqlite>,
    rows: &[(u32, Vec<u8>)],
) -> Result<(), StoreError> {
    for part in rows.chunks(400) {
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

/// Applies committed samples to the head.
fn apply(shared: &Shared, entries: &[Entry]) {
    let mut state = shared.write();
    for e in entries {
        state.head[e.series as usize].append(e.t, e.v);
    }
}
