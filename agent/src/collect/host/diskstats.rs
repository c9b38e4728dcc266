//! `/proc/diskstats`: I/O per whole block device with node_exporter's names, skipping partitions,
//! loop and ram devices as its default filter does.

use std::path::PathBuf;

use crate::collect::{CollectError, Collector, Cx, Roots, procfs};
use crate::labels;

/// Reads `/proc/diskstats`.
pub struct DiskStats {
    path: PathBuf,
    buf: String,
}

impl DiskStats {
    /// A collector reading `{proc}/diskstats`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            path: roots.proc("diskstats"),
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
        procfs::read_into(&self.path, &mut self.buf)?;
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
                    &self.path,
                    i + 1,
                    "fewer than 11 counters",
                ));
            }
            for (col, name, help, scale) in COLUMNS {
                cx.out
                    .counter(name, help)
                    .push(labels!["device" => device], values[col] * scale);
            }
            let now = cx.out.gauge(
                "node_disk_io_now",
                "The number of I/Os currently in progress.",
            );
            now.push(labels!["device" => device], values[8]);
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
