//! Route tests: the whole [`app`](crate::app::app) driven with `oneshot`, over the in-memory store
//! and a real SQLite token table.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::http::Request as HttpRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tower::ServiceExt;

use crate::app::{AppState, app};
use crate::config::Limits;
use crate::model::Matcher;
use crate::prompb;
use crate::routes::auth::{ApiConfig, Auth};
use crate::store::Querier;
use crate::store::mem::MemStore;
use crate::telemetry::{Format, ServerMetrics};
use crate::tokens::{Scope, TokenStore};

struct Harness {
    _dir: tempfile::TempDir,
    app: Router,
    store: Arc<MemStore>,
    tokens: TokenStore,
    token: String,
}

async fn harness(limits: Limits) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::open(&dir.path().join("w.db")).await.unwrap();
    let tokens = TokenStore::new(pool.clone());
    let token = tokens.create("node-a", Scope::Ingest).await.unwrap();
    let token = token.expose().to_owned();
    let store = Arc::new(MemStore::new());
    let state = AppState {
        store: store.clone(),
        querier: store.clone(),
        auth: Auth::new(tokens.clone(), ApiConfig::default()),
        metrics: Arc::new(ServerMetrics::new()),
        limits,
        ingested: crate::app::Ingested::default(),
        alerts: None,
        timeline: crate::timeline::Timeline::new(pool.clone()),
        cutover: None,
    };
    Harness {
        _dir: dir,
        app: app(state),
        store,
        tokens,
        token,
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// An agent-shaped batch with one gauge `node_load1` of value `v` at `t_ms`.
fn otlp_batch(seq: i64, t_ms: u64, v: f64) -> Vec<u8> {
    let point = NumberDataPoint {
        time_unix_nano: t_ms * 1_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let metric = Metric {
        name: "node_load1".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![point],
        })),
        ..Default::default()
    };
    let resource = Resource {
        attributes: vec![
            s("node", "n1"),
            s("warroom.agent.id", "agent-1"),
            kv("warroom.batch.seq", any_value::Value::IntValue(seq)),
        ],
        ..Default::default()
    };
    let scope = ScopeMetrics {
        metrics: vec![metric],
        ..Default::default()
    };
    let rm = ResourceMetrics {
        resource: Some(resource),
        scope_metrics: vec![scope],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![rm],
    }
    .encode_to_vec()
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

fn remote_write_body(t: i64) -> Vec<u8> {
    let ts = prompb::TimeSeries {
        labels: vec![prompb::Label {
            name: "__name__".into(),
            value: "up".into(),
        }],
        samples: vec![prompb::Sample {
            value: 1.0,
            timestamp: t,
        }],
    };
    let raw = prompb::WriteRequest {
        timeseries: vec![ts],
    }
    .encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

/// A POST with `headers` (name, value) and a bearer `token` when given.
fn post(
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> HttpRequest<axum::body::Body> {
    let mut req = HttpRequest::post(path);
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(axum::body::Body::from(body)).unwrap()
}

const OTLP_GZIP: &[(&str, &str)] = &[
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "gzip"),
];
const REMOTE_WRITE: &[(&str, &str)] = &[
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
];

async fn send(app: &Router, req: HttpRequest<axum::body::Body>) -> (u16, Vec<u8>) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, body.to_vec())
}

async fn get_text(app: &Router, path: &str) -> (u16, String) {
    let req = HttpRequest::get(path)
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = send(app, req).await;
    (status, String::from_utf8(body).unwrap())
}

async fn stored(store: &MemStore, name: &str) -> Vec<f64> {
    let series = store
        .select(&[Matcher::equal("__name__", name)], 0, i64::MAX)
        .await
        .unwrap();
    series
        .iter()
        .flat_map(|s| s.samples.iter().map(|p| p.v))
        .collect()
}

#[tokio::test]
async fn a_gzipped_agent_batch_with_a_live_token_is_stored_before_the_200() {
    let h = harness(Limits::default()).await;

    let req = post(
        "/v1/metrics",
        Some(&h.token),
        OTLP_GZIP,
        gzip(&otlp_batch(1, 1_000, 0.5)),
    );
    let (status, body) = send(&h.app, req).await;

    assert_eq!(status, 200);
    let answer = ExportMetricsServiceResponse::decode(body.as_slice()).unwrap();
    assert_eq!(answer.partial_success, None);
    assert_eq!(stored(&h.store, "node_load1").await, [0.5]);
}

#[tokio::test]
async fn a_replayed_batch_is_acknowledged_and_changes_nothing() {
    let h = harness(Limits::default()).await;
    let first = post(
        "/v1/metrics",
        Some(&h.token),
        OTLP_GZIP,
        gzip(&otlp_batch(7, 1_000, 1.0)),
    );
    let replay = post(
        "/v1/metrics",
        Some(&h.token),
        OTLP_GZIP,
        gzip(&otlp_batch(7, 2_000, 2.0)),
    );

    assert_eq!(send(&h.app, first).await.0, 200);
    assert_eq!(send(&h.app, replay).await.0, 200);

    assert_eq!(stored(&h.store, "node_load1").await, [1.0]);
}

