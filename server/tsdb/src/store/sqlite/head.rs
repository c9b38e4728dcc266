//! The head: per series, the chunk being appended, full chunks not yet checkpointed, and the
//! newest sample, against which out-of-order and duplicate samples are judged.

use super::chunk::{self, ChunkEncoder, ChunkError};
use super::stream::{ColdChunk, chunk_bytes};
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
    /// A sealed chunk whose stream starts in the series' `open_chunks` entry: compacted into a
    /// `chunks` row once joined to it.
    pub cold: Option<Part>,
    /// The open chunk, to be compacted into a `chunks` row ([`OpenChunk::Compacted`]).
    pub open: Option<Part>,
    /// What the series' `open_chunks` entry takes of its open chunk ([`OpenChunk::AsWritten`]).
    pub row: Option<HeadRow>,
    /// The newest sample when copied.
    pub last: Option<(i64, u64)>,
    /// How the open chunk is to be stored.
    pub open_as: OpenChunk,
}

/// A chunk's stream as the head holds it: whole, or from byte `base` on (the rest is in the
/// series' `open_chunks` entry).
#[derive(Debug)]
pub struct Part {
    /// First timestamp.
    pub min_t: i64,
    /// Last timestamp.
    pub max_t: i64,
    /// Samples.
    pub count: u16,
    /// Stream bytes not held (0: whole).
    pub base: usize,
    /// The stream from `base` on.
    pub tail: Vec<u8>,
}

impl Part {
    fn of(chunk: &ChunkEncoder) -> Self {
        Self {
            min_t: chunk.min_t(),
            max_t: chunk.max_t(),
            count: chunk.len() as u16,
            base: chunk.base(),
            tail: chunk.stream_from_byte(chunk.base()).to_vec(),
        }
    }

    fn of_cold(chunk: &ColdChunk) -> Self {
        Self {
            min_t: chunk.min_t(),
            max_t: chunk.max_t(),
            count: chunk.len() as u16,
            base: chunk.base(),
            tail: chunk.held().to_vec(),
        }
    }

    /// The whole chunk (in the stream encoding), its first `base` bytes from `stored` (the
    /// stream in its `open_chunks` entry); `None` when that is shorter.
    pub fn bytes(&self, stored: &[u8]) -> Option<Vec<u8>> {
        let prefix = stored.get(..self.base)?;
        Some(chunk_bytes(self.count, &[prefix, &self.tail]))
    }

    /// The `chunks` row of the whole chunk, compacted (`stored` as for [`Self::bytes`]): what
    /// the checkpoint stores, for the head's tests (the checkpoint keeps the samples too).
    #[cfg(test)]
    pub fn compacted(&self, stored: &[u8]) -> Option<ChunkRow> {
        let bytes = self.bytes(stored)?;
        let data = chunk::decode(&bytes).map_or(bytes, |s| chunk::compact(&s));
        Some((self.min_t, self.max_t, data))
    }
}

/// An open chunk's write to its series' `open_chunks` entry: its stream from byte `cut` on
/// replaces the entry's from there (the whole entry when `cut` is 0).
#[derive(Debug)]
pub struct HeadRow {
    /// The chunk's first timestamp (the entry's, checked when `cut` > 0).
    pub min_t: i64,
    /// Samples in the chunk.
    pub count: u16,
    /// Stream bytes of the entry kept (its last partial byte is rewritten).
    pub cut: usize,
    /// The stream from `cut` on.
    pub bytes: Vec<u8>,
    /// Bits of the whole stream.
    pub bits: usize,
}

impl Dirty {
    /// What [`HeadSeries::checkpointed`] needs once these chunks are stored.
    pub fn stored(&self) -> Stored {
        Stored {
            sealed: self.sealed.len(),
            cold: self.cold.as_ref().map(|c| c.min_t),
            row: self.row.as_ref().map(|r| (r.min_t, r.bits)),
            last: self.last,
            open_as: self.open_as,
        }
    }
}

