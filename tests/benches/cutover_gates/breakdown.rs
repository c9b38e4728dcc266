//! Where a round's CPU goes: each part of a round done again alone at the last round's time,
//! its CPU timed and summed by part (building the phase's gates, each kind of gate query, the
//! runbook's verifications, the services measured on both sides).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warroom_server::cutover::gates::{self, Check, GateSpec};
use warroom_server::cutover::measure;
use warroom_server::cutover::plan::Plan;
use warroom_server::cutover::traffic::DEFAULT_TOLERANCE;
use warroom_server::query::Engine;
use warroom_server::store::sqlite::SqliteStore;

use crate::{ms, process_cpu};

/// One part of a round: its name, how many queries, their CPU.
struct Part {
    name: String,
    queries: usize,
    cpu: Duration,
}

/// Prints the CPU of each part of a round of `plan`'s second phase at `at_ms`, largest first.
pub async fn print(store: Arc<SqliteStore>, plan: &Plan, at_ms: i64) -> anyhow::Result<()> {
    let engine = Engine::new(store).at_full_priority();
    let phase = &plan.phases[1];
    let cpu = process_cpu();
    let specs = gates::specs(plan, phase);
    let mut parts = vec![part("building the gates", 0, process_cpu() - cpu)];
    for spec in &specs {
        if let Ok(Check::Query { query, .. }) = &spec.check {
            let cpu = timed(&engine, query, at_ms).await?;
            add(&mut parts, gate_kind(spec), cpu);
        }
    }
    for query in plan.runbook.iter().filter_map(|s| s.verify.as_deref()) {
        let cpu = timed(&engine, query, at_ms).await?;
        add(&mut parts, "runbook verifications", cpu);
    }
    let cpu = process_cpu();
    measure::services(&engine, plan, phase.traffic, DEFAULT_TOLERANCE, at_ms).await;
    let sides = 2 * plan.services.len();
    let name = "services measured (sides: requests, error ratio, p50/p99)";
    parts.push(part(name, sides, process_cpu() - cpu));
    table(parts);
    Ok(())
}

fn part(name: &str, queries: usize, cpu: Duration) -> Part {
    let name = name.to_owned();
    Part { name, queries, cpu }
}

/// A gate's name without the service it starts with: the same for every service.
fn gate_kind(spec: &GateSpec) -> &str {
    let service = spec.service.as_deref().unwrap_or_default();
    spec.name.strip_prefix(service).unwrap_or(&spec.name).trim()
}

fn add(parts: &mut Vec<Part>, name: &str, cpu: Duration) {
    match parts.iter_mut().find(|p| p.name == name) {
        Some(p) => (p.queries, p.cpu) = (p.queries + 1, p.cpu + cpu),
        None => parts.push(part(name, 1, cpu)),
    }
}

/// The process's CPU time evaluating `query` at `at_ms`.
async fn timed(engine: &Engine, query: &str, at_ms: i64) -> anyhow::Result<Duration> {
    let cpu = process_cpu();
    engine
        .instant(query, at_ms)
        .await
        .context(query.to_owned())?;
    Ok(process_cpu() - cpu)
}

fn table(mut parts: Vec<Part>) {
    parts.sort_by_key(|p| std::cmp::Reverse(p.cpu));
    let total: Duration = parts.iter().map(|p| p.cpu).sum();
    println!(
        "\nwhere a round's CPU goes (each part again, alone): {:.1} ms",
        ms(total)
    );
    for p in parts {
        let share = 100.0 * p.cpu.as_secs_f64() / total.as_secs_f64();
        println!(
            "{:>8.1} ms {share:>5.1} %  {:>3} × {}",
            ms(p.cpu),
            p.queries,
            p.name
        );
    }
}
