//! Helpers shared by the store's tests: a seeded random generator and a bit-exact view of series.

use crate::model::Series;

/// SplitMix64: tiny, seeded and good enough to generate test data.
pub struct Rng(u64);

impl Rng {
    /// A generator that always yields the same sequence for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Each series as its label text and `(t, value bits)` pairs, so NaN payloads compare exactly.
pub fn bits(series: &[Series]) -> Vec<(String, Vec<(i64, u64)>)> {
    series
        .iter()
        .map(|s| {
            let samples = s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect();
            (s.labels.to_string(), samples)
        })
        .collect()
}
