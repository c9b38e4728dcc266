//! `/proc/diskstats`: I/O per whole block device with node_exporter's names, skipping partitions,
//! loop and ram devices as its default filter does.

use crate::collect::kept::KeptFile;

use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::labels;
use crate::metrics::SharedLabels;

/// Reads `/proc/diskstats`.
pub struct DiskStats {
    file: KeptFile,
    buf: String,
}

impl DiskStats {
    /// A collector reading `{proc}/diskstats`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            file: KeptFile::new(roots.proc("diskstats")),
            buf: String::new(),
        }
    }
}

/// (column after the device name, metric, help, scale): sectors are 512 bytes, times are ms.
const COLUMNS: [(usize, &str, &str, f64); 10] = [
    (
        0,
        "node_disk_reads_completed_total",
        "The total number of reads completed successfully.",
        1.0,
    ),
    (
        1,
        "node_disk_reads_merged_total",
        "The total number of reads merged.",
        1.0,
    ),
    (
        2,
        "node_disk_read_bytes_total",
        "The total number of bytes read successfully.",
        512.0,
    ),
    (
        3,
        "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        0.001,
    ),
    (
        4,
        "node_disk_writes_completed_total",
        "The total number of writes completed successfully.",
        1.0,
    ),
    (
        5,
        "node_disk_writes_merged_total",
        "The number of writes merged.",
        1.0,
    ),
    (
        6,
        "node_disk_written_bytes_total",
        "The total number of bytes written successfully.",
        512.0,
    ),
    (
        7,
        "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        0.001,
    ),
    (
        9,
        "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        0.001,
    ),
    (
        10,
        "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        0.001,
    ),
];

/// Columns 11–14 (kernel 4.18+, discards) and 15–16 (5.5+, flushes), reported only when the line
/// has them; discarded sectors stay in sectors, as node_exporter reports them.
const OPTIONAL_COLUMNS: [(usize, &str, &str, f64); 6] = [
    (
        11,
        "node_disk_discards_completed_total",
        "The total number of discards completed successfully.",
        1.0,
    ),
    (
        12,
        "node_disk_discards_merged_total",
        "The total number of discards merged.",
        1.0,
    ),
    (
        13,
        "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        1.0,
    ),
    (
        14,
        "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        0.001,
    ),
    (
        15,
        "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully",
        1.0,
    ),
    (
        16,
        "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        0.001,
    ),
];

