//! `GET /healthz` (the process answers) and `GET /readyz` (the store answers too).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::app::AppState;

/// The health routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

/// Ready once the store answers; 503 (with the reason logged) when it does not.
async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.stats().await {
        Ok(_) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!("not ready: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        }
    }
}
