//! Containers from cgroups, with cAdvisor's names and labels. The hierarchies come from
//! mountinfo (v1, v2 or hybrid); one hierarchy is walked to find containers, and each
//! container's files are read at the same relative path in the others. Nothing is kept between
//! collections but the layout, the walk, open files and the few values below, so a vanished
//! container leaves no state behind.
//!
//! Three kinds of file are not read every pass. A memory limit or CFS quota is read every
//! `dir::LIMIT_READ_EVERY` (8) passes: a new limit shows within 8 passes. A v1 `cpu.stat` is not
//! read while the cgroup has no CFS quota, as the kernel then leaves its counters still (see
//! `v1::read_cpu`): a new quota's throttling shows within 8 passes. An OOM kill counter
//! (`memory.events`, `memory.oom_control`) is read when the system-wide count in `/proc/vmstat`
//! moved (and the pass after), and at least every `oom::READ_AT_LEAST_EVERY` (32) passes: the
//! kernel raises both together, so no kill is missed or reported late (see `oom`).
//!
//! - `mountinfo`: where each hierarchy is mounted ([`Layout`]).
//! - `discover`: the walk that finds containers and pods.
//! - `watch`: whether the walked hierarchy changed since the last walk (inotify).
//! - `container`: one container's files from every hierarchy, and its labels.
//! - `dir`: cheap reads of one cgroup directory's files; `cache`: the open directories.
//! - `oom`: whether the OOM kill counters may have moved since the last pass.
//! - `v1`, `v2`: each version's files into [`Stats`]; `stats`: [`Stats`] into families.
//! - `fixtures` (tests and the `testing` feature): real-format v1, v2 and hybrid trees.

mod cache;
mod container;
mod dir;
pub mod discover;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod mountinfo;
mod oom;
pub mod stats;
mod v1;
mod v2;
mod watch;

use cache::DirCache;
use container::{Known, read_container};
use discover::Walk;
pub use mountinfo::{Layout, Mount};
use oom::OomWatch;
pub use stats::{Families, Stats};
use watch::Watch;

use super::pods;
use super::{CollectError, Collector, Cx, Roots};

/// Passes that reuse a walk before the next full one, however quiet the watch: a bound on how
/// long a change inotify cannot report (a mount over a watched directory) goes unseen.
const WALK_AT_LEAST_EVERY: u32 = 40;

/// The cgroups (containers) collector.
pub struct Cgroups {
    roots: Roots,
    layout: Option<Layout>,
    /// Mounts named in mountinfo that are not there, reported every pass.
    problems: Vec<String>,
    buf: Vec<u8>,
    stats: Stats,
    /// The containers' directories and files, kept open between passes.
    dirs: DirCache,
    /// The last walk, reused while `watch` sees no change below it.
    last_walk: Option<Walk>,
    /// Passes since the last full walk.
    walk_age: u32,
    /// Watches the directories of the last walk; `None` without inotify (walk every pass).
    watch: Option<Watch>,
    /// The walk's `getdents` buffer.
    walk_buf: Vec<u8>,
    /// The last walk's containers as inventory entries, with their labels.
    known: Known,
    /// Says when the containers' OOM kill counters are to be read.
    oom: OomWatch,
}

impl Cgroups {
    /// A collector reading the hierarchies mounted below `roots`; they are found at the first
    /// collection and again after the walked hierarchy fails.
    pub fn new(roots: Roots) -> Self {
        Self {
            oom: OomWatch::new(roots.proc("vmstat")),
            roots,
            layout: None,
            problems: Vec::new(),
            buf: Vec::with_capacity(8192),
            stats: Stats::default(),
            dirs: DirCache::default(),
            last_walk: None,
            walk_age: 0,
            watch: Watch::new(),
            walk_buf: Vec::new(),
            known: Known::default(),
        }
    }

    /// The layout, detected when unknown.
    fn layout(&mut self) -> Result<Layout, CollectError> {
        if let Some(layout) = &self.layout {
            return Ok(layout.clone());
        }
        let mut layout = Layout::detect(&self.roots)?;
        self.problems = layout.drop_missing();
        self.layout = Some(layout.clone());
        Ok(layout)
    }

