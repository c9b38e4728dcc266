//! warroom-server takes metrics in from agents (OTLP) and Prometheus servers (remote_write), keeps
//! them in an embedded SQLite time-series store and answers PromQL through the Prometheus HTTP API.
//!
//! Modules:
//! - [`config`]: `warroom.toml`, layered under `WARROOM_*` variables and over flags.
//! - [`server`]: `run(config, shutdown)`: database, store, HTTP until the shutdown signal.
//! - [`app`]: the shared state and the router that merges every area's [`routes`].
//! - [`routes`]: one module per area (ingest, health, the server's own metrics, the query API).
//! - [`ingest`]: OTLP and remote_write bodies decoded into write batches, within limits.
//! - [`tokens`]: agent tokens, stored as SHA-256 digests.
//! - [`telemetry`]: the server's own metrics registry.
//! - [`error`]: the one error type at the HTTP edge.
//! - [`db`]: opening the SQLite database and running its migrations (the store's, then the server's).
//! - [`prompb`]: the remote_write 1.0 protobuf messages.
//! - [`alerting`]: rules evaluated over the store, the alert pipeline's state, outbox and sender.
//! - [`timeline`]: the one append-only timeline of events from every source, and its broadcast.
//! - [`cutover`]: the plan, its checks and decisions, and the cutover running in the server.
//!
//! Re-exported from the crates below this one, so the compiler holds the line between them:
//! - [`model`], [`store`], [`parallel`], [`memory`]: `warroom-tsdb` (`server/tsdb`), the
//!   time-series store behind the `MetricStore` and `Querier` traits.
//! - [`query`]: `warroom-promql` (`server/promql`), the PromQL engine (Prometheus 2.42 semantics)
//!   over any `Querier`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod alerting;
pub mod app;
pub mod config;
pub mod cutover;
pub mod db;
pub mod error;
pub mod ingest;
pub mod prompb;
pub mod routes;
pub mod server;
pub mod telemetry;
pub mod timeline;
pub mod tokens;

pub use warroom_promql as query;
pub use warroom_tsdb::{memory, model, parallel, store};
