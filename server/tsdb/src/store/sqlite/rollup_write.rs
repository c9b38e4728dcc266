//! Writing rollups: beside every chunk the checkpoint stores, and once at open for chunks
//! written before the `rollups` table existed.

use sqlx::{Row, SqliteConnection, SqlitePool};

use super::chunk;
use super::head::ChunkRow;
use super::load::corrupt_chunk;
use super::rollup;
use crate::store::StoreError;

/// Chunks back-filled per transaction at open.
const BACKFILL_PAGE: i64 = 5_000;

/// Stores (replacing) the rollups of `chunks`, given as `(series id, chunk)`.
pub async fn write(
    conn: &mut SqliteConnection,
    chunks: &[(u32, &ChunkRow)],
) -> Result<(), StoreError> {
    let mut rows: Vec<(u32, i64, i64, Vec<u8>)> = Vec::new();
    for &(id, (min_t, max_t, data)) in chunks {
        let samples =
            chunk::decode(data).map_err(|e| corrupt_chunk(format!("chunk of series {id}"), e))?;
        rows.push((id, *min_t, *max_t, rollup::encode_all(&samples)));
    }
    for part in rows.chunks(200) {
        let sql = format!(
            "INSERT OR REPLACE INTO rollups (series_id, min_t, max_t, data) VALUES {}",
            vec!["(?, ?, ?, ?)"; part.len()].join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, min_t, max_t, data) in part {
            query = query
                .bind(i64::from(*id))
                .bind(min_t)
                .bind(max_t)
                .bind(data.as_slice());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Computes the rollups of chunks that have none (a database from before the `rollups`
/// migration), a page of chunks per transaction. Returns the chunks back-filled.
pub async fn backfill(pool: &SqlitePool) -> Result<u64, StoreError> {
    let mut done = 0;
    loop {
        let rows = sqlx::query(
            "SELECT c.series_id, c.min_t, c.max_t, c.data FROM chunks c \
             WHERE NOT EXISTS (SELECT 1 FROM rollups r \
                               WHERE r.series_id = c.series_id AND r.min_t = c.min_t) \
             LIMIT ?",
        )
        .bind(BACKFILL_PAGE)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            return Ok(done);
        }
        let mut chunks: Vec<(u32, ChunkRow)> = Vec::with_capacity(rows.len());
        for row in rows {
            let id = row.try_get::<i64, _>(0)? as u32;
            chunks.push((id, (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)));
        }
        let refs: Vec<(u32, &ChunkRow)> = chunks.iter().map(|(id, c)| (*id, c)).collect();
        let mut tx = pool.begin().await?;
        write(&mut tx, &refs).await?;
        tx.commit().await?;
        done += refs.len() as u64;
    }
}
