//! Storage and querying behind two traits, so a PostgreSQL or remote Prometheus-compatible backend
//! can be added later without touching rules or the UI.
//!
//! - [`MetricStore`] takes decoded write batches and makes them durable; its [`SeriesLookup`]
//!   lets a decoder name the series the store already knows by id ([`KnownSamples`]).
//! - [`Querier`] reads series back for the PromQL engine and the metadata API.
//! - [`mem::MemStore`] keeps everything in memory: the fake for tests of the layers above.
//! - [`sqlite::SqliteStore`] keeps them in SQLite as compressed chunks: the real store.
//! - [`limit`]: the most samples a query's reads may decode, counted as they decode.

pub mod limit;
pub mod mem;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::model::hash::FxHashSet;
use crate::model::{AppendReport, Labels, METRIC_NAME, Matcher, Sample, Series, WriteBatch};

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
    /// Series ids of [`KnownSamples`] were forgotten (by retention) after they were looked up;
    /// nothing of the batch was applied and sending it again succeeds.
    #[error("{0} series ids are no longer known")]
    StaleIds(usize),
    /// A read within a [`limit::within`] passed its limit of samples.
    #[error("a read passed its limit of {0} samples")]
    TooManySamples(usize),
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

/// A label set as a decoder reads it off the wire: `(name, value)` bytes in the sender's order.
pub type WireLabels<'a> = [(&'a [u8], &'a [u8])];

/// Samples of series named by the ids a [`SeriesLookup`] found, for [`MetricStore::append_known`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnownSamples {
    /// What [`SeriesLookup::find`] returned with the ids.
    pub generation: u64,
    /// `(series id, sample)`, sorted by id, then time (equal times in arrival order).
    pub samples: Vec<(u32, Sample)>,
}

/// How a decoder names the series a store already knows by id instead of by [`Labels`], so that
/// neither it nor the store builds, hashes or compares label sets for them again.
pub trait SeriesLookup: Send + Sync {
    /// Pushes onto `ids`, per set, the id of the series whose labels are exactly `set` (names
    /// sorted, no empty value, as [`Labels`] keeps them: a set in another order is simply not
    /// found), and returns the generation to hand in with those ids.
    fn find(&self, sets: &[&WireLabels<'_>], ids: &mut Vec<Option<u32>>) -> u64;
}

/// Where samples go: a 2xx on ingest is sent only after `append` returned `Ok`.
#[async_trait::async_trait]
pub trait MetricStore: Send + Sync {
    /// Applies the whole batch durably, or nothing of it. A batch whose id was applied before
    /// returns `replayed: true` and changes nothing.
    async fn append(&self, batch: WriteBatch) -> Result<AppendReport, StoreError>;

    /// [`MetricStore::append`] of `batch` together with `known`, as one batch. Ids forgotten
    /// since their lookup fail it whole with [`StoreError::StaleIds`]. A store without a
    /// [`MetricStore::lookup`] takes only an empty `known`.
    async fn append_known(
        &self,
        batch: WriteBatch,
        known: KnownSamples,
    ) -> Result<AppendReport, StoreError> {
        match known.samples.len() {
            0 => self.append(batch).await,
            n => Err(StoreError::StaleIds(n)),
        }
    }

    /// The store's [`SeriesLookup`] for decoders; `None` when it has none.
    fn lookup(&self) -> Option<Arc<dyn SeriesLookup>> {
        None
    }

    /// Current sizes.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
}

/// The labels a query reads of each selected series when it only groups them: an aggregation
/// over a range function of a selector (`sum by (node) (rate(x[5m]))`) needs each member's
/// group key, never its whole label set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Projection {
    /// Only the labels named (`by`); the metric name only when also `keep_name`.
    By {
        /// The names kept.
        names: Vec<String>,
        /// Whether the metric name stays when named (the function keeps it).
        keep_name: bool,
    },
    /// Every label except the ones named and the metric name (`without`).
    Without(Vec<String>),
}

impl Projection {
    /// Whether label `name` stays.
    pub fn keeps(&self, name: &str) -> bool {
        match self {
            Projection::By { names, keep_name } => {
                (*keep_name || name != METRIC_NAME) && names.iter().any(|n| n == name)
            }
            Projection::Without(names) => name != METRIC_NAME && !names.iter().any(|n| n == name),
        }
    }

