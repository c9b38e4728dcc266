//! The network collectors against a real network namespace: a veth pair between the host and a
//! fresh netns, a process living inside it, and traffic that must show up as the pod's
//! transmitted packets, and datagrams to a closed port as the namespace's `Udp_NoPorts`. Addresses are link-local (169.254.78.0/24) on the pair only, so no
//! packet leaves the machine and none collides with the host's own network. Needs root and
//! iproute2 (`.ci/run` provides both); without them the test fails rather than skips.

// Helpers of a test binary panic on purpose: a failed setup step must fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use warroom_agent::collect::network::{Netstat, PodNet};
use warroom_agent::collect::{Collector, ContainerRef, Cx, Inventory, Roots};
use warroom_agent::labels;
use warroom_agent::metrics::{Buffer, Value};

/// Runs `ip args…`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace, a veth pair and a process inside; all removed on drop, even after a panic.
struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    host_addr: String,
    ns_addr: String,
    sleeper: Option<Child>,
}

impl Netns {
    fn create() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let tag = format!("{:06x}", (nanos ^ std::process::id()) & 0xff_ffff);
        let block = (nanos % 63 + 1) * 4;
        let mut netns = Self {
            name: format!("wr-test-{tag}"),
            host_if: format!("wrh{tag}"),
            ns_if: format!("wrn{tag}"),
            host_addr: format!("169.254.78.{}", block + 1),
            ns_addr: format!("169.254.78.{}", block + 2),
            sleeper: None,
        };
        netns.wire();
        netns
    }

    fn wire(&mut self) {
        let (ns, h, n) = (self.name.clone(), self.host_if.clone(), self.ns_if.clone());
        let ns_cidr = &format!("{}/30", self.ns_addr);
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &h, "type", "veth", "peer", "name", &n]);
        ip(&["link", "set", &n, "netns", &ns]);
        ip(&["addr", "add", &format!("{}/30", self.host_addr), "dev", &h]);
        ip(&["link", "set", &h, "up"]);
        ip(&[
            "netns", "exec", &ns, "ip", "addr", "add", ns_cidr, "dev", &n,
        ]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", &n, "up"]);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns, "sleep", "30"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleeper");
        self.sleeper = Some(child);
    }

    /// The pid of the process inside, once it has entered the namespace.
    fn pid(&self) -> u32 {
        let pid = self.sleeper.as_ref().unwrap().id();
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .ok()
            .as_ref()
            == Some(&ours)
        {
            assert!(Instant::now() < deadline, "sleeper never entered the netns");
            std::thread::sleep(Duration::from_millis(10));
        }
        pid
    }

    /// Sends `n` UDP datagrams from inside the namespace to the host end of the pair.
    fn send_udp(&self, n: u32) {
        let script = format!(
            "for i in $(seq {n}); do echo warroom > /dev/udp/{}/9; done",
            self.host_addr
        );
        ip(&["netns", "exec", &self.name, "bash", "-c", &script]);
    }

    /// Sends `n` UDP datagrams from the host to port 9 of the namespace's end, where nothing
    /// listens.
    fn send_udp_to_closed_port(&self, n: u32) {
        let script = format!(
            "for i in $(seq {n}); do echo warroom > /dev/udp/{}/9; done",
            self.ns_addr
        );
        let status = Command::new("bash").args(["-c", &script]).status().unwrap();
        assert!(status.success(), "sending to the namespace failed");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut child) = self.sleeper.take() {
            child.kill().ok();
            child.wait().ok();
        }
        let quiet = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .ok();
        };
        quiet(&["netns", "del", &self.name]);
        quiet(&["link", "del", &self.host_if]);
    }
}

/// The pod's transmitted packets on `iface` after one collection.
fn transmitted(collector: &mut PodNet, container: &ContainerRef, iface: &str) -> f64 {
    let mut out = Buffer::new();
    let mut inventory = Inventory {
        containers: vec![container.clone()],
        ..Default::default()
    };
    let mut cx = Cx::new(&mut out, &mut inventory);
    collector.collect(&mut cx).unwrap();
    assert!(cx.take_partial().is_empty());
    let family = out
        .families()
        .iter()
        .find(|f| f.name == "container_network_transmit_packets_total")
        .expect("family written");
    let sample = family
        .samples
        .iter()
        .find(|s| s.labels.contains(&("interface", iface.to_owned())))
        .expect("the pod's veth is reported");
    assert!(sample.labels.contains(&("pod", "wr-pod".to_owned())));
    match sample.value {
        Value::Number(v) => v,
        Value::Histogram(_) => panic!("not a counter"),
    }
}

#[test]
fn a_pods_transmitted_packets_rise_with_real_traffic_in_its_netns() {
    // Arrange: a namespace with a process, and the container whose cgroup lists that process.
    let netns = Netns::create();
    let dir = tempfile::tempdir().unwrap();
    let procs = dir.path().join("cgroup.procs");
    std::fs::write(&procs, format!("{}\n", netns.pid())).unwrap();
    let labels = labels!["pod" => "wr-pod", "namespace" => "wr-ns"];
    let container = ContainerRef {
        id: "c".into(),
        pod_uid: None,
        labels: labels.into(),
        procs,
    };
    let mut collector = PodNet::new(Roots::default());
    let before = transmitted(&mut collector, &container, &netns.ns_if);

    // Act
    netns.send_udp(20);
    let after = transmitted(&mut collector, &container, &netns.ns_if);

    // Assert
    assert!(
        after >= before + 20.0,
        "transmit packets went from {before} to {after}"
    );
}

/// The namespace's `node_netstat_Udp_NoPorts` after one collection.
fn udp_no_ports(collector: &mut Netstat) -> f64 {
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
    let mut cx = Cx::new(&mut out, &mut inventory);
    collector.collect(&mut cx).unwrap();
    assert!(cx.take_partial().is_empty());
    out.value("node_netstat_Udp_NoPorts", &[])
        .expect("Udp_NoPorts is exported")
}

#[test]
fn datagrams_to_a_closed_port_in_a_fresh_netns_count_as_its_udp_no_ports() {
    // Arrange: the namespace's own /proc/net, seen through the process inside it.
    let netns = Netns::create();
    let roots = Roots {
        proc: format!("/proc/{}", netns.pid()).into(),
        ..Roots::default()
    };
    let mut collector = Netstat::new(roots);
    let before = udp_no_ports(&mut collector);

    // Act
    netns.send_udp_to_closed_port(5);
    let after = udp_no_ports(&mut collector);

    // Assert: a fresh namespace starts from zero, so these are its counters, not the host's.
    assert_eq!(before, 0.0);
    assert!(after >= 5.0, "Udp_NoPorts went from {before} to {after}");
}
