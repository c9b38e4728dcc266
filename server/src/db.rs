//! Opens the server's SQLite database and brings its schema up to date: the store's tables
//! (`warroom_tsdb::db`, `server/tsdb/migrations`), then the server's own (`server/migrations`:
//! applied batches, tokens, the alert pipeline).

use std::path::Path;

use sqlx::SqlitePool;

/// Opens (creating if needed) the database at `path` and runs every migration.
pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let pool = warroom_tsdb::db::open(path).await?;
    warroom_tsdb::db::migrate(sqlx::migrate!("./migrations"), &pool).await?;
    Ok(pool)
}
