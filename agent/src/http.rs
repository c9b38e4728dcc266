//! The agent's HTTP endpoints: `GET /metrics` (the latest collection) and `GET /healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::render::{Exposition, Format};

/// The router serving `exposition`.
pub fn router(exposition: Exposition) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(Arc::new(exposition))
}

/// OpenMetrics for clients that ask for it (Prometheus does), the 0.0.4 text format otherwise.
async fn metrics(
    State(exposition): State<Arc<Exposition>>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = Format::negotiate(accept);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        exposition.render(format),
    )
}
