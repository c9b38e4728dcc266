//! Queries: matchers → ids (index), samples from disk chunks and the head, metadata from the index.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use super::chunk;
use super::chunk::ChunkError;
use super::head::{CHUNK_SAMPLES, CHUNK_SPAN_MS, HeadSeries};
use super::index::Index;
use super::load::corrupt_chunk;
use super::project::{self, Projector};
use super::{Shared, State, open_chunks};
use crate::model::{Labels, Matcher, Sample, Series};
use crate::parallel;
use crate::store::limit::{self, SampleLimit};
use crate::store::{MapSamples, Projected, Projection, Reduce, Reduced, StoreError};

/// Series a thread reads from the head, at the least, when a read is split across cores
/// ([`parallel::by_parts`]): below that, a second thread costs more than it saves. Tests split
/// their few series too, so that every read test covers the split.
const PARALLEL_PART: usize = if cfg!(test) { 4 } else { 8192 };

/// Series a head read copies under one hold of the read lock (fewer in tests, so that they
/// cross slices): the writer waits at most for these copies.
const LOCK_SLICE: usize = if cfg!(test) { 3 } else { 64 };

/// Series whose disk chunks a read fetches at once before decoding them (fewer in tests, so
/// that they cross batches): 1,000 series over a day are 24,000 chunks, about 9 MB.
pub(super) const FETCH_SERIES: usize = if cfg!(test) { 3 } else { 1024 };

/// A series' stored rows `(min_t, data)`, in time order.
type Rows = [(i64, Vec<u8>)];

/// One selected series while it is being read.
pub(super) struct Pending {
    pub(super) id: u32,
    pub(super) labels: Labels,
    /// Disk chunks starting at or after this belong to the head.
    pub(super) head_min_t: i64,
    /// Whether samples older than the head's are in the series' `open_chunks` entry.
    pub(super) open_on_disk: bool,
    pub(super) head: Vec<Sample>,
}

/// Ids of series matching `matchers` that may have samples in `[start, end]`, in label order.
fn matching(state: &State, matchers: &[Matcher], start: i64, end: i64) -> Vec<u32> {
    let mut ids = state.index.select(matchers);
    ids.retain(|&id| state.head[id as usize].may_overlap(start, end));
    state.index.sort(&mut ids);
    ids
}

/// [`matching`]'s ids, each with its position in label order (the order reads answer in),
/// in ascending id order: reading the head by id walks its memory forward (series, and
/// mostly their chunks, were allocated in id order), where label order jumps about and misses
/// the cache on every series (a third of the time of reading 100k series).
fn matching_by_id(state: &State, matchers: &[Matcher], start: i64, end: i64) -> Vec<(u32, usize)> {
    let ids = matching(state, matchers, start, end);
    let mut by_id: Vec<(u32, usize)> = ids.into_iter().zip(0..).collect();
    by_id.sort_unstable();
    by_id
}

/// `placed` items put in order of their positions (which run from 0 without gaps).
fn in_positions<T>(placed: Vec<(usize, T)>) -> Vec<T> {
    let mut slots: Vec<Option<T>> = std::iter::repeat_with(|| None).take(placed.len()).collect();
    for (pos, item) in placed {
        slots[pos] = Some(item);
    }
    slots.into_iter().flatten().collect()
}

