//! warroom-server takes metrics in from agents (OTLP) and Prometheus servers (remote_write), keeps
//! them in an embedded SQLite time-series store and answers PromQL through the Prometheus HTTP API.
//!
//! Modules:
//! - [`model`]: labels, samples, series, matchers and write batches shared by every part.
//! - [`store`]: the `MetricStore` and `Querier` traits, the in-memory fake and the SQLite store.
//! - [`db`]: opening the SQLite database and running its migrations.
//! - [`prompb`]: the remote_write 1.0 protobuf messages.
//! - [`query`]: the PromQL engine (Prometheus 2.42 semantics) over any `Querier`.
//! - [`routes`]: HTTP routes by area; `routes::query` is the Prometheus query API.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod db;
pub mod model;
pub mod prompb;
pub mod query;
pub mod routes;
pub mod store;
