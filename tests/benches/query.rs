//! Query latency against the peer, in one run on this machine: the same remote_write data goes
//! into Debian's Prometheus 2.42 and into `warroom serve` (release build), then the same
//! `/api/v1/query` and `/api/v1/query_range` requests are timed against each over HTTP (the
//! whole answer read, JSON included). Best and median of `QUERY_RUNS` per query, the answer's
//! size, and the warroom/Prometheus ratio of the best times.
//!
//! Data: `QUERY_RANGE_SERIES` series (default 1000) for `QUERY_RANGE_HOURS` (24) at 15 s, then
//! `QUERY_INSTANT_SERIES` (100000) for the last 5 minutes (21 rounds), ending a minute ago. The
//! instant fleet includes the range fleet's label sets, whose value sequences start over there.
//!
//! Run: `cargo build --release -p warroom-server && cargo bench -p warroom-tests --bench query`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use warroom_tests::http;
use warroom_tests::loadgen::{Fleet, SendOptions, Target, Workload, encode, send};
use warroom_tests::prometheus::Prometheus;
use warroom_tests::server::spawn_server;

const STEP_MS: i64 = 15_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The data set: both workloads, and where the range queries read.
struct Data {
    range: (Fleet, Workload),
    instant: (Fleet, Workload),
    /// A selector matching the range fleet's nodes.
    range_selector: String,
    /// Metric names of the instant fleet whose series stay distinct without their names.
    instant_rate_names: String,
    /// The same for the range fleet.
    range_rate_names: String,
}

/// Metric names (a regex alternation) whose series stay distinct once `rate` drops their
/// names: Prometheus refuses a `rate` over series that then repeat (receive and transmit bytes
/// of one device, say). Chosen greedily, in order of first appearance.
fn distinct_without_names(fleet: &Fleet, series: usize) -> String {
    let mut by_name: Vec<(String, Vec<String>)> = Vec::new();
    for d in fleet.series(0..series) {
        let name = d.labels.iter().find(|l| l.name == "__name__");
        let name = name.map(|l| l.value.clone()).unwrap_or_default();
        let key: Vec<String> = d
            .labels
            .iter()
            .filter(|l| l.name != "__name__")
            .map(|l| format!("{}={}", l.name, l.value))
            .collect();
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, keys)) => keys.push(key.join(",")),
            None => by_name.push((name, vec![key.join(",")])),
        }
    }
    let mut taken = std::collections::HashSet::new();
    let mut names = Vec::new();
    for (name, keys) in by_name {
        if keys.iter().all(|k| !taken.contains(k)) {
            taken.extend(keys);
            names.push(name);
        }
    }
    names.join("|")
}

impl Data {
    fn from_env() -> Self {
        let range_series = env_or("QUERY_RANGE_SERIES", 1000);
        let hours = env_or("QUERY_RANGE_HOURS", 24);
        let instant_series = env_or("QUERY_INSTANT_SERIES", 100_000);
        let instant = Workload::ending_now(instant_series, 2000, 21);
        let rounds = (hours * 3600 * 1000 / STEP_MS as usize) as u32;
        let range = Workload {
            series: range_series,
            batch: 2000,
            rounds,
            start_ms: instant.start_ms - i64::from(rounds) * STEP_MS,
            step_ms: STEP_MS,
        };
        let range_fleet = Fleet::new(range_series);
        let mut nodes: Vec<String> = range_fleet
            .series(0..range_series)
            .iter()
            .flat_map(|d| d.labels.iter().filter(|l| l.name == "node"))
            .map(|l| l.value.clone())
            .collect();
        nodes.sort();
        nodes.dedup();
        let range_rate_names = distinct_without_names(&range_fleet, range_series);
        let instant_fleet = Fleet::new(instant_series);
        Self {
            instant_rate_names: distinct_without_names(&instant_fleet, instant_series),
            range_rate_names,
            range: (range_fleet, range),
            instant: (instant_fleet, instant),
            range_selector: format!("{{node=~\"{}\"}}", nodes.join("|")),
        }
    }

    /// Sends both workloads, oldest first; fails unless every sample was acknowledged.
    fn load(&self, target: &Target) -> anyhow::Result<()> {
        let options = SendOptions {
            connections: 4,
            deadline: Some(Duration::from_secs(600)),
        };
        for (fleet, workload) in [&self.range, &self.instant] {
            let encoded = encode(fleet, workload, 2);
            let report = send(target, &encoded.requests, &options)?;
            let planned = (workload.series * workload.rounds as usize) as u64;
            if report.acked_samples != planned {
                bail!(
                    "{} of {planned} samples acknowledged by {}: {:?}",
                    report.acked_samples,
                    target.url,
                    report.error_samples
                );
            }
        }
        Ok(())
    }

