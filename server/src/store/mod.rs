//! Storage and querying behind two traits, so a PostgreSQL or remote Prometheus-compatible backend
//! can be added later without touching rules or the UI.
//!
//! - [`MetricStore`] takes decoded write batches and makes them durable.
//! - [`Querier`] reads series back for the PromQL engine and the metadata API.
//! - [`mem::MemStore`] keeps everything in memory: the fake for tests of the layers above.
//! - [`sqlite::SqliteStore`] keeps them in SQLite as compressed chunks: the real store.

pub mod mem;
pub mod sqlite;

use std::time::Duration;

use serde::Deserialize;

use crate::model::{AppendReport, Labels, Matcher, Series, WriteBatch};

/// The `[storage]` section of `warroom.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How long samples are kept before they are deleted ("15d").
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often the in-memory head is written into compressed chunks ("5m").
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention: default_retention(),
            checkpoint_interval: default_checkpoint_interval(),
        }
    }
}

fn default_retention() -> Duration {
    Duration::from_secs(15 * 24 * 3600)
}

fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(5 * 60)
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data could not be decoded.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was being read (e.g. "chunk of series 42").
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The store is shutting down and takes no more writes.
    #[error("store is closed")]
    Closed,
}

/// Sizes the server reports on its own `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Series known to the index.
    pub series: u64,
    /// Series that received a sample within the live (head) window.
    pub active_series: u64,
    /// Bytes the store occupies on disk (database plus its WAL file).
    pub disk_bytes: u64,
}

/// Where samples go: a 2xx on ingest is sent only after `append` returned `Ok`.
#[async_trait::async_trait]
pub trait MetricStore: Send + Sync {
    /// Applies the whole batch durably, or nothing of it. A batch whose id was applied before
    /// returns `replayed: true` and changes nothing.
    async fn append(&self, batch: WriteBatch) -> Result<AppendReport, StoreError>;

    /// Current sizes.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
}

/// Reads series back. Times are milliseconds since the Unix epoch, both ends inclusive.
#[async_trait::async_trait]
pub trait Querier: Send + Sync {
    /// Series matching every matcher that have at least one sample in `[start, end]`, with just
    /// those samples, oldest first; series sorted by labels.
    async fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StoreError>;

    /// What [`Querier::select`] returns, but each series with only its newest sample in
    /// `[start, end]`: all an instant selector evaluated at one time reads, which a store may
    /// answer without decoding the older samples.
    async fn select_newest(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StoreError> {
        let mut series = self.select(matchers, start, end).await?;
        for s in &mut series {
            let newest = s.samples.len().saturating_sub(1);
            s.samples.drain(..newest);
        }
        Ok(series)
    }

    /// Label sets of the series matching every matcher with samples in `[start, end]`, sorted.
    async fn series(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, StoreError>;

    /// Sorted label names of those series (all series when `matchers` is empty).
    async fn label_names(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Sorted distinct values of label `name` among those series.
    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError>;
}
