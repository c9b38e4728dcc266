//! The netfilter connection-tracking table: entries in use and the limit, as node_exporter's
//! `node_nf_conntrack_entries` and `node_nf_conntrack_entries_limit`. A full table drops new
//! flows, which looks exactly like a network outage during a cutover.

use crate::collect::kept::KeptFile;
use crate::collect::procfs::parse_number;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::no_labels;

/// The conntrack table size from `{proc}/sys/net/netfilter/nf_conntrack_{count,max}`. When the
/// module is not loaded the files are absent: nothing is written and nothing is reported.
#[derive(Debug)]
pub struct Conntrack {
    count: KeptFile,
    max: KeptFile,
    buf: String,
}

impl Conntrack {
    /// A collector reading below `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            count: KeptFile::one_piece(roots.proc("sys/net/netfilter/nf_conntrack_count")),
            max: KeptFile::one_piece(roots.proc("sys/net/netfilter/nf_conntrack_max")),
            buf: String::new(),
        }
    }
}

/// `Ok(None)` when the file is absent (module not loaded).
fn read_optional(file: &mut KeptFile, buf: &mut String) -> Result<Option<f64>, CollectError> {
    match file.read_into(buf) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    }
    let text = buf.trim();
    parse_number(text).map(Some).ok_or_else(|| {
        let what = format!("not a number: {:?}", crate::collect::procfs::short(text));
        CollectError::parse(file.path(), 1, what)
    })
}

impl Collector for Conntrack {
    fn name(&self) -> &'static str {
        "conntrack"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        if let Some(count) = read_optional(&mut self.count, &mut self.buf)? {
            let help = "Number of currently allocated flow entries for connection tracking.";
            cx.out
                .gauge("node_nf_conntrack_entries", help)
                .push(no_labels(), count);
        }
        if let Some(max) = read_optional(&mut self.max, &mut self.buf)? {
            let help = "Maximum size of connection tracking table.";
            cx.out
                .gauge("node_nf_conntrack_entries_limit", help)
                .push(no_labels(), max);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Inventory;
    use crate::collect::network::testing::{kind_of, proc_tree, value_of};
    use crate::metrics::{Buffer, Kind};

    fn collect(files: &[(&str, &str)]) -> (Buffer, Result<(), CollectError>, usize) {
        let (_dir, roots) = proc_tree(files);
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut cx = Cx::new(&mut out, &mut inventory);
        let res = Conntrack::new(roots).collect(&mut cx);
        let partial = cx.take_partial().len();
        (out, res, partial)
    }

    #[test]
    fn count_and_max_become_entries_and_limit_gauges() {
        let files = [
            ("sys/net/netfilter/nf_conntrack_count", "1234\n"),
            ("sys/net/netfilter/nf_conntrack_max", "262144\n"),
        ];

        let (out, res, _) = collect(&files);

        res.unwrap();
        assert_eq!(
            value_of(&out, "node_nf_conntrack_entries", &[]),
            Some(1234.0)
        );
        assert_eq!(
            value_of(&out, "node_nf_conntrack_entries_limit", &[]),
            Some(262144.0)
        );
        assert_eq!(
            kind_of(&out, "node_nf_conntrack_entries"),
            Some(Kind::Gauge)
        );
    }

    #[test]
    fn an_unloaded_module_writes_nothing_and_reports_nothing() {
        let (out, res, partial) = collect(&[]);

        res.unwrap();
        assert_eq!(partial, 0);
        assert_eq!(out.series_count(), 0);
    }

    #[test]
    fn a_garbage_count_is_a_parse_error_naming_the_file() {
        let (_, res, _) = collect(&[("sys/net/netfilter/nf_conntrack_count", "lots\n")]);

        let err = res.unwrap_err().to_string();
        assert!(
            err.ends_with("nf_conntrack_count:1: not a number: \"lots\""),
            "{err}"
        );
    }

    #[test]
    fn the_real_files_of_this_machine_read_when_the_module_is_loaded() {
        let mut buf = String::new();
        let roots = Roots::default();
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());

        Conntrack::new(roots)
            .collect(&mut Cx::new(&mut out, &mut inventory))
            .unwrap();

        let max = "/proc/sys/net/netfilter/nf_conntrack_max";
        let loaded = read_optional(&mut KeptFile::new(max.into()), &mut buf);
        let expected = usize::from(loaded.unwrap().is_some()) * 2;
        assert_eq!(out.series_count(), expected);
    }
}
