//! The `open_chunks` and `open_chunk_tails` tables: the open chunks the checkpoints beside
//! appends store, each as the head's encoder wrote it, [`ROW`] series to a row. Once a row holds
//! the start of a series' open chunk, the head drops that start from memory ([`super::head`]).
//! A checkpoint then writes, for each changed series, its chunk from where the stored stream
//! is cut ([`super::head::HeadRow`]) as a tail row; once a slice's tails are as big as its rows
//! (or many), it rewrites the rows whole, every stream joined, and deletes the tails. So each
//! sample is written about twice, not once per checkpoint for the life of its chunk. A chunk
//! sealed after its start was dropped (a cold one) is joined to it from here; reads reaching
//! back past the head read it here.
//!
//! A blob is, per series, its id and its entry's length as LEB128 varints, then the entry. In
//! `open_chunks` an entry is the chunk (which starts with its encoding byte, as every chunk
//! does); in `open_chunk_tails` it is the cut and the chunk's first timestamp as varints, then
//! the chunk's header and its stream from the cut. Databases written with rows of 4,096 or 512
//! series still load: a row's entries name their series.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use sqlx::SqlitePool;

use super::head::HeadRow;
use super::wal::{get_varint, put_varint};
use crate::store::StoreError;

/// Series ids a row holds: ids `first_id .. first_id + ROW` (few in tests, so that a few
/// hundred series span several). Small, so that a read reaching back past the head for a few
/// series reads few other series' chunks with theirs, and no blob is a big allocation (SQLite
/// copies a checkpoint's blobs on its connections' threads, whose allocator arenas keep the
/// largest they freed).
pub const ROW: usize = if cfg!(test) { 16 } else { 64 };

/// Tail rows a row may have before the next checkpoint rewrites it whole (bounds the tails a
/// read applies).
const TAILS: usize = if cfg!(test) { 3 } else { 8 };

/// The row holding series `id`.
pub fn row_of(id: u32) -> i64 {
    i64::from(id) - i64::from(id) % ROW as i64
}

/// Stored open chunks as read: rows of whole chunks and the tails written over them since,
/// `(first_id, blob)`, the tails in the order written.
#[derive(Debug, Default)]
pub struct StoredRows {
    rows: Vec<(i64, Vec<u8>)>,
    tails: Vec<(i64, Vec<u8>)>,
}

/// One series' stored open chunk.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The series id.
    pub id: u32,
    /// The whole chunk.
    pub chunk: Cow<'a, [u8]>,
    /// Whether it is in the row of an older database, of more series than [`ROW`].
    pub legacy: bool,
}

impl StoredRows {
    /// The rows starting within `ids`, with their tails.
    pub async fn range(pool: &SqlitePool, ids: Range<usize>) -> Result<Self, StoreError> {
        let (start, end) = (ids.start as i64, ids.end as i64);
        Ok(StoredRows {
            rows: sqlx::query_as(
                "SELECT first_id, data FROM open_chunks WHERE first_id >= ? AND first_id < ? \
                 ORDER BY first_id",
            )
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?,
            tails: sqlx::query_as(
                "SELECT first_id, data FROM open_chunk_tails \
                 WHERE first_id >= ? AND first_id < ? ORDER BY id",
            )
            .bind(start)
            .bind(end)
            .fetch_all(pool)
            .await?,
        })
    }

    /// The rows holding series `ids`, with their tails.
    async fn holding(pool: &SqlitePool, ids: &[u32]) -> Result<Self, StoreError> {
        let mut rows: Vec<i64> = ids.iter().map(|&id| row_of(id)).collect();
        rows.dedup();
        let json = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
        Ok(StoredRows {
            rows: sqlx::query_as(
                "SELECT first_id, data FROM open_chunks \
                 WHERE first_id IN (SELECT value FROM json_each(?))",
            )
            .bind(&json)
            .fetch_all(pool)
            .await?,
            tails: sqlx::query_as(
                "SELECT first_id, data FROM open_chunk_tails \
                 WHERE first_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            )
            .bind(&json)
            .fetch_all(pool)
            .await?,
        })
    }

    /// Every series' stored open chunk, its tails applied, in id order.
    pub fn entries(&self) -> Result<Vec<Entry<'_>>, StoreError> {
        let mut out = BTreeMap::new();
        for (first, blob) in &self.rows {
            for (id, chunk) in decode_row(*first, blob)? {
                let legacy = row_of(id) != *first;
                let chunk = Cow::Borrowed(chunk);
                out.insert(id, Entry { id, chunk, legacy });
            }
        }
        for (first, blob) in &self.tails {
            for (id, tail) in decode_row(*first, blob)? {
                let stored = out.get(&id).map(|e| e.chunk.as_ref());
                let chunk = apply_tail(stored, tail).ok_or_else(|| StoreError::Corrupt {
                    what: format!("open chunk tail of series {id}"),
                    detail: "it does not continue the stored chunk".into(),
                })?;
                let chunk = Cow::Owned(chunk);
                out.insert(
                    id,
                    Entry {
                        id,
                        chunk,
                        legacy: false,
                    },
                );
            }
        }
        Ok(out.into_values().collect())
    }

