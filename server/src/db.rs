//! Opens the server's SQLite database (WAL, full sync) and brings its schema up to date.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Opens (creating if needed) the database at `path` and runs the migrations in `server/migrations`.
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
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}
