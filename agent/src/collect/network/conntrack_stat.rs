//! `/proc/net/stat/nf_conntrack`: the connection tracker's per-CPU event counters (lookups found,
//! packets it could not track, insert failures, drops, early drops, restarted searches), summed
//! over CPUs as node_exporter's `node_nf_conntrack_stat_*` gauges. Insert failures and drops rise
//! when the table is full or its hash is contended: new flows then fail during a cutover.

use std::path::Path;

use crate::collect::kept::KeptFile;
use crate::collect::procfs::short;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::no_labels;

/// `(column of the header, metric name, help)`, in node_exporter's order.
const EXPORTED: [(&str, &str, &str); 8] = [
    (
        "found",
        "node_nf_conntrack_stat_found",
        "Number of searched entries which were successful.",
    ),
    (
        "invalid",
        "node_nf_conntrack_stat_invalid",
        "Number of packets seen which can not be tracked.",
    ),
    (
        "ignore",
        "node_nf_conntrack_stat_ignore",
        "Number of packets seen which are already connected to a conntrack entry.",
    ),
    (
        "insert",
        "node_nf_conntrack_stat_insert",
        "Number of entries inserted into the list.",
    ),
    (
        "insert_failed",
        "node_nf_conntrack_stat_insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    (
        "drop",
        "node_nf_conntrack_stat_drop",
        "Number of packets dropped due to conntrack failure.",
    ),
    (
        "early_drop",
        "node_nf_conntrack_stat_early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.",
    ),
    (
        "search_restart",
        "node_nf_conntrack_stat_search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
];

/// The exported counters summed over every CPU's line, in [`EXPORTED`]'s order; a column the
/// kernel does not have (older kernels lack `search_restart`) is `None`.
pub fn parse(text: &str, path: &Path) -> Result<[Option<u64>; 8], CollectError> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| CollectError::parse(path, 1, "empty, no header line"))?
        .split_ascii_whitespace()
        .collect();
    let columns = EXPORTED.map(|(column, ..)| header.iter().position(|h| *h == column));
    let mut sums = columns.map(|c| c.map(|_| 0u64));
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        for (sum, column) in sums.iter_mut().zip(columns) {
            let (Some(sum), Some(column)) = (sum.as_mut(), column) else {
                continue;
            };
            *sum = sum.wrapping_add(hex_field(&fields, column, header[column], (path, i + 2))?);
        }
    }
    Ok(sums)
}

/// The hex field at `column` of one CPU's line; `at` is the file and line, for errors.
fn hex_field(
    fields: &[&str],
    column: usize,
    name: &str,
    at: (&Path, usize),
) -> Result<u64, CollectError> {
    let field = fields
        .get(column)
        .ok_or_else(|| CollectError::parse(at.0, at.1, format!("no value for {name}")))?;
    u64::from_str_radix(field, 16).map_err(|_| {
        let what = format!("{name}: not a hex number: {:?}", short(field));
        CollectError::parse(at.0, at.1, what)
    })
}

/// The conntrack event counters from `{proc}/net/stat/nf_conntrack`. When conntrack is not in the
/// kernel the file is absent: nothing is written and nothing is reported.
#[derive(Debug)]
pub struct ConntrackStat {
    file: KeptFile,
    buf: String,
}

impl ConntrackStat {
    /// A collector reading below `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            // One line per CPU: more than a page on a large machine, so read to the end.
            file: KeptFile::new(roots.proc("net/stat/nf_conntrack")),
            buf: String::new(),
        }
    }
}

