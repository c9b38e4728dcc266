//! Bit-level writing and reading for chunks, and the variable-width signed integer code that
//! timestamps and decimal values share.

/// The low `n` bits of `value` (`n` ≤ 64).
pub fn low_bits(value: u64, n: u32) -> u64 {
    if n == 64 {
        value
    } else {
        value & ((1 << n) - 1)
    }
}

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    /// The bytes written; the last one may be partly filled.
    pub buf: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    /// Writes the low `n` bits of `value` (`n` ≤ 64).
    pub fn write(&mut self, value: u64, n: u32) {
        if n == 0 {
            return;
        }
        let value = low_bits(value, n);
        let used = (self.bits % 8) as u32;
        // The last byte's used bits, then the new ones: at most 71 bits, flushed as whole bytes.
        let partial = if used > 0 {
            self.buf.pop().unwrap_or(0) >> (8 - used)
        } else {
            0
        };
        let total = used + n;
        let bytes = total.div_ceil(8);
        let wide = ((u128::from(partial) << n) | u128::from(value)) << (bytes * 8 - total);
        self.grow(bytes as usize);
        self.buf
            .extend_from_slice(&wide.to_be_bytes()[16 - bytes as usize..]);
        self.bits += n as usize;
    }

    /// The last byte written (0 before any): the memory the next write starts in.
    pub fn last_byte(&self) -> u8 {
        self.buf.last().copied().unwrap_or(0)
    }

    /// Bits written so far.
    pub fn len_bits(&self) -> usize {
        self.bits
    }

    /// Drops the first `n` bytes held (they are kept elsewhere): `buf` then holds the stream
    /// from a later byte, and `len_bits` still counts from the stream's start. Into a buffer
    /// of just the bytes kept: keeping the old one's capacity held the largest each series
    /// ever had (1,002 against 951 bytes per series at a million series).
    pub fn drop_front(&mut self, n: usize) {
        self.buf = self.buf[n.min(self.buf.len())..].to_vec();
    }

    /// Writes one bit.
    pub fn bit(&mut self, on: bool) {
        self.write(u64::from(on), 1);
    }

    /// Makes room for `more` bytes, growing by a quarter instead of doubling: an open chunk lives
    /// for an hour in every series, so slack costs RAM per series while a few more reallocations
    /// cost nothing.
    fn grow(&mut self, more: usize) {
        if self.buf.len() + more > self.buf.capacity() {
            self.buf.reserve_exact(more.max(self.buf.len() / 4 + 16));
        }
    }

    /// Writes `v` as "0" when zero, else a 1–4 bit prefix selecting the first width of `widths`
    /// that holds it as two's complement (the last width must be 64).
    pub fn signed(&mut self, v: i64, widths: &[u32; 4]) {
        if v == 0 {
            self.bit(false);
            return;
        }
        for (i, &width) in widths.iter().enumerate() {
            let half = 1i64.checked_shl(width - 1).unwrap_or(i64::MAX);
            if width == 64 || (-half <= v && v < half) {
                let ones = i as u32 + 1;
                match ones {
                    4 => self.write(0b1111, 4),
                    _ => self.write(((1u64 << ones) - 1) << 1, ones + 1),
                }
                self.write(v as u64, width);
                return;
            }
        }
    }
}

/// The 64 bits of `data` from byte `byte` on, zero-padded past its end.
#[inline]
pub fn word_at(data: &[u8], byte: usize) -> u64 {
    match data.get(byte..).and_then(<[u8]>::first_chunk::<8>) {
        Some(w) => u64::from_be_bytes(*w),
        None => tail_word(data, byte),
    }
}

/// The slow path of [`word_at`], within 8 bytes of the end.
#[cold]
fn tail_word(data: &[u8], byte: usize) -> u64 {
    let mut word = [0u8; 8];
    let rest = data.get(byte..).unwrap_or_default();
    word[..rest.len()].copy_from_slice(rest);
    u64::from_be_bytes(word)
}

/// The `n` bits (≤ 64) of `data` at bit `pos` as a number, zero-padded past its end: one
/// unaligned big-endian load (two when `n` > 56).
#[inline]
pub fn bits_at(data: &[u8], pos: usize, n: u32) -> u64 {
    if n == 0 {
        return 0;
    }
    let shift = (pos % 8) as u32;
    let mut word = word_at(data, pos / 8) << shift;
    if n + shift > 64 {
        let next = data.get(pos / 8 + 8).copied().unwrap_or(0);
        word |= u64::from(next) >> (8 - shift);
    }
    word >> (64 - n)
}

