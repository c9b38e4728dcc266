//! Per-pod network counters with cAdvisor's names (`container_network_*_total`, labels
//! `interface`, `pod`, `namespace`): each container of the inventory leads, through the first
//! process in its cgroup, to a network namespace; each namespace is read once, since a pod's
//! containers share one, and the host's own namespace is skipped.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::netdev::col::*;
use super::netdev::{DevCounters, parse_net_dev};
use super::pod_id::{pod_key, pod_labels};
use crate::collect::procfs::read_into;
use crate::collect::{CollectError, Collector, ContainerRef, Cx, Roots};
use crate::metrics::SharedLabels;

/// cAdvisor's family name, `/proc/net/dev` column and help for each exported counter.
// A table reads best one row per line; every row fits the 100-column width.
#[rustfmt::skip]
const FAMILIES: [(&str, usize, &str); 8] = [
    ("container_network_receive_bytes_total", RX_BYTES, "Cumulative bytes received."),
    ("container_network_receive_packets_total", RX_PACKETS, "Cumulative packets received."),
    ("container_network_receive_packets_dropped_total", RX_DROP, "Cumulative receive drops."),
    ("container_network_receive_errors_total", RX_ERRS, "Cumulative receive errors."),
    ("container_network_transmit_bytes_total", TX_BYTES, "Cumulative bytes transmitted."),
    ("container_network_transmit_packets_total", TX_PACKETS, "Cumulative packets transmitted."),
    ("container_network_transmit_packets_dropped_total", TX_DROP, "Cumulative transmit drops."),
    ("container_network_transmit_errors_total", TX_ERRS, "Cumulative transmit errors."),
];

/// Each pod's interfaces (loopback excepted), read from `{proc}/<pid>/net/dev` of one process
/// per network namespace.
#[derive(Debug)]
pub struct PodNet {
    roots: Roots,
    seen: HashSet<u64>,
    pods: HashSet<u64>,
    buf: String,
    path: PathBuf,
    rows: Vec<(SharedLabels, DevCounters)>,
}

impl PodNet {
    /// A collector reading the processes below `roots.proc`.
    pub fn new(roots: Roots) -> Self {
        Self {
            roots,
            seen: HashSet::new(),
            pods: HashSet::new(),
            buf: String::new(),
            path: PathBuf::new(),
            rows: Vec::new(),
        }
    }

    /// Forgets last collection's namespaces and marks the host's own as seen, so host-network
    /// pods are not reported as pod traffic (node_network_* already has it).
    fn reset(&mut self) {
        self.seen.clear();
        self.pods.clear();
        self.rows.clear();
        for who in ["1", "self"] {
            let path = proc_path(&mut self.path, &self.roots.proc, who, "ns/net");
            if let Ok(meta) = std::fs::metadata(path) {
                self.seen.insert(meta.ino());
            }
        }
    }

    /// Reads the namespace of `container` unless its pod's was read already. `Ok` without
    /// rows when the container has no process or shares a namespace already read.
    fn visit(&mut self, container: &ContainerRef) -> Result<(), CollectError> {
        // Every container of a Kubernetes pod shares the pod's namespace: skip the I/O.
        let pod = pod_key(container);
        if pod.is_some_and(|key| self.pods.contains(&key)) {
            return Ok(());
        }
        let mut head = [0u8; 32];
        let Some(pid) = first_pid(&container.procs, &mut head)? else {
            return Ok(());
        };
        self.visit_pid(pid, container)?;
        self.pods.extend(pod);
        Ok(())
    }

    /// Reads the namespace of process `pid` unless it was read already. When reading fails the
    /// namespace is forgotten, so another container of the same pod can still report it.
    fn visit_pid(&mut self, pid: &str, container: &ContainerRef) -> Result<(), CollectError> {
        let ns = proc_path(&mut self.path, &self.roots.proc, pid, "ns/net");
        let inode = std::fs::metadata(ns)
            .map_err(|e| CollectError::read(ns, e))?
            .ino();
        if !self.seen.insert(inode) {
            return Ok(());
        }
        let dev = proc_path(&mut self.path, &self.roots.proc, pid, "net/dev");
        let read = read_into(dev, &mut self.buf);
        if let Err(e) = read {
            self.seen.remove(&inode);
            return Err(e);
        }
        let base = pod_labels(container);
        let rows = &mut self.rows;
        parse_net_dev(&self.buf, dev, |iface, counters| {
            if iface != "lo" {
                let mut labels = Vec::with_capacity(base.len() + 1);
                labels.push(("interface", iface.to_owned()));
                labels.extend_from_slice(&base);
                rows.push((labels.into(), *counters));
            }
        })
    }
}