/// See [`crate::store::Querier::select`].
pub async fn select(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<Series>, StoreError> {
    let limit = limit::current();
    let pending = from_head(shared, matchers, start, end, limit.as_deref())?;
    let series = complete(shared, pending, start, end, limit.as_deref()).await?;
    Ok(series.into_iter().flatten().collect())
}

/// See [`crate::store::Querier::select_projected`]: the projected label sets and the
/// distinctness check come from the index's symbol ids ([`project`]).
pub async fn select_projected(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    projection: &Projection,
) -> Result<Projected, StoreError> {
    let limit = limit::current();
    let projector = Projector::new(&shared.read().index, projection);
    let labels = |index: &Index, id| projector.labels(index, id);
    let pending = head_labelled(shared, matchers, start, end, limit.as_deref(), labels)?;
    let ids: Vec<u32> = pending.iter().map(|p| p.id).collect();
    let distinct_without_name = project::distinct_without_name(&shared.read().index, &ids);
    let series = complete(shared, pending, start, end, limit.as_deref()).await?;
    Ok(Projected {
        series: series.into_iter().flatten().collect(),
        distinct_without_name,
    })
}

/// See [`crate::store::Querier::select_reduced`]. A series whose samples in range are all in
/// the head is decoded into one reused buffer and reduced there, under the read lock; the
/// others are read with their disk chunks, then reduced.
pub async fn select_reduced(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    projection: &Projection,
    reduce: &Reduce<'_>,
) -> Result<Reduced, StoreError> {
    let (order, projector) = {
        let state = shared.read();
        let order = matching_by_id(&state, matchers, start, end);
        (order, Projector::new(&state.index, projection))
    };
    let labels = |index: &Index, id| projector.labels(index, id);
    let (placed, older, distinct_without_name) = {
        let span = (start, end);
        let take = |h: &HeadSeries| match h.min_t() > start {
            true => Take::Older,
            false => Take::Answer(h.clone()),
        };
        let (placed, older) = head_or_older(
            shared,
            &order,
            span,
            None,
            labels,
            take,
            |h, labels, scratch| {
                scratch.clear();
                h.samples_in(start, end, scratch)?;
                let value = (!scratch.is_empty()).then(|| reduce(scratch)).flatten();
                Ok(value.map(|v| (labels, v)))
            },
        )?;
        let ids: Vec<u32> = order.iter().map(|&(id, _)| id).collect();
        let distinct = project::distinct_without_name(&shared.read().index, &ids);
        (placed, older, distinct)
    };
    let values = with_older(shared, placed, older, start, end, |s| {
        Some((s.labels, reduce(&s.samples)?))
    })
    .await?;
    Ok(Reduced {
        values,
        distinct_without_name,
    })
}

/// What a read takes of one series' head under the read lock: what answers it from the head
/// alone (as little as that needs: the newest sample, or a copy of the chunks), or `Older`
/// when its samples in range reach back to disk (the chunks are then copied for [`Pending`]).
enum Take<S> {
    Answer(S),
    Older,
}

/// The series of `order` read from the head, split across cores. Under the read lock, for
/// [`LOCK_SLICE`] series at a time, only copies are made: each series' `labels` and what
/// `take` keeps of its head. The decoding then runs with the lock released, so the writer's
/// applies never wait on a read's decoding (nor on a query thread that the scheduler, at its
/// lower priority, set aside while it held the lock: that doubled ingest's p99 beside a heavy
/// query). Each series is answered by `answer` at its position, or, when it reaches back
/// to disk, made [`Pending`] (with no answer in its place yet) for [`with_older`]. Ids are
/// never reused while the process runs: a series retention forgets meanwhile reads as empty.
#[allow(clippy::type_complexity)]
fn head_or_older<S: Send, T: Send>(
    shared: &Shared,
    order: &[(u32, usize)],
    (start, end): (i64, i64),
    limit: Option<&SampleLimit>,
    labels: impl Fn(&Index, u32) -> Labels + Sync,
    take: impl Fn(&HeadSeries) -> Take<S> + Sync,
    answer: impl Fn(S, Labels, &mut Vec<Sample>) -> Result<Option<T>, ChunkError> + Sync,
) -> Result<(Vec<(usize, Option<T>)>, Vec<(usize, Pending)>), StoreError> {
    let parts = parallel::by_parts(order, PARALLEL_PART, |part| {
        let mut scratch = Vec::new();
        let (mut placed, mut older) = (Vec::with_capacity(part.len()), Vec::new());
        let mut copies = Vec::with_capacity(LOCK_SLICE.min(part.len()));
        for slice in part.chunks(LOCK_SLICE) {
            copies.clear();
            let state = shared.read();
            copies.extend(slice.iter().map(|&(id, pos)| {
                let h = &state.head[id as usize];
                let taken = match take(h) {
                    Take::Answer(s) => Ok(s),
                    Take::Older => Err(h.clone()),
                };
                (id, pos, labels(&state.index, id), taken)
            }));
            drop(state);
            for (id, pos, labels, taken) in copies.drain(..) {
                let corrupt = |e| corrupt_chunk(whole_labels(&shared.read(), id), e);
                match taken {
                    Ok(s) => placed.push((pos, answer(s, labels, &mut scratch).map_err(corrupt)?)),
                    Err(h) => {
                        let p =
                            pending(&h, id, labels, start, end, &mut scratch).map_err(corrupt)?;
                        limit.map_or(Ok(()), |l| l.take(p.head.len()))?;
                        older.push((pos, p));
                        placed.push((pos, None));
                    }
                }
            }
        }
        Ok::<_, StoreError>((placed, older))
    });
    let (mut placed, mut older) = (Vec::with_capacity(order.len()), Vec::new());
    for part in parts {
        let (p, o) = part?;
        placed.extend(p);
        older.extend(o);
    }
    Ok((placed, older))
}

/// The answers `placed` at their positions, with those of the `older` series (whose samples
/// in `[start, end]` reach back past the head) read from disk and made by `finish`.
async fn with_older<T>(
    shared: &Shared,
    placed: Vec<(usize, Option<T>)>,
    older: Vec<(usize, Pending)>,
    start: i64,
    end: i64,
    finish: impl Fn(Series) -> Option<T>,
) -> Result<Vec<T>, StoreError> {
    let mut slots = in_positions(placed);
    let (at, pending): (Vec<usize>, Vec<Pending>) = older.into_iter().unzip();
    for (slot, series) in at
        .into_iter()
        .zip(complete(shared, pending, start, end, None).await?)
    {
        slots[slot] = series.and_then(&finish);
    }
    Ok(slots.into_iter().flatten().collect())
}

/// See [`crate::store::Querier::select_newest`]. A series whose newest sample is at or before
/// `end` (the usual case: an instant query at "now") is answered by that sample, which the
/// head keeps beside its chunks, without decoding anything; the others are read in full.
pub async fn select_newest(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> Result<Vec<Series>, StoreError> {
    let (placed, older) = {
        let labels = |index: &Index, id| index.labels(id).unwrap_or_default();
        let order = matching_by_id(&shared.read(), matchers, start, end);
        let take = |h: &HeadSeries| match h.last() {
            Some((t, bits)) if t <= end => Take::Answer((t, bits)),
            _ => Take::Older,
        };
        head_or_older(
            shared,
            &order,
            (start, end),
            None,
            labels,
            take,
            |(t, bits), labels, _| {
                Ok((t >= start).then(|| Series {
                    labels,
                    samples: vec![Sample {
                        t,
                        v: f64::from_bits(bits),
                    }],
                }))
            },
        )?
    };
    with_older(shared, placed, older, start, end, |mut s| {
        let newest = s.samples.len().saturating_sub(1);
        s.samples.drain(..newest);
        Some(s)
    })
    .await
}

/// Adds the disk chunks older than the head to each pending series: one answer per pending
/// series, in order, `None` for a series without samples in `[start, end]`.
async fn complete(
    shared: &Shared,
    mut pending: Vec<Pending>,
    start: i64,
    end: i64,
    limit: Option<&SampleLimit>,
) -> Result<Vec<Option<Series>>, StoreError> {
    let decoded = with_chunks(shared, &pending, start, end, |p, chunks, _| {
        let older = older_samples(p, chunks, start, end).map_err(Decoding::Chunk)?;
        let read = older.as_ref().map_or(0, Vec::len);
        limit
            .map_or(Ok(()), |l| l.take(read))
            .map_err(Decoding::Limit)?;
        Ok(older)
    })
    .await?;
    let mut out = Vec::with_capacity(pending.len());
    for (p, older) in pending.iter_mut().zip(decoded) {
        let samples = match older {
            // The common case for recent data: the head's samples are the whole answer.
            None => std::mem::take(&mut p.head),
            Some(mut samples) => {
                samples.append(&mut p.head);
                samples
            }
        };
        out.push((!samples.is_empty()).then(|| Series {
            labels: std::mem::take(&mut p.labels),
            samples,
        }));
    }
    Ok(out)
}

/// See [`crate::store::Querier::select_mapped`]: each series' samples are gathered in a buffer
/// its core reuses and mapped there, so a day of 1,000 series is never held at once.
pub async fn select_mapped(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    map: &MapSamples<'_>,
) -> Result<Vec<Series>, StoreError> {
    let pending = from_head(shared, matchers, start, end, None)?;
    let mapped = with_chunks(shared, &pending, start, end, |p, chunks, scratch| {
        scratch.clear();
        decode_older(p, chunks, start, end, scratch).map_err(Decoding::Chunk)?;
        scratch.extend_from_slice(&p.head);
        Ok(map(scratch))
    })
    .await?;
    Ok(pending
        .into_iter()
        .zip(mapped)
        .filter_map(|(p, samples)| {
            (!samples.is_empty()).then_some(Series {
                labels: p.labels,
                samples,
            })
        })
        .collect())
}

/// Each pending series handed, with its disk chunks older than its head that may hold samples
/// in `[start, end]` (none for a series the head covers), to `each` with a scratch buffer;
/// split across cores, since decoding a day of chunks is most of a long read. One answer per
/// series, in order. The chunks are fetched for [`FETCH_SERIES`] series at a time and decoded
/// before the next are fetched, so a read refused by its sample limit (which `each` takes
/// from) or its deadline (between fetches) has fetched at most one batch past it, not every
/// compressed chunk it matched.
async fn with_chunks<T: Send>(
    shared: &Shared,
    pending: &[Pending],
    start: i64,
    end: i64,
    each: impl Fn(&Pending, &Rows, &mut Vec<Sample>) -> Result<T, Decoding> + Sync,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::with_capacity(pending.len());
    for batch in pending.chunks(FETCH_SERIES) {
        out.extend(with_chunks_of(shared, batch, start, end, &each).await?);
    }
    Ok(out)
}

/// [`with_chunks`] of one batch.
async fn with_chunks_of<T: Send>(
    shared: &Shared,
    pending: &[Pending],
    start: i64,
    end: i64,
    each: &(impl Fn(&Pending, &Rows, &mut Vec<Sample>) -> Result<T, Decoding> + Sync),
) -> Result<Vec<T>, StoreError> {
    let need_disk = |open: bool| -> Vec<u32> {
        (pending.iter())
            .filter(|p| p.head_min_t > start && (p.open_on_disk || !open))
            .map(|p| p.id)
            .collect()
    };
    let ids = need_disk(false);
    let mut disk = if ids.is_empty() {
        HashMap::new()
    } else {
        from_disk(shared, &ids, &need_disk(true), start, end).await?
    };
    let chunks: Vec<Vec<(i64, Vec<u8>)>> = pending
        .iter()
        .map(|p| disk.remove(&p.id).unwrap_or_default())
        .collect();
    let items: Vec<(&Pending, &Rows)> = pending
        .iter()
        .zip(chunks.iter().map(Vec::as_slice))
        .collect();
    let parts = parallel::by_parts(&items, PARALLEL_PART / 32, |part| {
        let mut scratch = Vec::new();
        let answer =
            |&(p, chunks): &(&Pending, &Rows)| each(p, chunks, &mut scratch).map_err(|e| (p.id, e));
        part.iter().map(answer).collect::<Result<Vec<_>, _>>()
    });
    let mut out = Vec::with_capacity(pending.len());
    for part in parts {
        out.extend(part.map_err(|(id, e)| match e {
            Decoding::Chunk(e) => corrupt_chunk(whole_labels(&shared.read(), id), e),
            Decoding::Limit(e) => e,
        })?);
    }
    Ok(out)
}

/// Why one series' disk chunks gave no answer.
enum Decoding {
    /// A chunk would not decode.
    Chunk(chunk::ChunkError),
    /// The read passed its [`SampleLimit`].
    Limit(StoreError),
}

/// The samples of `p`'s disk `chunks` older than its head within `[start, end]`; `None`
/// without chunks.
fn older_samples(
    p: &Pending,
    chunks: &Rows,
    start: i64,
    end: i64,
) -> Result<Option<Vec<Sample>>, chunk::ChunkError> {
    if chunks.is_empty() {
        return Ok(None);
    }
    // Sized for whole chunks once there are a few (at most the two cut at the range's ends are
    // partly unused), instead of doubling through a day of samples.
    let mut samples = Vec::with_capacity(if chunks.len() >= 4 {
        chunks.len() * CHUNK_SAMPLES + p.head.len()
    } else {
        0
    });
    decode_older(p, chunks, start, end, &mut samples)?;
    Ok(Some(samples))
}

/// Appends the samples of `p`'s disk `chunks` older than its head within `[start, end]` (the
/// chunk the head holds the end of is cut where the head's samples start).
fn decode_older(
    p: &Pending,
    chunks: &Rows,
    start: i64,
    end: i64,
    out: &mut Vec<Sample>,
) -> Result<(), chunk::ChunkError> {
    let end = end.min(p.head_min_t.saturating_sub(1));
    for (min_t, data) in chunks {
        if *min_t < p.head_min_t {
            chunk::decode_range(data, start, end, out)?;
        }
    }
    Ok(())
}

/// Matching series with the head's samples in range, decoded under the read lock, in label
/// order.
pub(super) fn from_head(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    limit: Option<&SampleLimit>,
) -> Result<Vec<Pending>, StoreError> {
    head_labelled(shared, matchers, start, end, limit, |index, id| {
        index.labels(id).unwrap_or_default()
    })
}

/// [`from_head`] with each series labelled by `labels` (read in id order, answered in label
/// order: [`matching_by_id`]).
fn head_labelled(
    shared: &Shared,
    matchers: &[Matcher],
    start: i64,
    end: i64,
    limit: Option<&SampleLimit>,
    labels: impl Fn(&Index, u32) -> Labels + Sync,
) -> Result<Vec<Pending>, StoreError> {
    let order = matching_by_id(&shared.read(), matchers, start, end);
    let older = |_: &HeadSeries| Take::<()>::Older;
    let never = |(), _, _: &mut Vec<Sample>| Ok(None::<()>);
    let (_, older) = head_or_older(shared, &order, (start, end), limit, labels, older, never)?;
    Ok(in_positions(older))
}

/// Series `id` with the head's samples in `[start, end]`, decoded into `scratch` first so that
/// the series' own vector is allocated once at its size rather than grown by doubling.
fn pending(
    h: &HeadSeries,
    id: u32,
    labels: Labels,
    start: i64,
    end: i64,
    scratch: &mut Vec<Sample>,
) -> Result<Pending, ChunkError> {
    scratch.clear();
    h.samples_in(start, end, scratch)?;
    Ok(Pending {
        id,
        labels,
        head_min_t: h.min_t(),
        open_on_disk: h.open_on_disk(),
        head: scratch.as_slice().to_vec(),
    })
}

/// Series `id` named in an error by its whole label set (a read may hold only a projection).
fn whole_labels(state: &State, id: u32) -> String {
    match state.index.labels(id) {
        Some(labels) => labels.to_string(),
        None => format!("id {id}"),
    }
}

/// Disk chunks of `ids` that may overlap `[start, end]`, per series in time order: `chunks`
/// rows, then, for those of `open` (series whose head dropped the start of its cold or open
/// chunk), the stored open chunk (it replaces a `chunks` row of the same chunk, which an
/// explicit checkpoint compacted from fewer samples). Readers take from them only the samples
/// older than the head's ([`Pending::head_min_t`]).
pub(super) async fn from_disk(
    shared: &Shared,
    ids: &[u32],
    open: &[u32],
    start: i64,
    end: i64,
) -> Result<HashMap<u32, Vec<(i64, Vec<u8>)>>, StoreError> {
    let chunks = blobs_by_series(shared, "chunks", ids, start, end).await?;
    let mut out: HashMap<u32, Vec<(i64, Vec<u8>)>> = (chunks.into_iter())
        .map(|(id, rows)| (id, rows.into_iter().map(|(t, _, d)| (t, d)).collect()))
        .collect();
    for (id, chunk) in open_chunks::read(shared, open).await? {
        let Some(min_t) = open_chunks::min_t_of(&chunk) else {
            continue;
        };
        let rows = out.entry(id).or_default();
        rows.retain(|&(t, _)| t != min_t);
        rows.push((min_t, chunk));
        rows.sort_by_key(|&(t, _)| t);
    }
    Ok(out)
}

/// Rows `(min_t, max_t, data)` of `table` (`chunks` or `rollups`, both keyed by series and
/// chunk span) for `ids` whose span may overlap `[start, end]`, per series in time order.
///
/// SQLite concatenates each series' rows into one value, every row framed as
/// `"{min_t}:{max_t}:{length}:"` and its bytes (`||` and `group_concat` copy blob bytes as they
/// are): a day of 1,000 series is 1,000 rows through sqlx instead of 24,000, and each row costs
/// more in sqlx's row handling than its bytes do. The rows are put in time order here: an
/// `ORDER BY` inside `group_concat` makes SQLite sort them through a temporary b-tree.
pub(super) async fn blobs_by_series(
    shared: &Shared,
    table: &'static str,
    ids: &[u32],
    start: i64,
    end: i64,
) -> Result<HashMap<u32, Vec<DiskRow>>, StoreError> {
    let mut out: HashMap<u32, Vec<DiskRow>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let sql = format!(
        "SELECT series_id, \
                CAST(group_concat(min_t || ':' || max_t || ':' || length(data) || ':' || data, '') \
                     AS BLOB) \
         FROM {table} \
         WHERE series_id IN (SELECT value FROM json_each(?)) \
           AND min_t >= ? AND min_t <= ? AND max_t >= ? \
         GROUP BY series_id"
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
        let framed: &[u8] = row.try_get(1)?;
        let mut blobs = unframe(framed).ok_or_else(|| StoreError::Corrupt {
            what: format!("{table} of series {id}"),
            detail: "malformed row framing".into(),
        })?;
        blobs.sort_by_key(|&(min_t, _, _)| min_t);
        out.insert(id, blobs);
    }
    Ok(out)
}

/// A stored row: `(min_t, max_t, data)`.
pub(super) type DiskRow = (i64, i64, Vec<u8>);

/// Splits [`blobs_by_series`]' concatenation back into rows.
fn unframe(mut rest: &[u8]) -> Option<Vec<DiskRow>> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (min_t, after) = number(rest)?;
        let (max_t, after) = number(after)?;
        let (len, after) = number(after)?;
        let len = usize::try_from(len).ok()?;
        let data = after.get(..len)?;
        out.push((min_t, max_t, data.to_vec()));
        rest = &after[len..];
    }
    Some(out)
}

