//! Network collectors: the host's interfaces, protocol counters, conntrack table and socket
//! counts with node_exporter's names, and each pod's interfaces with cAdvisor's names. Each is
//! its own [`Collector`](super::Collector) and fails alone.
//!
//! - [`netdev`]: `/proc/net/dev` per interface, and the one parser of that format.
//! - [`netclass`]: `/sys/class/net/<iface>/` link state, MTU, speed and carrier changes.
//! - [`netstat`]: `/proc/net/{snmp,netstat,snmp6}` as `node_netstat_<Proto>_<Field>`.
//! - [`conntrack`]: `nf_conntrack_count` and `nf_conntrack_max`, when the module is loaded.
//! - [`conntrack_stat`]: the tracker's per-CPU event counters (drops, insert failures), summed.
//! - [`sockstat`]: `/proc/net/sockstat{,6}` as `node_sockstat_*`.
//! - [`pod_net`]: each pod's network namespace, found through one process of its containers.
//! - `pod_id`: which pod a container belongs to (labels and a dedupe key), for `pod_net`.

pub mod conntrack;
pub mod conntrack_stat;
mod link_attrs;
pub mod netclass;
pub mod netdev;
pub mod netstat;
mod pod_id;
pub mod pod_net;
pub mod sockstat;

pub use conntrack::Conntrack;
pub use conntrack_stat::ConntrackStat;
pub use netclass::NetClass;
pub use netdev::NetDev;
pub use netstat::Netstat;
pub use pod_net::PodNet;
pub use sockstat::Sockstat;

#[cfg(test)]
pub(crate) mod testing;

use super::{Collector, Roots};

/// Every network collector, in the order they run; [`PodNet`] last, after containers are known.
pub fn all(roots: &Roots) -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(NetDev::new(roots.clone())),
        Box::new(NetClass::new(roots.clone())),
        Box::new(Netstat::new(roots.clone())),
        Box::new(Conntrack::new(roots.clone())),
        Box::new(ConntrackStat::new(roots.clone())),
        Box::new(Sockstat::new(roots.clone())),
        Box::new(PodNet::new(roots.clone())),
    ]
}
