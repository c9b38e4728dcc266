//! `SqliteStore`: the embedded time-series store, SQLite underneath, compressed chunks inside.
//!
//! Design, following the data:
//! - **Write path, group commit.** [`MetricStore::append`] sends its batch to one writer task and
//!   waits (series the decoder found through the store's [`SeriesLookup`] come as ids, so the
//!   writer neither hashes nor compares their labels; ids forgotten meanwhile by retention fail
//!   their batch, [`StoreError::StaleIds`]). The writer takes every pending batch and, in ONE
//!   transaction, records batch ids
//!   (`INSERT OR IGNORE` into `batches`: an existing id means replay, nothing written), creates new
//!   series rows, judges each sample against the head (out of order / duplicate / same, exactly as
//!   `MemStore`), and stores the accepted samples as one compact record in the `wal` table. The
//!   commit (WAL mode, `synchronous=FULL`) is the durability point; only then are the samples
//!   applied to the head and the callers answered. A failed commit leaves nothing applied.
//! - **Head** ([`head`]): per series the open Gorilla chunk being appended, closed chunks waiting
//!   for the checkpoint and the newest sample. Once a checkpoint stored an open chunk's start,
//!   the head keeps only its last 24 to 48 samples and those since (enough for a 5-minute
//!   window): a full open chunk would cost more than the rest of a series' memory. Label sets
//!   live once, interned, in the [`index`].
//! - **Checkpoint** (every `checkpoint_interval`, past [`wal_limit`] bytes of records, and on
//!   close): upserts sealed chunks into `chunks (series_id, min_t)` for good (a chunk whose start
//!   the head dropped joined to it first), rewrites the open ones into `open_chunks` (64 series
//!   to a row, each joined from its stored start and what the head wrote since; an explicit
//!   checkpoint compacts them into `chunks` instead), and empties `wal`.
//! - **Open**: load the index from `series`, each series' newest chunk (a partial one becomes the
//!   open chunk again) and its entry in `open_chunks`, then replay `wal` into the head. A kill at any moment loses no acked sample.
//! - **Reads** ([`read`]): matchers → postings → ids; samples older than the head's are read
//!   from disk (`chunks`, and the `open_chunks` entry) in batched SQL, the rest from the head;
//!   decoded and cut to the range, across both cores. Reads may hand each series to a function
//!   as it is decoded (reduced to a value for an instant aggregation, mapped to a range
//!   function's points for a range query) instead of holding every series' samples at once.
//! - **Rollups** ([`rollup`]): min/max/sum/count per 1 h bucket, written beside each
//!   chunk at checkpoint, read by [`SqliteStore::select_rollup`] for long charts.
//! - **Retention** ([`SqliteStore::retain`]): deletes chunks (and their rollups) wholly older than `now − retention`,
//!   forgets series left without data and prunes old batch ids.
//!
//! Files: [`chunk`] (encodings; [`bits`] and [`decimal`] underneath), [`wal`] (record format),
//! [`index`], [`head`], [`writer`] (group commit; [`plan`] judges a
//! group's samples before it), [`checkpoint`] ([`open_chunks`]), [`retention`], [`load`]
//! (open), [`read`] (queries), [`rollup`] ([`rollup_write`], [`read_rollup`]).

mod bits;
mod checkpoint;
pub mod chunk;
mod column;
mod decimal;
pub mod head;
mod heads;
pub mod index;
mod load;
mod open_chunks;
mod packed;
mod plan;
mod project;
mod read;
mod read_rollup;
mod retention;
pub mod rollup;
mod rollup_write;
mod stream;
pub mod wal;
mod writer;
mod xor;

#[cfg(test)]
mod open_chunks_tests;
#[cfg(test)]
mod rollup_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{
    KnownSamples, MapSamples, MetricStore, Projected, Projection, Querier, Reduce, Reduced,
    SeriesLookup, StoreConfig, StoreError, StoreStats, WireLabels,
};
use crate::model::{AppendReport, Labels, Matcher, Series, WriteBatch};
use head::HeadSeries;
use heads::Heads;
use index::Index;

/// Bytes of WAL records after which the writer checkpoints without waiting for the interval,
/// with few series ([`wal_limit`]). Past about 40,000 series the per-series room decides: at
/// 64 MB, 100,000 series went 49 samples each between checkpoints, and the head held those
/// beside the end of every open chunk (1.52 KB of RSS per series at a full chunk, against
/// 1.42 KB at 16 MB in the same window).
const WAL_CHECKPOINT_BYTES: u64 = 16 << 20;

/// Samples per series the WAL may hold on average before the writer checkpoints
/// ([`wal_limit`]).
const WAL_SAMPLES_PER_SERIES: u64 = 32;

/// Bytes a WAL record spends on one sample, about (series and time varints, 8 value bytes).
const WAL_BYTES_PER_SAMPLE: u64 = 13;

/// Bytes of WAL records after which the writer checkpoints without waiting for the interval:
/// [`WAL_CHECKPOINT_BYTES`], or room for [`WAL_SAMPLES_PER_SERIES`] samples of each of `series`
/// when that is more. A checkpoint copies every changed series' open chunk, so its cost grows
/// with the series and not the samples: at a fixed 64 MB a million series were checkpointed
/// every 5 samples each. Replaying the WAL at open reads at most this much.
pub fn wal_limit(series: usize) -> u64 {
    WAL_CHECKPOINT_BYTES.max(series as u64 * WAL_SAMPLES_PER_SERIES * WAL_BYTES_PER_SAMPLE)
}

