//! Gate rounds against their budget: 20 services × 10 gates evaluated every 15 s over 1,000
//! nodes' data, ≤ 50 ms CPU per round. In this process: the real `Cutover` over the real
//! SQLite store (a fresh file), whose `evaluate` runs every gate of the current phase as a
//! PromQL instant query, every runbook verification and each service's SLIs on both sides
//! (request rate, error ratio, p50 and p99 where it has a histogram), then saves what changed.
//!
//! Data: `CUTOVER_NODES` nodes (1000), alternately source (`cluster=~"do-.*"`) and target
//! (`eks-prod`), each serving `CUTOVER_SERVICES` services (20) as
//! `http_requests_total{service, env, cluster, node, code}` for codes 200 and 500 (the target
//! takes a tenth of the traffic, 0.05 % errors), the first two services also with an 8-bucket
//! `http_request_duration_seconds_bucket`. Scraped every 15 s from 10 minutes before the first
//! round through the last, one batch per node, checkpointed every 5 minutes of data.
//!
//! Plan: a first phase without gates, then the measured phase with 10 gates per service (error
//! ratio, request rate floors on both sides, burn rates over 5m and 30m, nodes serving, the
//! worst node's error ratio, the target's share, errors against the source's, p99 latency or
//! the last minute's errors), and two runbook verifications.
//!
//! Rounds: the first (every gate turns from unknown to green: its events are saved) is shown
//! apart; then `CUTOVER_ROUNDS` (20), each 15 s of data later than the one before. Per round,
//! the process's CPU time (user + system of every thread, `CLOCK_PROCESS_CPUTIME_ID`: the
//! engine's query threads and the store's readers included) and its wall time, as median, p99
//! and max; the total is checked against `/proc/self/stat`. No timed checkpoint runs during the
//! rounds (the interval is an hour), so the figures are the rounds' own. Last, where a round's
//! CPU goes: each of its parts done again alone, by part ([`breakdown`]).
//!
//! Files: [`fleet`] (the data and its load), [`plan`] (the plan's YAML), [`breakdown`].
//!
//! Run: `cargo bench -p warroom-tests --bench cutover_gates`
//! (`CUTOVER_NODES`, `CUTOVER_SERVICES`, `CUTOVER_ROUNDS` resize it).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use sqlx::SqlitePool;
use warroom_server::alerting::files::load_routing;
use warroom_server::alerting::pipeline::Pipeline;
use warroom_server::alerting::settings::AlertingSettings;
use warroom_server::cutover::check::{check_text, summary};
use warroom_server::cutover::decide::{Action, Decision};
use warroom_server::cutover::live::Cutover;
use warroom_server::cutover::memory::Colour;
use warroom_server::cutover::settings::CutoverSettings;
use warroom_server::query::Engine;
use warroom_server::store::StoreConfig;
use warroom_server::store::sqlite::SqliteStore;
use warroom_server::timeline::Timeline;
use warroom_tests::procstat;

mod breakdown;
mod fleet;
mod plan;

use fleet::{Fleet, load};
use plan::plan_yaml;

const STEP_MS: i64 = 15_000;
/// Scrapes before the first round: 10 minutes.
const HISTORY: i64 = 40;
const BUDGET: Duration = Duration::from_millis(50);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn service_name(s: usize) -> String {
    format!("svc-{s:02}")
}

/// One round's cost.
struct Round {
    cpu: Duration,
    wall: Duration,
}

/// CPU time of the whole process (every thread, those ended included), to the nanosecond.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

async fn round(cutover: &Cutover, at_ms: i64) -> anyhow::Result<Round> {
    let at = UNIX_EPOCH + Duration::from_millis(at_ms as u64);
    let (cpu, wall) = (process_cpu(), Instant::now());
    cutover.evaluate(at).await?;
    Ok(Round {
        cpu: process_cpu() - cpu,
        wall: wall.elapsed(),
    })
}

/// Fails unless every gate of the phase is green and every service was measured on both
/// sides; the first service's figures.
async fn check_green(cutover: &Cutover) -> anyhow::Result<String> {
    let (gates, mut not_green, first) = cutover
        .read(|live| {
            let mut not_green: Vec<String> = (live.memory.gates.iter())
                .filter(|(_, g)| g.colour() != Colour::Green)
                .map(|(name, g)| format!("{name}: {:?} {:?}", g.colour(), g.detail))
                .collect();
            let unmeasured = (live.services.iter())
                .filter(|m| m.source.requests.is_none() || m.target.requests.is_none());
            not_green.extend(unmeasured.map(|m| format!("{} not measured", m.service)));
            let first = live.services.first().map(|m| format!("{m:?}"));
            (live.memory.gates.len(), not_green, first)
        })
        .await;
    if !not_green.is_empty() {
        not_green.truncate(5);
        bail!("of {gates} gates, not green or not measured: {not_green:?}");
    }
    Ok(format!(
        "{gates} gates green; {}",
        first.unwrap_or_default()
    ))
}

