//! The decimal chunk encodings' writer: values that are integers over 10^k, for small k, are
//! stored as the scaled integers' deltas or delta-of-deltas (see [`super::chunk`] for the layout).

use super::bits::BitWriter;
use super::chunk::{DEC_WIDTHS, Encoding, TS_WIDTHS};
use crate::model::Sample;

/// Largest decimal scale tried (10^6: microseconds, ppm).
const MAX_SCALE: u8 = 6;

/// The smallest `k` for which every value is an integer over 10^k, and those integers.
pub fn scale(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    'scale: for k in 0..=MAX_SCALE {
        let pow = 10f64.powi(i32::from(k));
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

/// Encodes samples whose values are `ints / 10^k` with `enc` (a decimal encoding).
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
