//! cgroup v2 files (the whole tree on a v2 host, the `unified` tree of a hybrid one): `cpu.stat`
//! counts microseconds and holds both usage and CFS throttling; memory comes from
//! `memory.current`, `memory.max`, `memory.stat` and `memory.events`; block I/O from `io.stat`;
//! PSI from `{cpu,memory,io}.pressure`.

use super::dir::{CgroupDir, fields, limit_number, number, required};
use super::stats::{Memory, Stats, Throttling, limit, working_set};
use super::v1::parse_device;
use crate::collect::{CollectError, procfs};

const US: f64 = 1e6;

/// Reads usage and, when the cpu controller is on, throttling from `cpu.stat`.
pub fn read_cpu(dir: &CgroupDir, buf: &mut Vec<u8>, stats: &mut Stats) -> Result<(), CollectError> {
    const FILE: &str = "cpu.stat";
    let Some(text) = dir.read(FILE, buf)? else {
        return Ok(());
    };
    let keys = ["usage_usec", "nr_periods", "nr_throttled", "throttled_usec"];
    let [usage, periods, throttled, us] = fields(text, keys, dir, FILE)?;
    stats.cpu_seconds = Some(required(usage, "usage_usec", dir, FILE)? / US);
    if let (Some(periods), Some(throttled), Some(us)) = (periods, throttled, us) {
        stats.throttling = Some(Throttling {
            periods,
            throttled_periods: throttled,
            throttled_seconds: us / US,
        });
    }
    Ok(())
}

/// Reads usage, working set, RSS and limit.
pub fn read_memory(
    dir: &CgroupDir,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
) -> Result<(), CollectError> {
    const STAT: &str = "memory.stat";
    let Some(usage) = number(dir, "memory.current", buf)? else {
        return Ok(());
    };
    let raw_limit = limit_number(dir, "memory.max", buf)?.unwrap_or(f64::INFINITY);
    let Some(text) = dir.read(STAT, buf)? else {
        return Ok(());
    };
    let [anon, inactive] = fields(text, ["anon", "inactive_file"], dir, STAT)?;
    let inactive = required(inactive, "inactive_file", dir, STAT)?;
    stats.memory = Some(Memory {
        usage,
        working_set: working_set(usage, inactive),
        rss: required(anon, "anon", dir, STAT)?,
        limit: limit(raw_limit),
    });
    Ok(())
}

/// The file holding the OOM kill count.
pub const OOM_FILE: &str = "memory.events";

/// Reads bytes and operations per device from `io.stat`.
pub fn read_io(dir: &CgroupDir, buf: &mut Vec<u8>, stats: &mut Stats) -> Result<(), CollectError> {
    const FILE: &str = "io.stat";
    let Some(text) = dir.read(FILE, buf)? else {
        return Ok(());
    };
    for (i, line) in procfs::lines(text).enumerate() {
        let mut parts = line.split_ascii_whitespace();
        let Some(first) = parts.next() else { continue };
        let bad = || dir.parse_error(FILE, i + 1, "expected `MAJ:MIN key=value...`");
        let (major, minor) = parse_device(first).ok_or_else(bad)?;
        let d = stats.device(major, minor);
        for part in parts {
            let (k, v) = procfs::split_byte(part, b'=').ok_or_else(bad)?;
            let v = v.parse::<u64>().map_err(|_| bad())? as f64;
            match k {
                "rbytes" => d.read_bytes = v,
                "wbytes" => d.write_bytes = v,
                "rios" => d.reads = v,
                "wios" => d.writes = v,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Reads the PSI totals of cpu, memory and io, where the files exist.
pub fn read_pressure(
    dir: &CgroupDir,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
) -> Result<(), CollectError> {
    for (slot, file) in
        stats
            .pressure
            .iter_mut()
            .zip(["cpu.pressure", "memory.pressure", "io.pressure"])
    {
        let Some(text) = dir.read(file, buf)? else {
            continue;
        };
        let p = procfs::parse_pressure(text, || dir.path().join(file))?;
        *slot = Some((p.some, p.full));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> (tempfile::TempDir, CgroupDir) {
        let tmp = tempfile::tempdir().unwrap();
        for (name, content) in files {
            std::fs::write(tmp.path().join(name), content).unwrap();
        }
        let dir = CgroupDir::open(tmp.path().to_path_buf()).unwrap().unwrap();
        (tmp, dir)
    }

    #[test]
    fn microseconds_become_seconds_and_throttling_needs_the_cpu_controller() {
        // Arrange: one cgroup with the cpu controller, one without (hybrid unified tree).
        let with = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 4\nthrottled_usec 250000\n";
        let without = "usage_usec 1000\nuser_usec 1000\nsystem_usec 0\nnice_usec 0\n";
        let (_a, a) = dir(&[("cpu.stat", with)]);
        let (_b, b) = dir(&[("cpu.stat", without)]);
        let (mut sa, mut sb) = (Stats::default(), Stats::default());

        // Act
        read_cpu(&a, &mut Vec::new(), &mut sa).unwrap();
        read_cpu(&b, &mut Vec::new(), &mut sb).unwrap();

        // Assert
        assert_eq!(sa.cpu_seconds, Some(2.5));
        assert_eq!(
            sa.throttling,
            Some(Throttling {
                periods: 40.0,
                throttled_periods: 4.0,
                throttled_seconds: 0.25
            })
        );
        assert_eq!(sb.cpu_seconds, Some(0.001));
        assert_eq!(sb.throttling, None);
    }

    #[test]
    fn memory_reads_anon_inactive_file_the_max_limit_and_oom_kills() {
        let (_t, d) = dir(&[
            ("memory.current", "1000\n"),
            ("memory.max", "max\n"),
            ("memory.stat", "anon 600\nfile 400\ninactive_file 1200\n"),
            (
                "memory.events",
                "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n",
            ),
        ]);
        let mut stats = Stats::default();

        read_memory(&d, &mut Vec::new(), &mut stats).unwrap();
        super::super::dir::read_oom(&d, OOM_FILE, &mut Vec::new(), &mut stats, true).unwrap();

        assert_eq!(
            stats.memory,
            Some(Memory {
                usage: 1000.0,
                working_set: 0.0,
                rss: 600.0,
                limit: 0.0
            })
        );
        assert_eq!(stats.oom_kills, Some(2.0));
    }

    #[test]
    fn garbage_cpu_stat_names_the_file_and_line() {
        let (_t, d) = dir(&[("cpu.stat", "usage_usec 12\nnr_periods ??\n")]);

        let err = read_cpu(&d, &mut Vec::new(), &mut Stats::default()).unwrap_err();

        assert!(
            err.to_string()
                .ends_with("cpu.stat:2: `nr_periods` is not a number"),
            "{err}"
        );
    }

    #[test]
    fn io_stat_reads_each_device() {
        let text = "8:0 rbytes=1024 wbytes=2048 rios=3 wios=4 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n";
        let (_t, d) = dir(&[("io.stat", text)]);
        let mut stats = Stats::default();

        read_io(&d, &mut Vec::new(), &mut stats).unwrap();

        assert_eq!(stats.io.len(), 2);
        assert_eq!((stats.io[0].read_bytes, stats.io[0].writes), (1024.0, 4.0));
        assert_eq!((stats.io[1].major, stats.io[1].minor), (253, 1));
    }
}