/// `{root}/<pid>/<rel>` built in the reused `path`.
fn proc_path<'p>(path: &'p mut PathBuf, root: &Path, pid: &str, rel: &str) -> &'p Path {
    path.as_mut_os_string().clear();
    path.push(root);
    path.push(pid);
    path.push(rel);
    path
}

/// The first pid listed in the `cgroup.procs` file at `path`, read into `head`: one read of
/// 32 bytes, since a busy container lists thousands of pids and one is enough.
fn first_pid<'h>(path: &Path, head: &'h mut [u8; 32]) -> Result<Option<&'h str>, CollectError> {
    let mut file = std::fs::File::open(path).map_err(|e| CollectError::read(path, e))?;
    let n = file.read(head).map_err(|e| CollectError::read(path, e))?;
    let text = std::str::from_utf8(&head[..n]).unwrap_or("");
    let pid = text.split('\n').next().unwrap_or("").trim();
    Ok((!pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())).then_some(pid))
}

impl Collector for PodNet {
    fn name(&self) -> &'static str {
        "pod_net"
    }

    /// A container or process that vanished, or one unreadable namespace, is a partial failure;
    /// the other pods go on.
    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        if cx.inventory.containers.is_empty() {
            return Ok(());
        }
        self.reset();
        for container in &cx.inventory.containers {
            if let Err(err) = self.visit(container) {
                cx.partial.push(err);
            }
        }
        for (name, column, help) in FAMILIES {
            let family = cx.out.counter(name, help);
            for (labels, counters) in &self.rows {
                family.push(labels.clone(), counters[column] as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Inventory;
    use crate::collect::network::testing::{value_of, write};
    use crate::labels;
    use crate::metrics::Buffer;

    const DEV: &str = "Inter-|x\n face |x\n    lo: 9 9 9 9 0 0 0 0 9 9 9 9 0 0 0 0\n";

    /// A `/proc/net/dev` whose `eth0` counters are `n`, `n+1`, … in column order.
    fn dev(n: u64) -> String {
        let counters: Vec<String> = (n..n + 16).map(|v| v.to_string()).collect();
        format!("{DEV}  eth0: {}\n", counters.join(" "))
    }

    /// A fixture proc tree; `ns` files stand in for namespaces (one inode each, hard links share).
    struct Tree {
        dir: tempfile::TempDir,
        roots: Roots,
    }

    impl Tree {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let roots = Roots {
                proc: dir.path().join("proc"),
                sys: dir.path().join("sys"),
            };
            write(&roots.proc("1/ns/net"), "host");
            Self { dir, roots }
        }

        fn process(&self, pid: u32, net_dev: &str) {
            write(
                &self.roots.proc(format!("{pid}/ns/net")),
                &format!("netns of {pid}"),
            );
            write(&self.roots.proc(format!("{pid}/net/dev")), net_dev);
        }

        fn share_netns(&self, pid: u32, with: &str) {
            write(&self.roots.proc(format!("{pid}/net/dev")), &dev(500));
            let link = self.roots.proc(format!("{pid}/ns/net"));
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::fs::hard_link(self.roots.proc(with), link).unwrap();
        }

        fn container(&self, id: &str, pod: &str, pids: &str) -> ContainerRef {
            let procs = self.dir.path().join(format!("cg/{id}/cgroup.procs"));
            write(&procs, pids);
            let labels =
                labels!["id" => id, "container" => "app", "pod" => pod, "namespace" => "shop"];
            ContainerRef {
                id: id.into(),
                pod_uid: None,
                labels: labels.into(),
                procs,
            }
        }

        fn collect(&self, containers: Vec<ContainerRef>) -> (Buffer, Vec<CollectError>) {
            let (mut out, mut inventory) = (
                Buffer::new(),
                Inventory {
                    containers,
                    ..Default::default()
                },
            );
            let mut cx = Cx::new(&mut out, &mut inventory);
            PodNet::new(self.roots.clone()).collect(&mut cx).unwrap();
            let partial = cx.take_partial();
            (out, partial)
        }
    }

    #[test]
    fn each_pod_interface_gets_cadvisor_names_and_pod_labels() {
        let tree = Tree::new();
        tree.process(100, &dev(1000));

        let (out, partial) = tree.collect(vec![tree.container("c1", "web-0", "100\n101\n")]);

        assert!(partial.is_empty(), "{partial:?}");
        let eth0 = [
            ("interface", "eth0"),
            ("pod", "web-0"),
            ("namespace", "shop"),
        ];
        let v = |name| value_of(&out, name, &eth0);
        assert_eq!(v("container_network_receive_bytes_total"), Some(1000.0));
        assert_eq!(v("container_network_receive_packets_total"), Some(1001.0));
        assert_eq!(v("container_network_receive_errors_total"), Some(1002.0));
        assert_eq!(
            v("container_network_receive_packets_dropped_total"),
            Some(1003.0)
        );
        assert_eq!(v("container_network_transmit_bytes_total"), Some(1008.0));
        assert_eq!(v("container_network_transmit_packets_total"), Some(1009.0));
        assert_eq!(v("container_network_transmit_errors_total"), Some(1010.0));
        assert_eq!(
            v("container_network_transmit_packets_dropped_total"),
            Some(1011.0)
        );
        assert_eq!(out.series_count(), 8, "loopback is skipped");
    }

    #[test]
    fn containers_sharing_a_namespace_are_read_once_even_across_pod_names() {
        let tree = Tree::new();
        tree.process(100, &dev(1000));
        tree.share_netns(200, "100/ns/net");
        let first = tree.container("c1", "web-0", "100\n");
        let other = tree.container("c2", "sidecar-of-web-0", "200\n");

        let (out, _) = tree.collect(vec![first, other]);

        assert_eq!(out.series_count(), 8);
        let eth0 = [("interface", "eth0"), ("pod", "web-0")];
        assert_eq!(
            value_of(&out, "container_network_receive_bytes_total", &eth0),
            Some(1000.0)
        );
    }

    #[test]
    fn later_containers_of_a_pod_already_read_cost_no_io() {
        let tree = Tree::new();
        tree.process(100, &dev(1000));
        let pause = tree.container("pause", "web-0", "100\n");
        let mut app = tree.container("app", "web-0", "100\n");
        app.procs = tree.dir.path().join("no/such/cgroup.procs");

        let (out, partial) = tree.collect(vec![pause, app]);

        assert!(partial.is_empty(), "the app's procs file was never opened");
        assert_eq!(out.series_count(), 8);
    }

    #[test]
    fn host_network_pods_are_skipped() {
        let tree = Tree::new();
        tree.share_netns(300, "1/ns/net");

        let (out, partial) = tree.collect(vec![tree.container("h", "kube-proxy-x", "300\n")]);

        assert!(partial.is_empty());
        assert_eq!(out.series_count(), 0);
    }

    #[test]
    fn a_vanished_pid_is_partial_and_other_pods_go_on() {
        let tree = Tree::new();
        tree.process(100, &dev(1000));
        let gone = tree.container("gone", "old-0", "4242\n");
        let alive = tree.container("c1", "web-0", "100\n");

        let (out, partial) = tree.collect(vec![gone, alive]);

        assert_eq!(partial.len(), 1);
        assert!(partial[0].is_not_found());
        assert!(partial[0].to_string().contains("4242/ns/net"));
        assert_eq!(out.series_count(), 8);
    }

    #[test]
    fn a_namespace_whose_first_process_vanished_is_read_through_a_sibling() {
        let tree = Tree::new();
        tree.process(100, &dev(1000));
        tree.share_netns(200, "100/ns/net");
        std::fs::remove_file(tree.roots.proc("100/net/dev")).unwrap();
        let dying = tree.container("pause", "web-0", "100\n");
        let app = tree.container("app", "web-0", "200\n");

        let (out, partial) = tree.collect(vec![dying, app]);

        assert_eq!(partial.len(), 1);
        let eth0 = [("interface", "eth0"), ("pod", "web-0")];
        assert_eq!(
            value_of(&out, "container_network_receive_bytes_total", &eth0),
            Some(500.0)
        );
    }

    #[test]
    fn an_empty_cgroup_is_skipped_quietly() {
        let tree = Tree::new();

        let (out, partial) = tree.collect(vec![tree.container("c", "p", "")]);

        assert!(partial.is_empty());
        assert_eq!(out.series_count(), 0);
    }

    #[test]
    fn a_garbage_net_dev_is_a_partial_parse_error_naming_file_and_line() {
        let tree = Tree::new();
        tree.process(100, "Inter-|x\n face |x\n eth0: 1 2 garbage\n");

        let (out, partial) = tree.collect(vec![tree.container("c1", "web-0", "100\n")]);

        let err = partial[0].to_string();
        assert!(
            err.ends_with("100/net/dev:3: expected 16 counters after \"eth0\""),
            "{err}"
        );
        assert_eq!(out.series_count(), 0);
    }
}
