//! Prometheus remote_write 1.0 → [`WriteBatch`]: a snappy *block* (not framed) holding a
//! `prompb::WriteRequest`. The block's header states its decompressed length, so a bomb is
//! refused before anything is allocated. Batches have no id: remote_write has no replay identity.
//!
//! The message is read in place ([`super::wire`]): label names and values are looked up in the
//! symbol table as slices of the body, so a label seen before costs no allocation, and the
//! fields warroom ignores (exemplars, native histograms, metadata) are skipped. With the store's
//! [`SeriesLookup`], series it already knows are not even interned: they come out by id.

use std::cell::RefCell;

use super::wire::{Reader, WireError};
use super::{
    BatchBuilder, Decoded, IngestError, SampleBudget, label_budget, too_large_decompressed,
};
use crate::model::intern::with_interner;
use crate::model::{Label, Labels, METRIC_NAME, Sample, WriteBatch};
use crate::store::{KnownSamples, SeriesLookup, WireLabels};

/// Decodes a snappy-compressed `WriteRequest` that inflates to at most `max_bytes` and carries
/// at most `max_samples` samples, every series named by its labels.
pub fn decode(
    body: &[u8],
    max_bytes: usize,
    max_samples: usize,
) -> Result<WriteBatch, IngestError> {
    Ok(decode_with(body, max_bytes, max_samples, None)?.batch)
}

/// [`decode`], but the series `lookup` knows come out as [`Decoded::known`], named by id: no
/// label set is built for them (a known series costs one hash of its label text and one
/// comparison with the store's copy).
pub fn decode_with(
    body: &[u8],
    max_bytes: usize,
    max_samples: usize,
    lookup: Option<&dyn SeriesLookup>,
) -> Result<Decoded, IngestError> {
    RAW.with_borrow_mut(|raw| {
        unsnappy(body, max_bytes, raw)?;
        let decoded = decode_raw(raw, max_samples, lookup);
        if raw.capacity() > RAW_KEPT {
            *raw = Vec::new();
        }
        decoded
    })
}

thread_local! {
    /// The decompressed body of the request last decoded on this thread, its buffer kept for
    /// the next: allocated afresh, the 400 KB of a 2,000-series request came as fresh zeroed
    /// pages each time, and decoding it took 2.3 times as long (`--bench decode`: 622–651
    /// against 249–295 µs).
    static RAW: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The largest decompressed body whose buffer a decoder thread keeps for the next.
const RAW_KEPT: usize = 4 << 20;

/// [`decode_with`] of the decompressed body `raw`.
fn decode_raw(
    raw: &[u8],
    max_samples: usize,
    lookup: Option<&dyn SeriesLookup>,
) -> Result<Decoded, IngestError> {
    let request = Parsed::read(raw, max_samples)?;
    let mut ids = Vec::with_capacity(request.ends.len());
    let generation = match lookup {
        Some(lookup) => lookup.find(&request.sets(), &mut ids),
        None => 0,
    };
    ids.resize(request.ends.len(), None);
    let unknown = ids.iter().filter(|id| id.is_none()).count();
    let mut batch =
        BatchBuilder::interned(max_samples, unknown).within_labels(label_budget(raw.len()));
    let mut known = KnownSamples {
        generation,
        samples: Vec::with_capacity(request.samples.len()),
    };
    for ((pairs, samples), id) in request.series().zip(ids) {
        match id.filter(|_| has_name(pairs)) {
            Some(id) => known.samples.extend(samples.iter().map(|&s| (id, s))),
            None => batch.push_all(labels(pairs)?, samples)?,
        }
    }
    if !known.samples.is_sorted_by_key(|&(id, s)| (id, s.t)) {
        known.samples.sort_by_key(|&(id, s)| (id, s.t));
    }
    Ok(Decoded {
        batch: batch.finish(None),
        known,
        unsupported: 0,
    })
}

fn malformed(e: WireError) -> IngestError {
    IngestError::Malformed(format!("not a remote_write WriteRequest: {e}"))
}

/// The `TimeSeries` of a request as read from the body: labels borrowed, samples copied.
#[derive(Default)]
struct Parsed<'a> {
    pairs: Vec<(&'a [u8], &'a [u8])>,
    samples: Vec<Sample>,
    /// Per series, the end of its pairs and of its samples.
    ends: Vec<(usize, usize)>,
    /// Most bytes the three above may take ([`held_budget`]).
    held_max: usize,
}

