//! One collection pass over every collector, the agent's own metrics, and the loop that runs a
//! pass every interval until shutdown.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::collect::pods::{Kubelet, PodDirectory};
use crate::collect::probes::Probes;
use crate::collect::{self, CollectError, Collector, Cx, ErrorLog, Inventory};
use crate::config::AgentConfig;
use crate::metrics::Buffer;
use crate::render::{self, Exposition, Format, Snapshot};
use crate::ship::{ShipError, ShipOutcome, Shipper};

/// The agent's own health figures.
#[derive(Debug, Default)]
struct SelfMetrics {
    duration: Gauge<f64, std::sync::atomic::AtomicU64>,
    series: Gauge,
    collections: Counter,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The shipper could not open its token, state or spool.
    #[error(transparent)]
    Ship(#[from] ShipError),
    /// The kubelet client could not be built.
    #[error("kubelet: {0}")]
    Kubelet(CollectError),
}

/// The collectors, the latest snapshot, the registry that renders it and, when a server is
/// configured, the shipper that pushes each collection.
pub struct Agent {
    collectors: Vec<Box<dyn Collector>>,
    probes: Probes,
    kubelet: Option<Kubelet>,
    errors: ErrorLog,
    snapshot: Snapshot,
    /// The buffer of the collection before last, emptied, when no scrape still holds it.
    spare: Option<Buffer>,
    exposition: Exposition,
    own: SelfMetrics,
    shipper: Option<Shipper>,
}

impl Agent {
    /// An agent for `cfg` with every collector and, when `cfg.ship.server` is set, a shipper.
    pub fn new(cfg: &AgentConfig) -> Result<Self, AgentError> {
        let mut agent = Self::with_collectors(cfg, collect::all(&cfg.roots()))?;
        agent.probes = Probes::new(cfg.probes.clone());
        agent.kubelet = cfg
            .kubelet
            .clone()
            .map(Kubelet::new)
            .transpose()
            .map_err(AgentError::Kubelet)?;
        Ok(agent)
    }

    /// An agent running exactly `collectors` (tests and benchmarks choose theirs).
    pub fn with_collectors(
        cfg: &AgentConfig,
        collectors: Vec<Box<dyn Collector>>,
    ) -> Result<Self, AgentError> {
        let mut registry = render::registry(&cfg.node, &cfg.cluster, cfg.env.as_str());
        let shipper = match cfg.ship.server {
            Some(_) => Some(Shipper::open(&cfg.ship, cfg.node_labels(), &mut registry)?),
            None => None,
        };
        let snapshot = Snapshot::default();
        let error_counts = Family::default();
        registry.register(
            "warroom_agent_collector_errors",
            "Errors per collector (each cause is logged once)",
            error_counts.clone(),
        );
        let own = SelfMetrics::default();
        registry.register(
            "warroom_agent_collection_duration_seconds",
            "Wall time of the last collection pass",
            own.duration.clone(),
        );
        registry.register(
            "warroom_agent_series",
            "Series in the last collection",
            own.series.clone(),
        );
        registry.register(
            "warroom_agent_collections",
            "Collection passes run",
            own.collections.clone(),
        );
        Ok(Self {
            collectors,
            probes: Probes::new(Vec::new()),
            kubelet: None,
            errors: ErrorLog::new(error_counts),
            exposition: Exposition::new(
                snapshot.clone(),
                registry,
                &cfg.node,
                &cfg.cluster,
                cfg.env.as_str(),
            ),
            snapshot,
            spare: None,
            own,
            shipper,
        })
    }

    /// The kubelet's pod list when one is configured: refreshed when due, the last good one when
    /// the kubelet fails (containers then fall back to pod UIDs).
    async fn pods(&mut self) -> Option<Arc<PodDirectory>> {
        let kubelet = self.kubelet.as_mut()?;
        match kubelet.refresh().await {
            Ok(pods) => Some(pods),
            Err(err) => {
                self.errors.record("kubelet", &err);
                Some(kubelet.cached())
            }
        }
    }

    /// Pushes `batch` to the server when one is configured; spooled on failure.
    pub async fn ship(&mut self, batch: &Buffer) -> Option<ShipOutcome> {
        let shipper = self.shipper.as_mut()?;
        Some(shipper.ship(batch, SystemTime::now()).await)
    }

    /// Runs the probes, then every collector once; publishes the result as the latest snapshot
    /// and returns it.
    pub async fn collect(&mut self) -> Arc<Buffer> {
        let started = Instant::now();
        self.probes.run().await;
        let mut out = self.spare.take().unwrap_or_default();
        let mut inventory = Inventory {
            pods: self.pods().await,
            ..Inventory::default()
        };
        for collector in &mut self.collectors {
            run_collector(
                collector.as_mut(),
                &mut self.errors,
                &mut out,
                &mut inventory,
            );
        }
        run_collector(&mut self.probes, &mut self.errors, &mut out, &mut inventory);
        out.retain_non_empty();
        self.own.series.set(out.series_count() as i64);
        self.own.duration.set(started.elapsed().as_secs_f64());
        self.own.collections.inc();
        let out = Arc::new(out);
        if let Ok(mut old) = Arc::try_unwrap(self.snapshot.publish(out.clone())) {
            old.recycle();
            self.spare = Some(old);
        }
        out
    }

    /// The latest snapshot and the agent's own metrics in the Prometheus 0.0.4 text format.
    pub fn render(&self) -> String {
        self.exposition.render(Format::Prometheus)
    }

    /// What `/metrics` renders.
    pub fn exposition(&self) -> Exposition {
        self.exposition.clone()
    }

    /// Errors recorded so far for `collector`.
    pub fn error_count(&self, collector: &'static str) -> u64 {
        self.errors.count(collector)
    }
}

/// Runs one collector; its failure, whole or partial, is counted and the pass goes on. A file that
/// vanished mid-read (a container or process that just ended) is normal churn, not an error.
fn run_collector(
    collector: &mut dyn Collector,
    errors: &mut ErrorLog,
    out: &mut Buffer,
    inventory: &mut Inventory,
) {
    let mut cx = Cx::new(out, inventory);
    let result = collector.collect(&mut cx);
    for err in cx.take_partial().iter().filter(|e| !e.is_not_found()) {
        errors.record(collector.name(), err);
    }
    if let Err(err) = result {
        errors.record(collector.name(), &err);
    }
}

/// Serves `/metrics` on `cfg.listen` and collects every `cfg.interval` until `shutdown` resolves;
/// the HTTP server then drains in-flight requests and the loop stops at its next await.
pub async fn run(
    cfg: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut agent = Agent::new(&cfg)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    tracing::info!(listen = %listener.local_addr()?, node = %cfg.node, env = cfg.env.as_str(), "agent started");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let app = crate::http::router(agent.exposition());
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { _ = http_stop.changed().await })
            .await
    });
    tokio::spawn(async move {
        shutdown.await;
        _ = stop_tx.send(true);
    });
    let mut ticks = tokio::time::interval(cfg.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop_rx.changed() => break,
        }
        let batch = agent.collect().await;
        // A push in flight finishes (bounded by its timeout) so its batch is sent or spooled.
        agent.ship(&batch).await;
    }
    tracing::info!("shutting down");
    server
        .await
        .context("HTTP server task")?
        .context("HTTP server")?;
    Ok(())
}