/// Reads bits written by [`BitWriter`]; every read past the end is `None`.
///
/// The bits ahead are kept in one register (`word`), refilled by one unaligned load when a
/// read needs more than it holds: most fields are a few bits (a 1-bit "same delta", a 2-bit
/// XOR control), and reading each from memory made every sample a chain of dependent loads.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
    len: usize,
    /// The bits from `pos` on, most significant first; the low `64 - avail` bits are zero.
    word: u64,
    avail: u32,
}

impl<'a> BitReader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::at(buf, 0)
    }

    /// Reads from bit `pos` of `buf` on (a position [`BitWriter::len_bits`] reported).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Self {
            buf,
            pos: pos.min(buf.len() * 8),
            len: buf.len() * 8,
            word: 0,
            avail: 0,
        }
    }

    /// Loads the bits from `pos` on: at least 57 of them.
    #[inline]
    fn refill(&mut self) {
        let shift = (self.pos % 8) as u32;
        self.word = word_at(self.buf, self.pos / 8) << shift;
        self.avail = 64 - shift;
    }

    /// The next `n` bits (1 ≤ `n` ≤ 57) without consuming them, zero-padded past the end.
    #[inline]
    pub fn peek_bits(&mut self, n: u32) -> u64 {
        if self.avail < n {
            self.refill();
        }
        self.word >> (64 - n)
    }

    /// Consumes `n` bits.
    #[inline]
    pub fn skip(&mut self, n: u32) -> Option<()> {
        let pos = self.pos + n as usize;
        if pos > self.len {
            return None;
        }
        self.pos = pos;
        if n < self.avail {
            self.word <<= n;
            self.avail -= n;
        } else {
            (self.word, self.avail) = (0, 0);
        }
        Some(())
    }

    /// Reads `n` bits (`n` ≤ 64).
    #[inline]
    pub fn read(&mut self, n: u32) -> Option<u64> {
        let value = match n {
            0 => 0,
            1..=57 => self.peek_bits(n),
            _ => bits_at(self.buf, self.pos, n),
        };
        self.skip(n)?;
        Some(value)
    }

    /// Reads a value written by [`BitWriter::signed`] with the same `widths`.
    #[inline]
    pub fn signed(&mut self, widths: &[u32; 4]) -> Option<i64> {
        // The 1–4 bit prefix is decoded from one peek rather than bit by bit.
        let ones = ((self.peek_bits(4) as u8) << 4).leading_ones() as usize;
        let prefix = if ones == 4 { 4 } else { ones + 1 };
        self.skip(prefix as u32)?;
        if ones == 0 {
            return Some(0);
        }
        let width = widths[ones - 1];
        let raw = self.read(width)?;
        let shift = 64 - width;
        Some(((raw << shift) as i64) >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::testutil::Rng;

    #[test]
    fn fields_of_every_width_read_back_through_the_register_and_stop_at_the_end() {
        // Arrange: random widths 0..=64, so refills fall at every offset.
        let mut rng = Rng::new(11);
        let fields: Vec<(u32, u64)> = (0..2000)
            .map(|_| {
                let n = rng.below(65) as u32;
                (n, low_bits(rng.next(), n))
            })
            .collect();
        let mut w = BitWriter::default();
        for &(n, v) in &fields {
            w.write(v, n);
        }
        let total: u32 = fields.iter().map(|f| f.0).sum();

        // Act
        let mut r = BitReader::new(&w.buf);
        let back: Vec<(u32, u64)> = fields
            .iter()
            .map(|&(n, _)| {
                if n > 0 && n <= 57 {
                    assert_eq!(r.peek_bits(n), r.clone().read(n).expect("peek"));
                }
                (n, r.read(n).expect("read"))
            })
            .collect();

        // Assert
        assert_eq!(back, fields);
        let padding = (w.buf.len() * 8) as u32 - total;
        assert_eq!(r.read(padding), Some(0));
        assert_eq!(r.read(1), None);
        assert_eq!(r.skip(1), None);
    }

    #[test]
    fn signed_values_of_every_width_round_trip() {
        // Arrange
        let widths = [7, 14, 24, 64];
        let values = [
            0,
            1,
            -1,
            63,
            -64,
            64,
            8191,
            -8192,
            1 << 23,
            i64::MIN,
            i64::MAX,
        ];
        let mut w = BitWriter::default();

        // Act
        for v in values {
            w.signed(v, &widths);
        }
        let mut r = BitReader::new(&w.buf);
        let back: Vec<i64> = values
            .iter()
            .map(|_| r.signed(&widths).expect("read"))
            .collect();

        // Assert
        assert_eq!(back, values);
    }
}