/// Bytes the decoded structures of a body of `raw` bytes may take: [`HELD_PER_BODY_BYTE`]
/// times its size, and at least [`HELD_MIN`]. A real request takes about one and a half times
/// its size (labels of 10–40 bytes on the wire are 32 bytes here, a sample of about 11 is 16);
/// a body of two-byte empty labels or series would take 16 times its size, and later the label
/// sets made of them as much again: 33 times a decompressed body of up to 128 MiB before this.
fn held_budget(raw: usize) -> usize {
    raw.saturating_mul(HELD_PER_BODY_BYTE).max(HELD_MIN)
}

/// See [`held_budget`].
const HELD_PER_BODY_BYTE: usize = 4;
/// See [`held_budget`].
const HELD_MIN: usize = 64 << 10;
/// What one series costs besides its labels and samples: its `ends` entry, and the label-set
/// reference and id a lookup makes for it ([`Parsed::sets`]).
const HELD_PER_SERIES: usize = size_of::<(usize, usize)>() + 2 * size_of::<usize>();

impl<'a> Parsed<'a> {
    /// Reads every `prometheus.TimeSeries` of a `WriteRequest` within the sample budget, and
    /// with what it holds of them within [`held_budget`].
    fn read(raw: &'a [u8], max_samples: usize) -> Result<Self, IngestError> {
        let mut parsed = Parsed {
            held_max: held_budget(raw.len()),
            ..Parsed::default()
        };
        let mut budget = SampleBudget::new(max_samples);
        let mut request = Reader::new(raw);
        while let Some((field, value)) = request.next_field().map_err(malformed)? {
            if field == 1 {
                let before = parsed.samples.len();
                parsed.read_series(value.bytes(field).map_err(malformed)?)?;
                budget.take(parsed.samples.len() - before)?;
            }
        }
        Ok(parsed)
    }

    /// Bytes the labels, samples and series read so far take.
    fn held(&self) -> usize {
        self.pairs.len() * size_of::<(&[u8], &[u8])>()
            + self.samples.len() * size_of::<Sample>()
            + self.ends.len() * HELD_PER_SERIES
    }

    /// Refuses the request once what it holds passes [`held_budget`].
    fn within_held(&self) -> Result<(), IngestError> {
        if self.held() <= self.held_max {
            return Ok(());
        }
        Err(IngestError::TooLarge(format!(
            "the labels and samples of this request would take more than {} bytes \
             ({HELD_PER_BODY_BYTE} times its decompressed size): after {} series, {} labels \
             and {} samples",
            self.held_max,
            self.ends.len(),
            self.pairs.len(),
            self.samples.len()
        )))
    }

    /// Reads a `prometheus.TimeSeries` message.
    fn read_series(&mut self, message: &'a [u8]) -> Result<(), IngestError> {
        let mut fields = Reader::new(message);
        while let Some((field, value)) = fields.next_field().map_err(malformed)? {
            self.within_held()?;
            match field {
                1 => self
                    .pairs
                    .push(label(value.bytes(field).map_err(malformed)?)?),
                2 => self
                    .samples
                    .push(sample(value.bytes(field).map_err(malformed)?)?),
                _ => {}
            }
        }
        self.ends.push((self.pairs.len(), self.samples.len()));
        self.within_held()
    }

    /// Each series' labels and samples, in request order.
    fn series(&self) -> impl Iterator<Item = (&WireLabels<'a>, &[Sample])> {
        let starts = std::iter::once((0, 0)).chain(self.ends.iter().copied());
        (starts.zip(&self.ends))
            .map(|((p, s), &(p_end, s_end))| (&self.pairs[p..p_end], &self.samples[s..s_end]))
    }

    /// Each series' labels, for a [`SeriesLookup`].
    fn sets(&self) -> Vec<&WireLabels<'a>> {
        self.series().map(|(pairs, _)| pairs).collect()
    }
}

