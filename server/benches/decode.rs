//! remote_write decode micro-benchmark: `cargo bench -p warroom-server --bench decode`.
//!
//! Decodes one request of 2,000 series (node_exporter-like labels, one sample each, as the
//! ingest bench's generator sends) the way the ingest route does on a decoder thread: once with
//! every series known to the store (steady ingest: samples come out by id) and once with none
//! known (new series: label sets are interned). Prints the best time per request and per sample
//! of `BENCH_REPEAT` (15) runs of 200 requests.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use prost::Message;
use warroom_server::ingest::remote_write::decode_with;
use warroom_server::prompb::{Label, Sample, TimeSeries, WriteRequest};
use warroom_server::store::{SeriesLookup, WireLabels};

const SERIES: i64 = 2_000;
const REQUESTS: usize = 200;

/// A store that knows every series (ids in request order), or none.
struct Lookup {
    knows: bool,
}

impl SeriesLookup for Lookup {
    fn find(&self, sets: &[&WireLabels<'_>], ids: &mut Vec<Option<u32>>) -> u64 {
        ids.extend((0..sets.len() as u32).map(|i| self.knows.then_some(i)));
        0
    }
}

/// A snappy-compressed `WriteRequest` of [`SERIES`] series, and its size uncompressed.
fn request() -> (Vec<u8>, usize) {
    let label = |name: &str, value: String| Label {
        name: name.into(),
        value,
    };
    let timeseries: Vec<TimeSeries> = (0..SERIES)
        .map(|i| {
            let node = format!("ip-10-0-{}-{}", i / 250, i % 250);
            TimeSeries {
                labels: vec![
                    label("__name__", format!("node_metric_{}", i % 40)),
                    label("cluster", "eks-prod-eu-west-1".into()),
                    label("cpu", (i % 16).to_string()),
                    label("env", "prod".into()),
                    label("instance", format!("{node}.ec2.internal:9100")),
                    label("job", "node-exporter".into()),
                    label("mode", "user".into()),
                    label("node", node),
                ],
                samples: vec![Sample {
                    value: i as f64 * 1.5,
                    timestamp: 1_700_000_000_000 + i,
                }],
            }
        })
        .collect();
    let raw = WriteRequest { timeseries }.encode_to_vec();
    (
        snap::raw::Encoder::new().compress_vec(&raw).unwrap(),
        raw.len(),
    )
}

fn main() {
    let repeat = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let (body, raw) = request();
    println!(
        "remote_write request: {SERIES} series, {} bytes snappy, {raw} bytes raw",
        body.len()
    );
    for knows in [true, false] {
        let lookup = Lookup { knows };
        let mut best = f64::MAX;
        for _ in 0..repeat {
            let started = Instant::now();
            for _ in 0..REQUESTS {
                black_box(decode_with(&body, 32 << 20, 100_000, Some(&lookup)).unwrap());
            }
            best = best.min(started.elapsed().as_secs_f64() / REQUESTS as f64);
        }
        println!(
            "{:<18} {:8.1} us per request, {:6.1} ns per sample",
            if knows { "series known" } else { "series new" },
            best * 1e6,
            best * 1e9 / SERIES as f64
        );
    }
}
