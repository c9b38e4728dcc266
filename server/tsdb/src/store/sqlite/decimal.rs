//! Decimal values: those that are integers over 10^k, for small k, are stored as the scaled
//! integers (see [`super::packed`]; [`encode`] writes the older stream encodings, see
//! [`super::chunk`], kept for tests of the reader).

#[cfg(test)]
use super::bits::BitWriter;
#[cfg(test)]
use super::chunk::Encoding;
#[cfg(test)]
use super::stream::{DEC_WIDTHS, TS_WIDTHS};
use crate::model::Sample;

/// Largest decimal scale tried (10^6: microseconds, ppm).
pub const MAX_SCALE: u8 = 6;

/// 10^k as a decoder divides by it: every value is checked to come back bit for bit this way.
pub fn pow10(k: u8) -> f64 {
    10f64.powi(i32::from(k))
}

/// The smallest `k` for which every value is an integer over 10^k, and those integers.
pub fn scale(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    'scale: for k in 0..=MAX_SCALE {
        let pow = pow10(k);
        let mut ints = Vec::with_capacity(samples.len());
        for s in samples {
            let scaled = (s.v * pow).round();
            if !scaled.is_finite() || scaled.abs() >= 9.0e15 {
                return None;
            }
            let i = scaled as i64;
            if (i as f64 / pow).to_bits() != s.v.to_bits() {
                continue 'scale;
            }
            ints.push(i);
        }
        return Some((k, ints));
    }
    None
}

/// Encodes samples whose values are `ints / 10^k` with `enc` (a decimal stream encoding).
#[cfg(test)]
pub fn encode(samples: &[Sample], ints: &[i64], k: u8, enc: Encoding) -> Vec<u8> {
    let mut w = BitWriter::default();
    let (mut prev_t, mut prev_dt, mut prev_v, mut prev_dv) = (0i64, 0i64, 0i64, 0i64);
    for (i, (s, &v)) in samples.iter().zip(ints).enumerate() {
        if i == 0 {
            w.write(s.t as u64, 64);
            w.write(v as u64, 64);
        } else {
            let dt = s.t.wrapping_sub(prev_t);
            w.signed(dt.wrapping_sub(prev_dt), &TS_WIDTHS);
            let dv = v.wrapping_sub(prev_v);
            let code = if enc == Encoding::DecimalDod {
                dv.wrapping_sub(prev_dv)
            } else {
                dv
            };
            w.signed(code, &DEC_WIDTHS);
            prev_dt = dt;
            prev_dv = dv;
        }
        prev_t = s.t;
        prev_v = v;
    }
    let mut out = Vec::with_capacity(4 + w.buf.len());
    out.push(enc as u8);
    out.extend_from_slice(&(samples.len() as u16).to_be_bytes());
    out.push(k);
    out.extend_from_slice(&w.buf);
    out
}
