//! Each area's routes, one module per area, each with its `router()`; `app::app` merges them.
//!
//! - [`alerts`]: alerts from outside (`/api/v2/alerts`, `/hooks/alertmanager`), silences,
//!   and the alert groups with their ack / un-ack actions (`/api/warroom/v1/alerts`).
//! - [`cutover`]: the cutover, its gates and runbook, and the actions on them
//!   (`/api/warroom/v1/cutover`, `/gates`, `/runbook`).
//! - [`auth`]: the bearer token and scope check, and the `[api]` settings.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`ingest`]: `POST /v1/metrics` (OTLP) and `POST /api/v1/write` (remote_write).
//! - [`metrics`]: the server's own `/metrics`, and the timing layer of the query API.
//! - [`query`]: the Prometheus HTTP query API (`/api/v1/query`, `query_range`, `series`, labels).
//! - [`timeline`]: the timeline's events (`/api/warroom/v1/timeline`) and people's notes.

pub mod alerts;
pub mod auth;
pub mod cutover;
mod decoders;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod query;
pub mod timeline;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiError;

/// A handler's answer: its response, or its error's.
fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `body` as JSON with `status`.
fn json_response(status: StatusCode, body: Value) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json")];
    (status, headers, body.to_string()).into_response()
}
