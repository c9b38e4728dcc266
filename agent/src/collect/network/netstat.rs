//! `/proc/net/snmp`, `/proc/net/netstat` and `/proc/net/snmp6`: protocol counters (TCP
//! retransmits, listen drops, timeouts, UDP buffer errors, …) as node_exporter's untyped
//! `node_netstat_<Proto>_<Field>`, limited to a static allow-list so parsing stays cheap.

use std::path::Path;

use crate::collect::kept::KeptFile;
use crate::collect::procfs::{parse_number, short};
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::{Buffer, Kind, no_labels};

const HELP: &str = "Protocol statistic from /proc/net/{snmp,netstat,snmp6} (node_exporter name).";

/// `(proto, [(field, metric name)])`, both levels sorted for binary search.
type Table = [(&'static str, &'static [(&'static str, &'static str)])];

macro_rules! table {
    ($($proto:literal => [$($field:literal),* $(,)?]),* $(,)?) => {
        &[$(($proto, &[$(($field, concat!("node_netstat_", $proto, "_", $field))),*])),*]
    };
}

/// node_exporter's default fields, all of `Tcp`, and the `Ip`/`TcpExt` fields that show drops,
/// retransmits, timeouts, aborts and overflows during a migration.
static EXPORTED: &Table = table! {
    "Icmp" => ["InErrors", "InMsgs", "OutMsgs"],
    "Icmp6" => ["InErrors", "InMsgs", "OutMsgs"],
    "Ip" => ["ForwDatagrams", "Forwarding", "InAddrErrors", "InDelivers", "InDiscards",
        "InHdrErrors", "InReceives", "OutDiscards", "OutNoRoutes", "OutRequests"],
    "Ip6" => ["InOctets", "OutOctets"],
    "IpExt" => ["InOctets", "OutOctets"],
    "Tcp" => ["ActiveOpens", "AttemptFails", "CurrEstab", "EstabResets", "InCsumErrors", "InErrs",
        "InSegs", "MaxConn", "OutRsts", "OutSegs", "PassiveOpens", "RetransSegs", "RtoAlgorithm",
        "RtoMax", "RtoMin"],
    "TcpExt" => ["EmbryonicRsts", "ListenDrops", "ListenOverflows", "OfoPruned", "PAWSEstab",
        "PruneCalled", "RcvPruned", "SyncookiesFailed", "SyncookiesRecv", "SyncookiesSent",
        "TCPAbortFailed", "TCPAbortOnClose", "TCPAbortOnData", "TCPAbortOnLinger",
        "TCPAbortOnMemory", "TCPAbortOnTimeout", "TCPBacklogDrop", "TCPDeferAcceptDrop",
        "TCPFastRetrans", "TCPLossProbes", "TCPLostRetransmit", "TCPMTUPFail",
        "TCPMemoryPressures", "TCPMinTTLDrop", "TCPOFODrop", "TCPOFOQueue", "TCPRcvQDrop",
        "TCPReqQFullDoCookies", "TCPReqQFullDrop", "TCPRetransFail", "TCPSlowStartRetrans",
        "TCPSpuriousRTOs", "TCPSynRetrans", "TCPTimeWaitOverflow", "TCPTimeouts",
        "TCPWqueueTooBig", "TCPZeroWindowDrop", "TW"],
    "Udp" => ["InCsumErrors", "InDatagrams", "InErrors", "MemErrors", "NoPorts", "OutDatagrams",
        "RcvbufErrors", "SndbufErrors"],
    "Udp6" => ["InCsumErrors", "InDatagrams", "InErrors", "MemErrors", "NoPorts", "OutDatagrams",
        "RcvbufErrors", "SndbufErrors"],
    "UdpLite" => ["InErrors"],
    "UdpLite6" => ["InErrors"],
};

/// The allow-listed fields of `proto`, if any.
fn fields_of(proto: &str) -> Option<&'static [(&'static str, &'static str)]> {
    let i = EXPORTED.binary_search_by(|(p, _)| (*p).cmp(proto)).ok()?;
    Some(EXPORTED[i].1)
}