    /// Whether the next checkpoint should rewrite these rows whole (`entries` from
    /// [`StoredRows::entries`]): when their tails are as big as they are, or a row has [`TAILS`] of
    /// them, or a row is of an older database.
    pub fn rewrite_due(&self, entries: &[Entry]) -> bool {
        let bytes = |rows: &[(i64, Vec<u8>)]| rows.iter().map(|r| r.1.len()).sum::<usize>();
        let mut tails: HashMap<i64, usize> = HashMap::new();
        self.tails
            .iter()
            .for_each(|t| *tails.entry(t.0).or_default() += 1);
        bytes(&self.tails) >= bytes(&self.rows)
            || tails.values().any(|&n| n >= TAILS)
            || entries.iter().any(|e| e.legacy)
    }
}

/// The stored open chunks of series `ids` (whole chunk bytes), from the rows holding them.
pub async fn read(pool: &SqlitePool, ids: &[u32]) -> Result<HashMap<u32, Vec<u8>>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let stored = StoredRows::holding(pool, ids).await?;
    let wanted: HashSet<u32> = ids.iter().copied().collect();
    Ok((stored.entries()?.into_iter())
        .filter(|e| wanted.contains(&e.id))
        .map(|e| (e.id, e.chunk.into_owned()))
        .collect())
}

/// A tail entry applied to `stored` (the series' stored chunk, whole): the whole chunk it
/// makes, or `None` when it does not continue `stored`.
fn apply_tail(stored: Option<&[u8]>, mut tail: &[u8]) -> Option<Vec<u8>> {
    let cut = usize::try_from(get_varint(&mut tail)?).ok()?;
    let min_t = get_varint(&mut tail)? as i64;
    let (header, since) = tail.split_at_checked(3)?;
    let start = match cut {
        0 => &[][..],
        _ => stream_of(stored?, min_t)?.get(..cut)?,
    };
    Some([header, start, since].concat())
}

/// A chunk header: the encoding byte and the sample count.
fn header(count: u16) -> [u8; 3] {
    let [hi, lo] = count.to_be_bytes();
    [super::chunk::Encoding::Xor as u8, hi, lo]
}

