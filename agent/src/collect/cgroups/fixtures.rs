//! Real-format cgroup trees for tests and benchmarks: a v1 host with the cgroupfs driver
//! (`cpu,cpuacct` co-mounted), a v2 host with the systemd driver, and a hybrid host like the
//! Debian test machine (separate `cpu` and `cpuacct`, cgroup2 at `unified` with no controllers),
//! each with N containers, two per pod, a matching `proc/self/mountinfo` and a `proc/vmstat`
//! that counts no OOM kill.
//!
//! Every container reports the same figures, so tests can assert them exactly: CPU usage
//! `index + 1` seconds; 100 CFS periods, 10 throttled, 0.5 s throttled (v1: with a CFS quota
//! for guaranteed pods only, the counters left from an earlier quota for the others); memory usage 100 MiB,
//! inactive file 20 MiB (working set 80 MiB), RSS 50 MiB, limit 256 MiB (unlimited for
//! best-effort pods, reported as 0); one OOM kill; on device 8:0 4096 bytes read in 1 read and
//! 8192 bytes written in 2 writes; PSI `some` 1 s and `full` 0.5 s for cpu, memory and io.

use std::io;
use std::path::{Path, PathBuf};

use crate::collect::Roots;
use crate::collect::pods::QosClass;

/// Figures every fixture container reports (see the module docs).
pub const MIB: u64 = 1 << 20;

/// One container of a fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureContainer {
    /// The 64-hex id.
    pub id: String,
    /// Its pod's UID (with dashes).
    pub pod_uid: String,
    /// Its pod's QoS class.
    pub qos: QosClass,
    /// The cgroup path (the `id` label), e.g. `/kubepods/burstable/pod<uid>/<id>`.
    pub path: String,
    /// Its CPU usage in seconds.
    pub cpu_seconds: f64,
}

/// A fixture tree: the roots to collect from and what is in it.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `dir/proc` and `dir/sys`.
    pub roots: Roots,
    /// The containers, in creation order.
    pub containers: Vec<FixtureContainer>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    V1,
    V2,
    Hybrid,
}

/// A cgroup v1 host, cgroupfs driver: `/kubepods/<qos>/pod<uid>/<id>`.
pub fn v1_cgroupfs(dir: &Path, n_containers: usize) -> io::Result<Fixture> {
    build(dir, n_containers, Mode::V1)
}

/// A cgroup v2 host, systemd driver: `/kubepods.slice/.../cri-containerd-<id>.scope`.
pub fn v2_systemd(dir: &Path, n_containers: usize) -> io::Result<Fixture> {
    build(dir, n_containers, Mode::V2)
}

/// A hybrid host, systemd driver with docker: `/kubepods.slice/.../docker-<id>.scope` in every
/// v1 hierarchy and in `unified` (CPU usage and PSI only).
pub fn hybrid(dir: &Path, n_containers: usize) -> io::Result<Fixture> {
    build(dir, n_containers, Mode::Hybrid)
}

