//! warroom-agent runs on every node of both sides of a migration and collects host, container, pod
//! and network metrics cheaply; it serves them on `/metrics` and pushes them to the warroom server
//! as OTLP, spooling to disk while the server is away.
//!
//! Modules:
//! - [`config`]: the agent's settings from file, environment and flags.
//! - [`metrics`]: the shared buffer of metric families every collector writes into.
//! - [`collect`]: the collectors (host, cgroups/containers, pods, network, probes, the agent's own
//!   process), one file each.
//! - [`render`]: the buffer as Prometheus text through a prometheus-client registry.
//! - [`otlp`]: the buffer as an OTLP `ExportMetricsServiceRequest`.
//! - [`ship`]: pushing batches to the server with a disk spool and a persisted sequence.
//! - [`agent`]: one collection pass and the loop that runs it until shutdown.
//! - [`http`]: the agent's `/metrics` and `/healthz` endpoints.

pub mod agent;
pub mod collect;
pub mod config;
pub mod http;
pub mod metrics;
pub mod otlp;
pub mod render;
pub mod ship;
