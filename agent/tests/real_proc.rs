//! The host network collectors against this machine's live `/proc`: every one succeeds, writes
//! the families its fixtures promise, and its cost per collection is printed (run with
//! `--nocapture`; debug builds overstate it several times).

use std::time::Instant;

use warroom_agent::collect::network::{Conntrack, NetDev, Netstat, Sockstat};
use warroom_agent::collect::{Collector, Cx, Inventory, Roots};
use warroom_agent::metrics::Buffer;

fn collectors() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(NetDev::new(Roots::default())),
        Box::new(Netstat::new(Roots::default())),
        Box::new(Sockstat::new(Roots::default())),
        Box::new(Conntrack::new(Roots::default())),
    ]
}

fn collect_all(collectors: &mut [Box<dyn Collector>], out: &mut Buffer) {
    let mut inventory = Inventory::default();
    let mut cx = Cx::new(out, &mut inventory);
    for c in collectors.iter_mut() {
        let name = c.name();
        c.collect(&mut cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            cx.take_partial().is_empty(),
            "{name} reported partial failures"
        );
    }
}

#[test]
fn the_host_collectors_read_the_live_proc_of_this_machine() {
    let mut collectors = collectors();
    let mut out = Buffer::new();

    collect_all(&mut collectors, &mut out);

    let has = |name: &str| out.families().iter().any(|f| f.name == name);
    assert!(has("node_network_receive_bytes_total"));
    assert!(has("node_netstat_Tcp_RetransSegs"));
    assert!(has("node_netstat_TcpExt_ListenDrops"));
    assert!(has("node_sockstat_TCP_inuse"));
    let lo = out.families()[0]
        .samples
        .iter()
        .any(|s| s.labels[0].1 == "lo");
    assert!(lo, "loopback is listed by node_network_*");
}

#[test]
fn the_host_collectors_cost_per_collection_is_printed() {
    let mut out = Buffer::new();
    let mut inventory = Inventory::default();
    let runs = 300;

    for mut collector in collectors() {
        let start = Instant::now();
        for _ in 0..runs {
            out.clear();
            collector
                .collect(&mut Cx::new(&mut out, &mut inventory))
                .unwrap();
        }
        let per = start.elapsed() / runs;
        let (name, series) = (collector.name(), out.series_count());
        eprintln!("{name}: {per:?} wall per collection, {series} series");
    }

    let mut raw = String::new();
    let start = Instant::now();
    for _ in 0..runs {
        for file in ["dev", "snmp", "netstat", "snmp6", "sockstat", "sockstat6"] {
            let path = std::path::Path::new("/proc/net").join(file);
            warroom_agent::collect::procfs::read_into(&path, &mut raw).unwrap();
        }
    }
    eprintln!("reading the six files alone: {:?}", start.elapsed() / runs);
}
