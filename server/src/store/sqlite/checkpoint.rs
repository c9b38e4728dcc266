//! The checkpoint: every changed head chunk written out, then the WAL records whose samples
//! they hold deleted.
//!
//! Sealed chunks go to `chunks`, each with its rollups, once. Open chunks go as [`OpenChunk`]
//! says: as written, [`open_chunks::ROW`] series to an `open_chunks` row (the checkpoints beside
//! appends, at close and before retention), or compacted into `chunks` (an explicit checkpoint;
//! it then empties `open_chunks`).
//!
//! It can run while appends go on, so that a checkpoint of a million series does not stop
//! ingest for seconds:
//! - The writer task notes the newest WAL record first ([`wal_upto`]), between two group
//!   commits, so every sample of the records up to it is already in the head.
//! - The head is then copied a slice of series at a time, under a short read lock; open chunks
//!   are compacted outside the lock, and each slice is stored in its own transaction.
//! - Only when every slice is stored are the records up to the noted one deleted, and the head
//!   forgets what was stored (not the chunks sealed since).
//!
//! A crash part way leaves stored chunks beside WAL records holding the same samples; replaying
//! those at open judges them against the newest stored sample and skips them, so nothing is
//! lost or doubled. Samples appended meanwhile may already be in a stored open chunk; their
//! records stay until the next checkpoint, by the same argument. An `open_chunks` entry and a
//! `chunks` row may both hold a series' open chunk; opening keeps the newer
//! ([`super::head::HeadSeries::restore_open`]).

use std::ops::Range;
use std::sync::Arc;

use super::head::{ChunkRow, OpenChunk, Stored};
use super::open_chunks;
use super::{Shared, rollup_write};
use crate::store::StoreError;

/// Series a checkpoint copies under one read lock and stores in one transaction (few in tests,
/// so that a few hundred series span several): whole `open_chunks` rows.
const SLICE: usize = if cfg!(test) { 64 } else { 4096 };
const _: () = assert!(SLICE.is_multiple_of(open_chunks::ROW));

/// Writes every changed head chunk, open ones as `open` says, and deletes the WAL, with nothing
/// appended meanwhile.
pub async fn checkpoint(shared: &Shared, open: OpenChunk) -> Result<(), StoreError> {
    let upto = wal_upto(shared).await?;
    checkpoint_upto(shared, upto, open).await
}

/// The id of the newest WAL record. The writer asks between group commits, with every committed
/// group applied, so the head holds every sample of the records up to it.
pub async fn wal_upto(shared: &Shared) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM wal")
        .fetch_one(&shared.pool)
        .await?)
}

/// Writes every head chunk changed since the last checkpoint (open ones as `open` says), then
/// deletes the WAL records up to `upto` (from [`wal_upto`]); appends may go on meanwhile.
pub async fn checkpoint_upto(
    shared: &Shared,
    upto: i64,
    open: OpenChunk,
) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let count = shared.read().head.len();
    let mut stored: Vec<(u32, Stored)> = Vec::new();
    let mut chunks = 0;
    for first in (0..count).step_by(SLICE) {
        let Some(slice) = copy_slice(shared, first..count.min(first + SLICE), open) else {
            continue;
        };
        chunks += slice.rows.len();
        store_slice(shared, &slice).await?;
        stored.extend(slice.stored);
    }
    let mut tx = shared.pool.begin().await?;
    sqlx::query("DELETE FROM wal WHERE id <= ?")
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    if open == OpenChunk::Compacted {
        // Every open chunk is in `chunks` now (those appended to since also in the WAL).
        sqlx::query("DELETE FROM open_chunks")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let mut state = shared.write();
    for (id, stored) in &stored {
        if let Some(head) = state.head.get_mut(*id as usize) {
            head.checkpointed(stored);
        }
    }
    drop(state);
    tracing::info!(
        "checkpoint ({open:?} open chunks) stored {chunks} chunks of {} series in {:.2?}",
        stored.len(),
        started.elapsed()
    );
    Ok(())
}

