//! The `open_chunks` table: the open chunks the checkpoints beside appends store, each as the
//! head's encoder wrote it, [`ROW`] series to a row. Once a row holds the start of a series'
//! open chunk, the head drops that start from memory ([`super::head`]); each checkpoint then
//! rewrites the rows of its slice of series, every stream joined from the stored start and what
//! the head wrote since ([`super::head::HeadRow`]). A chunk sealed after its start was dropped
//! (a cold one) is joined to it from here; reads reaching back past the head read it here.
//!
//! A blob is, per series, its id and its chunk's length as LEB128 varints, then the chunk
//! (which starts with its encoding byte, as every chunk does). Databases written with rows of
//! 4,096 or 512 series still load: a row's entries name their series.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::Shared;
use super::head::HeadRow;
use crate::model::varint;
use crate::store::StoreError;

/// Series ids a row holds: ids `first_id .. first_id + ROW` (few in tests, so that a few
/// hundred series span several). Small, so that a read reaching back past the head for a few
/// series reads few other series' chunks with theirs, and no blob is a big allocation (SQLite
/// copies a checkpoint's blobs on its connections' threads, whose allocator arenas keep the
/// largest they freed).
pub const ROW: usize = if cfg!(test) { 16 } else { 64 };

/// The row holding series `id`.
pub fn row_of(id: u32) -> i64 {
    i64::from(id) - i64::from(id) % ROW as i64
}

/// The rows starting within `ids`, `(first_id, blob)` in id order.
pub async fn read_range(
    shared: &Shared,
    ids: Range<usize>,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT first_id, data FROM open_chunks WHERE first_id >= ? AND first_id < ? \
         ORDER BY first_id",
    )
    .bind(ids.start as i64)
    .bind(ids.end as i64)
    .fetch_all(&shared.pool)
    .await?)
}

/// Every entry of `rows` (from [`read_range`]), `(series id, whole chunk)` in id order.
pub fn entries(rows: &[(i64, Vec<u8>)]) -> Result<Vec<(u32, &[u8])>, StoreError> {
    let mut out = Vec::new();
    for (first, blob) in rows {
        out.extend(decode_row(*first, blob)?);
    }
    // Rows of older databases (of more series) may start before newer, smaller ones.
    out.sort_by_key(|&(id, _)| id);
    Ok(out)
}

/// The stored open chunks of series `ids` (whole chunk bytes), from the rows holding them.
pub async fn read(shared: &Shared, ids: &[u32]) -> Result<HashMap<u32, Vec<u8>>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut rows: Vec<i64> = ids.iter().map(|&id| row_of(id)).collect();
    rows.dedup();
    let json = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT first_id, data FROM open_chunks \
         WHERE first_id IN (SELECT value FROM json_each(?))",
    )
    .bind(json)
    .fetch_all(&shared.pool)
    .await?;
    let wanted: HashSet<u32> = ids.iter().copied().collect();
    Ok((entries(&rows)?.into_iter())
        .filter(|(id, _)| wanted.contains(id))
        .map(|(id, chunk)| (id, chunk.to_vec()))
        .collect())
}

/// The chunk of `stored` (a stored open chunk, whole) with `row` written over it, in three
/// parts: a header, its stream cut at `row.cut`, and `row.bytes`; the write alone when `cut` is
/// 0. `None` when `stored` does not hold the chunk the write is cut in.
pub fn joined<'a>(
    stored: Option<&'a [u8]>,
    row: &'a HeadRow,
) -> Option<([u8; 3], &'a [u8], &'a [u8])> {
    let [hi, lo] = row.count.to_be_bytes();
    let header = [super::chunk::Encoding::Xor as u8, hi, lo];
    if row.cut == 0 {
        return Some((header, &[], &row.bytes));
    }
    let stream = stream_of(stored?, row.min_t)?;
    Some((header, stream.get(..row.cut)?, &row.bytes))
}

/// The stream of `chunk` (a stored open chunk, whole) when it is the chunk starting at `min_t`.
pub fn stream_of(chunk: &[u8], min_t: i64) -> Option<&[u8]> {
    let first = min_t_of(chunk)?;
    (chunk[0] == super::chunk::Encoding::Xor as u8 && first == min_t).then(|| &chunk[3..])
}

/// The first timestamp of `chunk` (a stored open chunk, whole).
pub fn min_t_of(chunk: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(*chunk.get(3..)?.first_chunk::<8>()?))
}

/// Writes entries, in id order, into the rows holding them.
#[derive(Default)]
pub struct Rows {
    rows: Vec<(i64, Vec<u8>)>,
}

