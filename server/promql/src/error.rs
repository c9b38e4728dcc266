//! Why a query failed, sorted by who is to blame: the query text, the evaluation, or the store.

use warroom_tsdb::store::StoreError;

/// A failed parse or evaluation; the HTTP edge maps each variant to Prometheus' error types.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The expression or a parameter is malformed (Prometheus' `bad_data`, HTTP 400).
    #[error("{0}")]
    BadData(String),
    /// The expression uses a construct this engine does not evaluate (HTTP 422).
    #[error("unsupported in warroom's PromQL engine: {0}")]
    Unsupported(String),
    /// Evaluation failed as Prometheus' would (Prometheus' `execution`, HTTP 422).
    #[error("{0}")]
    Execution(String),
    /// The query ran past its timeout (Prometheus' `timeout`, HTTP 503).
    #[error("query timed out in query execution")]
    Timeout,
    /// The query would load more samples than allowed (Prometheus' `execution`, HTTP 422).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// Reading series from the store failed (HTTP 503; the detail is logged, not sent).
    #[error("store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for QueryError {
    /// A read that passed the query's sample limit is the query's fault, as Prometheus says.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooManySamples(_) => Self::TooManySamples,
            other => Self::Store(other),
        }
    }
}

impl QueryError {
    /// An execution error from a message.
    pub(crate) fn exec(msg: impl Into<String>) -> Self {
        Self::Execution(msg.into())
    }

    /// The timeout error.
    pub(crate) fn timeout() -> Self {
        Self::Timeout
    }

    /// An unsupported-construct error naming it.
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        Self::Unsupported(what.into())
    }
}
