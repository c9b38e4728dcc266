//! The downsampled read: each matching series' [`Bucket`]s at one [`Resolution`], from the
//! `rollups` rows of chunks on disk and, for the part still in the head, from its samples.

use std::collections::HashMap;

use super::Shared;
use super::load::corrupt_chunk;
use super::read::from_head;
use super::rollup::{self, Bucket, Resolution, RollupSeries};
use crate::model::Matcher;
use crate::store::StoreError;

/// Series matching `matchers` with their whole buckets starting within `[start, end]`.
pub async fn select_rollup(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    res: Resolution,
) -> Result<Vec<RollupSeries>, StoreError> {
    let res_ms = res.millis();
    // Widened to whole buckets, so the head's part of a bucket is whole as the disk's is.
    let (lo, hi) = (
        rollup::bucket_start(start, res_ms),
        rollup::bucket_start(end, res_ms).saturating_add(res_ms - 1),
    );
    let pending = from_head(shared, matchers, lo, hi)?;
    let ids: Vec<u32> = pending
        .iter()
        .filter(|p| p.head_min_t > lo)
        .map(|p| p.id)
        .collect();
    let mut disk = from_disk(shared, &ids, lo, hi).await?;
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        let mut buckets = Vec::new();
        for (min_t, data) in disk.remove(&p.id).unwrap_or_default() {
            if min_t < p.head_min_t {
                let part = rollup::decode_one(&data, res).ok_or_else(|| {
                    corrupt_chunk(format!("rollup of {}", p.labels), "malformed buckets")
                })?;
                rollup::extend(&mut buckets, &part);
            }
        }
        let mut head = Vec::new();
        rollup::accumulate(&p.head, res_ms, &mut head);
        rollup::extend(&mut buckets, &head);
        buckets.retain(|b: &Bucket| b.t >= start && b.t <= end);
        if !buckets.is_empty() {
            out.push(RollupSeries {
                labels: p.labels,
                buckets,
            });
        }
    }
    Ok(out)
}

/// Rollup rows of `ids` whose chunks may overlap `[lo, hi]`, per series in time order.
async fn from_disk(
    shared: &Shared,
    ids: &[u32],
    lo: i64,
    hi: i64,
) -> Result<HashMap<u32, Vec<(i64, Vec<u8>)>>, StoreError> {
    super::read::blobs_by_series(shared, "rollups", ids, lo, hi).await
}
