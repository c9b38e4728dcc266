//! Chunk encodings. The first byte of a chunk names its [`Encoding`]:
//! - the stream encodings ([`super::stream`]): delta-of-delta timestamps interleaved with XOR'd
//!   float bits ([`Encoding::Xor`], the head's open chunk, appended sample by sample) or, in
//!   databases written before the packed encoding, scaled decimal deltas or delta-of-deltas;
//! - [`Encoding::Packed`] ([`super::packed`]): what [`compact`] writes when a chunk is closed or
//!   checkpointed — timestamps and values in separate bit-packed columns, each with the width
//!   the chunk's own data needs, decoded in tight loops; about 1.4 bytes a sample on mixed
//!   counters and gauges against 2.2 for the streams.
//!
//! Every encoding is lossless bit for bit: XOR values are raw `u64` bits (so every NaN payload,
//! such as Prometheus' stale marker `0x7ff0000000000002`, round-trips), and decimal columns are
//! only used when every value decodes back to the same bits.
//!
//! Readers: [`decode_into`] / [`decode_range`] append to a `Vec` (fastest), [`ChunkIter`] yields
//! sample by sample, [`ChunkEncoder::read_range`] starts at a mark near the end of the open chunk.

use super::decimal;
use super::packed::{self, PackedIter};
pub use super::stream::ChunkEncoder;
use super::stream::StreamIter;
use crate::model::Sample;

/// How a chunk is encoded (its first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Stream: Gorilla XOR of float bits.
    Xor = 0,
    /// Stream: deltas of the values times 10^k.
    DecimalDelta = 1,
    /// Stream: delta-of-deltas of the values times 10^k.
    DecimalDod = 2,
    /// Columns: bit-packed timestamps, then XOR'd or decimal values.
    Packed = 3,
}

/// Why a chunk could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk is shorter than its header says.
    #[error("chunk truncated after {decoded} of {count} samples")]
    Truncated {
        /// Samples read before the data ran out.
        decoded: usize,
        /// Samples the header announced.
        count: usize,
    },
    /// The header names no known encoding.
    #[error("unknown chunk encoding {0}")]
    Encoding(u8),
    /// A header field holds a value no writer produces.
    #[error("malformed chunk: {0}")]
    Malformed(&'static str),
}

/// The smallest encoding of `samples` (at most `u16::MAX`, as every chunk) that decodes to the
/// same bits: packed unless empty.
pub fn compact(samples: &[Sample]) -> Vec<u8> {
    if samples.is_empty() {
        return ChunkEncoder::new().bytes();
    }
    let scaled = decimal::scale(samples);
    packed::encode(
        samples,
        scaled.as_ref().map(|(k, ints)| (*k, ints.as_slice())),
    )
}

/// Decodes every sample of a chunk.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut out = Vec::new();
    decode_into(data, &mut out)?;
    Ok(out)
}

/// Appends every sample of a chunk to `out` (left as it was on error).
pub fn decode_into(data: &[u8], out: &mut Vec<Sample>) -> Result<(), ChunkError> {
    let before = out.len();
    let read = match data.split_first() {
        Some((3, body)) => PackedIter::new(body)?.read_into(out),
        _ => match ChunkIter::new(data)?.0 {
            Inner::Stream(it) => it.read_into(out),
            Inner::Packed(it) => it.read_into(out),
        },
    };
    if read.is_err() {
        out.truncate(before);
    }
    read
}

/// Appends the samples of a chunk within `[start, end]` to `out` (left as it was on error); stops
/// at the first sample past `end`, as chunks are in time order.
pub fn decode_range(
    data: &[u8],
    start: i64,
    end: i64,
    out: &mut Vec<Sample>,
) -> Result<(), ChunkError> {
    let before = out.len();
    decode_into(data, out)?;
    let last = before + out[before..].partition_point(|s| s.t <= end);
    // Clamped: an empty range (`start > end`) keeps nothing rather than panicking.
    let first = (before + out[before..].partition_point(|s| s.t < start)).min(last);
    out.truncate(last);
    out.drain(before..first);
    Ok(())
}

/// Iterates over a chunk's samples; yields one error and stops when the data is malformed.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a>(Inner<'a>);

