//! The metrics a generated node exposes, named, typed and labelled as node_exporter and
//! cAdvisor do, and the names its devices, namespaces, apps and sidecars take.

use super::values::Kind;
use Kind::{Bytes, Clock, Const, Count, Level, Seconds, Ticks};

/// One node_exporter or cAdvisor metric: its name, how its values move, and its extra label.
pub(super) struct Metric {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) dim: Dim,
}

/// The per-metric label beyond node / pod / container.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Dim {
    None,
    Cpu,
    CpuMode,
    Disk,
    Iface,
}

const fn m(name: &'static str, kind: Kind, dim: Dim) -> Metric {
    Metric { name, kind, dim }
}

pub(super) const MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
pub(super) const DISKS: [&str; 2] = ["nvme0n1", "nvme1n1"];
pub(super) const IFACES: [&str; 2] = ["eth0", "eth1"];
pub(super) const NAMESPACES: [&str; 12] = [
    "auth",
    "catalog",
    "checkout",
    "default",
    "ingress-nginx",
    "kube-system",
    "monitoring",
    "notifications",
    "orders",
    "payments",
    "search",
    "shipping",
];
pub(super) const APPS: [&str; 8] = [
    "api",
    "worker",
    "web",
    "cache",
    "db-proxy",
    "scheduler",
    "consumer",
    "gateway",
];
pub(super) const SIDECARS: [&str; 2] = ["istio-proxy", "log-shipper"];

/// node_exporter metrics, one series per node (and per CPU, mode, disk or interface).
pub(super) const NODE_METRICS: [Metric; 29] = [
    m("node_cpu_seconds_total", Ticks(0.12), Dim::CpuMode),
    m(
        "node_schedstat_running_seconds_total",
        Seconds(0.3),
        Dim::Cpu,
    ),
    m("node_load1", Level(1.5, 0.6, 2), Dim::None),
    m("node_load5", Level(1.4, 0.3, 2), Dim::None),
    m("node_load15", Level(1.3, 0.1, 2), Dim::None),
    m(
        "node_memory_MemTotal_bytes",
        Const(33_547_735_040.0),
        Dim::None,
    ),
    m("node_memory_MemAvailable_bytes", Bytes(17e9), Dim::None),
    m("node_memory_Cached_bytes", Bytes(9e9), Dim::None),
    m("node_memory_Buffers_bytes", Bytes(4e8), Dim::None),
    m("node_disk_read_bytes_total", Count(2.0e5), Dim::Disk),
    m("node_disk_written_bytes_total", Count(1.2e6), Dim::Disk),
    m("node_disk_reads_completed_total", Count(12.0), Dim::Disk),
    m("node_disk_writes_completed_total", Count(60.0), Dim::Disk),
    m("node_disk_io_time_seconds_total", Seconds(0.04), Dim::Disk),
    m("node_filesystem_avail_bytes", Bytes(2.1e11), Dim::Disk),
    m(
        "node_filesystem_size_bytes",
        Const(536_608_768_000.0),
        Dim::Disk,
    ),
    m("node_network_receive_bytes_total", Count(3.0e6), Dim::Iface),
    m(
        "node_network_transmit_bytes_total",
        Count(2.0e6),
        Dim::Iface,
    ),
    m(
        "node_network_receive_packets_total",
        Count(2.5e3),
        Dim::Iface,
    ),
    m(
        "node_network_transmit_packets_total",
        Count(2.0e3),
        Dim::Iface,
    ),
    m("node_network_receive_drop_total", Count(0.01), Dim::Iface),
    m("node_network_receive_errs_total", Count(0.0), Dim::Iface),
    m("node_context_switches_total", Count(9.0e3), Dim::None),
    m("node_intr_total", Count(6.0e3), Dim::None),
    m("node_vmstat_pgfault", Count(4.0e3), Dim::None),
    m("node_procs_running", Level(3.0, 2.0, 0), Dim::None),
    m(
        "node_netstat_Tcp_CurrEstab",
        Level(180.0, 40.0, 0),
        Dim::None,
    ),
    m("node_time_seconds", Clock, Dim::None),
    m("node_boot_time_seconds", Const(1_718_000_000.0), Dim::None),
];

/// cAdvisor metrics, one series per container (and per interface or disk).
pub(super) const CONTAINER_METRICS: [Metric; 17] = [
    m(
        "container_cpu_usage_seconds_total",
        Seconds(0.08),
        Dim::None,
    ),
    m("container_cpu_cfs_periods_total", Count(10.0), Dim::None),
    m(
        "container_cpu_cfs_throttled_periods_total",
        Count(0.3),
        Dim::None,
    ),
    m(
        "container_cpu_cfs_throttled_seconds_total",
        Seconds(0.01),
        Dim::None,
    ),
    m(
        "container_memory_working_set_bytes",
        Bytes(2.5e8),
        Dim::None,
    ),
    m("container_memory_rss", Bytes(2.0e8), Dim::None),
    m("container_memory_cache", Bytes(6.0e7), Dim::None),
    m("container_memory_usage_bytes", Bytes(3.1e8), Dim::None),
    m(
        "container_spec_memory_limit_bytes",
        Const(536_870_912.0),
        Dim::None,
    ),
    m(
        "container_network_receive_bytes_total",
        Count(4.0e4),
        Dim::Iface,
    ),
    m(
        "container_network_transmit_bytes_total",
        Count(3.0e4),
        Dim::Iface,
    ),
    m("container_fs_reads_bytes_total", Count(900.0), Dim::Disk),
    m("container_fs_writes_bytes_total", Count(7.0e3), Dim::Disk),
    m("container_threads", Level(40.0, 6.0, 0), Dim::None),
    m(
        "container_file_descriptors",
        Level(120.0, 20.0, 0),
        Dim::None,
    ),
    m("container_oom_events_total", Count(0.0), Dim::None),
    m("container_last_seen", Clock, Dim::None),
];
