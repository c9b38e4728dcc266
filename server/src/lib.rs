//! warroom-server stores what agents and Prometheus servers send, evaluates rules and serves the war
//! room. This crate starts empty: ingest, storage and the query API arrive with the server issue.
//!
//! Modules (planned, see `DESIGN.md`):
//! - `ingest`: OTLP/HTTP and remote_write receivers.
//! - `store`: the embedded time-series store behind a `MetricStore` trait.
//! - `query`: PromQL evaluation behind a `Querier` trait and the Prometheus HTTP API.
