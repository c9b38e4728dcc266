//! Decoding ingest bodies into [`WriteBatch`]es, bounded so no request can exhaust memory.
//!
//! - [`otlp`]: OTLP/HTTP protobuf `ExportMetricsServiceRequest` (what agents send).
//! - [`remote_write`]: Prometheus remote_write 1.0 (snappy block + `prompb::WriteRequest`).
//! - Here: the [`IngestError`] both return, the gzip reader with its decompression-bomb guard,
//!   and the sample budget that stops a decoder as soon as a request carries too many samples.

pub mod otlp;
mod otlp_size;
pub mod remote_write;
pub mod wire;

#[cfg(test)]
mod store_tests;

use std::hash::{BuildHasher, Hasher};
use std::io::Read;

use flate2::read::GzDecoder;

use crate::model::hash::{FxBuild, FxHashMap};
use crate::model::{BatchId, Labels, Sample, Series, WriteBatch};
use crate::store::KnownSamples;

/// Why a body was refused; each maps to one 4xx at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body is not what its headers say (400).
    #[error("malformed body: {0}")]
    Malformed(String),
    /// The body, once decompressed, or its sample count is over a limit (413).
    #[error("too large: {0}")]
    TooLarge(String),
}

/// A decoded request: the batch to append, and samples left out because warroom cannot store
/// them (delta temporality, exponential histograms), reported back as dropped.
#[derive(Debug, Default)]
pub struct Decoded {
    /// What goes to the store, series named by labels.
    pub batch: WriteBatch,
    /// Samples of series the store's lookup knew, named by id (sent with `batch`).
    pub known: KnownSamples,
    /// Data points that were skipped.
    pub unsupported: u64,
}

/// Counts samples as a decoder makes them and fails once there are more than allowed.
#[derive(Debug)]
pub struct SampleBudget {
    left: usize,
    max: usize,
}

impl SampleBudget {
    /// A budget of `max` samples.
    pub fn new(max: usize) -> Self {
        Self { left: max, max }
    }

    /// Takes `n` samples from the budget.
    pub fn take(&mut self, n: usize) -> Result<(), IngestError> {
        self.left = self.left.checked_sub(n).ok_or_else(|| {
            IngestError::TooLarge(format!("more than {} samples in one request", self.max))
        })?;
        Ok(())
    }
}

/// Labels the distinct label sets of a request whose decompressed body is `raw` bytes may
/// hold between them: one per [`BODY_BYTES_PER_LABEL`] bytes of it (16 bytes of memory each,
/// so 8 per byte of the body), and at least [`LABELS_MIN`]. An agent's OTLP request of gauges
/// with a pod's ten resource attributes holds about one per four bytes; a remote_write request
/// one per 25.
pub fn label_budget(raw: usize) -> usize {
    (raw / BODY_BYTES_PER_LABEL).max(LABELS_MIN)
}

/// See [`label_budget`].
const BODY_BYTES_PER_LABEL: usize = 2;
/// See [`label_budget`].
const LABELS_MIN: usize = 1 << 16;

/// No earlier series in a [`BatchBuilder`] chain.
const NONE: usize = usize::MAX;

/// Gathers samples into one [`Series`] per label set, within a [`SampleBudget`].
#[derive(Debug)]
pub struct BatchBuilder {
    /// Label-set hash → the newest series with that hash; `earlier[i]` links to the one before,
    /// so the label sets themselves are stored once, in `series`.
    newest: FxHashMap<u64, usize>,
    earlier: Vec<usize>,
    series: Vec<Series>,
    budget: SampleBudget,
    /// Labels its distinct label sets may still hold ([`label_budget`]), and the most.
    labels_left: usize,
    labels_max: usize,
    /// Label sets come from the symbol table ([`crate::model::intern`]): equal strings are
    /// the same pointer, so sets hash and compare by address.
    interned: bool,
}

impl BatchBuilder {
    /// An empty batch that may take up to `max_samples` samples.
    pub fn new(max_samples: usize) -> Self {
        Self {
            newest: FxHashMap::default(),
            earlier: Vec::new(),
            series: Vec::new(),
            budget: SampleBudget::new(max_samples),
            labels_left: usize::MAX,
            labels_max: usize::MAX,
            interned: false,
        }
    }

    /// An empty batch for about `series` label sets made by the symbol table only.
    pub fn interned(max_samples: usize, series: usize) -> Self {
        let series = series.min(max_samples);
        Self {
            newest: FxHashMap::with_capacity_and_hasher(series, FxBuild),
            earlier: Vec::with_capacity(series),
            series: Vec::with_capacity(series),
            budget: SampleBudget::new(max_samples),
            labels_left: usize::MAX,
            labels_max: usize::MAX,
            interned: true,
        }
    }

