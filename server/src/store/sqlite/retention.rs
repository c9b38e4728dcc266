//! Retention: chunks wholly older than `now − retention` go with their rollups, then series left without data and
//! batch ids received before the cutoff.

use std::collections::HashSet;

use super::Shared;
use super::checkpoint::checkpoint;
use super::head::OpenChunk;
use crate::store::StoreError;

/// Applies retention as of `now`; returns how many series were forgotten.
pub async fn retain(shared: &Shared, now: i64) -> Result<u64, StoreError> {
    // Checkpointing first leaves nothing in the WAL or in sealed head chunks to reconcile.
    checkpoint(shared, OpenChunk::AsWritten).await?;
    let cutoff = now.saturating_sub(shared.config.retention.as_millis() as i64);
    let dead: HashSet<u32> = {
        let state = shared.read();
        state
            .index
            .all_ids()
            .into_iter()
            .filter(|&id| state.head[id as usize].expired(cutoff))
            .collect()
    };
    let ids = serde_json::to_string(&dead).unwrap_or_else(|_| "[]".into());
    let mut tx = shared.pool.begin().await?;
    sqlx::query("DELETE FROM chunks WHERE max_t < ?")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM rollups WHERE max_t < ?")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM batches WHERE received_ms < ?")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM series WHERE id IN (SELECT value FROM json_each(?))")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    // A series created after a restart may take the id of one forgotten here, and must not be
    // given its open chunk. (The checkpoint above emptied any `open_chunks` of an older
    // database.)
    sqlx::query("DELETE FROM head_chunks WHERE series_id IN (SELECT value FROM json_each(?))")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut state = shared.write();
    state.index.remove(&dead);
    for &id in &dead {
        state.head[id as usize] = Default::default();
    }
    Ok(dead.len() as u64)
}