/// The metric name of `field` among `fields`, if exported.
fn name_of(fields: &[(&str, &'static str)], field: &str) -> Option<&'static str> {
    let i = fields.binary_search_by(|(f, _)| (*f).cmp(field)).ok()?;
    Some(fields[i].1)
}

/// Writes one untyped sample without labels.
fn emit(out: &mut Buffer, name: &'static str, value: f64) {
    out.family(name, HELP, Kind::Untyped)
        .push(no_labels(), value);
}

/// Parses the `Proto: names…` / `Proto: values…` line pairs of `snmp` and `netstat`.
pub fn parse_pairs(text: &str, path: &Path, out: &mut Buffer) -> Result<(), CollectError> {
    let mut lines = text.lines().enumerate();
    while let Some((i, header)) = lines.next() {
        let (proto, names) = split_proto(header, path, i)?;
        let (j, values_line) = lines
            .next()
            .ok_or_else(|| CollectError::parse(path, i + 1, format!("{proto}: no value line")))?;
        let (proto2, values) = split_proto(values_line, path, j)?;
        if proto2 != proto {
            let what = format!("{proto}: header followed by {:?}", short(proto2));
            return Err(CollectError::parse(path, j + 1, what));
        }
        let Some(fields) = fields_of(proto) else {
            continue;
        };
        emit_pair(fields, names, values, (path, j + 1), out)?;
    }
    Ok(())
}

/// Splits `Proto: rest` at the colon.
fn split_proto<'t>(
    line: &'t str,
    path: &Path,
    i: usize,
) -> Result<(&'t str, &'t str), CollectError> {
    line.split_once(':').ok_or_else(|| {
        CollectError::parse(path, i + 1, format!("no `Proto:` in {:?}", short(line)))
    })
}

/// Emits the exported fields of one header/value pair; `at` is the value line, for errors.
fn emit_pair(
    fields: &[(&str, &'static str)],
    names: &str,
    values: &str,
    at: (&Path, usize),
    out: &mut Buffer,
) -> Result<(), CollectError> {
    let mut values = values.split_ascii_whitespace();
    for field in names.split_ascii_whitespace() {
        let value = values
            .next()
            .ok_or_else(|| CollectError::parse(at.0, at.1, format!("no value for {field}")))?;
        if let Some(name) = name_of(fields, field) {
            let v = parse_number(value).ok_or_else(|| {
                CollectError::parse(
                    at.0,
                    at.1,
                    format!("{field}: not a number: {:?}", short(value)),
                )
            })?;
            emit(out, name, v);
        }
    }
    Ok(())
}

/// Parses `snmp6`'s `Ip6InOctets  128` lines; the protocol ends at the first `6`.
pub fn parse_snmp6(text: &str, path: &Path, out: &mut Buffer) -> Result<(), CollectError> {
    for (i, line) in text.lines().enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            return Err(CollectError::parse(
                path,
                i + 1,
                format!("not `key value`: {:?}", short(line)),
            ));
        };
        let Some((proto, field)) = key.find('6').map(|at| key.split_at(at + 1)) else {
            continue;
        };
        let Some(name) = fields_of(proto).and_then(|fields| name_of(fields, field)) else {
            continue;
        };
        let v = parse_number(value)
            .ok_or_else(|| CollectError::parse(path, i + 1, format!("{key}: not a number")))?;
        emit(out, name, v);
    }
    Ok(())
}

/// Reads and parses `snmp` or `netstat` into `out`, reusing `buf`.
fn read_pairs(file: &mut KeptFile, buf: &mut String, out: &mut Buffer) -> Result<(), CollectError> {
    file.read_into(buf)?;
    parse_pairs(buf, file.path(), out)
}

/// Protocol counters from `{proc}/net/snmp`, `{proc}/net/netstat` and (when IPv6 is on)
/// `{proc}/net/snmp6`.
#[derive(Debug)]
pub struct Netstat {
    snmp: KeptFile,
    netstat: KeptFile,
    snmp6: KeptFile,
    buf: String,
}

impl Netstat {
    /// A collector reading below `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            snmp: KeptFile::one_piece(roots.proc("net/snmp")),
            netstat: KeptFile::one_piece(roots.proc("net/netstat")),
            snmp6: KeptFile::one_piece(roots.proc("net/snmp6")),
            buf: String::new(),
        }
    }

    /// Reads and parses `snmp6`; its absence (IPv6 disabled) is normal.
    fn read_snmp6(&mut self, out: &mut Buffer) -> Result<(), CollectError> {
        match self.snmp6.read_into(&mut self.buf) {
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
            Ok(()) => parse_snmp6(&self.buf, self.snmp6.path(), out),
        }
    }
}