#[tokio::test]
async fn out_of_order_samples_come_back_as_partial_success_and_are_counted() {
    let h = harness(Limits::default()).await;
    let newer = post(
        "/v1/metrics",
        Some(&h.token),
        OTLP_GZIP,
        gzip(&otlp_batch(1, 5_000, 1.0)),
    );
    let older = post(
        "/v1/metrics",
        Some(&h.token),
        OTLP_GZIP,
        gzip(&otlp_batch(2, 1_000, 2.0)),
    );
    send(&h.app, newer).await;

    let (status, body) = send(&h.app, older).await;

    assert_eq!(status, 200);
    let partial = ExportMetricsServiceResponse::decode(body.as_slice())
        .unwrap()
        .partial_success;
    assert_eq!(partial.unwrap().rejected_data_points, 1);
    let (_, metrics) = get_text(&h.app, "/metrics").await;
    assert!(
        metrics.contains(r#"warroom_ingest_dropped_samples_total{reason="out_of_order"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"warroom_ingest_samples_total{protocol="otlp"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn no_token_or_an_unknown_one_is_401_and_a_revoked_one_is_403() {
    let h = harness(Limits::default()).await;
    let body = || gzip(&otlp_batch(1, 1_000, 1.0));

    let none = send(&h.app, post("/v1/metrics", None, OTLP_GZIP, body())).await;
    let unknown = send(
        &h.app,
        post("/v1/metrics", Some("wr_guess"), OTLP_GZIP, body()),
    )
    .await;
    h.tokens.revoke("node-a").await.unwrap();
    let revoked = send(
        &h.app,
        post(
            "/api/v1/write",
            Some(&h.token),
            REMOTE_WRITE,
            remote_write_body(1),
        ),
    )
    .await;

    assert_eq!(none.0, 401);
    assert_eq!(unknown.0, 401);
    assert_eq!(
        (revoked.0, String::from_utf8(revoked.1).unwrap()),
        (403, "token \"node-a\" was revoked\n".into())
    );
    assert!(h.store.select(&[], 0, i64::MAX).await.unwrap().is_empty());
}

#[tokio::test]
async fn json_or_an_unknown_encoding_is_415() {
    let h = harness(Limits::default()).await;
    let json = [("content-type", "application/json")];
    let brotli = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "br"),
    ];
    let rw2 = [(
        "content-type",
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    )];

    let got = [
        send(
            &h.app,
            post("/v1/metrics", Some(&h.token), &json, b"{}".to_vec()),
        )
        .await
        .0,
        send(
            &h.app,
            post("/v1/metrics", Some(&h.token), &brotli, vec![1]),
        )
        .await
        .0,
        send(
            &h.app,
            post("/api/v1/write", Some(&h.token), &rw2, remote_write_body(1)),
        )
        .await
        .0,
    ];

    assert_eq!(got, [415, 415, 415]);
}

#[tokio::test]
async fn garbage_is_400_with_a_one_line_reason_and_is_counted_as_malformed() {
    let h = harness(Limits::default()).await;

    let (status, body) = send(
        &h.app,
        post(
            "/v1/metrics",
            Some(&h.token),
            OTLP_GZIP,
            b"garbage".to_vec(),
        ),
    )
    .await;

    let text = String::from_utf8(body).unwrap();
    assert_eq!(status, 400);
    assert!(
        text.starts_with("malformed body: not a valid gzip stream"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    let (_, metrics) = get_text(&h.app, "/metrics").await;
    let line = r#"warroom_ingest_rejected_batches_total{protocol="otlp",reason="malformed"} 1"#;
    assert!(metrics.contains(line), "{metrics}");
}

#[tokio::test]
async fn a_body_over_the_limit_or_a_gzip_bomb_is_413() {
    let limits = Limits {
        max_body_bytes: 64 << 10,
        max_decompressed_bytes: 1 << 20,
        ..Limits::default()
    };
    let h = harness(limits).await;
    let big = vec![0u8; 100 << 10];
    let bomb = gzip(&vec![0u8; 8 << 20]);

    let over = send(&h.app, post("/v1/metrics", Some(&h.token), OTLP_GZIP, big))
        .await
        .0;
    let inflated = send(&h.app, post("/v1/metrics", Some(&h.token), OTLP_GZIP, bomb))
        .await
        .0;

    assert_eq!((over, inflated), (413, 413));
}

#[tokio::test]
async fn a_remote_write_request_is_stored_and_answered_204() {
    let h = harness(Limits::default()).await;

    let (status, _) = send(
        &h.app,
        post(
            "/api/v1/write",
            Some(&h.token),
            REMOTE_WRITE,
            remote_write_body(1_000),
        ),
    )
    .await;

    assert_eq!(status, 204);
    assert_eq!(stored(&h.store, "up").await, [1.0]);
    let (_, metrics) = get_text(&h.app, "/metrics").await;
    assert!(
        metrics.contains(r#"warroom_ingest_samples_total{protocol="remote_write"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("warroom_store_series 1"), "{metrics}");
}

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let h = harness(Limits::default()).await;

    assert_eq!(get_text(&h.app, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(get_text(&h.app, "/readyz").await.0, 200);
}

#[tokio::test]
async fn query_routes_are_timed_by_route_pattern() {
    let metrics = Arc::new(ServerMetrics::new());
    let query = Router::new().route(
        "/api/v1/label/{name}/values",
        axum::routing::get(|| async { "[]" }),
    );
    let app = crate::routes::metrics::timed(query, metrics.clone());

    let req = HttpRequest::get("/api/v1/label/job/values")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(send(&app, req).await.0, 200);

    let text = metrics.render(Format::Prometheus);
    let line = r#"warroom_query_duration_seconds_count{route="/api/v1/label/{name}/values"} 1"#;
    assert!(text.contains(line), "{text}");
}
