//! The server's half of alerting: the `alerts` crate's pure decisions wired to the store, the
//! clock, SQLite and HTTP.
//!
//! - [`settings`]: the `[alerting]` section of `warroom.toml`.
//! - [`files`]: loading rule files and `alerting.yaml`; their change stamp.
//! - [`integrations`]: receivers' Slack, PagerDuty, email and webhook senders by key.
//! - [`store_io`]: rules query the PromQL engine and record into the store.
//! - [`runner`]: the evaluation loop (interval, ingest-triggered, reload) and the dispatch loop.
//! - [`pipeline`]: dispatcher state, acknowledgements and silences behind one lock.
//! - [`records`]: what is kept in SQLite (dispatcher state, outbox, attempts, silences, events).
//! - [`sender`]: the outbox's delivery loop.

pub mod files;
pub mod integrations;
pub mod pipeline;
pub mod records;
pub mod runner;
pub mod sender;
pub mod settings;
pub mod store_io;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::SqlitePool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use warroom_alerts::rules::RuleGroup;

use crate::query::Engine;
use crate::store::{MetricStore, Querier};
use crate::timeline::Timeline;
use pipeline::Pipeline;
use runner::{Bells, Runner};
use settings::AlertingSettings;
use store_io::{EngineQuery, StoreSink};

/// The running pipeline and what the rest of the server rings.
pub struct Alerting {
    /// Alerts, acknowledgements and silences go here.
    pub pipeline: Arc<Pipeline>,
    /// Ring after an append stored samples (ingest-triggered evaluation).
    pub ingested: Arc<Notify>,
    /// Ring to reload the rule files and `alerting.yaml` (SIGHUP).
    pub reload: Arc<Notify>,
}

/// What the loops run under: the shutdown signal, how long work in flight may take once it is
/// given, and the tracker that waits for them.
#[derive(Clone, Copy)]
pub struct Running<'a> {
    /// The shutdown signal.
    pub shutdown: &'a CancellationToken,
    /// How long sends in flight and an evaluation under way get after it.
    pub drain: Duration,
    /// Where the loops are spawned.
    pub tasks: &'a TaskTracker,
}

impl Alerting {
    /// Loads the files (refusing to start on a bad one, naming every error), adds the `planned`
    /// groups (the cutover plan's SLOs), and starts the rules, dispatch and sender loops; they
    /// end once the shutdown signal is given (the sender after its sends in flight, and the
    /// rules after an evaluation under way, each given up to `drain`; the outbox keeps what
    /// was not sent for the next start).
    pub async fn start(
        settings: AlertingSettings,
        db: SqlitePool,
        timeline: Arc<Timeline>,
        store: Arc<dyn MetricStore>,
        querier: Arc<dyn Querier>,
        planned: Vec<RuleGroup>,
        running: Running<'_>,
    ) -> anyhow::Result<Self> {
        let Running {
            shutdown,
            drain,
            tasks,
        } = running;
        let client = reqwest::Client::builder()
            .build()
            .context("building the notifiers' HTTP client")?;
        let groups = match &settings.rules_dir {
            None => Vec::new(),
            Some(dir) => files::load_rules(dir).map_err(|errors| {
                anyhow::anyhow!("rule files are invalid:\n{}", errors.join("\n"))
            })?,
        };
        let routing = files::load_routing(&settings, &client).map_err(anyhow::Error::msg)?;
        let pipeline = Pipeline::open(db, timeline, routing)
            .await
            .context("loading the alert pipeline's state")?;
        let runner = Runner::new(
            EngineQuery(Engine::new(querier).at_full_priority()),
            StoreSink(store),
            pipeline.clone(),
            settings,
            client,
            groups,
            planned,
        )
        .await;
        let ingested = Arc::new(Notify::new());
        let reload = Arc::new(Notify::new());
        let bells = Bells {
            ingested: ingested.clone(),
            reload: reload.clone(),
        };
        tasks.spawn(runner.run(bells, shutdown.clone(), drain));
        tasks.spawn(runner::dispatch(pipeline.clone(), shutdown.clone()));
        tasks.spawn(sender::run(pipeline.clone(), shutdown.clone(), drain));
        Ok(Self {
            pipeline,
            ingested,
            reload,
        })
    }
}
