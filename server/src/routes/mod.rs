//! Each area's routes, one module per area, each with its `router()`; `app::app` merges them.
//!
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`ingest`]: `POST /v1/metrics` (OTLP) and `POST /api/v1/write` (remote_write).
//! - [`metrics`]: the server's own `/metrics`, and the timing layer of the query API.

pub mod health;
pub mod ingest;
pub mod metrics;