impl Collector for Netstat {
    fn name(&self) -> &'static str {
        "netstat"
    }

    /// Each file fails alone: the first error is returned, later ones are reported as partial.
    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let results = [
            read_pairs(&mut self.snmp, &mut self.buf, cx.out),
            read_pairs(&mut self.netstat, &mut self.buf, cx.out),
            self.read_snmp6(cx.out),
        ];
        let mut errors = results.into_iter().filter_map(Result::err);
        let first = errors.next();
        errors.for_each(|e| cx.partial(e));
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Inventory;
    use crate::collect::network::testing::{kind_of, proc_tree, value_of};

    const SNMP: &str = include_str!("testdata/snmp");
    const NETSTAT: &str = include_str!("testdata/netstat");
    const SNMP6: &str = include_str!("testdata/snmp6");

    fn collect(files: &[(&str, &str)]) -> (Buffer, Result<(), CollectError>, usize) {
        let (_dir, roots) = proc_tree(files);
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut cx = Cx::new(&mut out, &mut inventory);
        let res = Netstat::new(roots).collect(&mut cx);
        let partial = cx.take_partial().len();
        (out, res, partial)
    }

    fn real() -> [(&'static str, &'static str); 3] {
        [
            ("net/snmp", SNMP),
            ("net/netstat", NETSTAT),
            ("net/snmp6", SNMP6),
        ]
    }

    #[test]
    fn the_real_files_yield_node_exporter_names_and_values() {
        let (out, res, _) = collect(&real());

        res.unwrap();
        let v = |name| value_of(&out, name, &[]);
        assert_eq!(v("node_netstat_Ip_Forwarding"), Some(2.0));
        assert_eq!(v("node_netstat_Tcp_ActiveOpens"), Some(57.0));
        assert_eq!(v("node_netstat_Tcp_MaxConn"), Some(-1.0));
        assert_eq!(v("node_netstat_Tcp_InSegs"), Some(4714.0));
        assert_eq!(v("node_netstat_Tcp_OutRsts"), Some(47.0));
        assert_eq!(v("node_netstat_Udp_InDatagrams"), Some(111.0));
        assert_eq!(v("node_netstat_TcpExt_TW"), Some(10.0));
        assert_eq!(v("node_netstat_TcpExt_TCPTimeouts"), Some(2.0));
        assert_eq!(v("node_netstat_TcpExt_TCPAbortOnClose"), Some(45.0));
        assert_eq!(v("node_netstat_IpExt_InOctets"), Some(129030384.0));
        assert_eq!(v("node_netstat_Ip6_InOctets"), Some(128.0));
        assert_eq!(v("node_netstat_Icmp6_InMsgs"), Some(1.0));
        assert_eq!(
            kind_of(&out, "node_netstat_Tcp_RetransSegs"),
            Some(Kind::Untyped)
        );
    }

    #[test]
    fn fields_outside_the_allow_list_are_not_exported() {
        let (out, _, _) = collect(&real());

        assert_eq!(
            value_of(&out, "node_netstat_Tcp_RetransSegs", &[]),
            Some(0.0)
        );
        assert_eq!(value_of(&out, "node_netstat_TcpExt_TCPHPHits", &[]), None);
        assert_eq!(
            value_of(&out, "node_netstat_MPTcpExt_MPCurrEstab", &[]),
            None
        );
        assert_eq!(value_of(&out, "node_netstat_IcmpMsg_InType3", &[]), None);
    }

    #[test]
    fn every_exported_field_of_node_exporters_default_set_is_present() {
        let (out, _, _) = collect(&real());

        for name in [
            "node_netstat_Tcp_CurrEstab",
            "node_netstat_Tcp_PassiveOpens",
            "node_netstat_Tcp_OutSegs",
            "node_netstat_Tcp_InErrs",
            "node_netstat_Udp_NoPorts",
            "node_netstat_Udp_RcvbufErrors",
            "node_netstat_Udp_SndbufErrors",
            "node_netstat_Udp_InErrors",
            "node_netstat_UdpLite_InErrors",
            "node_netstat_Icmp_InErrors",
            "node_netstat_Icmp_OutMsgs",
            "node_netstat_TcpExt_ListenDrops",
            "node_netstat_TcpExt_ListenOverflows",
            "node_netstat_TcpExt_SyncookiesSent",
            "node_netstat_TcpExt_TCPSynRetrans",
            "node_netstat_TcpExt_TCPOFOQueue",
            "node_netstat_IpExt_OutOctets",
            "node_netstat_Ip6_OutOctets",
            "node_netstat_Udp6_InDatagrams",
            "node_netstat_Udp6_OutDatagrams",
            "node_netstat_Icmp6_OutMsgs",
        ] {
            assert!(value_of(&out, name, &[]).is_some(), "{name} missing");
        }
    }

    #[test]
    fn the_allow_list_is_sorted_so_binary_search_finds_every_entry() {
        assert!(EXPORTED.windows(2).all(|w| w[0].0 < w[1].0));
        for (proto, fields) in EXPORTED {
            assert!(
                fields.windows(2).all(|w| w[0].0 < w[1].0),
                "{proto} unsorted"
            );
            for (field, name) in *fields {
                assert_eq!(
                    fields_of(proto).and_then(|f| name_of(f, field)),
                    Some(*name)
                );
            }
        }
    }

    #[test]
    fn a_value_line_cut_short_is_a_parse_error_naming_file_and_line() {
        let snmp = "Tcp: RtoAlgorithm RtoMin CurrEstab\nTcp: 1 200\n";

        let (_, res, _) = collect(&[("net/snmp", snmp), ("net/netstat", NETSTAT)]);

        let err = res.unwrap_err().to_string();
        assert!(err.ends_with("net/snmp:2: no value for CurrEstab"), "{err}");
    }

    #[test]
    fn a_header_without_its_value_line_is_a_parse_error() {
        let (_, res, _) = collect(&[("net/snmp", SNMP), ("net/netstat", "TcpExt: TW\n")]);

        let err = res.unwrap_err().to_string();
        assert!(
            err.ends_with("net/netstat:1: TcpExt: no value line"),
            "{err}"
        );
    }

    #[test]
    fn garbage_in_one_file_does_not_stop_the_others() {
        let files = [
            ("net/snmp", "\u{7f}garbage\x00"),
            ("net/netstat", NETSTAT),
            ("net/snmp6", "x"),
        ];

        let (out, res, partial) = collect(&files);

        assert!(
            res.unwrap_err()
                .to_string()
                .contains("net/snmp:1: no `Proto:`")
        );
        assert_eq!(partial, 1, "the bad snmp6 is reported too");
        assert_eq!(value_of(&out, "node_netstat_TcpExt_TW", &[]), Some(10.0));
    }

    #[test]
    fn a_missing_snmp6_is_normal() {
        let (out, res, partial) = collect(&[("net/snmp", SNMP), ("net/netstat", NETSTAT)]);

        res.unwrap();
        assert_eq!(partial, 0);
        assert_eq!(value_of(&out, "node_netstat_Ip6_InOctets", &[]), None);
    }

    #[test]
    fn a_non_numeric_exported_value_is_a_parse_error() {
        let snmp = "Udp: InDatagrams NoPorts\nUdp: 3 x\n";

        let (_, res, _) = collect(&[("net/snmp", snmp), ("net/netstat", NETSTAT)]);

        let err = res.unwrap_err().to_string();
        assert!(
            err.ends_with("net/snmp:2: NoPorts: not a number: \"x\""),
            "{err}"
        );
    }
}
