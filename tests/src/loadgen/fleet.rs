//! The series a fleet of migrating Kubernetes nodes exposes, as node_exporter and cAdvisor name
//! them: each node (half `env="source"`, half `env="target"`) has per-CPU, per-disk and
//! per-interface node series and a dozen pods of one to three containers with cAdvisor series.
//! Series are numbered; a number always maps to the same labels and the same value sequence.

use std::ops::Range;

use warroom_server::prompb::Label;

use super::catalog::{
    APPS, CONTAINER_METRICS, DISKS, Dim, IFACES, MODES, Metric, NAMESPACES, NODE_METRICS, SIDECARS,
};
use super::values::Kind;

/// One series: its labels sorted by name, how its values move, and its own random seed.
#[derive(Debug, Clone)]
pub struct SeriesDef {
    /// Labels, `__name__` first, the rest sorted by name (remote_write order).
    pub labels: Vec<Label>,
    /// How its values move.
    pub kind: Kind,
    /// Per-series seed: rates, phases and noise differ between series.
    pub seed: u64,
}

/// A node's shape: where its series start, its CPU count and the containers of each pod.
#[derive(Debug, Clone)]
struct NodeShape {
    first: usize,
    cpus: usize,
    pods: Vec<usize>,
}

/// The fleet behind `n` series: as many nodes as it takes, the last one cut short.
#[derive(Debug, Clone)]
pub struct Fleet {
    nodes: Vec<NodeShape>,
    series: usize,
}

impl Fleet {
    /// A fleet exposing exactly `series` series.
    pub fn new(series: usize) -> Self {
        let mut nodes = Vec::new();
        let mut first = 0;
        while first < series {
            let shape = node_shape(nodes.len(), first);
            first += node_series_count(&shape);
            nodes.push(shape);
        }
        Self { nodes, series }
    }

    /// How many series the fleet exposes.
    pub fn len(&self) -> usize {
        self.series
    }

    /// Whether the fleet exposes no series.
    pub fn is_empty(&self) -> bool {
        self.series == 0
    }

    /// How many nodes the fleet has.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The series numbered `range`, in order.
    pub fn series(&self, range: Range<usize>) -> Vec<SeriesDef> {
        let end = range.end.min(self.series);
        let start_node = self
            .nodes
            .partition_point(|n| n.first <= range.start)
            .saturating_sub(1);
        let mut out = Vec::with_capacity(end.saturating_sub(range.start));
        for (index, shape) in self.nodes.iter().enumerate().skip(start_node) {
            if shape.first >= end {
                break;
            }
            let defs = node_series(index, shape);
            let from = range.start.saturating_sub(shape.first);
            let to = (end - shape.first).min(defs.len());
            out.extend(defs.into_iter().take(to).skip(from));
        }
        out
    }
}

/// Nodes vary: 2, 4 or 8 CPUs, 8 to 15 pods of 1 to 3 containers.
fn node_shape(index: usize, first: usize) -> NodeShape {
    let h = mix(index as u64, 0x6e6f6465);
    let cpus = [2, 4, 4, 8][(h % 4) as usize];
    let pods = 8 + (h >> 8) as usize % 8;
    let pods = (0..pods)
        .map(|p| 1 + (mix(h, p as u64) % 3) as usize)
        .collect();
    NodeShape { first, cpus, pods }
}

fn node_series_count(shape: &NodeShape) -> usize {
    let containers: usize = shape.pods.iter().sum();
    let node: usize = NODE_METRICS.iter().map(|m| fanout(m.dim, shape.cpus)).sum();
    let per_container: usize = CONTAINER_METRICS.iter().map(|m| fanout(m.dim, 1)).sum();
    node + containers * per_container
}

fn fanout(dim: Dim, cpus: usize) -> usize {
    match dim {
        Dim::None => 1,
        Dim::Cpu => cpus,
        Dim::CpuMode => cpus * MODES.len(),
        Dim::Disk => DISKS.len(),
        Dim::Iface => IFACES.len(),
    }
}

