//! A process's CPU time and resident memory as the kernel accounts them (`/proc/<pid>/stat`,
//! `/proc/<pid>/status`): how the benchmarks measure the agent and its peer alike.

use std::time::Duration;

/// CPU time (user + system, all threads) of process `pid` so far.
pub fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime is field 14 and stime field 15 of the whole line: indexes 11 and 12 here.
    let total = ticks(11) + ticks(12);
    let hz = rustix::param::clock_ticks_per_second();
    Ok(Duration::from_nanos(total * 1_000_000_000 / hz))
}

/// Resident set size of process `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    status_bytes(pid, "VmRSS:")
}

/// The anonymous part of process `pid`'s RSS in bytes (`RssAnon`): its heap and stacks, without
/// the pages of its binary and libraries mapped from their files (which `VmRSS` also counts).
pub fn rss_anon_bytes(pid: u32) -> std::io::Result<u64> {
    status_bytes(pid, "RssAnon:")
}

/// A `kB` field of `/proc/PID/status`, in bytes (0 when the kernel does not report it).
fn status_bytes(pid: u32, field: &str) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(kb * 1024)
}

/// CPU time of the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu_and_memory() {
        let busy: u64 = (0..2_000_000u64).map(|i| i % 7).sum();
        assert!(busy > 0);
        let rss = rss_bytes(std::process::id()).unwrap();
        let anon = rss_anon_bytes(std::process::id()).unwrap();
        assert!(rss > anon, "the binary's own pages are resident too");
        assert!(anon > 0);
        assert!(thread_cpu_time() > Duration::ZERO);
        assert!(cpu_time(std::process::id()).is_ok());
    }
}
