//! A real pod on this machine, seen through the real agent binary: a busy process in its own
//! network namespace (veth pair to the host) and in kubepods-shaped cgroups with a 64-hex
//! container id. `warroom-agent --once` must report the container's CPU, the pod's UID and QoS
//! class, and the pod's network counters, which rise with the traffic the pod sends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use warroom_tests::bins::{agent_once, sample};

/// Runs a command, panicking with its stderr when it fails.
fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with a veth pair, a busy process inside, and that process in a kubepods
/// container cgroup of every hierarchy. Everything is removed on drop.
struct RealPod {
    netns: String,
    host_veth: String,
    child: Child,
    cgroups: Vec<PathBuf>,
}

impl RealPod {
    fn start(uid: &str, container_id: &str, tag: &str) -> Self {
        let (netns, host_veth, pod_veth) = (
            format!("wr-pod-{tag}"),
            format!("wrh{tag}"),
            format!("wrp{tag}"),
        );
        sh(&["ip", "netns", "add", &netns]);
        sh(&[
            "ip", "link", "add", &host_veth, "type", "veth", "peer", "name", &pod_veth,
        ]);
        sh(&["ip", "link", "set", &pod_veth, "netns", &netns]);
        sh(&["ip", "addr", "add", "169.254.77.1/30", "dev", &host_veth]);
        sh(&["ip", "link", "set", &host_veth, "up"]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &netns,
            "ip",
            "addr",
            "add",
            "169.254.77.2/30",
            "dev",
            &pod_veth,
        ]);
        sh(&[
            "ip", "netns", "exec", &netns, "ip", "link", "set", &pod_veth, "up",
        ]);
        let child = Command::new("ip")
            .args(["netns", "exec", &netns, "sh", "-c", "while :; do :; done"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut pod = Self {
            netns,
            host_veth,
            child,
            cgroups: Vec::new(),
        };
        pod.enter_cgroups(uid, container_id);
        pod
    }

    fn enter_cgroups(&mut self, uid: &str, container_id: &str) {
        for hierarchy in ["memory", "cpuacct", "cpu", "unified"] {
            let top = PathBuf::from("/sys/fs/cgroup").join(hierarchy);
            if !top.is_dir() {
                continue;
            }
            let pod_dir = top.join(format!("kubepods/burstable/pod{uid}"));
            let leaf = pod_dir.join(container_id);
            std::fs::create_dir_all(&leaf).unwrap();
            self.cgroups.extend([leaf.clone(), pod_dir]);
            std::fs::write(leaf.join("cgroup.procs"), self.child.id().to_string()).unwrap();
        }
    }

    /// Sends `n` UDP datagrams from inside the pod to the host end of the veth (link-local
    /// addresses on the pair only: nothing leaves the machine or meets the host's own network).
    fn send_udp(&self, n: usize) {
        let script =
            format!("for i in $(seq {n}); do echo warroom > /dev/udp/169.254.77.1/9; done");
        sh(&["ip", "netns", "exec", &self.netns, "bash", "-c", &script]);
    }
}

impl Drop for RealPod {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        for dir in &self.cgroups {
            let _ = std::fs::remove_dir(dir);
        }
        // The shared parents go too unless another test still uses them.
        for top in
            ["memory", "cpuacct", "cpu", "unified"].map(|h| PathBuf::from("/sys/fs/cgroup").join(h))
        {
            let _ = std::fs::remove_dir(top.join("kubepods/burstable"));
            let _ = std::fs::remove_dir(top.join("kubepods"));
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_veth])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

#[test]
fn a_real_pod_shows_its_container_cpu_qos_class_and_rising_network_counters() {
    let tag = format!("{:04}", std::process::id() % 10_000);
    let uid = format!("5a1e{tag}-0000-4000-8000-00000000beef");
    let container_id = format!("{:0>64}", format!("c0ffee{tag}"));
    let pod = RealPod::start(&uid, &container_id, &tag);
    // One datagram first, so the neighbour entry is resolved before the counted ones.
    pod.send_udp(1);
    std::thread::sleep(Duration::from_millis(300));
    let pod_veth = format!("wrp{tag}");
    let tx = |text: &str| {
        sample(
            text,
            "container_network_transmit_packets_total",
            &[("pod", &uid), ("interface", &pod_veth)],
        )
    };

    let before = String::from_utf8(agent_once(&["--env", "target"]).stdout).unwrap();
    pod.send_udp(25);
    let after = String::from_utf8(agent_once(&["--env", "target"]).stdout).unwrap();

    let cpu = sample(
        &after,
        "container_cpu_usage_seconds_total",
        &[("pod", &uid)],
    );
    assert!(
        cpu.is_some_and(|c| c > 0.0),
        "container CPU for pod {uid}: {cpu:?}"
    );
    let info = sample(
        &after,
        "warroom_pod_info",
        &[("pod_uid", &uid), ("qos_class", "Burstable")],
    );
    assert_eq!(info, Some(1.0), "pod info for {uid}");
    let (tx0, tx1) = (
        tx(&before).expect("pod network before"),
        tx(&after).expect("pod network after"),
    );
    assert!(
        tx1 - tx0 >= 25.0,
        "pod transmit packets rose from {tx0} to {tx1}"
    );
    assert!(
        sample(
            &after,
            "container_network_transmit_packets_total",
            &[("interface", "lo"), ("pod", &uid)]
        )
        .is_none()
    );
}
