//! `/proc/meminfo`: every field, as node_exporter names it (`node_memory_MemAvailable_bytes`,
//! `node_memory_SwapFree_bytes`, `node_memory_Active_anon_bytes`, `node_memory_HugePages_Total`).

use crate::collect::kept::KeptFile;
use std::borrow::Cow;

use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::{Kind, intern, no_labels};

/// Reads `/proc/meminfo`.
pub struct MemInfo {
    file: KeptFile,
    buf: String,
    /// Metric names by field, built on first sight so later collections allocate none.
    names: Vec<(String, Cow<'static, str>)>,
}

impl MemInfo {
    /// A collector reading `{proc}/meminfo`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            file: KeptFile::one_piece(roots.proc("meminfo")),
            buf: String::new(),
            names: Vec::new(),
        }
    }

    fn metric_name(&mut self, field: &str, bytes: bool) -> Cow<'static, str> {
        if let Some((_, name)) = self.names.iter().find(|(f, _)| f == field) {
            return name.clone();
        }
        let clean = field.replace('(', "_").replace(')', "");
        let unit = if bytes { "_bytes" } else { "" };
        let name = Cow::Borrowed(intern(&format!("node_memory_{clean}{unit}")));
        self.names.push((field.to_string(), name.clone()));
        name
    }
}

impl Collector for MemInfo {
    fn name(&self) -> &'static str {
        "meminfo"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.file.read_into(&mut buf).and_then(|()| {
            for (i, line) in buf.lines().enumerate() {
                let (field, v, bytes) = parse_line(line).ok_or_else(|| {
                    CollectError::parse(self.file.path(), i + 1, "not `Field: value [kB]`")
                })?;
                let name = self.metric_name(field, bytes);
                let help = "Memory information field from /proc/meminfo.";
                cx.out.family(name, help, Kind::Gauge).push(no_labels(), v);
            }
            Ok(())
        });
        self.buf = buf;
        result
    }
}

/// `MemFree:  123 kB` → (`MemFree`, 125952.0, true); `HugePages_Total: 0` → (.., 0.0, false).
fn parse_line(line: &str) -> Option<(&str, f64, bool)> {
    let (field, rest) = line.split_once(':')?;
    let mut parts = rest.split_ascii_whitespace();
    let v: f64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some((field, v * 1024.0, true)),
        None => Some((field, v, false)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    const MEMINFO: &str = "MemTotal:       24598620 kB\nMemFree:        23001232 kB\n\
MemAvailable:   23657388 kB\nActive(anon):      41216 kB\nSwapTotal:             0 kB\n\
HugePages_Total:       0\n";

    #[test]
    fn fields_become_node_exporter_names_in_bytes() {
        let (_dir, roots) = fixture_roots(&[("proc/meminfo", MEMINFO)]);
        let mut c = MemInfo::new(&roots);
        let buf = run_one(&mut c).unwrap();
        assert_eq!(
            buf.value("node_memory_MemTotal_bytes", &[]),
            Some(24598620.0 * 1024.0)
        );
        assert_eq!(
            buf.value("node_memory_Active_anon_bytes", &[]),
            Some(41216.0 * 1024.0)
        );
        assert_eq!(buf.value("node_memory_HugePages_Total", &[]), Some(0.0));
        assert_eq!(buf.series_count(), 6);
    }

    #[test]
    fn a_second_collection_reuses_the_names() {
        let (_dir, roots) = fixture_roots(&[("proc/meminfo", MEMINFO)]);
        let mut c = MemInfo::new(&roots);
        run_one(&mut c).unwrap();
        run_one(&mut c).unwrap();
        assert_eq!(c.names.len(), 6);
    }

    #[test]
    fn a_garbage_line_names_the_file_and_line() {
        let (_dir, roots) = fixture_roots(&[("proc/meminfo", "MemTotal: 1 kB\nMemFree 2 kB\n")]);
        let err = run_one(&mut MemInfo::new(&roots)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("meminfo:2: not `Field: value [kB]`"),
            "{err}"
        );
    }
}