/// The decimal integer before the first `:` of `s`, and what follows that `:`.
fn number(s: &[u8]) -> Option<(i64, &[u8])> {
    let colon = s.iter().position(|&b| b == b':')?;
    let n = std::str::from_utf8(&s[..colon]).ok()?.parse().ok()?;
    Some((n, &s[colon + 1..]))
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

#[cfg(test)]
mod tests {
    #[test]
    fn framed_rows_split_back_into_their_bytes() {
        // Arrange
        let rows: Vec<super::DiskRow> = vec![
            (-5, -5, vec![]),
            (
                1_700_000_000_000,
                1_700_000_001_000,
                b"0:1:\0\xff:".to_vec(),
            ),
            (7, 9, (0..=255).collect()),
        ];
        let mut framed = Vec::new();
        for (t, max_t, data) in &rows {
            framed.extend_from_slice(format!("{t}:{max_t}:{}:", data.len()).as_bytes());
            framed.extend_from_slice(data);
        }

        // Act
        let back = super::unframe(&framed);
        let cut = super::unframe(&framed[..framed.len() - 1]);

        // Assert
        assert_eq!(back, Some(rows));
        assert_eq!(cut, None);
    }

    use tempfile::TempDir;

    use super::super::SqliteStore;
    use super::super::testutil::{Rng, bits};
    use crate::model::{Labels, MatchOp, Matcher, Sample, Series, WriteBatch};
    use crate::store::mem::MemStore;
    use crate::store::{MetricStore, Querier, StoreConfig};

    /// Series that stop at different times (some with a stale marker last), written in rounds.
    fn round(rng: &mut Rng, r: i64) -> WriteBatch {
        let series = (0..40)
            .filter(|&i| r < 20 + i * 10)
            .map(|i| {
                let v = if rng.below(50) == 0 {
                    crate::model::stale_nan()
                } else {
                    rng.below(1000) as f64
                };
                Series {
                    labels: Labels::from_pairs([("__name__", "m"), ("i", &*format!("{i:02}"))]),
                    samples: vec![Sample { t: r * 15_000, v }],
                }
            })
            .collect();
        WriteBatch { id: None, series }
    }

    #[tokio::test]
    async fn the_newest_sample_of_each_series_equals_the_last_one_select_returns() {
        // Arrange
        let dir = TempDir::new().expect("tempdir");
        let pool = crate::db::open(&dir.path().join("warroom.db"))
            .await
            .expect("db");
        let store = SqliteStore::open(pool, StoreConfig::default())
            .await
            .expect("store");
        let mem = MemStore::new();
        let mut rng = Rng::new(7);
        for r in 0..400 {
            let b = round(&mut rng, r);
            store.append(b.clone()).await.expect("append");
            mem.append(b).await.expect("append");
            if r == 250 {
                store.checkpoint().await.expect("checkpoint");
            }
        }
        let matchers = [Matcher::new("i", MatchOp::Regex, ".+").expect("matcher")];

        for _ in 0..60 {
            let end = rng.below(7_000_000) as i64 - 100_000;
            let start = end - rng.below(600_000) as i64;

            // Act
            let got = store.select_newest(&matchers, start, end).await;
            let want = mem.select_newest(&matchers, start, end).await;

            // Assert
            let (got, want) = (got.expect("select"), want.expect("select"));
            assert!(got.iter().all(|s| s.samples.len() == 1));
            assert_eq!(bits(&got), bits(&want), "[{start}, {end}]");
        }
    }
}
