//! The packed chunk encoding ([`Encoding::Packed`]) that [`super::chunk::compact`] writes for
//! closed chunks: timestamps and values in separate columns, each read in a tight loop.
//!
//! Layout after the encoding byte: the sample count (varint); one layout byte — the timestamps'
//! run order (top 2 bits), the values' kind (3 bits) and decimal scale `k` (low 3 bits); the
//! timestamps as an integer run; the values. An integer run of order `o` is its first `o` seeds as
//! zig-zag varints (the first integer, then for order 2 the first delta) and the `o`-th
//! differences of the others as a [`column`](super::column): regular scrapes take two bytes in all
//! at order 2, jittery ones a few bits a sample at order 1. Value kinds:
//! - [`XOR`]: the first value's bits (8 bytes, big-endian), then the XOR code
//!   ([`super::xor`]) of the others to the end of the chunk.
//! - [`DECIMAL`] + `o` (`o` ≤ 2): every value is an integer over 10^k ([`super::decimal`]);
//!   those integers as a run of order `o` — 0 for gauges around a level, 1 for counters and
//!   random walks, 2 for steady rates.
//!
//! The writer tries every order and kind that applies and keeps the smallest.

use super::bits::{BitReader, BitWriter};
use super::chunk::{ChunkError, Encoding};
use super::column::{self, ColumnReader};
use super::decimal::{MAX_SCALE, pow10};
use super::xor::{XorReader, XorWriter};
use crate::model::Sample;
use crate::model::varint;

/// Value kind: XOR'd float bits.
pub const XOR: u8 = 0;
/// Value kind: decimal integers, plus the run's order (0–2).
pub const DECIMAL: u8 = 1;

/// Appends `xs` as an integer run of `order` (≤ 2).
fn write_run(out: &mut Vec<u8>, xs: &[i64], order: usize) {
    let mut diffs = xs.to_vec();
    for level in 0..order {
        for i in (level + 1..diffs.len()).rev() {
            diffs[i] = diffs[i].wrapping_sub(diffs[i - 1]);
        }
    }
    let seeds = order.min(diffs.len());
    for &seed in &diffs[..seeds] {
        varint::put_signed(out, seed);
    }
    column::write(out, &diffs[seeds..]);
}

/// The run of `xs` at the cheapest order in `orders`: (order, bytes).
fn smallest_run(xs: &[i64], orders: std::ops::RangeInclusive<u8>) -> (u8, Vec<u8>) {
    let mut best: Option<(u8, Vec<u8>)> = None;
    for order in orders {
        let mut run = Vec::new();
        write_run(&mut run, xs, usize::from(order));
        if best.as_ref().is_none_or(|(_, b)| run.len() < b.len()) {
            best = Some((order, run));
        }
    }
    best.unwrap_or_default()
}

/// Encodes `samples` (at least one, at most `u16::MAX`); `decimal` is `(k, values × 10^k)` when
/// every value is such a decimal (`k` ≤ [`MAX_SCALE`]).
pub fn encode(samples: &[Sample], decimal: Option<(u8, &[i64])>) -> Vec<u8> {
    let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
    let (ts_order, ts) = smallest_run(&ts, 1..=2);
    let (mut kind, mut k, mut values) = (XOR, 0, xor_values(samples));
    if let Some((scale, ints)) = decimal {
        let (order, run) = smallest_run(ints, 0..=2);
        if run.len() < values.len() {
            (kind, k, values) = (DECIMAL + order, scale, run);
        }
    }
    let mut out = Vec::with_capacity(12 + ts.len() + values.len());
    out.push(Encoding::Packed as u8);
    varint::put(&mut out, samples.len() as u64);
    out.push(ts_order << 6 | kind << 3 | k);
    out.extend_from_slice(&ts);
    out.extend_from_slice(&values);
    out
}

/// The XOR value column: the first value's bits, the code of the others.
fn xor_values(samples: &[Sample]) -> Vec<u8> {
    let Some((first, rest)) = samples.split_first() else {
        return Vec::new();
    };
    let mut w = BitWriter::default();
    w.write(first.v.to_bits(), 64);
    let mut xor = XorWriter::new(first.v.to_bits());
    for s in rest {
        xor.write(&mut w, s.v.to_bits());
    }
    w.buf
}

/// Samples decoded at a time: two stack blocks of integers, small enough to stay in L1.
const BLOCK: usize = 64;

/// An integer run being read.
#[derive(Debug, Clone)]
struct Run<'a> {
    col: ColumnReader<'a>,
    order: u8,
    /// The last integer read.
    x: i64,
    /// The last delta (order 2).
    d: i64,
    /// Integers read so far.
    i: usize,
}

impl<'a> Run<'a> {
    /// Parses a run of `n` integers and `order` (≤ 2) at the front of `data`, advancing it.
    fn parse(data: &mut &'a [u8], n: usize, order: u8) -> Option<Self> {
        let seeds = usize::from(order).min(n);
        let x = if seeds > 0 {
            varint::get_signed(data)?
        } else {
            0
        };
        let d = if seeds > 1 {
            varint::get_signed(data)?
        } else {
            0
        };
        let col = ColumnReader::parse(data, n - seeds)?;
        Some(Self {
            col,
            order,
            x,
            d,
            i: 0,
        })
    }

