//! OTLP/HTTP protobuf bodies through `ingest::otlp::decode` (and `ingest::gunzip` first, as the
//! route does for `Content-Encoding: gzip`): random bytes, mutated encodings of valid requests,
//! and valid requests built with opentelemetry-proto's types whose content is hostile.

use std::io::Write;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, metric, number_data_point, summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use proptest::prelude::*;
use prost::Message;
use warroom_server::ingest::{Decoded, IngestError, gunzip, otlp};

use crate::{harness, mutate};

/// The sample limit the decoder is given.
const MAX_SAMPLES: usize = 10_000;
/// The decompressed-size limit given to `gunzip`.
const MAX_BYTES: usize = 1 << 20;

/// Decodes `raw`, checking what comes back and the memory it took.
fn check(raw: &[u8]) -> Result<(), TestCaseError> {
    let _case = harness::case("otlp");
    let (result, peak) = harness::peak_during(|| otlp::decode(raw, MAX_SAMPLES));
    // prost builds the whole message first: each 2-byte empty data point is a struct of about
    // 100 bytes, so the decoder's memory is bounded by the body's size, not by its claims.
    let bound = (8 << 20) + raw.len() * 160;
    prop_assert!(
        peak <= bound,
        "{peak} bytes held for a {}-byte body",
        raw.len()
    );
    match result {
        Ok(decoded) => check_decoded(&decoded),
        Err(IngestError::Malformed(m) | IngestError::TooLarge(m)) => {
            prop_assert!(!m.is_empty());
            Ok(())
        }
    }
}

/// A decoded batch is within its limits and every series is named and in time order.
pub fn check_decoded(decoded: &Decoded) -> Result<(), TestCaseError> {
    let samples: usize = decoded.batch.series.iter().map(|s| s.samples.len()).sum();
    prop_assert!(samples + decoded.known.samples.len() <= MAX_SAMPLES);
    for s in &decoded.batch.series {
        prop_assert!(s.labels.metric_name().is_some_and(|n| !n.is_empty()));
        prop_assert!(s.samples.is_sorted_by_key(|s| s.t));
    }
    Ok(())
}

/// Names: empty, reserved, of Prometheus' alphabet, any Unicode, or very long.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(otlp::AGENT_ID_ATTR.to_owned()),
        Just(otlp::SEQ_ATTR.to_owned()),
        Just("__name__".to_owned()),
        Just("le".to_owned()),
        Just("quantile".to_owned()),
        "[a-z_][a-z0-9_]{0,10}",
        "[0-9.:/ -][a-z.:-]{0,8}",
        "\\PC{0,12}",
        (1..5_000usize).prop_map(|n| "n".repeat(n)),
    ]
}

/// Floats, the awkward ones often.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)),
        Just(-0.0),
        Just(f64::MIN_POSITIVE / 2.0),
        Just(f64::MAX),
    ]
}

/// Times in nanoseconds: any, the edges, or plausible.
fn time() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0),
        Just(u64::MAX),
        1_700_000_000_000_000_000u64..1_800_000_000_000_000_000,
    ]
}

/// An attribute value, nested arrays and maps up to three deep.
fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        name().prop_map(any_value::Value::StringValue),
        any::<bool>().prop_map(any_value::Value::BoolValue),
        any::<i64>().prop_map(any_value::Value::IntValue),
        float().prop_map(any_value::Value::DoubleValue),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(any_value::Value::BytesValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) });
    let leaf = prop_oneof![1 => Just(AnyValue { value: None }), 8 => leaf];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|values| any_value::Value::ArrayValue(ArrayValue { values })),
            prop::collection::vec((name(), inner), 0..4).prop_map(|kvs| {
                let values = kvs.into_iter().map(|(k, v)| kv(k, Some(v))).collect();
                any_value::Value::KvlistValue(KeyValueList { values })
            }),
        ]
        .prop_map(|v| AnyValue { value: Some(v) })
    })
}

fn kv(key: String, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key,
        value,
        ..Default::default()
    }
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec((name(), prop::option::weighted(0.9, any_value())), 0..max)
        .prop_map(|kvs| kvs.into_iter().map(|(k, v)| kv(k, v)).collect())
}

