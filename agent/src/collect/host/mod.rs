//! Host collectors with node_exporter's names, types, units and labels, read from the proc and sys
//! roots so the agent can run in a container with the host's trees mounted elsewhere.
//!
//! - [`stat`]: CPU seconds by mode, context switches, interrupts, forks, boot time.
//! - [`loadavg`]: 1/5/15-minute load.
//! - [`meminfo`]: every `/proc/meminfo` field, memory and swap.
//! - [`vmstat`]: paging, swapping and the kernel's OOM-kill count.
//! - [`diskstats`]: disk I/O per block device, with discards and flushes on newer kernels.
//! - [`filesystem`]: space and inodes per mounted filesystem.
//! - [`statfs`]: `statvfs` with a deadline for network filesystems that can hang.
//! - [`pressure`]: PSI stall seconds for cpu, memory and io.
//! - [`softnet`]: per-CPU packets processed, dropped and squeezed by the receive softirq.
//! - [`uname`]: `node_uname_info`, from the host's kernel files when `/proc` is mounted elsewhere.
//! - [`os_release`]: `node_os_info` and `node_os_version` from os-release, read once.
//! - [`uptime`]: uptime, the current time and file descriptors in use.
//! - [`timex`]: the clock's offset, synchronisation and error bounds from `adjtimex(2)`.

pub mod diskstats;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod os_release;
pub mod pressure;
pub mod softnet;
pub mod stat;
pub mod statfs;
pub mod timex;
pub mod uname;
pub mod uptime;
pub mod vmstat;

use super::{Collector, Roots};

/// Every host collector, in the order they run.
pub fn all(roots: &Roots) -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(stat::Stat::new(roots)),
        Box::new(loadavg::LoadAvg::new(roots)),
        Box::new(meminfo::MemInfo::new(roots)),
        Box::new(vmstat::VmStat::new(roots)),
        Box::new(diskstats::DiskStats::new(roots)),
        Box::new(filesystem::Filesystem::new(roots)),
        Box::new(pressure::Pressure::new(roots)),
        Box::new(uptime::Uptime::new(roots)),
        Box::new(timex::Timex::new(roots)),
        Box::new(softnet::Softnet::new(roots)),
        Box::new(uname::Uname::new(roots)),
        Box::new(os_release::OsRelease::new(roots)),
    ]
}
