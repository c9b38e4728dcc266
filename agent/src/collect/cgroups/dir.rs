//! One container's cgroup directory in one hierarchy, opened once so each file is a short
//! `openat` + `read` + `close`; and a one-pass reader of the few keys wanted from a `key value`
//! file. Together they keep 500 containers within the CPU budget.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::collect::{CollectError, procfs};

/// An open cgroup directory.
pub struct CgroupDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl CgroupDir {
    /// Opens `path` as a directory; a missing one is `Ok(None)` (the cgroup vanished or this
    /// hierarchy does not hold it), anything else an error naming it.
    pub fn open(path: PathBuf) -> Result<Option<Self>, CollectError> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::open(&path, flags, Mode::empty()) {
            Ok(fd) => Ok(Some(Self { fd, path })),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(CollectError::read(&path, e.into())),
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file `name` of this directory into `buf`; `Ok(None)` when it does not exist.
    pub fn read<'b>(
        &self,
        name: &str,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b str>, CollectError> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(CollectError::read(&self.path.join(name), e.into())),
        };
        read_all(&fd, buf).map_err(|e| CollectError::read(&self.path.join(name), e.into()))?;
        std::str::from_utf8(buf)
            .map(Some)
            .map_err(|_| CollectError::parse(&self.path.join(name), 0, "not UTF-8"))
    }

    /// A parse error for the file `name` of this directory.
    pub fn parse_error(&self, name: &str, line: usize, what: impl Into<String>) -> CollectError {
        CollectError::parse(&self.path.join(name), line, what)
    }
}

/// Reads `fd` to its end into `buf`. A short read ends it: cgroupfs (seq_file) and tmpfs return
/// all that fits, so a second `read` for the end-of-file would only cost a syscall.
fn read_all(fd: &OwnedFd, buf: &mut Vec<u8>) -> rustix::io::Result<()> {
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let len = buf.len();
        buf.resize(buf.capacity(), 0);
        let n = rustix::io::read(fd, &mut buf[len..]);
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        };
        buf.truncate(len + n);
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

/// The values of `keys` in a `key value` text, in one pass; a wanted key with a value that is not
/// a number is an error naming the line, other lines are not looked at.
pub fn fields<const N: usize>(
    text: &str,
    keys: [&str; N],
    dir: &CgroupDir,
    name: &str,
) -> Result<[Option<f64>; N], CollectError> {
    let mut out = [None; N];
    for (i, line) in text.lines().enumerate() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let Some(k) = keys.iter().position(|k| *k == key) else {
            continue;
        };
        let v = procfs::parse_number(value.trim());
        out[k] = Some(
            v.ok_or_else(|| dir.parse_error(name, i + 1, format!("`{key}` is not a number")))?,
        );
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
