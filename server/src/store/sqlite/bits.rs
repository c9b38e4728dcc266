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

    /// Writes one bit.
    pub fn bit(&mut self, on: bool) {
        self.write(u64::from(on), 1);
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
}

impl<'a> BitReader<'a> {
    /// Reads from the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Reads `n` bits (`n` ≤ 64).
    pub fn read(&mut self, n: u32) -> Option<u64> {
        if n > 56 {
            let high = self.read(n - 32)?;
            let low = self.read(32)?;
            return Some((high << 32) | low);
        }
        if n == 0 {
            return Some(0);
        }
        if self.pos + n as usize > self.buf.len() * 8 {
            return None;
        }
        let byte = self.pos / 8;
        let mut word = [0u8; 8];
        let avail = (self.buf.len() - byte).min(8);
        word[..avail].copy_from_slice(&self.buf[byte..byte + avail]);
        let w = u64::from_be_bytes(word) << (self.pos % 8);
        self.pos += n as usize;
        Some(w >> (64 - n))
    }

    /// Reads one bit.
    pub fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    /// Reads a value written by [`BitWriter::signed`] with the same `widths`.
    pub fn signed(&mut self, widths: &[u32; 4]) -> Option<i64> {
        let mut ones = 0;
        while ones < 4 && self.bit()? {
            ones += 1;
        }
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
