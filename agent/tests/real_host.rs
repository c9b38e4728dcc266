//! The host collectors against this machine's live `/proc` and `/sys`: each succeeds without
//! partial failures, every family of a whole pass has help and one name, and the clock, process
//! and conntrack families read sane values. What each costs is measured by
//! `cargo bench -p warroom-agent --bench collectors`.

// Helpers of a test binary panic on purpose: a failed setup step must fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use warroom_agent::collect::host::{diskstats, os_release, softnet, timex, uname};
use warroom_agent::collect::network::{ConntrackStat, NetClass};
use warroom_agent::collect::process::Process;
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
        Box::new(timex::Timex::new(&roots)),
        Box::new(ConntrackStat::new(roots.clone())),
        Box::new(Process::new().unwrap()),
    ]
}

/// One pass of `collectors` into a fresh buffer; a collector's failure fails the test.
fn collect(collectors: &mut [Box<dyn Collector>]) -> Buffer {
    let mut out = Buffer::new();
    let mut inventory = Inventory::default();
    let mut cx = Cx::new(&mut out, &mut inventory);
    for c in collectors.iter_mut() {
        let name = c.name();
        c.collect(&mut cx).unwrap_or_else(|e| panic!("{name}: {e}"));
        let partial = cx.take_partial();
        assert!(partial.is_empty(), "{name}: {partial:?}");
    }
    out
}

#[test]
fn the_added_collectors_read_the_live_host_without_errors() {
    let out = collect(&mut added());

    for name in [
        "node_softnet_processed_total",
        "node_network_up",
        "node_uname_info",
        "node_timex_sync_status",
        "process_resident_memory_bytes",
    ] {
        assert!(out.families().iter().any(|f| f.name == name), "{name}");
    }
}

#[test]
fn the_clock_and_the_agents_own_process_read_sane_values() {
    let out = collect(&mut added());

    let v = |name| out.value(name, &[]).unwrap();
    assert!(v("node_timex_tick_seconds") > 0.0);
    assert!([0.0, 1.0].contains(&v("node_timex_sync_status")));
    let rss = v("process_resident_memory_bytes");
    assert!(
        rss > 1e5 && rss <= v("process_virtual_memory_bytes"),
        "rss {rss}"
    );
    assert!(
        v("process_open_fds") >= 3.0,
        "stdin, stdout, stderr at least"
    );
    assert!(v("process_open_fds") <= v("process_max_fds"));
}

#[test]
fn a_whole_pass_writes_families_each_with_help_and_a_name_of_its_own() {
    let mut all = warroom_agent::collect::all(&Roots::default());

    let out = collect(&mut all);

    let mut names = HashSet::new();
    for family in out.families() {
        assert!(!family.help.is_empty(), "{} has no help", family.name);
        assert!(names.insert(family.name.clone()), "{} twice", family.name);
    }
    for name in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_netstat_Udp_NoPorts",
        "node_timex_offset_seconds",
        "process_cpu_seconds_total",
    ] {
        assert!(names.contains(name), "{name} missing from a whole pass");
    }
    assert!(out.series_count() > 200, "{} series", out.series_count());
}
