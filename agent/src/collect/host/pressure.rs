//! Pressure stall information (`/proc/pressure/{cpu,memory,io}`) with node_exporter's names:
//! `waiting` is the `some` line, `stalled` the `full` line.

use crate::collect::kept::KeptFile;
use crate::collect::{CollectError, Collector, Cx, Roots, procfs};
use crate::metrics::no_labels;

/// (file, some-metric, full-metric).
const RESOURCES: [(&str, &str, &str); 3] = [
    (
        "cpu",
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_cpu_stalled_seconds_total",
    ),
    (
        "memory",
        "node_pressure_memory_waiting_seconds_total",
        "node_pressure_memory_stalled_seconds_total",
    ),
    (
        "io",
        "node_pressure_io_waiting_seconds_total",
        "node_pressure_io_stalled_seconds_total",
    ),
];

/// Reads the three PSI files.
pub struct Pressure {
    files: [KeptFile; 3],
    buf: String,
}

impl Pressure {
    /// A collector reading `{proc}/pressure/*`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            files: RESOURCES
                .map(|(file, _, _)| KeptFile::one_piece(roots.proc("pressure").join(file))),
            buf: String::new(),
        }
    }
}

impl Collector for Pressure {
    fn name(&self) -> &'static str {
        "pressure"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        for (file, (_, some_name, full_name)) in self.files.iter_mut().zip(RESOURCES) {
            file.read_into(&mut self.buf)?;
            let p = procfs::parse_pressure(&self.buf, || file.path().to_path_buf())?;
            let help = "Total time in seconds that processes have waited for this resource.";
            cx.out.counter(some_name, help).push(no_labels(), p.some);
            if let Some(full) = p.full {
                let help = "Total time in seconds no process could make progress on this resource.";
                cx.out.counter(full_name, help).push(no_labels(), full);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    const PSI: &str = "some avg10=2.58 avg60=2.19 avg300=0.61 total=2126935\n\
                       full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

    #[test]
    fn some_and_full_totals_become_waiting_and_stalled_seconds() {
        let (_dir, roots) = fixture_roots(&[
            (
                "proc/pressure/cpu",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n",
            ),
            ("proc/pressure/memory", PSI),
            ("proc/pressure/io", PSI),
        ]);
        let buf = run_one(&mut Pressure::new(&roots)).unwrap();
        assert_eq!(
            buf.value("node_pressure_cpu_waiting_seconds_total", &[]),
            Some(1.0)
        );
        assert_eq!(
            buf.value("node_pressure_cpu_stalled_seconds_total", &[]),
            None
        );
        assert_eq!(
            buf.value("node_pressure_memory_waiting_seconds_total", &[]),
            Some(2.126935)
        );
        assert_eq!(
            buf.value("node_pressure_io_stalled_seconds_total", &[]),
            Some(0.0)
        );
    }

    #[test]
    fn a_kernel_without_psi_is_a_read_error_naming_the_file() {
        let (_dir, roots) = fixture_roots(&[]);
        let err = run_one(&mut Pressure::new(&roots)).unwrap_err();
        assert!(err.to_string().contains("pressure/cpu"), "{err}");
    }
}
