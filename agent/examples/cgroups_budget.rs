//! A criterion-free check of the cgroups collector's CPU cost: builds fixture trees of 500
//! containers (v1, v2, hybrid) in a temporary directory and prints the CPU time per collection.
//! Run with `cargo run -p warroom-agent --example cgroups_budget --features testing --release`;
//! set `KEEP=1` to leave the trees for inspection.

use std::time::Instant;

use warroom_agent::collect::cgroups::{Cgroups, fixtures};
use warroom_agent::collect::{Collector, Cx, Inventory};
use warroom_agent::metrics::Buffer;

/// The process's user + system CPU time in seconds, from `/proc/self/stat` (clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

fn main() {
    const N: usize = 500;
    const PASSES: usize = 200;
    // `CGROUPS_BUDGET_DIR` picks where the trees go (e.g. a tmpfs such as /dev/shm, like cgroupfs
    // in memory); the default is a temporary directory on the usual disk.
    let tmp = match std::env::var_os("CGROUPS_BUDGET_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("tmp"),
        None => tempfile::tempdir().expect("tmp"),
    };
    type Builder = fn(&std::path::Path, usize) -> std::io::Result<fixtures::Fixture>;
    let builders: [(&str, Builder); 3] = [
        ("v1", fixtures::v1_cgroupfs),
        ("v2", fixtures::v2_systemd),
        ("hybrid", fixtures::hybrid),
    ];
    if std::env::var_os("KEEP").is_some() {
        println!("trees kept in {}", tmp.path().display());
    }
    for (name, build) in builders {
        let fx = build(&tmp.path().join(name), N).expect("fixture");
        let mut cgroups = Cgroups::new(fx.roots.clone());
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let mut series = 0;
        for _ in 0..PASSES {
            let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
            let mut cx = Cx::new(&mut out, &mut inventory);
            cgroups.collect(&mut cx).expect("collect");
            assert!(cx.take_partial().is_empty());
            series = out.series_count();
        }
        let cpu = (cpu_seconds() - cpu0) / PASSES as f64 * 1e3;
        let wall = wall0.elapsed().as_secs_f64() / PASSES as f64 * 1e3;
        println!(
            "{name:>6}: {N} containers, {series} series: {cpu:.2} ms CPU, {wall:.2} ms wall per collection"
        );
    }
    if std::env::var_os("KEEP").is_some() {
        let _ = tmp.keep();
    }
}
