//! One container: its files read from every hierarchy at the same relative path (v2 first for
//! PSI and whatever no v1 controller provides, then v1), and its cAdvisor labels, kept while
//! the walk and the kubelet's directory stay the same.

use std::sync::Arc;

use super::cache::{DirCache, Key};
use super::dir::read_oom;
use super::discover::{Found, Walk};
use super::stats::DeviceLabels;
use super::{Layout, Mount, Stats, v1, v2};
use crate::collect::pods::PodDirectory;
use crate::collect::{CollectError, ContainerRef};
use crate::labels;
use crate::metrics::Labels;

/// The slot of the v1 `memory` hierarchy in the [`Key`]s of a container's directories.
const V1_MEMORY_SLOT: usize = 3;

/// Reads one container's files from every hierarchy into `stats`; `Ok(false)` when its cgroup
/// is gone from the walked hierarchy (it ended since the walk). `index` is its place in the walk;
/// its OOM kill counter is read afresh when `oom_due` (see `oom`).
pub fn read_container(
    layout: &Layout,
    walked: &Mount,
    (index, rel): (usize, &str),
    dirs: &mut DirCache,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
    oom_due: bool,
) -> Result<bool, CollectError> {
    if let Some(u) = &layout.unified {
        let key = Key {
            container: index,
            slot: 0,
        };
        let Some(d) = dirs.open(&u.mount.path, rel, key)? else {
            if &u.mount == walked {
                return Ok(false);
            }
            return read_v1(layout, walked, (index, rel), dirs, buf, stats, oom_due);
        };
        v2::read_pressure(d, buf, stats)?;
        if layout.cpuacct.is_none() || (layout.cpu.is_none() && u.cpu) {
            v2::read_cpu(d, buf, stats)?;
        }
        if u.memory && layout.memory.is_none() {
            v2::read_memory(d, buf, stats)?;
            read_oom(d, v2::OOM_FILE, buf, stats, oom_due)?;
        }
        if u.io && layout.blkio.is_none() {
            v2::read_io(d, buf, stats)?;
        }
    }
    read_v1(layout, walked, (index, rel), dirs, buf, stats, oom_due)
}

/// Reads the v1 controllers' files; `Ok(false)` when the cgroup is gone from the walked one.
fn read_v1(
    layout: &Layout,
    walked: &Mount,
    (index, rel): (usize, &str),
    dirs: &mut DirCache,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
    oom_due: bool,
) -> Result<bool, CollectError> {
    let v1_readers: [(Option<&Mount>, v1::Reader); 4] = [
        (layout.cpuacct.as_ref(), v1::read_cpuacct),
        (layout.cpu.as_ref(), v1::read_cpu),
        (layout.memory.as_ref(), v1::read_memory),
        (layout.blkio.as_ref(), v1::read_blkio),
    ];
    for (slot, (mount, read)) in (1..).zip(v1_readers) {
        let key = Key {
            container: index,
            slot,
        };
        let dir = match mount {
            Some(m) => dirs.open(&m.path, rel, key)?,
            None => None,
        };
        match dir {
            Some(d) => {
                read(d, buf, stats)?;
                if slot == V1_MEMORY_SLOT {
                    read_oom(d, v1::OOM_FILE, buf, stats, oom_due)?;
                }
            }
            None if mount == Some(walked) => return Ok(false),
            None => {}
        }
    }
    Ok(true)
}

/// The inventory entries (labels included) of the walk's containers, as labelled with the
/// kubelet's directory of the time: kept while the walk and the directory are, so a quiet pass
/// builds no label set.
#[derive(Default)]
pub struct Known {
    directory: Option<Arc<PodDirectory>>,
    /// The entries, in walk order.
    pub containers: Vec<ContainerRef>,
    /// Each entry's label sets with a `device` label, made as its I/O devices show up.
    pub devices: Vec<DeviceLabels>,
}

