//! The metric [`Buffer`] of one collection as an OTLP `ExportMetricsServiceRequest`: one resource
//! (the node's identity and the batch's sequence), one scope, one metric per family. Counters are
//! monotonic cumulative sums, gauges and untyped values are gauges, histograms are cumulative
//! explicit-bucket histograms. [`gzip_body`] and [`decode_body`] are the wire form.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::metrics::{Buffer, Family, HistogramValue, Kind, Labels, Sample, Value};

/// The instrumentation scope name of every batch.
pub const SCOPE_NAME: &str = "warroom-agent";
/// The resource attribute carrying the agent's id (a UUID, stable across restarts).
pub const AGENT_ID_ATTR: &str = "warroom.agent.id";
/// The resource attribute carrying the batch sequence number (monotonic across restarts).
pub const SEQ_ATTR: &str = "warroom.batch.seq";

/// The labels every sample of this agent carries; the server turns them into series labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLabels {
    /// The node's name (`node` label).
    pub node: String,
    /// The cluster the node belongs to (`cluster` label).
    pub cluster: String,
    /// The migration side, `source` or `target` (`env` label).
    pub env: String,
}

/// Everything a batch's resource says: who sent it and which batch it is.
#[derive(Debug, Clone, Copy)]
pub struct BatchResource<'a> {
    /// The node's `node`, `cluster` and `env` labels.
    pub labels: &'a NodeLabels,
    /// The agent's persistent id.
    pub agent_id: &'a str,
    /// This batch's sequence number.
    pub seq: u64,
}

/// A failure to read a batch body back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not valid gzip (truncated, or not gzip at all).
    #[error("not a valid gzip stream: {0}")]
    Gzip(#[from] std::io::Error),
    /// The decompressed bytes are not an `ExportMetricsServiceRequest`.
    #[error("not an OTLP ExportMetricsServiceRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Converts one collection into an OTLP request. `time_unix_nano` is the collection time;
/// `start_unix_nano` is the agent's start, the start of every cumulative point.
pub fn encode(
    buf: &Buffer,
    resource: &BatchResource<'_>,
    time_unix_nano: u64,
    start_unix_nano: u64,
) -> ExportMetricsServiceRequest {
    let times = Times {
        now: time_unix_nano,
        start: start_unix_nano,
    };
    let metrics = buf.families().iter().map(|f| metric(f, times)).collect();
    let scope = ScopeMetrics {
        scope: Some(InstrumentationScope {
            name: SCOPE_NAME.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Default::default()
        }),
        metrics,
        schema_url: String::new(),
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource_of(resource)),
            scope_metrics: vec![scope],
            schema_url: String::new(),
        }],
    }
}

/// The request as a gzip'd protobuf body, ready for `Content-Encoding: gzip`.
pub fn gzip_body(req: &ExportMetricsServiceRequest) -> std::io::Result<Vec<u8>> {
    let raw = req.encode_to_vec();
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 4 + 64), Compression::fast());
    gz.write_all(&raw)?;
    gz.finish()
}

/// Reads a gzip'd protobuf body back (the spool checks replayed batches with it; so do tests).
pub fn decode_body(body: &[u8]) -> Result<ExportMetricsServiceRequest, DecodeError> {
    let mut raw = Vec::with_capacity(body.len() * 4);
    GzDecoder::new(body).read_to_end(&mut raw)?;
    Ok(ExportMetricsServiceRequest::decode(raw.as_slice())?)
}

/// Nanoseconds since the Unix epoch, 0 for times before it and saturating far after it.
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The integer value of `warroom.batch.seq` in a request, if present.
pub fn batch_seq(req: &ExportMetricsServiceRequest) -> Option<u64> {
    let resource = req.resource_metrics.first()?.resource.as_ref()?;
    let attr = resource.attributes.iter().find(|kv| kv.key == SEQ_ATTR)?;
    match attr.value.as_ref()?.value.as_ref()? {
        any_value::Value::IntValue(v) => u64::try_from(*v).ok(),
        _ => None,
    }
}

#[derive(Clone, Copy)]
struct Times {
    now: u64,
    start: u64,
}

fn resource_of(r: &BatchResource<'_>) -> Resource {
    let seq = i64::try_from(r.seq).unwrap_or(i64::MAX);
    Resource {
        attributes: vec![
            string_kv("node", &r.labels.node),
            string_kv("cluster", &r.labels.cluster),
            string_kv("env", &r.labels.env),
            string_kv(AGENT_ID_ATTR, r.agent_id),
            kv(SEQ_ATTR, any_value::Value::IntValue(seq)),
        ],
        ..Default::default()
    }
}

