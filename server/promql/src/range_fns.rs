//! The arithmetic of functions over range vectors, on one series' samples at a time, written to
//! follow Prometheus 2.42's `funcs.go` step by step so results agree to the last bits.

use std::cmp::Ordering;

use super::extrapolate::{Edges, extrapolate};
use warroom_tsdb::model::Sample;

/// Where the selected range starts and ends (ms) and how long it is (s), as `rate` needs them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// First instant of the range (inclusive).
    pub(crate) start: i64,
    /// Last instant of the range (inclusive).
    pub(crate) end: i64,
}

impl Window {
    /// The range's length in seconds, which `rate` divides by.
    pub(crate) fn secs(self) -> f64 {
        self.end.saturating_sub(self.start) as f64 / 1000.0
    }
}

/// `rate`, `increase` and `delta`: the change over the samples, corrected for counter resets
/// and extrapolated towards the range edges (never below zero for counters).
pub(crate) fn extrapolated_rate(s: &[Sample], w: Window, counter: bool, rate: bool) -> Option<f64> {
    let mut edges = Edges::of(s, w)?;
    if counter {
        let mut prev = 0.0;
        for x in s {
            if x.v < prev {
                edges.change += prev;
            }
            prev = x.v;
        }
    }
    Some(extrapolate(edges, counter, rate.then(|| w.secs())))
}

