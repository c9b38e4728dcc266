//! How generated values move: counters grow by realistic, uneven increments (CPU ticks of
//! 1/100 s, integer byte and packet counts, nanosecond-precise seconds), gauges wander around a
//! per-series level. A value is a pure function of (series seed, round, timestamp), so any
//! round can be encoded or checked on its own.

use super::fleet::mix;

/// The seconds between two rounds, as one Prometheus scrape interval.
pub const STEP_SECONDS: f64 = 15.0;

/// How a series' values move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A counter of seconds in 1/100 s ticks (node_cpu_seconds_total), growing ~`.0` per second.
    Ticks(f64),
    /// A counter of seconds at nanosecond precision, growing ~`.0` per second.
    Seconds(f64),
    /// An integer counter growing ~`.0` per second (bytes, packets, events).
    Count(f64),
    /// A byte gauge wandering around ~`.0`, in 4 KiB pages.
    Bytes(f64),
    /// A gauge around `.0` give or take `.1`, rounded to `.2` decimals.
    Level(f64, f64, u32),
    /// A value that never changes.
    Const(f64),
    /// The sample's own timestamp in seconds (node_time_seconds, container_last_seen).
    Clock,
}

impl Kind {
    /// The kind of a node_cpu_seconds_total series for CPU `mode`: idle takes most of the time.
    pub fn for_mode(self, mode: Option<&str>) -> Self {
        let share = match mode {
            Some("idle") => 0.78,
            Some("user") => 0.12,
            Some("system") => 0.05,
            Some("iowait") | Some("softirq") => 0.01,
            Some("steal") => 0.004,
            Some(_) => 0.001,
            None => return self,
        };
        match self {
            Kind::Ticks(_) => Kind::Ticks(share),
            other => other,
        }
    }

    /// The value at `round` (timestamp `ts_ms`) of the series seeded `seed`.
    pub fn value(self, seed: u64, round: u32, ts_ms: i64) -> f64 {
        match self {
            Kind::Ticks(per_s) => (counter(seed, round, per_s) * 100.0).floor() / 100.0,
            Kind::Seconds(per_s) => (counter(seed, round, per_s) * 1e9).round() / 1e9,
            Kind::Count(per_s) => counter(seed, round, per_s).floor(),
            Kind::Bytes(level) => (wander(seed, round, level, 0.05) / 4096.0).round() * 4096.0,
            Kind::Level(level, spread, decimals) => {
                let v = wander(seed, round, level, 0.0) + spread * wave(seed, round);
                let scale = 10f64.powi(decimals as i32);
                ((v * scale).round() / scale).max(0.0)
            }
            Kind::Const(v) => v,
            Kind::Clock => ts_ms as f64 / 1000.0,
        }
    }
}

/// A uniform number in [0, 1) drawn from `seed` and `n`.
fn unit(seed: u64, n: u64) -> f64 {
    (mix(seed, n) >> 11) as f64 / (1u64 << 53) as f64
}

/// A counter: a per-series rate (0.2–2× `per_s`) since an uptime of 1–30 days, plus jitter
/// smaller than one step's growth, so every increment differs and none is negative.
fn counter(seed: u64, round: u32, per_s: f64) -> f64 {
    let rate = per_s * (0.2 + 1.8 * unit(seed, 1));
    let uptime = 86_400.0 * (1.0 + 29.0 * unit(seed, 2));
    let step = rate * STEP_SECONDS;
    let jitter = 0.9 * step * unit(seed, 1_000 + u64::from(round));
    rate * uptime + step * f64::from(round) + jitter
}

/// A per-series level (0.7–1.3× `level`) that drifts by a slow wave of ±`swing` plus 1 % noise.
fn wander(seed: u64, round: u32, level: f64, swing: f64) -> f64 {
    let base = level * (0.7 + 0.6 * unit(seed, 3));
    base * (1.0 + swing * wave(seed, round) + 0.01 * (unit(seed, 1_000 + u64::from(round)) - 0.5))
}

/// A slow wave in [-1, 1] with a per-series period (20–80 rounds) and phase, plus noise.
fn wave(seed: u64, round: u32) -> f64 {
    let period = 20.0 + 60.0 * unit(seed, 4);
    let phase = std::f64::consts::TAU * unit(seed, 5);
    let noise = unit(seed, 2_000 + u64::from(round)) - 0.5;
    0.8 * (std::f64::consts::TAU * f64::from(round) / period + phase).sin() + 0.4 * noise
}