fn metric(family: &Family, t: Times) -> Metric {
    let data = match family.kind {
        Kind::Counter => metric::Data::Sum(Sum {
            data_points: number_points(&family.samples, t),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
        Kind::Gauge | Kind::Untyped => metric::Data::Gauge(Gauge {
            data_points: number_points(&family.samples, Times { start: 0, ..t }),
        }),
        Kind::Histogram => metric::Data::Histogram(Histogram {
            data_points: histogram_points(&family.samples, t),
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    };
    Metric {
        name: family.name.to_string(),
        description: family.help.to_string(),
        data: Some(data),
        ..Default::default()
    }
}

/// Number points of the samples that hold a number; a histogram value in a number family is a
/// collector bug and is left out rather than guessed at.
fn number_points(samples: &[Sample], t: Times) -> Vec<NumberDataPoint> {
    let point = |s: &Sample| match s.value {
        Value::Number(v) => Some(NumberDataPoint {
            attributes: attributes(&s.labels),
            start_time_unix_nano: t.start,
            time_unix_nano: t.now,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        }),
        Value::Histogram(_) => None,
    };
    samples.iter().filter_map(point).collect()
}

fn histogram_points(samples: &[Sample], t: Times) -> Vec<HistogramDataPoint> {
    let point = |s: &Sample| match &s.value {
        Value::Histogram(h) => Some(histogram_point(&s.labels, h, t)),
        Value::Number(_) => None,
    };
    samples.iter().filter_map(point).collect()
}

/// Prometheus buckets are cumulative and end with `+Inf`; OTLP counts each bucket on its own and
/// leaves `+Inf` implicit as the last bucket.
fn histogram_point(labels: &Labels, h: &HistogramValue, t: Times) -> HistogramDataPoint {
    let mut bounds = Vec::with_capacity(h.buckets.len());
    let mut counts = Vec::with_capacity(h.buckets.len() + 1);
    let mut below = 0u64;
    for &(le, cumulative) in h.buckets.iter().filter(|(le, _)| le.is_finite()) {
        bounds.push(le);
        counts.push(cumulative.saturating_sub(below));
        below = below.max(cumulative);
    }
    counts.push(h.count.saturating_sub(below));
    HistogramDataPoint {
        attributes: attributes(labels),
        start_time_unix_nano: t.start,
        time_unix_nano: t.now,
        count: h.count,
        sum: Some(h.sum),
        bucket_counts: counts,
        explicit_bounds: bounds,
        ..Default::default()
    }
}

fn attributes(labels: &Labels) -> Vec<KeyValue> {
    labels.iter().map(|(k, v)| string_kv(k, v)).collect()
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;

    const NOW: u64 = 1_700_000_000_000_000_000;
    const START: u64 = 1_600_000_000_000_000_000;

    fn node() -> NodeLabels {
        NodeLabels {
            node: "n1".into(),
            cluster: "c1".into(),
            env: "source".into(),
        }
    }

    fn encode_one(buf: &Buffer, seq: u64) -> ExportMetricsServiceRequest {
        let labels = node();
        let resource = BatchResource {
            labels: &labels,
            agent_id: "agent-1",
            seq,
        };
        encode(buf, &resource, NOW, START)
    }

    fn only_metric(req: &ExportMetricsServiceRequest) -> &Metric {
        let scope = &req.resource_metrics[0].scope_metrics[0];
        assert_eq!(scope.metrics.len(), 1);
        &scope.metrics[0]
    }

    fn histogram_buffer(buckets: Vec<(f64, u64)>, count: u64) -> Buffer {
        let mut buf = Buffer::new();
        let h = HistogramValue {
            buckets,
            sum: 7.5,
            count,
        };
        buf.family("probe_seconds", "Probe latency.", Kind::Histogram)
            .push_histogram(labels!["target" => "db"], h);
        buf
    }

    #[test]
    fn a_counter_becomes_a_monotonic_cumulative_sum_named_with_total() {
        let mut buf = Buffer::new();
        buf.counter("node_x_total", "X.")
            .push(labels!["cpu" => 0], 42.0);

        let req = encode_one(&buf, 1);

        let m = only_metric(&req);
        assert_eq!(m.name, "node_x_total");
        assert_eq!(m.description, "X.");
        let Some(Data::Sum(sum)) = &m.data else {
            panic!("not a sum: {:?}", m.data)
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &sum.data_points[0];
        assert_eq!(p.value, Some(number_data_point::Value::AsDouble(42.0)));
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (START, NOW));
        assert_eq!(p.attributes, vec![string_kv("cpu", "0")]);
    }

    #[test]
    fn gauges_and_untyped_values_become_gauges() {
        let mut buf = Buffer::new();
        buf.gauge("node_load1", "Load.").push(vec![], 0.5);
        buf.family("node_netstat_x", "Netstat.", Kind::Untyped)
            .push(vec![], 3.0);

        let req = encode_one(&buf, 1);

        let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
        for (m, want) in metrics.iter().zip([0.5, 3.0]) {
            let Some(Data::Gauge(g)) = &m.data else {
                panic!("{} is not a gauge", m.name)
            };
            let value = g.data_points[0].value;
            assert_eq!(value, Some(number_data_point::Value::AsDouble(want)));
            assert_eq!(g.data_points[0].time_unix_nano, NOW);
        }
    }

    #[test]
    fn cumulative_prometheus_buckets_become_per_bucket_otlp_counts() {
        let buf = histogram_buffer(vec![(0.1, 2), (0.5, 5), (1.0, 5), (f64::INFINITY, 9)], 9);

        let req = encode_one(&buf, 1);

        let Some(Data::Histogram(h)) = &only_metric(&req).data else {
            panic!("not a histogram")
        };
        let p = &h.data_points[0];
        assert_eq!(p.explicit_bounds, vec![0.1, 0.5, 1.0]);
        assert_eq!(p.bucket_counts, vec![2, 3, 0, 4]);
        assert_eq!((p.count, p.sum), (9, Some(7.5)));
        assert_eq!(p.start_time_unix_nano, START);
        assert_eq!(p.attributes, vec![string_kv("target", "db")]);
        assert_eq!(
            h.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
    }

    #[test]
    fn a_histogram_without_an_inf_bucket_still_gets_its_overflow_bucket() {
        let buf = histogram_buffer(vec![(1.0, 4)], 6);

        let req = encode_one(&buf, 1);

        let Some(Data::Histogram(h)) = &only_metric(&req).data else {
            panic!("not a histogram")
        };
        assert_eq!(h.data_points[0].explicit_bounds, vec![1.0]);
        assert_eq!(h.data_points[0].bucket_counts, vec![4, 2]);
    }

    #[test]
    fn the_resource_carries_node_labels_agent_id_and_sequence_and_the_scope_is_named() {
        let req = encode_one(&Buffer::new(), 77);

        let rm = &req.resource_metrics[0];
        let attrs = &rm.resource.as_ref().expect("resource").attributes;
        let keys: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["node", "cluster", "env", AGENT_ID_ATTR, SEQ_ATTR]);
        assert_eq!(attrs[2], string_kv("env", "source"));
        assert_eq!(attrs[3], string_kv(AGENT_ID_ATTR, "agent-1"));
        assert_eq!(batch_seq(&req), Some(77));
        let scope = rm.scope_metrics[0].scope.as_ref().expect("scope");
        assert_eq!(scope.name, "warroom-agent");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn the_gzip_body_decodes_back_to_the_same_request() {
        let mut buf = Buffer::new();
        buf.counter("a_total", "A.").push(labels!["x" => "y"], 1.0);
        let req = encode_one(&buf, 5);

        let body = gzip_body(&req).expect("gzip");

        assert_eq!(&body[..2], &[0x1f, 0x8b]);
        let mut raw = Vec::new();
        GzDecoder::new(body.as_slice())
            .read_to_end(&mut raw)
            .expect("gunzip");
        let back = ExportMetricsServiceRequest::decode(raw.as_slice()).expect("decode");
        assert_eq!(back, req);
        assert_eq!(decode_body(&body).expect("decode_body"), req);
    }

    #[test]
    fn a_truncated_body_is_a_decode_error() {
        let body = gzip_body(&encode_one(&Buffer::new(), 1)).expect("gzip");

        let err = decode_body(&body[..body.len() / 2]).expect_err("truncated");

        assert!(matches!(err, DecodeError::Gzip(_)), "{err}");
    }
}
