//! The standard `process_*` metrics of the server itself, with the names, types and units the
//! Prometheus client libraries give them, read through sysinfo at scrape time. A scrape that
//! cannot read the process leaves them out and logs that once; the rest of `/metrics` goes on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// What one scrape reads about the process.
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

/// Reads [`ProcessStats`] of this process on every scrape.
#[derive(Debug)]
pub struct ProcessCollector {
    pid: Pid,
    system: Mutex<System>,
    warned: AtomicBool,
}

impl ProcessCollector {
    /// A collector for the calling process.
    pub fn new() -> Result<Self, sysinfo::Error> {
        Ok(Self {
            pid: Pid::from_u32(std::process::id()),
            system: Mutex::new(System::new()?),
            warned: AtomicBool::new(false),
        })
    }

    /// Reads the process now; `None` if sysinfo could not.
    pub fn read(&self) -> Option<ProcessStats> {
        let mut system = self.system.lock().unwrap_or_else(|e| e.into_inner());
        // Only CPU times and memory; threads are not listed, nor anything else read.
        let what = ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .without_tasks();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[self.pid]), true, what);
        let p = system.process(self.pid)?;
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

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = self.read() else {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("cannot read this process's stats; process_* metrics left out");
            }
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        let described = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            cpu.metric_type(),
        )?;
        cpu.encode(described)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Some(s.resident_bytes),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Some(s.virtual_bytes),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                s.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Some(s.start_time_seconds),
            ),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;

    #[test]
    fn this_process_reads_as_running_with_memory_and_fds_under_the_limit() {
        let collector = ProcessCollector::new().unwrap();
        // The kernel counts CPU time in ticks: spin until at least one is counted.
        let spin_until = std::time::Instant::now() + Duration::from_secs(5);
        let mut spun = 0u64;
        while collector.read().unwrap().cpu_seconds == 0.0 && std::time::Instant::now() < spin_until
        {
            spun = (0..100_000u64).fold(spun, |a, b| a.wrapping_add(b * b));
        }

        let s = collector.read().unwrap();

        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let started = Duration::from_secs(s.start_time_seconds);
        assert!(
            started <= now && now - started < Duration::from_secs(3600),
            "{s:?}"
        );
        assert!(s.cpu_seconds > 0.0, "{s:?}");
        assert!(
            s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes,
            "{s:?}"
        );
        let (open, max) = (s.open_fds.unwrap(), s.max_fds.unwrap());
        assert!(open > 0 && open <= max, "{s:?}");
    }
}
