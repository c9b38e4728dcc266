//! The most samples one query may read, counted by the store as it decodes them: a selector
//! over every series for a month fails as soon as it passes the limit, instead of after the
//! whole month was decoded into memory (which is how one query could end the server).
//!
//! The engine runs a query's reads [`within`] its limit; the SQLite store's reads that return
//! samples ([`super::Querier::select`] and [`super::Querier::select_projected`]) count what
//! they decode against it and fail with [`StoreError::TooManySamples`]. Reads that reduce each
//! series to a value as they go hold no samples and count nothing; reads outside any limit
//! (the rule runner's, the API's metadata) are not limited here.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::StoreError;

tokio::task_local! {
    static LIMIT: Arc<SampleLimit>;
}

/// Samples read so far under one limit, shared by the threads a read splits across.
#[derive(Debug)]
pub struct SampleLimit {
    max: usize,
    taken: AtomicUsize,
}

impl SampleLimit {
    /// Counts `n` more samples read; fails once more than the limit were.
    pub fn take(&self, n: usize) -> Result<(), StoreError> {
        let taken = self.taken.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        match taken > self.max {
            true => Err(StoreError::TooManySamples(self.max)),
            false => Ok(()),
        }
    }
}

/// Runs `reads` with every sample they read counted against `max`.
pub async fn within<F: Future>(max: usize, reads: F) -> F::Output {
    let limit = Arc::new(SampleLimit {
        max,
        taken: AtomicUsize::new(0),
    });
    LIMIT.scope(limit, reads).await
}

/// The limit the calling task's reads run within, if any.
pub fn current() -> Option<Arc<SampleLimit>> {
    LIMIT.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_within_a_limit_fail_past_it_and_reads_outside_have_none() {
        // Arrange / Act
        let inside = within(10, async {
            let limit = current().expect("a limit inside");
            (limit.take(6), limit.take(4), limit.take(1))
        })
        .await;

        // Assert
        assert!(inside.0.is_ok() && inside.1.is_ok());
        assert!(matches!(inside.2, Err(StoreError::TooManySamples(10))));
        assert!(current().is_none());
    }
}
