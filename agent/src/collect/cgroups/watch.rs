//! Knowing that the walked hierarchy changed without walking it. A cgroup is created and removed
//! only by `mkdir` and `rmdir`, which inotify reports on the parent directory; so an inotify
//! watch on every directory the last walk listed (not on containers' own directories, whose
//! children are not walked) tells whether the next pass must walk again. Most passes then skip
//! the walk, a fifth of the cost of 500 containers and a tenth of a quiet host's collection.

use std::path::Path;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;

/// An inotify instance watching the directories of one walk for sub-directories created,
/// removed or moved.
#[derive(Debug)]
pub struct Watch {
    fd: std::os::fd::OwnedFd,
    /// False when a directory of the last walk could not be watched (the per-user watch limit):
    /// changes below it would go unseen, so every pass walks until a walk watches everything.
    complete: bool,
}

impl Watch {
    /// A new instance; `None` when the kernel refuses one (instance limit, no inotify), and the
    /// collector then walks every pass.
    pub fn new() -> Option<Self> {
        match inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC) {
            Ok(fd) => Some(Self { fd, complete: true }),
            Err(e) => {
                tracing::debug!(error = %e, "no inotify instance: the cgroup walk runs every pass");
                None
            }
        }
    }

    /// Starts a walk: everything it lists is watched afresh (a directory watched already keeps
    /// its watch; the watch of a removed one goes with it).
    pub fn begin(&mut self) {
        self.complete = true;
    }

    /// Watches `dir` for sub-directories created, removed or moved in or out. Called before the
    /// directory is listed, so a cgroup created in between is either listed or reported.
    pub fn add(&mut self, dir: &Path) {
        let flags = WatchFlags::CREATE
            | WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::MOVED_TO
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR;
        match inotify::add_watch(&self.fd, dir, flags) {
            Ok(_) => {}
            // Gone since it was listed: its parent's watch reports that.
            Err(Errno::NOENT) => {}
            Err(_) => self.complete = false,
        }
    }

    /// True when something changed below the watched directories since the last call (or they
    /// could not all be watched); reads and drops the pending events.
    pub fn changed(&mut self) -> bool {
        let mut seen = !self.complete;
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(0) => return seen,
                Ok(_) => seen = true,
                Err(Errno::AGAIN) => return seen,
                Err(Errno::INTR) => {}
                // An unreadable instance cannot vouch for anything.
                Err(_) => return true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_created_or_removed_below_a_watched_one_is_a_change_once() {
        // Arrange
        let tmp = tempfile::tempdir().unwrap();
        let mut watch = Watch::new().unwrap();
        watch.begin();
        watch.add(tmp.path());
        assert!(!watch.changed());

        // Act / Assert
        std::fs::create_dir(tmp.path().join("pod")).unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        std::fs::remove_dir(tmp.path().join("pod")).unwrap();
        assert!(watch.changed());
    }

    #[test]
    fn a_directory_that_cannot_be_watched_makes_every_pass_a_change() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("file"), "").unwrap();
        let mut watch = Watch::new().unwrap();
        watch.begin();

        watch.add(&tmp.path().join("file"));

        assert!(watch.changed());
        assert!(watch.changed());
    }
}