    /// The containers and pods of the discovery hierarchy: the last walk while the watch saw no
    /// change below it, else a new walk. A failure forgets the layout so the next pass
    /// re-detects it.
    fn discover(&mut self, layout: &Layout) -> Result<Walk, CollectError> {
        let changed = self.watch.as_mut().is_none_or(Watch::changed);
        self.walk_age += 1;
        if let Some(walk) = self.last_walk.take()
            && !changed
            && self.walk_age < WALK_AT_LEAST_EVERY
        {
            return Ok(walk);
        }
        let mount = layout
            .discovery()
            .ok_or_else(|| CollectError::Other("no cgroup hierarchy in mountinfo".into()))?;
        self.walk_age = 0;
        self.dirs.new_walk();
        discover::walk(&mount.path, self.watch.as_mut(), &mut self.walk_buf)
            .inspect_err(|_| self.layout = None)
    }

    /// Reads and writes every container found, and the pod series.
    fn report(&mut self, layout: &Layout, walk: &Walk, cx: &mut Cx<'_>) {
        let directory = cx.inventory.pods.clone();
        let Some(walked) = layout.discovery() else {
            return;
        };
        let mut families = Families::default();
        let oom_due = self.oom.due();
        self.known
            .refresh(self.walk_age == 0, walked, walk, directory.as_ref());
        for (index, found) in walk.containers.iter().enumerate() {
            self.stats.clear();
            let read = read_container(
                layout,
                walked,
                (index, &found.rel),
                &mut self.dirs,
                &mut self.buf,
                &mut self.stats,
                oom_due,
            );
            let known = &self.known.containers[index];
            match read {
                Ok(false) => continue,
                Ok(true) => {
                    let devices = &mut self.known.devices[index];
                    self.stats
                        .write(cx.out, &mut families, &known.labels, devices);
                }
                Err(e) => cx.partial(e),
            }
            cx.inventory.containers.push(known.clone());
        }
        pods::write_pod_info(cx.out, &walk.pods, directory.as_deref());
        if let Some(directory) = directory {
            directory.write_restarts(cx.out);
        }
    }
}

