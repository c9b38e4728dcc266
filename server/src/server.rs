//! [`run`]: opens the database and the store, serves the [`app`](crate::app::app) until the
//! shutdown signal, lets in-flight requests finish (so every acknowledged batch is stored), then
//! closes the store.
//!
//! One [`CancellationToken`] is the shutdown signal for everything: HTTP's graceful shutdown and
//! every background loop (rules, dispatcher, sender, retention, SIGHUP) end on it, and one
//! [`TaskTracker`] waits for them before the store and the database close. Each wait on work
//! in flight is bounded (`[shutdown]`, [`ShutdownConfig`](crate::config::ShutdownConfig)):
//! HTTP's requests get `requests` (one cut off was never answered, so its sender retries it);
//! the sender's sends in flight and an evaluation under way get `sends` (a notification cut
//! off stays pending in the outbox and goes after the next start). The store's writer
//! starts no timed checkpoint once the token is cancelled, but takes appends until
//! [`SqliteStore::close`] (its last checkpoint): requests still being answered append until
//! HTTP is done.

use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerting::{Alerting, Running};
use crate::app::{AppState, Ingested, app};
use crate::config::ServerConfig;
use crate::cutover::live::Cutover;
use crate::cutover::plan::Plan;
use crate::cutover::{check, runner, sli};
use crate::db;
use crate::query::Engine;
use crate::routes::auth::Auth;
use crate::store::sqlite::SqliteStore;
use crate::telemetry::ServerMetrics;
use crate::timeline::Timeline;
use crate::tokens::TokenStore;

/// Runs the server until `shutdown` resolves. Logs `listening on ADDR` with the bound address
/// (so `--listen 127.0.0.1:0` can be used and read back).
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let db_path = config.database_path();
    let pool = db::open(&db_path)
        .await
        .with_context(|| format!("opening database {}", db_path.display()))?;
    let token = CancellationToken::new();
    let store =
        SqliteStore::open_with_shutdown(pool.clone(), config.storage.clone(), token.clone())
            .await
            .with_context(|| format!("opening the store in {}", db_path.display()))?;
    let store = Arc::new(store);
    tokio::spawn(cancel_on(shutdown, token.clone()));
    let tasks = TaskTracker::new();
    let served = serve(config, &pool, &store, &token, &tasks).await;
    // Whatever ended the serving (the signal or an error), every loop stops on the token.
    token.cancel();
    tasks.close();
    tasks.wait().await;
    tracing::info!("background tasks stopped; closing the store");
    let closed = store.close().await.context("closing the store");
    drop(store);
    pool.close().await;
    served.and(closed)
}

/// Cancels `token` once `shutdown` resolves (or returns when the token is cancelled first).
async fn cancel_on(shutdown: impl Future<Output = ()>, token: CancellationToken) {
    tokio::select! {
        () = shutdown => token.cancel(),
        () = token.cancelled() => {}
    }
}

/// Starts the background loops on `tasks` and serves HTTP until `token` is cancelled and the
/// requests in flight are answered.
async fn serve(
    config: ServerConfig,
    pool: &sqlx::SqlitePool,
    store: &Arc<SqliteStore>,
    token: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    tasks.spawn(retain_periodically(store.clone(), token.clone()));
    let timeline = Timeline::new(pool.clone());
    let plan = load_plan(&config)?;
    let planned = match &plan {
        Some((_, plan)) => {
            sli::slo_groups(plan).map_err(|e| anyhow::anyhow!("the cutover plan's SLOs: {e}"))?
        }
        None => Vec::new(),
    };
    let alerting = Alerting::start(
        config.alerting.clone(),
        pool.clone(),
        timeline.clone(),
        store.clone(),
        store.clone(),
        planned,
        Running {
            shutdown: token,
            drain: config.shutdown.sends,
            tasks,
        },
    )
    .await
    .context("starting alerting")?;
    let mut reloads = vec![alerting.reload.clone()];
    let mut ingested = vec![alerting.ingested.clone()];
    let mut cutover = None;
    if let Some((path, plan)) = plan {
        let engine = Engine::new(store.clone()).at_full_priority();
        let settings = config.cutover.clone();
        let opened = Cutover::open(
            pool.clone(),
            timeline.clone(),
            alerting.pipeline.clone(),
            engine,
            settings,
            plan,
        );
        let opened = opened.await.context("starting the cutover")?;
        let bells = runner::Bells::default();
        reloads.push(bells.reload.clone());
        ingested.push(bells.ingested.clone());
        tasks.spawn(runner::run(opened.clone(), path, bells, token.clone()));
        cutover = Some(opened);
    }
    tasks.spawn(reload_on_sighup(reloads, token.clone()));
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    if config.api.anonymous_read {
        tracing::warn!("anonymous reads are allowed ([api] anonymous_read = true)");
    }
    tracing::info!("listening on {}", listener.local_addr()?);
    let state = AppState {
        store: store.clone(),
        querier: store.clone(),
        auth: Auth::new(TokenStore::new(pool.clone()), config.api),
        metrics: Arc::new(ServerMetrics::new()),
        limits: config.limits,
        ingested: Ingested::new(ingested),
        cutover,
        alerts: Some(alerting.pipeline.clone()),
        timeline: timeline.clone(),
    };
    let serving = axum::serve(listener, app(state))
        .with_graceful_shutdown(token.clone().cancelled_owned())
        .into_future();
    let grace = config.shutdown.requests;
    let past_grace = async {
        token.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serving => served.context("serving HTTP")?,
        () = past_grace => tracing::warn!(
            "requests still in flight {grace:?} after the shutdown signal were cut off \
             unanswered (their senders retry them)"
        ),
    }
    tracing::info!("stopped taking requests");
    Ok(())
}

/// `[cutover] plan_file` and the plan in it, if one is configured. A plan that does not pass
/// `warroom plan check` stops the start with every error.
fn load_plan(config: &ServerConfig) -> anyhow::Result<Option<(PathBuf, Plan)>> {
    let Some(path) = config.cutover.plan_file.clone() else {
        return Ok(None);
    };
    let plan = check::check_file(&path).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the cutover plan is invalid:\n{}", lines.join("\n"))
    })?;
    tracing::info!("cutover {}", check::summary(&plan));
    Ok(Some((path, plan)))
}

/// Rings every bell of `reload` on every SIGHUP, until `token` is cancelled.
async fn reload_on_sighup(reload: Vec<Arc<Notify>>, token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP, reload only on file change: {e}");
            return;
        }
    };
    while let Some(Some(())) = token.run_until_cancelled(hup.recv()).await {
        for bell in &reload {
            bell.notify_one();
        }
    }
}

/// Deletes data past the retention period once an hour (and once at start), until `token` is
/// cancelled.
async fn retain_periodically(store: Arc<SqliteStore>, token: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    while token.run_until_cancelled(tick.tick()).await.is_some() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match store.retain(now_ms).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("retention removed {n} chunks"),
            Err(e) => tracing::warn!("retention failed: {e}"),
        }
    }
}