impl Rows {
    /// Adds series `id`'s chunk, the concatenation of `parts`.
    pub fn put(&mut self, id: u32, parts: &[&[u8]]) {
        let first = row_of(id);
        if self.rows.last().is_none_or(|(f, _)| *f != first) {
            self.rows.push((first, Vec::new()));
        }
        let Some((_, blob)) = self.rows.last_mut() else {
            return;
        };
        varint::put(blob, u64::from(id));
        varint::put(blob, parts.iter().map(|p| p.len()).sum::<usize>() as u64);
        parts.iter().for_each(|p| blob.extend_from_slice(p));
    }

    /// The rows written, `(first_id, blob)`.
    pub fn finish(self) -> Vec<(i64, Vec<u8>)> {
        self.rows
    }
}

/// The blob of `chunks` given as `(series id, chunk bytes)`, as [`decode`] gives them.
pub fn encode_raw<'a>(chunks: impl Iterator<Item = (u32, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, chunk) in chunks {
        varint::put(&mut out, u64::from(id));
        varint::put(&mut out, chunk.len() as u64);
        out.extend_from_slice(chunk);
    }
    out
}

/// [`decode`] of the row whose first series id is `first`, its error naming the row.
pub fn decode_row(first: i64, blob: &[u8]) -> Result<Vec<(u32, &[u8])>, StoreError> {
    decode(blob).ok_or_else(|| StoreError::Corrupt {
        what: format!("open chunks from series {first}"),
        detail: "malformed blob".into(),
    })
}

/// The `(series id, chunk)` entries of a blob, or `None` when it is malformed.
pub fn decode(mut blob: &[u8]) -> Option<Vec<(u32, &[u8])>> {
    let mut out = Vec::new();
    while !blob.is_empty() {
        let id = u32::try_from(varint::get(&mut blob)?).ok()?;
        let len = usize::try_from(varint::get(&mut blob)?).ok()?;
        let (chunk, rest) = blob.split_at_checked(len)?;
        out.push((id, chunk));
        blob = rest;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::chunk::{self, ChunkEncoder};

    #[test]
    fn rows_give_back_each_series_chunk() {
        // Arrange
        let mut a = ChunkEncoder::new();
        let mut b = ChunkEncoder::new();
        for i in 0..50 {
            a.push(i * 15_000, i as f64);
            b.push(i * 10_000 + 3, crate::model::stale_nan());
        }
        let (a, b) = (a.bytes(), b.bytes());
        let mut rows = Rows::default();
        for (id, chunk) in [(7, &a), (8, &a), (300_000, &b)] {
            rows.put(id, &[&chunk[..5], &chunk[5..]]);
        }

        // Act
        let rows = rows.finish();
        let back: Vec<Vec<(u32, &[u8])>> = (rows.iter())
            .map(|(first, blob)| decode_row(*first, blob).expect("decodes"))
            .collect();

        // Assert: a row for each ROW series holding any, the chunks in the rows of their ids.
        let firsts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(firsts, [0, row_of(300_000)]);
        assert_eq!(back[0], [(7, a.as_slice()), (8, a.as_slice())]);
        assert_eq!(back[1], [(300_000, b.as_slice())]);
        assert_eq!(chunk::decode(back[1][0].1).expect("chunk").len(), 50);
    }

    #[test]
    fn a_write_joins_the_stored_start_of_its_own_chunk_only() {
        // Arrange: a chunk of 30 samples, stored after 20.
        let mut enc = ChunkEncoder::new();
        let mut stored = None;
        for i in 0..30 {
            enc.push(1_000 + i * 15_000, (i * i) as f64);
            if i == 19 {
                stored = Some((enc.bytes(), enc.stream_bits()));
            }
        }
        let (stored, bits) = stored.expect("stored");
        let cut = bits / 8;
        let row = HeadRow {
            min_t: 1_000,
            count: 30,
            cut,
            bytes: enc.stream_from_byte(cut).to_vec(),
            bits: enc.stream_bits(),
        };

        // Act
        let own = joined(Some(&stored), &row).map(|(h, a, b)| [&h[..], a, b].concat());
        let other = HeadRow {
            min_t: 2_000,
            ..row
        };
        let joined_other = joined(Some(&stored), &other);

        // Assert
        assert_eq!(own, Some(enc.bytes()));
        assert_eq!(joined_other, None);
        assert_eq!(joined(None, &other), None);
    }

    #[test]
    fn a_truncated_blob_is_malformed() {
        // Arrange
        let mut a = ChunkEncoder::new();
        a.push(1, 1.0);
        let blob = encode_raw([(1, a.bytes().as_slice())].into_iter());

        // Act
        let cut = decode(&blob[..blob.len() - 1]);

        // Assert
        assert_eq!(cut, None);
        assert_eq!(decode(&[]), Some(vec![]));
    }
}
