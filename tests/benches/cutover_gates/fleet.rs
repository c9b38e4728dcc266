//! The fleet's data: every node's series (requests by code, latency buckets for the first
//! services, one table's row count on each side) and their scrapes, written into the store as
//! the agents would, one batch per node.

use std::sync::Arc;

use warroom_server::model::{Labels, Sample, Series, WriteBatch};
use warroom_server::store::MetricStore;
use warroom_server::store::sqlite::SqliteStore;

use crate::{STEP_MS, service_name};

/// Services with a latency histogram.
pub const HISTOGRAMS: usize = 2;
/// Each bucket's bound and the share of requests at or under it.
const BUCKETS: [(&str, f64); 8] = [
    ("0.05", 0.30),
    ("0.1", 0.55),
    ("0.25", 0.80),
    ("0.5", 0.93),
    ("1", 0.98),
    ("2.5", 0.995),
    ("5", 0.999),
    ("+Inf", 1.0),
];
/// The share of requests answered 500, on both sides.
const ERROR_SHARE: f64 = 0.0005;
/// A checkpoint after this many scrapes (5 minutes), as the server's interval.
const CHECKPOINT_EVERY: i64 = 20;

/// A series: its labels, what it gains a scrape, and its value so far.
struct Counter {
    labels: Labels,
    per_scrape: f64,
    value: f64,
}

/// Series that grow together: one service of a node (jittered alike, so the histogram stays
/// cumulative), or a gauge that grows evenly.
struct Group {
    counters: Vec<Counter>,
    jitter: bool,
}

/// Every node's series, and the jitter's random state.
pub struct Fleet {
    nodes: Vec<Vec<Group>>,
    rng: u64,
}

impl Fleet {
    pub fn new(nodes: usize, services: usize) -> Self {
        let mut fleet: Vec<Vec<Group>> = (0..nodes)
            .map(|n| (0..services).map(|s| service_group(n, s)).collect())
            .collect();
        // The table both sides hold, whose row counts one verification compares.
        for (n, node) in fleet.iter_mut().enumerate().take(2) {
            let labels = node_labels(n, "pg_table_rows", &[("table", "orders".into())]);
            node.push(Group {
                counters: vec![counter(labels, 100.0)],
                jitter: false,
            });
        }
        Self {
            nodes: fleet,
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// How many series it has.
    pub fn series(&self) -> usize {
        let groups = self.nodes.iter().flatten();
        groups.map(|g| g.counters.len()).sum()
    }

    /// A factor in [0.8, 1.2).
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        0.8 + 0.4 * (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Scrape `round` of every node: one batch per node.
    fn scrape(&mut self, start_ms: i64, round: i64) -> Vec<WriteBatch> {
        let mut batches = Vec::with_capacity(self.nodes.len());
        for n in 0..self.nodes.len() {
            let t = start_ms + round * STEP_MS + (n as i64 * 37) % 1000;
            let mut series = Vec::new();
            for g in 0..self.nodes[n].len() {
                let factor = if self.nodes[n][g].jitter {
                    self.jitter()
                } else {
                    1.0
                };
                for c in &mut self.nodes[n][g].counters {
                    c.value += c.per_scrape * factor;
                    let samples = vec![Sample { t, v: c.value }];
                    series.push(Series {
                        labels: c.labels.clone(),
                        samples,
                    });
                }
            }
            batches.push(WriteBatch { id: None, series });
        }
        batches
    }
}

fn counter(labels: Labels, per_scrape: f64) -> Counter {
    Counter {
        labels,
        value: per_scrape * 1000.0,
        per_scrape,
    }
}

/// Even nodes are the source's, odd ones the target's.
fn is_source(n: usize) -> bool {
    n.is_multiple_of(2)
}

/// Node `n`'s labels on metric `name`, with `extra`.
fn node_labels(n: usize, name: &str, extra: &[(&str, String)]) -> Labels {
    let (env, cluster) = match is_source(n) {
        true => ("source", ["do-nyc1", "do-sfo2"][n / 2 % 2]),
        false => ("target", "eks-prod"),
    };
    let mut pairs = vec![
        ("__name__", name.to_owned()),
        ("env", env.to_owned()),
        ("cluster", cluster.to_owned()),
        ("node", format!("node-{n:04}")),
    ];
    pairs.extend(extra.iter().cloned());
    Labels::from_pairs(pairs)
}

/// Service `s` on node `n`: requests by code, and latency buckets for the first services.
fn service_group(n: usize, s: usize) -> Group {
    // Requests a second, times the scrape interval: the target takes a tenth.
    let per_scrape = if is_source(n) { 9.0 } else { 1.0 } * 15.0;
    let service = ("service", service_name(s));
    let by_code = |code: &str, share: f64| {
        let extra = [service.clone(), ("code", code.to_owned())];
        counter(
            node_labels(n, "http_requests_total", &extra),
            per_scrape * share,
        )
    };
    let mut counters = vec![
        by_code("200", 1.0 - ERROR_SHARE),
        by_code("500", ERROR_SHARE),
    ];
    if s < HISTOGRAMS {
        for (le, share) in BUCKETS {
            let extra = [service.clone(), ("le", le.to_owned())];
            let labels = node_labels(n, "http_request_duration_seconds_bucket", &extra);
            counters.push(counter(labels, per_scrape * share));
        }
    }
    Group {
        counters,
        jitter: true,
    }
}

/// Writes `scrapes` scrapes of `fleet` from `start_ms`, every node's batch of a scrape at once.
pub async fn load(
    store: &Arc<SqliteStore>,
    fleet: &mut Fleet,
    start_ms: i64,
    scrapes: i64,
) -> anyhow::Result<u64> {
    let mut samples = 0;
    for round in 0..scrapes {
        let appends: Vec<_> = (fleet.scrape(start_ms, round).into_iter())
            .map(|batch| {
                let store = store.clone();
                tokio::spawn(async move { store.append(batch).await })
            })
            .collect();
        for append in appends {
            samples += append.await??.appended;
        }
        if (round + 1) % CHECKPOINT_EVERY == 0 {
            store.checkpoint().await?;
        }
    }
    Ok(samples)
}
