//! The checkpoint: every changed head chunk (and its rollups) written out, then the WAL records
//! whose samples they hold deleted.
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
//! records stay until the next checkpoint, by the same argument.

use std::sync::Arc;

use super::Shared;
use super::head::{ChunkRow, OpenChunk, Stored};
use super::rollup_write;
use crate::store::StoreError;

/// Series copied under one read lock and stored in one transaction (few in tests, so that a
/// few hundred series span several).
const SLICE: usize = if cfg!(test) { 64 } else { 4096 };

/// Writes every changed head chunk, open ones compacted, and deletes the WAL, with nothing
/// appended meanwhile.
pub async fn checkpoint(shared: &Shared) -> Result<(), StoreError> {
    let upto = wal_upto(shared).await?;
    checkpoint_upto(shared, upto, OpenChunk::Compacted).await
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
    for start in (0..count).step_by(SLICE) {
        let copied: Vec<_> = {
            let state = shared.read();
            (start..count.min(start + SLICE))
                .filter_map(|id| Some((id as u32, state.head.get(id)?.dirty(open)?)))
                .collect()
        };
        let mut rows: Vec<(u32, ChunkRow)> = Vec::new();
        for (id, dirty) in copied {
            stored.push((id, dirty.stored()));
            rows.extend(dirty.into_rows().into_iter().map(|row| (id, row)));
        }
        chunks += rows.len();
        store_chunks(shared, &rows).await?;
    }
    sqlx::query("DELETE FROM wal WHERE id <= ?")
        .bind(upto)
        .execute(&shared.pool)
        .await?;
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

/// Upserts `rows` and their rollups in one transaction.
async fn store_chunks(shared: &Shared, rows: &[(u32, ChunkRow)]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<(u32, &ChunkRow)> = rows.iter().map(|(id, row)| (*id, row)).collect();
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
