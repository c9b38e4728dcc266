//! The black-box test binary: real `warroom-agent` and `warroom` processes against real cgroups, network
//! namespaces, files and local receivers. Needs root and `cargo build --workspace` first.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

mod agent_metrics;
mod agent_output;
mod agent_pod;
mod agent_spool;
mod alerts_e2e;
mod alerts_shutdown;
mod cutover_e2e;
mod notify_saas;
mod notify_secrets;
mod plan_check;
mod prometheus_forwards;
mod prometheus_peer;
mod rules_check;
mod server_auth;
mod server_e2e;
mod server_hostile_bodies;
mod server_ingest;
mod server_kill9;
mod server_metrics;
mod server_otlp_shapes;
mod server_query_bounds;
mod server_shutdown_bounds;
mod timeline_api;
