//! Chunk encodings: delta-of-delta timestamps with either XOR'd float bits (Gorilla) or, when
//! every value is a decimal with few digits, the scaled integers' deltas.
//!
//! Layout: an encoding byte, a big-endian `u16` sample count, for the decimal encodings one byte
//! of scale `k` (values are integers divided by 10^k), then a bit stream. The first sample is
//! stored raw; every later timestamp as the difference between its delta and the previous delta
//! (0 in one bit for regular scrapes). Values:
//! - [`Encoding::Xor`]: XOR with the previous value's bits ("0" when equal, "10" + bits inside
//!   the previous window, or "11" + 5-bit leading zeros + 6-bit length + the meaningful bits).
//!   Values are raw `u64` bits, so every NaN payload (Prometheus' stale marker is
//!   `0x7ff0000000000002`) round-trips exactly. The head appends with this one.
//! - [`Encoding::DecimalDelta`] / [`Encoding::DecimalDod`]: the scaled integers' deltas (gauges,
//!   irregular counters) or delta-of-deltas (steady counters). Chosen by [`compact`] when a chunk
//!   is closed or checkpointed, only if every value decodes back to the same bits and it is smaller:
//!   counters with small increments drop from ~2 to ~1 byte a sample.

use super::bits::{BitReader, BitWriter};
use super::decimal;
use crate::model::Sample;

/// Delta-of-delta widths for timestamps.
pub(super) const TS_WIDTHS: [u32; 4] = [14, 17, 20, 64];
/// Delta (or delta-of-delta) widths for scaled decimal values.
pub(super) const DEC_WIDTHS: [u32; 4] = [8, 14, 24, 64];

/// How a chunk's values are encoded (the first byte of the chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Gorilla XOR of float bits.
    Xor = 0,
    /// Deltas of the values times 10^k.
    DecimalDelta = 1,
    /// Delta-of-deltas of the values times 10^k.
    DecimalDod = 2,
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
}

/// Samples between two [`Mark`]s of an open chunk.
const MARK_EVERY: u16 = 32;

/// The decoder's state after `done` samples of an open chunk, so that a read of recent samples
/// starts there instead of decoding the chunk from its first sample (`done == 0`: no mark).
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    done: u16,
    leading: u8,
    trailing: u8,
    pos: u32,
    t: i64,
    dt: i64,
    v: u64,
}

/// Builds one XOR chunk sample by sample.
#[derive(Debug, Clone, Default)]
pub struct ChunkEncoder {
    w: BitWriter,
    count: u16,
    min_t: i64,
    prev_t: i64,
    prev_delta: i64,
    prev_v: u64,
    leading: u8,
    trailing: u8,
    /// The two newest marks, older first: enough for the last `MARK_EVERY` samples or more.
    marks: [Mark; 2],
}

impl ChunkEncoder {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Timestamp of the first sample (meaningless when empty).
    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    /// Timestamp of the last sample (meaningless when empty).
    pub fn max_t(&self) -> i64 {
        self.prev_t
    }

    /// Appends one sample; the chunk holds at most `u16::MAX` samples, callers cut far earlier.
    pub fn push(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        if self.count == 0 {
            self.w.write(t as u64, 64);
            self.w.write(bits, 64);
            self.min_t = t;
            self.leading = 0xff;
        } else {
            if self.count.is_multiple_of(MARK_EVERY) {
                self.mark();
            }
            let delta = t.wrapping_sub(self.prev_t);
            self.w
                .signed(delta.wrapping_sub(self.prev_delta), &TS_WIDTHS);
            self.write_value(bits);
            self.prev_delta = delta;
        }
        self.prev_t = t;
        self.prev_v = bits;
        self.count += 1;
    }