impl Collector for Cgroups {
    fn name(&self) -> &'static str {
        "cgroups"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let layout = self.layout()?;
        for problem in &self.problems {
            cx.partial(CollectError::Other(problem.clone()));
        }
        let mut walk = self.discover(&layout)?;
        // A walk that could not list everything is not reused: the next pass tries again.
        let complete = walk.errors.is_empty();
        for err in walk.errors.drain(..) {
            cx.partial(err);
        }
        self.report(&layout, &walk, cx);
        self.dirs.end_pass();
        if complete {
            self.last_walk = Some(walk);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{ContainerRef, Inventory};
    use crate::labels;
    use crate::metrics::{Buffer, Value};

    const MIB: f64 = fixtures::MIB as f64;

    struct Pass {
        out: Buffer,
        inventory: Inventory,
        errors: Vec<CollectError>,
    }

    fn collect(collector: &mut Cgroups) -> Pass {
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut cx = Cx::new(&mut out, &mut inventory);
        collector.collect(&mut cx).unwrap();
        let errors = cx.take_partial();
        Pass {
            out,
            inventory,
            errors,
        }
    }

    impl Pass {
        /// The container with the 64-hex `id`.
        fn container(&self, id: &str) -> &ContainerRef {
            self.inventory
                .containers
                .iter()
                .find(|c| c.id == id)
                .expect("found")
        }

        /// The value of `family` for the container whose `id` label is `path`.
        fn value(&self, family: &str, path: &str) -> Option<f64> {
            let f = self.out.families().iter().find(|f| f.name == family)?;
            let s = f.samples.iter().find(|s| s.labels[0].1 == path)?;
            match s.value {
                Value::Number(v) => Some(v),
                Value::Histogram(_) => None,
            }
        }
    }

    #[test]
    fn a_v1_cgroupfs_host_reports_exact_cadvisor_values() {
        // Arrange: pods 0 (guaranteed) and 1 (burstable), two containers each.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v1_cgroupfs(tmp.path(), 4).unwrap();
        let c = &fx.containers[2];

        // Act
        let pass = collect(&mut Cgroups::new(fx.roots.clone()));

        // Assert
        assert!(pass.errors.is_empty(), "{:?}", pass.errors);
        assert_eq!(
            pass.value("container_cpu_usage_seconds_total", &c.path),
            Some(3.0)
        );
        assert_eq!(
            pass.value("container_cpu_cfs_throttled_seconds_total", &c.path),
            Some(0.5)
        );
        assert_eq!(
            pass.value("container_cpu_cfs_throttled_periods_total", &c.path),
            Some(10.0)
        );
        assert_eq!(
            pass.value("container_memory_working_set_bytes", &c.path),
            Some(80.0 * MIB)
        );
        assert_eq!(
            pass.value("container_memory_rss", &c.path),
            Some(50.0 * MIB)
        );
        assert_eq!(
            pass.value("container_spec_memory_limit_bytes", &c.path),
            Some(256.0 * MIB)
        );
        assert_eq!(pass.value("container_oom_events_total", &c.path), Some(1.0));
        assert_eq!(
            pass.value("container_fs_writes_bytes_total", &c.path),
            Some(8192.0)
        );
        assert_eq!(
            pass.value("container_pressure_cpu_waiting_seconds_total", &c.path),
            None
        );
        let labels = &pass.container(&c.id).labels;
        assert_eq!(
            **labels,
            labels!["id" => c.path, "container" => "", "pod" => c.pod_uid, "namespace" => ""]
        );
    }

    #[test]
    fn a_v2_systemd_host_reads_microseconds_psi_and_unlimited_as_zero() {
        // Arrange: container 4 is in pod 2, best-effort, with `memory.max` = max.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v2_systemd(tmp.path(), 6).unwrap();
        let c = &fx.containers[4];

        // Act
        let pass = collect(&mut Cgroups::new(fx.roots.clone()));

        // Assert
        assert!(pass.errors.is_empty(), "{:?}", pass.errors);
        assert_eq!(
            pass.value("container_cpu_usage_seconds_total", &c.path),
            Some(5.0)
        );
        assert_eq!(
            pass.value("container_cpu_cfs_throttled_seconds_total", &c.path),
            Some(0.5)
        );
        assert_eq!(
            pass.value("container_spec_memory_limit_bytes", &c.path),
            Some(0.0)
        );
        assert_eq!(
            pass.value("container_memory_usage_bytes", &c.path),
            Some(100.0 * MIB)
        );
        assert_eq!(
            pass.value("container_pressure_io_stalled_seconds_total", &c.path),
            Some(0.5)
        );
        assert_eq!(pass.value("container_fs_reads_total", &c.path), Some(1.0));
        assert_eq!(pass.inventory.containers.len(), 6);
        let info = pass
            .out
            .families()
            .iter()
            .find(|f| f.name == "warroom_pod_info")
            .unwrap();
        assert_eq!(info.samples.len(), 3);
    }

    #[test]
    fn a_hybrid_host_takes_cpu_from_v1_and_pressure_from_the_unified_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::hybrid(tmp.path(), 2).unwrap();
        let c = &fx.containers[1];

        let pass = collect(&mut Cgroups::new(fx.roots.clone()));

        assert!(pass.errors.is_empty(), "{:?}", pass.errors);
        assert_eq!(
            pass.value("container_cpu_usage_seconds_total", &c.path),
            Some(2.0)
        );
        assert_eq!(
            pass.value("container_cpu_cfs_periods_total", &c.path),
            Some(100.0)
        );
        assert_eq!(
            pass.value("container_memory_working_set_bytes", &c.path),
            Some(80.0 * MIB)
        );
        assert_eq!(
            pass.value("container_pressure_memory_waiting_seconds_total", &c.path),
            Some(1.0)
        );
        let procs = &pass.container(&c.id).procs;
        assert!(
            procs.ends_with(format!("memory{}/cgroup.procs", c.path)),
            "{}",
            procs.display()
        );
    }

