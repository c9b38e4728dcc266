//! The `open_chunks` table's blobs, as databases written before `head_chunks` hold them: the
//! open chunks of a slice of series, each as the head's encoder wrote it, many series to a row.
//! They are read at open and moved to `head_chunks` by the next checkpoint.
//!
//! A blob is, per series, its id and its chunk's length as LEB128 varints, then the chunk
//! (which starts with its encoding byte, as every chunk does).

use super::wal::get_varint;
use crate::store::StoreError;

/// The blob of `chunks` given as `(series id, chunk bytes)`, as [`decode`] gives them (as older
/// databases wrote them).
#[cfg(test)]
pub fn encode_raw<'a>(chunks: impl Iterator<Item = (u32, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (id, chunk) in chunks {
        super::wal::put_varint(&mut out, u64::from(id));
        super::wal::put_varint(&mut out, chunk.len() as u64);
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
    fn a_blob_gives_back_each_series_chunk() {
        // Arrange
        let mut a = ChunkEncoder::new();
        let mut b = ChunkEncoder::new();
        for i in 0..50 {
            a.push(i * 15_000, i as f64);
            b.push(i * 10_000 + 3, f64::from_bits(0x7ff0_0000_0000_0002));
        }
        let (a, b) = (a.bytes(), b.bytes());

        // Act
        let blob = encode_raw([(7, a.as_slice()), (300_000, b.as_slice())].into_iter());
        let back = decode(&blob).expect("decodes");

        // Assert
        assert_eq!(back, vec![(7, a.as_slice()), (300_000, b.as_slice())]);
        assert_eq!(chunk::decode(back[1].1).expect("chunk").len(), 50);
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
