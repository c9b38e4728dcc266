//! What each collector costs per collection against this machine's live `/proc` and `/sys`, what
//! one whole pass of every collector costs, and what reading the six `/proc/net` files alone
//! costs (the floor under the network collectors).
//!
//! Run: `cargo bench -p warroom-agent --bench collectors` (`-- <filter>` for one collector).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use warroom_agent::collect::{self, Collector, Cx, Inventory, Roots};
use warroom_agent::metrics::Buffer;

/// One collection of `collector` into `out`, cleared first; a fresh inventory each time, so the
/// containers one pass found do not pile up.
fn collect_once(collector: &mut dyn Collector, out: &mut Buffer) {
    out.clear();
    let mut inventory = Inventory::default();
    // A collector that fails here (no cgroup of some layout) still costs what it read.
    let _ = collector.collect(&mut Cx::new(out, &mut inventory));
}

fn each_collector(c: &mut Criterion) {
    let mut group = c.benchmark_group("collector");
    let mut out = Buffer::new();
    for mut collector in collect::all(&Roots::default()) {
        group.bench_function(collector.name(), |b| {
            b.iter(|| collect_once(collector.as_mut(), &mut out));
        });
    }
    group.finish();
}

fn whole_pass(c: &mut Criterion) {
    let mut all = collect::all(&Roots::default());
    let mut out = Buffer::new();
    c.bench_function("all collectors", |b| {
        b.iter(|| {
            out.clear();
            let mut inventory = Inventory::default();
            let mut cx = Cx::new(&mut out, &mut inventory);
            for collector in all.iter_mut() {
                let _ = collector.collect(&mut cx);
            }
        });
    });
}

fn proc_net_files(c: &mut Criterion) {
    let mut raw = String::new();
    let files = ["dev", "snmp", "netstat", "snmp6", "sockstat", "sockstat6"];
    c.bench_function("the six /proc/net files, read alone", |b| {
        b.iter(|| {
            for file in files {
                let path = std::path::Path::new("/proc/net").join(file);
                // An absent snmp6 (IPv6 off) costs its failed open, as in the collector.
                let _ = collect::procfs::read_into(&path, &mut raw);
                black_box(&raw);
            }
        });
    });
}

/// Short runs: the figures are microseconds and steady, and the machine is shared.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = each_collector, whole_pass, proc_net_files
}
criterion_main!(benches);