/// Exemplars with odd ids and attributes of their own.
fn exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
    let one = (
        attributes(4),
        time(),
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(any::<u8>(), 0..40),
        prop::option::of(prop_oneof![
            float().prop_map(exemplar::Value::AsDouble),
            any::<i64>().prop_map(exemplar::Value::AsInt),
        ]),
    )
        .prop_map(
            |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
                filtered_attributes,
                time_unix_nano,
                span_id,
                trace_id,
                value,
            },
        );
    prop::collection::vec(one, 0..3)
}

fn number_point(attrs: usize) -> impl Strategy<Value = NumberDataPoint> {
    (
        attributes(attrs),
        time(),
        time(),
        exemplars(),
        any::<u32>(),
        0..4u8,
        float(),
        any::<i64>(),
    )
        .prop_map(
            |(attributes, start, t, exemplars, flags, kind, f, i)| NumberDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: t,
                exemplars,
                flags: flags & 3,
                value: match kind {
                    0 => None,
                    1 => Some(number_data_point::Value::AsInt(i)),
                    _ => Some(number_data_point::Value::AsDouble(f)),
                },
            },
        )
}

fn histogram_point(attrs: usize) -> impl Strategy<Value = HistogramDataPoint> {
    (
        attributes(attrs),
        time(),
        any::<u64>(),
        prop::option::of(float()),
        prop::collection::vec(any::<u64>(), 0..12),
        prop::collection::vec(float(), 0..12),
        exemplars(),
        any::<u32>(),
    )
        .prop_map(
            |(attributes, t, count, sum, buckets, bounds, exemplars, flags)| HistogramDataPoint {
                attributes,
                time_unix_nano: t,
                count,
                sum,
                bucket_counts: buckets,
                explicit_bounds: bounds,
                exemplars,
                flags,
                ..Default::default()
            },
        )
}

fn summary_point(attrs: usize) -> impl Strategy<Value = SummaryDataPoint> {
    let quantiles = prop::collection::vec((float(), float()), 0..8);
    (attributes(attrs), time(), any::<u64>(), float(), quantiles).prop_map(
        |(attributes, t, count, sum, q)| SummaryDataPoint {
            attributes,
            time_unix_nano: t,
            count,
            sum,
            quantile_values: q
                .into_iter()
                .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                .collect(),
            ..Default::default()
        },
    )
}

/// Temporality: the two real ones, unspecified, or any number.
fn temporality() -> impl Strategy<Value = i32> {
    prop_oneof![Just(1), Just(2), Just(0), any::<i32>()]
}

/// A metric of any kind with up to `points` data points of up to `attrs` attributes each.
fn metric(attrs: usize, points: usize) -> impl Strategy<Value = Metric> {
    let n = 0..points;
    let data = prop_oneof![
        Just(None),
        prop::collection::vec(number_point(attrs), n.clone())
            .prop_map(|data_points| Some(metric::Data::Gauge(Gauge { data_points }))),
        (
            prop::collection::vec(number_point(attrs), n.clone()),
            temporality(),
            any::<bool>()
        )
            .prop_map(|(data_points, t, m)| Some(metric::Data::Sum(Sum {
                data_points,
                aggregation_temporality: t,
                is_monotonic: m,
            }))),
        (
            prop::collection::vec(histogram_point(attrs), n.clone()),
            temporality()
        )
            .prop_map(|(data_points, t)| Some(metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality: t,
            }))),
        prop::collection::vec(summary_point(attrs), n.clone())
            .prop_map(|data_points| Some(metric::Data::Summary(Summary { data_points }))),
        (0..points, temporality()).prop_map(|(k, t)| Some(metric::Data::ExponentialHistogram(
            ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default(); k],
                aggregation_temporality: t,
            }
        ))),
    ];
    (name(), "\\PC{0,8}", attributes(2), data).prop_map(|(name, unit, metadata, data)| Metric {
        name,
        unit,
        metadata,
        data,
        ..Default::default()
    })
}

