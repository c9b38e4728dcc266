//! warroom-tests holds the black-box tests: they start the real `warroom-agent` (and later
//! `warroom`) binaries against real kernel objects, real files and local HTTP receivers.
//!
//! Modules:
//! - [`bins`]: where the built binaries are and how to run them.
//! - [`http`]: a tiny loopback HTTP client.
//! - [`procstat`]: CPU time and RSS of a process, as benchmarks measure them.
//! - [`receiver`]: a local OTLP/HTTP receiver that records batch sequences.
//! - [`saas`]: local Slack and PagerDuty stand-ins that check payload shapes and inject 429/5xx.
//! - [`server`]: a real `warroom serve` on port 0 with a fresh data directory and a token.

pub mod bins;
pub mod http;
pub mod procstat;
pub mod receiver;
pub mod saas;
pub mod server;
