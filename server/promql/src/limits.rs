//! Query limits, as Prometheus' `--query.timeout`, `--query.max-samples` and
//! `--query.max-concurrency`: a query that would run longer, or hold more samples and points,
//! fails with Prometheus' errors instead of starving the server.
//!
//! [`Budget`] is what one running query may still spend: every loop of the evaluator checks its
//! deadline, and every point a query makes (a step of a range query, a step of a subquery, a
//! vector or range read at one time) is counted against the most samples it may hold at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::QueryError;

/// How long one query may run, how many samples it may hold and how many run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Longest evaluation, waiting for a turn and reading from the store included
    /// (Prometheus' default: 2 minutes).
    pub timeout: Duration,
    /// Most samples and points one query may hold at once, loaded or made
    /// (Prometheus' default: 50,000,000).
    pub max_samples: usize,
    /// Most queries evaluated at once by one engine; more wait for a turn within their timeout
    /// (Prometheus' default: 20).
    pub max_concurrency: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrency: 20,
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

    /// The deadline on tokio's clock, for timers; `None` when there is none.
    pub(crate) fn instant(self) -> Option<tokio::time::Instant> {
        self.0.map(tokio::time::Instant::from_std)
    }
}

/// What one running query may still spend: time until its deadline, and points held at once.
/// Shared by reference with the store's readers, which may run on several threads.
#[derive(Debug)]
pub(crate) struct Budget {
    deadline: Deadline,
    max: usize,
    held: AtomicUsize,
}

impl Budget {
    /// A budget ending at `deadline`, holding at most `max` points.
    pub(crate) fn new(deadline: Deadline, max: usize) -> Self {
        Self {
            deadline,
            max,
            held: AtomicUsize::new(0),
        }
    }

    /// When the query must stop.
    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Fails with Prometheus' timeout error once the deadline has passed.
    pub(crate) fn check_time(&self) -> Result<(), QueryError> {
        self.deadline.check()
    }

    /// Holds `n` more points until [`Budget::release`]; fails when that is more than allowed
    /// (and stays failed: the points count as held).
    pub(crate) fn hold(&self, n: usize) -> Result<(), QueryError> {
        let held = self.held.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        check_samples(held, self.max)
    }

    /// Gives back `n` points taken with [`Budget::hold`].
    pub(crate) fn release(&self, n: usize) {
        // Relaxed is enough: the count is a limit, not a synchronisation.
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(n))
            });
    }

    /// Fails when `n` points made for a moment would not fit beside those held.
    pub(crate) fn fits(&self, n: usize) -> Result<(), QueryError> {
        check_samples(
            self.held.load(Ordering::Relaxed).saturating_add(n),
            self.max,
        )
    }

    /// The deadline, then the points: the first limit a reader that stopped early ran into.
    pub(crate) fn check(&self) -> Result<(), QueryError> {
        self.check_time()?;
        self.fits(0)
    }

    /// Whether either limit has been reached, for readers that cannot return an error.
    pub(crate) fn spent(&self) -> bool {
        self.check().is_err()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_points_count_until_released_and_passing_the_most_fails() {
        let budget = Budget::new(Deadline::after(Duration::from_secs(60)), 10);
        assert!(budget.hold(6).is_ok());
        assert!(budget.fits(4).is_ok());
        assert!(matches!(budget.fits(5), Err(QueryError::TooManySamples)));
        budget.release(6);
        assert!(budget.hold(10).is_ok());
        assert!(matches!(budget.hold(1), Err(QueryError::TooManySamples)));
        assert!(budget.spent());
    }

    #[test]
    fn a_passed_deadline_is_a_timeout() {
        let budget = Budget::new(Deadline::after(Duration::ZERO), usize::MAX);
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(budget.check(), Err(QueryError::Timeout)));
        assert!(budget.spent());
    }
}
