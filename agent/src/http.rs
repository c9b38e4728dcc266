//! The agent's HTTP endpoints: `GET /metrics` (the latest collection) and `GET /healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::render;

/// The router serving `registry`.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(registry)
}

/// OpenMetrics for clients that ask for it (Prometheus does), the 0.0.4 text format otherwise.
async fn metrics(State(registry): State<Arc<Registry>>, headers: HeaderMap) -> impl IntoResponse {
    let text = render::encode(&registry);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/openmetrics-text") {
        ([(header::CONTENT_TYPE, render::OPENMETRICS)], text)
    } else {
        (
            [(header::CONTENT_TYPE, render::PROMETHEUS_TEXT)],
            render::to_prometheus_text(&text),
        )
    }
}
