//! Sending encoded requests over a fixed number of HTTP/1.1 keep-alive connections. Batch `b`
//! always goes over connection `b % connections`, one request at a time, so each series' samples
//! arrive in timestamp order, as Prometheus's remote-write shards guarantee.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::encode::Request;
use crate::procstat::cpu_time;

/// Where to send: the full `/api/v1/write` URL and an optional bearer token.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port/api/v1/write`.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
}

/// How to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Concurrent keep-alive connections (Prometheus's remote-write shards).
    pub connections: usize,
    /// Stop starting requests after this long (requests in flight still finish).
    pub deadline: Option<Duration>,
}

/// One acknowledged (2xx) request: what the receiver now holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// Its round.
    pub round: u32,
    /// The timestamp of its samples.
    pub first_ts: i64,
    /// The series it carried one sample of each.
    pub series: Range<usize>,
}

/// What a send run achieved.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Every acknowledged request.
    pub acked: Vec<Acked>,
    /// Samples in acknowledged requests.
    pub acked_samples: u64,
    /// Failed requests by HTTP status (0: connection or I/O error).
    pub errors: BTreeMap<u16, u64>,
    /// The first few failures, as `status: body` lines.
    pub error_samples: Vec<String>,
    /// Latency of every completed request, sorted.
    pub latencies: Vec<Duration>,
    /// Wall-clock time from the first request to the last response.
    pub elapsed: Duration,
    /// CPU the generator process spent while sending (all its threads).
    pub cpu: Duration,
    /// Compressed bytes sent.
    pub bytes: u64,
}

impl Report {
    /// Acknowledged samples per second of wall-clock time.
    pub fn samples_per_s(&self) -> f64 {
        self.acked_samples as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0–1) of request latency.
    pub fn latency(&self, q: f64) -> Duration {
        let Some(last) = self.latencies.len().checked_sub(1) else {
            return Duration::ZERO;
        };
        self.latencies[((last as f64) * q).round() as usize]
    }

    /// How many requests failed.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds `other`, a run sent after this one, to it: its requests, errors, latencies (kept
    /// sorted), time and CPU, as if both had been one run without the pause between them.
    pub fn absorb(&mut self, other: Report) {
        self.elapsed += other.elapsed;
        self.cpu += other.cpu;
        self.merge(other);
        self.latencies.sort();
        self.acked.sort_by_key(|a| (a.round, a.series.start));
    }

    fn merge(&mut self, other: Report) {
        self.acked.extend(other.acked);
        self.acked_samples += other.acked_samples;
        for (status, n) in other.errors {
            *self.errors.entry(status).or_default() += n;
        }
        let room = 5usize.saturating_sub(self.error_samples.len());
        self.error_samples
            .extend(other.error_samples.into_iter().take(room));
        self.latencies.extend(other.latencies);
        self.bytes += other.bytes;
    }
}

/// Sends `requests` to `target` and waits for every answer (blocking; runs its own runtime).
pub fn send(
    target: &Target,
    requests: &[Request],
    options: &SendOptions,
) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("generator runtime")?;
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(options.connections)
        .timeout(Duration::from_secs(120))
        .build()
        .context("HTTP client")?;
    let connections = options.connections.max(1);
    let shards: Vec<Vec<Request>> = (0..connections)
        .map(|c| {
            let mine = requests.iter().filter(|r| r.batch % connections == c);
            mine.cloned().collect()
        })
        .collect();
    let cpu_before = cpu_time(std::process::id()).unwrap_or_default();
    let start = Instant::now();
    let deadline = options.deadline.map(|d| start + d);
    let target = Arc::new(target.clone());
    let mut report = runtime.block_on(async {
        let tasks: Vec<_> = shards
            .into_iter()
            .map(|shard| tokio::spawn(run_shard(client.clone(), target.clone(), shard, deadline)))
            .collect();
        let mut report = Report::default();
        for task in tasks {
            report.merge(task.await.context("sender task")?);
        }
        anyhow::Ok(report)
    })?;
    report.elapsed = start.elapsed();
    report.cpu = cpu_time(std::process::id()).unwrap_or_default() - cpu_before;
    report.latencies.sort();
    report.acked.sort_by_key(|a| (a.round, a.series.start));
    Ok(report)
}

/// One connection's work: its requests in order, one at a time, until done or past `deadline`.
async fn run_shard(
    client: reqwest::Client,
    target: Arc<Target>,
    shard: Vec<Request>,
    deadline: Option<Instant>,
) -> Report {
    let mut report = Report::default();
    for request in shard {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let sent = Instant::now();
        let outcome = post(&client, &target, &request).await;
        report.latencies.push(sent.elapsed());
        report.bytes += request.body.len() as u64;
        match outcome {
            Ok(()) => {
                report.acked_samples += request.samples() as u64;
                report.acked.push(Acked {
                    round: request.round,
                    first_ts: request.first_ts,
                    series: request.series.clone(),
                });
            }
            Err((status, why)) => {
                *report.errors.entry(status).or_default() += 1;
                if report.error_samples.len() < 5 {
                    report.error_samples.push(format!("{status}: {why}"));
                }
            }
        }
    }
    report
}

/// POSTs one request; `Err((status, reason))` unless the answer is 2xx (status 0: no answer).
async fn post(
    client: &reqwest::Client,
    target: &Target,
    request: &Request,
) -> Result<(), (u16, String)> {
    let mut builder = client
        .post(&target.url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .header("User-Agent", "warroom-loadgen")
        .body(request.body.clone());
    if let Some(token) = &target.token {
        builder = builder.bearer_auth(token);
    }
    let response = builder.send().await.map_err(|e| (0, e.to_string()))?;
    let status = response.status();
    // Read the whole body so the connection can be reused.
    let body = response.text().await.map_err(|e| (0, e.to_string()))?;
    if status.is_success() {
        Ok(())
    } else {
        Err((status.as_u16(), body.trim().chars().take(200).collect()))
    }
}
