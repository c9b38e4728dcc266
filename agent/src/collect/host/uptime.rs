//! Uptime (`/proc/uptime`), the node's clock (`node_time_seconds`) and file descriptors in use
//! (`/proc/sys/fs/file-nr`, node_exporter's `filefd`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::collect::kept::KeptFile;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::metrics::no_labels;

/// Reads `/proc/uptime` and `/proc/sys/fs/file-nr`.
pub struct Uptime {
    uptime: KeptFile,
    file_nr: KeptFile,
    buf: String,
}

impl Uptime {
    /// A collector reading `{proc}/uptime` and `{proc}/sys/fs/file-nr`.
    pub fn new(roots: &Roots) -> Self {
        Self {
            uptime: KeptFile::one_piece(roots.proc("uptime")),
            file_nr: KeptFile::one_piece(roots.proc("sys/fs/file-nr")),
            buf: String::new(),
        }
    }

    fn first_numbers<const N: usize>(
        file: &mut KeptFile,
        buf: &mut String,
    ) -> Result<[f64; N], CollectError> {
        file.read_into(buf)?;
        let path: &Path = file.path();
        let mut out = [0.0; N];
        let mut fields = buf.split_ascii_whitespace();
        for slot in &mut out {
            *slot = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| CollectError::parse(path, 1, format!("expected {N} numbers")))?;
        }
        Ok(out)
    }
}

impl Collector for Uptime {
    fn name(&self) -> &'static str {
        "uptime"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        cx.out
            .gauge(
                "node_time_seconds",
                "System time in seconds since epoch (1970).",
            )
            .push(no_labels(), now);
        let [up] = Self::first_numbers::<1>(&mut self.uptime, &mut self.buf)?;
        cx.out
            .gauge(
                "warroom_node_uptime_seconds",
                "Seconds since the node booted.",
            )
            .push(no_labels(), up);
        let [allocated, _, maximum] = Self::first_numbers::<3>(&mut self.file_nr, &mut self.buf)?;
        cx.out
            .gauge(
                "node_filefd_allocated",
                "File descriptor statistics: allocated.",
            )
            .push(no_labels(), allocated);
        cx.out
            .gauge(
                "node_filefd_maximum",
                "File descriptor statistics: maximum.",
            )
            .push(no_labels(), maximum);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    #[test]
    fn uptime_and_file_descriptors_are_read() {
        let (_dir, roots) = fixture_roots(&[
            ("proc/uptime", "12345.67 24000.10\n"),
            ("proc/sys/fs/file-nr", "1184\t0\t9223372036854775807\n"),
        ]);
        let buf = run_one(&mut Uptime::new(&roots)).unwrap();
        assert_eq!(
            buf.value("warroom_node_uptime_seconds", &[]),
            Some(12345.67)
        );
        assert_eq!(buf.value("node_filefd_allocated", &[]), Some(1184.0));
        assert!(buf.value("node_time_seconds", &[]).unwrap() > 1.7e9);
    }
}