/// Whether a label set names its metric (known sets never hold an empty value).
fn has_name(pairs: &WireLabels<'_>) -> bool {
    pairs
        .iter()
        .any(|(name, _)| *name == METRIC_NAME.as_bytes())
}

/// The label set, its strings from the symbol table (one lock for the whole set; UTF-8 is
/// checked only for strings the table has not seen); a set without a metric name is malformed.
fn labels(pairs: &WireLabels<'_>) -> Result<Labels, IngestError> {
    let labels = with_interner(|table| {
        let mut labels = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            labels.push(Label {
                name: table.intern_bytes(name)?,
                value: table.intern_bytes(value)?,
            });
        }
        Ok::<_, std::str::Utf8Error>(labels)
    });
    let labels = labels.map_err(|_| {
        IngestError::Malformed("not a remote_write WriteRequest: a label is not UTF-8".into())
    })?;
    let labels = Labels::new(labels);
    if labels.metric_name().is_none() {
        return Err(IngestError::Malformed(format!(
            "a series has no {METRIC_NAME} label: {labels}"
        )));
    }
    Ok(labels)
}

/// A `prometheus.Label`: name and value bytes (missing fields are empty, as in proto3).
fn label(message: &[u8]) -> Result<(&[u8], &[u8]), IngestError> {
    if let Some(pair) = short_label(message) {
        return Ok(pair);
    }
    let (mut name, mut value) = (&b""[..], &b""[..]);
    let mut fields = Reader::new(message);
    while let Some((field, v)) = fields.next_field().map_err(malformed)? {
        match field {
            1 => name = v.bytes(field).map_err(malformed)?,
            2 => value = v.bytes(field).map_err(malformed)?,
            _ => {}
        }
    }
    Ok((name, value))
}

/// The usual `prometheus.Label` encoding, read without the general reader: the name (field 1),
/// then the value (field 2), each shorter than 128 bytes, and nothing else. `None` otherwise.
fn short_label(message: &[u8]) -> Option<(&[u8], &[u8])> {
    let (name, rest) = short_bytes(message, 0x0a)?;
    let (value, rest) = short_bytes(rest, 0x12)?;
    rest.is_empty().then_some((name, value))
}

/// A length-delimited field with key byte `key` and a one-byte length, and what follows it.
fn short_bytes(data: &[u8], key: u8) -> Option<(&[u8], &[u8])> {
    let (&[k, len], rest) = data.split_first_chunk::<2>()?;
    (k == key && len < 0x80).then_some(())?;
    rest.split_at_checked(usize::from(len))
}

/// The usual `prometheus.Sample` encoding, read without the general reader: the value (field 1),
/// then the timestamp (field 2, a varint of at most 9 bytes), and nothing else. `None` otherwise.
fn short_sample(message: &[u8]) -> Option<Sample> {
    let (&[0x09], rest) = message.split_first_chunk::<1>()? else {
        return None;
    };
    let (value, rest) = rest.split_first_chunk::<8>()?;
    let (&[0x10], varint) = rest.split_first_chunk::<1>()? else {
        return None;
    };
    let (last, more) = varint.split_last()?;
    let ok = *last < 0x80 && more.len() < 9 && more.iter().all(|b| *b >= 0x80);
    ok.then_some(())?;
    let t = (varint.iter().enumerate()).fold(0u64, |t, (i, b)| t | u64::from(b & 0x7f) << (7 * i));
    Some(Sample {
        t: t as i64,
        v: f64::from_bits(u64::from_le_bytes(*value)),
    })
}

/// A `prometheus.Sample`: value (double) and timestamp (int64 ms).
fn sample(message: &[u8]) -> Result<Sample, IngestError> {
    if let Some(s) = short_sample(message) {
        return Ok(s);
    }
    let mut s = Sample { t: 0, v: 0.0 };
    let mut fields = Reader::new(message);
    while let Some((field, v)) = fields.next_field().map_err(malformed)? {
        match field {
            1 => s.v = f64::from_bits(v.fixed64(field).map_err(malformed)?),
            2 => s.t = v.varint(field).map_err(malformed)? as i64,
            _ => {}
        }
    }
    Ok(s)
}

