//! The head: per series, the chunk being appended, full chunks not yet checkpointed, and the
//! newest sample, against which out-of-order and duplicate samples are judged.

use super::chunk::{self, ChunkEncoder, ChunkError};
use crate::model::Sample;

/// A chunk is closed after this many samples (one hour at a 15 s interval); sized so that chunk
/// payload plus row overhead stays under 2 bytes a sample.
pub const CHUNK_SAMPLES: usize = 240;

/// …or when its samples would span more than this, so a range query knows how far back to look.
pub const CHUNK_SPAN_MS: i64 = 3 * 3600 * 1000;

/// What the store does with one incoming sample, as Prometheus' append path decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Newer than the newest sample: stored.
    Append,
    /// Older than the newest sample: dropped and counted.
    OutOfOrder,
    /// Same timestamp, other value: dropped and counted.
    Duplicate,
    /// Same timestamp, same value bits: silently dropped.
    Same,
}

/// Judges sample `(t, v)` against the series' newest `(t, bits)`.
pub fn judge(last: Option<(i64, u64)>, t: i64, v: f64) -> Verdict {
    match last {
        Some((lt, _)) if t < lt => Verdict::OutOfOrder,
        Some((lt, lv)) if t == lt && v.to_bits() == lv => Verdict::Same,
        Some((lt, _)) if t == lt => Verdict::Duplicate,
        _ => Verdict::Append,
    }
}

/// A chunk as the `chunks` table stores it: `(min_t, max_t, data)`.
pub type ChunkRow = (i64, i64, Vec<u8>);

/// A closed chunk waiting for the next checkpoint.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// First timestamp.
    pub min_t: i64,
    /// Last timestamp.
    pub max_t: i64,
    /// Encoded chunk.
    pub data: Box<[u8]>,
}

/// A series' chunks changed since the last checkpoint, copied out of the head.
#[derive(Debug)]
pub struct Dirty {
    /// Sealed chunks, as stored.
    pub sealed: Vec<ChunkRow>,
    /// The open chunk's encoder bytes, not yet compacted, when it is to be stored compacted.
    pub open: Option<ChunkRow>,
    /// The newest sample when copied.
    pub last: Option<(i64, u64)>,
    /// How the open chunk is to be stored.
    pub open_as: OpenChunk,
}

impl Dirty {
    /// What [`HeadSeries::checkpointed`] needs once these chunks are stored.
    pub fn stored(&self) -> Stored {
        Stored {
            sealed: self.sealed.len(),
            last: self.last,
            open_as: self.open_as,
        }
    }

    /// The `chunks` rows to store: the sealed chunks, then the open one compacted if it goes
    /// there.
    pub fn into_rows(self) -> Vec<ChunkRow> {
        let mut rows = self.sealed;
        if let Some((min_t, max_t, bytes)) = self.open {
            let data = chunk::decode(&bytes).map_or(bytes, |s| chunk::compact(&s));
            rows.push((min_t, max_t, data));
        }
        rows
    }
}

/// How a checkpoint stores a series' open chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenChunk {
    /// Compacted into its own `chunks` row, as a sealed chunk is: for an explicit checkpoint
    /// (whose chunks are measured).
    Compacted,
    /// As the encoder wrote it, with the rest of its slice of series, in one `open_chunks` row
    /// ([`super::open_chunks`]): for the checkpoints beside appends, at close and before
    /// retention. The next one replaces it; compacting it, and a row per series, cost a
    /// checkpoint of a million series most of its time.
    AsWritten,
}

/// What a checkpoint stored of one series: how many sealed chunks, as of which newest sample.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    sealed: usize,
    last: Option<(i64, u64)>,
    open_as: OpenChunk,
}

/// How a series' chunks on disk stand against its head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum OnDisk {
    /// Every chunk stored, the open one (if any) compacted in `chunks`.
    #[default]
    Current,
    /// Every chunk stored, the open one as written in `open_chunks`: a compacting checkpoint
    /// rewrites it.
    OpenAsWritten,
    /// Samples came since the last checkpoint.
    Behind,
}

/// One series' in-memory state.
#[derive(Debug, Default)]
pub struct HeadSeries {
    /// Newest sample `(t, value bits)`, in the head or on disk.
    pub last: Option<(i64, u64)>,
    /// Oldest timestamp known for the series (coarse: retention may have removed it since).
    pub first_t: Option<i64>,
    open: ChunkEncoder,
    sealed: Vec<Sealed>,
    on_disk: OnDisk,
}

