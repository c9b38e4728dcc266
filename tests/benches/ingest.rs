//! Ingest against the peer, in one run on this machine: the remote_write load generator pushes
//! the same pre-encoded requests into Debian's Prometheus 2.42 and into `warroom serve` (release
//! build, fresh data dir, token from `warroom token create`), one server at a time, for each
//! size of active series. Per server: acked samples/s, server CPU per million samples, the idle
//! RSS, and RSS per active series, whole and its anonymous part (without the binary's own file
//! pages) (after the load, and the peak during the steady rounds: warroom's open
//! chunks grow for 240 samples, so a short run's RSS after load is a low point), bytes on disk
//! per sample after a graceful SIGTERM stop, and the warroom/Prometheus ratio. The first round (every series new) is measured apart from the
//! steady rounds after it. If the `warroom` binary is missing its half fails loudly (exit 2).
//!
//! Run: `cargo build --release -p warroom-server && cargo bench -p warroom-tests --bench ingest`
//! Sizing: `INGEST_SERIES` (comma list, default `100000,1000000`), `INGEST_SAMPLES` (steady
//! samples per size, default 2000000; at least 2 steady rounds), `INGEST_BATCH` (samples per
//! request, default 2000), `INGEST_CONNECTIONS` (default 8: requests in flight at once, as
//! Prometheus' own sender runs up to 50 shards of 2,000 samples; at 4, warroom at a million
//! series mostly waited on its group commits), `INGEST_DEADLINE_S` (per phase,
//! default 90), `INGEST_PEER=0` (warroom alone: for runs long enough to include its periodic
//! checkpoints, which the peer would take minutes to match; its figures are then not a
//! comparison).
//! Ingest beside a heavy query: `INGEST_QUERY=1` cuts the steady rounds into blocks of
//! `INGEST_QUERY_BLOCK` rounds (default: a tenth of them), sent alternately alone and while one
//! thread runs `INGEST_QUERY_EXPR` back to back at the timestamp of the round before the block,
//! so that both halves meet the same chunk cuts and checkpoints (two plain halves did not: the
//! later one met more of them and was slower with a query of nothing) (default: `sum(rate(m[5m]))` of every metric `m` of the fleet, added up: every
//! series is read; one `rate` over `{__name__=~".+"}` would be refused, since it drops the names
//! and leaves label sets alike); the table then gives each half's latency and the queries' count
//! and mean time, and "steady" is the half sent alone.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use warroom_tests::bins::bin_path;
use warroom_tests::http;
use warroom_tests::loadgen::{Encoded, Fleet, Report, SendOptions, Target, Workload, encode, send};
use warroom_tests::process::{Process, dir_bytes};
use warroom_tests::procstat::{cpu_time, rss_anon_bytes, rss_bytes};
use warroom_tests::prometheus::{self, Prometheus, scalar};

/// A server under load, whichever it is.
trait Server {
    fn pid(&self) -> u32;
    fn addr(&self) -> SocketAddr;
    fn target(&self) -> Target;
    fn data_bytes(&self) -> anyhow::Result<u64>;
    fn stop(&mut self) -> anyhow::Result<ExitStatus>;
}

impl Server for Prometheus {
    fn pid(&self) -> u32 {
        Prometheus::pid(self)
    }
    fn addr(&self) -> SocketAddr {
        Prometheus::addr(self)
    }
    fn target(&self) -> Target {
        self.write_target()
    }
    fn data_bytes(&self) -> anyhow::Result<u64> {
        Prometheus::data_bytes(self)
    }
    fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        Prometheus::stop(self)
    }
}

/// `warroom serve` on a fresh data dir, with an agent token made by `warroom token create`.
struct Warroom {
    process: Option<Process>,
    pid: u32,
    addr: SocketAddr,
    token: String,
    dir: tempfile::TempDir,
}

