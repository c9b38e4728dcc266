//! The write-ahead record: the samples one group commit accepted, in a compact blob.
//!
//! A record is a varint entry count, then per entry a varint series id, the zigzag varint
//! difference from the previous entry's timestamp, and the value's 8 raw bytes (so NaN payloads
//! survive). Records live in the `wal` table until a checkpoint has put their samples in chunks.

use crate::model::varint;

/// One accepted sample of one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// Series id.
    pub series: u32,
    /// Timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// Encodes entries into one record.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + entries.len() * 13);
    varint::put(&mut out, entries.len() as u64);
    let mut prev_t = 0i64;
    for e in entries {
        varint::put(&mut out, u64::from(e.series));
        let d = e.t.wrapping_sub(prev_t);
        varint::put(&mut out, varint::zigzag(d));
        out.extend_from_slice(&e.v.to_bits().to_le_bytes());
        prev_t = e.t;
    }
    out
}

/// Decodes a record, or `None` when it is malformed.
pub fn decode(mut data: &[u8]) -> Option<Vec<Entry>> {
    let n = varint::get(&mut data)? as usize;
    let mut out = Vec::with_capacity(n.min(data.len()));
    let mut prev_t = 0i64;
    for _ in 0..n {
        let series = u32::try_from(varint::get(&mut data)?).ok()?;
        let z = varint::get(&mut data)?;
        let d = varint::unzigzag(z);
        let t = prev_t.wrapping_add(d);
        let bytes: [u8; 8] = data.get(..8)?.try_into().ok()?;
        data = &data[8..];
        out.push(Entry {
            series,
            t,
            v: f64::from_bits(u64::from_le_bytes(bytes)),
        });
        prev_t = t;
    }
    data.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_including_extreme_timestamps_and_nan_payloads() {
        // Arrange
        let entries = vec![
            Entry {
                series: 0,
                t: i64::MAX,
                v: crate::model::stale_nan(),
            },
            Entry {
                series: u32::MAX,
                t: i64::MIN,
                v: -0.0,
            },
            Entry {
                series: 7,
                t: 15_000,
                v: 1.5,
            },
        ];

        // Act
        let back = decode(&encode(&entries)).expect("decode");

        // Assert
        let bits = |e: &[Entry]| {
            e.iter()
                .map(|e| (e.series, e.t, e.v.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&back), bits(&entries));
    }

    #[test]
    fn a_truncated_record_is_rejected() {
        // Arrange
        let data = encode(&[Entry {
            series: 3,
            t: 1,
            v: 2.0,
        }]);

        // Act
        let cut = decode(&data[..data.len() - 1]);

        // Assert
        assert_eq!(cut, None);
    }
}
