//! Integer columns of the packed chunk encoding: a run of `i64`s bit-packed around a base, with
//! the few that do not fit patched in afterwards ("patched frame of reference").
//!
//! Layout: the base as a zig-zag varint; one byte `b`, the width of every packed residual
//! (0..=64), with its top bit set when some residuals are wider; if so, one byte `w` (the widest
//! residual's width) and the count of those exceptions (varint). Then each residual's low `b` bits,
//! then per exception its index (as many bits as the largest index needs) and its high `w - b`
//! bits, zero-padded to a byte. A residual is `varint::zigzag(x - base)` with wrapping arithmetic, so every
//! `i64` round-trips; the writer picks the base (median or midrange) and `b` that cost fewest bits.
//! A column of identical values (regular timestamps, constants, steady counters) is two bytes.

use super::bits::{bits_at, word_at};
use crate::model::varint;

/// Set in the width byte when exceptions follow.
const HAS_EXCEPTIONS: u8 = 0x80;

/// Bits needed to write `v` (0 for 0).
fn width(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Bits of an exception's index in a column of `m` values.
fn index_bits(m: usize) -> u32 {
    width(m.saturating_sub(1) as u64)
}

/// How one column is packed: the cheapest choice [`plan`] found.
#[derive(Debug, Clone, Copy)]
struct Plan {
    base: i64,
    /// Width of every packed residual.
    b: u32,
    /// Width of the widest residual.
    w: u32,
    /// Residuals wider than `b`.
    exceptions: usize,
    /// Total size in bits, header included.
    bits: u64,
}

/// The cheapest `b` for residuals of `xs` around `base`.
fn plan_for(xs: &[i64], base: i64) -> Plan {
    let mut by_width = [0usize; 65];
    for &x in xs {
        by_width[width(varint::zigzag(x.wrapping_sub(base))) as usize] += 1;
    }
    let w = (0..=64u32)
        .rev()
        .find(|&n| by_width[n as usize] > 0)
        .unwrap_or(0);
    let m = xs.len() as u64;
    let header = 8 * (varint::zigzag(base).max(1).ilog2() as u64 / 7 + 1) + 8;
    let mut best = Plan {
        base,
        b: w,
        w,
        exceptions: 0,
        bits: header + m * u64::from(w),
    };
    let mut wider = 0usize;
    for b in (0..w).rev() {
        wider += by_width[b as usize + 1];
        let e = wider as u64;
        let patch =
            8 + 8 * (e.ilog2() as u64 / 7 + 1) + e * u64::from(index_bits(xs.len()) + w - b);
        let bits = header + m * u64::from(b) + patch;
        if bits < best.bits {
            best = Plan {
                base,
                b,
                w,
                exceptions: wider,
                bits,
            };
        }
    }
    best
}

/// The cheapest packing of `xs`: around the median (robust to outliers) or the midrange (narrowest
/// when values spread evenly).
fn plan(xs: &[i64]) -> Plan {
    let mut sorted = xs.to_vec();
    let mid = sorted.len() / 2;
    let (_, &mut median, _) = sorted.select_nth_unstable(mid);
    let (min, max) = xs
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let midrange = ((i128::from(min) + i128::from(max)) / 2) as i64;
    let a = plan_for(xs, median);
    let b = plan_for(xs, midrange);
    if b.bits < a.bits { b } else { a }
}

/// Appends bits most significant first to a byte vector through a 64-bit accumulator.
struct Packer<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    /// Bits held in `acc` (its low bits), always < 8 between writes.
    held: u32,
}

impl Packer<'_> {
    fn write(&mut self, value: u64, n: u32) {
        if n == 0 {
            return;
        }
        let value = super::bits::low_bits(value, n);
        let total = self.held + n;
        // Up to 71 bits: the held ones above the new ones, flushed whole bytes at a time.
        let wide = (u128::from(self.acc) << n) | u128::from(value);
        let full = total / 8;
        self.held = total % 8;
        let bytes = (wide >> self.held).to_be_bytes();
        self.out.extend_from_slice(&bytes[16 - full as usize..]);
        self.acc = (wide & ((1 << self.held) - 1)) as u64;
    }

    fn finish(self) {
        if self.held > 0 {
            self.out.push((self.acc << (8 - self.held)) as u8);
        }
    }
}