/// `irate` and `idelta`: from the last two samples only.
pub(crate) fn instant_value(s: &[Sample], rate: bool) -> Option<f64> {
    let [.., prev, last] = s else { return None };
    let mut v = if rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t.saturating_sub(prev.t);
    if interval == 0 {
        return None;
    }
    if rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

/// Kahan-compensated running sum, as Prometheus' `kahanSumInc`.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Least-squares slope and intercept with x in seconds relative to `intercept_time`.
pub(crate) fn linear_regression(s: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = s.first().map_or(f64::NAN, |x| x.v);
    let mut const_y = true;
    for (i, x) in s.iter().enumerate() {
        if const_y && i > 0 && x.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let t = x.t.saturating_sub(intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(t, sx, cx);
        (sy, cy) = kahan_inc(x.v, sy, cy);
        (sxy, cxy) = kahan_inc(t * x.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(t * t, sx2, cx2);
    }
    if const_y {
        return if init_y.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init_y)
        };
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `deriv`: the per-second slope of the least-squares line.
pub(crate) fn deriv(s: &[Sample]) -> Option<f64> {
    (s.len() >= 2).then(|| linear_regression(s, s[0].t).0)
}

/// `predict_linear`: the least-squares line's value `secs` after evaluation time `t`.
pub(crate) fn predict_linear(s: &[Sample], t: i64, secs: f64) -> Option<f64> {
    (s.len() >= 2).then(|| {
        let (slope, intercept) = linear_regression(s, t);
        intercept + slope * secs
    })
}

/// `avg_over_time`: an incremental mean that survives infinities as Prometheus' does.
pub(crate) fn avg(s: &[Sample]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0_f64, 0.0, 0.0);
    for x in s {
        count += 1.0;
        if mean.is_infinite() {
            if x.v.is_infinite() && (mean > 0.0) == (x.v > 0.0) {
                continue;
            }
            if !x.v.is_infinite() && !x.v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(x.v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// `sum_over_time`.
pub(crate) fn sum(s: &[Sample]) -> f64 {
    let (sum, c) = s
        .iter()
        .fold((0.0, 0.0), |(sum, c), x| kahan_inc(x.v, sum, c));
    if sum.is_infinite() { sum } else { sum + c }
}

/// `max_over_time` (a NaN is replaced by any later value).
pub(crate) fn max(s: &[Sample]) -> f64 {
    s.iter()
        .skip(1)
        .fold(s[0].v, |m, x| if x.v > m || m.is_nan() { x.v } else { m })
}

/// `min_over_time`.
pub(crate) fn min(s: &[Sample]) -> f64 {
    s.iter()
        .skip(1)
        .fold(s[0].v, |m, x| if x.v < m || m.is_nan() { x.v } else { m })
}

/// `stdvar_over_time`: population variance (Welford with compensation).
pub(crate) fn stdvar(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in s {
        count += 1.0;
        let delta = x.v - (mean + cm);
        (mean, cm) = kahan_inc(delta / count, mean, cm);
        (aux, ca) = kahan_inc(delta * (x.v - (mean + cm)), aux, ca);
    }
    (aux + ca) / count
}

/// `changes`: how often the value changed (NaN to NaN is no change).
pub(crate) fn changes(s: &[Sample]) -> f64 {
    s.windows(2)
        .filter(|w| w[0].v != w[1].v && !(w[0].v.is_nan() && w[1].v.is_nan()))
        .count() as f64
}

/// `resets`: how often the value went down.
pub(crate) fn resets(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

/// The φ-quantile of `values` with linear interpolation between ranks, NaNs sorting first.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Ascending order with NaN below everything, as Go's `vectorByValueHeap` sorts.
pub(crate) fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { t, v }).collect()
    }

    #[test]
    fn a_counter_reset_adds_the_value_before_the_reset_to_the_increase() {
        // 0 → 10 → reset to 2 → 6: increase is 10 + 6 = 16 over 30 s, samples exactly at the edges.
        let s = samples(&[(0, 0.0), (10_000, 10.0), (20_000, 2.0), (30_000, 6.0)]);
        let w = Window {
            start: 0,
            end: 30_000,
        };
        assert_eq!(extrapolated_rate(&s, w, true, false), Some(16.0));
    }

    #[test]
    fn rate_extrapolates_to_the_range_edges_and_divides_by_the_range() {
        // Samples every 10 s from t=5 s to t=55 s with +1 per step, range [0, 60] s: 5 s missing at
        // each edge is below 1.1 × 10 s, so extrapolate 5 / (50 / 10 steps) → 5 × 60 / 50 = 6.
        let s: Vec<Sample> = (0..6)
            .map(|i| Sample {
                t: 5_000 + i * 10_000,
                v: 100.0 + i as f64,
            })
            .collect();
        let w = Window {
            start: 0,
            end: 60_000,
        };
        let increase = extrapolated_rate(&s, w, true, false).unwrap();
        assert!((increase - 6.0).abs() < 1e-12);
        assert!((extrapolated_rate(&s, w, true, true).unwrap() - 0.1).abs() < 1e-12);
    }

    #[test]
    fn a_counter_is_not_extrapolated_below_zero() {
        // Starts at 1 and gains 5 over 50 s: zero would be reached 10 s before the first sample,
        // so the start extrapolation is capped at 10 s instead of the 25 s to the range start.
        let s = samples(&[(30_000, 1.0), (80_000, 6.0)]);
        let w = Window {
            start: 5_000,
            end: 80_000,
        };
        assert_eq!(
            extrapolated_rate(&s, w, true, false),
            Some(5.0 * 60.0 / 50.0)
        );
    }

    #[test]
    fn irate_uses_the_last_two_samples_and_treats_a_drop_as_a_reset() {
        let s = samples(&[(0, 5.0), (10_000, 8.0), (20_000, 2.0)]);
        assert_eq!(instant_value(&s, true), Some(0.2));
        assert_eq!(instant_value(&s, false), Some(-6.0));
    }

    #[test]
    fn deriv_is_the_least_squares_slope_per_second() {
        let s = samples(&[(0, 1.0), (10_000, 3.0), (20_000, 5.0)]);
        assert!((deriv(&s).unwrap() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(0.5, &mut v), 2.5);
        assert_eq!(quantile(2.0, &mut v), f64::INFINITY);
    }

    #[test]
    fn over_time_statistics_match_hand_computed_values() {
        let s = samples(&[
            (0, 2.0),
            (1, 4.0),
            (2, 4.0),
            (3, 4.0),
            (4, 5.0),
            (5, 5.0),
            (6, 7.0),
            (7, 9.0),
        ]);
        assert_eq!(avg(&s), 5.0);
        assert_eq!(sum(&s), 40.0);
        assert_eq!(stdvar(&s), 4.0);
        assert_eq!((min(&s), max(&s)), (2.0, 9.0));
        assert_eq!((changes(&s), resets(&s)), (4.0, 0.0));
    }
}
