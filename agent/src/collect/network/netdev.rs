//! `/proc/net/dev`: per-interface byte, packet, error and drop counters under node_exporter's
//! names, and the one parser of that format, shared with the per-pod collector.

use crate::collect::kept::KeptFile;
use std::path::Path;

use crate::collect::procfs::short;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::labels;
use crate::metrics::SharedLabels;

/// The 16 counters of one `/proc/net/dev` line in file order: 8 receive, then 8 transmit.
pub type DevCounters = [u64; 16];

/// Column indexes into [`DevCounters`].
pub mod col {
    /// Received bytes.
    pub const RX_BYTES: usize = 0;
    /// Received packets.
    pub const RX_PACKETS: usize = 1;
    /// Receive errors.
    pub const RX_ERRS: usize = 2;
    /// Received packets dropped.
    pub const RX_DROP: usize = 3;
    /// Transmitted bytes.
    pub const TX_BYTES: usize = 8;
    /// Transmitted packets.
    pub const TX_PACKETS: usize = 9;
    /// Transmit errors.
    pub const TX_ERRS: usize = 10;
    /// Transmitted packets dropped.
    pub const TX_DROP: usize = 11;
}

/// node_exporter's family name and help for each column, in file order.
const FAMILIES: [(&str, &str); 16] = [
    (
        "node_network_receive_bytes_total",
        "Network device statistic receive_bytes.",
    ),
    (
        "node_network_receive_packets_total",
        "Network device statistic receive_packets.",
    ),
    (
        "node_network_receive_errs_total",
        "Network device statistic receive_errs.",
    ),
    (
        "node_network_receive_drop_total",
        "Network device statistic receive_drop.",
    ),
    (
        "node_network_receive_fifo_total",
        "Network device statistic receive_fifo.",
    ),
    (
        "node_network_receive_frame_total",
        "Network device statistic receive_frame.",
    ),
    (
        "node_network_receive_compressed_total",
        "Network device statistic receive_compressed.",
    ),
    (
        "node_network_receive_multicast_total",
        "Network device statistic receive_multicast.",
    ),
    (
        "node_network_transmit_bytes_total",
        "Network device statistic transmit_bytes.",
    ),
    (
        "node_network_transmit_packets_total",
        "Network device statistic transmit_packets.",
    ),
    (
        "node_network_transmit_errs_total",
        "Network device statistic transmit_errs.",
    ),
    (
        "node_network_transmit_drop_total",
        "Network device statistic transmit_drop.",
    ),
    (
        "node_network_transmit_fifo_total",
        "Network device statistic transmit_fifo.",
    ),
    (
        "node_network_transmit_colls_total",
        "Network device statistic transmit_colls.",
    ),
    (
        "node_network_transmit_carrier_total",
        "Network device statistic transmit_carrier.",
    ),
    (
        "node_network_transmit_compressed_total",
        "Network device statistic transmit_compressed.",
    ),
];

/// Parses `/proc/net/dev` text, calling `each(interface, counters)` per interface line. A missing
/// header or a short or non-numeric line is a parse error naming `path` and the line.
pub fn parse_net_dev(
    text: &str,
    path: &Path,
    mut each: impl FnMut(&str, &DevCounters),
) -> Result<(), CollectError> {
    let mut lines = text.lines().enumerate();
    for _ in 0..2 {
        let (i, header) = lines.next().unwrap_or((0, ""));
        if !header.contains('|') {
            return Err(CollectError::parse(path, i + 1, "missing `|` header line"));
        }
    }
    for (i, line) in lines {
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| CollectError::parse(path, i + 1, "interface line without `:`"))?;
        let counters = parse_counters(rest).ok_or_else(|| {
            let what = format!("expected 16 counters after {:?}", short(name.trim()));
            CollectError::parse(path, i + 1, what)
        })?;
        each(name.trim(), &counters);
    }
    Ok(())
}

/// The first 16 unsigned numbers of `s` (newer kernels may append columns).
fn parse_counters(s: &str) -> Option<DevCounters> {
    let mut out = [0u64; 16];
    let mut fields = s.split_ascii_whitespace();
    for slot in &mut out {
        *slot = fields.next()?.parse().ok()?;
    }
    Some(out)
}

