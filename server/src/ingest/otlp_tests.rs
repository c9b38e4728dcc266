//! Tests of the OTLP decoder, on requests shaped exactly as `warroom-agent` builds them.

use super::*;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, ResourceMetrics, ScopeMetrics, Sum,
};

const NOW_NS: u64 = 1_700_000_000_123_456_789;
const NOW_MS: i64 = 1_700_000_000_123;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

/// The agent's resource: node labels, its id and the batch sequence.
fn agent_request(metrics: Vec<Metric>, seq: i64) -> ExportMetricsServiceRequest {
    let resource = Resource {
        attributes: vec![
            s("node", "n1"),
            s("cluster", "c1"),
            s("env", "source"),
            s(AGENT_ID_ATTR, "agent-1"),
            kv(SEQ_ATTR, any_value::Value::IntValue(seq)),
        ],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "warroom-agent".into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn number(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: 1,
        time_unix_nano: NOW_NS,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn counter(
    name: &str,
    points: Vec<NumberDataPoint>,
    temporality: AggregationTemporality,
) -> Metric {
    let sum = Sum {
        data_points: points,
        aggregation_temporality: temporality as i32,
        is_monotonic: true,
    };
    metric(name, metric::Data::Sum(sum))
}

fn histogram(bounds: Vec<f64>, counts: Vec<u64>, count: u64) -> Metric {
    let point = HistogramDataPoint {
        attributes: vec![s("target", "db")],
        time_unix_nano: NOW_NS,
        count,
        sum: Some(7.5),
        bucket_counts: counts,
        explicit_bounds: bounds,
        ..Default::default()
    };
    let h = Histogram {
        data_points: vec![point],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    };
    metric("probe_seconds", metric::Data::Histogram(h))
}

fn decoded(req: &ExportMetricsServiceRequest) -> Decoded {
    decode(&req.encode_to_vec(), 1_000).expect("decodes")
}

/// Every series as Prometheus prints it, with its one value, sorted.
fn rendered(d: &Decoded) -> Vec<String> {
    let mut out: Vec<String> = d
        .batch
        .series
        .iter()
        .map(|s| format!("{} {}", s.labels, s.samples[0].v))
        .collect();
    out.sort();
    out
}

#[test]
fn an_agent_batch_becomes_its_series_with_node_labels_and_the_batch_id() {
    let cpu = vec![s("cpu", "0"), s("mode", "idle")];
    let req = agent_request(
        vec![
            counter(
                "node_cpu_seconds_total",
                vec![number(cpu, 12.5)],
                AggregationTemporality::Cumulative,
            ),
            metric(
                "node_load1",
                metric::Data::Gauge(Gauge {
                    data_points: vec![number(vec![], 0.5)],
                }),
            ),
        ],
        42,
    );

    let d = decoded(&req);

    assert_eq!(
        d.batch.id,
        Some(BatchId {
            agent: "agent-1".into(),
            seq: 42
        })
    );
    assert_eq!(
        rendered(&d),
        [
            r#"node_cpu_seconds_total{cluster="c1", cpu="0", env="source", mode="idle", node="n1"} 12.5"#,
            r#"node_load1{cluster="c1", env="source", node="n1"} 0.5"#,
        ]
    );
    assert!(d.batch.series.iter().all(|s| s.samples[0].t == NOW_MS));
    assert_eq!(d.unsupported, 0);
}

#[test]
fn a_cumulative_histogram_becomes_cumulative_buckets_sum_and_count() {
    let req = agent_request(vec![histogram(vec![0.1, 0.5, 1.0], vec![2, 3, 0, 4], 9)], 1);

    let got = rendered(&decoded(&req));

    let want = [
        r#"probe_seconds_bucket{cluster="c1", env="source", le="+Inf", node="n1", target="db"} 9"#,
        r#"probe_seconds_bucket{cluster="c1", env="source", le="0.1", node="n1", target="db"} 2"#,
        r#"probe_seconds_bucket{cluster="c1", env="source", le="0.5", node="n1", target="db"} 5"#,
        r#"probe_seconds_bucket{cluster="c1", env="source", le="1.0", node="n1", target="db"} 5"#,
        r#"probe_seconds_count{cluster="c1", env="source", node="n1", target="db"} 9"#,
        r#"probe_seconds_sum{cluster="c1", env="source", node="n1", target="db"} 7.5"#,
    ];
    assert_eq!(got, want);
}

#[test]
fn a_histogram_whose_counts_do_not_fit_its_bounds_is_malformed() {
    let req = agent_request(vec![histogram(vec![0.1, 0.5], vec![1, 2], 3)], 1);

    let err = decode(&req.encode_to_vec(), 1_000).unwrap_err();

    assert!(
        err.to_string().contains("2 bucket counts for 2 bounds"),
        "{err}"
    );
}

#[test]
fn delta_sums_are_left_out_and_counted_as_unsupported() {
    let req = agent_request(
        vec![counter(
            "x_total",
            vec![number(vec![], 1.0), number(vec![], 2.0)],
            AggregationTemporality::Delta,
        )],
        1,
    );

    let d = decoded(&req);

    assert!(d.batch.series.is_empty());
    assert_eq!(d.unsupported, 2);
}

#[test]
fn a_request_without_warroom_attributes_has_no_batch_id_and_odd_names_are_sanitized() {
    let mut req = agent_request(
        vec![metric(
            "http.server.duration",
            metric::Data::Gauge(Gauge {
                data_points: vec![number(vec![s("http.method", "GET")], 1.0)],
            }),
        )],
        1,
    );
    let resource = req.resource_metrics[0].resource.as_mut().expect("resource");
    resource.attributes.retain(|kv| kv.key == "node");

    let d = decoded(&req);

    assert_eq!(d.batch.id, None);
    assert_eq!(
        rendered(&d),
        [r#"http_server_duration{http_method="GET", node="n1"} 1"#]
    );
}

#[test]
fn bodies_that_are_not_otlp_or_carry_too_many_samples_are_refused() {
    let garbage = decode(b"\xff\xff\xff\xff", 10).unwrap_err();
    let req = agent_request(vec![histogram(vec![0.1, 0.5, 1.0], vec![2, 3, 0, 4], 9)], 1);
    let too_many = decode(&req.encode_to_vec(), 5).unwrap_err();

    assert!(matches!(garbage, IngestError::Malformed(_)), "{garbage}");
    assert!(matches!(too_many, IngestError::TooLarge(_)), "{too_many}");
}

#[test]
fn a_negative_sequence_is_malformed() {
    let req = agent_request(vec![], -1);

    let err = decode(&req.encode_to_vec(), 10).unwrap_err();

    assert!(err.to_string().contains("negative"), "{err}");
}

#[test]
fn the_response_reports_dropped_samples_as_partial_success() {
    let report = AppendReport {
        out_of_order: 2,
        duplicates: 1,
        ..Default::default()
    };

    let body = response(&report, 0);
    let clean = response(&AppendReport::default(), 0);

    let back = ExportMetricsServiceResponse::decode(body.as_slice()).expect("decode");
    let partial = back.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 3);
    assert!(
        partial.error_message.contains("2 out-of-order"),
        "{}",
        partial.error_message
    );
    let clean = ExportMetricsServiceResponse::decode(clean.as_slice()).expect("decode");
    assert_eq!(clean.partial_success, None);
}

#[test]
fn label_sets_use_the_symbol_table_strings_and_repeated_points_gather_in_one_series() {
    let point = |v| number(vec![s("cpu", "otlp-intern-test-cpu")], v);
    let mut req = agent_request(
        vec![metric(
            "otlp_intern_test",
            metric::Data::Gauge(Gauge {
                data_points: vec![point(1.0)],
            }),
        )],
        1,
    );
    let later = NumberDataPoint {
        time_unix_nano: NOW_NS + 1_000_000,
        ..point(2.0)
    };
    let m = &mut req.resource_metrics[0].scope_metrics[0].metrics[0];
    if let Some(metric::Data::Gauge(g)) = &mut m.data {
        g.data_points.push(later);
    }

    let d = decoded(&req);

    assert_eq!(d.batch.series.len(), 1);
    assert_eq!(d.batch.series[0].samples.len(), 2);
    let labels = &d.batch.series[0].labels;
    for l in labels.iter() {
        assert!(
            l.name.ptr_eq(&crate::model::Sym::interned(&l.name)),
            "{l:?}"
        );
        assert!(
            l.value.ptr_eq(&crate::model::Sym::interned(&l.value)),
            "{l:?}"
        );
    }
}

#[test]
fn a_resource_whose_many_attributes_join_every_points_label_set_is_too_large() {
    // Arrange: 2,000 resource attributes, and 2,000 gauge points told apart by one attribute:
    // 4 million labels in the label sets from a body of about 100 KB.
    let mut req = agent_request(Vec::new(), 1);
    let resource = req.resource_metrics[0].resource.as_mut().unwrap();
    resource
        .attributes
        .extend((0..2_000).map(|i| s(&format!("a{i}"), "v")));
    let points = (0..2_000)
        .map(|i| number(vec![s("i", &i.to_string())], 1.0))
        .collect();
    req.resource_metrics[0].scope_metrics[0].metrics = vec![metric(
        "m",
        metric::Data::Gauge(Gauge {
            data_points: points,
        }),
    )];
    let raw = req.encode_to_vec();

    // Act
    let err = decode(&raw, 1_000_000).unwrap_err();

    // Assert
    assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("label sets of this request hold more than"),
        "{text}"
    );
}

/// `n` one-point gauges of a node's pods, two attributes each, as the agent sends them.
fn pod_gauges(n: usize) -> Vec<Metric> {
    (0..n)
        .map(|i| {
            let attrs = vec![s("pod", &format!("checkout-{i:05}")), s("container", "app")];
            let points = vec![number(attrs, i as f64)];
            let gauge = Gauge {
                data_points: points,
            };
            metric(
                "container_memory_working_set_bytes",
                metric::Data::Gauge(gauge),
            )
        })
        .collect()
}

#[test]
fn an_agents_request_of_gauges_is_well_within_its_label_budget() {
    // Arrange: the agent's resource and 2,000 gauges of one point each with two attributes,
    // as a node with many pods sends them.
    let metrics = pod_gauges(2_000);
    let raw = agent_request(metrics, 1).encode_to_vec();

    // Act
    let d = decode(&raw, 1_000_000).unwrap();

    // Assert: under half the budget.
    let labels: usize = d.batch.series.iter().map(|s| s.labels.len()).sum();
    assert_eq!(d.batch.series.len(), 2_000);
    assert!(
        labels * 2 <= super::super::label_budget(raw.len()),
        "{labels} labels from {} bytes",
        raw.len()
    );
}

#[test]
fn a_body_of_empty_resource_metrics_is_too_large_before_prost_allocates_them() {
    // Arrange: two-byte empty `ResourceMetrics`, 104 bytes each once decoded.
    let raw = [0x0a, 0x00].repeat(1 << 20);

    // Act
    let err = decode(&raw, 1_000_000).unwrap_err();

    // Assert
    assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("10 times its decompressed size"), "{text}");
}

#[test]
fn nested_attribute_values_are_counted_and_too_deep_ones_are_malformed() {
    // Arrange: a resource attribute whose value is an array inside an array, 200 deep.
    let mut value = AnyValue {
        value: Some(any_value::Value::StringValue("leaf".into())),
    };
    for _ in 0..200 {
        let array = opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vec![value],
        };
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(array)),
        };
    }
    let mut req = agent_request(Vec::new(), 1);
    let resource = req.resource_metrics[0].resource.as_mut().unwrap();
    resource.attributes.push(KeyValue {
        key: "deep".into(),
        value: Some(value),
        ..Default::default()
    });

    // Act
    let err = decode(&req.encode_to_vec(), 1_000).unwrap_err();

    // Assert
    assert!(matches!(err, IngestError::Malformed(_)), "{err}");
    assert!(err.to_string().contains("nested over 64 deep"), "{err}");
}

#[test]
fn the_agents_requests_are_well_within_the_decoded_budget() {
    // Arrange: gauges with pod attributes, counters and histograms, as a node sends them.
    let mut metrics = pod_gauges(1_000);
    metrics.extend((0..200).map(|i| {
        let attrs = vec![s("device", &format!("eth{i}"))];
        counter(
            "node_network_receive_bytes_total",
            vec![number(attrs, 1e9)],
            AggregationTemporality::Cumulative,
        )
    }));
    metrics
        .extend((0..100).map(|_| histogram(vec![0.001, 0.01, 0.1, 1.0], vec![1, 2, 3, 4, 5], 15)));
    let raw = agent_request(metrics, 1).encode_to_vec();

    // Act
    let decoded = otlp_size::decoded_bytes(&raw).unwrap();

    // Assert: under half the budget's ratio, so real traffic never meets it.
    let per_body_byte = decoded as f64 / raw.len() as f64;
    assert!(
        per_body_byte * 2.0 <= otlp_size::DECODED_PER_BODY_BYTE as f64,
        "{decoded} bytes decoded for a body of {}: {per_body_byte:.2} per byte",
        raw.len()
    );
    assert!(decode(&raw, 1_000_000).is_ok());
}
