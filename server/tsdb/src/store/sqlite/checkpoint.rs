//! The checkpoint: every changed head chunk written out, then the WAL records whose samples
//! they hold deleted.
//!
//! Sealed chunks go to `chunks`, each with its rollups, once. Open chunks go as [`OpenChunk`]
//! says: as written, [`open_chunks::ROW`] series to an `open_chunks` row, each joined from its
//! stored start and what the head wrote since (the checkpoints beside appends, at close and
//! before retention), or compacted into `chunks` (an explicit checkpoint; it then empties
//! `open_chunks`). Once a row holds the start of an open chunk, the head drops that start from
//! memory: a chunk sealed after that (a cold one) is joined to its start here, then compacted.
//!
//! It can run while appends go on, so that a checkpoint of a million series does not stop
//! ingest for seconds:
//! - The writer task notes the newest WAL record first ([`wal_upto`]), between two group
//!   commits, so every sample of the records up to it is already in the head.
//! - The head is then copied a slice of series at a time, under a short read lock; chunks are
//!   joined and compacted outside the lock, and each slice is stored in its own transaction,
//!   after which the head forgets what it stored (not the chunks sealed since).
//! - Only when every slice is stored are the records up to the noted one deleted.
//!
//! A crash part way leaves stored chunks beside WAL records holding the same samples; replaying
//! those at open judges them against the newest stored sample and skips them, so nothing is
//! lost or doubled. Samples appended meanwhile may already be in a stored open chunk; their
//! records stay until the next checkpoint, by the same argument. An `open_chunks` entry and a
//! `chunks` row may both hold a series' open chunk (after an explicit checkpoint); opening and
//! reading keep the newer ([`super::head::HeadSeries::restore_open`]).

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::chunk::{self, ChunkEncoder};
use super::head::{ChunkRow, Dirty, OpenChunk, Part, Stored};
use super::{Shared, open_chunks, rollup_write};
use crate::store::StoreError;

/// Series a checkpoint copies under one read lock and stores in one transaction (few in tests,
/// so that a few hundred series span several).
const SLICE: usize = if cfg!(test) { 64 } else { 4096 };

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
    let started = Instant::now();
    let count = shared.read().head.len();
    let (mut series, mut chunks) = (0, 0);
    let mut phases = Phases::default();
    for first in (0..count).step_by(SLICE) {
        phases.start();
        let dirty = copy_slice(shared, first..count.min(first + SLICE), open);
        phases.lap(0);
        if dirty.is_empty() {
            continue;
        }
        let slice = join_slice(shared, first..count.min(first + SLICE), open, dirty).await?;
        phases.lap(1);
        store_slice(shared, &slice).await?;
        phases.lap(2);
        chunks += slice.rows.len();
        series += slice.stored.len();
        // Stored for good: the head forgets it now (the WAL records go below, once every
        // slice is stored; replaying them meanwhile would skip their samples as old).
        let mut state = shared.write();
        for (id, stored, whole) in slice.stored {
            if let Some(head) = state.head.get_mut(id as usize) {
                head.checkpointed(&stored, whole);
            }
        }
        drop(state);
        phases.lap(3);
    }
    let mut tx = shared.pool.begin().await?;
    sqlx::query("DELETE FROM wal WHERE id <= ?")
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    if open == OpenChunk::Compacted {
        // Every open chunk is in `chunks` now, and held whole (those appended to since also in
        // the WAL).
        sqlx::query("DELETE FROM open_chunks")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    // The slices' copies are freed now, beside the bodies and batches of the appends since the
    // last checkpoint: glibc would keep their pages resident.
    let trim = Instant::now();
    let gave_back = tokio::task::spawn_blocking(crate::memory::give_back)
        .await
        .unwrap_or(false);
    tracing::debug!(
        gave_back,
        "free heap pages given back in {:.2?}",
        trim.elapsed()
    );
    tracing::info!(
        "checkpoint ({open:?} open chunks) stored {chunks} chunks of {series} series in {:.2?} \
         (copy {:.2?}, join {:.2?}, store {:.2?}, apply {:.2?})",
        started.elapsed(),
        phases.spent[0],
        phases.spent[1],
        phases.spent[2],
        phases.spent[3],
    );
    Ok(())
}

/// Time a checkpoint spent copying, joining, storing and applying its slices, for its log line.
#[derive(Default)]
struct Phases {
    spent: [Duration; 4],
    since: Option<Instant>,
}

impl Phases {
    /// A slice begins.
    fn start(&mut self) {
        self.since = Some(Instant::now());
    }

    /// Phase `phase` of the slice ends now.
    fn lap(&mut self, phase: usize) {
        let now = Instant::now();
        self.spent[phase] += now - self.since.unwrap_or(now);
        self.since = Some(now);
    }
}

/// What changed in series `ids`, copied under one read lock.
fn copy_slice(shared: &Shared, ids: Range<usize>, open: OpenChunk) -> Vec<(u32, Dirty)> {
    let state = shared.read();
    (ids.clone().zip(state.head.range(ids)))
        .filter_map(|(id, head)| Some((id as u32, head.dirty(open)?)))
        .collect()
}