    fn mark(&mut self) {
        self.marks[0] = self.marks[1];
        self.marks[1] = Mark {
            done: self.count,
            // 0xff ("no window yet") is never read: the decoder only uses a window it read.
            leading: self.leading,
            trailing: self.trailing,
            pos: u32::try_from(self.w.len_bits()).unwrap_or(u32::MAX),
            t: self.prev_t,
            dt: self.prev_delta,
            v: self.prev_v,
        };
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.prev_v;
        if xor == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.bit(false);
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write(xor >> self.trailing, sig);
            return;
        }
        self.w.bit(true);
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        self.w.write(u64::from(leading), 5);
        // 64 meaningful bits are written as 0: a zero-length XOR never takes this path.
        self.w.write(u64::from(sig) & 0x3f, 6);
        self.w.write(xor >> trailing, sig);
        self.leading = leading;
        self.trailing = trailing;
    }

    /// A readable copy of the chunk as it stands.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.w.buf.len());
        out.push(Encoding::Xor as u8);
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.w.buf);
        out
    }

    /// Iterates over the samples in place, without copying the bytes as [`Self::bytes`] does.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::with_body(&self.w.buf, Encoding::Xor, 0, self.len())
    }

    /// Iterates over the samples, skipping (from the newest usable mark) samples before `start`;
    /// relies on time order, which the head keeps (it appends only newer samples).
    pub fn iter_from(&self, start: i64) -> ChunkIter<'_> {
        let usable = self.marks.iter().rev().find(|m| m.done > 0 && m.t < start);
        match usable {
            Some(m) => ChunkIter::resume(&self.w.buf, m, self.len()),
            None => self.iter(),
        }
    }

    /// Heap bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.w.buf.capacity()
    }
}

/// The smallest encoding of `samples` that decodes to the same bits (XOR when nothing beats it).
pub fn compact(samples: &[Sample]) -> Vec<u8> {
    let mut xor = ChunkEncoder::new();
    for s in samples {
        xor.push(s.t, s.v);
    }
    let mut best = xor.bytes();
    if let Some((k, ints)) = decimal::scale(samples) {
        for enc in [Encoding::DecimalDelta, Encoding::DecimalDod] {
            let candidate = decimal::encode(samples, &ints, k, enc);
            if candidate.len() < best.len() {
                best = candidate;
            }
        }
    }
    best
}

/// Decodes every sample of a chunk.
pub fn decode(data: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let iter = ChunkIter::new(data)?;
    let mut out = Vec::with_capacity(iter.count);
    for s in iter {
        out.push(s?);
    }
    Ok(out)
}

/// Iterates over a chunk's samples; yields one error and stops when the data is malformed.
pub struct ChunkIter<'a> {
    r: BitReader<'a>,
    enc: Encoding,
    pow: f64,
    count: usize,
    done: usize,
    t: i64,
    dt: i64,
    v: u64,
    dv: i64,
    leading: u32,
    trailing: u32,
}

impl<'a> ChunkIter<'a> {
    /// Starts reading `data`; fails when even the header is unreadable.
    pub fn new(data: &'a [u8]) -> Result<Self, ChunkError> {
        let short = ChunkError::Truncated {
            decoded: 0,
            count: 0,
        };
        let (&tag, rest) = data.split_first().ok_or(short.clone())?;
        let enc = match tag {
            0 => Encoding::Xor,
            1 => Encoding::DecimalDelta,
            2 => Encoding::DecimalDod,
            other => return Err(ChunkError::Encoding(other)),
        };
        let count: [u8; 2] = rest
            .get(..2)
            .and_then(|c| c.try_into().ok())
            .ok_or(short.clone())?;
        let (k, body) = match enc {
            Encoding::Xor => (0, &rest[2..]),
            _ => (*rest.get(2).ok_or(short)?, &rest[3..]),
        };
        let count = usize::from(u16::from_be_bytes(count));
        Ok(Self::with_body(body, enc, k, count))
    }