/// The mount points (under `/sys/fs/cgroup`) and mountinfo super options of a mode.
fn mounts(mode: Mode) -> Vec<(&'static str, &'static str, &'static str)> {
    match mode {
        Mode::V1 => vec![
            ("cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
            ("memory", "cgroup", "rw,memory"),
            ("blkio", "cgroup", "rw,blkio"),
            ("pids", "cgroup", "rw,pids"),
            ("systemd", "cgroup", "rw,xattr,name=systemd"),
        ],
        Mode::V2 => vec![("", "cgroup2", "rw,nsdelegate,memory_recursiveprot")],
        Mode::Hybrid => vec![
            ("cpu", "cgroup", "rw,cpu"),
            ("cpuacct", "cgroup", "rw,cpuacct"),
            ("memory", "cgroup", "rw,memory"),
            ("blkio", "cgroup", "rw,blkio"),
            ("systemd", "cgroup", "rw,name=systemd"),
            ("unified", "cgroup2", "rw"),
        ],
    }
}

fn build(dir: &Path, n: usize, mode: Mode) -> io::Result<Fixture> {
    let roots = Roots {
        proc: dir.join("proc"),
        sys: dir.join("sys"),
    };
    let cgroup = roots.sys("fs/cgroup");
    write_mountinfo(&roots, mode)?;
    write_vmstat(&roots, 0)?;
    for (i, (point, fstype, _)) in mounts(mode).into_iter().enumerate() {
        let top = cgroup.join(point);
        std::fs::create_dir_all(&top)?;
        if fstype == "cgroup2" {
            let controllers = if mode == Mode::V2 {
                "cpuset cpu io memory hugetlb pids rdma misc\n"
            } else {
                ""
            };
            std::fs::write(top.join("cgroup.controllers"), controllers)?;
        }
        for service in [
            "ssh.service",
            "containerd.service",
            "kubelet.service",
            "systemd-journald.service",
        ] {
            write_cgroup(
                &top.join("system.slice").join(service),
                &[("cgroup.procs", format!("{}\n", 100 + i))],
            )?;
        }
    }
    let containers = (0..n).map(|i| container(i, mode)).collect::<Vec<_>>();
    for c in &containers {
        write_container(&cgroup, c, mode)?;
    }
    Ok(Fixture { roots, containers })
}

fn write_mountinfo(roots: &Roots, mode: Mode) -> io::Result<()> {
    let mut text = String::from(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n\
         23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n",
    );
    if mode != Mode::V2 {
        text.push_str("31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n");
    }
    for (i, (point, fstype, options)) in mounts(mode).into_iter().enumerate() {
        let at = if point.is_empty() {
            String::new()
        } else {
            format!("/{point}")
        };
        let (id, peer) = (32 + i, 10 + i);
        text.push_str(&format!(
            "{id} 31 0:{id} / /sys/fs/cgroup{at} rw,nosuid,nodev,noexec,relatime shared:{peer} - {fstype} {fstype} {options}\n"
        ));
    }
    let path = roots.proc("self/mountinfo");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(path, text)
}

/// Writes the fixture's `proc/vmstat` with `oom_kills` as the system-wide OOM kill count (a
/// test raises it with a container's count, as the kernel does).
pub fn write_vmstat(roots: &Roots, oom_kills: u64) -> io::Result<()> {
    std::fs::write(
        roots.proc("vmstat"),
        format!("nr_free_pages 250000\npgfault 5200000\npgmajfault 300\noom_kill {oom_kills}\n"),
    )
}

fn container(i: usize, mode: Mode) -> FixtureContainer {
    let pod = i / 2;
    let id = format!(
        "{:016x}",
        0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1)
    )
    .repeat(4);
    let pod_uid = format!("{:08x}-4b5a-4978-8796-{:012x}", pod + 1, pod * 7919);
    let qos = [
        QosClass::Guaranteed,
        QosClass::Burstable,
        QosClass::BestEffort,
    ][pod % 3];
    let path = match mode {
        Mode::V1 => cgroupfs_path(&pod_uid, qos, &id),
        Mode::V2 => systemd_path(&pod_uid, qos, &format!("cri-containerd-{id}.scope")),
        Mode::Hybrid => systemd_path(&pod_uid, qos, &format!("docker-{id}.scope")),
    };
    let cpu_seconds = (i + 1) as f64;
    FixtureContainer {
        id,
        pod_uid,
        qos,
        path,
        cpu_seconds,
    }
}

fn cgroupfs_path(uid: &str, qos: QosClass, leaf: &str) -> String {
    match qos {
        QosClass::Guaranteed => format!("/kubepods/pod{uid}/{leaf}"),
        QosClass::Burstable => format!("/kubepods/burstable/pod{uid}/{leaf}"),
        QosClass::BestEffort => format!("/kubepods/besteffort/pod{uid}/{leaf}"),
    }
}

fn systemd_path(uid: &str, qos: QosClass, leaf: &str) -> String {
    let u = uid.replace('-', "_");
    match qos {
        QosClass::Guaranteed => format!("/kubepods.slice/kubepods-pod{u}.slice/{leaf}"),
        QosClass::Burstable => {
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/{leaf}"
            )
        }
        QosClass::BestEffort => {
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/{leaf}"
            )
        }
    }
}

fn write_container(cgroup: &Path, c: &FixtureContainer, mode: Mode) -> io::Result<()> {
    let at = |point: &str| -> PathBuf { cgroup.join(point).join(&c.path[1..]) };
    let unlimited = c.qos == QosClass::BestEffort;
    match mode {
        Mode::V1 => {
            let cpu = [v1_cpuacct(c), v1_cpu(c.qos)].concat();
            write_cgroup(&at("cpu,cpuacct"), &cpu)?;
            write_cgroup(&at("memory"), &v1_memory(unlimited))?;
            write_cgroup(&at("blkio"), &v1_blkio())?;
            write_cgroup(&at("pids"), &[])?;
            write_cgroup(&at("systemd"), &[])
        }
        Mode::V2 => write_cgroup(
            &at(""),
            &[
                v2_cpu(c, true),
                v2_memory(unlimited),
                v2_io(),
                v2_pressure(),
            ]
            .concat(),
        ),
        Mode::Hybrid => {
            write_cgroup(&at("cpu"), &v1_cpu(c.qos))?;
            write_cgroup(&at("cpuacct"), &v1_cpuacct(c))?;
            write_cgroup(&at("memory"), &v1_memory(unlimited))?;
            write_cgroup(&at("blkio"), &v1_blkio())?;
            write_cgroup(&at("systemd"), &[])?;
            write_cgroup(&at("unified"), &[v2_cpu(c, false), v2_pressure()].concat())
        }
    }
}

/// Creates the directory with `cgroup.procs`, `tasks`-like files and `files`.
fn write_cgroup(dir: &Path, files: &[(&str, String)]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("cgroup.procs"), "")?;
    std::fs::write(dir.join("notify_on_release"), "0\n")?;
    for (name, content) in files {
        std::fs::write(dir.join(name), content)?;
    }
    Ok(())
}

