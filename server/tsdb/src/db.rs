//! Opens the SQLite database (WAL, full sync) and brings the store's tables up to date.
//!
//! The store's migrations (`server/tsdb/migrations`) and the server's own (`server/migrations`)
//! share one database and one `_sqlx_migrations` table, with versions that never collide: each
//! migrator ignores the versions the other applied.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Opens (creating if needed) the database at `path` and runs the store's migrations.
pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // A 2xx means durable: FULL syncs the WAL on every commit (group commits amortise it).
        .synchronous(SqliteSynchronous::Full)
        // A writer waits this long for another's transaction (a checkpoint's slice, whose commit
        // syncs the WAL file) before failing: an append waits out a slow disk instead of
        // answering 500.
        .busy_timeout(Duration::from_secs(60));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    migrate(sqlx::migrate!("./migrations"), &pool).await?;
    Ok(pool)
}

/// Runs `migrator` over `pool`, leaving alone the versions another crate's migrator applied.
pub async fn migrate(mut migrator: Migrator, pool: &SqlitePool) -> Result<(), MigrateError> {
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