impl Known {
    /// Rebuilds the entries after a new walk (`new_walk`) or with another directory.
    pub fn refresh(
        &mut self,
        new_walk: bool,
        walked: &Mount,
        walk: &Walk,
        directory: Option<&Arc<PodDirectory>>,
    ) {
        let same_directory = match (&self.directory, directory) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !new_walk && same_directory && self.containers.len() == walk.containers.len() {
            return;
        }
        self.directory = directory.cloned();
        self.containers = (walk.containers.iter())
            .map(|found| container_ref(walked, found, walk, directory.map(|d| &**d)))
            .collect();
        self.devices = vec![DeviceLabels::new(); self.containers.len()];
    }
}

/// The inventory entry of `found`: its id, pod UID, labels and `cgroup.procs` file.
fn container_ref(
    walked: &Mount,
    found: &Found,
    walk: &Walk,
    directory: Option<&PodDirectory>,
) -> ContainerRef {
    ContainerRef {
        id: found.id().to_string(),
        pod_uid: found.pod.map(|i| walk.pods[i].0.clone()),
        labels: Arc::new(container_labels(walked, found, walk, directory)),
        procs: walked.path.join(&found.rel[1..]).join("cgroup.procs"),
    }
}

/// `id`, `container`, `pod`, `namespace` as cAdvisor labels them; the pod UID stands for the pod
/// name and `container` is empty when the kubelet's directory does not know them.
fn container_labels(
    walked: &Mount,
    found: &Found,
    walk: &Walk,
    directory: Option<&PodDirectory>,
) -> Labels {
    let id = match walked.root.as_str() {
        "/" => found.rel.clone(),
        root => format!("{}{}", root.trim_end_matches('/'), found.rel),
    };
    let uid = found.pod.map_or("", |i| walk.pods[i].0.as_str());
    let container = directory
        .and_then(|d| d.container(found.id()))
        .map_or("", |c| c.name.as_str());
    let pod = directory.and_then(|d| d.pod(uid));
    let (pod, namespace) = pod.map_or((uid, ""), |p| (p.name.as_str(), p.namespace.as_str()));
    labels!["id" => id, "container" => container, "pod" => pod, "namespace" => namespace]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::cgroups::fixtures;

    fn read(fx: &fixtures::Fixture, i: usize) -> Result<bool, CollectError> {
        let layout = Layout::detect(&fx.roots).unwrap();
        let walked = layout.discovery().unwrap();
        read_container(
            &layout,
            walked,
            (0, &fx.containers[i].path),
            &mut DirCache::default(),
            &mut Vec::new(),
            &mut Stats::default(),
            true,
        )
    }

    #[test]
    fn garbage_memory_stat_is_an_error_naming_the_file_and_line() {
        // Arrange
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v1_cgroupfs(tmp.path(), 2).unwrap();
        let stat = fx
            .roots
            .sys("fs/cgroup/memory")
            .join(&fx.containers[1].path[1..])
            .join("memory.stat");
        std::fs::write(&stat, "cache 0\ntotal_rss 12k\n").unwrap();

        // Act
        let err = read(&fx, 1).unwrap_err();

        // Assert
        assert_eq!(
            err.to_string(),
            format!("{}:2: `total_rss` is not a number", stat.display())
        );
        assert!(read(&fx, 0).unwrap());
    }

    #[test]
    fn a_file_where_a_cgroup_directory_should_be_is_an_error() {
        // Arrange: the first container's blkio cgroup is a plain file.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::hybrid(tmp.path(), 2).unwrap();
        let blkio = fx
            .roots
            .sys("fs/cgroup/blkio")
            .join(&fx.containers[0].path[1..]);
        std::fs::remove_dir_all(&blkio).unwrap();
        std::fs::write(&blkio, "").unwrap();

        // Act
        let err = read(&fx, 0).unwrap_err();

        // Assert
        assert!(err.to_string().contains("Not a directory"), "{err}");
        assert!(!err.is_not_found());
        assert!(read(&fx, 1).unwrap());
    }

    #[test]
    fn a_container_gone_from_the_walked_hierarchy_reads_as_vanished() {
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::hybrid(tmp.path(), 1).unwrap();
        std::fs::remove_dir_all(
            fx.roots
                .sys("fs/cgroup/memory")
                .join(&fx.containers[0].path[1..]),
        )
        .unwrap();

        assert!(!read(&fx, 0).unwrap());
    }
}
