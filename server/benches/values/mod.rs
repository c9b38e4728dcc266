//! The value mix the store and codec benches share: byte counters, cpu-seconds counters,
//! constants and gauges, drawn from a cheap deterministic generator.

/// xorshift64: cheap deterministic randomness for values.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The next value of series `i` (kind by `i % 10`: byte counters, cpu seconds, constants, gauges).
pub fn next_value(i: usize, v: f64, rng: &mut Rng) -> f64 {
    match i % 10 {
        0..=3 => v + rng.below(100_000) as f64,
        4 | 5 => ((v * 100.0).round() + rng.below(1500) as f64) / 100.0,
        6 | 7 => v,
        _ => ((v * 100.0).round() + rng.below(201) as f64 - 100.0) / 100.0,
    }
}