impl HeadSeries {
    /// Appends a sample already judged [`Verdict::Append`].
    pub fn append(&mut self, t: i64, v: f64) {
        if !self.open.is_empty()
            && (self.open.len() >= CHUNK_SAMPLES || t - self.open.min_t() > CHUNK_SPAN_MS)
        {
            self.seal();
        }
        self.open.push(t, v);
        self.last = Some((t, v.to_bits()));
        self.first_t.get_or_insert(t);
        self.on_disk = OnDisk::Behind;
    }

    /// Reads what [`HeadSeries::append`] reads first, only to bring it into the cache: a pass
    /// over many series' `warm` overlaps their cache misses, where appends one after another
    /// each wait on their own.
    pub fn warm(&self) -> u8 {
        self.open.last_byte()
    }

    fn seal(&mut self) {
        let full = std::mem::take(&mut self.open);
        // The XOR bytes just came from the encoder, so they decode; fall back to them regardless.
        let data =
            chunk::decode(&full.bytes()).map_or_else(|_| full.bytes(), |s| chunk::compact(&s));
        self.sealed.push(Sealed {
            min_t: full.min_t(),
            max_t: full.max_t(),
            data: data.into_boxed_slice(),
        });
    }

    /// Restores the series from its newest chunk on disk at open: a partial chunk, or one in the
    /// stream encoding (from a database older than packed chunks and `open_chunks`), becomes the
    /// open chunk again (and replaces its disk copy once stored again, compacted by a compacting
    /// checkpoint).
    pub fn restore(&mut self, first_t: i64, last_chunk: &[u8]) -> Result<(), ChunkError> {
        let samples = chunk::decode(last_chunk)?;
        self.first_t = Some(first_t);
        if let Some(s) = samples.last() {
            self.last = Some((s.t, s.v.to_bits()));
        }
        let as_written = last_chunk.first() == Some(&(chunk::Encoding::Xor as u8));
        if samples.len() < CHUNK_SAMPLES || as_written {
            for s in &samples {
                self.open.push(s.t, s.v);
            }
        }
        if as_written {
            self.on_disk = OnDisk::OpenAsWritten;
        }
        Ok(())
    }