    /// The same batch, its distinct label sets holding at most `max` labels between them:
    /// a request's samples are bounded by the sample budget, and this bounds the label sets
    /// they are filed under (an OTLP resource's attributes join every point's set, and a
    /// histogram point's attributes every bucket's).
    pub fn within_labels(mut self, max: usize) -> Self {
        (self.labels_left, self.labels_max) = (max, max);
        self
    }

    /// Adds one sample to the series `labels`.
    pub fn push(&mut self, labels: Labels, sample: Sample) -> Result<(), IngestError> {
        self.push_all(labels, &[sample])
    }

    /// Adds samples to the series `labels`.
    pub fn push_all(&mut self, labels: Labels, samples: &[Sample]) -> Result<(), IngestError> {
        self.budget.take(samples.len())?;
        let hash = match self.interned {
            true => address_hash(&labels),
            false => FxBuild.hash_one(&labels),
        };
        let mut i = self.newest.get(&hash).copied().unwrap_or(NONE);
        while i != NONE && !self.same(&self.series[i].labels, &labels) {
            i = self.earlier[i];
        }
        if i == NONE {
            self.labels_left = (self.labels_left.checked_sub(labels.len())).ok_or_else(|| {
                IngestError::TooLarge(format!(
                    "the label sets of this request hold more than {} labels (one per \
                     {BODY_BYTES_PER_LABEL} bytes of its decompressed body), at {} series",
                    self.labels_max,
                    self.series.len()
                ))
            })?;
            i = self.series.len();
            self.earlier
                .push(self.newest.insert(hash, i).unwrap_or(NONE));
            self.series.push(Series {
                labels,
                samples: Vec::with_capacity(samples.len()),
            });
        }
        self.series[i].samples.extend_from_slice(samples);
        Ok(())
    }

    fn same(&self, a: &Labels, b: &Labels) -> bool {
        match self.interned {
            true => addresses(a).eq(addresses(b)),
            false => a == b,
        }
    }

    /// The batch, each series' samples oldest first.
    pub fn finish(mut self, id: Option<BatchId>) -> WriteBatch {
        for s in &mut self.series {
            if !s.samples.is_sorted_by_key(|s| s.t) {
                s.samples.sort_by_key(|s| s.t);
            }
        }
        WriteBatch {
            id,
            series: self.series,
        }
    }
}

/// A label set's string addresses, in order.
fn addresses(labels: &Labels) -> impl Iterator<Item = usize> + '_ {
    (labels.as_slice().iter()).flat_map(|l| [l.name.addr(), l.value.addr()])
}

/// The hash of a label set made by the symbol table: of its string addresses.
fn address_hash(labels: &Labels) -> u64 {
    let mut hasher = FxBuild.build_hasher();
    addresses(labels).for_each(|a| hasher.write_usize(a));
    hasher.finish()
}

/// Gunzips `body`, refusing to produce more than `max` bytes (a few KB of gzip can expand to GBs).
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    GzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Malformed(format!("not a valid gzip stream: {e}")))?;
    if out.len() > max {
        return Err(too_large_decompressed(max));
    }
    Ok(out)
}

/// The error for a body that decompresses past `max` bytes.
pub fn too_large_decompressed(max: usize) -> IngestError {
    IngestError::TooLarge(format!("the body decompresses to more than {max} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(raw: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_is_stopped_at_the_limit_without_inflating_it_all() {
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);

        let err = gunzip(&bomb, 1 << 20).unwrap_err();

        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    }

    #[test]
    fn a_body_at_the_limit_inflates_and_garbage_is_malformed() {
        assert_eq!(gunzip(&gzip(b"12345"), 5).unwrap(), b"12345");
        assert!(matches!(
            gunzip(b"not gzip at all", 100),
            Err(IngestError::Malformed(_))
        ));
    }

    #[test]
    fn samples_of_one_label_set_gather_in_one_series_in_time_order() {
        let up = Labels::from_pairs([("__name__", "up")]);
        let mut b = BatchBuilder::new(10);

        b.push(up.clone(), Sample { t: 2, v: 1.0 }).unwrap();
        b.push(
            Labels::from_pairs([("__name__", "x")]),
            Sample { t: 1, v: 0.0 },
        )
        .unwrap();
        b.push(up, Sample { t: 1, v: 0.0 }).unwrap();
        let batch = b.finish(None);

        assert_eq!(batch.series.len(), 2);
        let times: Vec<i64> = batch.series[0].samples.iter().map(|s| s.t).collect();
        assert_eq!(times, [1, 2]);
    }

    #[test]
    fn the_sample_budget_fails_past_its_maximum() {
        let mut budget = SampleBudget::new(3);

        assert!(budget.take(2).is_ok());
        assert!(budget.take(1).is_ok());
        assert_eq!(
            budget.take(1).unwrap_err().to_string(),
            "too large: more than 3 samples in one request"
        );
    }
}
