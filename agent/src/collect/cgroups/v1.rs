//! cgroup v1 files, one function per controller: `cpuacct.usage` and `cpu.stat` count
//! nanoseconds (`cpu.stat` is not read while `cpu.cfs_quota_us` says the kernel leaves it
//! still); memory comes from `memory.usage_in_bytes`, `memory.limit_in_bytes`,
//! `memory.stat` (hierarchical `total_*` keys) and `memory.oom_control`; block I/O from
//! `blkio.throttle.io_service_bytes` and `blkio.throttle.io_serviced`.

use super::dir::{CgroupDir, fields, last_limit, limit_number, number, required};
use super::stats::{Memory, Stats, Throttling, limit, working_set};
use crate::collect::{CollectError, procfs};

const NS: f64 = 1e9;

/// One controller's reader.
pub type Reader = fn(&CgroupDir, &mut Vec<u8>, &mut Stats) -> Result<(), CollectError>;

/// Reads CPU usage from the `cpuacct` directory.
pub fn read_cpuacct(
    dir: &CgroupDir,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
) -> Result<(), CollectError> {
    stats.cpu_seconds = number(dir, "cpuacct.usage", buf)?.map(|ns| ns / NS);
    Ok(())
}

/// The CFS quota file; `-1` is no quota.
const QUOTA: &str = "cpu.cfs_quota_us";

/// Reads CFS throttling from the `cpu` directory's `cpu.stat`, except while the cgroup has no
/// CFS quota. Without one the kernel's period timer stays off (`do_sched_cfs_period_timer` leaves
/// at once when the quota is `RUNTIME_INF`) and nothing is throttled, so `nr_periods`,
/// `nr_throttled` and `throttled_time` keep the values they had (0 for a cgroup that never had a
/// quota). The quota is read as a limit is (every `LIMIT_READ_EVERY` passes, so a new quota shows
/// within that many). The `cpu.stat` read in the second pass in a row that finds no quota, a
/// pass or more after it was read as none (so the last unthrottle of its removal, which adds to
/// `throttled_time`, is in), is kept and served until a quota shows again.
pub fn read_cpu(dir: &CgroupDir, buf: &mut Vec<u8>, stats: &mut Stats) -> Result<(), CollectError> {
    const FILE: &str = "cpu.stat";
    let unlimited = |quota: Option<f64>| quota.is_some_and(|q| q < 0.0);
    let was_unlimited = last_limit(dir, QUOTA).is_some_and(unlimited);
    let is_unlimited = unlimited(limit_number(dir, QUOTA, buf)?);
    let steady = was_unlimited && is_unlimited;
    if steady && let Some([periods, throttled_periods, throttled_seconds]) = dir.frozen() {
        stats.throttling = Some(Throttling {
            periods,
            throttled_periods,
            throttled_seconds,
        });
        return Ok(());
    }
    let Some(text) = dir.read(FILE, buf)? else {
        dir.freeze(None);
        return Ok(());
    };
    let [p, t, ns] = fields(
        text,
        ["nr_periods", "nr_throttled", "throttled_time"],
        dir,
        FILE,
    )?;
    let throttling = Throttling {
        periods: required(p, "nr_periods", dir, FILE)?,
        throttled_periods: required(t, "nr_throttled", dir, FILE)?,
        throttled_seconds: required(ns, "throttled_time", dir, FILE)? / NS,
    };
    dir.freeze(steady.then_some([
        throttling.periods,
        throttling.throttled_periods,
        throttling.throttled_seconds,
    ]));
    stats.throttling = Some(throttling);
    Ok(())
}

/// Reads usage, working set, RSS and limit from the `memory` directory.
pub fn read_memory(
    dir: &CgroupDir,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
) -> Result<(), CollectError> {
    const STAT: &str = "memory.stat";
    let Some(usage) = number(dir, "memory.usage_in_bytes", buf)? else {
        return Ok(());
    };
    let raw_limit = limit_number(dir, "memory.limit_in_bytes", buf)?.unwrap_or(f64::INFINITY);
    let Some(text) = dir.read(STAT, buf)? else {
        return Ok(());
    };
    let [rss, inactive] = fields(text, ["total_rss", "total_inactive_file"], dir, STAT)?;
    let inactive = required(inactive, "total_inactive_file", dir, STAT)?;
    stats.memory = Some(Memory {
        usage,
        working_set: working_set(usage, inactive),
        rss: required(rss, "total_rss", dir, STAT)?,
        limit: limit(raw_limit),
    });
    Ok(())
}

/// The memory directory's file holding its OOM kill count.
pub const OOM_FILE: &str = "memory.oom_control";

/// Reads bytes and operations per device from the `blkio` directory.
pub fn read_blkio(
    dir: &CgroupDir,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
) -> Result<(), CollectError> {
    for (file, bytes) in [
        ("blkio.throttle.io_service_bytes", true),
        ("blkio.throttle.io_serviced", false),
    ] {
        let Some(text) = dir.read(file, buf)? else {
            continue;
        };
        for (i, line) in procfs::lines(text).enumerate() {
            let Some((major, minor, op, v)) = parse_blkio_line(line) else {
                if line.starts_with("Total") || line.is_empty() {
                    continue;
                }
                return Err(dir.parse_error(file, i + 1, "expected `MAJ:MIN Op VALUE`"));
            };
            let d = stats.device(major, minor);
            match (op, bytes) {
                ("Read", true) => d.read_bytes = v,
                ("Write", true) => d.write_bytes = v,
                ("Read", false) => d.reads = v,
                ("Write", false) => d.writes = v,
                _ => {}
            }
        }
    }
    Ok(())
}

