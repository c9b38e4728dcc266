//! Scope tests: the whole [`app`](crate::app::app) served over loopback, with a real SQLite
//! token table, an in-memory store and reqwest as the client.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;

use super::{ApiConfig, Auth};
use crate::app::{AppState, app};
use crate::config::Limits;
use crate::store::mem::MemStore;
use crate::telemetry::ServerMetrics;
use crate::tokens::{Scope, TokenStore};

struct Served {
    _dir: tempfile::TempDir,
    url: String,
    tokens: TokenStore,
    client: reqwest::Client,
}

async fn serve(api: ApiConfig) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::open(&dir.path().join("w.db")).await.unwrap();
    let tokens = TokenStore::new(pool.clone());
    let store = Arc::new(MemStore::new());
    let state = AppState {
        store: store.clone(),
        querier: store,
        auth: Auth::new(tokens.clone(), api),
        metrics: Arc::new(ServerMetrics::new()),
        limits: Limits::default(),
        ingested: crate::app::Ingested::default(),
        alerts: None,
        timeline: crate::timeline::Timeline::new(pool.clone()),
        cutover: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    Served {
        _dir: dir,
        url,
        tokens,
        client: reqwest::Client::new(),
    }
}

impl Served {
    async fn token(&self, name: &str, scope: Scope) -> String {
        let token = self.tokens.create(name, scope).await.unwrap();
        token.expose().to_owned()
    }

    /// `GET path`, with `token` as bearer when given; the status and the body.
    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// An empty snappy remote_write request: only the token decides its status.
    async fn write(&self, token: Option<&str>) -> (StatusCode, String) {
        let body = snap::raw::Encoder::new().compress_vec(&[]).unwrap();
        let mut req = (self.client.post(format!("{}/api/v1/write", self.url)))
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// An empty OTLP request.
    async fn otlp(&self, token: &str) -> StatusCode {
        let r = (self.client.post(format!("{}/v1/metrics", self.url)))
            .header("content-type", "application/x-protobuf")
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        r.status()
    }
}

const QUERY: &str = "/api/v1/query?query=up&time=1";
const READS: &[&str] = &[
    QUERY,
    "/api/v1/query_range?query=up&start=0&end=60&step=15",
    "/api/v1/series?match[]=up",
    "/api/v1/labels",
    "/api/v1/label/job/values",
    "/api/v1/status/buildinfo",
    "/api/v1/metadata",
];

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn every_query_route_refuses_a_missing_token_with_401_in_prometheus_shape() {
    let s = serve(ApiConfig::default()).await;

    for path in READS {
        let (status, body) = s.get(path, None).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let body = json(&body);
        assert_eq!(body["status"], "error", "{path}");
        assert_eq!(body["errorType"], "unauthorized", "{path}");
        assert_eq!(body["error"], "a bearer token is required", "{path}");
    }
    assert_eq!(s.get(QUERY, Some("wr_guess")).await.0, 401);
}

#[tokio::test]
async fn an_ingest_token_may_write_but_reading_is_403_naming_the_scope_needed() {
    let s = serve(ApiConfig::default()).await;
    let agent = s.token("agent", Scope::Ingest).await;

    let (status, body) = s.get(QUERY, Some(&agent)).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        json(&body),
        serde_json::json!({
            "status": "error",
            "errorType": "forbidden",
            "error": "token \"agent\" has scope ingest; this route needs scope read or admin",
        })
    );
    assert_eq!(s.write(Some(&agent)).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_read_token_reads_every_query_route_but_may_not_write() {
    let s = serve(ApiConfig::default()).await;
    let grafana = s.token("grafana", Scope::Read).await;

    for path in READS {
        assert_eq!(
            s.get(path, Some(&grafana)).await.0,
            StatusCode::OK,
            "{path}"
        );
    }
    let (status, body) = s.write(Some(&grafana)).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        "token \"grafana\" has scope read; this route needs scope ingest or admin\n"
    );
    assert_eq!(s.otlp(&grafana).await, StatusCode::FORBIDDEN);
    assert_eq!(s.get("/api/v1/query", Some(&grafana)).await.0, 400);
}

#[tokio::test]
async fn an_admin_token_reads_and_writes() {
    let s = serve(ApiConfig::default()).await;
    let ops = s.token("ops", Scope::Admin).await;

    assert_eq!(s.get(QUERY, Some(&ops)).await.0, StatusCode::OK);
    assert_eq!(s.write(Some(&ops)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.otlp(&ops).await, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_read_token_is_403() {
    let s = serve(ApiConfig::default()).await;
    let grafana = s.token("grafana", Scope::Read).await;
    s.tokens.revoke("grafana").await.unwrap();

    let (status, body) = s.get(QUERY, Some(&grafana)).await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json(&body)["error"], "token \"grafana\" was revoked");
}

#[tokio::test]
async fn anonymous_reads_let_queries_in_without_a_token_but_writes_still_need_one() {
    let s = serve(ApiConfig {
        anonymous_read: true,
    })
    .await;

    for path in READS {
        assert_eq!(s.get(path, None).await.0, StatusCode::OK, "{path}");
    }
    assert_eq!(s.write(None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn health_and_the_servers_own_metrics_need_no_token() {
    let s = serve(ApiConfig::default()).await;

    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(s.get(path, None).await.0, StatusCode::OK, "{path}");
    }
}
