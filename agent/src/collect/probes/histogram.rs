//! A cumulative latency histogram kept across collections, with fixed bucket bounds.

use crate::metrics::HistogramValue;

/// Upper bounds in seconds, from a fast local lookup (1 ms) to a probe near its timeout (5 s).
pub const BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Observation counts per bucket (not cumulative; the last slot is above every bound) and sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: [u64; BOUNDS.len() + 1],
    sum: f64,
}

impl Histogram {
    /// Records one duration in seconds.
    pub fn observe(&mut self, seconds: f64) {
        let slot = BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
    }

    /// The Prometheus form: cumulative counts per bound, ending with `+Inf`.
    pub fn value(&self) -> HistogramValue {
        let bounds = BOUNDS.iter().copied().chain([f64::INFINITY]);
        let mut running = 0;
        let buckets = bounds
            .zip(self.counts)
            .map(|(bound, n)| {
                running += n;
                (bound, running)
            })
            .collect();
        HistogramValue {
            buckets,
            sum: self.sum,
            count: running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_ending_with_inf() {
        let mut h = Histogram::default();

        for seconds in [0.0005, 0.001, 0.003, 0.3, 9.0] {
            h.observe(seconds);
        }
        let v = h.value();

        assert_eq!(v.count, 5);
        assert!((v.sum - 9.3045).abs() < 1e-9);
        assert_eq!(v.buckets.len(), 13);
        assert_eq!(v.buckets[0], (0.001, 2), "the bound itself is included");
        assert_eq!(v.buckets[1], (0.0025, 2));
        assert_eq!(v.buckets[2], (0.005, 3));
        assert_eq!(v.buckets[8], (0.5, 4));
        assert_eq!(v.buckets[11], (5.0, 4));
        assert_eq!(v.buckets[12], (f64::INFINITY, 5));
    }

    #[test]
    fn an_empty_histogram_has_zero_everywhere() {
        let v = Histogram::default().value();

        assert_eq!(v.count, 0);
        assert!(v.buckets.iter().all(|(_, n)| *n == 0));
    }
}
