//! The Gorilla XOR code for float values, shared by the open chunk's stream ([`super::chunk`])
//! and the packed encoding's XOR column ([`super::packed`]).
//!
//! Each value is XOR'd with the previous one's bits: "0" when equal, "10" + the meaningful bits
//! when they fit the previous window, else "11" + 5-bit leading zeros + 6-bit length (0 for 64) +
//! the meaningful bits. Values are raw `u64` bits, so every NaN payload round-trips exactly.

use super::bits::{BitReader, BitWriter};

/// The writer's window: `leading` is 0xff before the first window is written.
#[derive(Debug, Clone, Copy)]
pub struct XorWriter {
    /// Bits of the previous value.
    pub prev: u64,
    /// Leading zeros of the current window (0xff: none yet).
    pub leading: u8,
    /// Trailing zeros of the current window.
    pub trailing: u8,
}

impl XorWriter {
    /// A writer whose first value will be `first` (already stored raw).
    pub fn new(first: u64) -> Self {
        Self {
            prev: first,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Appends the code of `bits` to `w`.
    pub fn write(&mut self, w: &mut BitWriter, bits: u64) {
        let xor = bits ^ self.prev;
        self.prev = bits;
        if xor == 0 {
            w.bit(false);
            return;
        }
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            let sig = 64 - u32::from(self.leading) - u32::from(self.trailing);
            w.write(0b10, 2);
            w.write(xor >> self.trailing, sig);
            return;
        }
        let sig = 64 - u32::from(leading) - u32::from(trailing);
        // "11", 5 bits of leading zeros, 6 of length (64 written as 0: a zero XOR never gets here).
        let head = (0b11 << 11) | (u64::from(leading) << 6) | (u64::from(sig) & 0x3f);
        w.write(head, 13);
        w.write(xor >> trailing, sig);
        self.leading = leading;
        self.trailing = trailing;
    }
}

/// The reader's window.
#[derive(Debug, Clone, Copy, Default)]
pub struct XorReader {
    /// Bits of the previous value.
    pub prev: u64,
    /// Leading zeros of the current window.
    pub leading: u32,
    /// Trailing zeros of the current window.
    pub trailing: u32,
}

impl XorReader {
    /// Reads the next value's bits from `r`; `None` when the data ends or is malformed.
    #[inline]
    pub fn read(&mut self, r: &mut BitReader<'_>) -> Option<u64> {
        let control = r.peek_bits(2);
        if control < 0b10 {
            r.skip(1)?;
            return Some(self.prev);
        }
        if control == 0b11 {
            let head = r.read(13)?;
            self.leading = ((head >> 6) & 0x1f) as u32;
            let sig = match (head & 0x3f) as u32 {
                0 => 64,
                n => n,
            };
            self.trailing = 64u32.checked_sub(self.leading + sig)?;
        } else {
            r.skip(2)?;
        }
        let sig = 64 - self.leading - self.trailing;
        self.prev ^= r.read(sig)? << self.trailing;
        Some(self.prev)
    }
}
