//! The extrapolation of `rate`, `increase` and `delta` towards the edges of their range, as
//! Prometheus 2.42's `extrapolatedRate` does it, on what a window leaves once its change is known.
//!
//! One window's extrapolation is a chain of seven divisions, each waiting on the one before.
//! [`EdgeBlock`] lays many windows' edges out column by column so their chains run side by side
//! (two to a vector register); the arithmetic is the one [`extrapolate`], so a window's value is
//! the same to the bit whichever way it is computed.

use super::range_fns::Window;
use warroom_tsdb::model::Sample;

/// A window as the extrapolation reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Edges {
    /// From the range's start to the first sample (ms).
    pub(crate) to_start_ms: f64,
    /// From the last sample to the range's end (ms).
    pub(crate) to_end_ms: f64,
    /// From the first sample to the last (ms, > 0).
    pub(crate) sampled_ms: f64,
    /// Intervals between the window's samples (its sample count less one, ≥ 1).
    pub(crate) intervals: f64,
    /// The first sample's value.
    pub(crate) first: f64,
    /// The change over the window (for a counter, corrected for its resets).
    pub(crate) change: f64,
}

impl Edges {
    /// The edges of the samples `s` (at least two, else `None`) within `w`, with the change
    /// from the first to the last (which a counter's resets then add to).
    pub(crate) fn of(s: &[Sample], w: Window) -> Option<Edges> {
        let [first, .., last] = s else { return None };
        Some(Edges {
            to_start_ms: first.t.saturating_sub(w.start) as f64,
            to_end_ms: w.end.saturating_sub(last.t) as f64,
            sampled_ms: last.t.saturating_sub(first.t) as f64,
            intervals: (s.len() - 1) as f64,
            first: first.v,
            change: last.v - first.v,
        })
    }
}

/// The window's change extrapolated to the range's edges (for a `counter`, never to before it
/// would have been zero), then divided by the range's length in seconds when one is given (`rate`).
///
/// Branch-free, so that a loop over many windows runs as vector arithmetic.
#[inline(always)]
pub(crate) fn extrapolate(e: Edges, counter: bool, per_second_of: Option<f64>) -> f64 {
    let to_start = e.to_start_ms / 1000.0;
    let to_end = e.to_end_ms / 1000.0;
    let sampled = e.sampled_ms / 1000.0;
    let avg_step = sampled / e.intervals;
    let to_zero = sampled * (e.first / e.change);
    let capped = counter && e.change > 0.0 && e.first >= 0.0;
    let to_start = if capped {
        to_start.min(to_zero)
    } else {
        to_start
    };
    let threshold = avg_step * 1.1;
    let half_step = avg_step / 2.0;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        half_step
    };
    interval += if to_end < threshold {
        to_end
    } else {
        half_step
    };
    let result = e.change * (interval / sampled);
    match per_second_of {
        Some(range_secs) => result / range_secs,
        None => result,
    }
}

/// Up to `N` windows' [`Edges`], one column per field, each beside a time.
#[derive(Debug)]
pub(crate) struct EdgeBlock<const N: usize> {
    len: usize,
    times: [i64; N],
    to_start_ms: [f64; N],
    to_end_ms: [f64; N],
    sampled_ms: [f64; N],
    intervals: [f64; N],
    first: [f64; N],
    change: [f64; N],
}

impl<const N: usize> Default for EdgeBlock<N> {
    fn default() -> Self {
        EdgeBlock {
            len: 0,
            times: [0; N],
            to_start_ms: [0.0; N],
            to_end_ms: [0.0; N],
            sampled_ms: [0.0; N],
            intervals: [0.0; N],
            first: [0.0; N],
            change: [0.0; N],
        }
    }
}

impl<const N: usize> EdgeBlock<N> {
    /// Adds window `e` at time `t`; `true` when the block is then full.
    pub(crate) fn push(&mut self, t: i64, e: Edges) -> bool {
        let i = self.len;
        self.times[i] = t;
        self.to_start_ms[i] = e.to_start_ms;
        self.to_end_ms[i] = e.to_end_ms;
        self.sampled_ms[i] = e.sampled_ms;
        self.intervals[i] = e.intervals;
        self.first[i] = e.first;
        self.change[i] = e.change;
        self.len += 1;
        self.len == N
    }

    /// Appends each window's time and [`extrapolate`]d value to `out`, in the order pushed;
    /// the block is then empty.
    pub(crate) fn drain_into(
        &mut self,
        counter: bool,
        per_second_of: Option<f64>,
        out: &mut Vec<Sample>,
    ) {
        let n = std::mem::take(&mut self.len);
        let (times, to_start_ms) = (&self.times[..n], &self.to_start_ms[..n]);
        let (to_end_ms, sampled_ms) = (&self.to_end_ms[..n], &self.sampled_ms[..n]);
        let (intervals, first, change) =
            (&self.intervals[..n], &self.first[..n], &self.change[..n]);
        // Written into place, which runs as vector arithmetic where `extend` would not.
        let from = out.len();
        out.resize(from + n, Sample { t: 0, v: 0.0 });
        let slots = &mut out[from..from + n];
        for i in 0..n {
            let e = Edges {
                to_start_ms: to_start_ms[i],
                to_end_ms: to_end_ms[i],
                sampled_ms: sampled_ms[i],
                intervals: intervals[i],
                first: first[i],
                change: change[i],
            };
            slots[i] = Sample {
                t: times[i],
                v: extrapolate(e, counter, per_second_of),
            };
        }
    }
}
