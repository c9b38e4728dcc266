//! The stream encodings (ids 0–2): one interleaved bit stream, sample after sample. The head
//! appends to an [`Encoding::Xor`] stream ([`ChunkEncoder`]); databases written before the packed
//! encoding also hold [`Encoding::DecimalDelta`] / [`Encoding::DecimalDod`] streams.
//!
//! Layout: an encoding byte, a big-endian `u16` sample count, for the decimal encodings one byte
//! of scale `k` (values are integers divided by 10^k), then a bit stream. The first sample is
//! stored raw; every later timestamp as the difference between its delta and the previous delta
//! (0 in one bit for regular scrapes). Values: the XOR code ([`super::xor`]) for `Xor`, else the
//! scaled integers' deltas (`DecimalDelta`) or delta-of-deltas (`DecimalDod`) in the signed
//! width-class code of [`BitWriter::signed`].

use super::bits::{BitReader, BitWriter};
use super::chunk::{ChunkError, Encoding};
use super::decimal;
use super::xor::{XorReader, XorWriter};
use crate::model::Sample;

/// Delta-of-delta widths for timestamps.
pub(super) const TS_WIDTHS: [u32; 4] = [14, 17, 20, 64];
/// Delta (or delta-of-delta) widths for scaled decimal values.
pub(super) const DEC_WIDTHS: [u32; 4] = [8, 14, 24, 64];

/// Samples between two [`Mark`]s of an open chunk. The two newest marks reach 24 to 48
/// samples back, enough for a 5-minute window at a 15 s interval (20 samples), which then
/// decodes 32 samples on average (36 with marks every 32).
const MARK_EVERY: u16 = 24;

/// The decoder's state after `done` samples of an open chunk, so that a read of recent samples
/// starts there instead of decoding the chunk from its first sample (`done == 0`: no mark).
/// Times are kept relative to the chunk's first (a chunk spans at most hours), so a mark is
/// 24 bytes, not 32.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    done: u16,
    leading: u8,
    trailing: u8,
    pos: u32,
    /// Time of the last sample decoded, minus the chunk's first.
    t: u32,
    /// The last timestamp delta.
    dt: u32,
    v: u64,
}

impl Mark {
    /// The first time after this mark's sample, in a chunk starting at `min_t`: a part of the
    /// stream held from this mark on holds every sample from then.
    fn held_after(&self, min_t: i64) -> i64 {
        min_t.wrapping_add(i64::from(self.t)).wrapping_add(1)
    }
}

/// Builds one XOR stream chunk sample by sample.
#[derive(Debug, Clone, Default)]
pub struct ChunkEncoder {
    w: BitWriter,
    count: u16,
    min_t: i64,
    prev_t: i64,
    prev_delta: i64,
    /// The XOR window ([`XorWriter`]'s fields, kept flat so that `count` fits their padding).
    prev_v: u64,
    leading: u8,
    trailing: u8,
    /// The two newest marks, older first: enough for the last `MARK_EVERY` samples or more.
    marks: [Mark; 2],
    /// Bytes of the bit stream no longer held here, from its start: once stored, the head
    /// keeps only the part from its older mark on ([`Self::drop_stored`]).
    base: u32,
    /// The mark the held part starts at (when `base` > 0): reads of the held part can always
    /// start there, after `marks` moved on.
    from: Mark,
    /// Bits of the stream stored in the series' `open_chunks` entry (0: the entry holds none of
    /// this chunk).
    disk_bits: u32,
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

