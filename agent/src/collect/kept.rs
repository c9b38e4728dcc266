//! Kernel files kept open between collections. procfs and sysfs generate a file's content on
//! every read from offset 0, so a kept descriptor re-read with `pread` sees fresh figures and
//! saves the path walk, `open`, `fstat` and `close` of each pass (three quarters of the syscalls
//! of a small file). Only for kernel files: a regular file can be replaced by a new one.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::CollectError;

/// One procfs or sysfs file, opened at its first read and kept open while reads succeed.
#[derive(Debug)]
pub struct KeptFile {
    path: PathBuf,
    fd: Option<OwnedFd>,
    /// The kernel writes the file in one piece, so a short read is the end.
    one_piece: bool,
}

impl KeptFile {
    /// The file at `path`, not opened yet, read until `pread` returns 0: a seq_file of many
    /// records (`/proc/vmstat`, `/proc/net/dev`, mount tables) returns a page or so per call.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            fd: None,
            one_piece: false,
        }
    }

    /// The file at `path`, which the kernel generates in one piece (a sysfs attribute, a procfs
    /// file made with `single_open` such as `/proc/stat` or `/proc/net/snmp`, a sysctl): a read
    /// with room to spare returns all of it, so the read that would return 0 is skipped.
    pub fn one_piece(path: PathBuf) -> Self {
        Self {
            one_piece: true,
            ..Self::new(path)
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole file into `buf` (cleared first), as [`super::procfs::read_into`] does.
    pub fn read_into(&mut self, buf: &mut String) -> Result<(), CollectError> {
        let mut bytes = std::mem::take(buf).into_bytes();
        let read = self.read_bytes(&mut bytes);
        let text = String::from_utf8(bytes)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"));
        match (read, text) {
            (Err(e), _) => Err(CollectError::read(&self.path, e.into())),
            (Ok(()), Err(e)) => Err(CollectError::read(&self.path, e)),
            (Ok(()), Ok(text)) => {
                *buf = text;
                Ok(())
            }
        }
    }

    /// False when the file is open and the kernel signals no change since the last call: a
    /// mount table (`/proc/<pid>/mounts`) raises `POLLPRI` when a filesystem is mounted or
    /// unmounted. Only for files that signal changes so; a regular file never reads as changed
    /// once open.
    pub fn changed(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let Some(fd) = &self.fd else {
            return true;
        };
        let mut fds = [PollFd::new(fd, PollFlags::PRI)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&now)) {
            Ok(_) => fds[0]
                .revents()
                .intersects(PollFlags::PRI | PollFlags::ERR | PollFlags::NVAL),
            Err(_) => true,
        }
    }

    /// Reads the whole file into `buf` (cleared first). A kept descriptor whose entry is gone
    /// (removed, and perhaps created again, as an interface or cgroup can be) is closed and the
    /// file opened afresh once. Other failures (sysfs refusing `speed` on a down link) leave the
    /// descriptor open: the next read may succeed.
    pub fn read_bytes(&mut self, buf: &mut Vec<u8>) -> Result<(), Errno> {
        if let Some(fd) = &self.fd {
            match pread_all(fd, buf, self.one_piece) {
                Err(e) if gone(e) => self.fd = None,
                result => return result,
            }
        }
        let fd = rustix::fs::open(&self.path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        let result = pread_all(&fd, buf, self.one_piece);
        if !result.is_err_and(gone) {
            self.fd = Some(fd);
        }
        result
    }
}

/// True for the errors of a file whose kernel object was removed.
fn gone(e: Errno) -> bool {
    matches!(e, Errno::NODEV | Errno::NOENT | Errno::STALE)
}

/// Reads `fd` from offset 0 until `pread` returns 0 or, for a `one_piece` file, returns less
/// than there was room for.
fn pread_all(fd: &OwnedFd, buf: &mut Vec<u8>, one_piece: bool) -> Result<(), Errno> {
    buf.clear();
    loop {
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(buf.capacity().max(4096));
        }
        let (offset, room) = (buf.len() as u64, buf.capacity() - buf.len());
        let n = rustix::io::pread(fd, rustix::buffer::spare_capacity(buf), offset)?;
        if n == 0 || one_piece && n < room {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_file_reads_its_new_content_every_time() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("stat");
        std::fs::write(&path, "a 1\n").unwrap();
        let mut file = KeptFile::new(path.clone());
        let mut buf = String::new();
        file.read_into(&mut buf).unwrap();

        std::fs::write(&path, "a 22\n").unwrap();
        file.read_into(&mut buf).unwrap();

        assert_eq!(buf, "a 22\n");
    }

    #[test]
    fn a_seq_file_longer_than_a_page_is_read_whole() {
        // `smaps` returns one page or so per read.
        let mut file = KeptFile::new(PathBuf::from("/proc/self/smaps"));
        let mut buf = String::new();

        file.read_into(&mut buf).unwrap();
        file.read_into(&mut buf).unwrap();

        assert!(buf.len() > 16384, "{}", buf.len());
        assert!(buf.ends_with('\n'));
        assert!(buf.starts_with(|c: char| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_mount_table_reads_as_unchanged_until_something_is_mounted() {
        let mut mounts = KeptFile::new(PathBuf::from("/proc/self/mounts"));
        assert!(mounts.changed(), "not open yet");
        mounts.read_into(&mut String::new()).unwrap();

        assert!(!mounts.changed());
    }

    #[test]
    fn a_one_piece_file_is_read_whole_even_past_the_first_buffer() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("stat");
        let content = "cpu 1 2 3\n".repeat(2000);
        std::fs::write(&path, &content).unwrap();
        let mut file = KeptFile::one_piece(path);
        let mut buf = String::new();

        file.read_into(&mut buf).unwrap();

        assert_eq!(buf, content);
    }

    #[test]
    fn a_missing_file_is_a_not_found_read_error_naming_it() {
        let mut file = KeptFile::new(PathBuf::from("/proc/no-such-file"));

        let err = file.read_into(&mut String::new()).unwrap_err();

        assert!(err.is_not_found());
        assert!(err.to_string().contains("/proc/no-such-file"), "{err}");
    }
}
