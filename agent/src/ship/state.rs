//! What the agent remembers across restarts in its spool directory: its id (`agent-id`, a UUID v4
//! made on first start) and the next batch sequence number (`seq`). Both are written to a temporary
//! file, fsync'd, renamed into place and the directory fsync'd, so a crash leaves the old or the new
//! value, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::ShipError;

/// The file holding the agent's id.
pub const AGENT_ID_FILE: &str = "agent-id";
/// The file holding the next batch sequence number.
pub const SEQ_FILE: &str = "seq";

/// The agent's id and its batch sequence, persisted in the spool directory.
#[derive(Debug)]
pub(crate) struct AgentState {
    dir: PathBuf,
    agent_id: String,
    next_seq: u64,
}

impl AgentState {
    /// Loads (or creates) the id and sequence in `dir`. The sequence never goes below `floor`
    /// (one past the newest spooled batch), so even a lost `seq` file cannot reuse a number that
    /// is still waiting in the spool.
    pub(crate) fn open(dir: &Path, floor: u64) -> Result<Self, ShipError> {
        let agent_id = load_or_create_id(dir)?;
        let next_seq = load_seq(dir)?.unwrap_or(1).max(floor).max(1);
        Ok(Self {
            dir: dir.to_path_buf(),
            agent_id,
            next_seq,
        })
    }

    /// The agent's id.
    pub(crate) fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The sequence number [`AgentState::take_seq`] hands out next.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Hands out the next sequence number after durably recording the one after it, so a restart
    /// continues past it even if the batch never left the machine.
    pub(crate) fn take_seq(&mut self) -> io::Result<u64> {
        let seq = self.next_seq;
        let next = seq
            .checked_add(1)
            .ok_or_else(|| io::Error::other("sequence exhausted"))?;
        write_durably(&self.dir, SEQ_FILE, format!("{next}\n").as_bytes())?;
        self.next_seq = next;
        Ok(seq)
    }
}

fn load_or_create_id(dir: &Path) -> Result<String, ShipError> {
    let path = dir.join(AGENT_ID_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Uuid::parse_str(text.trim())
            .map(|id| id.to_string())
            .map_err(|e| ShipError::state(&path, format!("not a UUID: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = Uuid::new_v4().to_string();
            write_durably(dir, AGENT_ID_FILE, format!("{id}\n").as_bytes())
                .map_err(|e| ShipError::io(&path, e))?;
            tracing::info!(agent_id = %id, path = %path.display(), "created a new agent id");
            Ok(id)
        }
        Err(e) => Err(ShipError::io(&path, e)),
    }
}

fn load_seq(dir: &Path) -> Result<Option<u64>, ShipError> {
    let path = dir.join(SEQ_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|e| ShipError::state(&path, format!("not a sequence number: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ShipError::io(&path, e)),
    }
}

/// Writes `bytes` to `dir/name` so that a crash leaves either the old file or the whole new one:
/// temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_directory_gets_a_uuid_and_starts_at_one() {
        let dir = tempfile::tempdir().expect("tempdir");

        let mut state = AgentState::open(dir.path(), 0).expect("open");

        assert!(Uuid::parse_str(state.agent_id()).is_ok());
        assert_eq!(state.take_seq().expect("seq"), 1);
        assert_eq!(state.take_seq().expect("seq"), 2);
    }

    #[test]
    fn reopening_keeps_the_id_and_continues_the_sequence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut first = AgentState::open(dir.path(), 0).expect("open");
        first.take_seq().expect("seq");
        first.take_seq().expect("seq");

        let mut second = AgentState::open(dir.path(), 0).expect("reopen");

        assert_eq!(second.agent_id(), first.agent_id());
        assert_eq!(second.take_seq().expect("seq"), 3);
    }

    #[test]
    fn the_sequence_never_falls_below_the_spooled_floor() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(SEQ_FILE), "4\n").expect("write");

        let mut state = AgentState::open(dir.path(), 10).expect("open");

        assert_eq!(state.take_seq().expect("seq"), 10);
    }

    #[test]
    fn a_corrupt_seq_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(SEQ_FILE), "twelve").expect("write");

        let err = AgentState::open(dir.path(), 0).expect_err("corrupt");

        assert!(err.to_string().contains("seq"), "{err}");
        assert!(err.to_string().contains("not a sequence number"), "{err}");
    }

    #[test]
    fn durable_writes_leave_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");

        write_durably(dir.path(), "x", b"hello").expect("write");

        assert_eq!(fs::read(dir.path().join("x")).expect("read"), b"hello");
        assert!(!dir.path().join(".x.tmp").exists());
    }
}