/// How a checkpoint stores a series' open chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenChunk {
    /// Compacted into its own `chunks` row, as a sealed chunk is: for an explicit checkpoint
    /// (whose chunks are measured). The head then holds it whole again, and `open_chunks`
    /// is emptied.
    Compacted,
    /// As the encoder wrote it, in the series' `open_chunks` entry: the stored start joined to
    /// the part written since ([`HeadRow`]). For the checkpoints beside appends, at close and
    /// before retention: compacting it cost a checkpoint of a million series most of its time.
    /// Once stored, the head drops the start of it ([`ChunkEncoder::drop_stored`]).
    AsWritten,
}

/// What a checkpoint stored of one series: how many sealed chunks, whether the cold one, how
/// much of the open chunk (its first time and stream bits), as of which newest sample.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    sealed: usize,
    cold: Option<i64>,
    row: Option<(i64, usize)>,
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

/// One series' in-memory state. Its size is most of what a series costs the head, so the
/// newest sample and the first time are kept without `Option`'s padding (flags beside
/// `on_disk` say whether they are known) and the sealed chunks as a boxed slice.
#[derive(Debug, Default, Clone)]
pub struct HeadSeries {
    open: ChunkEncoder,
    /// Newest sample's time and value bits, in the head or on disk (when `has_last`).
    last_t: i64,
    last_v: u64,
    /// Oldest timestamp known for the series (when `has_first`; coarse: retention may have
    /// removed it since).
    first_t: i64,
    /// Closed chunks waiting for the next checkpoint: mostly none or one, so each seal or
    /// checkpoint reallocates it exactly rather than a `Vec` keeping room (and 8 bytes more).
    sealed: Box<[Sealed]>,
    /// A sealed chunk whose stream starts in the series' `open_chunks` entry, until a checkpoint
    /// joins and stores it (at most one: the open chunk after it is only cut once stored, by
    /// the checkpoint that stores this one).
    cold: Option<Box<ColdChunk>>,
    on_disk: OnDisk,
    has_last: bool,
    has_first: bool,
}

impl HeadSeries {
    /// Newest sample `(t, value bits)`, in the head or on disk.
    pub fn last(&self) -> Option<(i64, u64)> {
        self.has_last.then_some((self.last_t, self.last_v))
    }

    /// Oldest timestamp known for the series (coarse: retention may have removed it since).
    pub fn first_t(&self) -> Option<i64> {
        self.has_first.then_some(self.first_t)
    }

    fn set_last(&mut self, t: i64, v: f64) {
        (self.last_t, self.last_v, self.has_last) = (t, v.to_bits(), true);
    }

    /// Makes `t` the first time known unless an older one is.
    fn note_first(&mut self, t: i64) {
        self.first_t = if self.has_first {
            self.first_t.min(t)
        } else {
            t
        };
        self.has_first = true;
    }

    /// Appends a sample already judged [`Verdict::Append`].
    pub fn append(&mut self, t: i64, v: f64) {
        if !self.open.is_empty()
            && (self.open.len() >= CHUNK_SAMPLES || t - self.open.min_t() > CHUNK_SPAN_MS)
        {
            self.seal();
        }
        self.open.push(t, v);
        self.set_last(t, v);
        if !self.has_first {
            (self.first_t, self.has_first) = (t, true);
        }
        self.on_disk = OnDisk::Behind;
    }

    /// Reads what [`HeadSeries::append`] reads first, only to bring it into the cache: a pass
    /// over many series' `warm` overlaps their cache misses, where appends one after another
    /// each wait on their own.
    pub fn warm(&self) -> u8 {
        self.open.last_byte()
    }

    /// Closes the open chunk: compacted here when held whole, else kept as the cold chunk for
    /// the next checkpoint to join to its start on disk.
    fn seal(&mut self) {
        let full = std::mem::take(&mut self.open);
        if !full.is_whole() {
            debug_assert!(self.cold.is_none(), "one cold chunk at a time");
            self.cold = Some(Box::new(full.into_cold()));
            return;
        }
        // The XOR bytes just came from the encoder, so they decode; fall back to them regardless.
        let data =
            chunk::decode(&full.bytes()).map_or_else(|_| full.bytes(), |s| chunk::compact(&s));
        let sealed = Sealed {
            min_t: full.min_t(),
            max_t: full.max_t(),
            data: data.into_boxed_slice(),
        };
        self.change_sealed(|all| all.push(sealed));
    }

