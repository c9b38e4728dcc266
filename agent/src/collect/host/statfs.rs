//! `statvfs` that cannot hold up a collection. On a network filesystem whose server is gone (an
//! NFS hard mount, CIFS) `statvfs` blocks in the kernel, possibly for ever; so for the types that
//! can do that the call runs on a thread of its own and the pass waits at most [`TIMEOUT`]. A
//! mount whose call has not returned is skipped, and reported, until it does, as node_exporter
//! does with its "stuck mounts". Local filesystems are called inline: a thread per call would
//! cost more than the call.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rustix::fs::StatVfs;

/// How long a pass waits for the `statvfs` of one network filesystem.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The call made (the real `statvfs`, or a fake in tests).
pub type Call = fn(&Path) -> io::Result<StatVfs>;

/// `statvfs` with a deadline for filesystems that can hang.
#[derive(Debug)]
pub struct Statfs {
    call: Call,
    timeout: Duration,
    /// Mount points whose call is still running (stuck once it outlived the deadline).
    in_flight: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Default for Statfs {
    fn default() -> Self {
        Self::with(
            |path| rustix::fs::statvfs(path).map_err(Into::into),
            TIMEOUT,
        )
    }
}

impl Statfs {
    /// Makes `call`, waiting at most `timeout` for filesystems that can hang.
    pub fn with(call: Call, timeout: Duration) -> Self {
        Self {
            call,
            timeout,
            in_flight: Arc::default(),
        }
    }

    /// The `statvfs` of `path`, a filesystem of type `fstype`; a `TimedOut` error when the call
    /// did not return in time or an earlier one on `path` still has not.
    pub fn statvfs(&self, path: &Path, fstype: &str) -> io::Result<StatVfs> {
        if may_hang(fstype) {
            self.guarded(path)
        } else {
            (self.call)(path)
        }
    }

    /// The call on a thread of its own, awaited until the deadline.
    fn guarded(&self, path: &Path) -> io::Result<StatVfs> {
        if !lock(&self.in_flight).insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "an earlier statvfs has not returned: skipped until it does",
            ));
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let (call, owned, in_flight) = (self.call, path.to_path_buf(), self.in_flight.clone());
        let spawned = std::thread::Builder::new()
            .name("statvfs".into())
            .spawn(move || {
                let result = call(&owned);
                // Out of the set before the answer, so a caller that got it may call again.
                lock(&in_flight).remove(&owned);
                _ = tx.send(result);
            });
        if let Err(e) = spawned {
            lock(&self.in_flight).remove(path);
            return Err(e);
        }
        rx.recv_timeout(self.timeout).unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("statvfs did not return within {:?}", self.timeout),
            ))
        })
    }
}

/// True for filesystem types whose `statvfs` waits on a server or a user-space daemon.
fn may_hang(fstype: &str) -> bool {
    const NETWORK: &[&str] = &[
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "glusterfs",
        "9p",
        "afs",
        "lustre",
        "davfs",
        "fuse",
    ];
    NETWORK.contains(&fstype) || fstype.starts_with("fuse.")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Held by the test while the fake NFS server is "down".
    static SERVER_DOWN: Mutex<()> = Mutex::new(());
    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn hangs_while_the_server_is_down(_: &Path) -> io::Result<StatVfs> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        drop(lock(&SERVER_DOWN));
        rustix::fs::statvfs("/").map_err(Into::into)
    }

    #[test]
    fn a_hung_nfs_statvfs_times_out_and_its_mount_is_skipped_until_the_call_returns() {
        // Arrange
        let down = lock(&SERVER_DOWN);
        let statfs = Statfs::with(hangs_while_the_server_is_down, Duration::from_millis(50));
        let mount = Path::new("/mnt/nfs");

        // Act: the first call times out, the second is not even made.
        let started = Instant::now();
        let first = statfs.statvfs(mount, "nfs4").err().expect("timed out");
        let second = statfs.statvfs(mount, "nfs4").err().expect("skipped");

        // Assert
        assert_eq!(first.kind(), io::ErrorKind::TimedOut);
        assert_eq!(second.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);

        // Act / Assert: once the server answers, the mount is read again.
        drop(down);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !lock(&statfs.in_flight).is_empty() {
            assert!(Instant::now() < deadline, "the hung call never returned");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(statfs.statvfs(mount, "nfs4").is_ok());
        assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_network_and_fuse_filesystems_are_called_on_a_thread() {
        assert!(may_hang("nfs4") && may_hang("cifs") && may_hang("fuse.sshfs"));
        assert!(!may_hang("ext4") && !may_hang("xfs") && !may_hang("tmpfs"));
    }
}