/// `8:0 Read 4096` as (8, 0, "Read", 4096).
fn parse_blkio_line(line: &str) -> Option<(u32, u32, &str, f64)> {
    let mut parts = line.split_ascii_whitespace();
    let (major, minor) = parse_device(parts.next()?)?;
    let op = parts.next()?;
    let v = parts.next()?.parse::<u64>().ok()? as f64;
    Some((major, minor, op, v))
}

/// `8:16` as (8, 16).
pub fn parse_device(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = procfs::split_byte(s, b':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::cgroups::dir::LIMIT_READ_EVERY;

    fn dir(files: &[(&str, &str)]) -> (tempfile::TempDir, CgroupDir) {
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(tmp.path().join(name), content).unwrap();
        }
        let dir = CgroupDir::open(tmp.path().to_path_buf()).unwrap().unwrap();
        (tmp, dir)
    }

    #[test]
    fn throttled_nanoseconds_become_seconds() {
        // Arrange
        let text = "nr_periods 120\nnr_throttled 7\nthrottled_time 2500000000\nnr_bursts 0\nburst_time 0\n";
        let (_tmp, d) = dir(&[("cpu.stat", text), ("cpuacct.usage", "1500000000\n")]);
        let mut stats = Stats::default();

        // Act
        read_cpu(&d, &mut Vec::new(), &mut stats).unwrap();
        read_cpuacct(&d, &mut Vec::new(), &mut stats).unwrap();

        // Assert
        let t = stats.throttling.unwrap();
        assert_eq!(
            (t.periods, t.throttled_periods, t.throttled_seconds),
            (120.0, 7.0, 2.5)
        );
        assert_eq!(stats.cpu_seconds, Some(1.5));
    }

    /// The throttled periods `read_cpu` reports.
    fn periods(d: &CgroupDir) -> f64 {
        let mut stats = Stats::default();
        read_cpu(d, &mut Vec::new(), &mut stats).unwrap();
        stats.throttling.unwrap().periods
    }

    fn write_periods(tmp: &tempfile::TempDir, n: u32) {
        let text = format!("nr_periods {n}\nnr_throttled 0\nthrottled_time 0\n");
        std::fs::write(tmp.path().join("cpu.stat"), text).unwrap();
    }

    #[test]
    fn without_a_quota_cpu_stat_is_kept_from_the_pass_after_the_quota_was_seen_unset() {
        // Arrange: no quota; the first pass sees that, the second reads the counters to keep.
        let (tmp, d) = dir(&[("cpu.cfs_quota_us", "-1\n")]);
        write_periods(&tmp, 100);
        assert_eq!(periods(&d), 100.0);
        write_periods(&tmp, 101);
        assert_eq!(periods(&d), 101.0);

        // Act: the file changes (it cannot without a quota; this shows it is not read).
        write_periods(&tmp, 102);
        let kept = periods(&d);

        // Assert
        assert_eq!(kept, 101.0);
    }

    #[test]
    fn a_quota_set_later_has_cpu_stat_read_every_pass_again_within_the_limit_interval() {
        // Arrange: counters kept under no quota.
        let (tmp, d) = dir(&[("cpu.cfs_quota_us", "-1\n")]);
        write_periods(&tmp, 100);
        for _ in 0..3 {
            periods(&d);
        }

        // Act: a quota is set and the kernel counts periods again.
        std::fs::write(tmp.path().join("cpu.cfs_quota_us"), "50000\n").unwrap();
        write_periods(&tmp, 150);
        let seen: Vec<f64> = (0..LIMIT_READ_EVERY).map(|_| periods(&d)).collect();
        write_periods(&tmp, 151);
        let next = periods(&d);

        // Assert
        assert_eq!(seen.last(), Some(&150.0), "{seen:?}");
        assert_eq!(next, 151.0);
    }

    #[test]
    fn with_a_quota_or_no_quota_file_cpu_stat_is_read_every_pass() {
        for quota in [Some("50000\n"), None] {
            let (tmp, d) = dir(&[]);
            if let Some(q) = quota {
                std::fs::write(tmp.path().join("cpu.cfs_quota_us"), q).unwrap();
            }
            write_periods(&tmp, 1);
            let first = (0..3).map(|_| periods(&d)).last();

            write_periods(&tmp, 2);

            assert_eq!((first, periods(&d)), (Some(1.0), 2.0), "{quota:?}");
        }
    }

    #[test]
    fn blkio_sums_reads_and_writes_per_device_and_skips_the_total() {
        let bytes = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n";
        let ops = "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n";
        let (_tmp, d) = dir(&[
            ("blkio.throttle.io_service_bytes", bytes),
            ("blkio.throttle.io_serviced", ops),
        ]);
        let mut stats = Stats::default();

        read_blkio(&d, &mut Vec::new(), &mut stats).unwrap();

        let io = stats.io[0];
        assert_eq!(
            (
                io.major,
                io.minor,
                io.read_bytes,
                io.write_bytes,
                io.reads,
                io.writes
            ),
            (8, 0, 4096.0, 8192.0, 1.0, 2.0)
        );
        assert_eq!(stats.io.len(), 1);
    }

    #[test]
    fn a_truncated_memory_stat_is_an_error_naming_the_file() {
        let (_tmp, d) = dir(&[
            ("memory.usage_in_bytes", "100\n"),
            ("memory.stat", "cache 0\nrss 4096\ntotal_rss 40"),
        ]);
        let mut stats = Stats::default();

        let err = read_memory(&d, &mut Vec::new(), &mut stats).unwrap_err();

        assert!(
            err.to_string()
                .ends_with("memory.stat:0: no `total_inactive_file` entry"),
            "{err}"
        );
    }
}
