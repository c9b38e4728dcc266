//! The server's `outbox` and `outbox_attempts` tables read straight from its SQLite file, so a
//! test can see what was recorded about each notification (while the server runs, or after).

use std::path::Path;

use sqlx::Row as _;
use sqlx::sqlite::SqliteConnectOptions;

/// One `outbox` row.
#[derive(Clone, Debug)]
pub struct Row {
    /// Row id.
    pub id: i64,
    /// `receiver/kind/index`.
    pub integration: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts recorded.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// Every outbox row of the database in `data_dir`, in order.
pub fn rows(data_dir: &Path) -> Vec<Row> {
    query(data_dir, |pool| async move {
        let sql = "SELECT id, integration, status, attempts, last_error FROM outbox ORDER BY id";
        let rows = sqlx::query(sql).fetch_all(&pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Row {
                    id: r.try_get("id")?,
                    integration: r.try_get("integration")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    })
}

/// Every recorded attempt as (outbox row id, outcome, detail), in order.
pub fn attempts(data_dir: &Path) -> Vec<(i64, String, Option<String>)> {
    query(data_dir, |pool| async move {
        let sql = "SELECT delivery_id, outcome, detail FROM outbox_attempts ORDER BY rowid";
        let rows = sqlx::query(sql).fetch_all(&pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    })
}

/// Runs `f` on a connection to the database of `data_dir` (never creating it).
fn query<T, F, Fut>(data_dir: &Path, f: F) -> T
where
    F: FnOnce(sqlx::SqlitePool) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let path = warroom_server::config::database_path(data_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the outbox query");
    runtime.block_on(async {
        let options = SqliteConnectOptions::new().filename(&path);
        let pool = sqlx::pool::PoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        let out = f(pool.clone()).await;
        pool.close().await;
        out.unwrap_or_else(|e| panic!("reading the outbox of {}: {e}", path.display()))
    })
}