#[derive(Debug, Clone)]
enum Inner<'a> {
    Stream(StreamIter<'a>),
    /// Boxed: it carries a block of decoded samples.
    Packed(Box<PackedIter<'a>>),
}

impl<'a> ChunkIter<'a> {
    /// Starts reading `data`; fails when even the header is unreadable.
    pub fn new(data: &'a [u8]) -> Result<Self, ChunkError> {
        let short = ChunkError::Truncated {
            decoded: 0,
            count: 0,
        };
        let (&tag, body) = data.split_first().ok_or(short)?;
        let enc = match tag {
            0 => Encoding::Xor,
            1 => Encoding::DecimalDelta,
            2 => Encoding::DecimalDod,
            3 => return Ok(Self(Inner::Packed(Box::new(PackedIter::new(body)?)))),
            other => return Err(ChunkError::Encoding(other)),
        };
        Ok(StreamIter::parse(enc, body)?.into())
    }

    /// Samples the chunk holds in all (read or not).
    pub fn sample_count(&self) -> usize {
        match &self.0 {
            Inner::Stream(it) => it.sample_count(),
            Inner::Packed(it) => it.sample_count(),
        }
    }
}

impl<'a> From<StreamIter<'a>> for ChunkIter<'a> {
    fn from(it: StreamIter<'a>) -> Self {
        Self(Inner::Stream(it))
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample, ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Inner::Stream(it) => it.next(),
            Inner::Packed(it) => it.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::testutil::Rng;

    fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    /// Every encoding of `samples` this module writes (the open chunk's stream, the packed one,
    /// the old decimal streams when they apply).
    fn encodings(samples: &[Sample]) -> Vec<Vec<u8>> {
        let mut enc = ChunkEncoder::new();
        for s in samples {
            enc.push(s.t, s.v);
        }
        let mut out = vec![enc.bytes(), compact(samples)];
        if let Some((k, ints)) = decimal::scale(samples) {
            for e in [Encoding::DecimalDelta, Encoding::DecimalDod] {
                out.push(decimal::encode(samples, &ints, k, e));
            }
        }
        out
    }

    /// Decodes `data` every way there is and checks they agree; returns the samples.
    fn read_all_ways(data: &[u8]) -> Vec<Sample> {
        let whole = decode(data).expect("decode");
        let iterated: Vec<Sample> = ChunkIter::new(data)
            .expect("header")
            .map(|s| s.expect("sample"))
            .collect();
        let mut appended = vec![Sample { t: 1, v: 2.0 }];
        decode_into(data, &mut appended).expect("decode_into");
        assert_eq!(bits(&iterated), bits(&whole));
        assert_eq!(bits(&appended[1..]), bits(&whole));
        whole
    }

    fn random_samples(rng: &mut Rng, decimal_only: bool) -> Vec<Sample> {
        let mut t = rng.next() as i64 >> 20;
        let mut counter = rng.below(1 << 40) as f64;
        (0..rng.below(300) + 1)
            .map(|_| {
                t = t.wrapping_add(match rng.below(5) {
                    0 | 1 => 15_000,
                    2 => 15_000 + rng.below(50) as i64 - 25,
                    3 => rng.next() as i64 >> 30,
                    _ => -(rng.below(1000) as i64),
                });
                let v = match rng.below(if decimal_only { 4 } else { 8 }) {
                    0 => rng.below(100_000) as f64 / 100.0,
                    1 => (rng.below(1000) as f64) * 0.5,
                    2 => 42.0,
                    3 => {
                        counter += rng.below(100_000) as f64;
                        counter
                    }
                    4 => f64::from_bits(rng.next()),
                    5 => [f64::NAN, f64::INFINITY, -0.0, crate::model::stale_nan()]
                        [rng.below(4) as usize],
                    6 => f64::from_bits(0x7ff0_0000_0000_0000 | rng.next()),
                    _ => rng.next() as f64 / 7.0,
                };
                Sample { t, v }
            })
            .collect()
    }

    #[test]
    fn random_samples_of_every_kind_round_trip_bit_for_bit_in_every_encoding() {
        for seed in 0..200 {
            // Arrange
            let mut rng = Rng::new(seed);
            let samples = random_samples(&mut rng, seed % 2 == 0);

            for data in encodings(&samples) {
                // Act
                let back = read_all_ways(&data);

                // Assert
                assert_eq!(
                    bits(&back),
                    bits(&samples),
                    "seed {seed} encoding {}",
                    data[0]
                );
            }
        }
    }

    #[test]
    fn stale_markers_nans_and_infinities_keep_their_exact_bits() {
        // Arrange
        let stale = crate::model::stale_nan();
        let values = [
            1.0,
            stale,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            stale,
            0.0,
            f64::from_bits(0xfff8_0000_dead_beef),
            f64::MIN_POSITIVE / 3.0,
        ];
        let samples: Vec<Sample> = (0..values.len())
            .map(|i| Sample {
                t: i as i64 * 1000,
                v: values[i],
            })
            .collect();

        for data in encodings(&samples) {
            // Act
            let back = read_all_ways(&data);

            // Assert
            assert_eq!(bits(&back), bits(&samples));
        }
    }

    #[test]
    fn negative_zero_alone_and_among_decimals_keeps_its_sign() {
        // Arrange
        let samples: Vec<Sample> = [0.5, -0.0, 0.0, -0.0, 1.25]
            .iter()
            .enumerate()
            .map(|(i, &v)| Sample { t: i as i64, v })
            .collect();

        // Act
        let back = read_all_ways(&compact(&samples));

        // Assert
        assert_eq!(bits(&back), bits(&samples));
    }

    #[test]
    fn equal_and_extreme_timestamps_and_values_round_trip() {
        // Arrange
        let ts = [
            i64::MIN,
            i64::MIN,
            0,
            0,
            i64::MAX,
            -5,
            -5,
            1,
            i64::MIN,
            i64::MAX,
        ];
        let vs = [1.5, -8.9e15, 8.9e15, 0.0, 1e-6, -1e-6, 1.5, 2.0, 3.0, 4.0];
        let samples: Vec<Sample> = ts.iter().zip(vs).map(|(&t, v)| Sample { t, v }).collect();

        for data in encodings(&samples) {
            // Act
            let back = read_all_ways(&data);

            // Assert
            assert_eq!(bits(&back), bits(&samples), "encoding {}", data[0]);
        }
    }

    #[test]
    fn chunks_written_by_the_stream_format_still_decode() {
        // Arrange: bytes the stream writers produced before the packed encoding existed.
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let xor = hex(
            "0000090000018bcfe568003ff8000000000000c3a98309dffec003e2f7ff20000000000037fd1001000000\
             0000006006f01bfffbff6bffca000c005f8712064fdf3b6480",
        );
        let delta = hex(
            "010009020000018bcfe568000000000000002729c3a98865194003d077fd0801be015fa9bff6805dfcee72c11300",
        );
        let dod = hex(
            "020009020000018bcfe568000000000000002729c3a988650cc003efd46ffa27d801be015fa9bff6efea05\
             877f3b9c38062bb4",
        );
        let ts = [
            0, 15_000, 30_000, 45_007, 59_990, 75_000, 90_000, 105_000, 120_000,
        ];
        let at = |i: usize| 1_700_000_000_000 + ts[i];
        let xor_values = [
            1.5,
            1.5,
            2.25,
            crate::model::stale_nan(),
            f64::NAN,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123_456.789,
        ];
        let decimals = [
            100.25, 100.5, 101.0, 99.75, 99.75, 1000.0, 1000.01, -5.5, 0.0,
        ];

        // Act
        let got: Vec<Vec<Sample>> = [&xor, &delta, &dod].map(|d| read_all_ways(d)).to_vec();

        // Assert
        let want = |values: &[f64; 9]| -> Vec<(i64, u64)> {
            (0..9).map(|i| (at(i), values[i].to_bits())).collect()
        };
        assert_eq!(bits(&got[0]), want(&xor_values));
        assert_eq!(bits(&got[1]), want(&decimals));
        assert_eq!(bits(&got[2]), want(&decimals));
    }

    #[test]
    fn a_truncated_chunk_is_an_error_not_a_panic() {
        let mut rng = Rng::new(11);
        for seed in 0..20 {
            let samples = random_samples(&mut rng, seed % 2 == 0);
            for bytes in encodings(&samples) {
                for n in 0..bytes.len() {
                    // Act
                    let mut out = vec![Sample { t: 7, v: 7.0 }];
                    let whole = decode_into(&bytes[..n], &mut out);
                    let iterated: Result<Vec<Sample>, _> =
                        ChunkIter::new(&bytes[..n]).and_then(|it| it.collect());

                    // Assert
                    assert!(
                        whole.is_err(),
                        "seed {seed} encoding {} cut at {n}",
                        bytes[0]
                    );
                    assert!(
                        iterated.is_err(),
                        "seed {seed} encoding {} cut at {n}",
                        bytes[0]
                    );
                    assert_eq!(bits(&out), vec![(7, 7f64.to_bits())], "left as it was");
                }
            }
        }
    }

    #[test]
    fn random_and_bit_flipped_bytes_decode_or_fail_without_panicking() {
        let mut rng = Rng::new(13);
        for round in 0..3000 {
            // Arrange: garbage after a valid encoding byte, or a valid chunk with one bit flipped.
            let mut data = if round % 2 == 0 {
                let len = rng.below(64) as usize;
                let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                d.insert(0, rng.below(4) as u8);
                d
            } else {
                let samples = random_samples(&mut rng, round % 4 == 1);
                let mut d = encodings(&samples).swap_remove(1);
                let bit = rng.below(d.len() as u64 * 8) as usize;
                d[bit / 8] ^= 1 << (bit % 8);
                d
            };
            data.truncate(data.len().min(4096));

            // Act
            let whole = decode(&data).map(|s| bits(&s));
            let iterated: Result<Vec<Sample>, _> =
                ChunkIter::new(&data).and_then(|it| it.collect());

            // Assert: no panic, and both readers reach the same verdict.
            assert_eq!(whole.ok(), iterated.ok().map(|s| bits(&s)), "round {round}");
        }
    }

    #[test]
    fn unknown_encodings_and_value_kinds_are_errors() {
        // Arrange
        let mut packed = compact(&[Sample { t: 1, v: 1.0 }, Sample { t: 2, v: 2.0 }]);
        // Encoding, count, layout: the timestamps' order in the top 2 bits, the value kind next.
        assert_eq!(packed[..2], [3, 2]);
        packed[2] = (packed[2] & 0xc0) | (7 << 3);

        // Act
        let unknown = decode(&[9, 0, 1]);
        let bad_kind = decode(&packed);

        // Assert
        assert_eq!(unknown, Err(ChunkError::Encoding(9)));
        assert!(
            matches!(bad_kind, Err(ChunkError::Malformed(_))),
            "{bad_kind:?}"
        );
    }

    #[test]
    fn decode_range_keeps_exactly_the_samples_in_range() {
        // Arrange
        let samples: Vec<Sample> = (0..240)
            .map(|i| Sample {
                t: i * 15_000,
                v: i as f64,
            })
            .collect();
        let data = compact(&samples);

        for (start, end) in [
            (0, i64::MAX),
            (-5, 3),
            (14_999, 30_000),
            (3_000_000, 4_000_000),
            (60_000, 30_000),
        ] {
            // Act
            let mut out = vec![Sample { t: -1, v: 0.0 }];
            decode_range(&data, start, end, &mut out).expect("decode");

            // Assert
            let want: Vec<_> = samples
                .iter()
                .filter(|s| s.t >= start && s.t <= end)
                .copied()
                .collect();
            assert_eq!(out[0].t, -1);
            assert_eq!(bits(&out[1..]), bits(&want), "[{start}, {end}]");
        }
    }

    /// Chunks of the store bench's kinds of series: (byte counter, cpu seconds, constant, gauge).
    fn store_like(rng: &mut Rng) -> [Vec<Sample>; 4] {
        let mut v = [1e6; 4];
        let mut out: [Vec<Sample>; 4] = Default::default();
        for i in 0..240 {
            let t = 1_700_000_000_000 + i * 15_000;
            v[0] += rng.below(100_000) as f64;
            v[1] = ((v[1] * 100.0).round() + rng.below(1500) as f64) / 100.0;
            v[3] = ((v[3] * 100.0).round() + rng.below(201) as f64 - 100.0) / 100.0;
            for (series, &v) in out.iter_mut().zip(&v) {
                series.push(Sample { t, v });
            }
        }
        out
    }

    #[test]
    fn compacted_chunks_spend_about_the_entropy_of_their_increments() {
        // Arrange
        let [bytes, cpu, constant, gauge] = store_like(&mut Rng::new(5));

        // Act
        let sizes = [&bytes, &cpu, &constant, &gauge].map(|s| compact(s).len());

        // Assert: increments below 100000 (17 bits), 1500 (11), 0, 201 (8); ~25 bytes of header.
        assert!(sizes[0] <= 240 * 17 / 8 + 25, "{sizes:?}");
        assert!(sizes[1] <= 240 * 11 / 8 + 25, "{sizes:?}");
        assert!(sizes[2] <= 25, "{sizes:?}");
        assert!(sizes[3] <= 240 + 25, "{sizes:?}");
    }

    #[test]
    fn jittered_timestamps_cost_bits_for_the_jitter_only() {
        // Arrange
        let mut rng = Rng::new(9);
        let samples: Vec<Sample> = (0..240)
            .map(|i| Sample {
                t: 1_700_000_000_000 + i * 15_000 + rng.below(16) as i64,
                v: 1.0,
            })
            .collect();

        // Act
        let size = compact(&samples).len();

        // Assert: deltas within 15 ms of the median fit 5 bits.
        assert!(size <= 240 * 5 / 8 + 25, "{size} bytes");
    }
}
