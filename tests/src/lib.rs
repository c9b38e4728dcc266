//! warroom-tests holds the black-box tests: they start the real `warroom-agent` (and later
//! `warroom`) binaries against real kernel objects, real files and local HTTP receivers.
//!
//! Modules:
//! - [`agent`]: a real `warroom-agent` process, stopped or killed when done.
//! - [`alerting`]: a `warroom serve` with rules and escalation tiers to the SaaS stand-ins.
//! - [`bins`]: where the built binaries are and how to run them.
//! - [`http`]: a tiny loopback HTTP client.
//! - [`loadgen`]: a Prometheus remote_write load generator (realistic series, batched, snappy).
//! - [`outbox`]: the server's outbox rows and attempts, read from its SQLite file.
//! - [`process`]: a server process under test: readiness, graceful stop, bytes on disk.
//! - [`procstat`]: CPU time and RSS of a process, as benchmarks measure them.
//! - [`prometheus`]: Debian's Prometheus as a real peer process.
//! - [`promtool`]: `promtool check metrics` on exposition text.
//! - [`receiver`]: a local OTLP/HTTP receiver that records batch sequences.
//! - [`saas`]: local Slack and PagerDuty stand-ins that check payload shapes and inject 429/5xx.
//! - [`server`]: a real `warroom serve` on port 0 with a fresh data directory and a token.

pub mod agent;
pub mod alerting;
pub mod bins;
pub mod http;
pub mod loadgen;
pub mod outbox;
pub mod process;
pub mod procstat;
pub mod prometheus;
pub mod promtool;
pub mod receiver;
pub mod remote_write;
pub mod saas;
pub mod server;
