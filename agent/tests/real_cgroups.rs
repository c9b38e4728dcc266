//! The cgroups collector on this machine's real kernel cgroups (run as root on the hybrid Debian
//! test VM): a busy process in a fresh kubepods container cgroup shows up with its CPU time and
//! its pod UID, and an OOM kill in a memory-limited one is counted by the next pass.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use warroom_agent::collect::cgroups::Cgroups;
use warroom_agent::collect::{Collector, Cx, Inventory, Roots};
use warroom_agent::metrics::{Buffer, Value};

/// A busy process in a container cgroup of every hierarchy; killed and removed on drop.
struct RealContainer {
    child: Child,
    /// The cgroup directories created, leaf first per hierarchy.
    dirs: Vec<PathBuf>,
}

impl RealContainer {
    /// Creates `/kubepods/burstable/pod<uid>/<id>` in each hierarchy present and moves a busy
    /// shell loop into it.
    fn start(uid: &str, id: &str) -> Self {
        let child = Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("spawn sh");
        let mut me = Self {
            child,
            dirs: Vec::new(),
        };
        for hierarchy in ["memory", "cpuacct", "cpu", "unified"] {
            let top = PathBuf::from("/sys/fs/cgroup").join(hierarchy);
            if !top.is_dir() {
                continue;
            }
            let pod = top.join(format!("kubepods/burstable/pod{uid}"));
            let leaf = pod.join(id);
            std::fs::create_dir_all(&leaf).expect("create cgroup");
            me.dirs.extend([leaf.clone(), pod]);
            std::fs::write(leaf.join("cgroup.procs"), me.child.id().to_string()).expect("move pid");
        }
        me
    }
}

impl Drop for RealContainer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
        // The shared `kubepods` parents go too when no other run still uses them.
        for hierarchy in ["memory", "cpuacct", "cpu", "unified"] {
            let top = PathBuf::from("/sys/fs/cgroup").join(hierarchy);
            let _ = std::fs::remove_dir(top.join("kubepods/burstable"));
            let _ = std::fs::remove_dir(top.join("kubepods"));
        }
    }
}

/// A fresh pod UID and 64-hex container id, so parallel runs never share a cgroup.
fn new_pod_and_container() -> (String, String) {
    let uid = uuid::Uuid::new_v4().to_string();
    let id = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    (uid, id)
}

#[test]
fn a_busy_process_in_a_real_kubepods_cgroup_is_reported_with_its_cpu_time_and_pod_uid() {
    // Needs root and this machine's hybrid layout; `.ci/run` runs as root, so no skipping.
    // Arrange
    let (uid, id) = new_pod_and_container();
    let _container = RealContainer::start(&uid, &id);
    // The kernel's own count first, waited for rather than slept on: a loaded box may give the
    // busy process little CPU at first.
    let usage = PathBuf::from(format!(
        "/sys/fs/cgroup/cpuacct/kubepods/burstable/pod{uid}/{id}/cpuacct.usage"
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let kernel_seconds = loop {
        let ns: u64 = std::fs::read_to_string(&usage)
            .expect("cpuacct.usage")
            .trim()
            .parse()
            .expect("ns");
        if ns > 50_000_000 || std::time::Instant::now() > deadline {
            break ns as f64 / 1e9;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
    let mut cgroups = Cgroups::new(Roots::default());

    // Act
    let mut cx = Cx::new(&mut out, &mut inventory);
    cgroups.collect(&mut cx).expect("collect");

    // Assert
    let found = inventory
        .containers
        .iter()
        .find(|c| c.id == id)
        .expect("container found");
    assert_eq!(found.pod_uid.as_deref(), Some(uid.as_str()));
    let path = format!("/kubepods/burstable/pod{uid}/{id}");
    let cpu = out
        .families()
        .iter()
        .find(|f| f.name == "container_cpu_usage_seconds_total")
        .expect("cpu family");
    let sample = cpu
        .samples
        .iter()
        .find(|s| s.labels[0].1 == path)
        .expect("cpu sample");
    assert!(
        matches!(sample.value, Value::Number(v) if v > 0.05 && v >= kernel_seconds),
        "{:?}, the kernel counted {kernel_seconds} s before",
        sample.value
    );
    assert!(sample.labels.contains(&("pod", uid.clone())));
    let procs = std::fs::read_to_string(&found.procs).expect("procs");
    assert!(
        !procs.trim().is_empty(),
        "the busy process is in {}",
        found.procs.display()
    );
}

/// The `container_oom_events_total` of the container at `path` in a fresh pass of `cgroups`.
fn oom_kills(cgroups: &mut Cgroups, path: &str) -> Option<f64> {
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
    cgroups
        .collect(&mut Cx::new(&mut out, &mut inventory))
        .expect("collect");
    let family = out
        .families()
        .iter()
        .find(|f| f.name == "container_oom_events_total")?;
    let sample = family.samples.iter().find(|s| s.labels[0].1 == path)?;
    match sample.value {
        Value::Number(v) => Some(v),
        Value::Histogram(_) => None,
    }
}

#[test]
fn a_real_oom_kill_is_counted_by_the_first_pass_after_it_though_quiet_passes_skip_the_file() {
    // Arrange: a container limited to 32 MiB, read by passes that see no OOM kill.
    let (uid, id) = new_pod_and_container();
    let _container = RealContainer::start(&uid, &id);
    let memory = PathBuf::from(format!(
        "/sys/fs/cgroup/memory/kubepods/burstable/pod{uid}/{id}"
    ));
    std::fs::write(memory.join("memory.limit_in_bytes"), "33554432").expect("set limit");
    let path = format!("/kubepods/burstable/pod{uid}/{id}");
    let mut cgroups = Cgroups::new(Roots::default());
    for _ in 0..4 {
        assert_eq!(oom_kills(&mut cgroups, &path), Some(0.0));
    }

    // Act: a process of the container reads 256 MiB into one line and is killed.
    let procs = memory.join("cgroup.procs");
    let script = format!(
        "echo $$ > {} && head -c 268435456 /dev/zero | tail",
        procs.display()
    );
    let status = Command::new("sh").args(["-c", &script]).status();
    let kills = oom_kills(&mut cgroups, &path);

    // Assert
    assert!(!status.expect("sh ran").success());
    assert_eq!(kills, Some(1.0));
}
