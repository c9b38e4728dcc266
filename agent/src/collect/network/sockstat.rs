//! `/proc/net/sockstat` and `sockstat6`: sockets in use, orphans, TIME_WAIT and socket memory
//! per protocol, as node_exporter's `node_sockstat_<PROTO>_<field>` gauges.

use std::path::Path;

use crate::collect::kept::KeptFile;
use crate::collect::procfs::short;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::{Buffer, no_labels};

const HELP: &str = "Socket statistic from /proc/net/sockstat{,6} (node_exporter name).";

macro_rules! table {
    ($($proto:literal => [$($field:literal),*]),* $(,)?) => {
        &[$($(($proto, $field, concat!("node_sockstat_", $proto, "_", $field))),*),*]
    };
}

/// `(PROTO, field, metric name)` of every exported value.
static EXPORTED: &[(&str, &str, &str)] = table! {
    "sockets" => ["used"],
    "TCP" => ["inuse", "orphan", "tw", "alloc", "mem"],
    "UDP" => ["inuse", "mem"],
    "UDPLITE" => ["inuse"],
    "RAW" => ["inuse"],
    "FRAG" => ["inuse", "memory"],
    "TCP6" => ["inuse"],
    "UDP6" => ["inuse"],
    "UDPLITE6" => ["inuse"],
    "RAW6" => ["inuse"],
    "FRAG6" => ["inuse", "memory"],
};

/// `mem` counts pages; node_exporter adds the same in bytes.
static MEM_BYTES: &[(&str, &str)] = &[
    ("TCP", "node_sockstat_TCP_mem_bytes"),
    ("UDP", "node_sockstat_UDP_mem_bytes"),
];

/// Parses sockstat text (`PROTO: key value key value…` lines) into gauges; `page_size` turns
/// `mem` pages into `_mem_bytes`.
pub fn parse_sockstat(
    text: &str,
    path: &Path,
    page_size: u64,
    out: &mut Buffer,
) -> Result<(), CollectError> {
    for (i, line) in text.lines().enumerate() {
        let bad = |what: String| CollectError::parse(path, i + 1, what);
        let (proto, rest) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("no `PROTO:` in {:?}", short(line))))?;
        let mut parts = rest.split_ascii_whitespace();
        while let Some(field) = parts.next() {
            let value = parts.next().and_then(|v| v.parse::<u64>().ok());
            let value = value.ok_or_else(|| bad(format!("{proto} {field}: no number")))?;
            emit(out, proto, field, value, page_size);
        }
    }
    Ok(())
}

/// Writes `PROTO field value` when it is exported, and its bytes twin for `mem`.
fn emit(out: &mut Buffer, proto: &str, field: &str, value: u64, page_size: u64) {
    let Some((_, _, name)) = EXPORTED.iter().find(|(p, f, _)| *p == proto && *f == field) else {
        return;
    };
    out.gauge(name, HELP).push(no_labels(), value as f64);
    let bytes = MEM_BYTES
        .iter()
        .find(|(p, _)| *p == proto && field == "mem");
    if let Some((_, bytes)) = bytes {
        out.gauge(bytes, HELP)
            .push(no_labels(), (value * page_size) as f64);
    }
}

/// Socket counts from `{proc}/net/sockstat` and, when IPv6 is on, `{proc}/net/sockstat6`.
#[derive(Debug)]
pub struct Sockstat {
    v4: KeptFile,
    v6: KeptFile,
    page_size: u64,
    buf: String,
}

impl Sockstat {
    /// A collector reading below `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            v4: KeptFile::one_piece(roots.proc("net/sockstat")),
            v6: KeptFile::one_piece(roots.proc("net/sockstat6")),
            page_size: rustix::param::page_size() as u64,
            buf: String::new(),
        }
    }
}

impl Collector for Sockstat {
    fn name(&self) -> &'static str {
        "sockstat"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.v4.read_into(&mut self.buf)?;
        parse_sockstat(&self.buf, self.v4.path(), self.page_size, cx.out)?;
        match self.v6.read_into(&mut self.buf) {
            // IPv6 disabled: no sockstat6, which is normal.
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            Ok(()) => parse_sockstat(&self.buf, self.v6.path(), self.page_size, cx.out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Inventory;
    use crate::collect::network::testing::{kind_of, proc_tree, value_of};
    use crate::metrics::Kind;

    const V4: &str = include_str!("testdata/sockstat");
    const V6: &str = include_str!("testdata/sockstat6");

    fn collect(files: &[(&str, &str)]) -> (Buffer, Result<(), CollectError>, u64) {
        let (_dir, roots) = proc_tree(files);
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut collector = Sockstat::new(roots);
        let res = collector.collect(&mut Cx::new(&mut out, &mut inventory));
        (out, res, collector.page_size)
    }

    #[test]
    fn the_real_files_yield_node_exporter_names_and_values() {
        let (out, res, page) = collect(&[("net/sockstat", V4), ("net/sockstat6", V6)]);

        res.unwrap();
        let v = |name| value_of(&out, name, &[]);
        assert_eq!(v("node_sockstat_sockets_used"), Some(16.0));
        assert_eq!(v("node_sockstat_TCP_inuse"), Some(1.0));
        assert_eq!(v("node_sockstat_TCP_alloc"), Some(1.0));
        assert_eq!(v("node_sockstat_TCP_mem"), Some(138.0));
        assert_eq!(v("node_sockstat_TCP_mem_bytes"), Some(138.0 * page as f64));
        assert_eq!(v("node_sockstat_UDP_mem_bytes"), Some(0.0));
        assert_eq!(v("node_sockstat_FRAG_memory"), Some(0.0));
        assert_eq!(v("node_sockstat_TCP6_inuse"), Some(0.0));
        assert_eq!(v("node_sockstat_FRAG6_inuse"), Some(0.0));
        assert_eq!(kind_of(&out, "node_sockstat_TCP_tw"), Some(Kind::Gauge));
        assert_eq!(out.series_count(), 20);
    }

    #[test]
    fn unknown_protocols_and_fields_are_skipped() {
        let text = "MPTCP: inuse 3\nTCP: inuse 4 future 9\n";

        let (out, res, _) = collect(&[("net/sockstat", text)]);

        res.unwrap();
        assert_eq!(value_of(&out, "node_sockstat_TCP_inuse", &[]), Some(4.0));
        assert_eq!(out.series_count(), 1);
    }

    #[test]
    fn a_truncated_line_is_a_parse_error_naming_file_and_line() {
        let text = "sockets: used 12\nTCP: inuse 1 orphan";

        let (_, res, _) = collect(&[("net/sockstat", text)]);

        let err = res.unwrap_err().to_string();
        assert!(
            err.ends_with("net/sockstat:2: TCP orphan: no number"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_a_parse_error_not_a_panic() {
        let (_, res, _) = collect(&[("net/sockstat", "\u{0}\u{ff}")]);

        assert!(
            res.unwrap_err()
                .to_string()
                .contains("net/sockstat:1: no `PROTO:`")
        );
    }

    #[test]
    fn a_missing_sockstat6_is_normal() {
        let (out, res, _) = collect(&[("net/sockstat", V4)]);

        res.unwrap();
        assert_eq!(value_of(&out, "node_sockstat_TCP6_inuse", &[]), None);
    }
}
