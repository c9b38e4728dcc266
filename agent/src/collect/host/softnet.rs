//! `/proc/net/softnet_stat`: per-CPU packets processed, dropped and squeezed by the kernel's
//! receive softirq, with node_exporter's names. Drops here are packets lost before any socket.

use crate::collect::kept::KeptFile;

use crate::collect::procfs::short;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::labels;
use crate::metrics::SharedLabels;

/// Reads `/proc/net/softnet_stat`.
pub struct Softnet {
    file: KeptFile,
    buf: String,
}

impl Softnet {
    /// A collector reading `{proc}/net/softnet_stat`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            file: KeptFile::new(roots.proc("net/softnet_stat")),
            buf: String::new(),
        }
    }
}

/// (metric, help) of the first three hex columns, in file order.
const COLUMNS: [(&str, &str); 3] = [
    (
        "node_softnet_processed_total",
        "Number of processed packets",
    ),
    ("node_softnet_dropped_total", "Number of dropped packets"),
    (
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
    ),
];

/// The first three hex columns of one line, or `None` when the line is short or not hex.
fn parse_line(line: &str) -> Option<[u64; 3]> {
    let mut fields = line.split_ascii_whitespace();
    let mut out = [0; 3];
    for slot in &mut out {
        *slot = u64::from_str_radix(fields.next()?, 16).ok()?;
    }
    Some(out)
}

impl Collector for Softnet {
    fn name(&self) -> &'static str {
        "softnet"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.file.read_into(&mut self.buf)?;
        // node_exporter 1.5 numbers CPUs by line: one line per online CPU.
        for (cpu, line) in self.buf.lines().enumerate() {
            let values = parse_line(line).ok_or_else(|| {
                let what = format!("expected 3 hex counters, got {:?}", short(line));
                CollectError::parse(self.file.path(), cpu + 1, what)
            })?;
            let labels = SharedLabels::new(labels!["cpu" => cpu]);
            for ((name, help), v) in COLUMNS.into_iter().zip(values) {
                cx.out.counter(name, help).push(labels.clone(), v as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    /// This machine's file, verbatim (kernel 6.18, 2 CPUs).
    const SOFTNET: &str = "\
00002e20 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
0000418a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000
";

    #[test]
    fn each_cpu_line_yields_processed_dropped_and_squeezed_from_hex() {
        let (_dir, roots) = fixture_roots(&[("proc/net/softnet_stat", SOFTNET)]);
        let buf = run_one(&mut Softnet::new(&roots)).unwrap();
        let (cpu0, cpu1) = ([("cpu", "0")], [("cpu", "1")]);
        assert_eq!(
            buf.value("node_softnet_processed_total", &cpu0),
            Some(11808.0)
        );
        assert_eq!(
            buf.value("node_softnet_processed_total", &cpu1),
            Some(16778.0)
        );
        assert_eq!(buf.value("node_softnet_dropped_total", &cpu1), Some(0.0));
        assert_eq!(buf.series_count(), 6);
    }

    #[test]
    fn the_first_three_columns_land_in_their_own_families() {
        let (_dir, roots) = fixture_roots(&[("proc/net/softnet_stat", "a 3 1f 0 0 0 0 0 0\n")]);
        let buf = run_one(&mut Softnet::new(&roots)).unwrap();
        let cpu0 = [("cpu", "0")];
        assert_eq!(buf.value("node_softnet_processed_total", &cpu0), Some(10.0));
        assert_eq!(buf.value("node_softnet_dropped_total", &cpu0), Some(3.0));
        assert_eq!(
            buf.value("node_softnet_times_squeezed_total", &cpu0),
            Some(31.0)
        );
    }

    #[test]
    fn a_truncated_line_is_a_parse_error_naming_file_and_line() {
        let text = "00002e20 00000000 00000000\n0000418a 0000";
        let (_dir, roots) = fixture_roots(&[("proc/net/softnet_stat", text)]);
        let err = run_one(&mut Softnet::new(&roots)).unwrap_err().to_string();
        assert!(
            err.ends_with("softnet_stat:2: expected 3 hex counters, got \"0000418a 0000\""),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_parse_error_and_does_not_panic() {
        let (_dir, roots) = fixture_roots(&[("proc/net/softnet_stat", "zz\u{0} garbage x\n")]);
        let err = run_one(&mut Softnet::new(&roots)).unwrap_err().to_string();
        assert!(err.contains("softnet_stat:1: expected 3 hex"), "{err}");
    }
}