impl Warroom {
    fn start(binary: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let out = Command::new(binary)
            // Admin: it writes the load and reads the series count back.
            .args([
                "token",
                "create",
                "loadgen",
                "--scope",
                "admin",
                "--data-dir",
            ])
            .arg(&data)
            .output()
            .context("run warroom token create")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let token = stdout.lines().rev().find(|l| !l.trim().is_empty());
        let (true, Some(token)) = (out.status.success(), token) else {
            bail!(
                "warroom token create: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let addr = http::free_addr();
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(&data);
        let log = dir.path().join("warroom.log");
        let mut process = Process::spawn("warroom serve", &mut command, &log)?;
        process.wait_ready(addr, "/readyz", Duration::from_secs(60))?;
        let token = token.trim().to_string();
        Ok(Self {
            pid: process.pid(),
            process: Some(process),
            addr,
            token,
            dir,
        })
    }
}

impl Server for Warroom {
    fn pid(&self) -> u32 {
        self.pid
    }
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn target(&self) -> Target {
        let url = format!("http://{}/api/v1/write", self.addr);
        Target {
            url,
            token: Some(self.token.clone()),
        }
    }
    fn data_bytes(&self) -> anyhow::Result<u64> {
        Ok(dir_bytes(&self.dir.path().join("data"))?)
    }
    fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let process = self.process.take().context("warroom already stopped")?;
        let exit = process.terminate(Duration::from_secs(300));
        // Its checkpoints' durations, for a reader of the figures, and what it logged of any
        // failure.
        let log = std::fs::read_to_string(self.dir.path().join("warroom.log")).unwrap_or_default();
        let shown = |l: &&str| {
            ["checkpoint", "ERROR", "WARN"]
                .iter()
                .any(|w| l.contains(w))
        };
        for line in log.lines().filter(shown) {
            println!("warroom log: {line}");
        }
        exit
    }
}

/// Sizing from the environment.
#[derive(Clone)]
struct Plan {
    sizes: Vec<usize>,
    /// The query run in a loop beside every other block of the steady rounds, if any.
    query: Option<String>,
    /// Steady rounds per block with `query` (0: a tenth of them).
    query_block: u32,
    peer: bool,
    steady_samples: usize,
    batch: usize,
    options: SendOptions,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Plan {
    fn from_env() -> Self {
        let sizes = std::env::var("INGEST_SERIES").unwrap_or_else(|_| "100000,1000000".into());
        let sizes = sizes
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let deadline = Duration::from_secs(env_or("INGEST_DEADLINE_S", 90));
        let query = (env_or("INGEST_QUERY", 0) != 0)
            .then(|| std::env::var("INGEST_QUERY_EXPR").unwrap_or_default());
        Self {
            sizes,
            query,
            query_block: env_or("INGEST_QUERY_BLOCK", 0),
            peer: env_or("INGEST_PEER", 1) != 0,
            steady_samples: env_or("INGEST_SAMPLES", 2_000_000),
            batch: env_or("INGEST_BATCH", 2_000),
            options: SendOptions {
                connections: env_or("INGEST_CONNECTIONS", 8),
                deadline: Some(deadline),
            },
        }
    }

    /// Steady rounds for `series` series (round 0 creates them and is counted apart).
    fn steady_rounds(&self, series: usize) -> u32 {
        (self.steady_samples / series.max(1)).max(2) as u32
    }
}

/// One load phase: what the generator saw and the CPU the server spent meanwhile.
struct Phase {
    report: Report,
    /// The queries run beside it, if any.
    queries: Option<Queries>,
    server_cpu: Duration,
    /// The server's largest RSS seen while the phase ran (read every 50 ms), whole and its
    /// anonymous part.
    rss_peak: Rss,
}

/// The queries a phase ran beside its load, back to back.
#[derive(Clone, Copy, Default)]
struct Queries {
    answered: u64,
    failed: u64,
    /// Time spent in answered queries.
    busy: Duration,
}

impl Queries {
    fn mean_s(&self) -> f64 {
        self.busy.as_secs_f64() / self.answered.max(1) as f64
    }
}

/// A query to loop, where, and with which headers.
struct QueryLoop<'a> {
    addr: SocketAddr,
    expr: &'a str,
    at_s: f64,
    headers: &'a [&'a str],
}