/// Appends the column of `xs` to `out` (nothing when `xs` is empty: the reader knows the count).
pub fn write(out: &mut Vec<u8>, xs: &[i64]) {
    if xs.is_empty() {
        return;
    }
    let p = plan(xs);
    varint::put_signed(out, p.base);
    if p.exceptions == 0 {
        out.push(p.b as u8);
    } else {
        out.push(p.b as u8 | HAS_EXCEPTIONS);
        out.push(p.w as u8);
        varint::put(out, p.exceptions as u64);
    }
    out.reserve(p.bits.div_ceil(8) as usize);
    let mut bits = Packer {
        out,
        acc: 0,
        held: 0,
    };
    for &x in xs {
        bits.write(varint::zigzag(x.wrapping_sub(p.base)), p.b);
    }
    let index_bits = index_bits(xs.len());
    for (i, &x) in xs.iter().enumerate() {
        let r = varint::zigzag(x.wrapping_sub(p.base));
        if width(r) > p.b {
            bits.write(i as u64, index_bits);
            bits.write(r >> p.b, p.w - p.b);
        }
    }
    bits.finish();
}

/// Reads one column value by value.
#[derive(Debug, Clone)]
pub struct ColumnReader<'a> {
    /// The packed residuals and exceptions (and possibly more bytes after them).
    data: &'a [u8],
    base: i64,
    b: u32,
    /// Bit position of the next residual.
    pos: usize,
    /// Index of the next value.
    i: usize,
    /// Index of the next exception (`usize::MAX` after the last).
    next_exception: usize,
    /// Bit position of the exception after `next_exception`'s high bits.
    exception_pos: usize,
    exceptions_left: usize,
    index_bits: u32,
    high_bits: u32,
}

impl<'a> ColumnReader<'a> {
    /// Parses the column of `m` values at the front of `data`, advancing `data` past it; `None`
    /// when `data` is too short or the header is malformed.
    pub fn parse(data: &mut &'a [u8], m: usize) -> Option<Self> {
        let mut r = Self {
            data: &[],
            base: 0,
            b: 0,
            pos: 0,
            i: 0,
            next_exception: usize::MAX,
            exception_pos: 0,
            exceptions_left: 0,
            index_bits: index_bits(m),
            high_bits: 0,
        };
        if m == 0 {
            return Some(r);
        }
        r.base = varint::get_signed(data)?;
        let (&byte, rest) = data.split_first()?;
        *data = rest;
        r.b = u32::from(byte & !HAS_EXCEPTIONS);
        if byte & HAS_EXCEPTIONS != 0 {
            let (&w, rest) = data.split_first()?;
            *data = rest;
            r.high_bits = u32::from(w).checked_sub(r.b).filter(|&h| h > 0)?;
            r.exceptions_left = usize::try_from(varint::get(data)?).ok()?;
        }
        if r.b > 64 || r.b + r.high_bits > 64 || r.exceptions_left > m {
            return None;
        }
        let packed = m.checked_mul(r.b as usize)?;
        let patches = r.exceptions_left * (r.index_bits + r.high_bits) as usize;
        let len = packed.checked_add(patches)?.div_ceil(8);
        // Reads may look past the column (never use those bits): fewer slow loads near its end.
        r.data = *data;
        *data = data.get(len..)?;
        r.exception_pos = packed;
        r.next_exception();
        Some(r)
    }

    /// Reads the next exception's index (its high bits are read when it is reached).
    fn next_exception(&mut self) {
        if self.exceptions_left == 0 {
            self.next_exception = usize::MAX;
            return;
        }
        self.exceptions_left -= 1;
        self.next_exception = bits_at(self.data, self.exception_pos, self.index_bits) as usize;
        self.exception_pos += self.index_bits as usize;
    }

