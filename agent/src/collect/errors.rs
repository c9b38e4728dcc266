//! Collection errors: what failed and where, logged once per cause and always counted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// A failure to read or understand one source file or directory.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The content was not in the expected format.
    #[error("{}:{line}: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when the file as a whole is wrong).
        line: usize,
        /// What was wrong.
        what: String,
    },
    /// Anything else, e.g. a failed probe or kubelet request.
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    /// A read error for `path`.
    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Self::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A parse error at `path:line`.
    pub fn parse(path: &Path, line: usize, what: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line,
            what: what.into(),
        }
    }

    /// True when the file or directory is simply gone (a cgroup or process that vanished).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Counts errors per collector and logs each distinct cause only the first time it is seen, so a
/// collector failing every 15 s does not flood the log.
#[derive(Debug, Default)]
pub struct ErrorLog {
    seen: HashSet<(&'static str, String)>,
    counts: Family<Vec<(&'static str, &'static str)>, Counter>,
}

impl ErrorLog {
    /// A new log whose counter family is `counts`.
    pub fn new(counts: Family<Vec<(&'static str, &'static str)>, Counter>) -> Self {
        Self {
            seen: HashSet::new(),
            counts,
        }
    }

    /// Records one error of `collector`.
    pub fn record(&mut self, collector: &'static str, err: &CollectError) {
        self.counts
            .get_or_create(&vec![("collector", collector)])
            .inc();
        let cause = err.to_string();
        // Bound the memory of causes: a churning cause (a new pid each time) must not grow forever.
        if self.seen.len() > 1024 {
            self.seen.clear();
        }
        if self.seen.insert((collector, cause.clone())) {
            tracing::warn!(collector, error = %cause, "collector error (logged once per cause)");
        }
    }

    /// The total count for `collector` (for tests and the benchmark).
    pub fn count(&self, collector: &'static str) -> u64 {
        self.counts
            .get_or_create(&vec![("collector", collector)])
            .get()
    }
}
