//! A deterministic dataset ending near now: counters with resets, gauges, a series ended by a
//! stale marker, one that just stops, a gap, a classic histogram and an info metric to join.

use warroom_server::model::{Labels, Sample, Series, stale_nan};

/// Sample spacing.
pub const STEP_MS: i64 = 15_000;
/// Number of steps (50 minutes).
pub const STEPS: i64 = 200;

/// A tiny linear congruential generator: the same data on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn series(pairs: &[(&str, &str)], samples: Vec<Sample>) -> Series {
    Series {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples,
    }
}

/// Every series, samples from `base` every 15 s for 50 minutes (where they exist).
pub fn generate(base: i64) -> Vec<Series> {
    let mut rng = Lcg(42);
    let at = |i: i64| base + i * STEP_MS;
    let mut out = Vec::new();
    for (n, (job, instance, code)) in [
        ("api", "a", "200"),
        ("api", "a", "500"),
        ("api", "b", "200"),
        ("api", "b", "500"),
        ("web", "a", "200"),
        ("web", "a", "500"),
        ("web", "c", "200"),
        ("web", "c", "500"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut v = 0.0;
        let samples = (0..=STEPS)
            .map(|i| {
                v += (rng.next() * 10.0).floor();
                if (n == 1 && i == 90) || (n == 4 && i == 150) || (n == 6 && (i == 40 || i == 41)) {
                    v = (rng.next() * 3.0).floor();
                }
                Sample { t: at(i), v }
            })
            .collect();
        out.push(series(
            &[
                ("__name__", "http_requests_total"),
                ("job", job),
                ("instance", instance),
                ("code", code),
            ],
            samples,
        ));
    }
    for (instance, env) in [
        ("a", "source"),
        ("b", "source"),
        ("c", "target"),
        ("d", "target"),
    ] {
        let mut v = 15.0 + rng.next() * 10.0;
        let samples = (0..=STEPS)
            .map(|i| {
                v += rng.next() - 0.5;
                Sample { t: at(i), v }
            })
            .collect();
        out.push(series(
            &[
                ("__name__", "node_temp_celsius"),
                ("instance", instance),
                ("env", env),
            ],
            samples,
        ));
    }
    for (instance, job, region) in [("a", "api", "eu"), ("b", "api", "us"), ("c", "web", "eu")] {
        let mem = 1e9 * (1.0 + rng.next());
        out.push(series(
            &[
                ("__name__", "memory_bytes"),
                ("instance", instance),
                ("job", job),
            ],
            (0..=STEPS)
                .map(|i| Sample {
                    t: at(i),
                    v: (mem + i as f64 * 1e6).floor(),
                })
                .collect(),
        ));
        out.push(series(
            &[
                ("__name__", "machine_memory_bytes"),
                ("instance", instance),
                ("job", job),
            ],
            (0..=STEPS).map(|i| Sample { t: at(i), v: 4e9 }).collect(),
        ));
        out.push(series(
            &[
                ("__name__", "machine_info"),
                ("instance", instance),
                ("region", region),
            ],
            (0..=STEPS).map(|i| Sample { t: at(i), v: 1.0 }).collect(),
        ));
    }
    let progress = |stop: i64| {
        (0..stop)
            .map(|i| Sample {
                t: at(i),
                v: i as f64,
            })
            .collect::<Vec<_>>()
    };
    let mut stale = progress(120);
    stale.push(Sample {
        t: at(120),
        v: stale_nan(),
    });
    out.push(series(
        &[("__name__", "batch_progress"), ("instance", "x")],
        stale,
    ));
    out.push(series(
        &[("__name__", "batch_progress"), ("instance", "y")],
        progress(120),
    ));
    out.push(series(
        &[("__name__", "flaky_gauge"), ("instance", "a")],
        (0..=STEPS)
            .filter(|i| !(60..100).contains(i))
            .map(|i| Sample {
                t: at(i),
                v: (i % 7) as f64,
            })
            .collect(),
    ));
    out.extend(histogram(&mut rng, base));
    out
}

/// `request_duration_seconds` for two jobs: cumulative `le` buckets, `_sum` and `_count`.
fn histogram(rng: &mut Lcg, base: i64) -> Vec<Series> {
    let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
    let mut out = Vec::new();
    for job in ["api", "web"] {
        let mut counts = vec![Vec::new(); bounds.len()];
        let (mut sum, mut total) = (Vec::new(), Vec::new());
        let (mut cum, mut s, mut n) = (vec![0.0; bounds.len()], 0.0, 0.0);
        for i in 0..=STEPS {
            for _ in 0..5 {
                let x: f64 = rng.next() * rng.next() * 1.5;
                for (b, bound) in bounds.iter().enumerate() {
                    if *bound == "+Inf" || x <= bound.parse::<f64>().unwrap_or(0.0) {
                        cum[b] += 1.0;
                    }
                }
                s += x;
                n += 1.0;
            }
            let t = base + i * STEP_MS;
            for b in 0..bounds.len() {
                counts[b].push(Sample { t, v: cum[b] });
            }
            sum.push(Sample { t, v: s });
            total.push(Sample { t, v: n });
        }
        for (b, samples) in counts.into_iter().enumerate() {
            out.push(series(
                &[
                    ("__name__", "request_duration_seconds_bucket"),
                    ("job", job),
                    ("le", bounds[b]),
                ],
                samples,
            ));
        }
        out.push(series(
            &[("__name__", "request_duration_seconds_sum"), ("job", job)],
            sum,
        ));
        out.push(series(
            &[("__name__", "request_duration_seconds_count"), ("job", job)],
            total,
        ));
    }
    out
}
