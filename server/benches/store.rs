//! Store benchmark: `cargo bench -p warroom-server --bench store`.
//!
//! Prints append throughput for many active series (agent-like label sets, counters and gauges
//! every 15 s, concurrent batches of a few thousand samples), bytes per sample on disk after
//! checkpoint + VACUUM, RSS per active series, and two select timings. Sizes come from
//! `BENCH_SERIES` (100000), `BENCH_ROUNDS` (samples per series, 240), `BENCH_LONG_SERIES`
//! (1000, written for 24 h), `BENCH_NODE_SERIES` (series per node = samples per batch, 2000)
//! and `BENCH_QUERY_RUNS` (timings per read, best printed, 3). Reads print their best wall time
//! and their mean CPU time over all threads (reads of many series use every core).
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use warroom_server::model::{Labels, MatchOp, Matcher, Sample, Series, WriteBatch};
use warroom_server::query::{Engine, Value};
use warroom_server::store::sqlite::SqliteStore;
use warroom_server::store::sqlite::rollup::Resolution;
use warroom_server::store::{MetricStore, Querier, StoreConfig};

mod values;
use values::{Rng, next_value};

const STEP: i64 = 15_000;
const BASE: i64 = 1_700_000_000_000;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How many times each read is timed (the best is printed): `BENCH_QUERY_RUNS`, default 3;
/// more gives a profiler something to sample.
fn query_runs() -> usize {
    env("BENCH_QUERY_RUNS", 3).max(1)
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds this process used so far (user + system), to read figures under contention.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `read` [`query_runs`] times; the best wall time and the mean CPU time of the whole
/// process (every thread, including those a read started and ended; 10 ms ticks spread over
/// the runs), with the last run's answer.
async fn best_of<T, F: std::future::Future<Output = T>>(
    mut read: impl FnMut() -> F,
) -> (Duration, Duration, T) {
    let mut wall = Duration::MAX;
    let mut last = None;
    let cpu_before = cpu_seconds();
    for _ in 0..query_runs() {
        let started = Instant::now();
        let got = read().await;
        wall = wall.min(started.elapsed());
        last = Some(got);
    }
    let cpu = Duration::from_secs_f64((cpu_seconds() - cpu_before).max(0.0) / query_runs() as f64);
    (wall, cpu, last.expect("at least one run"))
}

const METRICS: [&str; 10] = [
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_disk_read_bytes_total",
    "node_disk_io_now",
    "container_cpu_usage_seconds_total",
    "node_cpu_seconds_total",
    "node_filesystem_size_bytes",
    "container_spec_memory_limit_bytes",
    "node_load1",
    "container_memory_working_set_bytes",
];

/// An agent-like label set: name, node, cluster, env, job, namespace, pod, container.
fn labels(prefix: &str, node: usize, i: usize) -> Labels {
    let name = format!("{prefix}{}", METRICS[i % 10]);
    Labels::from_pairs([
        ("__name__", name),
        ("node", format!("node-{node:04}")),
        ("cluster", format!("cluster-{}", node % 3)),
        ("env", ["source", "target"][node % 2].to_string()),
        ("job", "warroom-agent".to_string()),
        ("namespace", format!("ns-{}", i % 17)),
        ("pod", format!("app-{}-7f9c{:05}", i % 41, i / 10)),
        ("container", format!("c{}", i % 3)),
    ])
}

struct Fleet {
    prefix: &'static str,
    labels: Vec<Vec<Labels>>,
    values: Vec<Vec<f64>>,
    rng: Rng,
}

impl Fleet {
    fn new(prefix: &'static str, series: usize, per_node: usize) -> Self {
        let nodes = series.div_ceil(per_node);
        let labels: Vec<Vec<Labels>> = (0..nodes)
            .map(|n| {
                (0..per_node.min(series - n * per_node))
                    .map(|i| labels(prefix, n, i))
                    .collect()
            })
            .collect();
        let values = labels.iter().map(|l| vec![1e6; l.len()]).collect();
        Self {
            prefix,
            labels,
            values,
            rng: Rng(0x2545_f491_4f6c_dd1d),
        }
    }

    /// One scrape of every node at `round`: one batch per node.
    fn round(&mut self, round: i64) -> Vec<WriteBatch> {
        let _ = self.prefix;
        (0..self.labels.len())
            .map(|n| {
                let t = BASE + round * STEP + (n as i64 * 37) % 1000;
                let series = (0..self.labels[n].len())
                    .map(|i| {
                        let v = next_value(i, self.values[n][i], &mut self.rng);
                        self.values[n][i] = v;
                        Series {
                            labels: self.labels[n][i].clone(),
                            samples: vec![Sample { t, v }],
                        }
                    })
                    .collect();
                WriteBatch { id: None, series }
            })
            .collect()
    }
}

/// Appends `rounds` scrapes of `fleet`; returns (samples, time spent inside append).
async fn ingest(store: &Arc<SqliteStore>, fleet: &mut Fleet, rounds: i64) -> (u64, Duration) {
    let mut samples = 0u64;
    let mut busy = Duration::ZERO;
    for r in 0..rounds {
        let batches = fleet.round(r);
        samples += batches.iter().map(|b| b.sample_count() as u64).sum::<u64>();
        let started = Instant::now();
        let tasks: Vec<_> = batches
            .into_iter()
            .map(|b| {
                let store = store.clone();
                tokio::spawn(async move { store.append(b).await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        busy += started.elapsed();
    }
    (samples, busy)
}

/// Best wall and CPU times of a select: (wall, CPU, series, samples).
async fn time_select(
    store: &SqliteStore,
    matchers: &[Matcher],
    start: i64,
    end: i64,
) -> (Duration, Duration, usize, usize) {
    let (wall, cpu, got) = best_of(move || store.select(matchers, start, end)).await;
    let got = got.unwrap();
    let samples = got.iter().map(|s| s.samples.len()).sum();
    (wall, cpu, got.len(), samples)
}

/// Best wall and CPU times of an instant PromQL evaluation: (wall, CPU, elements returned).
async fn time_instant(engine: &Engine, query: &str, t: i64) -> (Duration, Duration, usize) {
    let (wall, cpu, got) = best_of(move || engine.instant(query, t)).await;
    let n = match got.unwrap() {
        Value::Vector(v) => v.len(),
        _ => 1,
    };
    (wall, cpu, n)
}

/// Best wall and CPU times of a range PromQL evaluation: (wall, CPU, series, points returned).
async fn time_range(
    engine: &Engine,
    query: &str,
    start: i64,
    end: i64,
) -> (Duration, Duration, usize, usize) {
    let (wall, cpu, got) = best_of(move || engine.range(query, start, end, STEP)).await;
    let got = got.unwrap();
    let points = got.iter().map(|s| s.samples.len()).sum();
    (wall, cpu, got.len(), points)
}

/// The database's size once checkpointed data is vacuumed and the SQLite WAL folded in.
async fn compacted_bytes(store: &SqliteStore, pool: &sqlx::SqlitePool) -> u64 {
    sqlx::query("VACUUM").execute(pool).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await
        .unwrap();
    store.stats().await.unwrap().disk_bytes
}

async fn run() {
    let series = env("BENCH_SERIES", 100_000);
    let rounds = env("BENCH_ROUNDS", 240) as i64;
    let long_series = env("BENCH_LONG_SERIES", 1000);
    let per_node = env("BENCH_NODE_SERIES", 2000);
    let dir = tempfile::TempDir::new().unwrap();
    let mut fleet = Fleet::new("", series, per_node);
    drop(fleet.round(-1));
    let rss_before = rss_bytes();

    let pool = warroom_server::db::open(&dir.path().join("bench.db"))
        .await
        .unwrap();
    let config = StoreConfig {
        checkpoint_interval: Duration::from_secs(3600),
        ..StoreConfig::default()
    };
    let store = Arc::new(SqliteStore::open(pool.clone(), config).await.unwrap());
    let cpu_before = cpu_seconds();
    let (samples, busy) = ingest(&store, &mut fleet, rounds).await;
    let cpu = cpu_seconds() - cpu_before;
    let rss_after = rss_bytes();
    println!(
        "append: {samples} samples into {series} series in {busy:.2?}: {:.0} samples/s wall ({} per batch); \
         {cpu:.2} CPU-s in total incl. building batches: {:.0} samples per CPU-second",
        samples as f64 / busy.as_secs_f64(),
        per_node,
        samples as f64 / cpu
    );
    println!(
        "rss: {:.0} bytes per active series (VmRSS {} MB -> {} MB; head chunks {} MB)",
        (rss_after.saturating_sub(rss_before)) as f64 / series as f64,
        rss_before >> 20,
        rss_after >> 20,
        store.head_bytes() >> 20
    );

    let started = Instant::now();
    store.checkpoint().await.unwrap();
    let checkpointed = started.elapsed();
    let disk = compacted_bytes(&store, &pool).await;
    let chunk_bytes: i64 =
        sqlx::query_scalar("SELECT SUM(length(data)) + 24 * COUNT(*) FROM chunks")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
    let rollup_bytes: i64 =
        sqlx::query_scalar("SELECT SUM(length(data)) + 24 * COUNT(*) FROM rollups")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
    println!(
        "rollups: {:.2} bytes per raw sample (1 h buckets, payload + ~24 B a row)",
        rollup_bytes as f64 / samples as f64
    );
    println!(
        "disk: {:.2} bytes/sample in chunks (payload + ~24 B a row; {:.2} with the series index, {} MB file); checkpoint took {checkpointed:.2?}",
        chunk_bytes as f64 / samples as f64,
        disk as f64 / samples as f64,
        disk >> 20
    );

    let last = BASE + (rounds - 1) * STEP + 1000;
    let all = [Matcher::new("env", MatchOp::Regex, "source|target").unwrap()];
    let (took, cpu, n, s) = time_select(&store, &all, last - 5 * 60_000, last).await;
    println!(
        "select last 5m of all series: {took:.2?}, mean CPU {cpu:.2?} ({n} series, {s} samples)"
    );
    let engine = Engine::new(store.clone());
    for q in [
        r#"{env=~"source|target"}"#,
        r#"sum(rate({env=~"source|target"}[5m]))"#,
    ] {
        let (took, cpu, n) = time_instant(&engine, q, last).await;
        println!("instant query {q}: {took:.2?}, mean CPU {cpu:.2?} ({n} elements)");
    }

    let mut long = Fleet::new("long_", long_series, long_series);
    let day = 24 * 3600 * 1000 / STEP;
    let (long_samples, long_busy) = ingest(&store, &mut long, day).await;
    store.checkpoint().await.unwrap();
    println!(
        "append (1 batch of {long_series} per scrape, 24 h): {long_samples} samples in {long_busy:.2?}: {:.0} samples/s",
        long_samples as f64 / long_busy.as_secs_f64()
    );
    let grown = compacted_bytes(&store, &pool).await.saturating_sub(disk);
    println!(
        "disk: {:.2} bytes/sample for a day of {long_series} series (the file's growth: chunks, rollups, series index)",
        grown as f64 / long_samples as f64
    );
    let name = [Matcher::new("__name__", MatchOp::Regex, "long_.*").unwrap()];
    let (took, cpu, n, s) = time_select(&store, &name, BASE, BASE + day * STEP).await;
    println!("select {n} series x 24 h at 15 s: {took:.2?}, mean CPU {cpu:.2?} ({s} samples)");
    for res in [Resolution::OneHour] {
        let mut best = Duration::MAX;
        let mut shape = (0, 0);
        for _ in 0..query_runs() {
            let started = Instant::now();
            let got = store
                .select_rollup(&name, BASE, BASE + day * STEP, res)
                .await
                .unwrap();
            best = best.min(started.elapsed());
            shape = (
                got.len(),
                got.iter().map(|s| s.buckets.len()).sum::<usize>(),
            );
        }
        println!(
            "select_rollup {res:?} {} series x 24 h: {best:.2?} ({} buckets)",
            shape.0, shape.1
        );
    }
    for q in [
        r#"{__name__=~"long_.*"}"#,
        r#"rate({__name__=~"long_.*"}[5m])"#,
    ] {
        let (took, cpu, n, s) = time_range(&engine, q, BASE, BASE + day * STEP).await;
        println!(
            "query_range {q} 24 h at 15 s: {took:.2?}, mean CPU {cpu:.2?} ({n} series, {s} points)"
        );
    }
    store.close().await.unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}
