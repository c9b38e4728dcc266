//! Turning a workload into remote_write request bodies: series cut into batches of a fixed size
//! (like one Prometheus remote-write shard's sends), one sample per series per round, protobuf
//! then snappy block compression. Encoding runs before anything is timed, on every core.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use warroom_server::prompb::{Sample, TimeSeries, WriteRequest};

use super::fleet::{Fleet, SeriesDef};
use crate::procstat::thread_cpu_time;

/// What to generate: how many series, how many rounds, how big a request, which timestamps.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Active series.
    pub series: usize,
    /// Samples (= series) per request.
    pub batch: usize,
    /// Rounds: one sample per series each.
    pub rounds: u32,
    /// Timestamp of round 0, in milliseconds since the epoch.
    pub start_ms: i64,
    /// Milliseconds between rounds.
    pub step_ms: i64,
}

impl Workload {
    /// `series` series for `rounds` rounds of `batch`-sample requests, 15 s apart, the last
    /// round a minute before now (so a receiver accepts them all as recent).
    pub fn ending_now(series: usize, batch: usize, rounds: u32) -> Self {
        let step_ms = 15_000;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let last = (now_ms - 60_000) / step_ms * step_ms;
        Self {
            series,
            batch,
            rounds,
            start_ms: last - i64::from(rounds.saturating_sub(1)) * step_ms,
            step_ms,
        }
    }

    /// The timestamp of `round`.
    pub fn timestamp(&self, round: u32) -> i64 {
        self.start_ms + i64::from(round) * self.step_ms
    }

    /// The series ranges of the batches, in order.
    pub fn batches(&self) -> Vec<Range<usize>> {
        (0..self.series)
            .step_by(self.batch.max(1))
            .map(|s| s..(s + self.batch.max(1)).min(self.series))
            .collect()
    }
}

/// One encoded request: its snappy body and what it carries.
#[derive(Debug, Clone)]
pub struct Request {
    /// Snappy-compressed `WriteRequest`.
    pub body: Bytes,
    /// The round it belongs to.
    pub round: u32,
    /// The batch it is (its index in `Workload::batches`).
    pub batch: usize,
    /// The timestamp of its samples.
    pub first_ts: i64,
    /// The series it carries one sample of each.
    pub series: Range<usize>,
    /// Protobuf bytes before compression.
    pub raw_len: usize,
}

impl Request {
    /// How many samples it carries.
    pub fn samples(&self) -> usize {
        self.series.len()
    }
}

/// A workload's requests, round by round and batch by batch within a round, and their cost.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The requests, ordered by (round, batch).
    pub requests: Vec<Request>,
    /// CPU spent encoding, summed over threads.
    pub cpu: Duration,
}

impl Encoded {
    /// Protobuf bytes before compression, all requests.
    pub fn raw_bytes(&self) -> usize {
        self.requests.iter().map(|r| r.raw_len).sum()
    }

    /// Compressed bytes, all requests.
    pub fn body_bytes(&self) -> usize {
        self.requests.iter().map(|r| r.body.len()).sum()
    }

    /// The requests of rounds `rounds`.
    pub fn rounds(&self, rounds: Range<u32>) -> Vec<Request> {
        let keep = |r: &&Request| rounds.contains(&r.round);
        self.requests.iter().filter(keep).cloned().collect()
    }
}

/// Encodes every request of `workload` over `fleet` on `threads` threads.
pub fn encode(fleet: &Fleet, workload: &Workload, threads: usize) -> Encoded {
    let batches = workload.batches();
    let threads = threads.clamp(1, batches.len().max(1));
    let parts: Vec<(Vec<Request>, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<(usize, Range<usize>)> = batches
                    .iter()
                    .cloned()
                    .enumerate()
                    .skip(t)
                    .step_by(threads)
                    .collect();
                scope.spawn(move || encode_batches(fleet, workload, mine))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("encoder thread"))
            .collect()
    });
    let cpu = parts.iter().map(|p| p.1).sum();
    let mut requests: Vec<Request> = parts.into_iter().flat_map(|p| p.0).collect();
    requests.sort_by_key(|r| (r.round, r.batch));
    Encoded { requests, cpu }
}

/// Every round's request for each of `batches`, and the thread CPU it took.
fn encode_batches(
    fleet: &Fleet,
    workload: &Workload,
    batches: Vec<(usize, Range<usize>)>,
) -> (Vec<Request>, Duration) {
    let start = thread_cpu_time();
    let mut out = Vec::with_capacity(batches.len() * workload.rounds as usize);
    let mut encoder = snap::raw::Encoder::new();
    let mut raw = Vec::new();
    for (batch, range) in batches {
        let defs = fleet.series(range.clone());
        for round in 0..workload.rounds {
            let ts = workload.timestamp(round);
            raw.clear();
            write_request(&defs, round, ts)
                .encode(&mut raw)
                .expect("Vec grows");
            let body = encoder.compress_vec(&raw).expect("snappy takes any input");
            out.push(Request {
                body: Bytes::from(body),
                round,
                batch,
                first_ts: ts,
                series: range.clone(),
                raw_len: raw.len(),
            });
        }
    }
    (out, thread_cpu_time() - start)
}

/// The `WriteRequest` carrying one sample at `ts` (round `round`) of each of `defs`.
pub fn write_request(defs: &[SeriesDef], round: u32, ts: i64) -> WriteRequest {
    let timeseries = defs
        .iter()
        .map(|d| TimeSeries {
            labels: d.labels.clone(),
            samples: vec![Sample {
                value: d.kind.value(d.seed, round, ts),
                timestamp: ts,
            }],
        })
        .collect();
    WriteRequest { timeseries }
}