    /// The byte the next sample's bits start in, read only to bring it into the cache.
    pub fn last_byte(&self) -> u8 {
        self.w.last_byte()
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
            (self.prev_v, self.leading) = (bits, 0xff);
        } else {
            if self.count.is_multiple_of(MARK_EVERY) {
                self.mark();
            }
            let delta = t.wrapping_sub(self.prev_t);
            self.w
                .signed(delta.wrapping_sub(self.prev_delta), &TS_WIDTHS);
            let mut xor = XorWriter {
                prev: self.prev_v,
                leading: self.leading,
                trailing: self.trailing,
            };
            xor.write(&mut self.w, bits);
            (self.prev_v, self.leading, self.trailing) = (xor.prev, xor.leading, xor.trailing);
            self.prev_delta = delta;
        }
        self.prev_t = t;
        self.count += 1;
    }

    /// Notes the decoder's state after the samples so far as the newest mark; a state whose
    /// numbers do not fit a mark (a chunk spanning weeks) leaves no mark, and reads decode more.
    fn mark(&mut self) {
        let fits = (
            u32::try_from(self.w.len_bits()),
            u32::try_from(self.prev_t.wrapping_sub(self.min_t)),
            u32::try_from(self.prev_delta),
        );
        let mark = match fits {
            (Ok(pos), Ok(t), Ok(dt)) => Mark {
                done: self.count,
                // 0xff ("no window yet") is never read: the decoder only uses a window it read.
                leading: self.leading,
                trailing: self.trailing,
                pos,
                t,
                dt,
                v: self.prev_v,
            },
            _ => Mark::default(),
        };
        self.marks = [self.marks[1], mark];
    }

    /// A readable copy of the chunk as it stands; only for a chunk held whole
    /// ([`Self::is_whole`]; the checkpoint joins one that is not to its stored start).
    pub fn bytes(&self) -> Vec<u8> {
        debug_assert!(self.is_whole(), "the chunk's start is on disk");
        chunk_bytes(self.count, &[&self.w.buf])
    }

    /// True when the whole stream is held here (none of it dropped once stored).
    pub fn is_whole(&self) -> bool {
        self.base == 0
    }

    /// Bytes of the stream dropped from the start (held on disk).
    pub fn base(&self) -> usize {
        self.base as usize
    }

    /// Bits of the stream so far.
    pub fn stream_bits(&self) -> usize {
        self.w.len_bits()
    }

    /// The stream from byte `from` on (at least [`Self::base`]).
    pub fn stream_from_byte(&self, from: usize) -> &[u8] {
        &self.w.buf[from.saturating_sub(self.base()).min(self.w.buf.len())..]
    }

    /// Bits of the stream stored in the series' `open_chunks` entry (0: none of this chunk).
    pub fn disk_bits(&self) -> usize {
        self.disk_bits as usize
    }

    /// Notes that the stream's first `bits` are stored, and drops from memory the bytes before
    /// the older mark (if stored): the head then keeps 24 to 48 samples before the newest, and
    /// every one since, readable from that mark ([`Self::held_from`]).
    pub fn drop_stored(&mut self, bits: usize) {
        self.disk_bits = u32::try_from(bits).unwrap_or(u32::MAX);
        let oldest = self.marks[0];
        let cut = oldest.pos as usize / 8;
        if oldest.done == 0 || cut <= self.base() || cut > bits / 8 {
            return;
        }
        self.w.drop_front(cut - self.base());
        self.base = oldest.pos / 8;
        self.from = oldest;
    }

    /// Notes that the series' `open_chunks` entry is gone (an explicit checkpoint compacted the
    /// chunk into `chunks`): the next checkpoint beside appends writes it whole. Only for
    /// a chunk held whole.
    pub fn forget_stored(&mut self) {
        debug_assert!(self.is_whole(), "the chunk's start is on disk");
        self.disk_bits = 0;
    }

    /// The time from which every sample is held here (the first sample's, when whole).
    pub fn held_from(&self) -> i64 {
        if self.is_whole() {
            return self.min_t;
        }
        self.from.held_after(self.min_t)
    }

    /// Iterates over the samples in place, without copying the bytes as [`Self::bytes`] does;
    /// only for a chunk held whole.
    pub fn iter(&self) -> super::chunk::ChunkIter<'_> {
        debug_assert!(self.is_whole(), "the chunk's start is on disk");
        StreamIter::new(&self.w.buf, Encoding::Xor, 0, self.len()).into()
    }

    /// Appends the samples within `[start, end]` to `out`, decoding from the newest mark before
    /// `start` (or the first sample) in one loop: what the head reads of its open chunk. Relies
    /// on time order, which the head keeps (it appends only newer samples).
    pub fn read_range(
        &self,
        start: i64,
        end: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), ChunkError> {
        self.stream_from(start).read_range(start, end, out)
    }

    /// A reader from the newest held mark before `start`, or from the first sample held (the
    /// chunk's first, or the mark the held part starts at).
    fn stream_from(&self, start: i64) -> StreamIter<'_> {
        let held = self.base() * 8;
        let before = (self.marks.iter().rev()).find(|m| {
            m.done > 0 && m.pos as usize >= held && self.min_t.wrapping_add(i64::from(m.t)) < start
        });
        let from = match before {
            Some(m) => Some(m),
            None if self.is_whole() => None,
            None => Some(&self.from),
        };
        match from {
            Some(m) => StreamIter::resume(&self.w.buf, self.base(), m, self.min_t, self.len()),
            None => StreamIter::new(&self.w.buf, Encoding::Xor, 0, self.len()),
        }
    }

    /// Heap bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.w.buf.capacity()
    }

    /// The chunk, sealed while its start is stored (not [`Self::is_whole`]), as the head keeps
    /// it until a checkpoint joins it to that start.
    pub fn into_cold(self) -> ColdChunk {
        debug_assert!(!self.is_whole(), "a cold chunk's start is on disk");
        ColdChunk {
            buf: self.w.buf.into_boxed_slice(),
            min_t: self.min_t,
            max_t: self.prev_t,
            from: self.from,
            base: self.base,
            count: self.count,
        }
    }
}

