//! `GET /metrics`: the server's own metrics, with the store's sizes read at scrape time, as
//! OpenMetrics when the scraper asks for it and the Prometheus 0.0.4 text format otherwise; and
//! [`timed`], the layer that fills the query latency histogram for the `/api/v1/*` query routes.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::error::ApiError;
use crate::telemetry::{Format, ServerMetrics};

/// The `/metrics` route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept.unwrap_or_default());
    let stats = state.store.stats().await?;
    state.metrics.store_stats(&stats);
    Ok((
        [(header::CONTENT_TYPE, format.content_type())],
        state.metrics.render(format),
    ))
}

/// `routes` with every request timed into `warroom_query_duration_seconds{route=..}` (the route
/// pattern, so label values stay few).
pub fn timed(routes: Router, metrics: Arc<ServerMetrics>) -> Router {
    routes.route_layer(middleware::from_fn_with_state(metrics, time_query))
}

async fn time_query(
    State(metrics): State<Arc<ServerMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(req).await;
    metrics.query_took(&route, start.elapsed());
    response
}
