//! One container's cgroup directory in one hierarchy, kept open across collections with its
//! files: a file is opened once and re-read with `pread` at offset 0 (cgroupfs regenerates it),
//! which costs a fifth of `open` + `read` + `close` (`cache` keeps the directories of the
//! containers seen in the last pass and closes the rest). Also a one-pass reader of the few keys
//! wanted from a `key value` file, limits read only now and then, and OOM kill counters read
//! only when `oom` says one may have moved.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{Mode, OFlags};

use super::stats::Stats;
use crate::collect::{CollectError, procfs};

/// File descriptors held open by all caches, and the most they may hold: beyond it files are
/// opened and closed per read, so a node with thousands of containers never runs out.
static CACHED_FDS: AtomicUsize = AtomicUsize::new(0);
const MAX_CACHED_FDS: usize = 8192;

/// Reads of a limit file served from memory between two reads of the file: a limit changes
/// only when an administrator sets it (`docker update`, a pod resize), so it shows within this
/// many passes, and the pass reads one file fewer per container and hierarchy.
pub const LIMIT_READ_EVERY: u32 = 8;

/// An open cgroup directory and the files of it read so far (`None`: the file does not exist).
pub struct CgroupDir {
    fd: OwnedFd,
    path: PathBuf,
    files: RefCell<Vec<(Box<str>, Option<OwnedFd>)>>,
    /// Limits read by [`limit_number`]: (file, value, reads served since the file was read).
    limits: RefCell<Vec<(&'static str, Option<f64>, u32)>>,
    /// The OOM kill count last read by [`oom_kills`]; `None` before the first read.
    oom_kills: Cell<Option<Option<f64>>>,
    /// Counters last read from a file the kernel has stopped moving, served instead of reading
    /// it (see `v1::read_cpu`).
    frozen: Cell<Option<[f64; 3]>>,
}

impl Drop for CgroupDir {
    fn drop(&mut self) {
        let open = self
            .files
            .borrow()
            .iter()
            .filter(|(_, fd)| fd.is_some())
            .count();
        CACHED_FDS.fetch_sub(open + 1, Ordering::Relaxed);
    }
}

impl CgroupDir {
    /// Opens `path` as a directory; a missing one is `Ok(None)` (the cgroup vanished or this
    /// hierarchy does not hold it), anything else an error naming it.
    pub fn open(path: PathBuf) -> Result<Option<Self>, CollectError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(&path, flags, Mode::empty()) {
            Ok(fd) => {
                CACHED_FDS.fetch_add(1, Ordering::Relaxed);
                Ok(Some(Self {
                    fd,
                    path,
                    files: RefCell::new(Vec::new()),
                    limits: RefCell::new(Vec::new()),
                    oom_kills: Cell::new(None),
                    frozen: Cell::new(None),
                }))
            }
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(CollectError::read(&path, e.into())),
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file `name` of this directory into `buf`; `Ok(None)` when it does not exist. A
    /// cgroup removed since it was opened reads as not found (a quiet, vanished container).
    pub fn read<'b>(
        &self,
        name: &str,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b str>, CollectError> {
        let err = |e: rustix::io::Errno| {
            let e = if e == rustix::io::Errno::NODEV {
                rustix::io::Errno::NOENT
            } else {
                e
            };
            CollectError::read(&self.path.join(name), e.into())
        };
        let mut files = self.files.borrow_mut();
        match files.iter().find(|(n, _)| &**n == name) {
            Some((_, None)) => return Ok(None),
            Some((_, Some(fd))) => read_all(fd, buf).map_err(err)?,
            None => {
                let flags = OFlags::RDONLY | OFlags::CLOEXEC;
                let fd = match open_noatime(&self.fd, name, flags) {
                    Ok(fd) => Some(fd),
                    Err(rustix::io::Errno::NOENT) => None,
                    Err(e) => return Err(err(e)),
                };
                if let Some(fd) = &fd {
                    read_all(fd, buf).map_err(err)?;
                }
                let found = fd.is_some();
                if CACHED_FDS.fetch_add(usize::from(found), Ordering::Relaxed) < MAX_CACHED_FDS {
                    files.push((name.into(), fd));
                } else {
                    CACHED_FDS.fetch_sub(usize::from(found), Ordering::Relaxed);
                }
                if !found {
                    return Ok(None);
                }
            }
        }
        std::str::from_utf8(buf)
            .map(Some)
            .map_err(|_| CollectError::parse(&self.path.join(name), 0, "not UTF-8"))
    }

    /// The counters kept by [`Self::freeze`], if any.
    pub fn frozen(&self) -> Option<[f64; 3]> {
        self.frozen.get()
    }

    /// Keeps `counters` to serve while their file is known not to move; `None` forgets them.
    pub fn freeze(&self, counters: Option<[f64; 3]>) {
        self.frozen.set(counters);
    }

    /// A parse error for the file `name` of this directory.
    pub fn parse_error(&self, name: &str, line: usize, what: impl Into<String>) -> CollectError {
        CollectError::parse(&self.path.join(name), line, what)
    }
}

/// Opens `path` (relative to `dir`) with `O_NOATIME`, or without it where the kernel refuses it
/// (a file the agent does not own, without `CAP_FOWNER`): a read then costs no access-time
/// update, which on a disk-backed tree (cgroup fixtures) is a fifth of a small file's read.
pub fn open_noatime<Fd: std::os::fd::AsFd>(
    dir: Fd,
    path: impl rustix::path::Arg + Copy,
    flags: OFlags,
) -> rustix::io::Result<OwnedFd> {
    match rustix::fs::openat(&dir, path, flags | OFlags::NOATIME, Mode::empty()) {
        Err(rustix::io::Errno::PERM) => rustix::fs::openat(&dir, path, flags, Mode::empty()),
        other => other,
    }
}

/// Reads `fd` from offset 0 to its end into `buf` with `pread`, so a kept-open file reads afresh.
/// A short read ends it: cgroupfs (seq_file) and tmpfs return all that fits, so a second `read`
/// for the end-of-file would only cost a syscall.
fn read_all(fd: &OwnedFd, buf: &mut Vec<u8>) -> rustix::io::Result<()> {
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let offset = buf.len() as u64;
        let n = rustix::io::pread(fd, rustix::buffer::spare_capacity(buf), offset)?;
        if n == 0 || buf.len() < buf.capacity() {
            return Ok(());
        }
        buf.reserve(buf.capacity());
    }
}

/// Reads one number (`memory.current`, `cpuacct.usage`); `max` is infinity.
pub fn number(dir: &CgroupDir, name: &str, buf: &mut Vec<u8>) -> Result<Option<f64>, CollectError> {
    let Some(text) = dir.read(name, buf)? else {
        return Ok(None);
    };
    match procfs::parse_number(text.trim()) {
        Some(v) => Ok(Some(v)),
        None => Err(dir.parse_error(
            name,
            1,
            format!("not a number: {:?}", procfs::short(text.trim())),
        )),
    }
}

/// Reads a limit (`memory.max`, `memory.limit_in_bytes`) as [`number`] does, but from the file
/// only at the directory's first read and every [`LIMIT_READ_EVERY`] reads after; in between,
/// the value last read.
pub fn limit_number(
    dir: &CgroupDir,
    name: &'static str,
    buf: &mut Vec<u8>,
) -> Result<Option<f64>, CollectError> {
    if let Some((_, value, served)) = dir.limits.borrow_mut().iter_mut().find(|l| l.0 == name)
        && *served + 1 < LIMIT_READ_EVERY
    {
        *served += 1;
        return Ok(*value);
    }
    let value = number(dir, name, buf)?;
    let mut limits = dir.limits.borrow_mut();
    match limits.iter_mut().find(|l| l.0 == name) {
        Some(kept) => *kept = (name, value, 0),
        None => limits.push((name, value, 0)),
    }
    Ok(value)
}

/// The value [`limit_number`] last gave for `name`, without reading; `None` before its first
/// read.
pub fn last_limit(dir: &CgroupDir, name: &str) -> Option<Option<f64>> {
    dir.limits
        .borrow()
        .iter()
        .find(|l| l.0 == name)
        .map(|l| l.1)
}

/// Reads OOM kills into `stats`, once its memory figures were read: the `oom_kill` entry of
/// `name` (`memory.events` on v2, `memory.oom_control` on v1; `None` when the kernel has none,
/// before 4.13), from the file when `due` or at the directory's first read, in between the
/// count last read (see [`super::oom`]).
pub fn read_oom(
    dir: &CgroupDir,
    name: &str,
    buf: &mut Vec<u8>,
    stats: &mut Stats,
    due: bool,
) -> Result<(), CollectError> {
    if stats.memory.is_none() {
        return Ok(());
    }
    if !due && let Some(kills) = dir.oom_kills.get() {
        stats.oom_kills = kills;
        return Ok(());
    }
    let kills = match dir.read(name, buf)? {
        Some(text) => fields(text, ["oom_kill"], dir, name)?[0],
        None => None,
    };
    dir.oom_kills.set(Some(kills));
    stats.oom_kills = kills;
    Ok(())
}

/// The values of `keys` in a `key value` text, in one pass that stops once every key is found; a
/// wanted key with a value that is not a number is an error naming the line, other lines are
/// not looked at.
pub fn fields<const N: usize>(
    text: &str,
    keys: [&str; N],
    dir: &CgroupDir,
    name: &str,
) -> Result<[Option<f64>; N], CollectError> {
    let mut out = [None; N];
    let mut missing = N;
    for (i, line) in procfs::lines(text).enumerate() {
        let (key, value) = procfs::split_byte(line, b' ').unwrap_or((line, ""));
        let Some(k) = keys.iter().position(|k| *k == key) else {
            continue;
        };
        let v = procfs::parse_number(value.trim());
        let v =
            v.ok_or_else(|| dir.parse_error(name, i + 1, format!("`{key}` is not a number")))?;
        missing -= usize::from(out[k].replace(v).is_none());
        // The kernel writes each key once: the rest of a long `memory.stat` need not be read.
        if missing == 0 {
            break;
        }
    }
    Ok(out)
}

/// The value of a key [`fields`] found, or an error naming the file when it is missing.
pub fn required(
    v: Option<f64>,
    key: &str,
    dir: &CgroupDir,
    name: &str,
) -> Result<f64, CollectError> {
    v.ok_or_else(|| dir.parse_error(name, 0, format!("no `{key}` entry")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(name: &str, content: &str) -> (tempfile::TempDir, CgroupDir) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(name), content).unwrap();
        let dir = CgroupDir::open(tmp.path().to_path_buf()).unwrap().unwrap();
        (tmp, dir)
    }

    #[test]
    fn a_file_longer_than_the_buffer_is_read_whole() {
        // Arrange
        let content = "x".repeat(10_000);
        let (_tmp, dir) = dir_with("big", &content);
        let mut buf = Vec::new();

        // Act
        let text = dir.read("big", &mut buf).unwrap().unwrap();

        // Assert
        assert_eq!(text.len(), 10_000);
    }

    #[test]
    fn a_kept_open_file_reads_its_new_content_every_time() {
        let (tmp, dir) = dir_with("n", "1\n");
        let mut buf = Vec::new();
        assert_eq!(dir.read("n", &mut buf).unwrap(), Some("1\n"));

        std::fs::write(tmp.path().join("n"), "22\n").unwrap();

        assert_eq!(dir.read("n", &mut buf).unwrap(), Some("22\n"));
    }

    #[test]
    fn a_limit_is_read_at_first_and_then_every_few_passes() {
        // Arrange
        let (tmp, dir) = dir_with("memory.max", "100\n");
        let mut buf = Vec::new();
        assert_eq!(
            limit_number(&dir, "memory.max", &mut buf).unwrap(),
            Some(100.0)
        );

        // Act
        std::fs::write(tmp.path().join("memory.max"), "200\n").unwrap();
        let seen: Vec<_> = (0..LIMIT_READ_EVERY)
            .map(|_| limit_number(&dir, "memory.max", &mut buf).unwrap())
            .collect();

        // Assert: the old value until the read that is due.
        let last = seen.len() - 1;
        assert!(seen[..last].iter().all(|v| *v == Some(100.0)), "{seen:?}");
        assert_eq!(seen[last], Some(200.0));
    }

    #[test]
    fn an_oom_count_is_read_at_first_and_then_only_when_due() {
        // Arrange
        let (tmp, dir) = dir_with("memory.events", "oom 1\noom_kill 1\n");
        let mut buf = Vec::new();
        let mut kills = |due| {
            let mut stats = Stats {
                memory: Some(Default::default()),
                ..Stats::default()
            };
            read_oom(&dir, "memory.events", &mut buf, &mut stats, due).unwrap();
            stats.oom_kills
        };
        let first = kills(false);
        std::fs::write(tmp.path().join("memory.events"), "oom 2\noom_kill 2\n").unwrap();

        // Act
        let not_due = kills(false);
        let due = kills(true);
        let mut without_memory = Stats::default();
        read_oom(&dir, "memory.events", &mut buf, &mut without_memory, true).unwrap();

        // Assert
        assert_eq!((first, not_due, due), (Some(1.0), Some(1.0), Some(2.0)));
        assert_eq!(
            without_memory.oom_kills, None,
            "read only beside memory figures"
        );
    }

    #[test]
    fn a_missing_file_or_directory_reads_as_none() {
        let (tmp, dir) = dir_with("a", "1");
        let mut buf = Vec::new();

        assert!(dir.read("b", &mut buf).unwrap().is_none());
        assert!(CgroupDir::open(tmp.path().join("gone")).unwrap().is_none());
    }

    #[test]
    fn a_file_where_a_directory_is_expected_is_an_error_naming_it() {
        let (tmp, _dir) = dir_with("a", "1");

        let err = CgroupDir::open(tmp.path().join("a")).err().unwrap();

        assert!(err.to_string().contains("/a: "), "{err}");
        assert!(!err.is_not_found());
    }

    #[test]
    fn fields_reads_wanted_keys_and_names_the_line_of_a_bad_value() {
        let (_tmp, dir) = dir_with("s", "");
        let text = "a 1\nb 2\nc x\n";

        let ok = fields(text, ["b", "z"], &dir, "s").unwrap();
        let err = fields(text, ["c"], &dir, "s").unwrap_err();

        assert_eq!(ok, [Some(2.0), None]);
        assert!(
            err.to_string().ends_with("/s:3: `c` is not a number"),
            "{err}"
        );
    }
}