    /// Fills `out` with the next `out.len()` values; past the column's `m` values it yields
    /// garbage, never panics.
    #[inline]
    pub fn read(&mut self, out: &mut [i64]) {
        self.unpack(out);
        let end = self.i + out.len();
        while self.next_exception < end {
            let at = self.next_exception.wrapping_sub(self.i);
            let high = self.exception_high();
            if let Some(r) = out.get_mut(at) {
                *r |= (high << self.b) as i64;
            }
        }
        self.i = end;
        let base = self.base;
        for x in out.iter_mut() {
            *x = base.wrapping_add(varint::unzigzag(*x as u64));
        }
    }

    /// The packed residuals' low bits into `out`, one load each.
    #[inline]
    fn unpack(&mut self, out: &mut [i64]) {
        let (data, b) = (self.data, self.b);
        let mut pos = self.pos;
        match b {
            0 => out.fill(0),
            // The widths that fit one 64-bit load at any bit offset.
            1..=56 => {
                for r in out.iter_mut() {
                    *r = ((word_at(data, pos / 8) << (pos % 8)) >> (64 - b)) as i64;
                    pos += b as usize;
                }
            }
            _ => {
                for r in out.iter_mut() {
                    *r = bits_at(data, pos, b) as i64;
                    pos += b as usize;
                }
            }
        }
        self.pos = pos;
    }

    /// Reads the high bits of the exception at `next_exception` and the next one's index.
    #[cold]
    fn exception_high(&mut self) -> u64 {
        let high = bits_at(self.data, self.exception_pos, self.high_bits);
        self.exception_pos += self.high_bits as usize;
        self.next_exception();
        high
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::testutil::Rng;

    fn round_trip(xs: &[i64]) -> (Vec<i64>, usize) {
        let mut out = Vec::new();
        write(&mut out, xs);
        out.push(0xAB);
        let mut data = out.as_slice();
        let mut r = ColumnReader::parse(&mut data, xs.len()).expect("parse");
        let mut back = vec![0; xs.len()];
        // In uneven blocks, as readers ask for them.
        let (first, rest) = back.split_at_mut(xs.len() / 3);
        r.read(first);
        r.read(rest);
        assert_eq!(data, &[0xAB], "the column ends where the writer stopped");
        (back, out.len() - 1)
    }

    #[test]
    fn extreme_and_random_values_round_trip() {
        let mut rng = Rng::new(3);
        for len in [1usize, 2, 3, 7, 64, 239, 1000] {
            for kind in 0..5 {
                // Arrange
                let xs: Vec<i64> = (0..len)
                    .map(|_| match kind {
                        0 => rng.next() as i64,
                        1 => rng.below(100_000) as i64,
                        2 if rng.below(20) == 0 => [i64::MIN, i64::MAX, -1][rng.below(3) as usize],
                        2 => rng.below(9) as i64 - 4,
                        3 => 15_000,
                        _ => [i64::MIN, i64::MAX][rng.below(2) as usize],
                    })
                    .collect();

                // Act
                let (back, _) = round_trip(&xs);

                // Assert
                assert_eq!(back, xs, "len {len} kind {kind}");
            }
        }
    }

    #[test]
    fn equal_values_take_two_bytes_and_outliers_are_patched_not_widened() {
        // Arrange
        let constant = vec![15_000i64; 240];
        let mut jumpy: Vec<i64> = (0..240).map(|i| i % 4).collect();
        jumpy[100] = -1_000_000_000_000;

        // Act
        let (_, constant_len) = round_trip(&constant);
        let (back, jumpy_len) = round_trip(&jumpy);

        // Assert
        assert_eq!(constant_len, 4, "base 15000 (3 bytes) + width byte");
        assert_eq!(back, jumpy);
        assert!(jumpy_len < 240 * 3 / 8 + 20, "{jumpy_len} bytes");
    }

    #[test]
    fn a_short_column_is_refused() {
        // Arrange
        let xs: Vec<i64> = (0..100).map(|i| i * i).collect();
        let mut out = Vec::new();
        write(&mut out, &xs);

        // Act
        let cut: Vec<bool> = (0..out.len())
            .map(|n| ColumnReader::parse(&mut &out[..n], xs.len()).is_none())
            .collect();

        // Assert
        assert!(cut.iter().all(|&refused| refused));
    }
}
