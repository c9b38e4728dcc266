//! The host network collectors against this machine's live `/proc`: every one succeeds, writes
//! the families its fixtures promise, and its counters never go back between two collections.
//! What each costs is measured by `cargo bench -p warroom-agent --bench collectors`.

// Helpers of a test binary panic on purpose: a failed setup step must fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use warroom_agent::collect::network::{Conntrack, ConntrackStat, NetDev, Netstat, Sockstat};
use warroom_agent::collect::{Collector, Cx, Inventory, Roots};
use warroom_agent::metrics::{Buffer, Kind, Value};

fn collectors() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(NetDev::new(Roots::default())),
        Box::new(Netstat::new(Roots::default())),
        Box::new(Sockstat::new(Roots::default())),
        Box::new(Conntrack::new(Roots::default())),
        Box::new(ConntrackStat::new(Roots::default())),
    ]
}

fn collect_all(collectors: &mut [Box<dyn Collector>]) -> Buffer {
    let mut out = Buffer::new();
    let mut inventory = Inventory::default();
    let mut cx = Cx::new(&mut out, &mut inventory);
    for c in collectors.iter_mut() {
        let name = c.name();
        c.collect(&mut cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            cx.take_partial().is_empty(),
            "{name} reported partial failures"
        );
    }
    out
}

/// Every number sample of `out` whose family is a counter, with its family's name.
fn counters(out: &Buffer) -> Vec<(String, String, f64)> {
    let mut found = Vec::new();
    for family in out.families().iter().filter(|f| f.kind == Kind::Counter) {
        for sample in &family.samples {
            if let Value::Number(v) = sample.value {
                found.push((family.name.to_string(), format!("{:?}", sample.labels), v));
            }
        }
    }
    found
}

#[test]
fn the_host_collectors_read_the_live_proc_of_this_machine() {
    let mut collectors = collectors();

    let out = collect_all(&mut collectors);

    let has = |name: &str| out.families().iter().any(|f| f.name == name);
    assert!(has("node_network_receive_bytes_total"));
    assert!(has("node_netstat_Tcp_RetransSegs"));
    assert!(has("node_netstat_TcpExt_ListenDrops"));
    assert!(has("node_netstat_Udp_NoPorts"));
    assert!(has("node_sockstat_TCP_inuse"));
    let conntrack = Path::new("/proc/net/stat/nf_conntrack").exists();
    assert_eq!(has("node_nf_conntrack_stat_found"), conntrack);
    let lo = out.families()[0]
        .samples
        .iter()
        .any(|s| s.labels[0].1 == "lo");
    assert!(lo, "loopback is listed by node_network_*");
}

#[test]
fn live_counters_are_whole_and_never_go_back_between_two_collections() {
    let mut collectors = collectors();
    let first = counters(&collect_all(&mut collectors));

    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = counters(&collect_all(&mut collectors));

    let mut compared = 0;
    for (name, labels, before) in &first {
        assert!(
            before.fract() == 0.0 && *before >= 0.0,
            "{name}{labels} = {before}"
        );
        let after = second
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|(.., v)| *v);
        // An interface can vanish between the two (a container that ended), never shrink.
        if let Some(after) = after {
            assert!(
                after >= *before,
                "{name}{labels} went from {before} to {after}"
            );
            compared += 1;
        }
    }
    assert!(
        compared > 10,
        "only {compared} counter series in both collections"
    );
}
