//! warroom-tsdb keeps time series: the label sets and samples every part of warroom shares, the
//! `MetricStore` and `Querier` traits a backend implements, and the two backends (in memory for
//! tests, SQLite as compressed chunks for the server).
//!
//! Modules:
//! - [`model`]: labels, samples, series, matchers and write batches; the stale marker, the Fx
//!   hasher and varints.
//! - [`store`]: the `MetricStore` and `Querier` traits, the in-memory fake and the SQLite store.
//! - [`db`]: opening the SQLite database and running the store's migrations.
//! - [`parallel`]: a read split into parts over the machine's cores.
//! - [`memory`]: freed heap pages given back to the system after each checkpoint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod db;
pub mod memory;
pub mod model;
pub mod parallel;
pub mod store;