/// A series is counted active when it received a sample this recently (ms).
const ACTIVE_WINDOW_MS: i64 = 3600 * 1000;

/// The in-memory part: index and head, indexed by series id.
#[derive(Debug, Default)]
struct State {
    index: Index,
    head: Heads,
}

/// What the writer task and the readers share.
struct Shared {
    pool: SqlitePool,
    config: StoreConfig,
    state: RwLock<State>,
    path: Option<PathBuf>,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl SeriesLookup for Shared {
    fn find(&self, sets: &[&WireLabels<'_>], ids: &mut Vec<Option<u32>>) -> u64 {
        // Hashed before locking: the writer waits on this lock.
        let hashes: Vec<u64> = (sets.iter())
            .map(|set| index::pairs_hash(set.iter().copied()))
            .collect();
        let state = self.read();
        state.index.lookup_many_pairs(sets, &hashes, ids);
        state.index.generation()
    }
}

/// A request to the writer task.
enum Command {
    Append(
        writer::Append,
        oneshot::Sender<Result<AppendReport, StoreError>>,
    ),
    Checkpoint(oneshot::Sender<Result<(), StoreError>>),
    Retain(i64, oneshot::Sender<Result<u64, StoreError>>),
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// The SQLite-backed [`MetricStore`] and [`Querier`].
pub struct SqliteStore {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
}

impl SqliteStore {
    /// Loads the store from `pool` (opened by [`crate::db::open`]) and starts its writer task.
    pub async fn open(pool: SqlitePool, config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with_shutdown(pool, config, CancellationToken::new()).await
    }

    /// As [`SqliteStore::open`]; once `shutdown` is cancelled the writer starts no more timed
    /// checkpoints (the one [`SqliteStore::close`] makes follows soon) but takes appends until
    /// closed.
    pub async fn open_with_shutdown(
        pool: SqlitePool,
        config: StoreConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, StoreError> {
        let path = load::database_path(&pool).await?;
        let state = load::load(&pool).await?;
        let shared = Arc::new(Shared {
            pool,
            config,
            state: RwLock::new(state),
            path,
        });
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer::run(shared.clone(), rx, shutdown));
        Ok(Self { shared, tx })
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Writes the head's changed chunks to disk and empties the WAL table now.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.ask(Command::Checkpoint).await
    }

    /// Applies retention as of `now_ms`: deletes chunks wholly older than `now_ms − retention`,
    /// forgets series left without data and prunes old batch ids. Returns the series forgotten.
    pub async fn retain(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.ask(|reply| Command::Retain(now_ms, reply)).await
    }

    /// The downsampled read path for charts: each matching series' min/max/sum/count per bucket
    /// of `res` for the buckets starting within `[start, end]` (see [`rollup`] for exactness).
    pub async fn select_rollup(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        res: rollup::Resolution,
    ) -> Result<Vec<rollup::RollupSeries>, StoreError> {
        read_rollup::select_rollup(&self.shared, matchers, start, end, res).await
    }

    /// Checkpoints and stops the writer; later appends fail with [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        self.ask(Command::Close).await
    }

    /// Bytes of chunk and index data the head holds in memory (for the RSS budget).
    pub fn head_bytes(&self) -> usize {
        self.shared
            .read()
            .head
            .iter()
            .map(HeadSeries::heap_bytes)
            .sum()
    }
}

#[async_trait::async_trait]
impl MetricStore for SqliteStore {
    async fn append(&self, batch: WriteBatch) -> Result<AppendReport, StoreError> {
        self.append_known(batch, KnownSamples::default()).await
    }

    async fn append_known(
        &self,
        batch: WriteBatch,
        known: KnownSamples,
    ) -> Result<AppendReport, StoreError> {
        let append = writer::Append { batch, known };
        self.ask(|reply| Command::Append(append, reply)).await
    }

    fn lookup(&self) -> Option<Arc<dyn SeriesLookup>> {
        Some(self.shared.clone())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let since = load::now_ms() - ACTIVE_WINDOW_MS;
        let (series, active_series) = {
            let state = self.shared.read();
            let active = state.head.iter().filter(|h| h.active_since(since)).count();
            (state.index.len() as u64, active as u64)
        };
        let disk_bytes = load::disk_bytes(&self.shared.pool, self.shared.path.as_deref()).await?;
        Ok(StoreStats {
            series,
            active_series,
            disk_bytes,
        })
    }
}

#[async_trait::async_trait]
impl Querier for SqliteStore {
    async fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StoreError> {
        read::select(&self.shared, matchers, start, end).await
    }

    async fn select_newest(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StoreError> {
        read::select_newest(&self.shared, matchers, start, end).await
    }

    async fn select_projected(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        projection: &Projection,
    ) -> Result<Projected, StoreError> {
        read::select_projected(&self.shared, matchers, start, end, projection).await
    }

    async fn select_reduced(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        projection: &Projection,
        reduce: &Reduce<'_>,
    ) -> Result<Reduced, StoreError> {
        read::select_reduced(&self.shared, matchers, start, end, projection, reduce).await
    }

    async fn select_mapped(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        map: &MapSamples<'_>,
    ) -> Result<Vec<Series>, StoreError> {
        read::select_mapped(&self.shared, matchers, start, end, map).await
    }

    async fn series(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(read::series(&self.shared, matchers, start, end))
    }

    async fn label_names(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(read::label_names(&self.shared, matchers, start, end))
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(read::label_values(&self.shared, name, matchers, start, end))
    }
}
