//! Query threads run below the rest of the server: a query's CPU work (and the threads it
//! splits a read across, which inherit the value) gets a higher nice value than the async
//! workers answering ingest and health, so on a busy machine the scheduler gives ingest its
//! turn first and a heavy query takes what is left, instead of sharing the cores evenly.

/// The nice value added to a query thread's: as `nice -n 10` would.
pub const QUERY_NICENESS: i32 = 19;

/// Lowers the calling thread's priority by [`QUERY_NICENESS`]. On Linux the nice value
/// belongs to the thread (`setpriority(PRIO_PROCESS, 0)` names the calling thread), so the
/// rest of the process keeps its own. A refusal (a sandbox without the call) leaves the
/// thread as it was: the query still runs, only without yielding.
pub fn yield_to_ingest() {
    let Ok(now) = rustix::process::getpriority_process(None) else {
        return;
    };
    let lower = now.saturating_add(QUERY_NICENESS).min(19);
    if let Err(e) = rustix::process::setpriority_process(None, lower) {
        tracing::debug!(error = %e, "query thread keeps its priority");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use warroom_tsdb::model::{Labels, Matcher, Series};
    use warroom_tsdb::store::{Querier, StoreError};

    use super::QUERY_NICENESS;
    use crate::Engine;

    /// A store that answers nothing and notes the nice value of the thread reading it.
    #[derive(Default)]
    struct Noting(Mutex<Vec<i32>>);

    #[async_trait::async_trait]
    impl Querier for Noting {
        async fn select(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Series>, StoreError> {
            let nice = rustix::process::getpriority_process(None).unwrap_or(i32::MIN);
            self.0.lock().unwrap().push(nice);
            Ok(Vec::new())
        }
        async fn series(&self, _: &[Matcher], _: i64, _: i64) -> Result<Vec<Labels>, StoreError> {
            Ok(Vec::new())
        }
        async fn label_names(
            &self,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
        async fn label_values(
            &self,
            _: &str,
            _: &[Matcher],
            _: i64,
            _: i64,
        ) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_reads_on_a_thread_below_the_callers_priority_and_the_caller_keeps_its_own() {
        // Arrange
        let store = Arc::new(Noting::default());
        let engine = Engine::new(store.clone());
        let caller = rustix::process::getpriority_process(None).unwrap();

        // Act
        let answer = engine.instant("up", 1_000).await;

        // Assert
        assert!(answer.is_ok(), "{answer:?}");
        let seen = store.0.lock().unwrap().clone();
        assert_eq!(seen, [(caller + QUERY_NICENESS).min(19)]);
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), caller);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_engine_at_full_priority_reads_at_the_callers_priority() {
        // Arrange
        let store = Arc::new(Noting::default());
        let engine = Engine::new(store.clone()).at_full_priority();
        let caller = rustix::process::getpriority_process(None).unwrap();

        // Act
        let answer = engine.instant("up", 1_000).await;

        // Assert
        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(store.0.lock().unwrap().clone(), [caller]);
    }
}
