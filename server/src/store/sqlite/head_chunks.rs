//! The `head_chunks` table: per series, the stream of its open chunk (or of its cold chunk,
//! until a checkpoint stores that) as the head's encoder wrote it, appended to by each
//! checkpoint beside appends ([`HeadRow`]). The head drops the stored start of each open chunk
//! from memory; checkpoints joining a cold chunk and reads reaching back past the head read it
//! back from here.

use std::collections::HashMap;

use sqlx::Row;

use super::Shared;
use super::head::HeadRow;
use super::stream::chunk_bytes;
use crate::store::StoreError;

/// Rows written per statement (5 values each).
pub const ROWS_PER_STATEMENT: usize = 200;

/// A series' row: its chunk's first time, sample count and stream.
#[derive(Debug)]
pub struct Stream {
    /// The chunk's first timestamp.
    pub min_t: i64,
    /// Samples in the chunk.
    pub count: u16,
    /// The stream, without the chunk's header.
    pub data: Vec<u8>,
}

impl Stream {
    /// The whole chunk, as [`super::chunk::decode`] reads it.
    pub fn chunk(&self) -> Vec<u8> {
        chunk_bytes(self.count, &[&self.data])
    }
}

/// The rows of `ids` whose chunk starts at or before `until`.
pub async fn read(
    shared: &Shared,
    ids: &[u32],
    until: i64,
) -> Result<HashMap<u32, Stream>, StoreError> {
    let mut out = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let rows = sqlx::query(
        "SELECT series_id, min_t, count, data FROM head_chunks \
         WHERE series_id IN (SELECT value FROM json_each(?)) AND min_t <= ?",
    )
    .bind(json)
    .bind(until)
    .fetch_all(&shared.pool)
    .await?;
    for row in rows {
        let id = row.try_get::<i64, _>(0)? as u32;
        let count = u16::try_from(row.try_get::<i64, _>(2)?).map_err(|_| StoreError::Corrupt {
            what: format!("head_chunks row of series {id}"),
            detail: "sample count out of range".into(),
        })?;
        let (min_t, data) = (row.try_get(1)?, row.try_get(3)?);
        out.insert(id, Stream { min_t, count, data });
    }
    Ok(out)
}

/// Writes `rows` to `head_chunks`: a row cut at `cut` keeps its stream's first `cut` bytes
/// (`||` joins blob bytes as they are) and takes the rest from the write. A row that does not
/// hold the chunk it is cut in fails the checkpoint instead of joining two chunks' streams.
pub async fn write(
    tx: &mut sqlx::SqliteConnection,
    rows: &[(u32, HeadRow)],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO head_chunks (series_id, min_t, count, cut, data) VALUES {} \
         ON CONFLICT (series_id) DO UPDATE SET \
           min_t = excluded.min_t, count = excluded.count, cut = excluded.cut, \
           data = CASE WHEN excluded.cut = 0 THEN excluded.data \
                  ELSE CAST(substr(head_chunks.data, 1, excluded.cut) || excluded.data AS BLOB) END \
         WHERE excluded.cut = 0 \
            OR (head_chunks.min_t = excluded.min_t AND length(head_chunks.data) >= excluded.cut)",
        vec!["(?, ?, ?, ?, ?)"; rows.len()].join(", ")
    );
    // Only placeholders are formatted in; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (id, row) in rows {
        query = query
            .bind(i64::from(*id))
            .bind(row.min_t)
            .bind(i64::from(row.count))
            .bind(row.cut as i64)
            .bind(row.bytes.as_slice());
    }
    let written = query.execute(&mut *tx).await?.rows_affected();
    if written != rows.len() as u64 {
        return Err(StoreError::Corrupt {
            what: "head_chunks".into(),
            detail: format!(
                "{} of {} rows did not hold the chunk they were cut in",
                rows.len() as u64 - written,
                rows.len()
            ),
        });
    }
    Ok(())
}
