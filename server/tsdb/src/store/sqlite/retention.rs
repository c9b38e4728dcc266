//! Retention: chunks wholly older than `now − retention` go with their rollups, then series left without data and
//! batch ids received before the cutoff.

use std::collections::{BTreeSet, HashSet};

use sqlx::SqliteConnection;

use super::Shared;
use super::checkpoint::checkpoint;
use super::head::OpenChunk;
use super::open_chunks;
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
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    forget_open_chunks(&mut tx, &dead).await?;
    tx.commit().await?;
    let mut state = shared.write();
    state.index.remove(&dead);
    for &id in &dead {
        state.head[id as usize] = Default::default();
    }
    Ok(dead.len() as u64)
}

/// Removes the `open_chunks` entries of `dead` series: a series created after a restart may
/// take the id of one forgotten here, and must not be given its open chunk.
async fn forget_open_chunks(
    tx: &mut SqliteConnection,
    dead: &HashSet<u32>,
) -> Result<(), StoreError> {
    let mut rows = BTreeSet::new();
    for &id in dead {
        // The row holding `id` starts at or before it: the nearest such row, whatever size of
        // row wrote it (see [`open_chunks::ROW`]).
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT first_id FROM open_chunks WHERE first_id <= ? ORDER BY first_id DESC LIMIT 1",
        )
        .bind(i64::from(id))
        .fetch_optional(&mut *tx)
        .await?;
        rows.extend(first);
    }
    for first in rows {
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT data FROM open_chunks WHERE first_id = ?")
                .bind(first)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(blob) = blob else { continue };
        let entries = open_chunks::decode_row(first, &blob)?;
        let kept =
            open_chunks::encode_raw(entries.into_iter().filter(|(id, _)| !dead.contains(id)));
        sqlx::query("UPDATE open_chunks SET data = ? WHERE first_id = ?")
            .bind(kept)
            .bind(first)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