/// Every series of node `index`, node_exporter's first, then each container's cAdvisor series.
fn node_series(index: usize, shape: &NodeShape) -> Vec<SeriesDef> {
    let names = NodeNames::new(index);
    let mut out = Vec::with_capacity(node_series_count(shape));
    let instance = format!("{}:9100", names.node);
    let base = names.common("node-exporter", &[("instance", &instance)]);
    for metric in &NODE_METRICS {
        push_fanned(&mut out, metric, &base, shape.cpus, shape.first);
    }
    for (p, &containers) in shape.pods.iter().enumerate() {
        let (namespace, app, pod) = names.pod(p);
        for c in 0..containers {
            let container = if c == 0 { app } else { SIDECARS[c - 1] };
            let extra = [
                ("container", container),
                ("namespace", namespace),
                ("pod", pod.as_str()),
            ];
            let base = names.common("cadvisor", &extra);
            for metric in &CONTAINER_METRICS {
                push_fanned(&mut out, metric, &base, 1, shape.first);
            }
        }
    }
    out
}

/// Pushes `metric`'s series over its dimension, with `base` labels plus the dimension's.
fn push_fanned(
    out: &mut Vec<SeriesDef>,
    metric: &Metric,
    base: &[Label],
    cpus: usize,
    first: usize,
) {
    let cpu_names: Vec<String> = (0..cpus).map(|c| c.to_string()).collect();
    let dims: Vec<Vec<(&str, &str)>> = match metric.dim {
        Dim::None => vec![vec![]],
        Dim::Cpu => cpu_names
            .iter()
            .map(|c| vec![("cpu", c.as_str())])
            .collect(),
        Dim::CpuMode => cpu_names
            .iter()
            .flat_map(|c| {
                MODES
                    .iter()
                    .map(move |m| vec![("cpu", c.as_str()), ("mode", *m)])
            })
            .collect(),
        Dim::Disk => DISKS.iter().map(|d| vec![("device", *d)]).collect(),
        Dim::Iface => IFACES.iter().map(|d| vec![("device", *d)]).collect(),
    };
    for dim in dims {
        let mut labels = base.to_vec();
        labels.extend(dim.iter().map(|(k, v)| label(k, v)));
        labels.push(label("__name__", metric.name));
        sort_labels(&mut labels);
        let kind = metric
            .kind
            .for_mode(dim.iter().find(|(k, _)| *k == "mode").map(|d| d.1));
        let seed = mix(first as u64 + out.len() as u64, 0x5eed);
        out.push(SeriesDef { labels, kind, seed });
    }
}

/// The names of one node and its pods.
struct NodeNames {
    index: usize,
    node: String,
    cluster: String,
    env: &'static str,
}

impl NodeNames {
    /// Even nodes are on the source side (an on-premises cluster), odd ones on the target (GKE).
    fn new(index: usize) -> Self {
        let h = mix(index as u64, 0x6e616d65);
        let (env, node, cluster) = if index.is_multiple_of(2) {
            let cluster = format!("dc1-prod-{:02}", index / 128);
            ("source", format!("dc1-k8s-w{:05}", index / 2), cluster)
        } else {
            let cluster = format!("gke-europe-west1-prod-{:02}", index / 128);
            let node = format!("gke-prod-default-pool-{:08x}-{}", h as u32, suffix(h, 4));
            ("target", node, cluster)
        };
        Self {
            index,
            node,
            cluster,
            env,
        }
    }

    /// `cluster`, `env`, `job` and `node` plus `extra`.
    fn common(&self, job: &str, extra: &[(&str, &str)]) -> Vec<Label> {
        let mut labels = vec![
            label("cluster", &self.cluster),
            label("env", self.env),
            label("job", job),
            label("node", &self.node),
        ];
        labels.extend(extra.iter().map(|(k, v)| label(k, v)));
        labels
    }

    /// Pod `p`'s namespace, app and name (`app-<replicaset hash>-<pod hash>`).
    fn pod(&self, p: usize) -> (&'static str, &'static str, String) {
        let h = mix(self.index as u64, p as u64 + 1);
        let namespace = NAMESPACES[(h % NAMESPACES.len() as u64) as usize];
        let app = APPS[((h >> 16) % APPS.len() as u64) as usize];
        let pod = format!("{app}-{}-{}", suffix(h >> 3, 10), suffix(h >> 40, 5));
        (namespace, app, pod)
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_string(),
        value: value.to_string(),
    }
}

/// Sorts labels by name, as Prometheus sends them (`__name__` sorts first).
fn sort_labels(labels: &mut [Label]) {
    labels.sort_by(|a, b| a.name.cmp(&b.name));
}

/// `len` characters of Kubernetes' name-suffix alphabet drawn from `h`.
fn suffix(h: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = h;
    (0..len)
        .map(|_| {
            x = mix(x, 7);
            ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// splitmix64 of `a` and `b`: a cheap, well-spread deterministic hash.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(b)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
