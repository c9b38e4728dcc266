//! The real `warroom serve` process: the real agent ships to it, bearer tokens let senders in
//! and keep them out (`warroom token create` / `revoke`), bad bodies get their 4xx, and SIGTERM
//! stops it promptly with exit code 0.

use std::io::Write;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use warroom_tests::agent::{Agent, Shipping};
use warroom_tests::bins::sample;
use warroom_tests::http;
use warroom_tests::server::{Server, spawn_server, spawn_server_with, token};

const PROTOBUF: &str = "Content-Type: application/x-protobuf";
const GZIP: &str = "Content-Encoding: gzip";

/// A gzip'd OTLP batch with one gauge, shaped as the agent sends it.
fn otlp_body(seq: i64) -> Vec<u8> {
    let kv = |key: &str, value| KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    };
    let point = NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000 + seq as u64 * 1_000_000_000,
        value: Some(number_data_point::Value::AsDouble(1.0)),
        ..Default::default()
    };
    let gauge = Metric {
        name: "blackbox_gauge".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![point],
        })),
        ..Default::default()
    };
    let resource = Resource {
        attributes: vec![
            kv("node", any_value::Value::StringValue("bb".into())),
            kv(
                "warroom.agent.id",
                any_value::Value::StringValue("bb-agent".into()),
            ),
            kv("warroom.batch.seq", any_value::Value::IntValue(seq)),
        ],
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![gauge],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    gzip(&req.encode_to_vec())
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

fn send_otlp(
    server: &Server,
    token: Option<&str>,
    headers: &[&str],
    body: &[u8],
) -> http::Response {
    let auth = token.map(Server::bearer);
    let mut all: Vec<&str> = headers.to_vec();
    all.extend(auth.as_deref());
    http::post(server.addr, "/v1/metrics", &all, body).unwrap()
}

fn server_metric(server: &Server, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = http::get(server.addr, "/metrics", &[]).unwrap().body;
    sample(&text, name, labels)
}

#[test]
fn the_real_agent_ships_to_the_real_server_and_its_metrics_show_the_samples() {
    let server = spawn_server();
    let token_file = server.scratch().join("agent.token");
    std::fs::write(&token_file, format!("{}\n", server.token)).unwrap();
    let url = server.url();
    let spool = server.scratch().join("spool");
    let shipping = Shipping {
        server: &url,
        token_file: &token_file,
        spool: &spool,
    };
    let _agent = Agent::start("source", "bb-node", "1s", Some(shipping));

    let deadline = Instant::now() + Duration::from_secs(30);
    let ingested = loop {
        let n = server_metric(
            &server,
            "warroom_ingest_samples_total",
            &[("protocol", "otlp")],
        );
        match n {
            Some(n) if n > 0.0 => break n,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            _ => panic!("no OTLP samples ingested in 30s\n{}", server.log_text()),
        }
    };

    let series = server_metric(&server, "warroom_store_series", &[]).unwrap();
    assert!(
        ingested >= 50.0,
        "only {ingested} samples from a whole agent collection"
    );
    assert!(
        series >= 50.0,
        "only {series} series from a whole agent collection"
    );
}

#[test]
fn ingest_without_a_token_is_401_with_one_is_200_and_after_revocation_403() {
    let server = spawn_server();

    let none = send_otlp(&server, None, &[PROTOBUF, GZIP], &otlp_body(1));
    let unknown = send_otlp(
        &server,
        Some("wr_guessed"),
        &[PROTOBUF, GZIP],
        &otlp_body(1),
    );
    let valid = send_otlp(
        &server,
        Some(&server.token),
        &[PROTOBUF, GZIP],
        &otlp_body(1),
    );
    token(&server.data_dir, &["revoke", "test-agent"]);
    let revoked = send_otlp(
        &server,
        Some(&server.token),
        &[PROTOBUF, GZIP],
        &otlp_body(2),
    );

    assert_eq!(none.status, 401, "{none:?}");
    assert!(
        none.headers.contains("www-authenticate: bearer"),
        "{}",
        none.headers
    );
    assert_eq!(unknown.status, 401, "{unknown:?}");
    assert_eq!(valid.status, 200, "{valid:?}");
    assert!(
        valid
            .headers
            .contains("content-type: application/x-protobuf"),
        "{}",
        valid.headers
    );
    assert_eq!(revoked.status, 403, "{revoked:?}");
    assert_eq!(revoked.body, "token \"test-agent\" was revoked\n");
    let listed = token(&server.data_dir, &["list"]);
    assert!(
        listed.starts_with("test-agent\t") && listed.contains("revoked_ms="),
        "{listed}"
    );
}

#[test]
fn malformed_oversized_and_mistyped_bodies_get_400_413_and_415() {
    let server =
        spawn_server_with("[limits]\nmax_body_bytes = 65536\nmax_decompressed_bytes = 1048576\n");
    let t = Some(server.token.as_str());

    let garbage = send_otlp(&server, t, &[PROTOBUF, GZIP], b"definitely not gzip");
    let huge = send_otlp(&server, t, &[PROTOBUF], &vec![0u8; 200_000]);
    let bomb = send_otlp(&server, t, &[PROTOBUF, GZIP], &gzip(&vec![0u8; 16 << 20]));
    let json = send_otlp(&server, t, &["Content-Type: application/json"], b"{}");

    assert_eq!(garbage.status, 400, "{garbage:?}");
    assert_eq!(garbage.body.lines().count(), 1, "{garbage:?}");
    assert_eq!(huge.status, 413, "{huge:?}");
    assert_eq!(bomb.status, 413, "{bomb:?}");
    assert_eq!(json.status, 415, "{json:?}");
    let malformed = server_metric(
        &server,
        "warroom_ingest_rejected_batches_total",
        &[("protocol", "otlp"), ("reason", "malformed")],
    );
    assert_eq!(malformed, Some(1.0));
}

#[test]
fn sigterm_stops_the_server_promptly_with_exit_code_0() {
    let mut server = spawn_server();
    let ok = send_otlp(
        &server,
        Some(&server.token.clone()),
        &[PROTOBUF, GZIP],
        &otlp_body(1),
    );
    assert_eq!(ok.status, 200);

    let status = server.terminate(Duration::from_secs(5));

    let status =
        status.unwrap_or_else(|| panic!("still running 5s after SIGTERM\n{}", server.log_text()));
    assert!(
        status.success(),
        "exited with {status}\n{}",
        server.log_text()
    );
}
