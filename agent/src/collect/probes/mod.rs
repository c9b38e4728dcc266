//! Probes: DNS lookup, TCP connect and HTTP GET latency to named endpoints of both migration
//! sides, timed from every node, since migrations live and die on DNS and NAT. Results are kept
//! between collections: a cumulative `warroom_probe_duration_seconds` histogram and the last
//! run's `warroom_probe_success`.
//!
//! - [`config`]: [`ProbeConfig`], as written in the agent's config.
//! - [`dns`], [`tcp`], [`http`]: one check each.
//! - [`histogram`]: the cumulative bucket counts kept per probe.

pub mod config;
pub mod dns;
pub mod histogram;
pub mod http;
pub mod tcp;

use std::sync::Arc;
use std::time::Instant;

pub use crate::config::Side;
pub use config::{ProbeConfig, ProbeKind};
use histogram::Histogram;

use crate::collect::{CollectError, Collector, Cx};
use crate::labels;
use crate::metrics::Labels;

/// Why one probe run failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The resolver failed.
    #[error("lookup failed: {0}")]
    Resolve(std::io::Error),
    /// The resolver answered with no address.
    #[error("lookup returned no address")]
    NoAddress,
    /// The TCP connection failed.
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    /// The HTTP request failed before a response.
    #[error("request failed: {0}")]
    Http(reqwest::Error),
    /// The HTTP response was neither 2xx nor 3xx.
    #[error("status {0}")]
    Status(u16),
    /// No HTTP client could be built (TLS set-up failed at start).
    #[error("no HTTP client")]
    NoClient,
    /// The run took longer than the probe's timeout.
    #[error("timed out")]
    Timeout,
}

/// One configured probe and what its runs have recorded.
#[derive(Debug)]
struct Probe {
    config: Arc<ProbeConfig>,
    durations: Histogram,
    /// The last run's result; `None` before the first run.
    last_success: Option<bool>,
}

/// The configured probes, run with [`Probes::run`] and written by their [`Collector`] impl.
#[derive(Debug)]
pub struct Probes {
    probes: Vec<Probe>,
    http: Option<reqwest::Client>,
}

impl Probes {
    /// Probes for `configs`; the HTTP client is built only when an HTTP probe needs it.
    pub fn new(configs: Vec<ProbeConfig>) -> Self {
        let needs_http = configs.iter().any(|c| c.kind == ProbeKind::Http);
        let http = needs_http.then(http::client).and_then(|built| {
            built
                .inspect_err(|e| tracing::warn!(error = %e, "HTTP probes disabled"))
                .ok()
        });
        let probes = configs.into_iter().map(Probe::new).collect();
        Self { probes, http }
    }

    /// Runs every probe once, all at the same time, each bounded by its own timeout. A failed or
    /// timed-out run records success 0 and its duration until the failure.
    pub async fn run(&mut self) {
        let handles: Vec<_> = self
            .probes
            .iter()
            .map(|p| tokio::spawn(run_one(p.config.clone(), self.http.clone())))
            .collect();
        for (probe, handle) in self.probes.iter_mut().zip(handles) {
            // A panicked check (a bug) counts as a failure of zero length.
            let (ok, seconds) = handle.await.unwrap_or((false, 0.0));
            probe.durations.observe(seconds);
            probe.last_success = Some(ok);
        }
    }
}

impl Probe {
    fn new(config: ProbeConfig) -> Self {
        Self {
            config: Arc::new(config),
            durations: Histogram::default(),
            last_success: None,
        }
    }

    /// `probe`, `kind`, `target`, `side`.
    fn labels(&self) -> Labels {
        let c = &self.config;
        labels![
            "probe" => c.name,
            "kind" => c.kind.as_str(),
            "target" => c.target,
            "side" => c.side.as_str(),
        ]
    }
}

/// Runs one check under its timeout: whether it succeeded, and how long it took.
async fn run_one(config: Arc<ProbeConfig>, http: Option<reqwest::Client>) -> (bool, f64) {
    let start = Instant::now();
    let result = tokio::time::timeout(config.timeout, check(&config, http.as_ref()))
        .await
        .unwrap_or(Err(ProbeError::Timeout));
    let seconds = start.elapsed().as_secs_f64();
    if let Err(e) = &result {
        tracing::debug!(probe = %config.name, target = %config.target, error = %e, "probe failed");
    }
    (result.is_ok(), seconds)
}

/// The check of `config`'s kind.
async fn check(config: &ProbeConfig, http: Option<&reqwest::Client>) -> Result<(), ProbeError> {
    match config.kind {
        ProbeKind::Dns => dns::check(&config.target).await,
        ProbeKind::Tcp => tcp::check(&config.target).await,
        ProbeKind::Http => http::check(http, &config.target).await,
    }
}

impl Collector for Probes {
    fn name(&self) -> &'static str {
        "probes"
    }

    /// Writes the results of the runs so far; a probe that never ran writes nothing.
    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        for probe in &self.probes {
            let Some(ok) = probe.last_success else {
                continue;
            };
            let labels = probe.labels();
            cx.out
                .gauge(
                    "warroom_probe_success",
                    "Whether the probe's last run succeeded (1) or not (0).",
                )
                .push(labels.clone(), f64::from(u8::from(ok)));
            cx.out
                .family(
                    "warroom_probe_duration_seconds",
                    "How long probe runs took, failures included (until failure or timeout).",
                    crate::metrics::Kind::Histogram,
                )
                .push_histogram(labels, probe.durations.value());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