/// The host's interfaces from `{proc}/net/dev`, labelled `device`.
#[derive(Debug)]
pub struct NetDev {
    file: KeptFile,
    buf: String,
    rows: Vec<(String, DevCounters)>,
}

impl NetDev {
    /// A collector reading `{proc}/net/dev` below `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            file: KeptFile::new(roots.proc("net/dev")),
            buf: String::new(),
            rows: Vec::new(),
        }
    }
}

impl Collector for NetDev {
    fn name(&self) -> &'static str {
        "netdev"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.file.read_into(&mut self.buf)?;
        self.rows.clear();
        let rows = &mut self.rows;
        parse_net_dev(&self.buf, self.file.path(), |dev, c| {
            rows.push((dev.to_owned(), *c))
        })?;
        // One family lookup per column, not per interface: nodes with pods have hundreds of veths.
        // One label set per interface, shared by its sixteen series.
        let devices: Vec<SharedLabels> = (self.rows.iter())
            .map(|(dev, _)| SharedLabels::new(labels!["device" => dev]))
            .collect();
        for (col, (name, help)) in FAMILIES.iter().enumerate() {
            let family = cx.out.counter(name, help);
            for ((_, counters), device) in self.rows.iter().zip(&devices) {
                family.push(device.clone(), counters[col] as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Inventory;
    use crate::collect::network::testing::{proc_tree, value_of};
    use crate::metrics::Buffer;

    const REAL: &str = include_str!("testdata/dev");

    fn collect(text: &str) -> (Buffer, Result<(), CollectError>) {
        let (_dir, roots) = proc_tree(&[("net/dev", text)]);
        let mut out = Buffer::new();
        let mut inventory = Inventory::default();
        let res = NetDev::new(roots).collect(&mut Cx::new(&mut out, &mut inventory));
        (out, res)
    }

    #[test]
    fn the_real_file_yields_every_interface_and_column() {
        let (out, res) = collect(REAL);

        res.unwrap();
        let eth0 = [("device", "eth0")];
        assert_eq!(
            value_of(&out, "node_network_receive_bytes_total", &eth0),
            Some(129094533.0)
        );
        assert_eq!(
            value_of(&out, "node_network_receive_packets_total", &eth0),
            Some(4799.0)
        );
        assert_eq!(
            value_of(&out, "node_network_transmit_bytes_total", &eth0),
            Some(341041.0)
        );
        assert_eq!(
            value_of(&out, "node_network_transmit_packets_total", &eth0),
            Some(2930.0)
        );
        let lo = [("device", "lo")];
        assert_eq!(
            value_of(&out, "node_network_transmit_carrier_total", &lo),
            Some(0.0)
        );
        assert_eq!(out.families().len(), 16);
        assert_eq!(out.series_count(), 16 * 4);
    }

    #[test]
    fn each_column_lands_in_its_own_family() {
        let text = "Inter-|x\n face |x\n  v0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n";

        let (out, res) = collect(text);

        res.unwrap();
        for (col, (name, _)) in FAMILIES.iter().enumerate() {
            assert_eq!(
                value_of(&out, name, &[("device", "v0")]),
                Some(col as f64 + 1.0)
            );
        }
    }

    #[test]
    fn a_truncated_line_is_a_parse_error_naming_file_and_line() {
        let text = "Inter-|x\n face |x\n  lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n eth0: 12 3";

        let (_, res) = collect(text);

        let err = res.unwrap_err().to_string();
        assert!(
            err.ends_with("net/dev:4: expected 16 counters after \"eth0\""),
            "{err}"
        );
    }

    #[test]
    fn garbage_without_a_header_is_a_parse_error_and_does_not_panic() {
        let (out, res) = collect("\u{0}\u{1}garbage");

        let err = res.unwrap_err().to_string();
        assert!(err.ends_with("net/dev:1: missing `|` header line"), "{err}");
        assert_eq!(out.series_count(), 0);
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let (_dir, roots) = proc_tree(&[]);
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());

        let res = NetDev::new(roots).collect(&mut Cx::new(&mut out, &mut inventory));

        assert!(res.unwrap_err().is_not_found());
    }
}
