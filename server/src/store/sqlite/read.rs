//! Queries: matchers → ids (index), samples from disk chunks and the head, metadata from the index.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use super::head::{CHUNK_SPAN_MS, cut_into};
use super::load::corrupt_chunk;
use super::{Shared, State};
use crate::model::{Labels, Matcher, Sample, Series};
use crate::store::StoreError;

/// One selected series while it is being read.
pub(super) struct Pending {
    pub(super) id: u32,
    pub(super) labels: Labels,
    /// Disk chunks starting at or after this belong to the head.
    pub(super) head_min_t: i64,
    pub(super) head: Vec<Sample>,
}

/// Ids of series matching `matchers` that may have samples in `[start, end]`, in label order.
fn matching(state: &State, matchers: &[Matcher], start: i64, end: i64) -> Vec<u32> {
    let mut ids = state.index.select(matchers);
    ids.retain(|&id| state.head[id as usize].may_overlap(start, end));
    state.index.sort(&mut ids);
    ids
}

/// See [`crate::store::Querier::select`].
pub async fn select(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<Series>, StoreError> {
    let mut pending = from_head(shared, matchers, start, end)?;
    let need_disk: Vec<usize> = (0..pending.len())
        .filter(|&i| pending[i].head_min_t > start)
        .collect();
    let mut disk = if need_disk.is_empty() {
        HashMap::new()
    } else {
        let ids: Vec<u32> = need_disk.iter().map(|&i| pending[i].id).collect();
        from_disk(shared, &ids, start, end).await?
    };
    let mut out = Vec::with_capacity(pending.len());
    for p in pending.iter_mut() {
        let mut samples = Vec::new();
        let chunks = disk.remove(&p.id).unwrap_or_default();
        if chunks.is_empty() {
            // The common case for recent data: the head's samples are the whole answer.
            samples = std::mem::take(&mut p.head);
        }
        for (min_t, data) in chunks {
            if min_t < p.head_min_t {
                cut_into(&data, start, end, &mut samples)
                    .map_err(|e| corrupt_chunk(p.labels.to_string(), e))?;
            }
        }
        samples.append(&mut p.head);
        if !samples.is_empty() {
            out.push(Series {
                labels: std::mem::take(&mut p.labels),
                samples,
            });
        }
    }
    Ok(out)
}

/// Matching series with the head's samples in range, decoded under the read lock.
pub(super) fn from_head(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<Pending>, StoreError> {
    let state = shared.read();
    matching(&state, matchers, start, end)
        .into_iter()
        .map(|id| {
            let labels = state.index.labels(id).unwrap_or_default();
            let h = &state.head[id as usize];
            let mut head = Vec::new();
            h.samples_in(start, end, &mut head)
                .map_err(|e| corrupt_chunk(labels.to_string(), e))?;
            Ok(Pending {
                id,
                labels,
                head_min_t: h.min_t(),
                head,
            })
        })
        .collect()
}

/// Disk chunks of `ids` that may overlap `[start, end]`, per series in time order.
async fn from_disk(
    shared: &Shared,
    ids: &[u32],
    start: i64,
    end: i64,
) -> Result<HashMap<u32, Vec<(i64, Vec<u8>)>>, StoreError> {
    blobs_by_series(shared, "chunks", ids, start, end).await
}

/// Rows `(min_t, data)` of `table` (`chunks` or `rollups`, both keyed by series and chunk
/// span) for `ids` whose span may overlap `[start, end]`, per series in time order.
pub(super) async fn blobs_by_series(
    shared: &Shared,
    table: &'static str,
    ids: &[u32],
    start: i64,
    end: i64,
) -> Result<HashMap<u32, Vec<(i64, Vec<u8>)>>, StoreError> {
    let mut out: HashMap<u32, Vec<(i64, Vec<u8>)>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "SELECT series_id, min_t, data FROM {table} \
         WHERE series_id IN (SELECT value FROM json_each(?)) \
           AND min_t >= ? AND min_t <= ? AND max_t >= ? \
         ORDER BY series_id, min_t"
    );
    // `table` is one of this module's own names, never input.
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(json)
        .bind(start.saturating_sub(CHUNK_SPAN_MS))
        .bind(end)
        .bind(start)
        .fetch_all(&shared.pool)
        .await?;
    for row in rows {
        let id = row.try_get::<i64, _>(0)? as u32;
        out.entry(id)
            .or_default()
            .push((row.try_get(1)?, row.try_get(2)?));
    }
    Ok(out)
}

/// See [`crate::store::Querier::series`]; the time range is applied per series, coarsely.
pub fn series(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Vec<Labels> {
    let state = shared.read();
    matching(&state, matchers, start, end)
        .into_iter()
        .filter_map(|id| state.index.labels(id))
        .collect()
}

/// See [`crate::store::Querier::label_names`].
pub fn label_names(shared: &Shared, matchers: &[Matcher], start: i64, end: i64) -> Vec<String> {
    let state = shared.read();
    let names: BTreeSet<&str> = matching(&state, matchers, start, end)
        .into_iter()
        .flat_map(|id| state.index.pairs(id).map(|(n, _)| n))
        .collect();
    names.into_iter().map(str::to_owned).collect()
}

/// See [`crate::store::Querier::label_values`].
pub fn label_values(
    shared: &Shared,
    name: &str,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Vec<String> {
    let state = shared.read();
    let values: BTreeSet<&str> = matching(&state, matchers, start, end)
        .into_iter()
        .flat_map(|id| {
            state
                .index
                .pairs(id)
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v)
        })
        .collect();
    values.into_iter().map(str::to_owned).collect()
}
