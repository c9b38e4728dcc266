//! remote_write 1.0 bodies through `ingest::remote_write::decode`: random bytes, valid snappy
//! blocks of random protobuf, valid `WriteRequest`s with hostile content, snappy headers that
//! claim a huge decompressed length, and mutations of valid bodies.

use proptest::prelude::*;
use prost::Message;
use warroom_server::ingest::{IngestError, remote_write};
use warroom_server::model::WriteBatch;
use warroom_server::prompb::{Label, Sample, TimeSeries, WriteRequest};

use crate::{harness, mutate};

/// The decompressed-size limit the decoder is given.
const MAX_BYTES: usize = 1 << 20;
/// The sample limit the decoder is given.
const MAX_SAMPLES: usize = 10_000;
/// The most bytes a decode may hold at once, as a multiple of the decompressed limit: the
/// decompressed body itself, and the decoder's index of it (a 32-byte slice pair per label of as
/// little as 2 bytes, grown by doubling) before the sample budget can refuse anything.
const HELD_PER_BYTE: usize = 48;

fn check(body: &[u8]) -> Result<(), TestCaseError> {
    let _case = harness::case("remote_write");
    let (result, peak) =
        harness::peak_during(|| remote_write::decode(body, MAX_BYTES, MAX_SAMPLES));
    let bound = HELD_PER_BYTE * MAX_BYTES;
    prop_assert!(
        peak <= bound,
        "{peak} bytes held for a {}-byte body",
        body.len()
    );
    match result {
        Ok(batch) => check_batch(&batch),
        Err(IngestError::Malformed(m) | IngestError::TooLarge(m)) => {
            prop_assert!(!m.is_empty());
            Ok(())
        }
    }
}

fn check_batch(batch: &WriteBatch) -> Result<(), TestCaseError> {
    prop_assert!(batch.sample_count() <= MAX_SAMPLES);
    for s in &batch.series {
        prop_assert!(s.labels.metric_name().is_some());
        prop_assert!(s.samples.is_sorted_by_key(|s| s.t));
    }
    Ok(())
}

fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

/// A varint, as protobuf and snappy's header write it.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A protobuf field of any wire type, with the field numbers remote_write uses most often.
#[derive(Clone, Debug)]
enum Field {
    Varint(u32, u64),
    Fixed64(u32, u64),
    Fixed32(u32, u32),
    Bytes(u32, Vec<u8>),
    Message(u32, Vec<Field>),
    /// A tag of wire type 3, 4, 6 or 7 (groups and invalid ones).
    Odd(u32, u8),
}

fn field_number() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 1..4u32, 1 => any::<u32>()]
}

fn field() -> impl Strategy<Value = Field> {
    let leaf = prop_oneof![
        (field_number(), any::<u64>()).prop_map(|(f, v)| Field::Varint(f, v)),
        (field_number(), any::<u64>()).prop_map(|(f, v)| Field::Fixed64(f, v)),
        (field_number(), any::<u32>()).prop_map(|(f, v)| Field::Fixed32(f, v)),
        (field_number(), prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(f, v)| Field::Bytes(f, v)),
        (field_number(), prop::sample::select(vec![3u8, 4, 6, 7]))
            .prop_map(|(f, w)| Field::Odd(f, w)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        (field_number(), prop::collection::vec(inner, 0..8)).prop_map(|(f, v)| Field::Message(f, v))
    })
}

fn encode(fields: &[Field], out: &mut Vec<u8>) {
    let tag =
        |f: u32, wire: u8, out: &mut Vec<u8>| varint(u64::from(f) << 3 | u64::from(wire), out);
    for field in fields {
        match field {
            Field::Varint(f, v) => {
                tag(*f, 0, out);
                varint(*v, out);
            }
            Field::Fixed64(f, v) => {
                tag(*f, 1, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Field::Fixed32(f, v) => {
                tag(*f, 5, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Field::Bytes(f, v) => {
                tag(*f, 2, out);
                varint(v.len() as u64, out);
                out.extend_from_slice(v);
            }
            Field::Message(f, inner) => {
                let mut body = Vec::new();
                encode(inner, &mut body);
                tag(*f, 2, out);
                varint(body.len() as u64, out);
                out.extend_from_slice(&body);
            }
            Field::Odd(f, wire) => tag(*f, *wire, out),
        }
    }
}

fn random_protobuf() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(field(), 0..12).prop_map(|fields| {
        let mut out = Vec::new();
        encode(&fields, &mut out);
        out
    })
}

/// Label text: empty, the metric name label, Prometheus' alphabet, any Unicode, and (when
/// `long`) up to 20,000 bytes.
fn text(long: bool) -> BoxedStrategy<String> {
    let short = prop_oneof![
        Just(String::new()),
        Just("__name__".to_owned()),
        "[a-z_]{1,8}",
        "\\PC{0,12}",
    ];
    match long {
        true => {
            prop_oneof![4 => short, 1 => (100..20_000usize).prop_map(|n| "v".repeat(n))].boxed()
        }
        false => short.boxed(),
    }
}

fn sample() -> impl Strategy<Value = Sample> {
    let value = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
    ];
    let timestamp = prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0)];
    (value, timestamp).prop_map(|(value, timestamp)| Sample { value, timestamp })
}