    /// The requests to time: a label and the request path.
    fn requests(&self) -> Vec<(String, String)> {
        let (_, instant) = &self.instant;
        let at = instant.timestamp(instant.rounds - 1) as f64 / 1000.0;
        let (_, range) = &self.range;
        let start = range.start_ms as f64 / 1000.0;
        let all = r#"{env=~"source|target"}"#;
        let sel = &self.range_selector;
        let rate_all = format!(
            "{{env=~\"source|target\",__name__=~\"{}\"}}",
            self.instant_rate_names
        );
        let rate_sel = format!(
            "{},__name__=~\"{}\"}}",
            sel.trim_end_matches('}'),
            self.range_rate_names
        );
        let instant_queries = [all.to_string(), format!("sum(rate({rate_all}[5m]))")];
        let range_queries = [sel.clone(), format!("rate({rate_sel}[5m])")];
        let mut out: Vec<(String, String)> = instant_queries
            .iter()
            .map(|q| {
                let path = format!(
                    "/api/v1/query?query={}&time={at:.3}",
                    http::percent_encode(q)
                );
                (format!("instant {}", short(q)), path)
            })
            .collect();
        let hours = (at - start) / 3600.0;
        for q in range_queries {
            let label = format!("range {} over {hours:.0} h at 15 s", short(&q));
            let path = format!(
                "/api/v1/query_range?query={}&start={start:.3}&end={at:.3}&step=15",
                http::percent_encode(&q)
            );
            out.push((label, path));
        }
        out
    }
}

/// A query cut to fit a table row.
fn short(q: &str) -> String {
    match q.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &q[..i]),
        None => q.to_string(),
    }
}

/// One query's timings against one server.
struct Timing {
    best: Duration,
    median: Duration,
    series: usize,
    points: usize,
}

/// Times `path` `runs` times; the answer must be a success.
fn time(addr: SocketAddr, path: &str, headers: &[&str], runs: usize) -> anyhow::Result<Timing> {
    let mut took = Vec::new();
    let mut shape = (0, 0);
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let r = http::get_within(addr, path, headers, Duration::from_secs(300))?;
        took.push(started.elapsed());
        if r.status != 200 {
            bail!(
                "{path}: status {} {}",
                r.status,
                &r.body[..r.body.len().min(300)]
            );
        }
        let body: Value = serde_json::from_str(&r.body).context("JSON answer")?;
        let result = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let points = result
            .iter()
            .map(|s| s["values"].as_array().map_or(1, Vec::len))
            .sum();
        shape = (result.len(), points);
    }
    took.sort();
    Ok(Timing {
        best: took[0],
        median: took[took.len() / 2],
        series: shape.0,
        points: shape.1,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    let runs = env_or("QUERY_RUNS", 5);
    let data = Data::from_env();
    let requests = data.requests();

    let prom = Prometheus::start()?;
    let started = Instant::now();
    data.load(&prom.write_target())?;
    println!("prometheus: loaded in {:.1?}", started.elapsed());
    let prom_times: Vec<Timing> = requests
        .iter()
        .map(|(_, path)| time(prom.addr(), path, &[], runs))
        .collect::<anyhow::Result<_>>()?;
    drop(prom);

    let server = spawn_server();
    let target = Target {
        url: format!("http://{}/api/v1/write", server.addr),
        token: Some(server.token.clone()),
    };
    let started = Instant::now();
    data.load(&target)?;
    println!("warroom: loaded in {:.1?}", started.elapsed());
    let war_times: Vec<Timing> = requests
        .iter()
        .map(|(_, path)| time(server.addr, path, &[&server.reader()], runs))
        .collect::<anyhow::Result<_>>()?;

    println!(
        "\n{:<58} {:>22} {:>22} {:>9}",
        "best / median of runs, ms (series, points)", "prometheus", "warroom", "war/prom"
    );
    for (((label, _), p), w) in requests.iter().zip(&prom_times).zip(&war_times) {
        let cell = |t: &Timing| {
            format!(
                "{:.1} / {:.1} ({}, {})",
                ms(t.best),
                ms(t.median),
                t.series,
                t.points
            )
        };
        println!(
            "{label:<58} {:>22} {:>22} {:>9.2}",
            cell(p),
            cell(w),
            ms(w.best) / ms(p.best)
        );
    }
    Ok(())
}
