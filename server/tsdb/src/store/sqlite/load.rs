//! Opening the store: index from `series`, head from each series' newest chunk and the open
//! chunks of `open_chunks`, then WAL replay.

use std::path::{Path, PathBuf};

use sqlx::{Row, SqlitePool};

use super::head::{Verdict, judge};
use super::index::{decode_labels, labels_hash};
use super::{State, open_chunks, wal};
use crate::store::StoreError;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The main database file, or `None` for an in-memory database.
pub async fn database_path(pool: &SqlitePool) -> Result<Option<PathBuf>, StoreError> {
    let file: Option<String> =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_optional(pool)
            .await?;
    Ok(file.filter(|f| !f.is_empty()).map(PathBuf::from))
}

/// Database pages in use plus the size of its `-wal` file.
pub async fn disk_bytes(pool: &SqlitePool, path: Option<&Path>) -> Result<u64, StoreError> {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await?;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await?;
    let wal = path
        .map(|p| {
            let mut name = p.as_os_str().to_owned();
            name.push("-wal");
            std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
        })
        .unwrap_or(0);
    Ok((pages * size) as u64 + wal)
}

/// Builds the in-memory state from the database.
pub async fn load(pool: &SqlitePool) -> Result<State, StoreError> {
    let mut state = State::default();
    super::rollup_write::backfill(pool).await?;
    load_series(pool, &mut state).await?;
    load_heads(pool, &mut state).await?;
    replay_wal(pool, &mut state).await?;
    Ok(state)
}

async fn load_series(pool: &SqlitePool, state: &mut State) -> Result<(), StoreError> {
    let rows = sqlx::query("SELECT id, labels FROM series ORDER BY id")
        .fetch_all(pool)
        .await?;
    for row in rows {
        let id: i64 = row.try_get(0)?;
        let blob: Vec<u8> = row.try_get(1)?;
        let labels = decode_labels(&blob).ok_or_else(|| StoreError::Corrupt {
            what: format!("labels of series {id}"),
            detail: "malformed label encoding".into(),
        })?;
        state.index.insert(id as u32, &labels, labels_hash(&labels));
    }
    state.head.grow_to(state.index.next_id() as usize);
    Ok(())
}

async fn load_heads(pool: &SqlitePool, state: &mut State) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT c.series_id, l.first_t, c.min_t, c.max_t, c.data FROM chunks c \
         JOIN (SELECT series_id, MIN(min_t) AS first_t, MAX(min_t) AS last_min \
               FROM chunks GROUP BY series_id) l \
           ON c.series_id = l.series_id AND c.min_t = l.last_min",
    )
    .fetch_all(pool)
    .await?;
    // Each series' newest chunk row, for the open chunks after it.
    let mut newest: Vec<Option<(i64, i64)>> = vec![None; state.head.len()];
    for row in rows {
        let id = row.try_get::<i64, _>(0)? as usize;
        let first_t: i64 = row.try_get(1)?;
        let data: Vec<u8> = row.try_get(4)?;
        let Some(head) = state.head.get_mut(id) else {
            continue;
        };
        newest[id] = Some((row.try_get(2)?, row.try_get(3)?));
        head.restore(first_t, &data)
            .map_err(|e| corrupt_chunk(state_labels(&state.index, id), e))?;
    }
    load_open_chunks(pool, state, &newest).await
}

/// `open_chunks` rows read per query at open (each holds a slice of series).
const OPEN_CHUNKS_PAGE: i64 = if cfg!(test) { 2 } else { 16 };

/// Restores the open chunks the last checkpoint beside appends stored, a page of slices at a
/// time (`newest`: each series' newest chunk row).
async fn load_open_chunks(
    pool: &SqlitePool,
    state: &mut State,
    newest: &[Option<(i64, i64)>],
) -> Result<(), StoreError> {
    each_row(
        pool,
        "open_chunks",
        "first_id",
        OPEN_CHUNKS_PAGE,
        |first, blob| {
            for (id, data) in open_chunks::decode_row(first, blob)? {
                // A row of an older database, of more series than reads look in.
                let rewrite = open_chunks::row_of(id) != first;
                // Series forgotten by retention since are skipped.
                let i = id as usize;
                if !state.index.contains(id) || i >= state.head.len() {
                    continue;
                }
                state.head[i]
                    .restore_open(newest[i], data, rewrite)
                    .map_err(|e| corrupt_chunk(state_labels(&state.index, i), e))?;
            }
            Ok(())
        },
    )
    .await
}

/// Hands each `(key, data)` row of `table` (whose integer key column is `key`) to `each`, in
/// key order, `page` rows per query: the tables read this way may hold hundreds of MB, which
/// are then never all in memory at once.
async fn each_row(
    pool: &SqlitePool,
    table: &str,
    key: &str,
    page: i64,
    mut each: impl FnMut(i64, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sql = format!("SELECT {key}, data FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?");
    let mut after = i64::MIN;
    loop {
        // Only this module's table and column names are formatted in; values are bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(after)
            .bind(page)
            .fetch_all(pool)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get(0)?;
        for row in rows {
            each(row.try_get(0)?, &row.try_get::<Vec<u8>, _>(1)?)?;
        }
    }
}

fn state_labels(index: &super::index::Index, id: usize) -> String {
    index
        .labels(id as u32)
        .map_or_else(|| format!("#{id}"), |l| l.to_string())
}

/// The error for an undecodable chunk of a series.
pub fn corrupt_chunk(series: String, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: format!("chunk of series {series}"),
        detail: e.to_string(),
    }
}

/// WAL records read per query at open: the WAL may hold hundreds of MB ([`super::wal_limit`]),
/// which are replayed a page at a time instead of all held at once.
const REPLAY_PAGE: i64 = if cfg!(test) { 2 } else { 256 };

async fn replay_wal(pool: &SqlitePool, state: &mut State) -> Result<(), StoreError> {
    each_row(pool, "wal", "id", REPLAY_PAGE, |id, data| {
        replay_record(state, id, data)
    })
    .await
}

/// Appends one WAL record's samples to the head, judged as when they were accepted.
fn replay_record(state: &mut State, id: i64, data: &[u8]) -> Result<(), StoreError> {
    let entries = wal::decode(data).ok_or_else(|| StoreError::Corrupt {
        what: format!("wal record {id}"),
        detail: "malformed record".into(),
    })?;
    for e in entries {
        // Series forgotten by retention since the record was written are skipped.
        if state.index.contains(e.series)
            && let Some(head) = state.head.get_mut(e.series as usize)
            && judge(head.last(), e.t, e.v) == Verdict::Append
        {
            head.append(e.t, e.v);
        }
    }
    Ok(())
}
