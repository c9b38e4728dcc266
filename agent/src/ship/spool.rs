//! The disk spool: batches the server did not take yet, one file per batch named by its
//! zero-padded sequence number (`00000000000000000042.batch`, the gzip'd OTLP body), written
//! durably. It is bounded in bytes and drops its oldest batches first when full. On open it picks
//! up whatever an earlier run left.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::state::write_durably;

/// The file name suffix of spooled batches.
pub const BATCH_SUFFIX: &str = ".batch";

/// One spooled batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    seq: u64,
    bytes: u64,
}

/// What happened when a batch was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Older batches dropped to make room.
    pub evicted: u64,
    /// False when the batch alone is larger than the whole spool and was not kept.
    pub kept: bool,
}

/// Spooled batches, oldest first, with their total size.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
}

impl Spool {
    /// Opens the spool in `dir` (which must exist), picking up batches left by an earlier run and
    /// removing temporary files a crash left behind.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        let mut entries = Vec::new();
        for dirent in fs::read_dir(dir)? {
            let dirent = dirent?;
            let name = dirent.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(dirent.path());
            } else if let Some(seq) = seq_of(&name) {
                let bytes = dirent.metadata()?.len();
                entries.push(Entry { seq, bytes });
            }
        }
        entries.sort_by_key(|e| e.seq);
        let bytes = entries.iter().map(|e| e.bytes).sum();
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            entries: entries.into(),
            bytes,
        })
    }

    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of spooled batches.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Total size of the spooled batches in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The newest spooled sequence number.
    pub(crate) fn newest(&self) -> Option<u64> {
        self.entries.back().map(|e| e.seq)
    }

    /// The oldest spooled sequence number, the next one to replay.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.entries.front().map(|e| e.seq)
    }

    /// The file of batch `seq`.
    pub(crate) fn path_of(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{BATCH_SUFFIX}"))
    }

    /// Adds batch `seq` (newer than every spooled one) durably, first dropping the oldest batches
    /// until it fits. A failed write leaves the spool as it was, apart from what was evicted.
    pub(crate) fn push(&mut self, seq: u64, body: &[u8]) -> io::Result<Pushed> {
        let size = body.len() as u64;
        if size > self.max_bytes {
            return Ok(Pushed {
                evicted: 0,
                kept: false,
            });
        }
        let mut evicted = 0;
        while self.bytes + size > self.max_bytes {
            self.pop_oldest()?;
            evicted += 1;
        }
        let name = format!("{seq:020}{BATCH_SUFFIX}");
        write_durably(&self.dir, &name, body)?;
        self.entries.push_back(Entry { seq, bytes: size });
        self.bytes += size;
        Ok(Pushed {
            evicted,
            kept: true,
        })
    }

    /// Reads the oldest batch's body.
    pub(crate) fn read_oldest(&self) -> Option<(u64, io::Result<Vec<u8>>)> {
        let seq = self.oldest()?;
        Some((seq, fs::read(self.path_of(seq))))
    }

    /// Forgets the oldest batch and deletes its file. The entry is forgotten even when the file
    /// cannot be deleted, so one stuck file cannot stop the spool; the error is still returned.
    pub(crate) fn pop_oldest(&mut self) -> io::Result<()> {
        let entry = self.entries.pop_front();
        self.delete(entry)
    }

    /// Forgets the newest batch and deletes its file, as [`Spool::pop_oldest`] does the oldest.
    pub(crate) fn pop_newest(&mut self) -> io::Result<()> {
        let entry = self.entries.pop_back();
        self.delete(entry)
    }

    fn delete(&mut self, entry: Option<Entry>) -> io::Result<()> {
        let Some(entry) = entry else {
            return Ok(());
        };
        self.bytes = self.bytes.saturating_sub(entry.bytes);
        match fs::remove_file(self.path_of(entry.seq)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// The sequence number of a spool file name, `None` for anything else.
fn seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(BATCH_SUFFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|d| {
                d.expect("dirent")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pushed_batches_are_files_named_by_zero_padded_sequence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 1000).expect("open");

        spool.push(7, b"seven").expect("push");
        spool.push(12, b"twelve").expect("push");

        assert_eq!(
            files(dir.path()),
            ["00000000000000000007.batch", "00000000000000000012.batch"]
        );
        assert_eq!((spool.len(), spool.bytes()), (2, 11));
        assert_eq!(
            spool.read_oldest().map(|(s, b)| (s, b.ok())),
            Some((7, Some(b"seven".to_vec())))
        );
    }

    #[test]
    fn a_full_spool_drops_its_oldest_batches_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 250).expect("open");
        spool.push(1, &[0; 100]).expect("push");
        spool.push(2, &[0; 100]).expect("push");

        let pushed = spool.push(3, &[0; 100]).expect("push");

        assert_eq!(
            pushed,
            Pushed {
                evicted: 1,
                kept: true
            }
        );
        assert_eq!((spool.oldest(), spool.newest()), (Some(2), Some(3)));
        assert_eq!(spool.bytes(), 200);
        assert_eq!(files(dir.path()).len(), 2);
    }

    #[test]
    fn a_batch_larger_than_the_whole_spool_is_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 50).expect("open");
        spool.push(1, &[0; 10]).expect("push");

        let pushed = spool.push(2, &[0; 51]).expect("push");

        assert_eq!(
            pushed,
            Pushed {
                evicted: 0,
                kept: false
            }
        );
        assert_eq!(spool.len(), 1);
    }

    #[test]
    fn reopening_picks_up_batches_in_order_and_ignores_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 1000).expect("open");
        spool.push(9, b"nine").expect("push");
        spool.push(10, b"ten").expect("push");
        fs::write(dir.path().join("notes.txt"), "x").expect("write");
        fs::write(dir.path().join(".00000000000000000011.batch.tmp"), "x").expect("write");

        let reopened = Spool::open(dir.path(), 1000).expect("reopen");

        assert_eq!((reopened.oldest(), reopened.newest()), (Some(9), Some(10)));
        assert_eq!(reopened.bytes(), 7);
        assert!(!dir.path().join(".00000000000000000011.batch.tmp").exists());
    }

    #[test]
    fn popping_deletes_the_oldest_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 1000).expect("open");
        spool.push(1, b"a").expect("push");
        spool.push(2, b"b").expect("push");

        spool.pop_oldest().expect("pop");

        assert_eq!(files(dir.path()), ["00000000000000000002.batch"]);
        assert_eq!(spool.oldest(), Some(2));
    }

    #[test]
    fn popping_the_newest_deletes_only_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 1000).expect("open");
        spool.push(1, b"a").expect("push");
        spool.push(2, b"bb").expect("push");

        spool.pop_newest().expect("pop");

        assert_eq!(files(dir.path()), ["00000000000000000001.batch"]);
        assert_eq!((spool.newest(), spool.bytes()), (Some(1), 1));
    }
}