    /// Reads the bit stream `body` of `count` samples (the chunk minus its header).
    fn with_body(body: &'a [u8], enc: Encoding, k: u8, count: usize) -> Self {
        Self {
            r: BitReader::new(body),
            enc,
            pow: 10f64.powi(i32::from(k)),
            count,
            done: 0,
            t: 0,
            dt: 0,
            v: 0,
            dv: 0,
            leading: 0,
            trailing: 0,
        }
    }

    /// Reads an XOR stream of `count` samples from mark `m` on.
    fn resume(body: &'a [u8], m: &Mark, count: usize) -> Self {
        let mut it = Self::with_body(body, Encoding::Xor, 0, count);
        it.r = BitReader::at(body, m.pos as usize);
        it.done = usize::from(m.done);
        (it.t, it.dt, it.v) = (m.t, m.dt, m.v);
        (it.leading, it.trailing) = (u32::from(m.leading), u32::from(m.trailing));
        it
    }

    fn next_sample(&mut self) -> Option<Sample> {
        if self.done == 0 {
            self.t = self.r.read(64)? as i64;
            self.v = self.r.read(64)?;
        } else {
            self.dt = self.dt.wrapping_add(self.r.signed(&TS_WIDTHS)?);
            self.t = self.t.wrapping_add(self.dt);
            match self.enc {
                Encoding::Xor => self.v ^= self.read_xor()?,
                Encoding::DecimalDelta => self.dv = self.r.signed(&DEC_WIDTHS)?,
                Encoding::DecimalDod => self.dv = self.dv.wrapping_add(self.r.signed(&DEC_WIDTHS)?),
            }
            if self.enc != Encoding::Xor {
                self.v = (self.v as i64).wrapping_add(self.dv) as u64;
            }
        }
        let v = match self.enc {
            Encoding::Xor => f64::from_bits(self.v),
            _ => self.v as i64 as f64 / self.pow,
        };
        Some(Sample { t: self.t, v })
    }

