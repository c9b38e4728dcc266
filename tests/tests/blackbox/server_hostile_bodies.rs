//! The nastiest inputs of the decoders' fuzz campaign (`server/tests/fuzz`), posted over HTTP
//! to the real `warroom serve`: each gets its 4xx, and the server stays up and keeps answering,
//! listings that print the parsed values included.

use std::io::Write;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use warroom_tests::http;
use warroom_tests::server::{Server, spawn_server_with};

const PROTOBUF: &str = "Content-Type: application/x-protobuf";
const JSON: &str = "Content-Type: application/json";
/// The decompressed-size limit the server runs with: bombs reach it quickly in a debug build.
const MAX_DECOMPRESSED: usize = 8 << 20;

/// An OTLP request whose one attribute is an array nested `depth` deep.
fn deep_otlp(depth: usize) -> Vec<u8> {
    let mut value = AnyValue::default();
    for _ in 0..depth {
        value = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let attributes = vec![KeyValue {
        key: "deep".into(),
        value: Some(value),
        ..Default::default()
    }];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics::default()],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// `raw` gzipped.
fn gzipped(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

/// Two-byte empty `ResourceMetrics` up to the decompressed limit: 104 bytes each in prost.
fn empty_resource_metrics() -> Vec<u8> {
    gzipped(&b"\x0a\x00".repeat(MAX_DECOMPRESSED / 2 - 16))
}

/// A resource of 2,000 attributes and 20,000 points told apart by one attribute: each point's
/// label set takes the resource's, 40 million labels from a body of a few hundred KB.
fn resource_on_every_point() -> Vec<u8> {
    use opentelemetry_proto::tonic::metrics::v1::{Gauge, Metric, NumberDataPoint, metric};
    let text = |key: String, value: &str| KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    };
    let points = (0..20_000)
        .map(|i| NumberDataPoint {
            attributes: vec![text("i".into(), &i.to_string())],
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(
                opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(1.0),
            ),
            ..Default::default()
        })
        .collect();
    let gauge = Metric {
        name: "m".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    };
    gzipped(
        &ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: (0..2_000).map(|i| text(format!("a{i}"), "v")).collect(),
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![gauge],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
    )
}

/// The largest resident set process `pid` has had (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn gzip_bomb() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 8 * MAX_DECOMPRESSED]).unwrap();
    gz.finish().unwrap()
}

/// A snappy header claiming `len` bytes, and a little garbage.
fn snappy_claiming(len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = len;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(b"\x00garbage");
    out
}

