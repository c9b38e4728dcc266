//! The `open_chunks` table's blobs: the open chunks of a slice of series, each as the head's
//! encoder wrote it (so storing them costs a copy, not a compaction), many series to a row.
//!
//! A blob is, per series, its id and its chunk's length as LEB128 varints, then the chunk
//! (which starts with its encoding byte, as every chunk does).

use std::ops::Range;

use super::chunk::ChunkEncoder;
use super::wal::{get_varint, put_varint};
use crate::store::StoreError;

/// Series ids a row holds: ids `first_id .. first_id + ROW` (few in tests, so that a few
/// hundred series span several). Small, so that no blob is a big allocation: SQLite copies a
/// checkpoint's blobs on its connections' threads, whose allocator arenas keep the largest they
/// freed (rows of 4,096 series, 2.4 MB once open chunks filled, kept 40 MB in them at 100k
/// series). Databases written with bigger rows still load: a row's entries name their series.
pub const ROW: usize = if cfg!(test) { 16 } else { 512 };

/// The rows of series `ids` (which start at a row's first id): `(first_id, blob)` for every
/// row the range touches, empty ones too, so that each replaces all an older, bigger row held
/// there. `chunks` are `(series id, open chunk)` in id order, within `ids`.
pub fn encode_rows<'a>(
    ids: Range<usize>,
    chunks: impl Iterator<Item = (u32, &'a ChunkEncoder)>,
) -> Vec<(i64, Vec<u8>)> {
    debug_assert_eq!(ids.start % ROW, 0, "rows start at a multiple of ROW");
    let mut rows: Vec<(i64, Vec<u8>)> = (ids.clone().step_by(ROW))
        .map(|first| (first as i64, Vec::new()))
        .collect();
    for (id, chunk) in chunks {
        let blob = &mut rows[(id as usize - ids.start) / ROW].1;
        put_varint(blob, u64::from(id));
        put_varint(blob, chunk.bytes_len() as u64);
        chunk.write_bytes(blob);
    }
    rows
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
    use crate::store::sqlite::chunk;

    #[test]
    fn a_blob_gives_back_each_series_chunk() {
        // Arrange
        let mut a = ChunkEncoder::new();
        let mut b = ChunkEncoder::new();
        for i in 0..50 {
            a.push(i * 15_000, i as f64);
            b.push(i * 10_000 + 3, f64::from_bits(0x7ff0_0000_0000_0002));
        }

        // Act
        let rows = encode_rows(0..300_000 + ROW, [(7, &a), (300_000, &b)].into_iter());
        let (first, blob) = rows.iter().find(|(_, b)| !b.is_empty()).expect("a row");
        let last = &rows[300_000 / ROW];
        let back = decode(blob).expect("decodes");
        let back_b = decode(&last.1).expect("decodes");

        // Assert: a row for every ROW series, the two chunks in the rows holding their ids.
        assert_eq!(rows.len(), 300_000 / ROW + 1);
        assert!(
            rows.iter()
                .enumerate()
                .all(|(i, r)| r.0 == (i * ROW) as i64)
        );
        assert_eq!((*first, last.0), (0, 300_000));
        assert_eq!(rows.iter().filter(|(_, b)| !b.is_empty()).count(), 2);
        assert_eq!(back, vec![(7, a.bytes().as_slice())]);
        assert_eq!(back_b, vec![(300_000, b.bytes().as_slice())]);
        assert_eq!(chunk::decode(back_b[0].1).expect("chunk").len(), 50);
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