/// A sealed chunk whose start is stored (in its series' `open_chunks` entry), as the head keeps
/// it until a checkpoint joins the two: the stream from the mark the held part starts at, and
/// no more. Every series seals at about the same time, and holding the encoder instead (its
/// window, newest marks and spare capacity) took 152 bytes and a growing buffer per series
/// (100k series at a full chunk: 1,114–1,130 bytes of RSS per series, against 1,071–1,077).
#[derive(Debug, Clone)]
pub struct ColdChunk {
    buf: Box<[u8]>,
    min_t: i64,
    max_t: i64,
    from: Mark,
    base: u32,
    count: u16,
}

impl ColdChunk {
    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Timestamp of the first sample.
    pub fn min_t(&self) -> i64 {
        self.min_t
    }

    /// Timestamp of the last sample.
    pub fn max_t(&self) -> i64 {
        self.max_t
    }

    /// Bytes of the stream not held here, from its start.
    pub fn base(&self) -> usize {
        self.base as usize
    }

    /// The stream from byte [`Self::base`] on.
    pub fn held(&self) -> &[u8] {
        &self.buf
    }

    /// The time after which every sample is held here.
    pub fn held_from(&self) -> i64 {
        self.from.held_after(self.min_t)
    }

    /// Appends the samples within `[start, end]` to `out`, decoding from the first held.
    pub fn read_range(
        &self,
        start: i64,
        end: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), ChunkError> {
        StreamIter::resume(&self.buf, self.base(), &self.from, self.min_t, self.len())
            .read_range(start, end, out)
    }

    /// Heap bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }
}