/// The `q` quantile of `values`, nearest rank.
fn quantile(values: &mut [Duration], q: f64) -> Duration {
    values.sort();
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median, p99 and max of `values`, in milliseconds.
fn spread(mut values: Vec<Duration>) -> String {
    let (median, p99) = (quantile(&mut values, 0.5), quantile(&mut values, 0.99));
    let max = quantile(&mut values, 1.0);
    format!(
        "median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(median),
        ms(p99),
        ms(max)
    )
}

/// The cutover of `plan`, advanced into its second phase at `at_ms`.
async fn cutover_in_second_phase(
    db: SqlitePool,
    store: Arc<SqliteStore>,
    plan: &str,
    at_ms: i64,
) -> anyhow::Result<Arc<Cutover>> {
    let plan = check_text(Path::new("bench.yaml"), plan).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the bench plan is invalid:\n{}", lines.join("\n"))
    })?;
    println!("{}", summary(&plan));
    let timeline = Timeline::new(db.clone());
    let routing = load_routing(&AlertingSettings::default(), &reqwest::Client::new())
        .map_err(anyhow::Error::msg)?;
    let pipeline = Pipeline::open(db.clone(), timeline.clone(), routing).await?;
    let engine = Engine::new(store).at_full_priority();
    let settings = CutoverSettings::default();
    let cutover = Cutover::open(db, timeline, pipeline, engine, settings, plan).await?;
    let at = UNIX_EPOCH + Duration::from_millis(at_ms as u64);
    let advance = Action::Advance {
        override_reason: None,
    };
    match cutover.act(&advance, "bench", at).await? {
        Decision::Advance { .. } => Ok(cutover),
        other => bail!("advancing into the measured phase: {other:?}"),
    }
}

async fn run() -> anyhow::Result<()> {
    let (nodes, services) = (
        env_or("CUTOVER_NODES", 1000),
        env_or("CUTOVER_SERVICES", 20),
    );
    let rounds = env_or("CUTOVER_ROUNDS", 20).max(1) as i64;
    let scrapes = HISTORY + rounds + 1;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let start_ms = (now_ms - 60_000 - scrapes * STEP_MS) / STEP_MS * STEP_MS;
    // The round at `i`, just after every node's scrape of its time.
    let at = |i: i64| start_ms + (HISTORY + i) * STEP_MS + 1000;

    let dir = tempfile::TempDir::new()?;
    let pool = warroom_server::db::open(&dir.path().join("w.db")).await?;
    let config = StoreConfig {
        checkpoint_interval: Duration::from_secs(3600),
        ..StoreConfig::default()
    };
    let store = Arc::new(SqliteStore::open(pool.clone(), config).await?);
    let mut fleet = Fleet::new(nodes, services);
    let started = Instant::now();
    let samples = load(&store, &mut fleet, start_ms, scrapes).await?;
    println!(
        "data: {nodes} nodes × {services} services, {} series, {samples} samples over {} min, loaded in {:.1?}",
        fleet.series(),
        scrapes * STEP_MS / 60_000,
        started.elapsed()
    );

    let plan = plan_yaml(services, nodes);
    let cutover = cutover_in_second_phase(pool, store.clone(), &plan, at(0) - 1000).await?;
    let first = round(&cutover, at(0)).await?;
    println!(
        "{}",
        check_green(&cutover)
            .await
            .context("after the first round")?
    );
    println!(
        "first round (every gate turns green, saved): CPU {:.1} ms, wall {:.1} ms",
        ms(first.cpu),
        ms(first.wall)
    );

    let stat_before = procstat::cpu_time(std::process::id())?;
    let mut measured = Vec::new();
    for i in 1..=rounds {
        measured.push(round(&cutover, at(i)).await?);
    }
    let stat = procstat::cpu_time(std::process::id())? - stat_before;
    check_green(&cutover).await.context("after the rounds")?;
    report(&measured, stat);
    let plan = cutover.read(|live| live.plan.clone()).await;
    breakdown::print(store.clone(), &plan, at(rounds)).await?;
    store.close().await?;
    Ok(())
}

/// Prints the rounds' CPU and wall times against the budget.
fn report(rounds: &[Round], stat: Duration) {
    let cpu: Vec<Duration> = rounds.iter().map(|r| r.cpu).collect();
    let wall: Vec<Duration> = rounds.iter().map(|r| r.wall).collect();
    let n = rounds.len() as u32;
    let total: Duration = cpu.iter().sum();
    println!("{n} rounds, CPU per round: {}", spread(cpu.clone()));
    println!("{n} rounds, wall per round: {}", spread(wall));
    println!(
        "check: {:.1} ms CPU per round by the clock, {:.1} ms by /proc/self/stat (10 ms ticks)",
        ms(total / n),
        ms(stat / n)
    );
    let p99 = quantile(&mut cpu.clone(), 0.99);
    let verdict = if p99 <= BUDGET { "met" } else { "MISSED" };
    println!(
        "budget ≤ {} ms CPU per round (p99): {verdict}",
        BUDGET.as_millis()
    );
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