    #[test]
    fn a_broken_container_is_a_partial_error_and_the_others_go_on() {
        // Arrange
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v2_systemd(tmp.path(), 3).unwrap();
        let cpu = fx
            .roots
            .sys("fs/cgroup")
            .join(&fx.containers[1].path[1..])
            .join("cpu.stat");
        std::fs::write(&cpu, "usage_usec").unwrap();

        // Act
        let pass = collect(&mut Cgroups::new(fx.roots.clone()));

        // Assert
        assert_eq!(pass.errors.len(), 1);
        assert!(
            pass.errors[0]
                .to_string()
                .ends_with("cpu.stat:1: `usage_usec` is not a number")
        );
        assert_eq!(
            pass.value("container_memory_rss", &fx.containers[1].path),
            None
        );
        assert_eq!(
            pass.value("container_cpu_usage_seconds_total", &fx.containers[2].path),
            Some(3.0)
        );
        assert_eq!(pass.inventory.containers.len(), 3);
    }

    #[test]
    fn a_container_removed_after_the_walk_is_skipped_without_error() {
        // Arrange
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v2_systemd(tmp.path(), 2).unwrap();
        let mut cgroups = Cgroups::new(fx.roots.clone());
        let layout = cgroups.layout().unwrap();
        let walk = cgroups.discover(&layout).unwrap();
        let gone = &fx.containers[0];
        std::fs::remove_dir_all(fx.roots.sys("fs/cgroup").join(&gone.path[1..])).unwrap();
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut cx = Cx::new(&mut out, &mut inventory);

        // Act
        cgroups.report(&layout, &walk, &mut cx);

        // Assert
        assert!(cx.take_partial().is_empty());
        assert_eq!(inventory.containers.len(), 1);
        assert_eq!(inventory.containers[0].id, fx.containers[1].id);
    }

    #[test]
    fn a_container_created_after_a_pass_is_found_by_the_next_one() {
        // Arrange: a v2 tree whose walk the next pass would reuse if nothing changed.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v2_systemd(tmp.path(), 2).unwrap();
        let mut cgroups = Cgroups::new(fx.roots.clone());
        assert_eq!(collect(&mut cgroups).inventory.containers.len(), 2);
        assert_eq!(collect(&mut cgroups).inventory.containers.len(), 2);
        let first = fx.roots.sys("fs/cgroup").join(&fx.containers[0].path[1..]);
        let new_id = "f".repeat(64);
        let name = first.file_name().unwrap().to_str().unwrap();
        let copy = first.with_file_name(name.replace(&fx.containers[0].id, &new_id));

        // Act
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(&first).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
        let pass = collect(&mut cgroups);

        // Assert
        assert!(pass.errors.is_empty(), "{:?}", pass.errors);
        assert_eq!(pass.inventory.containers.len(), 3);
        assert_eq!(
            pass.container(&new_id).pod_uid.as_deref(),
            Some(fx.containers[0].pod_uid.as_str())
        );
    }

    #[test]
    fn a_new_kubelet_directory_relabels_the_containers_of_a_reused_walk() {
        // Arrange: a first pass without the kubelet labels the pod by its UID.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v2_systemd(tmp.path(), 1).unwrap();
        let c = &fx.containers[0];
        let mut cgroups = Cgroups::new(fx.roots.clone());
        assert!(
            collect(&mut cgroups)
                .container(&c.id)
                .labels
                .contains(&("pod", c.pod_uid.clone()))
        );
        let json = format!(
            r#"{{"items":[{{"metadata":{{"name":"web-0","namespace":"shop","uid":"{}"}},"spec":{{"containers":[{{"name":"app"}}]}},"status":{{"containerStatuses":[{{"name":"app","containerID":"containerd://{}"}}]}}}}]}}"#,
            c.pod_uid, c.id
        );
        let directory =
            std::sync::Arc::new(pods::PodDirectory::from_pod_list(json.as_bytes()).unwrap());

        // Act
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        inventory.pods = Some(directory);
        cgroups
            .collect(&mut Cx::new(&mut out, &mut inventory))
            .unwrap();

        // Assert
        let labels = &inventory.containers[0].labels;
        assert_eq!(
            **labels,
            labels!["id" => c.path, "container" => "app", "pod" => "web-0", "namespace" => "shop"]
        );
        let mut families = out.families().iter();
        let io = families
            .find(|f| f.name == "container_fs_reads_total")
            .unwrap();
        assert!(io.samples[0].has_labels(&[("pod", "web-0"), ("device", "8:0")]));
    }