impl Collector for ConntrackStat {
    fn name(&self) -> &'static str {
        "conntrack_stat"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        match self.file.read_into(&mut self.buf) {
            Err(e) if e.is_not_found() => return Ok(()),
            other => other?,
        }
        let sums = parse(&self.buf, self.file.path())?;
        for ((_, name, help), sum) in EXPORTED.iter().zip(sums) {
            if let Some(sum) = sum {
                cx.out.gauge(name, help).push(no_labels(), sum as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::network::testing::{kind_of, proc_tree, value_of};
    use crate::collect::run_one;
    use crate::metrics::{Buffer, Kind};

    const STAT: &str = include_str!("testdata/nf_conntrack_stat");

    fn collect(text: Option<&str>) -> Result<Buffer, CollectError> {
        let files: Vec<(&str, &str)> = text
            .map(|t| ("net/stat/nf_conntrack", t))
            .into_iter()
            .collect();
        let (_dir, roots) = proc_tree(&files);
        run_one(&mut ConntrackStat::new(roots))
    }

    #[test]
    fn each_counter_is_the_sum_of_the_hex_fields_of_every_cpu() {
        let out = collect(Some(STAT)).unwrap();

        let v = |name| value_of(&out, name, &[]);
        assert_eq!(v("node_nf_conntrack_stat_found"), Some(17.0));
        assert_eq!(v("node_nf_conntrack_stat_invalid"), Some(16.0));
        assert_eq!(v("node_nf_conntrack_stat_ignore"), Some(256.0));
        assert_eq!(v("node_nf_conntrack_stat_insert"), Some(257.0));
        assert_eq!(v("node_nf_conntrack_stat_insert_failed"), Some(2.0));
        assert_eq!(v("node_nf_conntrack_stat_drop"), Some(7.0));
        assert_eq!(v("node_nf_conntrack_stat_early_drop"), Some(1.0));
        assert_eq!(v("node_nf_conntrack_stat_search_restart"), Some(16.0));
        assert_eq!(
            kind_of(&out, "node_nf_conntrack_stat_drop"),
            Some(Kind::Gauge),
            "node_exporter exposes them as gauges"
        );
        assert_eq!(
            out.series_count(),
            8,
            "entries, clashres, … are not exported"
        );
    }

    #[test]
    fn columns_are_found_by_the_header_not_by_position() {
        let text = "search_restart drop found\n00000001 00000002 00000003\n";

        let out = collect(Some(text)).unwrap();

        assert_eq!(
            value_of(&out, "node_nf_conntrack_stat_found", &[]),
            Some(3.0)
        );
        assert_eq!(
            value_of(&out, "node_nf_conntrack_stat_drop", &[]),
            Some(2.0)
        );
        assert_eq!(value_of(&out, "node_nf_conntrack_stat_insert", &[]), None);
        assert_eq!(out.series_count(), 3);
    }

    #[test]
    fn an_absent_file_writes_nothing_and_is_no_error() {
        let out = collect(None).unwrap();

        assert_eq!(out.series_count(), 0);
    }

    #[test]
    fn a_cpu_line_cut_short_is_a_parse_error_naming_file_line_and_column() {
        let text = "found drop\n00000001 00000002\n00000001\n";

        let err = collect(Some(text)).unwrap_err().to_string();

        assert!(
            err.ends_with("net/stat/nf_conntrack:3: no value for drop"),
            "{err}"
        );
    }

    #[test]
    fn a_field_that_is_not_hex_is_a_parse_error() {
        let err = collect(Some("found\nzz\n")).unwrap_err().to_string();

        assert!(
            err.ends_with("nf_conntrack:2: found: not a hex number: \"zz\""),
            "{err}"
        );
    }

    #[test]
    fn this_machines_file_reads_with_every_counter_when_conntrack_is_there() {
        let present = Path::new("/proc/net/stat/nf_conntrack").exists();

        let out = run_one(&mut ConntrackStat::new(Roots::default())).unwrap();

        assert_eq!(out.series_count(), if present { 8 } else { 0 });
        if present {
            let found = value_of(&out, "node_nf_conntrack_stat_found", &[]).unwrap();
            assert!(found >= 0.0 && found.fract() == 0.0, "{found}");
        }
    }
}
