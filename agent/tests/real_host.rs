//! The softnet, diskstats, netclass, uname and os-release collectors against this machine's live
//! `/proc` and `/sys`: each succeeds without partial failures, and the cost per collection of each
//! and of every collector together is printed (run with `--nocapture`; debug builds overstate it).

use std::time::{Duration, Instant};

use warroom_agent::collect::host::{diskstats, os_release, softnet, uname};
use warroom_agent::collect::network::NetClass;
use warroom_agent::collect::{Collector, Cx, Inventory, Roots};
use warroom_agent::metrics::Buffer;

fn added() -> Vec<Box<dyn Collector>> {
    let roots = Roots::default();
    vec![
        Box::new(softnet::Softnet::new(&roots)),
        Box::new(diskstats::DiskStats::new(&roots)),
        Box::new(NetClass::new(roots.clone())),
        Box::new(uname::Uname::new(&roots)),
        Box::new(os_release::OsRelease::new(&roots)),
    ]
}

/// Wall time per call of `collect` over `runs` collections into a cleared buffer.
fn time(collector: &mut dyn Collector, out: &mut Buffer, runs: u32) -> Duration {
    let mut inventory = Inventory::default();
    let start = Instant::now();
    for _ in 0..runs {
        out.clear();
        let mut cx = Cx::new(out, &mut inventory);
        let _ = collector.collect(&mut cx);
    }
    start.elapsed() / runs
}

#[test]
fn the_added_collectors_read_the_live_host_without_errors() {
    let mut out = Buffer::new();
    let mut inventory = Inventory::default();
    let mut cx = Cx::new(&mut out, &mut inventory);
    for mut c in added() {
        let name = c.name();
        c.collect(&mut cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let partial = cx.take_partial();
        assert!(partial.is_empty(), "{name}: {partial:?}");
    }
    for name in [
        "node_softnet_processed_total",
        "node_network_up",
        "node_uname_info",
    ] {
        assert!(out.families().iter().any(|f| f.name == name), "{name}");
    }
}

#[test]
fn the_cost_of_the_added_collectors_and_of_all_is_printed() {
    let mut out = Buffer::new();
    let runs = 300;
    for mut collector in added() {
        let per = time(collector.as_mut(), &mut out, runs);
        let (name, series) = (collector.name(), out.series_count());
        eprintln!("{name}: {per:?} wall per collection, {series} series");
    }
    let mut all = warroom_agent::collect::all(&Roots::default());
    let start = Instant::now();
    for _ in 0..runs {
        out.clear();
        let mut inventory = Inventory::default();
        let mut cx = Cx::new(&mut out, &mut inventory);
        for c in all.iter_mut() {
            let _ = c.collect(&mut cx);
        }
    }
    let series = out.series_count();
    eprintln!(
        "all collectors: {:?} per collection, {series} series",
        start.elapsed() / runs
    );
}
