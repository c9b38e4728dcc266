//! `/proc/stat`: CPU seconds by mode per CPU, and the kernel's activity counters.

use crate::collect::kept::KeptFile;

use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::labels;
use crate::metrics::no_labels;

/// The modes of a `cpuN` line, in the kernel's column order (guest time is also counted in user).
const MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Reads `/proc/stat`.
pub struct Stat {
    file: KeptFile,
    ticks_per_second: f64,
    buf: String,
}

impl Stat {
    /// A collector reading `{proc}/stat`.
    pub fn new(roots: &Roots) -> Self {
        let ticks = rustix::param::clock_ticks_per_second();
        Self {
            file: KeptFile::one_piece(roots.proc("stat")),
            ticks_per_second: ticks as f64,
            buf: String::new(),
        }
    }
}

impl Collector for Stat {
    fn name(&self) -> &'static str {
        "stat"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.file.read_into(&mut self.buf)?;
        for (i, line) in self.buf.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace();
            let Some(key) = fields.next() else { continue };
            let at = |what: &str| CollectError::parse(self.file.path(), i + 1, what.to_string());
            if let Some(cpu) = key.strip_prefix("cpu").filter(|c| !c.is_empty()) {
                write_cpu(cx, cpu, fields, self.ticks_per_second).map_err(&at)?;
                continue;
            }
            let value = || fields.clone().next().and_then(|v| v.parse::<f64>().ok());
            let (name, help, counter) = match key {
                "ctxt" => (
                    "node_context_switches_total",
                    "Total number of context switches.",
                    true,
                ),
                "intr" => (
                    "node_intr_total",
                    "Total number of interrupts serviced.",
                    true,
                ),
                "processes" => ("node_forks_total", "Total number of forks.", true),
                "btime" => (
                    "node_boot_time_seconds",
                    "Node boot time, in unixtime.",
                    false,
                ),
                "procs_running" => (
                    "node_procs_running",
                    "Number of processes in runnable state.",
                    false,
                ),
                "procs_blocked" => (
                    "node_procs_blocked",
                    "Number of processes blocked waiting for I/O to complete.",
                    false,
                ),
                _ => continue,
            };
            let v = value().ok_or_else(|| at("value is not a number"))?;
            let family = if counter {
                cx.out.counter(name, help)
            } else {
                cx.out.gauge(name, help)
            };
            family.push(no_labels(), v);
        }
        Ok(())
    }
}

/// Writes one `cpuN` line's modes and guest time.
fn write_cpu<'a>(
    cx: &mut Cx<'_>,
    cpu: &str,
    fields: impl Iterator<Item = &'a str>,
    ticks: f64,
) -> Result<(), &'static str> {
    let values: Vec<f64> = fields
        .map(|f| f.parse::<f64>().map(|t| t / ticks))
        .collect::<Result<_, _>>()
        .map_err(|_| "cpu time is not a number")?;
    if values.len() < MODES.len() {
        return Err("cpu line has fewer than 8 columns");
    }
    let seconds = cx.out.counter(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
    );
    for (mode, v) in MODES.iter().zip(&values) {
        seconds.push(labels!["cpu" => cpu, "mode" => mode], *v);
    }
    let guest = cx.out.counter(
        "node_cpu_guest_seconds_total",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
    );
    for (mode, v) in ["user", "nice"].iter().zip(values.iter().skip(8)) {
        guest.push(labels!["cpu" => cpu, "mode" => mode], *v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};
    use crate::metrics::Buffer;

    const STAT: &str = "cpu  1000 20 300 40000 50 0 6 0 0 0\n\
cpu0 500 10 150 20000 25 0 3 0 7 1\n\
cpu1 500 10 150 20000 25 0 3 0 0 0\n\
intr 12345 1 2 3\n\
ctxt 987654\n\
btime 1763700000\n\
processes 4321\n\
procs_running 3\n\
procs_blocked 1\n\
softirq 100 1 2\n";

    fn collect(text: &str) -> Result<Buffer, CollectError> {
        let (_dir, roots) = fixture_roots(&[("proc/stat", text)]);
        let mut stat = Stat::new(&roots);
        stat.ticks_per_second = 100.0;
        run_one(&mut stat)
    }

    #[test]
    fn cpu_ticks_become_seconds_per_cpu_and_mode_without_the_total_line() {
        let buf = collect(STAT).unwrap();
        assert_eq!(
            buf.value("node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user")]),
            Some(5.0)
        );
        assert_eq!(
            buf.value("node_cpu_seconds_total", &[("cpu", "1"), ("mode", "idle")]),
            Some(200.0)
        );
        assert_eq!(
            buf.value(
                "node_cpu_guest_seconds_total",
                &[("cpu", "0"), ("mode", "user")]
            ),
            Some(0.07)
        );
        let cpu = buf
            .families()
            .iter()
            .find(|f| f.name == "node_cpu_seconds_total")
            .unwrap();
        assert_eq!(
            cpu.samples.len(),
            16,
            "2 cpus x 8 modes, the aggregate line skipped"
        );
    }

    #[test]
    fn kernel_counters_and_gauges_use_node_exporter_names() {
        let buf = collect(STAT).unwrap();
        assert_eq!(
            buf.value("node_context_switches_total", &[]),
            Some(987654.0)
        );
        assert_eq!(buf.value("node_intr_total", &[]), Some(12345.0));
        assert_eq!(buf.value("node_forks_total", &[]), Some(4321.0));
        assert_eq!(buf.value("node_boot_time_seconds", &[]), Some(1763700000.0));
        assert_eq!(buf.value("node_procs_blocked", &[]), Some(1.0));
    }

    #[test]
    fn a_garbage_cpu_line_names_the_file_and_line() {
        let err = collect("cpu  1 2 3\ncpu0 1 2 x 4 5 6 7 8\n").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("stat:2: cpu time is not a number"),
            "{err}"
        );
    }
}