    /// Fills `out` with the next `out.len()` integers.
    #[inline]
    fn read(&mut self, out: &mut [i64]) {
        let mut rest = &mut out[..];
        // The seeds: the first integer, then (order 2) the first delta applied.
        while self.i < usize::from(self.order) {
            let Some((first, tail)) = rest.split_first_mut() else {
                return;
            };
            if self.i == 1 {
                self.x = self.x.wrapping_add(self.d);
            }
            *first = self.x;
            self.i += 1;
            rest = tail;
        }
        self.col.read(rest);
        self.i += rest.len();
        match self.order {
            0 => {}
            1 => {
                for x in rest.iter_mut() {
                    self.x = self.x.wrapping_add(*x);
                    *x = self.x;
                }
            }
            _ => {
                for x in rest.iter_mut() {
                    self.d = self.d.wrapping_add(*x);
                    self.x = self.x.wrapping_add(self.d);
                    *x = self.x;
                }
            }
        }
    }
}

/// How the values are read.
#[derive(Debug, Clone)]
enum Values<'a> {
    Xor { bits: BitReader<'a>, xor: XorReader },
    Decimal { run: Run<'a>, pow: f64 },
}

/// Reads a packed chunk a block of samples at a time.
#[derive(Debug, Clone)]
pub struct PackedIter<'a> {
    ts: Run<'a>,
    values: Values<'a>,
    count: usize,
    /// Samples decoded into the block buffers so far.
    decoded: usize,
    /// The current block: `len` samples, `at` of them already yielded.
    block_t: [i64; BLOCK],
    block_v: [f64; BLOCK],
    len: usize,
    at: usize,
}

impl<'a> PackedIter<'a> {
    /// Parses the chunk `body` (after its encoding byte); every column but an XOR one is checked
    /// to be complete here, so later reads cannot run short.
    pub fn new(body: &'a [u8]) -> Result<Self, ChunkError> {
        let mut data = body;
        let short = |count| ChunkError::Truncated { decoded: 0, count };
        let count = varint::get(&mut data)
            .and_then(|c| usize::try_from(c).ok())
            .ok_or(short(0))?;
        if count > usize::from(u16::MAX) {
            return Err(ChunkError::Malformed("more than 65535 samples"));
        }
        let (&layout, rest) = data.split_first().ok_or(short(count))?;
        let (ts_order, kind, k) = (layout >> 6, (layout >> 3) & 7, layout & 7);
        if ts_order > 2 {
            return Err(ChunkError::Malformed("timestamp order above 2"));
        }
        data = rest;
        let ts = Run::parse(&mut data, count, ts_order).ok_or(short(count))?;
        let values = match kind {
            XOR => Values::Xor {
                bits: BitReader::new(data),
                xor: XorReader::default(),
            },
            DECIMAL..=3 if k <= MAX_SCALE => Values::Decimal {
                run: Run::parse(&mut data, count, kind - DECIMAL).ok_or(short(count))?,
                pow: pow10(k),
            },
            _ => return Err(ChunkError::Malformed("unknown value kind")),
        };
        Ok(Self {
            ts,
            values,
            count,
            decoded: 0,
            block_t: [0; BLOCK],
            block_v: [0.0; BLOCK],
            len: 0,
            at: 0,
        })
    }

    /// Samples the chunk holds.
    pub fn sample_count(&self) -> usize {
        self.count
    }

    /// Decodes the next `t.len()` (≤ [`BLOCK`]) samples; `None` when an XOR column runs short.
    #[inline]
    fn block(&mut self, t: &mut [i64], v: &mut [f64]) -> Option<()> {
        self.ts.read(t);
        match &mut self.values {
            Values::Decimal { run, pow } => {
                let mut ints = [0i64; BLOCK];
                let ints = &mut ints[..v.len()];
                run.read(ints);
                for (v, &i) in v.iter_mut().zip(ints.iter()) {
                    *v = i as f64 / *pow;
                }
            }
            Values::Xor { bits, xor } => {
                for (i, v) in v.iter_mut().enumerate() {
                    if self.decoded + i == 0 {
                        xor.prev = bits.read(64)?;
                    } else {
                        xor.read(bits)?;
                    }
                    *v = f64::from_bits(xor.prev);
                }
            }
        }
        self.decoded += t.len();
        Some(())
    }

    /// Appends every sample not yet yielded to `out`.
    pub fn read_into(mut self, out: &mut Vec<Sample>) -> Result<(), ChunkError> {
        out.reserve(self.count - self.decoded + self.len - self.at);
        let buffered = self.block_t[self.at..self.len].iter();
        out.extend(
            buffered
                .zip(&self.block_v[self.at..self.len])
                .map(|(&t, &v)| Sample { t, v }),
        );
        let (mut t, mut v) = ([0i64; BLOCK], [0f64; BLOCK]);
        while self.decoded < self.count {
            let n = (self.count - self.decoded).min(BLOCK);
            let (t, v) = (&mut t[..n], &mut v[..n]);
            self.block(t, v).ok_or_else(|| self.truncated())?;
            out.extend(t.iter().zip(v.iter()).map(|(&t, &v)| Sample { t, v }));
        }
        Ok(())
    }

    fn truncated(&self) -> ChunkError {
        ChunkError::Truncated {
            decoded: self.decoded,
            count: self.count,
        }
    }
}

impl Iterator for PackedIter<'_> {
    type Item = Result<Sample, ChunkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.at == self.len {
            if self.decoded >= self.count {
                return None;
            }
            let n = (self.count - self.decoded).min(BLOCK);
            let (mut t, mut v) = (self.block_t, self.block_v);
            if self.block(&mut t[..n], &mut v[..n]).is_none() {
                let err = self.truncated();
                self.decoded = self.count;
                return Some(Err(err));
            }
            (self.block_t, self.block_v, self.len, self.at) = (t, v, n, 0);
        }
        let s = Sample {
            t: self.block_t[self.at],
            v: self.block_v[self.at],
        };
        self.at += 1;
        Some(Ok(s))
    }
}
