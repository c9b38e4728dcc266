//! The downsampled read: each matching series' [`Bucket`]s at one [`Resolution`], from the
//! `rollups` rows of chunks on disk, from the samples of the chunk whose start is in
//! `open_chunks` (it has no rollups yet), and from the head's samples.

use std::collections::HashMap;

use super::load::corrupt_chunk;
use super::read::{FETCH_SERIES, Pending, from_head};
use super::rollup::{self, Bucket, Resolution, RollupSeries};
use super::{Shared, chunk};
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
    let pending = from_head(shared, matchers, lo, hi, None)?;
    let mut out = Vec::with_capacity(pending.len());
    let mut pending = pending.into_iter().peekable();
    while pending.peek().is_some() {
        let batch: Vec<Pending> = pending.by_ref().take(FETCH_SERIES).collect();
        out.extend(batch_rollup(shared, batch, (start, end), (lo, hi), res).await?);
    }
    Ok(out)
}

/// [`select_rollup`] of one batch of pending series, `[lo, hi]` being `[start, end]` widened
/// to whole buckets: its rows are fetched and decoded before the next batch's are fetched.
async fn batch_rollup(
    shared: &Shared,
    pending: Vec<Pending>,
    (start, end): (i64, i64),
    (lo, hi): (i64, i64),
    res: Resolution,
) -> Result<Vec<RollupSeries>, StoreError> {
    let res_ms = res.millis();
    let ids: Vec<u32> = pending
        .iter()
        .filter(|p| p.head_min_t > lo)
        .map(|p| p.id)
        .collect();
    let mut rollups = super::read::blobs_by_series(shared, "rollups", &ids, lo, hi).await?;
    // Where each series' rollups end, when its samples from there to the head's are to be
    // read raw: those of the chunk whose start is in `open_chunks`.
    let mut raw_from: HashMap<u32, i64> = HashMap::new();
    for p in pending.iter().filter(|p| p.head_min_t > lo) {
        let rows = rollups.get(&p.id).map_or(&[][..], Vec::as_slice);
        let covered = (rows.iter())
            .filter(|&&(_, max_t, _)| max_t < p.head_min_t)
            .map(|&(_, max_t, _)| max_t.saturating_add(1))
            .max();
        let from = covered.unwrap_or(lo).max(lo);
        if from < p.head_min_t && from <= hi {
            raw_from.insert(p.id, from);
        }
    }
    let raw_ids: Vec<u32> = raw_from.keys().copied().collect();
    let open: Vec<u32> = (pending.iter())
        .filter(|p| p.open_on_disk && raw_from.contains_key(&p.id))
        .map(|p| p.id)
        .collect();
    let raw_start = raw_from.values().copied().min().unwrap_or(lo);
    let mut raw = super::read::from_disk(shared, &raw_ids, &open, raw_start, hi).await?;
    let mut out = Vec::with_capacity(pending.len());
    let mut samples = Vec::new();
    for p in pending {
        let mut buckets = Vec::new();
        for (_, max_t, data) in rollups.remove(&p.id).unwrap_or_default() {
            // A chunk reaching into the head's samples (stored since the head was read) is
            // read raw instead.
            if max_t < p.head_min_t {
                let part = rollup::decode_one(&data, res).ok_or_else(|| {
                    corrupt_chunk(format!("rollup of {}", p.labels), "malformed buckets")
                })?;
                rollup::extend(&mut buckets, &part);
            }
        }
        if let Some(&from) = raw_from.get(&p.id) {
            samples.clear();
            let until = hi.min(p.head_min_t.saturating_sub(1));
            for (min_t, data) in raw.remove(&p.id).unwrap_or_default() {
                if min_t < p.head_min_t {
                    chunk::decode_range(&data, from, until, &mut samples)
                        .map_err(|e| corrupt_chunk(p.labels.to_string(), e))?;
                }
            }
            let mut older = Vec::new();
            rollup::accumulate(&samples, res_ms, &mut older);
            rollup::extend(&mut buckets, &older);
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
