//! HTTP routes, one module per area, each exposing `router(...) -> axum::Router` with its state
//! applied so the application can merge them.
//!
//! - [`query`]: the Prometheus HTTP query API (`/api/v1/query`, `query_range`, `series`, labels).

pub mod query;
