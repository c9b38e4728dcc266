//! The checkpoint: every changed head chunk (and its rollups) written out, the WAL table emptied.

use super::Shared;
use super::head::ChunkRow;
use super::rollup_write;
use crate::store::StoreError;

/// Writes every changed head chunk and empties the WAL table, in one transaction.
pub async fn checkpoint(shared: &Shared) -> Result<(), StoreError> {
    let dirty: Vec<(u32, Vec<ChunkRow>)> = {
        let state = shared.read();
        (0..state.head.len() as u32)
            .map(|id| (id, state.head[id as usize].dirty_chunks()))
            .filter(|(_, chunks)| !chunks.is_empty())
            .collect()
    };
    let mut tx = shared.pool.begin().await?;
    let rows: Vec<(u32, &ChunkRow)> = dirty
        .iter()
        .flat_map(|(id, chunks)| chunks.iter().map(move |c| (*id, c)))
        .collect();
    for part in rows.chunks(200) {
        let sql = format!(
            "INSERT OR REPLACE INTO chunks (series_id, min_t, max_t, data) VALUES {}",
            vec!["(?, ?, ?, ?)"; part.len()].join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, (min_t, max_t, data)) in part {
            query = query
                .bind(i64::from(*id))
                .bind(min_t)
                .bind(max_t)
                .bind(data.as_slice());
        }
        query.execute(&mut *tx).await?;
    }
    rollup_write::write(&mut tx, &rows).await?;
    sqlx::query("DELETE FROM wal").execute(&mut *tx).await?;
    tx.commit().await?;
    let mut state = shared.write();
    for (id, _) in &dirty {
        state.head[*id as usize].checkpointed();
    }
    Ok(())
}
