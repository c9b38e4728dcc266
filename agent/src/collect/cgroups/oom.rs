//! When the containers' OOM kill counters (`memory.events` on v2, `memory.oom_control` on v1)
//! must be read: the kernel counts every OOM kill twice in a row, in `/proc/vmstat`'s `oom_kill`
//! and then in the victim's memory cgroup (`__oom_kill_process`, since Linux 4.13, when both
//! counters appeared). While the system-wide count stands still no container's count can have
//! moved, so one read of `/proc/vmstat` stands for one file per container.
//!
//! A changed count makes this pass and the next read every container's counter: the next one
//! catches a cgroup counter raised just after this pass read `/proc/vmstat`. Without the
//! system-wide count (no `/proc/vmstat`, no `oom_kill` in it) every pass reads them, and
//! [`READ_AT_LEAST_EVERY`] bounds how long a count raised some other way could go unseen.

use std::path::PathBuf;

use crate::collect::kept::KeptFile;
use crate::collect::procfs;

/// Passes after which the counters are read whatever `/proc/vmstat` says.
pub const READ_AT_LEAST_EVERY: u32 = 32;

/// Passes that read the counters after the system-wide count moved: this one and the next.
const PASSES_AFTER_A_KILL: u32 = 2;

/// Watches the system-wide OOM kill count.
#[derive(Debug)]
pub struct OomWatch {
    vmstat: KeptFile,
    text: String,
    /// The count at the last pass; `None` when it could not be read.
    last: Option<u64>,
    /// Passes still to read the counters.
    left: u32,
    /// Passes since the counters were last read.
    age: u32,
}

impl OomWatch {
    /// Watches the `oom_kill` count of `vmstat` (the host's `/proc/vmstat`).
    pub fn new(vmstat: PathBuf) -> Self {
        Self {
            vmstat: KeptFile::new(vmstat),
            text: String::new(),
            last: None,
            left: 0,
            age: 0,
        }
    }

    /// Whether this pass must read every container's OOM kill counter. Call once per pass.
    pub fn due(&mut self) -> bool {
        let count = self.count();
        if count.is_none() || count != self.last {
            self.last = count;
            self.left = PASSES_AFTER_A_KILL;
        }
        self.age += 1;
        if self.age >= READ_AT_LEAST_EVERY {
            self.left = self.left.max(1);
        }
        let due = self.left > 0;
        if due {
            self.left -= 1;
            self.age = 0;
        }
        due
    }

    /// The system-wide OOM kill count, when `/proc/vmstat` has one.
    fn count(&mut self) -> Option<u64> {
        self.vmstat.read_into(&mut self.text).ok()?;
        procfs::lines(&self.text)
            .find_map(|line| line.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmstat(kills: u64) -> String {
        format!("nr_free_pages 1000\npgfault 52000\noom_kill {kills}\n")
    }

    #[test]
    fn counters_are_read_after_a_kill_for_two_passes_and_otherwise_now_and_then() {
        // Arrange: the first pass reads (nothing seen yet), and so does the one after.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("vmstat");
        std::fs::write(&path, vmstat(0)).unwrap();
        let mut watch = OomWatch::new(path.clone());
        assert!(watch.due() && watch.due());

        // Act
        let quiet: Vec<bool> = (0..5).map(|_| watch.due()).collect();
        std::fs::write(&path, vmstat(1)).unwrap();
        let after_kill: Vec<bool> = (0..3).map(|_| watch.due()).collect();
        let until_due = (1..=READ_AT_LEAST_EVERY).find(|_| watch.due());

        // Assert
        assert_eq!(quiet, [false; 5]);
        assert_eq!(after_kill, [true, true, false]);
        assert_eq!(until_due, Some(READ_AT_LEAST_EVERY - 1));
    }

    #[test]
    fn without_a_system_wide_count_every_pass_reads_the_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("vmstat");
        std::fs::write(&path, "nr_free_pages 1000\n").unwrap();
        let mut missing_key = OomWatch::new(path);
        let mut missing_file = OomWatch::new(tmp.path().join("none"));

        assert!((0..5).all(|_| missing_key.due() && missing_file.due()));
    }
}