fn series(labels: usize, samples: usize, long: bool) -> impl Strategy<Value = TimeSeries> {
    let label = (text(long), text(long)).prop_map(|(name, value)| Label { name, value });
    (
        prop::collection::vec(label, 0..labels),
        prop::option::of(text(long)),
        prop::collection::vec(sample(), 0..samples),
    )
        .prop_map(|(mut labels, name, samples)| {
            if let Some(value) = name {
                labels.push(Label {
                    name: "__name__".into(),
                    value,
                });
            }
            TimeSeries { labels, samples }
        })
}

fn write_request(
    series_count: usize,
    labels: usize,
    samples: usize,
    long: bool,
) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(series(labels, samples, long), 0..series_count)
        .prop_map(|timeseries| WriteRequest { timeseries }.encode_to_vec())
}

/// A snappy header claiming `len` bytes (often past the limit), then random bytes.
fn huge_claim() -> impl Strategy<Value = Vec<u8>> {
    let len = prop_oneof![
        (MAX_BYTES as u64 + 1)..=u64::from(u32::MAX),
        Just(u64::from(u32::MAX) + 1),
        Just(u64::MAX),
        any::<u64>(),
        0..(MAX_BYTES as u64),
    ];
    (len, prop::collection::vec(any::<u8>(), 0..256)).prop_map(|(len, rest)| {
        let mut out = Vec::new();
        varint(len, &mut out);
        out.extend(rest);
        out
    })
}

proptest! {
    #![proptest_config(harness::config(8_000))]
    #[test]
    fn random_bytes_are_decoded_or_refused(body in prop::collection::vec(any::<u8>(), 0..2_048)) {
        check(&body)?;
    }

    #[test]
    fn snappy_headers_claiming_a_huge_length_are_refused_before_allocating(body in huge_claim()) {
        check(&body)?;
    }
}

proptest! {
    #![proptest_config(harness::config(2_500))]
    #[test]
    fn valid_snappy_of_random_protobuf_is_decoded_or_refused(
        raw in prop_oneof![random_protobuf(), prop::collection::vec(any::<u8>(), 0..1_024)]
    ) {
        check(&snappy(&raw))?;
    }

    #[test]
    fn valid_write_requests_with_hostile_content_are_decoded_or_refused(
        raw in write_request(8, 8, 16, true)
    ) {
        check(&snappy(&raw))?;
    }

    #[test]
    fn mutated_valid_bodies_are_decoded_or_refused(
        body in write_request(4, 4, 4, true).prop_flat_map(|raw| prop_oneof![
            mutate::bytes(snappy(&raw)),
            mutate::bytes(raw).prop_map(|raw| snappy(&raw)),
        ])
    ) {
        check(&body)?;
    }
}

proptest! {
    #![proptest_config(harness::config(32))]
    #[test]
    fn requests_with_thousands_of_series_labels_or_samples_stay_within_the_limits(
        raw in prop_oneof![
            write_request(3_000, 3, 3, false),
            write_request(3, 3_000, 3, false),
            write_request(3, 3, 6_000, false),
        ]
    ) {
        check(&snappy(&raw))?;
    }
}

/// The bodies that hold the most memory per decompressed byte: one series of empty labels,
/// empty series, empty samples.
#[test]
fn the_densest_bodies_stay_within_the_memory_bound() {
    for unit in [&b"\x0a\x00"[..], b"\x12\x00"] {
        let mut series = Vec::new();
        let inner = unit.repeat(MAX_BYTES / 2 - 8);
        series.push(0x0a);
        varint(inner.len() as u64, &mut series);
        series.extend_from_slice(&inner);
        for raw in [series, b"\x0a\x00".repeat(MAX_BYTES / 2)] {
            let body = snappy(&raw);
            let (result, peak) =
                harness::peak_during(|| remote_write::decode(&body, MAX_BYTES, MAX_SAMPLES));
            assert!(result.is_err(), "{result:?}");
            assert!(peak <= HELD_PER_BYTE * MAX_BYTES, "{peak}");
            eprintln!(
                "remote_write: {peak} bytes held for {} decompressed",
                raw.len()
            );
        }
    }
}
