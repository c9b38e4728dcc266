//! The application: [`AppState`], what every handler shares, and [`app`], the one router that
//! merges each area's routes. Tests drive `app` directly; `server::run` serves it.

use std::sync::Arc;

use axum::Router;
use tokio::sync::Notify;

use crate::alerting::pipeline::Pipeline;
use crate::config::Limits;
use crate::cutover::live::Cutover;
use crate::query::QueryLimits;
use crate::routes;
use crate::routes::alerts::AlertsState;
use crate::routes::auth::{self, Auth};
use crate::routes::cutover::CutoverState;
use crate::store::{MetricStore, Querier};
use crate::telemetry::ServerMetrics;
use crate::timeline::Timeline;

/// What handlers share: the store (for writing and reading), the token check, the server's own
/// metrics and the ingest limits.
#[derive(Clone)]
pub struct AppState {
    /// Where ingested samples go.
    pub store: Arc<dyn MetricStore>,
    /// Where queries read from (the same store).
    pub querier: Arc<dyn Querier>,
    /// The bearer token check of every route but health and `/metrics`.
    pub auth: Auth,
    /// The server's own metrics.
    pub metrics: Arc<ServerMetrics>,
    /// What one ingest request may weigh.
    pub limits: Limits,
    /// Rung after an append stored samples, so rules without `for` and the cutover's gates
    /// look at once.
    pub ingested: Ingested,
    /// The alert pipeline, when alerting runs (it always does under `warroom serve`).
    pub alerts: Option<Arc<Pipeline>>,
    /// The one timeline of events.
    pub timeline: Arc<Timeline>,
    /// The cutover, when a plan is configured.
    pub cutover: Option<Arc<Cutover>>,
}

/// The bells rung after an append stored samples: one per loop that looks at once (rules
/// without `for`, the cutover's gates). Each keeps one ring for a loop busy when it came.
#[derive(Clone, Default)]
pub struct Ingested(Vec<Arc<Notify>>);

impl Ingested {
    /// These bells.
    pub fn new(bells: Vec<Arc<Notify>>) -> Self {
        Self(bells)
    }

    /// Rings every bell.
    pub fn ring(&self) {
        for bell in &self.0 {
            bell.notify_one();
        }
    }
}

/// Every route of the server.
pub fn app(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(routes::ingest::router(state.clone()))
        .merge(routes::health::router(state.clone()))
        .merge(routes::metrics::router(state.clone()))
        .merge(routes::timeline::router(state.clone()));
    if let Some(pipeline) = state.alerts.clone() {
        let auth = state.auth.clone();
        app = app.merge(routes::alerts::router(AlertsState { pipeline, auth }));
    }
    app = app.merge(routes::cutover::router(CutoverState {
        cutover: state.cutover.clone(),
        auth: state.auth.clone(),
    }));
    // The Prometheus query API, timed by the server's query latency histogram, for readers
    // (refusals are not timed).
    let limits = QueryLimits {
        timeout: state.limits.query_timeout,
        max_samples: state.limits.query_max_samples,
        max_concurrency: state.limits.query_max_concurrency,
    };
    let query = routes::query::router_with_limits(state.querier.clone(), limits);
    let timed = routes::metrics::timed(query, state.metrics.clone());
    app.merge(auth::prometheus_reads(timed, state.auth))
}