    /// Changes the sealed chunks as a `Vec`, kept again as a slice of just their length.
    fn change_sealed(&mut self, change: impl FnOnce(&mut Vec<Sealed>)) {
        let mut sealed = std::mem::take(&mut self.sealed).into_vec();
        change(&mut sealed);
        self.sealed = sealed.into_boxed_slice();
    }

    /// Restores the series from its newest chunk on disk at open: a partial chunk, or one in the
    /// stream encoding (from a database older than packed chunks and `open_chunks`), becomes the
    /// open chunk again (and replaces its disk copy once stored again, compacted by a compacting
    /// checkpoint).
    pub fn restore(&mut self, first_t: i64, last_chunk: &[u8]) -> Result<(), ChunkError> {
        let samples = chunk::decode(last_chunk)?;
        (self.first_t, self.has_first) = (first_t, true);
        if let Some(s) = samples.last() {
            self.set_last(s.t, s.v);
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

    /// Restores the open chunk a checkpoint beside appends stored in `open_chunks` (`data`, a
    /// whole stream chunk), after [`HeadSeries::restore`] when the series has chunk rows (the
    /// newest spanning `newest_row`): it is the open chunk when it starts after that row (which
    /// stays closed on disk) or is the same chunk with newer samples; otherwise it was sealed
    /// and stored since, and is left. The head then drops the start it holds on disk, unless
    /// `rewrite` (a row of an older database, holding more series than reads look in): the next
    /// checkpoint then stores it again.
    pub fn restore_open(
        &mut self,
        newest_row: Option<(i64, i64)>,
        data: &[u8],
        rewrite: bool,
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
        self.note_first(first.t);
        self.set_last(last.t, last.v);
        if rewrite {
            self.on_disk = OnDisk::Behind;
        } else {
            self.open.drop_stored(self.open.stream_bits());
            self.on_disk = OnDisk::OpenAsWritten;
        }
        Ok(())
    }

    /// Timestamp from which the head holds every sample of the series (`i64::MAX` when the
    /// head holds none, `i64::MIN` when it holds them all since the first): older samples are
    /// read from disk (`chunks`, and the `open_chunks` entry holding the start of the cold or
    /// open chunk), later ones from here.
    pub fn min_t(&self) -> i64 {
        let held = match (&self.cold, self.sealed.first(), self.open.is_empty()) {
            (Some(cold), _, _) => cold.held_from(),
            (None, Some(s), _) => s.min_t,
            (None, None, false) => self.open.held_from(),
            (None, None, true) => i64::MAX,
        };
        // No sample is older than the first, so a read reaching back past it needs no disk.
        match self.first_t() {
            Some(first) if first >= held => i64::MIN,
            _ => held,
        }
    }

    /// Whether the series may have samples in `[start, end]` (from its first and newest times).
    pub fn may_overlap(&self, start: i64, end: i64) -> bool {
        match (self.first_t(), self.last()) {
            (Some(first), Some((last, _))) => first <= end && last >= start,
            _ => false,
        }
    }

    /// Decodes the head's samples within `[start, end]` onto `out` (those from
    /// [`HeadSeries::min_t`] on).
    pub fn samples_in(
        &self,
        start: i64,
        end: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), ChunkError> {
        if let Some(cold) = &self.cold
            && cold.max_t() >= start
        {
            cold.read_range(start, end, out)?;
        }
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
    /// on: the sealed chunks, the cold one, and the open chunk as `open_as` says; `None` when
    /// nothing changed (and, for a compacting checkpoint, the stored open chunk is compacted).
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
        let open = (!self.open.is_empty()).then_some(&self.open);
        let (compact, row) = match open_as {
            OpenChunk::Compacted => (open.map(Part::of), None),
            OpenChunk::AsWritten => (None, open.map(head_row)),
        };
        Some(Dirty {
            sealed,
            cold: self.cold.as_deref().map(Part::of_cold),
            open: compact,
            row,
            last: self.last(),
            open_as,
        })
    }

    /// Forgets what a checkpoint stored from [`HeadSeries::dirty`]: its `sealed` oldest sealed
    /// chunks (later ones were sealed since), the cold chunk, the start of the open chunk it
    /// stored (unless sealed since), and that the disk is behind unless a sample came since
    /// (every append moves `last`). `whole` is the open chunk held whole again after a
    /// compacting checkpoint joined it to its start on disk (none are appended meanwhile).
    pub fn checkpointed(&mut self, stored: &Stored, whole: Option<ChunkEncoder>) {
        if stored.sealed > 0 {
            self.change_sealed(|all| drop(all.drain(..stored.sealed.min(all.len()))));
        }
        if let (Some(min_t), Some(cold)) = (stored.cold, &self.cold)
            && cold.min_t() == min_t
        {
            self.cold = None;
        }
        if let Some((min_t, bits)) = stored.row
            && !self.open.is_empty()
            && self.open.min_t() == min_t
        {
            self.open.drop_stored(bits);
        }
        if let Some(whole) = whole
            && whole.min_t() == self.open.min_t()
            && whole.len() == self.open.len()
        {
            self.open = whole;
        }
        if stored.open_as == OpenChunk::Compacted {
            // The checkpoint empties `open_chunks`.
            self.open.forget_stored();
        }
        if self.last() == stored.last {
            self.on_disk = match stored.open_as {
                OpenChunk::AsWritten if !self.open.is_empty() => OnDisk::OpenAsWritten,
                _ => OnDisk::Current,
            };
        }
    }

    /// True when the newest sample is older than `cutoff` (or there is none).
    pub fn expired(&self, cutoff: i64) -> bool {
        self.last().is_none_or(|(t, _)| t < cutoff)
    }

    /// Heap bytes held by the chunks, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.open.heap_bytes()
            + self.cold.as_ref().map_or(0, |c| c.heap_bytes())
            + self.sealed.iter().map(|s| s.data.len()).sum::<usize>()
    }

    /// True when samples older than the head's are in the series' `open_chunks` entry (the
    /// start of its cold or open chunk, which the head dropped).
    pub fn open_on_disk(&self) -> bool {
        self.cold.is_some() || !self.open.is_whole()
    }

    /// True when the series received a sample at or after `since`.
    pub fn active_since(&self, since: i64) -> bool {
        self.last().is_some_and(|(t, _)| t >= since)
    }
}

/// The write of `open` to its series' `open_chunks` entry: from the last whole byte the entry
/// holds of it, or whole when the entry holds another chunk (or none).
fn head_row(open: &ChunkEncoder) -> HeadRow {
    let cut = open.disk_bits() / 8;
    HeadRow {
        min_t: open.min_t(),
        count: open.len() as u16,
        cut,
        bytes: open.stream_from_byte(cut).to_vec(),
        bits: open.stream_bits(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_head_stays_small() {
        // Every active series holds one: 232 bytes with `Option`s for the newest sample and
        // first time and a `Vec` of sealed chunks.
        assert!(std::mem::size_of::<HeadSeries>() <= 208);
    }

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
        head.checkpointed(&stored, None);

        // Assert: the chunk sealed since is kept, and the series stays dirty.
        let rest = head.dirty(OpenChunk::Compacted).expect("still dirty");
        assert_eq!(rest.sealed.len(), 1);
        assert_eq!(rest.sealed[0].0, (CHUNK_SAMPLES as i64 * 2) * 15_000);
        assert_eq!(head.min_t(), rest.sealed[0].0);
        let stored = rest.stored();
        head.checkpointed(&stored, None);
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
        head.checkpointed(&as_written.stored(), None);

        // Assert: the open chunk goes whole to its row, none of it to `chunks`; a compacting
        // checkpoint then joins what the head kept of it to the row, and compacts it.
        assert!(as_written.open.is_none() && as_written.sealed.is_empty());
        let row = as_written.row.expect("its row");
        assert_eq!(row.cut, 0);
        assert!(head.dirty(OpenChunk::AsWritten).is_none());
        let compacted = head.dirty(OpenChunk::Compacted).expect("to compact");
        let open = compacted.open.expect("the open chunk");
        assert!(open.base > 0, "the head dropped the start");
        assert!(open.compacted(&row.bytes[..open.base - 1]).is_none());
        let (_, _, data) = open.compacted(&row.bytes).expect("joined");
        assert_eq!(data[0], chunk::Encoding::Packed as u8);
        let samples = chunk::decode(&data).expect("decode");
        assert_eq!(samples.len(), CHUNK_SAMPLES);
        assert!(
            samples
                .iter()
                .enumerate()
                .all(|(i, s)| s.v == i as f64 * 0.5)
        );
    }

    #[test]
    fn an_open_chunk_restores_unless_a_newer_row_holds_it() {
        // Arrange: an open chunk of 10 samples from t = 1 h as written; its first 5 samples
        // compacted as a row of the same chunk; and a row of an earlier, closed chunk.
        let mut open = ChunkEncoder::new();
        for i in 0..10 {
            open.push(3_600_000 + i * 15_000, i as f64);
        }
        let open = open.bytes();
        let same_chunk_older = (3_600_000, 3_600_000 + 4 * 15_000);
        let same_chunk_newer = (3_600_000, 3_600_000 + 20 * 15_000);
        let earlier = (0, 3_000_000);
        let later = (7_200_000, 7_300_000);

        // Act
        let restored = |row: Option<(i64, i64)>| {
            let mut head = HeadSeries::default();
            head.restore_open(row, &open, false).expect("restore");
            head.last().map(|(t, _)| t)
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
        let dirty = head.dirty(OpenChunk::Compacted).expect("dirty");
        assert_eq!((dirty.sealed.len(), dirty.open.is_some()), (2, true));
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
        head.checkpointed(&stored, None);

        // Assert: the open chunk's start, past which the head holds every sample.
        assert_eq!(head.min_t(), CHUNK_SAMPLES as i64 * 2 * 15_000);
    }

    /// A series' rows on disk as the checkpoint leaves them: `chunks` and its `open_chunks`
    /// row `(min_t, count, stream)`.
    #[derive(Default)]
    struct Disk {
        chunks: Vec<ChunkRow>,
        row: Option<(i64, u16, Vec<u8>)>,
    }

    impl Disk {
        /// Stores what `dirty` holds, as the checkpoint does, and returns the open chunk held
        /// whole again when a compacting checkpoint joined it.
        fn store(&mut self, dirty: Dirty) -> Option<ChunkEncoder> {
            let stream = self.row.as_ref().map_or(&[][..], |r| r.2.as_slice());
            let mut rows = dirty.sealed;
            if let Some(cold) = &dirty.cold {
                assert!(cold.base == 0 || self.row.as_ref().unwrap().0 == cold.min_t);
                rows.push(cold.compacted(stream).expect("cold joined"));
            }
            let mut whole = None;
            if let Some(open) = &dirty.open {
                let bytes = open.bytes(stream).expect("open joined");
                let mut enc = ChunkEncoder::new();
                chunk::decode(&bytes)
                    .unwrap()
                    .iter()
                    .for_each(|s| enc.push(s.t, s.v));
                whole = Some(enc);
                rows.push(open.compacted(stream).expect("open joined"));
                self.row = None;
            }
            // `INSERT OR REPLACE`, keyed by series and first time.
            for row in rows {
                self.chunks.retain(|c| c.0 != row.0);
                self.chunks.push(row);
            }
            if let Some(row) = dirty.row {
                let mut data = match (&self.row, row.cut) {
                    (_, 0) => Vec::new(),
                    (Some((min_t, _, data)), cut) => {
                        assert_eq!(*min_t, row.min_t, "cut in its own chunk");
                        data[..cut].to_vec()
                    }
                    (None, _) => panic!("cut without a row"),
                };
                data.extend_from_slice(&row.bytes);
                self.row = Some((row.min_t, row.count, data));
            }
            whole
        }

        /// Every sample before `before`, as a read of the disk takes them.
        fn samples_before(&self, before: i64) -> Vec<Sample> {
            let mut rows: Vec<(i64, Vec<u8>)> =
                self.chunks.iter().map(|c| (c.0, c.2.clone())).collect();
            if let Some((min_t, count, data)) = &self.row {
                rows.retain(|r| r.0 != *min_t);
                rows.push((*min_t, chunk_bytes(*count, &[data])));
            }
            rows.sort_by_key(|r| r.0);
            let mut out = Vec::new();
            for (min_t, data) in rows {
                if min_t < before {
                    chunk::decode_range(&data, i64::MIN, before - 1, &mut out).unwrap();
                }
            }
            out
        }
    }

    #[test]
    fn once_stored_the_head_keeps_a_tail_and_the_disk_and_the_head_together_hold_every_sample() {
        let mut rng = crate::store::sqlite::testutil::Rng::new(11);
        let mut head = HeadSeries::default();
        let mut disk = Disk::default();
        let mut want: Vec<(i64, u64)> = Vec::new();
        let mut t = 1_700_000_000_000i64;
        let (mut held_whole, mut cut, mut since) = (0, 0, 0);
        for step in 0..3_000 {
            // Arrange: samples of every kind, and now and then a checkpoint beside appends
            // whose copy is stored after more samples came (or, rarely, a compacting one).
            t += 15_000 + rng.below(5) as i64;
            let v = match rng.below(3) {
                0 => f64::from_bits(rng.next()),
                1 => (step / 7) as f64,
                _ => rng.next() as f64 / 9.0,
            };
            head.append(t, v);
            want.push((t, v.to_bits()));
            if rng.below(20) == 0 {
                let open_as = if rng.below(15) == 0 {
                    OpenChunk::Compacted
                } else {
                    OpenChunk::AsWritten
                };
                let Some(dirty) = head.dirty(open_as) else {
                    continue;
                };
                let stored = dirty.stored();
                let whole = disk.store(dirty);
                since = 0;
                if open_as == OpenChunk::AsWritten {
                    for _ in 0..rng.below(3) {
                        t += 15_000;
                        head.append(t, 1.0);
                        want.push((t, 1.0f64.to_bits()));
                        since += 1;
                    }
                }

                // Act
                head.checkpointed(&stored, whole);
            }

            // Assert: the head's samples from its `min_t` and the disk's before it are all.
            let from = head.min_t();
            let mut got = disk.samples_before(from);
            let mut held = Vec::new();
            head.samples_in(i64::MIN, i64::MAX, &mut held)
                .expect("decode");
            assert!(held.iter().all(|s| s.t >= from), "step {step}");
            got.extend(held);
            let got: Vec<(i64, u64)> = got.iter().map(|s| (s.t, s.v.to_bits())).collect();
            let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
            assert_eq!((got.len(), first_wrong), (want.len(), None), "step {step}");
            // …and a read of the last 5 minutes needs no disk, once the open chunk spans them.
            let window = t - 5 * 60_000;
            assert!(head.open.min_t() > window || from <= window, "step {step}");
            // …and once cut, the open chunk holds at most 48 samples before those since the
            // last checkpoint.
            since += 1;
            if head.open.is_whole() {
                held_whole += 1;
            } else {
                cut += 1;
                let mut open = Vec::new();
                head.open
                    .read_range(i64::MIN, i64::MAX, &mut open)
                    .expect("decode");
                assert!(open.len() <= 48 + since, "step {step}: {} held", open.len());
            }
        }
        assert!(cut > held_whole, "mostly cut: {cut} vs {held_whole}");
    }
}