/// The chunk of `stored` (a stored open chunk, whole) with `row` written over it, in three
/// parts: a header, its stream cut at `row.cut`, and `row.bytes`; the write alone when `cut` is
/// 0. `None` when `stored` does not hold the chunk the write is cut in.
pub fn joined<'a>(
    stored: Option<&'a [u8]>,
    row: &'a HeadRow,
) -> Option<([u8; 3], &'a [u8], &'a [u8])> {
    let header = header(row.count);
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
        put_varint(blob, u64::from(id));
        put_varint(blob, parts.iter().map(|p| p.len()).sum::<usize>() as u64);
        parts.iter().for_each(|p| blob.extend_from_slice(p));
    }

    /// Adds series `id`'s tail: what the head wrote in `row` (its chunk from the cut).
    pub fn put_tail(&mut self, id: u32, row: &HeadRow) {
        let mut prefix = Vec::with_capacity(16);
        put_varint(&mut prefix, row.cut as u64);
        put_varint(&mut prefix, row.min_t as u64);
        self.put(id, &[&prefix, &header(row.count), &row.bytes]);
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
        put_varint(&mut out, u64::from(id));
        put_varint(&mut out, chunk.len() as u64);
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
        let id = u32::try_from(get_varint(&mut blob)?).ok()?;
        let len = usize::try_from(get_varint(&mut blob)?).ok()?;
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
            b.push(i * 10_000 + 3, f64::from_bits(0x7ff0_0000_0000_0002));
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

    /// What the head writes of `enc` once `stored_bits` of its stream are stored.
    fn write_since(enc: &ChunkEncoder, stored_bits: usize) -> HeadRow {
        let cut = stored_bits / 8;
        HeadRow {
            min_t: enc.min_t(),
            count: enc.len() as u16,
            cut,
            bytes: enc.stream_from_byte(cut).to_vec(),
            bits: enc.stream_bits(),
        }
    }

    fn stored(rows: Rows, tails: Vec<Rows>) -> StoredRows {
        StoredRows {
            rows: rows.finish(),
            tails: tails.into_iter().flat_map(Rows::finish).collect(),
        }
    }

    #[test]
    fn tails_written_over_rows_give_each_series_chunk_whole() {
        // Arrange: series 3 stored after 20 samples, then two tails (30, 45 samples); series 5
        // first written by a tail; series 4 unchanged.
        let (mut a, mut b, mut c) = (
            ChunkEncoder::new(),
            ChunkEncoder::new(),
            ChunkEncoder::new(),
        );
        let mut rows = Rows::default();
        let mut tails = vec![Rows::default(), Rows::default()];
        let (mut bits, mut c_stored) = (0, Vec::new());
        for i in 0..45i64 {
            a.push(1_000 + i * 15_000, (i * i) as f64 / 7.0);
            c.push(7 + i * 10_000, 1.0);
            match i {
                19 => {
                    c_stored = c.bytes();
                    rows.put(3, &[&a.bytes()]);
                    rows.put(4, &[&c_stored]);
                }
                29 => tails[0].put_tail(3, &write_since(&a, bits)),
                44 => tails[1].put_tail(3, &write_since(&a, bits)),
                _ => {}
            }
            if matches!(i, 19 | 29) {
                bits = a.stream_bits();
            }
        }
        for i in 0..10i64 {
            b.push(i, -(i as f64));
        }
        tails[1].put_tail(5, &write_since(&b, 0));
        let stored = stored(rows, tails);

        // Act
        let entries = stored.entries().expect("entries");

        // Assert
        let got: Vec<(u32, &[u8])> = entries.iter().map(|e| (e.id, &e.chunk[..])).collect();
        let want: [(u32, &[u8]); 3] = [(3, &a.bytes()), (4, &c_stored), (5, &b.bytes())];
        assert_eq!(got, want);
        assert_eq!(chunk::decode(got[0].1).expect("chunk").len(), 45);
    }

    #[test]
    fn a_tail_over_another_chunk_is_corrupt_and_rows_with_many_tails_are_rewritten() {
        // Arrange: a stored chunk, a tail cut in a chunk starting elsewhere.
        let mut enc = ChunkEncoder::new();
        (0..30).for_each(|i| enc.push(1_000 + i * 15_000, i as f64));
        let mut rows = Rows::default();
        rows.put(2, &[&enc.bytes()]);
        let mut other = write_since(&enc, enc.stream_bits() / 2);
        other.min_t += 1;
        let mut tail = Rows::default();
        tail.put_tail(2, &other);
        let small: Vec<Rows> = (0..TAILS).map(|_| Rows::default()).collect();
        let mut many = Rows::default();
        many.put(2, &[&enc.bytes()]);
        let mut one = Rows::default();
        one.put(2, &[&enc.bytes()]);

        // Act
        let corrupt = stored(rows, vec![tail]).entries().map(|e| e.len());
        let mut small = small;
        small
            .iter_mut()
            .for_each(|t| t.put_tail(2, &write_since(&enc, enc.stream_bits())));
        let many = stored(many, small);
        let many_due = many.rewrite_due(&many.entries().expect("entries"));
        let mut small_tail = Rows::default();
        small_tail.put_tail(2, &write_since(&enc, enc.stream_bits() - 8));
        let one = stored(one, vec![small_tail]);
        let one_due = one.rewrite_due(&one.entries().expect("entries"));

        // Assert
        assert!(
            matches!(corrupt, Err(StoreError::Corrupt { ref what, .. }) if what.contains("series 2")),
            "{corrupt:?}"
        );
        assert!(many_due, "{TAILS} tails");
        assert!(!one_due, "one tail smaller than the row");
        assert!(StoredRows::default().rewrite_due(&[]), "nothing stored yet");
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