    /// `labels` with only the labels that stay.
    pub fn apply(&self, labels: &Labels) -> Labels {
        Labels::from_sorted(
            labels
                .iter()
                .filter(|l| self.keeps(&l.name))
                .cloned()
                .collect(),
        )
    }
}

/// What [`Querier::select_projected`] returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projected {
    /// What [`Querier::select`] returns (in the order of the whole label sets), each series
    /// labelled with its projection only.
    pub series: Vec<Series>,
    /// True when no two of the series have equal label sets once their metric names are
    /// dropped (a function that drops names could not be refused for duplicates). False when
    /// the store could not tell.
    pub distinct_without_name: bool,
}

impl Projected {
    /// The projection of whole series, checking their distinctness by hashing their labels.
    pub fn of(series: Vec<Series>, projection: &Projection) -> Self {
        let distinct_without_name = {
            let mut seen = FxHashSet::default();
            series.iter().all(|s| {
                let unnamed = s.labels.iter().filter(|l| l.name != METRIC_NAME);
                seen.insert(unnamed.collect::<Vec<_>>())
            })
        };
        let series = series
            .into_iter()
            .map(|s| Series {
                labels: projection.apply(&s.labels),
                samples: s.samples,
            })
            .collect();
        Self {
            series,
            distinct_without_name,
        }
    }
}

/// Reduces one series' samples (oldest first) to a value, or to none.
pub type Reduce<'a> = dyn Fn(&[Sample]) -> Option<f64> + Sync + 'a;

/// Makes new samples of one series' samples (oldest first), e.g. a range function's value at
/// every step of a range query.
pub type MapSamples<'a> = dyn Fn(&[Sample]) -> Vec<Sample> + Sync + 'a;

/// What [`Querier::select_reduced`] returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reduced {
    /// Per series reduced to a value, in [`Querier::select`]'s order: its projected labels
    /// and the value.
    pub values: Vec<(Labels, f64)>,
    /// As [`Projected::distinct_without_name`], over every selected series.
    pub distinct_without_name: bool,
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

    /// What [`Querier::select`] returns, with each series labelled by its `projection` only: a
    /// store may answer it without building the series' whole label sets.
    async fn select_projected(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        projection: &Projection,
    ) -> Result<Projected, StoreError> {
        let series = self.select(matchers, start, end).await?;
        Ok(Projected::of(series, projection))
    }

    /// [`Querier::select_projected`] with each series' samples reduced to one value by
    /// `reduce` (series it reduces to none left out): what an aggregation over a range function
    /// evaluated at one time reads (`sum(rate(x[5m]))`), which a store may compute while it
    /// decodes, without keeping each series' samples.
    async fn select_reduced(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        projection: &Projection,
        reduce: &Reduce<'_>,
    ) -> Result<Reduced, StoreError> {
        let got = self
            .select_projected(matchers, start, end, projection)
            .await?;
        let values = got.series.into_iter();
        Ok(Reduced {
            values: values
                .filter_map(|s| Some((s.labels, reduce(&s.samples)?)))
                .collect(),
            distinct_without_name: got.distinct_without_name,
        })
    }

    /// [`Querier::select`] with each series' samples replaced by what `map` makes of them
    /// (series it maps to none left out): what a range query of a function over one selector
    /// reads, which a store may answer series by series, never holding every series' samples
    /// at once.
    async fn select_mapped(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
        map: &MapSamples<'_>,
    ) -> Result<Vec<Series>, StoreError> {
        let series = self.select(matchers, start, end).await?;
        Ok(series
            .into_iter()
            .filter_map(|s| {
                let samples = map(&s.samples);
                (!samples.is_empty()).then_some(Series {
                    labels: s.labels,
                    samples,
                })
            })
            .collect())
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
