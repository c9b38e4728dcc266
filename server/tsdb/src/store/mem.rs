//! An in-memory store with the same append and select semantics as the real one: the fake that
//! query, API and ingest tests run against.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use super::{MetricStore, Querier, StoreError, StoreStats};
use crate::model::{AppendReport, BatchId, Labels, Matcher, Series, WriteBatch, matches_all};

/// Every series in a `BTreeMap`; nothing is durable.
#[derive(Debug, Default)]
pub struct MemStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    series: BTreeMap<Labels, Vec<crate::model::Sample>>,
    batches: HashSet<BatchId>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Series matching `matchers`, with their samples cut to `[start, end]`.
    fn matching(&self, matchers: &[Matcher], start: i64, end: i64) -> Vec<Series> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .series
            .iter()
            .filter(|(labels, _)| matches_all(matchers, labels))
            .map(|(labels, samples)| Series {
                labels: labels.clone(),
                samples: samples
                    .iter()
                    .filter(|s| s.t >= start && s.t <= end)
                    .copied()
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    }
}

#[async_trait::async_trait]
impl MetricStore for MemStore {
    async fn append(&self, batch: WriteBatch) -> Result<AppendReport, StoreError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = AppendReport::default();
        if let Some(id) = batch.id
            && !inner.batches.insert(id)
        {
            report.replayed = true;
            return Ok(report);
        }
        for series in batch.series {
            let stored = inner.series.entry(series.labels).or_insert_with(|| {
                report.series_created += 1;
                Vec::new()
            });
            for sample in series.samples {
                match stored.last() {
                    Some(last) if sample.t < last.t => report.out_of_order += 1,
                    Some(last) if sample.t == last.t => {
                        if sample.v.to_bits() != last.v.to_bits() {
                            report.duplicates += 1;
                        }
                    }
                    _ => {
                        stored.push(sample);
                        report.appended += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let n = inner.series.len() as u64;
        Ok(StoreStats {
            series: n,
            active_series: n,
            disk_bytes: 0,
        })
    }
}

#[async_trait::async_trait]
impl Querier for MemStore {
    async fn select(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(self.matching(matchers, start, end))
    }

    async fn series(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        Ok(self
            .matching(matchers, start, end)
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }

    async fn label_names(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError> {
        let names: BTreeSet<String> = self
            .matching(matchers, start, end)
            .into_iter()
            .flat_map(|s| s.labels.into_vec().into_iter().map(|l| l.name.into()))
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, StoreError> {
        let values: BTreeSet<String> = self
            .matching(matchers, start, end)
            .into_iter()
            .filter_map(|s| s.labels.get(name).map(str::to_owned))
            .collect();
        Ok(values.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BatchId, Sample};

    fn batch(seq: u64, t: i64, v: f64) -> WriteBatch {
        WriteBatch {
            id: Some(BatchId {
                agent: "a".into(),
                seq,
            }),
            series: vec![Series {
                labels: Labels::from_pairs([("__name__", "up")]),
                samples: vec![Sample { t, v }],
            }],
        }
    }

    #[tokio::test]
    async fn a_replayed_batch_changes_nothing_and_old_samples_are_counted_out_of_order() {
        let store = MemStore::new();
        assert_eq!(
            store
                .append(batch(1, 10, 1.0))
                .await
                .expect("append")
                .appended,
            1
        );
        assert!(
            store
                .append(batch(1, 20, 2.0))
                .await
                .expect("append")
                .replayed
        );
        assert_eq!(
            store
                .append(batch(2, 5, 2.0))
                .await
                .expect("append")
                .out_of_order,
            1
        );
        let got = store
            .select(&[Matcher::equal("__name__", "up")], 0, 100)
            .await
            .expect("select");
        assert_eq!(got[0].samples, vec![Sample { t: 10, v: 1.0 }]);
    }
}