impl QueryLoop<'_> {
    /// Runs the query back to back until `done`.
    fn run(&self, done: &AtomicBool) -> Queries {
        let mut q = Queries::default();
        while !done.load(Ordering::Relaxed) {
            let began = std::time::Instant::now();
            match prometheus::query(self.addr, self.expr, self.at_s, self.headers) {
                Ok(_) => {
                    q.answered += 1;
                    q.busy += began.elapsed();
                }
                Err(e) => {
                    if q.failed == 0 {
                        eprintln!("heavy query failed: {e:#}");
                    }
                    q.failed += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        q
    }
}

/// A resident set size, whole and its anonymous part (without the pages of the binary and its
/// libraries, which `VmRSS` counts and which do not grow with the series).
#[derive(Clone, Copy, Default)]
struct Rss {
    whole: u64,
    anon: u64,
}

impl Rss {
    fn of(pid: u32) -> anyhow::Result<Rss> {
        Ok(Rss {
            whole: rss_bytes(pid)?,
            anon: rss_anon_bytes(pid)?,
        })
    }

    fn max(self, other: Rss) -> Rss {
        Rss {
            whole: self.whole.max(other.whole),
            anon: self.anon.max(other.anon),
        }
    }
}

impl Phase {
    /// Adds `other`, a phase run after this one, to it.
    fn absorb(&mut self, other: Phase) {
        self.report.absorb(other.report);
        self.queries = match (self.queries, other.queries) {
            (Some(a), Some(b)) => Some(Queries {
                answered: a.answered + b.answered,
                failed: a.failed + b.failed,
                busy: a.busy + b.busy,
            }),
            (a, b) => a.or(b),
        };
        self.server_cpu += other.server_cpu;
        self.rss_peak = self.rss_peak.max(other.rss_peak);
    }

    fn cpu_per_million(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / (self.report.acked_samples.max(1) as f64)
    }
}

/// One server's figures at one size.
struct Figures {
    series: usize,
    creation: Phase,
    steady: Phase,
    /// The steady rounds' second half, sent beside a heavy query (with `INGEST_QUERY`).
    loaded: Option<Phase>,
    /// Before any load.
    rss_idle: Rss,
    rss: Rss,
    series_seen: Option<f64>,
    disk_stopped: u64,
    exit: ExitStatus,
}

fn phase(
    server: &dyn Server,
    requests: &[warroom_tests::loadgen::Request],
    plan: &Plan,
    beside: Option<&QueryLoop<'_>>,
) -> anyhow::Result<Phase> {
    let before = cpu_time(server.pid())?;
    let done = AtomicBool::new(false);
    let (report, rss_peak, queries) = std::thread::scope(|scope| {
        let pid = server.pid();
        let done = &done;
        let peak = scope.spawn(move || peak_rss(pid, done));
        let queries = beside.map(|q| scope.spawn(move || q.run(done)));
        let report = send(&server.target(), requests, &plan.options);
        done.store(true, Ordering::Relaxed);
        let queries = queries.map(|q| q.join().unwrap_or_default());
        (report, peak.join().unwrap_or_default(), queries)
    });
    let server_cpu = cpu_time(server.pid())? - before;
    Ok(Phase {
        report: report?,
        queries,
        server_cpu,
        rss_peak,
    })
}

/// The largest RSS of process `pid` read every 50 ms until `done` (and once after): what a
/// server needs while its open chunks fill, where the RSS after a load may be a low point.
fn peak_rss(pid: u32, done: &AtomicBool) -> Rss {
    let mut peak = Rss::default();
    loop {
        let last = done.load(Ordering::Relaxed);
        peak = peak.max(Rss::of(pid).unwrap_or_default());
        if last {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Loads `server` with round 0, then the steady rounds; measures it running, then stopped.
fn measure(
    server: &mut dyn Server,
    encoded: &Encoded,
    workload: &Workload,
    plan: &Plan,
) -> anyhow::Result<Figures> {
    let bearer = server
        .target()
        .token
        .map(|t| format!("Authorization: Bearer {t}"));
    let headers: Vec<&str> = bearer.iter().map(String::as_str).collect();
    let rss_idle = Rss::of(server.pid())?;
    let creation = phase(server, &encoded.rounds(0..1), plan, None)?;
    let (steady, loaded) = match &plan.query {
        None => (
            phase(server, &encoded.rounds(1..workload.rounds), plan, None)?,
            None,
        ),
        Some(expr) => {
            let (steady, loaded) = alternating(server, encoded, workload, plan, expr, &headers)?;
            (steady, Some(loaded))
        }
    };
    let rss = Rss::of(server.pid())?;
    let last_s = workload.timestamp(workload.rounds - 1) as f64 / 1000.0;
    let seen = prometheus::query(
        server.addr(),
        r#"count({__name__=~".+"})"#,
        last_s,
        &headers,
    );
    let series_seen = seen
        .map_err(|e| eprintln!("series count query failed: {e:#}"))
        .ok();
    let exit = server.stop()?;
    let disk_stopped = server.data_bytes()?;
    Ok(Figures {
        series: workload.series,
        creation,
        steady,
        loaded,
        rss_idle,
        rss,
        series_seen: series_seen.as_ref().and_then(scalar),
        disk_stopped,
        exit,
    })
}

/// The steady rounds in blocks sent alternately alone and beside `expr` run back to back: the
/// blocks sent alone, then those sent beside it, each as one phase.
fn alternating(
    server: &dyn Server,
    encoded: &Encoded,
    workload: &Workload,
    plan: &Plan,
    expr: &str,
    headers: &[&str],
) -> anyhow::Result<(Phase, Phase)> {
    let steady = workload.rounds - 1;
    let block = match plan.query_block {
        0 => (steady / 10).max(1),
        n => n,
    };
    let (mut alone, mut beside): (Option<Phase>, Option<Phase>) = (None, None);
    for (n, at) in (1..workload.rounds).step_by(block as usize).enumerate() {
        let rounds = encoded.rounds(at..(at + block).min(workload.rounds));
        let (query, into) = match n % 2 {
            0 => (None, &mut alone),
            _ => {
                let query = QueryLoop {
                    addr: server.addr(),
                    expr,
                    at_s: workload.timestamp(at - 1) as f64 / 1000.0,
                    headers,
                };
                (Some(query), &mut beside)
            }
        };
        let measured = phase(server, &rounds, plan, query.as_ref())?;
        match into {
            Some(p) => p.absorb(measured),
            None => *into = Some(measured),
        }
    }
    match (alone, beside) {
        (Some(alone), Some(beside)) => Ok((alone, beside)),
        _ => bail!("{steady} steady rounds make fewer than two blocks of {block}"),
    }
}

/// A table row: a label, Prometheus's figure (if it ran), warroom's (if it ran), the ratio.
fn row(label: &str, prom: Option<f64>, war: Option<f64>) {
    let war_text = war.map_or("MISSING".to_string(), num);
    let prom_text = prom.map_or("skipped".to_string(), num);
    let ratio = match (war, prom) {
        (Some(w), Some(p)) => format!("{:.2}", w / p),
        _ => "-".to_string(),
    };
    println!("{label:<46} {prom_text:>14} {war_text:>14} {ratio:>10}");
}

/// A figure with as many decimals as its size deserves.
fn num(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// `d` in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The phases of a run, in order.
fn phases(f: &Figures) -> impl Iterator<Item = &Phase> {
    [&f.creation, &f.steady].into_iter().chain(&f.loaded)
}

/// Samples acknowledged in all phases.
fn acked(f: &Figures) -> f64 {
    phases(f).map(|p| p.report.acked_samples).sum::<u64>() as f64
}

/// A table row: its label and how to read its figure from a server's results.
type Row = (&'static str, fn(&Figures) -> f64);

/// `get` of the half sent beside a heavy query, NaN without one.
fn loaded(f: &Figures, get: fn(&Phase) -> f64) -> f64 {
    f.loaded.as_ref().map_or(f64::NAN, get)
}

/// The rows of a run with a heavy query: the loaded half beside the steady one.
fn loaded_rows() -> [Row; 6] {
    [
        ("request latency p50 ms, beside a heavy query", |f| {
            loaded(f, |p| ms(p.report.latency(0.5)))
        }),
        ("request latency p99 ms, beside a heavy query", |f| {
            loaded(f, |p| ms(p.report.latency(0.99)))
        }),
        ("acked samples/s, beside a heavy query", |f| {
            loaded(f, |p| p.report.samples_per_s())
        }),
        ("heavy queries answered", |f| {
            loaded(f, |p| p.queries.unwrap_or_default().answered as f64)
        }),
        ("heavy queries failed", |f| {
            loaded(f, |p| p.queries.unwrap_or_default().failed as f64)
        }),
        ("heavy query mean s", |f| {
            loaded(f, |p| p.queries.unwrap_or_default().mean_s())
        }),
    ]
}

/// The table's rows: a label and how to read the figure from a server's results.
fn rows() -> [Row; 20] {
    [
        ("acked samples/s, steady", |f| {
            f.steady.report.samples_per_s()
        }),
        ("acked samples/s, round 0 (new series)", |f| {
            f.creation.report.samples_per_s()
        }),
        ("server CPU s per 1M samples, steady", |f| {
            f.steady.cpu_per_million()
        }),
        ("server CPU s per 1M samples, round 0", |f| {
            f.creation.cpu_per_million()
        }),
        ("request latency p50 ms, steady", |f| {
            ms(f.steady.report.latency(0.5))
        }),
        ("request latency p99 ms, steady", |f| {
            ms(f.steady.report.latency(0.99))
        }),
        ("acked samples (all phases)", acked),
        ("failed requests (all phases)", |f| {
            phases(f).map(|p| p.report.failed()).sum::<u64>() as f64
        }),
        ("series seen by count({__name__=~\".+\"})", |f| {
            f.series_seen.unwrap_or(f64::NAN)
        }),
        ("server RSS MB idle (before load)", |f| {
            f.rss_idle.whole as f64 / 1e6
        }),
        ("  of it anonymous (not the binary's pages)", |f| {
            f.rss_idle.anon as f64 / 1e6
        }),
        ("server RSS MB after load", |f| f.rss.whole as f64 / 1e6),
        ("RSS bytes per active series", |f| {
            f.rss.whole as f64 / f.series as f64
        }),
        ("  anonymous RSS bytes per active series", |f| {
            f.rss.anon as f64 / f.series as f64
        }),
        ("server peak RSS MB, steady rounds", |f| {
            f.steady.rss_peak.whole as f64 / 1e6
        }),
        ("peak RSS bytes per active series, steady", |f| {
            f.steady.rss_peak.whole as f64 / f.series as f64
        }),
        ("  peak anonymous RSS bytes per active series", |f| {
            f.steady.rss_peak.anon as f64 / f.series as f64
        }),
        ("disk MB after SIGTERM", |f| f.disk_stopped as f64 / 1e6),
        ("disk bytes per sample after SIGTERM", |f| {
            f.disk_stopped as f64 / acked(f)
        }),
        ("generator send CPU s per 1M samples", |f| {
            f.steady.report.cpu.as_secs_f64() * 1e6 / f.steady.report.acked_samples.max(1) as f64
        }),
    ]
}

fn print_size(
    workload: &Workload,
    encoded: &Encoded,
    prom: Option<&Figures>,
    war: Option<&Figures>,
) {
    println!(
        "\n== {} active series: round 0 + {} steady rounds, {} requests of <= {} samples ==",
        workload.series,
        workload.rounds - 1,
        encoded.requests.len(),
        workload.batch
    );
    println!(
        "{:<46} {:>14} {:>14} {:>10}",
        "", "prometheus", "warroom", "war/prom"
    );
    for (label, get) in rows() {
        row(label, prom.map(get), war.map(get));
    }
    if [prom, war].iter().flatten().any(|f| f.loaded.is_some()) {
        for (label, get) in loaded_rows() {
            row(label, prom.map(get), war.map(get));
        }
    }
    for (name, f) in [("prometheus", prom), ("warroom", war)] {
        let Some(f) = f else { continue };
        let reports: Vec<&Report> = phases(f).map(|p| &p.report).collect();
        let errors: Vec<_> = reports.iter().map(|r| r.errors.clone()).collect();
        let first: Vec<_> = reports
            .iter()
            .flat_map(|r| r.error_samples.clone())
            .collect();
        println!(
            "{name}: {}, errors by status (round 0, steady, beside the query) {errors:?} {first:?}",
            f.exit
        );
        let planned = (workload.series * workload.rounds as usize) as f64;
        if acked(f) < planned || f.series_seen != Some(workload.series as f64) {
            println!(
                "!!! {name}: {} of {planned} samples acked, series seen {:?} of {}: incomplete",
                acked(f),
                f.series_seen,
                workload.series
            );
        }
    }
}

/// `sum(rate(m[5m]))` of every metric name `m` of `fleet`, added up: a rate over every series.
fn rate_of_every_series(fleet: &Fleet) -> String {
    let names: std::collections::BTreeSet<String> = (fleet.series(0..fleet.len()).into_iter())
        .filter_map(|d| d.labels.into_iter().find(|l| l.name == "__name__"))
        .map(|l| l.value)
        .collect();
    let sums: Vec<String> = (names.iter())
        .map(|n| format!("sum(rate({n}[5m]))"))
        .collect();
    sums.join(" + ")
}

fn run_size(series: usize, plan: &Plan, warroom: Option<&Path>) -> anyhow::Result<bool> {
    let fleet = Fleet::new(series);
    let defaulted;
    let plan = match plan.query.as_deref() {
        Some("") => {
            let query = rate_of_every_series(&fleet);
            println!("heavy query: {query}");
            defaulted = Plan {
                query: Some(query),
                ..plan.clone()
            };
            &defaulted
        }
        _ => plan,
    };
    let workload = Workload::ending_now(series, plan.batch, plan.steady_rounds(series) + 1);
    let encoded = encode(&fleet, &workload, 2);
    let total = (series * workload.rounds as usize) as f64;
    println!(
        "\nencoded {series} series x {} rounds ({} nodes): {:.2} CPU s per 1M samples, {:.1} raw / {:.1} snappy bytes per sample",
        workload.rounds,
        fleet.nodes(),
        encoded.cpu.as_secs_f64() * 1e6 / total,
        encoded.raw_bytes() as f64 / total,
        encoded.body_bytes() as f64 / total
    );
    let prom_figures = match plan.peer {
        true => Some(measure(
            &mut Prometheus::start()?,
            &encoded,
            &workload,
            plan,
        )?),
        false => None,
    };
    let war_figures = match warroom {
        Some(binary) => Some(measure(
            &mut Warroom::start(binary)?,
            &encoded,
            &workload,
            plan,
        )?),
        None => None,
    };
    print_size(
        &workload,
        &encoded,
        prom_figures.as_ref(),
        war_figures.as_ref(),
    );
    Ok(war_figures.is_some())
}

fn main() -> anyhow::Result<()> {
    let plan = Plan::from_env();
    let binary = bin_path("warroom");
    let warroom = binary.exists().then_some(binary.as_path());
    if warroom.is_none() {
        eprintln!(
            "\n!!! warroom binary MISSING at {}: the warroom half will NOT run.\n!!! Build it with `cargo build --release -p warroom-server`.\n",
            binary.display()
        );
    }
    for &series in &plan.sizes {
        run_size(series, &plan, warroom)?;
    }
    if warroom.is_none() {
        eprintln!(
            "\n!!! warroom half did not run (binary missing at {}): failing.",
            binary.display()
        );
        std::process::exit(2);
    }
    Ok(())
}
