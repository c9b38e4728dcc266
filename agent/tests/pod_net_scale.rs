//! The per-pod network collector at the design's scale: 500 containers in 250 pods (two
//! containers sharing each pod's namespace) on a fixture proc tree. Checks that each pod is
//! reported once and prints the cost per collection (run with `--nocapture`).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use warroom_agent::collect::network::PodNet;
use warroom_agent::collect::{Collector, ContainerRef, Cx, Inventory, Roots};
use warroom_agent::labels;
use warroom_agent::metrics::Buffer;

const DEV: &str = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n\
    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n\
  eth0: 129094533 4799 0 0 0 0 0 0 341041 2930 0 0 0 0 0 0\n";

/// A proc tree with `pods` namespaces and two containers per pod.
fn fixture(dir: &std::path::Path, pods: u32) -> (Roots, Vec<ContainerRef>) {
    let roots = Roots {
        proc: dir.join("proc"),
        sys: dir.join("sys"),
    };
    let mut containers = Vec::new();
    for pod in 0..pods {
        let pid = 1000 + pod * 2;
        std::fs::create_dir_all(roots.proc(format!("{pid}/ns"))).unwrap();
        std::fs::create_dir_all(roots.proc(format!("{pid}/net"))).unwrap();
        std::fs::write(roots.proc(format!("{pid}/ns/net")), "").unwrap();
        std::fs::write(roots.proc(format!("{pid}/net/dev")), DEV).unwrap();
        for c in 0..2 {
            let procs = dir.join(format!("cg/{pod}-{c}.procs"));
            std::fs::create_dir_all(procs.parent().unwrap()).unwrap();
            std::fs::write(&procs, format!("{pid}\n")).unwrap();
            let labels = labels!["pod" => format!("pod-{pod}"), "namespace" => "load"];
            containers.push(ContainerRef {
                id: format!("{pod}-{c}"),
                pod_uid: None,
                labels: labels.into(),
                procs,
            });
        }
    }
    (roots, containers)
}

#[test]
fn five_hundred_containers_in_two_hundred_fifty_pods_report_each_pod_once() {
    // tmpfs, like procfs in memory: the figure is the collector's, not the disk's.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let (roots, containers) = fixture(dir.path(), 250);
    let mut inventory = Inventory {
        containers,
        ..Default::default()
    };
    let mut collector = PodNet::new(roots);
    let mut out = Buffer::new();
    let runs = 200;

    let start = Instant::now();
    for _ in 0..runs {
        out.clear();
        collector
            .collect(&mut Cx::new(&mut out, &mut inventory))
            .unwrap();
    }
    let per = start.elapsed() / runs;

    eprintln!("pod_net: {per:?} wall per collection of 500 containers / 250 netns");
    assert_eq!(out.series_count(), 250 * 8);
}
