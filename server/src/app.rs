//! The application: [`AppState`], what every handler shares, and [`app`], the one router that
//! merges each area's routes. Tests drive `app` directly; `server::run` serves it.

use std::sync::Arc;

use axum::Router;

use crate::config::Limits;
use crate::routes;
use crate::store::{MetricStore, Querier};
use crate::telemetry::ServerMetrics;
use crate::tokens::TokenStore;

/// What handlers share: the store (for writing and reading), the tokens, the server's own
/// metrics and the ingest limits.
#[derive(Clone)]
pub struct AppState {
    /// Where ingested samples go.
    pub store: Arc<dyn MetricStore>,
    /// Where queries read from (the same store).
    pub querier: Arc<dyn Querier>,
    /// Agent tokens, checked on every ingest request.
    pub tokens: TokenStore,
    /// The server's own metrics.
    pub metrics: Arc<ServerMetrics>,
    /// What one ingest request may weigh.
    pub limits: Limits,
}

/// Every route of the server.
pub fn app(state: AppState) -> Router {
    let app = Router::new()
        .merge(routes::ingest::router(state.clone()))
        .merge(routes::health::router(state.clone()))
        .merge(routes::metrics::router(state.clone()));
    match query_routes(&state) {
        Some(query) => app.merge(routes::metrics::timed(query, state.metrics.clone())),
        None => app,
    }
}

/// The Prometheus query API (`/api/v1/query`, `query_range`, `series`, `labels`,
/// `label/{name}/values`), timed by [`routes::metrics::timed`]; `None` until it is built.
fn query_routes(state: &AppState) -> Option<Router> {
    let _ = &state.querier;
    None // PLUG-IN(query router): Some(routes::query::router(state.querier.clone()))
}