type Files = Vec<(&'static str, String)>;

fn v1_cpuacct(c: &FixtureContainer) -> Files {
    let ns = (c.cpu_seconds * 1e9) as u64;
    vec![
        ("cpuacct.usage", format!("{ns}\n")),
        (
            "cpuacct.stat",
            format!("user {}\nsystem {}\n", ns / 20_000_000, ns / 100_000_000),
        ),
    ]
}

/// A CFS quota for guaranteed pods only: burstable ones set CPU requests without a limit, as
/// many clusters advise, and best-effort ones can set neither.
fn v1_cpu(qos: QosClass) -> Files {
    let quota = if qos == QosClass::Guaranteed {
        "50000\n"
    } else {
        "-1\n"
    };
    vec![
        ("cpu.stat", "nr_periods 100\nnr_throttled 10\nthrottled_time 500000000\nnr_bursts 0\nburst_time 0\n".into()),
        ("cpu.cfs_period_us", "100000\n".into()),
        ("cpu.cfs_quota_us", quota.into()),
    ]
}

fn v1_memory(unlimited: bool) -> Files {
    let limit = if unlimited {
        9_223_372_036_854_771_712
    } else {
        256 * MIB
    };
    vec![
        ("memory.usage_in_bytes", format!("{}\n", 100 * MIB)),
        ("memory.limit_in_bytes", format!("{limit}\n")),
        ("memory.stat", v1_memory_stat(limit)),
        (
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n".into(),
        ),
    ]
}

/// A full v1 `memory.stat`, keys as this machine's 6.x kernel writes them.
fn v1_memory_stat(limit: u64) -> String {
    let (cache, rss, inactive_file) = (50 * MIB, 50 * MIB, 20 * MIB);
    let mut s = String::new();
    for prefix in ["", "total_"] {
        for (k, v) in [
            ("cache", cache),
            ("rss", rss),
            ("rss_huge", 0),
            ("shmem", 0),
            ("mapped_file", 4 * MIB),
            ("dirty", 0),
            ("writeback", 0),
            ("workingset_refault_anon", 0),
            ("workingset_refault_file", 0),
            ("swap", 0),
            ("swapcached", 0),
            ("pgpgin", 30_000),
            ("pgpgout", 4_400),
            ("pgfault", 52_000),
            ("pgmajfault", 3),
            ("inactive_anon", 0),
            ("active_anon", rss),
            ("inactive_file", inactive_file),
            ("active_file", cache - inactive_file),
            ("unevictable", 0),
        ] {
            s.push_str(&format!("{prefix}{k} {v}\n"));
        }
        if prefix.is_empty() {
            s.push_str(&format!(
                "hierarchical_memory_limit {limit}\nhierarchical_memsw_limit {limit}\n"
            ));
        }
    }
    s
}

fn v1_blkio() -> Files {
    let bytes = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n8:0 Async 4096\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n";
    let ops =
        "8:0 Read 1\n8:0 Write 2\n8:0 Sync 2\n8:0 Async 1\n8:0 Discard 0\n8:0 Total 3\nTotal 3\n";
    vec![
        ("blkio.throttle.io_service_bytes", bytes.into()),
        ("blkio.throttle.io_serviced", ops.into()),
    ]
}

fn v2_cpu(c: &FixtureContainer, controller: bool) -> Files {
    let us = (c.cpu_seconds * 1e6) as u64;
    let mut stat = format!(
        "usage_usec {us}\nuser_usec {}\nsystem_usec {}\nnice_usec 0\n",
        us * 4 / 5,
        us / 5
    );
    if controller {
        stat.push_str(
            "nr_periods 100\nnr_throttled 10\nthrottled_usec 500000\nnr_bursts 0\nburst_usec 0\n",
        );
    }
    vec![("cpu.stat", stat)]
}

fn v2_memory(unlimited: bool) -> Files {
    let max = if unlimited {
        "max".to_string()
    } else {
        (256 * MIB).to_string()
    };
    let stat = format!(
        "anon {}\nfile {}\nkernel 1048576\nkernel_stack 65536\npagetables 131072\nsec_pagetables 0\npercpu 1024\n\
         sock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\nfile_mapped 4194304\nfile_dirty 0\nfile_writeback 0\n\
         swapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 0\nactive_anon {}\ninactive_file {}\n\
         active_file {}\nunevictable 0\nslab_reclaimable 262144\nslab_unreclaimable 131072\nslab 393216\n\
         workingset_refault_anon 0\nworkingset_refault_file 0\npgscan 0\npgsteal 0\npgfault 52000\npgmajfault 3\n",
        50 * MIB,
        50 * MIB,
        50 * MIB,
        20 * MIB,
        30 * MIB
    );
    vec![
        ("memory.current", format!("{}\n", 100 * MIB)),
        ("memory.max", format!("{max}\n")),
        ("memory.stat", stat),
        (
            "memory.events",
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n".into(),
        ),
    ]
}

fn v2_io() -> Files {
    vec![(
        "io.stat",
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n".into(),
    )]
}

fn v2_pressure() -> Files {
    let psi = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n";
    vec![
        ("cpu.pressure", psi.into()),
        ("memory.pressure", psi.into()),
        ("io.pressure", psi.into()),
    ]
}
