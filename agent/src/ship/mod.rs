//! Pushing each collection to the warroom server as a gzip'd OTLP batch, with a disk spool for
//! when the server is away. Every batch carries the agent's persistent id and a sequence number
//! that never repeats across restarts; the server receives sequences in order because a new batch
//! waits behind spooled ones, and the spool drains oldest-first whenever the server answers again
//! (at the next collection tick).
//!
//! - [`ShipConfig`] (here): where to send, the token file, the spool's place and size, the timeout.
//! - [`Shipper`] (here): opens the state and spool, ships one batch per collection tick.
//! - [`client`]: the token secret, one POST, and what each HTTP answer means.
//! - [`spool`]: durable one-file-per-batch spool, bounded in bytes, oldest dropped first.
//! - [`state`]: the agent id and batch sequence persisted in the spool directory.
//! - `deliver`: drain oldest-first, journal the new batch in the spool, send it; count and log
//!   what is dropped.
//! - `telemetry`: the shipper's own counters and gauges.

pub mod client;
mod deliver;
pub mod spool;
pub mod state;
mod telemetry;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use prometheus_client::registry::Registry;
use serde::Deserialize;

use crate::metrics::Buffer;
use crate::otlp::{self, BatchResource, NodeLabels};
use client::Client;
pub use client::{AgentToken, RetryReason};
use spool::Spool;
use state::AgentState;
use telemetry::ShipMetrics;

/// Settings of shipping to the server. Shipping is off while `server` is unset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipConfig {
    /// Base URL of the warroom server (`https://warroom.example:8443`); batches go to `/v1/metrics`.
    #[serde(default)]
    pub server: Option<String>,
    /// File whose first line is the agent's bearer token (`warroom token create`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Directory holding the agent id, the batch sequence and the batches not yet delivered.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// Most bytes the spool may hold on disk; beyond it the oldest batches are dropped and counted.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// How long one POST may take, connecting included ("10s").
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// `/var/lib/warroom-agent/spool`.
pub fn default_spool_dir() -> PathBuf {
    PathBuf::from("/var/lib/warroom-agent/spool")
}

/// 256 MiB: over a day of batches from a busy node.
pub fn default_spool_max_bytes() -> u64 {
    256 * 1024 * 1024
}

/// 10 seconds, shorter than a collection interval so one slow server cannot stack up ticks.
pub fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for ShipConfig {
    fn default() -> Self {
        Self {
            server: None,
            token_file: None,
            spool_dir: default_spool_dir(),
            spool_max_bytes: default_spool_max_bytes(),
            timeout: default_timeout(),
        }
    }
}

