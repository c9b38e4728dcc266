//! Chunk codec micro-benchmark: `cargo bench -p warroom-server --bench codec`.
//!
//! Builds 240-sample chunks from the store bench's value mix (byte counters, cpu-seconds
//! counters, constants, ±1.00 gauges, all at a regular 15 s), plus two harder mixes (timestamps
//! with a few ms of scrape jitter; arbitrary floats), and prints per mix: bytes per sample after
//! `compact` (payload, and with ~24 B of row per chunk), `compact` time, and decode time per sample
//! through `decode` (a `Vec`), `ChunkIter`, a range read through `ChunkIter` (as `head::cut_into`
//! does) and through `decode_range`, and the open chunk's `iter`. Best of `BENCH_REPEAT` (5).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use warroom_server::model::Sample;
use warroom_server::store::sqlite::chunk::{self, ChunkEncoder, ChunkIter};

mod values;
use values::{Rng, next_value};

const STEP: i64 = 15_000;
const BASE: i64 = 1_700_000_000_000;
const CHUNK: usize = 240;

#[derive(Clone, Copy)]
enum Mix {
    /// The store bench's data.
    Store,
    /// The same values with 0–20 ms of jitter on every timestamp.
    Jitter,
    /// Arbitrary-precision float gauges (XOR territory).
    Floats,
}

fn chunks(mix: Mix, count: usize) -> Vec<Vec<Sample>> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..count)
        .map(|i| {
            let mut v = 1e6;
            (0..CHUNK as i64)
                .map(|r| {
                    let mut t = BASE + r * STEP + (i as i64 * 37) % 1000;
                    v = match mix {
                        Mix::Floats => v * (1.0 + (rng.below(2001) as f64 - 1000.0) / 1e5),
                        _ => next_value(i, v, &mut rng),
                    };
                    if let Mix::Jitter = mix {
                        t += rng.below(20) as i64;
                    }
                    Sample { t, v }
                })
                .collect()
        })
        .collect()
}

/// Best of `repeat` runs of `f`, in nanoseconds per sample of `samples`.
fn best_ns(repeat: usize, samples: usize, mut f: impl FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..repeat {
        let started = Instant::now();
        f();
        best = best.min(started.elapsed());
    }
    best.as_nanos() as f64 / samples as f64
}

fn bits(samples: &[Sample]) -> Vec<(i64, u64)> {
    samples.iter().map(|s| (s.t, s.v.to_bits())).collect()
}

fn run(mix: Mix, name: &str, count: usize, repeat: usize) {
    let raw = chunks(mix, count);
    let total = count * CHUNK;
    let mut packed = Vec::new();
    let compact_ns = best_ns(repeat, total, || {
        packed = raw.iter().map(|c| chunk::compact(c)).collect();
    });
    let payload: usize = packed.iter().map(Vec::len).sum();
    for (c, data) in raw.iter().zip(&packed) {
        assert_eq!(bits(&chunk::decode(data).unwrap()), bits(c), "{name}");
    }
    let decode_ns = best_ns(repeat, total, || {
        for data in &packed {
            black_box(chunk::decode(black_box(data)).unwrap());
        }
    });
    let iter_ns = best_ns(repeat, total, || {
        let mut sum = 0.0;
        for data in &packed {
            for s in ChunkIter::new(black_box(data)).unwrap() {
                sum += s.unwrap().v;
            }
        }
        black_box(sum);
    });
    // A range read as `head::cut_into` does it (`ChunkIter`, push what is in range) against
    // `decode_range`, over the middle half of every chunk.
    let (start, end) = (BASE + 60 * STEP, BASE + 180 * STEP);
    let cut_ns = best_ns(repeat, total, || {
        let mut out = Vec::new();
        for data in &packed {
            for s in ChunkIter::new(black_box(data)).unwrap() {
                let s = s.unwrap();
                if s.t > end {
                    break;
                }
                if s.t >= start {
                    out.push(s);
                }
            }
        }
        black_box(out);
    });
    let range_ns = best_ns(repeat, total, || {
        let mut out = Vec::new();
        for data in &packed {
            chunk::decode_range(black_box(data), start, end, &mut out).unwrap();
        }
        black_box(out);
    });
    let open: Vec<ChunkEncoder> = raw
        .iter()
        .map(|c| {
            let mut e = ChunkEncoder::new();
            c.iter().for_each(|s| e.push(s.t, s.v));
            e
        })
        .collect();
    let open_ns = best_ns(repeat, total, || {
        let mut sum = 0.0;
        for e in &open {
            for s in e.iter() {
                sum += s.unwrap().v;
            }
        }
        black_box(sum);
    });
    let open_vec_ns = best_ns(repeat, total, || {
        for e in &open {
            black_box(chunk::decode(&e.bytes()).unwrap());
        }
    });
    println!(
        "{name:>7}: {:.3} B/sample payload ({:.3} with 24 B a row); compact {compact_ns:.1} ns/sample; \
         decode {decode_ns:.2} ns/sample, ChunkIter {iter_ns:.2}; range via ChunkIter {cut_ns:.2}, \
         decode_range {range_ns:.2}; open chunk iter {open_ns:.2}, bytes+decode {open_vec_ns:.2}",
        payload as f64 / total as f64,
        (payload + 24 * count) as f64 / total as f64,
    );
}

fn main() {
    let count = std::env::var("BENCH_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let repeat = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    run(Mix::Store, "store", count, repeat);
    run(Mix::Jitter, "jitter", count, repeat);
    run(Mix::Floats, "floats", count, repeat);
}
