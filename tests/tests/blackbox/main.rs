//! The black-box test binary: real `warroom-agent` processes against real cgroups, network
//! namespaces, files and local receivers. Needs root and `cargo build --workspace` first.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

mod agent_output;
mod agent_pod;
mod agent_spool;
mod prometheus_peer;