/// A whole request: up to three resources of up to three scopes of up to four metrics.
fn request(attrs: usize, points: usize) -> impl Strategy<Value = ExportMetricsServiceRequest> {
    let scope =
        prop::collection::vec(metric(attrs, points), 0..4).prop_map(|metrics| ScopeMetrics {
            metrics,
            ..Default::default()
        });
    let resource = (
        prop::option::weighted(0.9, attributes(attrs)),
        prop::collection::vec(scope, 0..3),
    )
        .prop_map(|(attrs, scope_metrics)| ResourceMetrics {
            resource: attrs.map(|attributes| Resource {
                attributes,
                ..Default::default()
            }),
            scope_metrics,
            ..Default::default()
        });
    prop::collection::vec(resource, 0..3)
        .prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

proptest! {
    #![proptest_config(harness::config(10_000))]
    #[test]
    fn random_bytes_are_decoded_or_refused(raw in prop::collection::vec(any::<u8>(), 0..2_048)) {
        check(&raw)?;
    }
}

proptest! {
    #![proptest_config(harness::config(2_000))]
    #[test]
    fn mutated_encodings_of_valid_requests_are_decoded_or_refused(
        raw in request(4, 4).prop_map(|r| r.encode_to_vec()).prop_flat_map(mutate::bytes)
    ) {
        check(&raw)?;
    }

    #[test]
    fn valid_requests_with_hostile_content_are_decoded_or_refused(req in request(6, 6)) {
        check(&req.encode_to_vec())?;
    }

    #[test]
    fn gzipped_bodies_random_or_valid_are_inflated_within_the_limit_or_refused(
        raw in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            request(3, 3).prop_map(|r| gzip(&r.encode_to_vec())).prop_flat_map(mutate::bytes),
        ]
    ) {
        let _case = harness::case("otlp gzip");
        let (inflated, peak) = harness::peak_during(|| gunzip(&raw, MAX_BYTES));
        prop_assert!(peak <= 4 * MAX_BYTES + (1 << 20), "{peak} bytes held");
        if let Ok(raw) = inflated {
            prop_assert!(raw.len() <= MAX_BYTES);
            check(&raw)?;
        }
    }
}

proptest! {
    #![proptest_config(harness::config(32))]
    #[test]
    fn requests_with_thousands_of_labels_or_points_stay_within_the_sample_limit(
        req in prop_oneof![
            (prop::collection::vec(("[a-z_]{1,8}", "\\PC{0,8}"), 0..5_000), 0..3usize)
                .prop_map(|(attributes, n)| many(strings(attributes), n)),
            (1..30_000usize).prop_map(|n| many(Vec::new(), n)),
        ]
    ) {
        check(&req.encode_to_vec())?;
    }
}

/// String attributes.
fn strings(pairs: Vec<(String, String)>) -> Vec<KeyValue> {
    let string = |s| AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    };
    pairs
        .into_iter()
        .map(|(k, v)| kv(k, Some(string(v))))
        .collect()
}

/// One gauge of `points` points, each with `attributes`, the resource too.
fn many(attributes: Vec<KeyValue>, points: usize) -> ExportMetricsServiceRequest {
    let point = NumberDataPoint {
        attributes: attributes.clone(),
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(1.0)),
        ..Default::default()
    };
    let gauge = Metric {
        name: "many".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: (0..points as u64)
                .map(|i| NumberDataPoint {
                    time_unix_nano: point.time_unix_nano + i * 1_000_000,
                    ..point.clone()
                })
                .collect(),
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![gauge],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn a_gzip_bomb_is_refused_at_the_limit() {
    let bomb = gzip(&vec![0u8; 32 * MAX_BYTES]);

    let (result, peak) = harness::peak_during(|| gunzip(&bomb, MAX_BYTES));

    assert!(
        matches!(result, Err(IngestError::TooLarge(_))),
        "{result:?}"
    );
    assert!(peak < 4 * MAX_BYTES, "{peak}");
}

#[test]
fn a_request_nested_past_prosts_recursion_limit_is_malformed() {
    // Arrange: an attribute whose value is an array in an array ... 200 deep.
    let mut value = AnyValue::default();
    for _ in 0..200 {
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let req = many(vec![kv("deep".into(), Some(value))], 1);

    // Act
    let result = otlp::decode(&req.encode_to_vec(), MAX_SAMPLES);

    // Assert
    assert!(
        matches!(result, Err(IngestError::Malformed(_))),
        "{result:?}"
    );
}
