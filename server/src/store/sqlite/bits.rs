//! Bit-level writing and reading for chunks, and the variable-width signed integer code that
//! timestamps and decimal values share.

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    /// The bytes written; the last one may be partly filled.
    pub buf: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    /// Writes the low `n` bits of `value` (`n` ≤ 64).
    pub fn write(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            let used = (self.bits % 8) as u32;
            if used == 0 {
                self.grow();
                self.buf.push(0);
            }
            let free = 8 - used;
            let take = free.min(n);
            let part = (value >> (n - take)) & ((1u64 << take) - 1);
            if let Some(last) = self.buf.last_mut() {
                *last |= (part as u8) << (free - take);
            }
            self.bits += take as usize;
            n -= take;
        }
    }

    /// Bits written so far.
    pub fn len_bits(&self) -> usize {
        self.bits
    }

    /// Writes one bit.
    pub fn bit(&mut self, on: bool) {
        self.write(u64::from(on), 1);
    }

    /// Grows the buffer by a quarter instead of doubling: an open chunk lives for an hour in
    /// every series, so slack costs RAM per series while a few more reallocations cost nothing.
    fn grow(&mut self) {
        if self.buf.len() == self.buf.capacity() {
            self.buf.reserve_exact(self.buf.len() / 4 + 16);
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
                let mask = if width == 64 {
                    u64::MAX
                } else {
                    (1u64 << width) - 1
                };
                self.write(v as u64 & mask, width);
                return;
            }
        }
    }
}

/// Reads bits written by [`BitWriter`]; every read past the end is `None`.
pub struct BitReader<'a> {
    buf: &'a [u8],
    pos: usize,
    len: usize,
}

impl<'a> BitReader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            len: buf.len() * 8,
        }
    }

    /// Reads from bit `pos` of `buf` on (a position [`BitWriter::len_bits`] reported).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Self {
            buf,
            pos: pos.min(buf.len() * 8),
            len: buf.len() * 8,
        }
    }

    /// The 64 bits starting at the current position, zero-padded past the end.
    #[inline]
    fn peek(&self) -> u64 {
        let byte = self.pos / 8;
        let word = match self.buf.get(byte..byte + 8) {
            Some(b) => b.try_into().map_or(0, u64::from_be_bytes),
            None => self.tail_word(byte),
        };
        word << (self.pos % 8)
    }

    /// The last bytes of the buffer as the high bytes of a word (the slow path of `peek`).
    fn tail_word(&self, byte: usize) -> u64 {
        let mut word = [0u8; 8];
        let rest = self.buf.get(byte..).unwrap_or_default();
        word[..rest.len()].copy_from_slice(rest);
        u64::from_be_bytes(word)
    }

    /// Reads `n` bits (`n` ≤ 64).
    #[inline]
    pub fn read(&mut self, n: u32) -> Option<u64> {
        if n > 56 {
            let high = self.read(n - 32)?;
            let low = self.read(32)?;
            return Some((high << 32) | low);
        }
        if n == 0 {
            return Some(0);
        }
        if self.pos + n as usize > self.len {
            return None;
        }
        let w = self.peek();
        self.pos += n as usize;
        Some(w >> (64 - n))
    }

    /// Reads one bit.
    #[inline]
    pub fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    /// Reads a value written by [`BitWriter::signed`] with the same `widths`.
    #[inline]
    pub fn signed(&mut self, widths: &[u32; 4]) -> Option<i64> {
        // The 1–4 bit prefix is decoded from one peeked word rather than bit by bit.
        let ones = (self.peek() & !(1 << 59)).leading_ones() as usize;
        let prefix = if ones == 4 { 4 } else { ones + 1 };
        if self.pos + prefix > self.len {
            return None;
        }
        self.pos += prefix;
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
