//! The decoders' fuzz campaign (issue 19): every body, query and file a user or a peer can send
//! goes through the real decoder with random, mutated and structurally valid but adversarial
//! inputs, and must come back as a value or an error: never a panic, a hang or an allocation
//! past the limits it was given.
//!
//! Each property runs `PROPTEST_CASES` cases (or its own CI default, chosen so the whole
//! campaign takes under two minutes in a debug `cargo test` on two cores); a longer run:
//! `PROPTEST_CASES=100000 cargo test --release -p warroom-server --test fuzz -- --skip thousands`
//! (and the `thousands` properties with fewer cases; see the README).
//!
//! Modules:
//! - [`harness`]: the case budget, the per-thread allocation meter and the hang watchdog.
//! - [`mutate`]: byte and text mutations of valid inputs.
//! - [`otlp`]: OTLP/HTTP protobuf bodies, gzip included.
//! - [`remote_write`]: remote_write snappy + protobuf bodies.
//! - [`alerts_json`]: Alertmanager v2 alerts, webhook v4 and silences JSON.
//! - [`promql`]: PromQL strings parsed and evaluated within tight limits.
//! - [`yaml`]: Prometheus rule files, `alerting.yaml` and `plan.yaml` through their loaders.
#![allow(clippy::unwrap_used, missing_docs)]

mod alerts_json;
mod harness;
mod mutate;
mod otlp;
mod promql;
mod remote_write;
mod yaml;

#[global_allocator]
static ALLOCATOR: harness::Metered = harness::Metered;