/// A stream chunk's bytes: its header (for `count` samples) and the stream, from `parts`.
pub fn chunk_bytes(count: u16, parts: &[&[u8]]) -> Vec<u8> {
    let body: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(3 + body);
    out.push(Encoding::Xor as u8);
    out.extend_from_slice(&count.to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// Reads a stream chunk sample by sample.
#[derive(Debug, Clone)]
pub struct StreamIter<'a> {
    r: BitReader<'a>,
    enc: Encoding,
    pow: f64,
    count: usize,
    done: usize,
    t: i64,
    dt: i64,
    /// The window and, in `prev`, the last value's bits or (decimal) scaled integer.
    xor: XorReader,
    dv: i64,
}

impl<'a> StreamIter<'a> {
    /// Parses a stream chunk's header; `body` is the chunk after its encoding byte.
    pub fn parse(enc: Encoding, body: &'a [u8]) -> Result<Self, ChunkError> {
        let short = ChunkError::Truncated {
            decoded: 0,
            count: 0,
        };
        let (count, rest) = body.split_first_chunk::<2>().ok_or(short.clone())?;
        let (k, body) = match enc {
            Encoding::Xor => (0, rest),
            _ => rest.split_first().map(|(&k, b)| (k, b)).ok_or(short)?,
        };
        Ok(Self::new(
            body,
            enc,
            k,
            usize::from(u16::from_be_bytes(*count)),
        ))
    }

    /// Reads the bit stream `body` of `count` samples (the chunk minus its header).
    fn new(body: &'a [u8], enc: Encoding, k: u8, count: usize) -> Self {
        Self {
            r: BitReader::new(body),
            enc,
            pow: decimal::pow10(k),
            count,
            done: 0,
            t: 0,
            dt: 0,
            xor: XorReader::default(),
            dv: 0,
        }
    }

    /// Reads an XOR stream of `count` samples, whose first is at `min_t`, from mark `m` on;
    /// `body` is the stream from byte `base` on.
    fn resume(body: &'a [u8], base: usize, m: &Mark, min_t: i64, count: usize) -> Self {
        let mut it = Self::new(body, Encoding::Xor, 0, count);
        it.r = BitReader::at(body, m.pos as usize - base * 8);
        it.done = usize::from(m.done);
        (it.t, it.dt) = (min_t.wrapping_add(i64::from(m.t)), i64::from(m.dt));
        it.xor = XorReader {
            prev: m.v,
            leading: u32::from(m.leading),
            trailing: u32::from(m.trailing),
        };
        it
    }

    /// Appends the samples within `[start, end]` to `out`, reading on until one is past
    /// `end`; for an XOR stream in time order, as the head keeps it.
    fn read_range(mut self, start: i64, end: i64, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
        while self.done < self.count {
            let s = self.next_xor().ok_or_else(|| self.truncated())?;
            self.done += 1;
            if s.t > end {
                break;
            }
            if s.t >= start {
                out.push(s);
            }
        }
        Ok(())
    }

    /// Samples the chunk holds.
    pub fn sample_count(&self) -> usize {
        self.count
    }

    #[inline]
    fn next_sample(&mut self) -> Option<Sample> {
        if self.enc == Encoding::Xor {
            return self.next_xor();
        }
        if self.done == 0 {
            self.first()?;
        } else {
            self.next_time()?;
            let dv = self.r.signed(&DEC_WIDTHS)?;
            self.dv = match self.enc {
                Encoding::DecimalDod => self.dv.wrapping_add(dv),
                _ => dv,
            };
            self.xor.prev = (self.xor.prev as i64).wrapping_add(self.dv) as u64;
        }
        Some(Sample {
            t: self.t,
            v: self.xor.prev as i64 as f64 / self.pow,
        })
    }

    /// [`Self::next_sample`] of an [`Encoding::Xor`] stream.
    #[inline(always)]
    fn next_xor(&mut self) -> Option<Sample> {
        if self.done == 0 {
            self.first()?;
        } else {
            self.next_time()?;
            self.xor.read(&mut self.r)?;
        }
        Some(Sample {
            t: self.t,
            v: f64::from_bits(self.xor.prev),
        })
    }

    /// Reads the first sample, stored raw: its time and its value's bits (or scaled integer).
    #[inline(always)]
    fn first(&mut self) -> Option<()> {
        self.t = self.r.read(64)? as i64;
        self.xor.prev = self.r.read(64)?;
        Some(())
    }

    /// Reads a later sample's time: its delta-of-delta.
    #[inline(always)]
    fn next_time(&mut self) -> Option<()> {
        self.dt = self.dt.wrapping_add(self.r.signed(&TS_WIDTHS)?);
        self.t = self.t.wrapping_add(self.dt);
        Some(())
    }

    fn truncated(&self) -> ChunkError {
        ChunkError::Truncated {
            decoded: self.done,
            count: self.count,
        }
    }

    /// Appends every remaining sample to `out`.
    pub fn read_into(mut self, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
        out.reserve(self.count - self.done);
        while self.done < self.count {
            let s = self.next_sample().ok_or_else(|| self.truncated())?;
            out.push(s);
            self.done += 1;
        }
        Ok(())
    }
}

impl Iterator for StreamIter<'_> {
    type Item = Result<Sample, ChunkError>;

    #[inline]
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
                let err = self.truncated();
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

    fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
        samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
    }

    #[test]
    fn the_open_chunk_encoder_stays_small() {
        // Every active series holds one; 136 bytes is what it took before this module existed,
        // 120 since marks keep times relative to the chunk's start, 152 with what it needs to
        // hold only the end of its stream (a mark and two counts: its whole stream took 800
        // bytes at the end of an hour).
        assert!(std::mem::size_of::<ChunkEncoder>() <= 152);
    }

    #[test]
    fn a_cold_chunk_is_smaller_than_the_encoder_and_holds_no_spare_bytes() {
        // Arrange: a chunk whose stored start was dropped, with more samples after.
        let mut enc = ChunkEncoder::new();
        for i in 0..100 {
            enc.push(i * 15_000, (i * i) as f64);
        }
        enc.drop_stored(enc.stream_bits());
        enc.push(100 * 15_000, 1.5);
        let held = enc.stream_from_byte(enc.base()).to_vec();

        // Act
        let cold = enc.into_cold();

        // Assert
        assert!(std::mem::size_of::<ColdChunk>() <= 64);
        assert_eq!(cold.held(), held);
        assert_eq!(cold.heap_bytes(), held.len());
    }

    #[test]
    fn a_cold_chunk_reads_what_its_encoder_read_from_where_it_holds_them() {
        let mut rng = Rng::new(11);
        for (len, stored_at) in [(60u64, 50u64), (240, 100), (240, 239), (100, 49)] {
            // Arrange: `stored_at` samples stored (the start dropped), the rest appended.
            let mut enc = ChunkEncoder::new();
            let mut t = 1_700_000_000_000i64;
            for i in 0..len {
                t += 15_000 + rng.below(3) as i64;
                enc.push(t, rng.below(1000) as f64 / 7.0);
                if i + 1 == stored_at {
                    enc.drop_stored(enc.stream_bits());
                }
            }
            assert!(!enc.is_whole(), "len {len}: the start was dropped");
            let (held_from, max_t) = (enc.held_from(), enc.max_t());
            let mut want = Vec::new();
            enc.read_range(held_from, i64::MAX, &mut want)
                .expect("decode");

            // Act
            let cold = enc.into_cold();

            // Assert
            assert_eq!((cold.held_from(), cold.max_t()), (held_from, max_t));
            for start in (held_from..=max_t + 1).step_by(7_001) {
                let mut got = Vec::new();
                cold.read_range(start, start + 120_000, &mut got)
                    .expect("decode");
                let expected: Vec<_> = (want.iter())
                    .filter(|s| s.t >= start && s.t <= start + 120_000)
                    .copied()
                    .collect();
                assert_eq!(bits(&got), bits(&expected), "len {len} start {start}");
            }
        }
    }

    #[test]
    fn a_chunk_spanning_too_long_for_marks_still_reads_from_any_start() {
        // Arrange: 2^32 ms (about 50 days) between samples, past what a mark holds.
        let mut enc = ChunkEncoder::new();
        let times: Vec<i64> = (0..100).map(|i| i * (1 << 32) + i).collect();
        for &t in &times {
            enc.push(t, t as f64);
        }

        for (i, &start) in times.iter().enumerate() {
            // Act
            let mut from = Vec::new();
            enc.read_range(start, i64::MAX, &mut from).expect("decode");
            let from: Vec<i64> = from.iter().map(|s| s.t).collect();

            // Assert
            let got: Vec<i64> = from.into_iter().filter(|&t| t >= start).collect();
            assert_eq!(got, times[i..], "start {start}");
        }
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
                let mut from = Vec::new();
                enc.read_range(start, i64::MAX, &mut from).expect("decode");
                let mut ranged = Vec::new();
                enc.read_range(start, start + 300_000, &mut ranged)
                    .expect("decode");

                // Assert
                let want: Vec<_> = all.iter().filter(|s| s.0 >= start).copied().collect();
                let got: Vec<_> = bits(&from).into_iter().filter(|s| s.0 >= start).collect();
                assert_eq!(got, want, "len {len} start {start}");
                let want: Vec<_> = want
                    .into_iter()
                    .filter(|s| s.0 <= start + 300_000)
                    .collect();
                assert_eq!(bits(&ranged), want, "len {len} [{start}, +5m]");
            }
        }
    }
}