/// One series of empty labels just under the decompressed limit: the densest body for the
/// decoder's index of labels.
fn dense_labels() -> Vec<u8> {
    let inner = b"\x0a\x00".repeat(MAX_DECOMPRESSED / 2 - 16);
    let mut raw = vec![0x0a];
    let mut n = inner.len();
    while n >= 0x80 {
        raw.push(n as u8 | 0x80);
        n >>= 7;
    }
    raw.push(n as u8);
    raw.extend_from_slice(&inner);
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

/// A sample whose timestamp varint runs to 11 bytes (it overflowed a shift once).
fn long_varint_sample() -> Vec<u8> {
    let mut sample = vec![0x09];
    sample.extend(1.0f64.to_le_bytes());
    sample.push(0x10);
    sample.extend([0x80; 10]);
    sample.push(0x01);
    let series = [&[0x12, sample.len() as u8][..], &sample].concat();
    let raw = [&[0x0a, series.len() as u8][..], &series].concat();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn alert_at(starts_at: &str) -> Vec<u8> {
    format!(r#"[{{"labels":{{"alertname":"Fuzz"}},"startsAt":"{starts_at}"}}]"#).into_bytes()
}

fn silence_until(ends_at: &str) -> Vec<u8> {
    format!(
        r#"{{"matchers":[{{"name":"a","value":"b"}}],"endsAt":"{ends_at}","createdBy":"fuzz"}}"#
    )
    .into_bytes()
}

fn assert_up(server: &Server, after: &str) {
    let health = http::get(server.addr, "/healthz", &[]);
    assert!(
        health.as_ref().is_ok_and(|r| r.status == 200),
        "the server is down after {after}: {health:?}\n{}",
        server.log_text()
    );
}

#[test]
fn the_fuzz_campaigns_nastiest_bodies_get_a_4xx_and_the_server_stays_up() {
    // Arrange
    let server = spawn_server_with(&format!(
        "[limits]\nmax_decompressed_bytes = {MAX_DECOMPRESSED}\n"
    ));
    let auth = Server::bearer(&server.token);
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let cases: Vec<(&str, &str, Vec<&str>, Vec<u8>)> = vec![
        ("otlp random bytes", "/v1/metrics", vec![PROTOBUF], b"\x0a\xff\xff\xff\xff\x0f".to_vec()),
        ("otlp nested 200 deep", "/v1/metrics", vec![PROTOBUF], deep_otlp(200)),
        ("otlp gzip bomb", "/v1/metrics", vec![PROTOBUF, "Content-Encoding: gzip"], gzip_bomb()),
        ("otlp empty resource metrics", "/v1/metrics", vec![PROTOBUF, "Content-Encoding: gzip"], empty_resource_metrics()),
        ("otlp resource on every point", "/v1/metrics", vec![PROTOBUF, "Content-Encoding: gzip"], resource_on_every_point()),
        ("remote_write claiming 16 EB", "/api/v1/write", vec![PROTOBUF], snappy_claiming(u64::MAX >> 1)),
        ("remote_write claiming 4 GB", "/api/v1/write", vec![PROTOBUF], snappy_claiming(u32::MAX.into())),
        ("remote_write dense labels", "/api/v1/write", vec![PROTOBUF], dense_labels()),
        ("remote_write 11-byte timestamp", "/api/v1/write", vec![PROTOBUF], long_varint_sample()),
        ("v2 alerts nested JSON", "/api/v2/alerts", vec![JSON], deep_json.clone()),
        ("v2 alert offset overflow", "/api/v2/alerts", vec![JSON], alert_at("2026-11-21T12:00:00+9999999999999999:00")),
        ("v2 alert before 1970", "/api/v2/alerts", vec![JSON], alert_at("1970-01-01T00:00:00+01:00")),
        ("webhook nested JSON", "/hooks/alertmanager", vec![JSON], deep_json.clone()),
        ("webhook version 5", "/hooks/alertmanager", vec![JSON], br#"{"version":"5","alerts":[]}"#.to_vec()),
        ("silence after 9999", "/api/v2/silences", vec![JSON], silence_until("9999-12-31T23:59:59-01:00")),
        ("silence bad regex", "/api/v2/silences", vec![JSON], br#"{"matchers":[{"name":"a","value":"(","isRegex":true}],"endsAt":"2099-01-01T00:00:00Z","createdBy":"x"}"#.to_vec()),
    ];

    for (what, path, mut headers, body) in cases {
        // Act
        headers.push(&auth);
        let response = http::post(server.addr, path, &headers, &body)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", server.log_text()));

        // Assert
        assert!(
            (400..500).contains(&response.status),
            "{what}: {} {}\n{}",
            response.status,
            response.body,
            server.log_text()
        );
        assert_up(&server, what);
    }
    let silences = http::get(server.addr, "/api/v2/silences", &[&server.reader()]).unwrap();
    assert_eq!(silences.status, 200, "{}", silences.body);
    let query = format!(
        "/api/v1/query?query={}",
        http::percent_encode(&"(".repeat(10_000))
    );
    let refused = http::get(server.addr, &query, &[&server.reader()]).unwrap();
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_up(&server, "every body");
}

#[test]
fn bodies_that_decode_to_many_times_their_size_are_413_before_the_server_holds_it() {
    // Arrange
    let server = spawn_server_with(&format!(
        "[limits]\nmax_decompressed_bytes = {MAX_DECOMPRESSED}\n"
    ));
    let auth = Server::bearer(&server.token);
    let gzip = vec![PROTOBUF, "Content-Encoding: gzip", &auth];
    let snappy = vec![PROTOBUF, &auth];
    let cases = [
        (
            "otlp empty resource metrics",
            "/v1/metrics",
            &gzip,
            empty_resource_metrics(),
        ),
        (
            "otlp resource on every point",
            "/v1/metrics",
            &gzip,
            resource_on_every_point(),
        ),
        (
            "remote_write dense labels",
            "/api/v1/write",
            &snappy,
            dense_labels(),
        ),
    ];

    for (what, path, headers, body) in cases {
        // Act
        let response = http::post(server.addr, path, headers, &body).unwrap();

        // Assert
        assert_eq!(response.status, 413, "{what}: {}", response.body);
        assert_up(&server, what);
    }
    // Before these were bounded, the first alone took 436 MB (4 million 104-byte structs) and
    // the second 40 million labels. What stays is the decompressed body and its copies.
    let peak = peak_rss(server.pid());
    assert!(peak < 256 << 20, "the server peaked at {} MB", peak >> 20);
}
