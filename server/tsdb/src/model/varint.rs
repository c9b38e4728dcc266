//! LEB128 varints and zigzag, the one home of both: the protobuf reader of ingest, the WAL
//! record format, the chunk columns and the rollup encodings all write and read them here.

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes ended before the varint's last byte.
    Truncated,
    /// More than 64 bits: over ten bytes, or a tenth byte above 1 (as prost refuses).
    Overlong,
}

/// The most bytes a `u64` varint takes.
pub const MAX_LEN: usize = 10;

/// Appends `v` as a LEB128 varint.
#[inline]
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint from the front of `data`: its value and the bytes it took.
#[inline]
pub fn decode(data: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(MAX_LEN) {
        if i == MAX_LEN - 1 && b > 1 {
            // The tenth byte holds bit 63 only: more would overflow a u64.
            return Err(VarintError::Overlong);
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok((v, i + 1));
        }
    }
    Err(match data.len() < MAX_LEN {
        true => VarintError::Truncated,
        false => VarintError::Overlong,
    })
}

/// Reads a varint from the front of `data`, advancing it; `None` if it is truncated or overlong.
#[inline]
pub fn get(data: &mut &[u8]) -> Option<u64> {
    let (v, len) = decode(data).ok()?;
    *data = &data[len..];
    Some(v)
}

/// Maps small negative and positive numbers to small unsigned ones: 0, -1, 1, -2… → 0, 1, 2, 3…
#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Appends `v` as a zigzag varint.
#[inline]
pub fn put_signed(out: &mut Vec<u8>, v: i64) {
    put(out, zigzag(v));
}

/// Reads a zigzag varint from the front of `data`, advancing it.
#[inline]
pub fn get_signed(data: &mut &[u8]) -> Option<i64> {
    get(data).map(unzigzag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_put_and_get() {
        // Arrange
        let values = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        let mut out = Vec::new();
        for v in values {
            put(&mut out, v);
        }

        // Act
        let mut data = out.as_slice();
        let back: Vec<u64> = std::iter::from_fn(|| get(&mut data)).collect();

        // Assert
        assert_eq!(back, values);
        assert!(data.is_empty());
    }

    #[test]
    fn truncated_and_overlong_varints_are_told_apart() {
        // Arrange
        let truncated = [0x80, 0x80];
        let eleven = [0xff; 11];
        let tenth_too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];

        // Act / Assert
        assert_eq!(decode(&truncated), Err(VarintError::Truncated));
        assert_eq!(decode(&eleven), Err(VarintError::Overlong));
        assert_eq!(decode(&tenth_too_big), Err(VarintError::Overlong));
        assert_eq!(get(&mut truncated.as_slice()), None);
    }

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_codes_and_back() {
        // Arrange
        let values = [0, -1, 1, -2, 2, i64::MIN, i64::MAX];

        // Act
        let codes: Vec<u64> = values.iter().map(|&v| zigzag(v)).collect();

        // Assert
        assert_eq!(&codes[..5], &[0, 1, 2, 3, 4]);
        assert!(values.iter().zip(&codes).all(|(&v, &z)| unzigzag(z) == v));
    }
}
