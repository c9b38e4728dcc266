//! Query limits, as Prometheus' `--query.timeout` and `--query.max-samples`: a query that would
//! run longer or load more samples fails with Prometheus' errors instead of starving the server.

use std::time::{Duration, Instant};

use super::QueryError;

/// How long one query may run and how many samples it may load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest evaluation, reading from the store included (Prometheus' default: 2 minutes).
    pub timeout: Duration,
    /// Most samples one query may load from the store (Prometheus' default: 50,000,000).
    pub max_samples: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
        }
    }
}

/// When a running query must stop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// `timeout` from now (never, if that overflows the clock).
    pub(crate) fn after(timeout: Duration) -> Self {
        Self(Instant::now().checked_add(timeout))
    }

    /// Fails with Prometheus' timeout error once the deadline has passed.
    pub(crate) fn check(self) -> Result<(), QueryError> {
        match self.0 {
            Some(at) if Instant::now() > at => Err(QueryError::timeout()),
            _ => Ok(()),
        }
    }
}

/// Fails with Prometheus' error when `loaded` samples exceed `max`.
pub(crate) fn check_samples(loaded: usize, max: usize) -> Result<(), QueryError> {
    if loaded > max {
        Err(QueryError::TooManySamples)
    } else {
        Ok(())
    }
}