/// What a checkpoint stores of one slice of series ([`SLICE`] of them: copied under one read
/// lock, stored in one transaction, their open chunks in `open_chunks` rows of
/// [`open_chunks::ROW`]).
struct Slice {
    /// `chunks` rows, with their series.
    rows: Vec<(u32, ChunkRow)>,
    /// What each changed series had stored, for [`super::head::HeadSeries::checkpointed`].
    stored: Vec<(u32, Stored)>,
    /// The slice's `open_chunks` rows, `(first_id, blob)` ([`OpenChunk::AsWritten`]).
    open_chunks: Vec<(i64, Vec<u8>)>,
}

/// Copies what changed in series `ids` under one read lock (`None` when nothing did), then
/// compacts outside it.
fn copy_slice(shared: &Shared, ids: Range<usize>, open: OpenChunk) -> Option<Slice> {
    let (dirty, open_chunks) = {
        let state = shared.read();
        let heads = || state.head.range(ids.clone());
        let dirty: Vec<_> = (ids.clone().zip(heads()))
            .filter_map(|(id, head)| Some((id as u32, head.dirty(open)?)))
            .collect();
        if dirty.is_empty() {
            return None;
        }
        let open_chunks = match open {
            OpenChunk::AsWritten => {
                let chunks = (ids.clone().zip(heads()))
                    .filter_map(|(id, h)| Some((id as u32, h.open_chunk()?)));
                open_chunks::encode_rows(ids.clone(), chunks)
            }
            OpenChunk::Compacted => Vec::new(),
        };
        (dirty, open_chunks)
    };
    let mut slice = Slice {
        rows: Vec::new(),
        stored: Vec::with_capacity(dirty.len()),
        open_chunks,
    };
    for (id, dirty) in dirty {
        slice.stored.push((id, dirty.stored()));
        let rows = dirty.into_rows().into_iter();
        slice.rows.extend(rows.map(|row| (id, row)));
    }
    Some(slice)
}

/// Stores a slice in one transaction: its `chunks` rows with their rollups, and its
/// `open_chunks` rows.
async fn store_slice(shared: &Shared, slice: &Slice) -> Result<(), StoreError> {
    let rows: Vec<(u32, &ChunkRow)> = slice.rows.iter().map(|(id, row)| (*id, row)).collect();
    let mut tx = shared.pool.begin().await?;
    for part in rows.chunks(200) {
        let sql = format!(
            "INSERT OR REPLACE INTO chunks (series_id, min_t, max_t, data) VALUES {}",
            vec!["(?, ?, ?, ?)"; part.len()].join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, (min_t, max_t, data)) in part {
            query = query
                .bind(i64::from(*id))
                .bind(min_t)
                .bind(max_t)
                .bind(data.as_slice());
        }
        query.execute(&mut *tx).await?;
    }
    rollup_write::write(&mut tx, &rows).await?;
    for (first_id, blob) in &slice.open_chunks {
        sqlx::query("INSERT OR REPLACE INTO open_chunks (first_id, data) VALUES (?, ?)")
            .bind(first_id)
            .bind(blob.as_slice())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The writer's checkpoint running beside appends: at most one at a time.
#[derive(Default)]
pub struct Background {
    running: Option<tokio::task::JoinHandle<Result<(), StoreError>>>,
}

impl Background {
    /// Starts a checkpoint unless one is still running; false when one is. Call it from the
    /// writer task between group commits, with every committed group applied to the head.
    pub async fn start(&mut self, shared: &Arc<Shared>) -> bool {
        if self.running.as_ref().is_some_and(|r| !r.is_finished()) {
            return false;
        }
        self.finish().await;
        let upto = match wal_upto(shared).await {
            Ok(upto) => upto,
            Err(e) => {
                log_failure(Err(e));
                return true;
            }
        };
        let shared = shared.clone();
        self.running = Some(tokio::spawn(async move {
            checkpoint_upto(&shared, upto, OpenChunk::AsWritten).await
        }));
        true
    }

    /// Waits for the running checkpoint, if any, and logs its failure.
    pub async fn finish(&mut self) {
        if let Some(running) = self.running.take() {
            match running.await {
                Ok(result) => log_failure(result),
                Err(e) => tracing::error!(error = %e, "store checkpoint task failed"),
            }
        }
    }
}

/// Logs a failed checkpoint; the next one stores what this one did not.
pub fn log_failure(result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "store checkpoint failed");
    }
}