/// Inflates the snappy block `body` into `raw` (replacing what it held) after checking the
/// length its header claims.
fn unsnappy(body: &[u8], max_bytes: usize, raw: &mut Vec<u8>) -> Result<(), IngestError> {
    let malformed = |e: snap::Error| IngestError::Malformed(format!("not a snappy block: {e}"));
    let len = snap::raw::decompress_len(body).map_err(malformed)?;
    if len > max_bytes {
        return Err(too_large_decompressed(max_bytes));
    }
    raw.clear();
    raw.resize(len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(body, raw)
        .map_err(malformed)?;
    raw.truncate(written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompb::{self, TimeSeries, WriteRequest};
    use prost::Message;

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| prompb::Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
                .collect(),
        }
    }

    fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
        let raw = WriteRequest { timeseries }.encode_to_vec();
        snap::raw::Encoder::new().compress_vec(&raw).unwrap()
    }

    #[test]
    fn a_timestamp_varint_longer_than_ten_bytes_is_malformed_not_a_shift_overflow() {
        // Found by the fuzz campaign: the short sample path shifted each byte into place before
        // checking the varint's length, which overflows (and panics in a debug build) past 9.
        let mut sample = vec![0x09];
        sample.extend(1.0f64.to_le_bytes());
        sample.push(0x10);
        sample.extend([0x80; 10]);
        sample.push(0x01);
        let series = [&[0x12, sample.len() as u8][..], &sample].concat();
        let raw = [&[0x0a, series.len() as u8][..], &series].concat();
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();

        let err = decode(&body, 1 << 20, 100).unwrap_err();

        assert!(matches!(err, IngestError::Malformed(_)), "{err}");
    }

    /// `count` copies of the protobuf field `message` (field number and wire type in `key`).
    fn repeated(key: u8, message: &[u8], count: usize) -> Vec<u8> {
        let one = [&[key, message.len() as u8][..], message].concat();
        one.repeat(count)
    }

    #[test]
    fn a_series_of_a_million_empty_labels_is_too_large_not_32_megabytes_of_pairs() {
        // Arrange: one series, its only sample, then a million two-byte empty labels.
        let mut series = repeated(0x12, &[], 1);
        series.extend(repeated(0x0a, &[], 1_000_000));
        let mut raw = vec![0x0a];
        prost::encoding::encode_varint(series.len() as u64, &mut raw);
        raw.extend(series);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();

        // Act
        let err = decode(&body, 64 << 20, 1_000_000).unwrap_err();

        // Assert
        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("4 times its decompressed size"), "{text}");
        assert!(text.contains("after 0 series"), "{text}");
    }

    #[test]
    fn a_million_empty_series_are_too_large() {
        // Arrange: a request of nothing but two-byte empty `TimeSeries`.
        let raw = repeated(0x0a, &[], 1_000_000);
        let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();

        // Act
        let err = decode(&body, 64 << 20, 1_000_000).unwrap_err();

        // Assert
        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    }

    #[test]
    fn a_request_of_real_label_sets_holds_well_within_its_budget() {
        // Arrange: 2,000 series of a node's metrics, one sample each, as an agent sends them.
        let timeseries: Vec<_> = (0..2_000)
            .map(|i| {
                let pod = format!("checkout-7d9f8c6b5-{i:05}");
                series(
                    &[
                        ("__name__", "container_cpu_usage_seconds_total"),
                        ("env", "target"),
                        ("node", "gke-prod-default-pool-1a2b"),
                        ("namespace", "shop"),
                        ("pod", &pod),
                        ("container", "app"),
                    ],
                    &[(1_700_000_000_000 + i, i as f64)],
                )
            })
            .collect();
        let raw = WriteRequest { timeseries }.encode_to_vec();

        // Act
        let parsed = Parsed::read(&raw, 1_000_000).unwrap();

        // Assert: under half the budget, so real traffic never meets it.
        assert_eq!(parsed.ends.len(), 2_000);
        assert!(
            parsed.held() * 2 <= held_budget(raw.len()),
            "{} bytes held for a body of {}",
            parsed.held(),
            raw.len()
        );
    }

    #[test]
    fn a_write_request_becomes_series_without_a_batch_id() {
        let b = body(vec![series(
            &[("job", "node"), ("__name__", "up")],
            &[(1_000, 1.0), (2_000, 0.0)],
        )]);

        let batch = decode(&b, 1 << 20, 100).unwrap();

        assert_eq!(batch.id, None);
        assert_eq!(batch.series.len(), 1);
        assert_eq!(batch.series[0].labels.to_string(), r#"up{job="node"}"#);
        assert_eq!(batch.series[0].samples[1], Sample { t: 2_000, v: 0.0 });
    }

    #[test]
    fn a_body_decoded_after_a_larger_or_broken_one_on_the_same_thread_reads_alone() {
        // Arrange: a large body, a broken one, then a small one, all decoded on this thread
        // (whose buffer for decompressed bodies the next decode reuses).
        let many: Vec<_> = (0..500)
            .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[(i, 1.0)]))
            .collect();
        let small = body(vec![series(&[("__name__", "up")], &[(7, 3.5)])]);
        let alone = std::thread::spawn({
            let small = small.clone();
            move || decode(&small, 1 << 20, 100).unwrap()
        })
        .join()
        .unwrap();

        // Act
        let large = decode(&body(many), 1 << 20, 1_000).unwrap();
        let broken = decode(b"\x05garbage", 1 << 20, 100).unwrap_err();
        let after = decode(&small, 1 << 20, 100).unwrap();

        // Assert
        assert_eq!(large.series.len(), 500);
        assert!(broken.to_string().contains("snappy"), "{broken}");
        assert_eq!(after.series.len(), 1);
        assert_eq!(after.series[0].labels, alone.series[0].labels);
        assert_eq!(after.series[0].samples, alone.series[0].samples);
    }

    #[test]
    fn a_label_that_is_not_utf8_is_malformed() {
        let mut raw = WriteRequest {
            timeseries: vec![series(
                &[("__name__", "up"), ("job", "n\u{e9}")],
                &[(1, 1.0)],
            )],
        }
        .encode_to_vec();
        let at = raw
            .windows(2)
            .position(|w| w == "\u{e9}".as_bytes())
            .unwrap();
        raw[at] = 0xff;
        let b = snap::raw::Encoder::new().compress_vec(&raw).unwrap();

        let err = decode(&b, 1 << 20, 100).unwrap_err();

        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn repeated_label_sets_merge_and_unknown_fields_are_skipped() {
        let mut raw = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "up"), ("job", "a")], &[(2, 2.0)]),
                series(&[("__name__", "up"), ("job", "b")], &[(1, 1.0)]),
                series(&[("job", "a"), ("__name__", "up")], &[(1, 1.0)]),
            ],
        }
        .encode_to_vec();
        raw.extend_from_slice(b"\x1a\x03abc\x20\x05"); // metadata (3) and a varint field 4
        let b = snap::raw::Encoder::new().compress_vec(&raw).unwrap();

        let batch = decode(&b, 1 << 20, 100).unwrap();

        assert_eq!(batch.series.len(), 2);
        assert_eq!(batch.series[0].labels.to_string(), r#"up{job="a"}"#);
        let times: Vec<i64> = batch.series[0].samples.iter().map(|s| s.t).collect();
        assert_eq!(times, [1, 2]);
    }

    /// A lookup that knows the sets it is given, by their text.
    struct Known(Vec<Vec<(&'static str, &'static str)>>);

    impl SeriesLookup for Known {
        fn find(&self, sets: &[&WireLabels<'_>], ids: &mut Vec<Option<u32>>) -> u64 {
            ids.extend(sets.iter().map(|set| {
                let text: Vec<_> = (set.iter())
                    .map(|(n, v)| {
                        (
                            std::str::from_utf8(n).unwrap(),
                            std::str::from_utf8(v).unwrap(),
                        )
                    })
                    .collect();
                self.0.iter().position(|k| *k == text).map(|i| i as u32)
            }));
            7
        }
    }

    #[test]
    fn known_series_come_out_by_id_sorted_by_id_then_time_and_the_rest_by_labels() {
        let lookup = Known(vec![vec![("__name__", "b")], vec![("__name__", "a")]]);
        let b = body(vec![
            series(&[("__name__", "a")], &[(5, 1.0), (2, 2.0)]),
            series(&[("__name__", "new")], &[(1, 1.0)]),
            series(&[("__name__", "b")], &[(3, 3.0)]),
            series(&[("__name__", "a")], &[(2, 4.0)]),
        ]);

        let decoded = decode_with(&b, 1 << 20, 100, Some(&lookup)).unwrap();

        let known: Vec<_> = (decoded.known.samples.iter())
            .map(|&(id, s)| (id, s.t, s.v))
            .collect();
        assert_eq!(known, [(0, 3, 3.0), (1, 2, 2.0), (1, 2, 4.0), (1, 5, 1.0)]);
        assert_eq!(decoded.known.generation, 7);
        assert_eq!(decoded.batch.series.len(), 1);
        assert_eq!(decoded.batch.series[0].labels.to_string(), "new{}");
    }

    #[test]
    fn the_short_label_and_sample_readers_agree_with_the_general_ones() {
        let long = "x".repeat(200);
        let labels = [
            ("job", "node"),
            ("", "v"),
            ("n", ""),
            ("", ""),
            (&long[..], "v"),
        ];
        let samples = [
            (0, 0.0),
            (1, -1.5),
            (-1, 2.0),
            (i64::MAX, f64::NAN),
            (i64::MIN, 1.0),
        ];

        for (name, value) in labels {
            let m = prompb::Label {
                name: name.into(),
                value: value.into(),
            }
            .encode_to_vec();
            assert_eq!(label(&m).unwrap(), (name.as_bytes(), value.as_bytes()));
            let mut padded = m.clone();
            padded.extend_from_slice(b"\x18\x01"); // an unknown field: the general reader
            assert_eq!(short_label(&padded), None);
            assert_eq!(label(&padded).unwrap(), (name.as_bytes(), value.as_bytes()));
        }
        for (timestamp, value) in samples {
            let m = prompb::Sample { value, timestamp }.encode_to_vec();
            let got = sample(&m).unwrap();
            assert_eq!((got.t, got.v.to_bits()), (timestamp, value.to_bits()));
        }
        let t = prompb::Sample {
            value: 1.0,
            timestamp: 1_700_000_000_000,
        }
        .encode_to_vec();
        assert!(short_sample(&t).is_some());
        assert_eq!(short_sample(&t[..t.len() - 1]), None);
    }

    #[test]
    fn a_series_without_a_name_is_malformed() {
        let b = body(vec![series(&[("job", "node")], &[(1, 1.0)])]);

        let err = decode(&b, 1 << 20, 100).unwrap_err();

        assert!(err.to_string().contains("no __name__ label"), "{err}");
    }

    #[test]
    fn a_block_claiming_more_than_the_limit_is_refused_before_inflating() {
        let b = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 1 << 20])
            .unwrap();

        let err = decode(&b, 1 << 10, 100).unwrap_err();

        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    }

    #[test]
    fn framed_snappy_gzip_or_plain_protobuf_bodies_are_malformed() {
        let raw = WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0)])],
        }
        .encode_to_vec();
        let mut framed = Vec::new();
        std::io::Write::write_all(&mut snap::write::FrameEncoder::new(&mut framed), &raw).unwrap();

        for bad in [
            &b"\x1f\x8b\x08garbage"[..],
            b"\xff\xff\xff\xff\xff",
            &framed,
        ] {
            let err = decode(bad, 1 << 20, 100).unwrap_err();
            assert!(matches!(err, IngestError::Malformed(_)), "{err}");
        }
    }

    #[test]
    fn too_many_samples_are_refused() {
        let b = body(vec![series(
            &[("__name__", "up")],
            &[(1, 1.0), (2, 1.0), (3, 1.0)],
        )]);

        let err = decode(&b, 1 << 20, 2).unwrap_err();

        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    }
}
