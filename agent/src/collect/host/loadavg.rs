//! `/proc/loadavg`: the 1, 5 and 15-minute load averages.

use crate::collect::kept::KeptFile;

use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::no_labels;

/// Reads `/proc/loadavg`.
pub struct LoadAvg {
    file: KeptFile,
    buf: String,
}

impl LoadAvg {
    /// A collector reading `{proc}/loadavg`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            file: KeptFile::one_piece(roots.proc("loadavg")),
            buf: String::new(),
        }
    }
}

impl Collector for LoadAvg {
    fn name(&self) -> &'static str {
        "loadavg"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.file.read_into(&mut self.buf)?;
        let mut fields = self.buf.split_ascii_whitespace();
        for (name, help) in [
            ("node_load1", "1m load average."),
            ("node_load5", "5m load average."),
            ("node_load15", "15m load average."),
        ] {
            let v = fields
                .next()
                .and_then(|f| f.parse::<f64>().ok())
                .ok_or_else(|| {
                    CollectError::parse(self.file.path(), 1, format!("no {name} figure"))
                })?;
            cx.out.gauge(name, help).push(no_labels(), v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    #[test]
    fn the_three_load_averages_are_read() {
        let (_dir, roots) = fixture_roots(&[("proc/loadavg", "0.52 0.58 0.59 2/1203 4242\n")]);
        let buf = run_one(&mut LoadAvg::new(&roots)).unwrap();
        assert_eq!(buf.value("node_load1", &[]), Some(0.52));
        assert_eq!(buf.value("node_load15", &[]), Some(0.59));
    }

    #[test]
    fn a_truncated_file_is_a_parse_error() {
        let (_dir, roots) = fixture_roots(&[("proc/loadavg", "0.52 ")]);
        let err = run_one(&mut LoadAvg::new(&roots)).unwrap_err();
        assert!(
            err.to_string().ends_with("loadavg:1: no node_load5 figure"),
            "{err}"
        );
    }
}
