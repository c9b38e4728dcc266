//! [`run`]: opens the database and the store, serves the [`app`](crate::app::app) until the
//! shutdown signal, lets in-flight requests finish (so every acknowledged batch is stored), then
//! closes the store.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use tokio::sync::Notify;

use crate::alerting::Alerting;
use crate::app::{AppState, app};
use crate::config::ServerConfig;
use crate::db;
use crate::routes::auth::Auth;
use crate::store::sqlite::SqliteStore;
use crate::telemetry::ServerMetrics;
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
    let store = SqliteStore::open(pool.clone(), config.storage.clone())
        .await
        .with_context(|| format!("opening the store in {}", db_path.display()))?;
    let store = Arc::new(store);
    let retention = tokio::spawn(retain_periodically(store.clone()));
    let alerting = Alerting::start(
        config.alerting.clone(),
        pool.clone(),
        store.clone(),
        store.clone(),
    )
    .await
    .context("starting alerting")?;
    let hangup = tokio::spawn(reload_on_sighup(alerting.reload.clone()));
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
        ingested: alerting.ingested.clone(),
        alerts: Some(alerting.pipeline.clone()),
    };
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped taking requests; closing the store");
    retention.abort();
    hangup.abort();
    alerting.stop();
    store.close().await.context("closing the store")?;
    drop(store);
    pool.close().await;
    Ok(())
}

/// Rings `reload` on every SIGHUP.
async fn reload_on_sighup(reload: Arc<Notify>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP, reload only on file change: {e}");
            return;
        }
    };
    while hup.recv().await.is_some() {
        reload.notify_one();
    }
}

/// Deletes data past the retention period once an hour (and once at start).
async fn retain_periodically(store: Arc<SqliteStore>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
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
