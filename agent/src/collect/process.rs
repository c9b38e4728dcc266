//! The standard `process_*` metrics of the agent itself (CPU seconds, resident and virtual
//! memory, file descriptors and their limit, start time), with the names, types and units the
//! Prometheus client libraries give them, read through sysinfo as the server reads its own. They
//! show what the agent costs each node, next to what it measures.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::collect::{CollectError, Collector, Cx};
use crate::metrics::{Buffer, no_labels};

/// What one collection reads about the agent's process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub resident_bytes: u64,
    /// Virtual memory size, in bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: u64,
}

impl ProcessStats {
    /// Writes the `process_*` families; a figure sysinfo could not read is left out.
    pub fn write(&self, out: &mut Buffer) {
        out.counter(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )
        .push(no_labels(), self.cpu_seconds);
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Some(self.resident_bytes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Some(self.virtual_bytes),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                self.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                self.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Some(self.start_time_seconds),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value {
                out.gauge(name, help).push(no_labels(), value as f64);
            }
        }
    }
}

/// Reads [`ProcessStats`] of the agent's own process every collection. It runs last, so its CPU
/// time includes the rest of the pass.
#[derive(Debug)]
pub struct Process {
    pid: Pid,
    system: System,
}

impl Process {
    /// A collector for the calling process.
    pub fn new() -> Result<Self, CollectError> {
        let system = System::new().map_err(|e| CollectError::Other(format!("sysinfo: {e}")))?;
        Ok(Self {
            pid: Pid::from_u32(std::process::id()),
            system,
        })
    }

    /// Reads the process now; `None` if sysinfo could not.
    pub fn read(&mut self) -> Option<ProcessStats> {
        // Only CPU times and memory; threads are not listed, nor anything else read.
        let what = ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .without_tasks();
        let only = [self.pid];
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&only), true, what);
        let p = self.system.process(self.pid)?;
        let count = |n: Option<usize>| n.and_then(|n| u64::try_from(n).ok());
        Some(ProcessStats {
            cpu_seconds: p.accumulated_cpu_time() as f64 / 1000.0,
            resident_bytes: p.memory(),
            virtual_bytes: p.virtual_memory(),
            open_fds: count(p.open_files()),
            max_fds: count(p.open_files_limit()),
            start_time_seconds: p.start_time(),
        })
    }
}

impl Collector for Process {
    fn name(&self) -> &'static str {
        "process"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let stats = self
            .read()
            .ok_or_else(|| CollectError::Other("cannot read the agent's own process".into()))?;
        stats.write(cx.out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::collect::run_one;
    use crate::metrics::Kind;

    /// Spins until the kernel has counted at least one tick of CPU time for this process.
    fn burn_a_tick(collector: &mut Process) {
        let until = Instant::now() + Duration::from_secs(5);
        let mut spun = 0u64;
        while collector.read().map(|s| s.cpu_seconds) == Some(0.0) && Instant::now() < until {
            spun = (0..100_000u64).fold(spun, |a, b| a.wrapping_add(b * b));
        }
        std::hint::black_box(spun);
    }

    #[test]
    fn this_process_reads_as_running_with_memory_and_fds_under_the_limit() {
        let mut collector = Process::new().unwrap();
        burn_a_tick(&mut collector);

        let out = run_one(&mut collector).unwrap();

        let v = |name| out.value(name, &[]).unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let started = Duration::from_secs_f64(v("process_start_time_seconds"));
        assert!(started <= now && now - started < Duration::from_secs(3600));
        assert!(v("process_cpu_seconds_total") > 0.0);
        let (rss, virt) = (
            v("process_resident_memory_bytes"),
            v("process_virtual_memory_bytes"),
        );
        assert!(rss > 0.0 && virt >= rss, "rss {rss}, virtual {virt}");
        let (open, max) = (v("process_open_fds"), v("process_max_fds"));
        assert!(open > 0.0 && open <= max, "open {open}, max {max}");
    }

    #[test]
    fn every_family_has_help_and_the_client_libraries_type() {
        let out = run_one(&mut Process::new().unwrap()).unwrap();

        let kinds: Vec<(&str, Kind)> = out
            .families()
            .iter()
            .inspect(|f| assert!(!f.help.is_empty(), "{} has no help", f.name))
            .map(|f| (&*f.name, f.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("process_cpu_seconds_total", Kind::Counter),
                ("process_resident_memory_bytes", Kind::Gauge),
                ("process_virtual_memory_bytes", Kind::Gauge),
                ("process_open_fds", Kind::Gauge),
                ("process_max_fds", Kind::Gauge),
                ("process_start_time_seconds", Kind::Gauge),
            ]
        );
    }

    #[test]
    fn a_figure_sysinfo_could_not_read_is_left_out() {
        let stats = ProcessStats {
            cpu_seconds: 1.5,
            resident_bytes: 4096,
            virtual_bytes: 8192,
            open_fds: None,
            max_fds: Some(1024),
            start_time_seconds: 1_700_000_000,
        };
        let mut out = Buffer::new();

        stats.write(&mut out);

        assert_eq!(out.value("process_open_fds", &[]), None);
        assert_eq!(out.value("process_max_fds", &[]), Some(1024.0));
        assert_eq!(out.value("process_cpu_seconds_total", &[]), Some(1.5));
    }
}