/// Why the shipper cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// `server` is not set.
    #[error("no server is configured to ship to")]
    NoServer,
    /// The server URL is unusable.
    #[error("bad server URL {url:?}: {reason}")]
    Server {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The token file cannot be read or is empty.
    #[error("cannot read the agent token from {}: {reason}", path.display())]
    Token {
        /// The token file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A file or directory of the spool cannot be used.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A state file holds something it should not.
    #[error("{}: {reason}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client cannot be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl ShipError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A state file `path` with bad content.
    pub fn state(path: &Path, reason: impl Into<String>) -> Self {
        Self::State {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// What became of one collection's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipOutcome {
    /// The server accepted it, after `replayed` older spooled batches.
    Sent {
        /// The batch's sequence number.
        seq: u64,
        /// Spooled batches delivered before it in the same call.
        replayed: usize,
    },
    /// It waits in the spool.
    Spooled {
        /// The batch's sequence number.
        seq: u64,
        /// Why it was not delivered now.
        why: RetryReason,
    },
    /// The server refused it for good (400, 413, 415); it was dropped and counted.
    Rejected {
        /// The batch's sequence number.
        seq: u64,
        /// The HTTP status.
        code: u16,
    },
    /// It was neither delivered nor kept: the disk failed or the batch is larger than the spool.
    Dropped {
        /// The batch's sequence number, when one could be assigned.
        seq: Option<u64>,
        /// Why.
        why: String,
    },
}

/// Ships one batch per collection, spooling what the server does not take.
#[derive(Debug)]
pub struct Shipper {
    client: Client,
    spool: Spool,
    state: AgentState,
    labels: NodeLabels,
    start_unix_nano: u64,
    metrics: ShipMetrics,
    /// True while the server is failing, so the outage is logged once, not every tick.
    failing: bool,
    /// True once a full spool dropped a batch, until the spool empties: logged once, not per tick.
    spool_full: bool,
}

impl Shipper {
    /// Reads the token, creates or loads the agent id and sequence, picks up spooled batches and
    /// registers the shipper's metrics on `registry`. `labels` are the node's `node`, `cluster`
    /// and `env`; cumulative points start at the time of this call.
    pub fn open(
        cfg: &ShipConfig,
        labels: NodeLabels,
        registry: &mut Registry,
    ) -> Result<Self, ShipError> {
        let server = cfg.server.as_deref().ok_or(ShipError::NoServer)?;
        let token = cfg
            .token_file
            .as_deref()
            .map(AgentToken::from_file)
            .transpose()?;
        if token.is_none() {
            tracing::warn!("no token_file is configured: batches are sent without a bearer token");
        }
        let client = Client::new(server, token, cfg.timeout)?;
        let dir = &cfg.spool_dir;
        std::fs::create_dir_all(dir).map_err(|e| ShipError::io(dir, e))?;
        let spool = Spool::open(dir, cfg.spool_max_bytes).map_err(|e| ShipError::io(dir, e))?;
        let state = AgentState::open(dir, spool.newest().map_or(0, |s| s + 1))?;
        if !spool.is_empty() {
            tracing::info!(batches = spool.len(), bytes = spool.bytes(), dir = %dir.display(),
                "picked up spooled batches; they are sent before new ones");
        }
        let metrics = ShipMetrics::default();
        metrics.register(registry);
        metrics.spool_size(spool.len(), spool.bytes());
        Ok(Self {
            client,
            spool,
            state,
            labels,
            start_unix_nano: otlp::unix_nanos(SystemTime::now()),
            metrics,
            failing: false,
            spool_full: false,
        })
    }

    /// The agent's persistent id (`warroom.agent.id`).
    pub fn agent_id(&self) -> &str {
        self.state.agent_id()
    }

    /// Number of batches waiting in the spool.
    pub fn spooled(&self) -> usize {
        self.spool.len()
    }

    /// Ships the collection in `buf`, taken at `now`: encodes it under the next sequence number,
    /// drains spooled batches oldest-first, journals it in the spool, then sends it; on a
    /// retryable failure it stays spooled. Never panics; each POST is bounded by the configured timeout.
    pub async fn ship(&mut self, buf: &Buffer, now: SystemTime) -> ShipOutcome {
        let (seq, body) = match self.prepare(buf, now) {
            Ok(batch) => batch,
            Err(why) => return self.lost(None, why),
        };
        let outcome = self.deliver(seq, body).await;
        self.metrics
            .spool_size(self.spool.len(), self.spool.bytes());
        outcome
    }

    /// Encodes the batch under the next sequence number, which delivery takes once the batch
    /// is journaled.
    fn prepare(&mut self, buf: &Buffer, now: SystemTime) -> Result<(u64, Vec<u8>), String> {
        let seq = self.state.next_seq();
        let resource = BatchResource {
            labels: &self.labels,
            agent_id: self.state.agent_id(),
            seq,
        };
        let req = otlp::encode(buf, &resource, otlp::unix_nanos(now), self.start_unix_nano);
        let body =
            otlp::gzip_body(&req).map_err(|e| format!("cannot compress batch {seq}: {e}"))?;
        Ok((seq, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_takes_the_named_defaults() {
        let cfg: ShipConfig = toml::from_str("").expect("parse");

        assert_eq!(cfg, ShipConfig::default());
        assert_eq!(cfg.timeout, Duration::from_secs(10));
        assert_eq!(cfg.spool_max_bytes, 256 * 1024 * 1024);
    }

    #[test]
    fn a_config_reads_human_durations_and_paths() {
        let text = r#"
            server = "https://warroom.example:8443"
            token_file = "/etc/warroom/token"
            spool_dir = "/tmp/spool"
            spool_max_bytes = 1048576
            timeout = "2s 500ms"
        "#;

        let cfg: ShipConfig = toml::from_str(text).expect("parse");

        assert_eq!(cfg.server.as_deref(), Some("https://warroom.example:8443"));
        assert_eq!(cfg.timeout, Duration::from_millis(2500));
        assert_eq!(cfg.spool_max_bytes, 1 << 20);
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let err = toml::from_str::<ShipConfig>("spool_size = 3").expect_err("unknown");

        assert!(err.to_string().contains("spool_size"), "{err}");
    }

    #[test]
    fn opening_without_a_server_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = ShipConfig {
            spool_dir: dir.path().to_path_buf(),
            ..ShipConfig::default()
        };
        let labels = NodeLabels {
            node: "n".into(),
            cluster: "c".into(),
            env: "source".into(),
        };

        let err = Shipper::open(&cfg, labels, &mut Registry::default()).expect_err("no server");

        assert!(matches!(err, ShipError::NoServer), "{err}");
    }
}
