//! `/proc/vmstat`: paging, swapping, faults and the kernel's OOM-kill count, with node_exporter's
//! default field set and names (`node_vmstat_oom_kill`, untyped as there).

use crate::collect::kept::KeptFile;

use crate::collect::{CollectError, Collector, Cx, Roots, procfs};
use crate::metrics::{Kind, intern, no_labels};

/// node_exporter's default vmstat fields: `^(oom_kill|pgpg|pswp|pg.*fault).*`.
fn wanted(field: &str) -> bool {
    field.starts_with("oom_kill")
        || field.starts_with("pgpg")
        || field.starts_with("pswp")
        || (field.starts_with("pg") && field.contains("fault"))
}

/// Reads `/proc/vmstat`.
pub struct VmStat {
    file: KeptFile,
    buf: String,
}

impl VmStat {
    /// A collector reading `{proc}/vmstat`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            file: KeptFile::new(roots.proc("vmstat")),
            buf: String::new(),
        }
    }
}

impl Collector for VmStat {
    fn name(&self) -> &'static str {
        "vmstat"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.file.read_into(&mut self.buf)?;
        for (line, field, value) in procfs::key_values(&self.buf) {
            if !wanted(field) {
                continue;
            }
            let v = value.ok_or_else(|| {
                CollectError::parse(self.file.path(), line, "value is not a number")
            })?;
            let name = intern(&format!("node_vmstat_{field}"));
            cx.out
                .family(name, "/proc/vmstat information field.", Kind::Untyped)
                .push(no_labels(), v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    #[test]
    fn only_the_default_fields_are_kept_with_the_oom_kill_count() {
        let text = "nr_free_pages 5749734\npgpgin 311442\npgpgout 1039328\npswpin 0\n\
                    pgfault 31287523\npgmajfault 1331\noom_kill 2\nnr_dirty 3\n";
        let (_dir, roots) = fixture_roots(&[("proc/vmstat", text)]);
        let buf = run_one(&mut VmStat::new(&roots)).unwrap();
        assert_eq!(buf.value("node_vmstat_oom_kill", &[]), Some(2.0));
        assert_eq!(buf.value("node_vmstat_pgmajfault", &[]), Some(1331.0));
        assert_eq!(buf.value("node_vmstat_nr_free_pages", &[]), None);
        assert_eq!(buf.series_count(), 6);
    }
}