/// node_exporter's default exclusion: `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`.
fn ignored(device: &str) -> bool {
    let digits_after = |prefix_len: usize| {
        device.len() > prefix_len && device[prefix_len..].bytes().all(|b| b.is_ascii_digit())
    };
    if ["ram", "loop"].iter().any(|p| device.starts_with(p)) || device.starts_with("fd") {
        return true;
    }
    let letter_disk = ["hd", "sd", "vd", "xvd"]
        .iter()
        .find(|p| device.starts_with(*p));
    if let Some(p) = letter_disk {
        let rest = &device.as_bytes()[p.len()..];
        return rest.first().is_some_and(u8::is_ascii_lowercase) && digits_after(p.len() + 1);
    }
    device.starts_with("nvme")
        && device.contains('p')
        && device
            .rsplit('p')
            .next()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Collector for DiskStats {
    fn name(&self) -> &'static str {
        "diskstats"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.file.read_into(&mut self.buf)?;
        for (i, line) in self.buf.lines().enumerate() {
            let mut fields = line.split_ascii_whitespace().skip(2);
            let Some(device) = fields.next() else {
                continue;
            };
            if ignored(device) {
                continue;
            }
            let values: Vec<f64> = fields.map_while(|f| f.parse().ok()).collect();
            if values.len() < 11 {
                return Err(CollectError::parse(
                    self.file.path(),
                    i + 1,
                    "fewer than 11 counters",
                ));
            }
            let present = OPTIONAL_COLUMNS.iter().filter(|c| c.0 < values.len());
            let labels = SharedLabels::new(labels!["device" => device]);
            for &(col, name, help, scale) in COLUMNS.iter().chain(present) {
                cx.out
                    .counter(name, help)
                    .push(labels.clone(), values[col] * scale);
            }
            let now = cx.out.gauge(
                "node_disk_io_now",
                "The number of I/Os currently in progress.",
            );
            now.push(labels, values[8]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    const DISKSTATS: &str = "   7       0 loop0 10 0 20 1 0 0 0 0 0 4 1 0 0 0 0 0 0\n\
 254       0 vda 18766 7290 1587226 6436 73456 48873 2929416 60880 2 58700 70188 0 0 0 0 2460 2871\n\
 254       1 vda1 18600 7290 1580000 6400 73456 48873 2929416 60880 0 58600 67300 0 0 0 0 0 0\n\
 259       0 nvme0n1 5 0 40 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n\
 259       1 nvme0n1p1 5 0 40 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n";

    #[test]
    fn whole_disks_are_reported_in_bytes_and_seconds() {
        let (_dir, roots) = fixture_roots(&[("proc/diskstats", DISKSTATS)]);
        let buf = run_one(&mut DiskStats::new(&roots)).unwrap();
        let vda = [("device", "vda")];
        assert_eq!(
            buf.value("node_disk_read_bytes_total", &vda),
            Some(1587226.0 * 512.0)
        );
        assert_eq!(
            buf.value("node_disk_write_time_seconds_total", &vda),
            Some(60.88)
        );
        assert_eq!(buf.value("node_disk_io_now", &vda), Some(2.0));
        assert_eq!(
            buf.value("node_disk_io_time_seconds_total", &vda),
            Some(58.7)
        );
    }

    #[test]
    fn partitions_loop_devices_are_skipped_but_nvme_namespaces_kept() {
        let (_dir, roots) = fixture_roots(&[("proc/diskstats", DISKSTATS)]);
        let buf = run_one(&mut DiskStats::new(&roots)).unwrap();
        let devices: Vec<&str> = buf.families()[0]
            .samples
            .iter()
            .map(|s| s.labels[0].1.as_str())
            .collect();
        assert_eq!(devices, ["vda", "nvme0n1"]);
    }

    /// This machine's vda line (kernel 6.18, 17 counters) and an 11-counter line of a pre-4.18 kernel.
    const WITH_DISCARDS: &str = "\
 254       0 vda 161533 8343 10026234 164858 38515 124337 33141776 168481 0 31716 343743 90928 37 17675680 10239 2445 163
   8       0 sdb 4 0 8 1 0 0 0 0 0 1 1
";

    #[test]
    fn discard_and_flush_columns_are_reported_when_the_kernel_has_them() {
        let (_dir, roots) = fixture_roots(&[("proc/diskstats", WITH_DISCARDS)]);
        let buf = run_one(&mut DiskStats::new(&roots)).unwrap();
        let vda = [("device", "vda")];
        let v = |name| buf.value(name, &vda);
        assert_eq!(v("node_disk_discards_completed_total"), Some(90928.0));
        assert_eq!(v("node_disk_discards_merged_total"), Some(37.0));
        assert_eq!(v("node_disk_discarded_sectors_total"), Some(17675680.0));
        assert_eq!(v("node_disk_discard_time_seconds_total"), Some(10.239));
        assert_eq!(v("node_disk_flush_requests_total"), Some(2445.0));
        assert_eq!(
            v("node_disk_flush_requests_time_seconds_total"),
            Some(0.163)
        );
    }

    #[test]
    fn a_line_with_only_eleven_counters_stays_valid_without_discards() {
        let (_dir, roots) = fixture_roots(&[("proc/diskstats", WITH_DISCARDS)]);
        let buf = run_one(&mut DiskStats::new(&roots)).unwrap();
        let sdb = [("device", "sdb")];
        assert_eq!(
            buf.value("node_disk_reads_completed_total", &sdb),
            Some(4.0)
        );
        assert_eq!(buf.value("node_disk_discards_completed_total", &sdb), None);
        assert_eq!(buf.value("node_disk_flush_requests_total", &sdb), None);
    }

    #[test]
    fn a_short_line_is_a_parse_error() {
        let (_dir, roots) = fixture_roots(&[("proc/diskstats", " 254 0 vda 1 2 3\n")]);
        let err = run_one(&mut DiskStats::new(&roots)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("diskstats:1: fewer than 11 counters"),
            "{err}"
        );
    }
}