/// What a checkpoint stores of one slice of series ([`SLICE`] of them: copied under one read
/// lock, stored in one transaction).
struct Slice {
    /// The series ids.
    ids: Range<usize>,
    /// `chunks` rows, with their series.
    rows: Vec<(u32, ChunkRow)>,
    /// The slice's `open_chunks` rows, `(first_id, blob)`, replacing those it had
    /// ([`OpenChunk::AsWritten`]).
    open_chunks: Option<Vec<(i64, Vec<u8>)>>,
    /// What each changed series had stored, for [`super::head::HeadSeries::checkpointed`], with
    /// the open chunk held whole again after a compacting checkpoint joined it.
    stored: Vec<(u32, Stored, Option<ChunkEncoder>)>,
}

/// Joins each changed open chunk to its stored start, and each cold chunk (and, compacting,
/// each open chunk) whose start the head dropped to that start, compacting the closed ones:
/// the rows of series `ids`, ready to store. The stored open chunks are read before the
/// slice's transaction, which then holds SQLite's write lock only to write: only a checkpoint
/// changes them, one at a time.
async fn join_slice(
    shared: &Shared,
    ids: Range<usize>,
    open_as: OpenChunk,
    dirty: Vec<(u32, Dirty)>,
) -> Result<Slice, StoreError> {
    let stored_rows = open_chunks::read_range(shared, ids.clone()).await?;
    // Decoding and compacting a slice's sealed chunks takes a core for a tenth of a second: on
    // a blocking thread, not a runtime worker that answers requests.
    tokio::task::spawn_blocking(move || join(ids, open_as, dirty, &stored_rows))
        .await
        // Cancelled: the runtime is shutting down (a panic aborts the process).
        .map_err(|_| StoreError::Closed)?
}

/// [`join_slice`] once the slice's stored open chunks (`stored_rows`) are read.
fn join(
    ids: Range<usize>,
    open_as: OpenChunk,
    dirty: Vec<(u32, Dirty)>,
    stored_rows: &[(i64, Vec<u8>)],
) -> Result<Slice, StoreError> {
    let stored = open_chunks::entries(stored_rows)?;
    let mut rest = stored.iter().peekable();
    let mut written = open_chunks::Rows::default();
    let mut slice = Slice {
        ids,
        rows: Vec::new(),
        open_chunks: None,
        stored: Vec::with_capacity(dirty.len()),
    };
    for (id, dirty) in dirty {
        // The unchanged series' stored open chunks stay as they are.
        while let Some(&&(other, chunk)) = rest.peek()
            && other < id
        {
            written.put(other, &[chunk]);
            rest.next();
        }
        let on_disk = rest.next_if(|e| e.0 == id).map(|e| e.1);
        let stored = dirty.stored();
        let Dirty {
            sealed,
            cold,
            open,
            row,
            ..
        } = dirty;
        slice.rows.extend(sealed.into_iter().map(|r| (id, r)));
        let mut whole = None;
        for (part, is_open) in [(cold, false), (open, true)] {
            let Some(part) = part else { continue };
            let bytes = joined(id, &part, on_disk)?;
            let samples = chunk::decode(&bytes).map_err(|e| corrupt_open(id, e))?;
            if is_open && part.base > 0 {
                let mut enc = ChunkEncoder::new();
                samples.iter().for_each(|s| enc.push(s.t, s.v));
                whole = Some(enc);
            }
            slice
                .rows
                .push((id, (part.min_t, part.max_t, chunk::compact(&samples))));
        }
        if let Some(row) = &row {
            let (header, start, since) = open_chunks::joined(on_disk, row)
                .ok_or_else(|| corrupt_open(id, "the stored open chunk is not the one written"))?;
            written.put(id, &[&header, start, since]);
        }
        slice.stored.push((id, stored, whole));
    }
    if open_as == OpenChunk::AsWritten {
        rest.for_each(|&(id, chunk)| written.put(id, &[chunk]));
        slice.open_chunks = Some(written.finish());
    }
    Ok(slice)
}

/// The whole stream chunk of `part` of series `id`, its start from `stored` (its stored open
/// chunk) when the head dropped it.
fn joined(id: u32, part: &Part, stored: Option<&[u8]>) -> Result<Vec<u8>, StoreError> {
    let stream = match part.base {
        0 => &[][..],
        _ => (stored.and_then(|c| open_chunks::stream_of(c, part.min_t)))
            .ok_or_else(|| corrupt_open(id, "no stored start for a chunk the head cut"))?,
    };
    part.bytes(stream).ok_or_else(|| {
        corrupt_open(
            id,
            format!("{} bytes stored, {} needed", stream.len(), part.base),
        )
    })
}

/// The error for a stored open chunk that does not hold what the head dropped.
fn corrupt_open(id: u32, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: format!("open chunk of series {id}"),
        detail: detail.to_string(),
    }
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
    if let Some(open_chunks) = &slice.open_chunks {
        // Rows of older databases (of more series) starting in the slice go too: each new row
        // holds their entries of its series.
        sqlx::query("DELETE FROM open_chunks WHERE first_id >= ? AND first_id < ?")
            .bind(slice.ids.start as i64)
            .bind(slice.ids.end as i64)
            .execute(&mut *tx)
            .await?;
        for (first_id, blob) in open_chunks {
            sqlx::query("INSERT INTO open_chunks (first_id, data) VALUES (?, ?)")
                .bind(first_id)
                .bind(blob.as_slice())
                .execute(&mut *tx)
                .await?;
        }
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