    fn read_xor(&mut self) -> Option<u64> {
        if !self.r.bit()? {
            return Some(0);
        }
        if self.r.bit()? {
            self.leading = self.r.read(5)? as u32;
            let sig = match self.r.read(6)? as u32 {
                0 => 64,
                n => n,
            };
            self.trailing = 64u32.checked_sub(self.leading + sig)?;
        }
        let sig = 64 - self.leading - self.trailing;
        Some(self.r.read(sig)? << self.trailing)
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done >= self.count {
            return None;
        }
        match self.next_sample() {
            Some(s) => {
                self.done += 1;
                Some(Ok(s))
            }
            None => {
                let err = ChunkError::Truncated {
                    decoded: self.done,
                    count: self.count,
                };
                self.done = self.count;
                Some(Err(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::testutil::Rng;

    fn round_trip(samples: &[Sample]) -> Vec<Sample> {
        let mut enc = ChunkEncoder::new();
        for s in samples {
            enc.push(s.t, s.v);
        }
        let xor = decode(&enc.bytes()).expect("decode");
        let compacted = decode(&compact(samples)).expect("decode compacted");
        assert_eq!(bits(&xor), bits(&compacted));
        xor
    }

    fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn reading_from_a_mark_yields_every_sample_at_or_after_the_start() {
        let mut rng = Rng::new(7);
        for len in [1u64, 31, 32, 33, 64, 65, 100, 240] {
            // Arrange
            let mut enc = ChunkEncoder::new();
            let mut t = 1_700_000_000_000i64;
            for _ in 0..len {
                t += 15_000 + rng.below(3) as i64;
                let v = match rng.below(3) {
                    0 => f64::from_bits(rng.next()),
                    1 => rng.below(10) as f64,
                    _ => rng.next() as f64 / 3.0,
                };
                enc.push(t, v);
            }
            let all = bits(&enc.iter().map(|s| s.expect("decode")).collect::<Vec<_>>());

            for start in (enc.min_t() - 1..=enc.max_t() + 1).step_by(4_999) {
                // Act
                let from: Vec<Sample> = enc.iter_from(start).map(|s| s.expect("decode")).collect();

                // Assert
                let want: Vec<_> = all.iter().filter(|s| s.0 >= start).copied().collect();
                let got: Vec<_> = bits(&from).into_iter().filter(|s| s.0 >= start).collect();
                assert_eq!(got, want, "len {len} start {start}");
            }
        }
    }

    #[test]
    fn random_samples_round_trip_bit_for_bit() {
        for seed in 0..50 {
            // Arrange
            let mut rng = Rng::new(seed);
            let mut t = rng.next() as i64 >> 20;
            let samples: Vec<Sample> = (0..rng.below(300) + 1)
                .map(|_| {
                    t += match rng.below(4) {
                        0 => 15_000,
                        1 => 15_000 + rng.below(50) as i64 - 25,
                        2 => rng.next() as i64 >> 30,
                        _ => -(rng.below(1000) as i64),
                    };
                    let v = match rng.below(if seed % 2 == 0 { 4 } else { 6 }) {
                        0 => f64::from_bits(rng.next()),
                        4 | 5 => rng.below(100_000) as f64 / 100.0,
                        1 => (rng.below(1000) as f64) * 0.5,
                        2 => 42.0,
                        _ => rng.next() as f64 / 7.0,
                    };
                    Sample { t, v }
                })
                .collect();

            // Act
            let back = round_trip(&samples);

            // Assert
            assert_eq!(bits(&back), bits(&samples), "seed {seed}");
        }
    }

    #[test]
    fn stale_markers_nans_and_infinities_keep_their_exact_bits() {
        // Arrange
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let values = [
            1.0,
            stale,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            stale,
            0.0,
        ];
        let samples: Vec<Sample> = (0..values.len())
            .map(|i| Sample {
                t: i as i64 * 1000,
                v: values[i],
            })
            .collect();

        // Act
        let back = round_trip(&samples);

        // Assert
        assert_eq!(bits(&back), bits(&samples));
    }

    #[test]
    fn equal_and_extreme_timestamps_round_trip() {
        // Arrange
        let ts = [i64::MIN, i64::MIN, 0, 0, i64::MAX, -5, -5, 1];
        let samples: Vec<Sample> = ts.iter().map(|&t| Sample { t, v: 1.5 }).collect();

        // Act
        let back = round_trip(&samples);

        // Assert
        assert_eq!(bits(&back), bits(&samples));
    }

    #[test]
    fn a_truncated_chunk_is_an_error_not_a_panic() {
        // Arrange
        let mut enc = ChunkEncoder::new();
        for i in 0..100 {
            enc.push(i * 15_000, i as f64 * 1.37);
        }
        let bytes = enc.bytes();

        // Act
        let results: Vec<_> = (0..bytes.len()).map(|n| decode(&bytes[..n])).collect();

        // Assert
        assert!(results.iter().all(Result::is_err));
    }

    #[test]
    fn small_counter_increments_and_decimal_gauges_stay_well_under_two_bytes_a_sample() {
        // Arrange
        let mut rng = Rng::new(7);
        let (mut counter, mut gauge) = (1_000_000.0, 50.0);
        let mut counters = Vec::new();
        let mut gauges = Vec::new();
        for i in 0..240 {
            let t = 1_700_000_000_000 + i * 15_000;
            counter += rng.below(100) as f64;
            gauge = (gauge * 100.0 + rng.below(21) as f64 - 10.0).round() / 100.0;
            counters.push(Sample { t, v: counter });
            gauges.push(Sample { t, v: gauge });
        }

        // Act
        let counter_bytes = compact(&counters);
        let gauge_bytes = compact(&gauges);

        // Assert
        assert!(counter_bytes.len() < 360, "{} bytes", counter_bytes.len());
        assert!(gauge_bytes.len() < 360, "{} bytes", gauge_bytes.len());
        assert_eq!(bits(&decode(&gauge_bytes).expect("decode")), bits(&gauges));
    }
}