    /// Restores the open chunk a checkpoint beside appends left in `open_chunks` (`data`), after
    /// [`HeadSeries::restore`] when the series has chunk rows (the newest spanning `newest_row`):
    /// it is the open chunk when it starts after that row (which stays closed on disk) or is the
    /// same chunk with newer samples; otherwise it was sealed and stored since, and is left.
    pub fn restore_open(
        &mut self,
        newest_row: Option<(i64, i64)>,
        data: &[u8],
    ) -> Result<(), ChunkError> {
        let samples = chunk::decode(data)?;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return Ok(());
        };
        let newer = match newest_row {
            None => true,
            Some((min_t, max_t)) => first.t > max_t || (first.t == min_t && last.t > max_t),
        };
        if !newer {
            return Ok(());
        }
        self.open = ChunkEncoder::new();
        for s in &samples {
            self.open.push(s.t, s.v);
        }
        self.first_t = Some(self.first_t.map_or(first.t, |f| f.min(first.t)));
        self.last = Some((last.t, last.v.to_bits()));
        self.on_disk = OnDisk::OpenAsWritten;
        Ok(())
    }

    /// Timestamp from which the head holds every sample of the series (`i64::MAX` when the
    /// head holds none, `i64::MIN` when it holds them all since the first): chunks on disk
    /// starting earlier are read from disk, later ones from here.
    pub fn min_t(&self) -> i64 {
        let held = match (self.sealed.first(), self.open.is_empty()) {
            (Some(s), _) => s.min_t,
            (None, false) => self.open.min_t(),
            (None, true) => i64::MAX,
        };
        // No sample is older than the first, so a read reaching back past it needs no disk.
        match self.first_t {
            Some(first) if first >= held => i64::MIN,
            _ => held,
        }
    }

    /// Whether the series may have samples in `[start, end]` (from its first and newest times).
    pub fn may_overlap(&self, start: i64, end: i64) -> bool {
        match (self.first_t, self.last) {
            (Some(first), Some((last, _))) => first <= end && last >= start,
            _ => false,
        }
    }

    /// Decodes the head's samples within `[start, end]` onto `out`.
    pub fn samples_in(
        &self,
        start: i64,
        end: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), ChunkError> {
        for s in &self.sealed {
            if s.max_t >= start && s.min_t <= end {
                chunk::decode_range(&s.data, start, end, out)?;
            }
        }
        if !self.open.is_empty() && self.open.max_t() >= start && self.open.min_t() <= end {
            self.open.read_range(start, end, out)?;
        }
        Ok(())
    }

    /// What changed since the last checkpoint, copied so that it can be stored while appends go
    /// on, with the open chunk when it is to be stored [`OpenChunk::Compacted`] (the slice's
    /// `open_chunks` row takes it [`OpenChunk::AsWritten`], from [`HeadSeries::open_chunk`]);
    /// `None` when nothing changed (and, for a compacting checkpoint, the stored open chunk is
    /// compacted).
    pub fn dirty(&self, open_as: OpenChunk) -> Option<Dirty> {
        let stale = match self.on_disk {
            OnDisk::Current => false,
            OnDisk::OpenAsWritten => open_as == OpenChunk::Compacted,
            OnDisk::Behind => true,
        };
        if !stale {
            return None;
        }
        let sealed = self
            .sealed
            .iter()
            .map(|s| (s.min_t, s.max_t, s.data.to_vec()))
            .collect();
        let open = (open_as == OpenChunk::Compacted && !self.open.is_empty())
            .then(|| (self.open.min_t(), self.open.max_t(), self.open.bytes()));
        Some(Dirty {
            sealed,
            open,
            last: self.last,
            open_as,
        })
    }

    /// Forgets what a checkpoint stored from [`HeadSeries::dirty`]: its `sealed` oldest sealed
    /// chunks (later ones were sealed since), and that the disk is behind unless a sample came
    /// since (every append moves `last`).
    pub fn checkpointed(&mut self, stored: &Stored) {
        self.sealed.drain(..stored.sealed.min(self.sealed.len()));
        if self.last == stored.last {
            self.on_disk = match stored.open_as {
                OpenChunk::AsWritten if !self.open.is_empty() => OnDisk::OpenAsWritten,
                _ => OnDisk::Current,
            };
        }
    }

    /// The open chunk, unless empty.
    pub fn open_chunk(&self) -> Option<&ChunkEncoder> {
        (!self.open.is_empty()).then_some(&self.open)
    }

    /// True when the newest sample is older than `cutoff` (or there is none).
    pub fn expired(&self, cutoff: i64) -> bool {
        self.last.is_none_or(|(t, _)| t < cutoff)
    }

    /// Heap bytes held by the chunks, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.open.heap_bytes() + self.sealed.iter().map(|s| s.data.len()).sum::<usize>()
    }

    /// True when the series received a sample at or after `since`.
    pub fn active_since(&self, since: i64) -> bool {
        self.last.is_some_and(|(t, _)| t >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_prometheus_append_rules() {
        // Arrange
        let last = Some((10, 1.0f64.to_bits()));

        // Act
        let verdicts = [
            judge(last, 9, 1.0),
            judge(last, 10, 1.0),
            judge(last, 10, 2.0),
            judge(last, 11, 0.0),
        ];

        // Assert
        assert_eq!(
            verdicts,
            [
                Verdict::OutOfOrder,
                Verdict::Same,
                Verdict::Duplicate,
                Verdict::Append
            ]
        );
        assert_eq!(judge(None, i64::MIN, 0.0), Verdict::Append);
    }

    #[test]
    fn a_checkpoint_forgets_only_what_it_stored() {
        // Arrange: two sealed chunks copied, then a third sealed and more samples appended.
        let mut head = HeadSeries::default();
        let mut t = 0;
        let mut push = |head: &mut HeadSeries, n: usize| {
            for _ in 0..n {
                head.append(t, t as f64);
                t += 15_000;
            }
        };
        push(&mut head, CHUNK_SAMPLES * 2 + 1);
        let stored = head.dirty(OpenChunk::Compacted).expect("dirty").stored();
        push(&mut head, CHUNK_SAMPLES);

        // Act
        head.checkpointed(&stored);

        // Assert: the chunk sealed since is kept, and the series stays dirty.
        let rest = head.dirty(OpenChunk::Compacted).expect("still dirty");
        assert_eq!(rest.sealed.len(), 1);
        assert_eq!(rest.sealed[0].0, (CHUNK_SAMPLES as i64 * 2) * 15_000);
        assert_eq!(head.min_t(), rest.sealed[0].0);
        let stored = rest.stored();
        head.checkpointed(&stored);
        assert!(head.dirty(OpenChunk::Compacted).is_none());
    }

    #[test]
    fn a_checkpoint_beside_appends_leaves_the_open_chunk_to_a_compacting_one() {
        // Arrange: a full open chunk, stored as written by a checkpoint beside appends.
        let mut head = HeadSeries::default();
        for i in 0..CHUNK_SAMPLES as i64 {
            head.append(i * 15_000, i as f64 * 0.5);
        }
        let as_written = head.dirty(OpenChunk::AsWritten).expect("dirty");

        // Act
        head.checkpointed(&as_written.stored());

        // Assert
        assert!(as_written.into_rows().is_empty(), "no chunks row for it");
        assert!(head.dirty(OpenChunk::AsWritten).is_none());
        let compacted = head.dirty(OpenChunk::Compacted).expect("to compact");
        let rows = compacted.into_rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].2[0], chunk::Encoding::Packed as u8);
    }

    /// A series appended `n` samples 15 s apart from `from` (ms).
    fn appended(from: i64, n: i64) -> HeadSeries {
        let mut head = HeadSeries::default();
        for i in 0..n {
            head.append(from + i * 15_000, i as f64);
        }
        head
    }

    #[test]
    fn an_open_chunk_restores_unless_a_newer_row_holds_it() {
        // Arrange: an open chunk of 10 samples from t = 1 h as written; its first 5 samples
        // compacted as a row of the same chunk; and a row of an earlier, closed chunk.
        let open = appended(3_600_000, 10).open_chunk().expect("open").bytes();
        let same_chunk_older = (3_600_000, 3_600_000 + 4 * 15_000);
        let same_chunk_newer = (3_600_000, 3_600_000 + 20 * 15_000);
        let earlier = (0, 3_000_000);
        let later = (7_200_000, 7_300_000);

        // Act
        let restored = |row: Option<(i64, i64)>| {
            let mut head = HeadSeries::default();
            head.restore_open(row, &open).expect("restore");
            head.last.map(|(t, _)| t)
        };

        // Assert: the open chunk when newer; left when a row holds it or later samples.
        let open_last = Some(3_600_000 + 9 * 15_000);
        assert_eq!(restored(None), open_last);
        assert_eq!(restored(Some(earlier)), open_last);
        assert_eq!(restored(Some(same_chunk_older)), open_last);
        assert_eq!(restored(Some(same_chunk_newer)), None);
        assert_eq!(restored(Some(later)), None);
    }

    #[test]
    fn full_chunks_are_sealed_and_every_sample_stays_readable() {
        // Arrange
        let mut head = HeadSeries::default();

        // Act
        for i in 0..(CHUNK_SAMPLES as i64 * 2 + 5) {
            head.append(i * 15_000, i as f64);
        }
        let mut out = Vec::new();
        head.samples_in(15_000, i64::MAX, &mut out).expect("decode");

        // Assert
        assert_eq!(
            head.dirty(OpenChunk::Compacted)
                .expect("dirty")
                .into_rows()
                .len(),
            3
        );
        assert_eq!(out.len(), CHUNK_SAMPLES * 2 + 4);
        assert_eq!(head.min_t(), i64::MIN, "the head holds the series whole");
    }

    #[test]
    fn the_head_names_where_disk_reads_start_once_a_checkpoint_took_its_sealed_chunks() {
        // Arrange: two sealed chunks and an open one, then a checkpoint of them all.
        let mut head = HeadSeries::default();
        for i in 0..(CHUNK_SAMPLES as i64 * 2 + 5) {
            head.append(i * 15_000, i as f64);
        }
        let stored = head.dirty(OpenChunk::AsWritten).expect("dirty").stored();

        // Act
        head.checkpointed(&stored);

        // Assert: the open chunk's start, past which the head holds every sample.
        assert_eq!(head.min_t(), CHUNK_SAMPLES as i64 * 2 * 15_000);
    }
}
