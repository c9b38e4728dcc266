//! Collectors: one file each, each failing alone. A collector reads the kernel's files below the
//! configured roots and writes families into the shared [`Buffer`]; a fatal error ends only that
//! collector, and a partial one (one vanished cgroup) is reported and the rest goes on.

pub mod cgroups;
pub mod errors;
pub mod host;
pub mod kept;
pub mod network;
pub mod pods;
pub mod probes;
pub mod process;
pub mod procfs;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::metrics::{Buffer, SharedLabels};
pub use errors::{CollectError, ErrorLog};

/// Where the host's `/proc` and `/sys` are mounted (`/proc` and `/sys` unless the agent runs in a
/// container with the host's trees mounted elsewhere).
#[derive(Debug, Clone)]
pub struct Roots {
    /// The host's procfs.
    pub proc: PathBuf,
    /// The host's sysfs.
    pub sys: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Self {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
        }
    }
}

impl Roots {
    /// A path below the proc root, e.g. `proc("net/dev")`.
    pub fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.proc.join(rel)
    }

    /// A path below the sys root, e.g. `sys("fs/cgroup")`.
    pub fn sys(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.sys.join(rel)
    }

    /// Maps an absolute host path that lies under `/sys` or `/proc` onto the configured roots.
    pub fn host_path(&self, host: &Path) -> PathBuf {
        if let Ok(rest) = host.strip_prefix("/sys") {
            self.sys.join(rest)
        } else if let Ok(rest) = host.strip_prefix("/proc") {
            self.proc.join(rest)
        } else {
            host.to_path_buf()
        }
    }
}

/// A container found by the cgroups collector this collection, for collectors that work per
/// container or per pod (per-pod network).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRef {
    /// The 64-hex container id.
    pub id: String,
    /// The pod's UID when the cgroup path names one.
    pub pod_uid: Option<String>,
    /// The cAdvisor-style labels of the container (`id`, `container`, `pod`, `namespace`), shared
    /// with its series.
    pub labels: SharedLabels,
    /// The container's `cgroup.procs` file (in any hierarchy), to find one of its processes.
    pub procs: PathBuf,
}

/// What collectors learn that later collectors of the same pass use. Rebuilt every collection,
/// so nothing of a vanished container outlives it.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    /// The containers found this collection.
    pub containers: Vec<ContainerRef>,
    /// The kubelet's pods and containers, when the agent asks the kubelet (set before the pass).
    pub pods: Option<Arc<pods::PodDirectory>>,
}

/// What a collector writes into and reports partial failures to.
pub struct Cx<'a> {
    /// The buffer of this collection.
    pub out: &'a mut Buffer,
    /// What earlier collectors of this pass found.
    pub inventory: &'a mut Inventory,
    /// Partial failures seen so far by the running collector.
    pub(crate) partial: Vec<CollectError>,
}

impl<'a> Cx<'a> {
    /// A context writing into `out`, sharing `inventory` between collectors.
    pub fn new(out: &'a mut Buffer, inventory: &'a mut Inventory) -> Self {
        Self {
            out,
            inventory,
            partial: Vec::new(),
        }
    }

    /// Reports a failure that skips part of the collection (one cgroup, one interface) while the
    /// collector goes on.
    pub fn partial(&mut self, err: CollectError) {
        self.partial.push(err);
    }

    /// Takes the partial failures reported so far.
    pub fn take_partial(&mut self) -> Vec<CollectError> {
        std::mem::take(&mut self.partial)
    }
}

/// One source of metrics.
pub trait Collector: Send {
    /// The name used in logs and in `warroom_agent_collector_errors_total{collector}`.
    fn name(&self) -> &'static str;

    /// Reads this collector's sources and writes its families. An `Err` means nothing more of this
    /// collector could be read this time; what it already wrote stays.
    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError>;
}

/// Every collector, in the order they run: host, then network (per-pod network reads what the
/// container collector found, so containers come before it once they are collected), then the
/// agent's own process, whose CPU time then includes the pass. Without a readable process table
/// the `process_*` metrics are left out and that is logged once.
pub fn all(roots: &Roots) -> Vec<Box<dyn Collector>> {
    let mut collectors = host::all(roots);
    collectors.push(Box::new(cgroups::Cgroups::new(roots.clone())));
    collectors.extend(network::all(roots));
    match process::Process::new() {
        Ok(own) => collectors.push(Box::new(own)),
        Err(e) => tracing::warn!("process_* metrics left out: {e}"),
    }
    collectors
}

/// Runs one collector against a fresh buffer, for tests and benchmarks.
pub fn run_one(collector: &mut dyn Collector) -> Result<Buffer, CollectError> {
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
    collector
        .collect(&mut Cx::new(&mut out, &mut inventory))
        .map(|()| out)
}

/// A temporary proc/sys root holding `files` (paths relative to the root), for tests.
#[cfg(test)]
pub(crate) fn fixture_roots(files: &[(&str, &str)]) -> (tempfile::TempDir, Roots) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write fixture");
    }
    let roots = Roots {
        proc: dir.path().join("proc"),
        sys: dir.path().join("sys"),
    };
    (dir, roots)
}