    #[test]
    fn an_oom_kill_shows_at_the_first_pass_after_the_kernel_counts_it() {
        // Arrange: two passes read the counters (1 kill each) and a third one that reads none.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v2_systemd(tmp.path(), 2).unwrap();
        let c = &fx.containers[1];
        let events = fx
            .roots
            .sys("fs/cgroup")
            .join(&c.path[1..])
            .join("memory.events");
        let mut cgroups = Cgroups::new(fx.roots.clone());
        for _ in 0..3 {
            assert_eq!(
                collect(&mut cgroups).value("container_oom_events_total", &c.path),
                Some(1.0)
            );
        }

        // Act: the kernel counts the kill in /proc/vmstat and in the container's cgroup.
        std::fs::write(&events, "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n").unwrap();
        fixtures::write_vmstat(&fx.roots, 1).unwrap();
        let pass = collect(&mut cgroups);

        // Assert
        assert_eq!(pass.value("container_oom_events_total", &c.path), Some(2.0));
        assert_eq!(
            pass.value("container_oom_events_total", &fx.containers[0].path),
            Some(1.0)
        );
    }

    #[test]
    fn a_v1_oom_kill_raised_just_after_the_system_wide_count_shows_one_pass_later() {
        // Arrange: quiet passes, then /proc/vmstat moves before the cgroup's counter does.
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v1_cgroupfs(tmp.path(), 1).unwrap();
        let c = &fx.containers[0];
        let oom_control = fx
            .roots
            .sys("fs/cgroup/memory")
            .join(&c.path[1..])
            .join("memory.oom_control");
        let mut cgroups = Cgroups::new(fx.roots.clone());
        for _ in 0..3 {
            collect(&mut cgroups);
        }
        fixtures::write_vmstat(&fx.roots, 7).unwrap();
        let racing = collect(&mut cgroups);

        // Act
        std::fs::write(
            &oom_control,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        let next = collect(&mut cgroups);

        // Assert
        assert_eq!(
            racing.value("container_oom_events_total", &c.path),
            Some(1.0)
        );
        assert_eq!(next.value("container_oom_events_total", &c.path), Some(2.0));
    }

    #[test]
    fn a_dangling_mountinfo_entry_is_reported_and_the_rest_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::hybrid(tmp.path(), 1).unwrap();
        std::fs::remove_dir_all(fx.roots.sys("fs/cgroup/blkio")).unwrap();

        let pass = collect(&mut Cgroups::new(fx.roots.clone()));

        assert_eq!(pass.errors.len(), 1);
        assert!(
            pass.errors[0]
                .to_string()
                .ends_with("fs/cgroup/blkio is not a directory")
        );
        assert_eq!(
            pass.value("container_cpu_usage_seconds_total", &fx.containers[0].path),
            Some(1.0)
        );
    }

    #[test]
    fn a_vanished_container_is_forgotten_by_the_next_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let fx = fixtures::v1_cgroupfs(tmp.path(), 2).unwrap();
        let mut cgroups = Cgroups::new(fx.roots.clone());
        assert_eq!(collect(&mut cgroups).inventory.containers.len(), 2);
        for hierarchy in ["cpu,cpuacct", "memory", "blkio", "pids", "systemd"] {
            let dir = fx
                .roots
                .sys("fs/cgroup")
                .join(hierarchy)
                .join(&fx.containers[1].path[1..]);
            std::fs::remove_dir_all(dir).unwrap();
        }

        let pass = collect(&mut cgroups);

        assert_eq!(pass.inventory.containers.len(), 1);
        assert_eq!(
            pass.value("container_memory_rss", &fx.containers[1].path),
            None
        );
    }
}
