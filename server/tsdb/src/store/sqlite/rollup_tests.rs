//! Rollups against raw samples on real SQLite files: equal buckets across chunks, the head and
//! a restart; deleted by retention; back-filled for a database from before the migration.

use std::time::Duration;

use tempfile::TempDir;

use super::SqliteStore;
use super::rollup::{self, Resolution, RollupSeries};
use crate::model::{Labels, MatchOp, Matcher, Sample, Series, WriteBatch};
use crate::store::{MetricStore, Querier, StoreConfig};

const STEP: i64 = 15_000;
const T0: i64 = 1_700_000_003_000;

async fn open(dir: &TempDir, config: StoreConfig) -> SqliteStore {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    SqliteStore::open(pool, config).await.expect("store")
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new("__name__", MatchOp::Regex, ".+").expect("matcher")]
}

/// Scrapes `from..to` of two series: a counter and an integer gauge.
async fn write(store: &SqliteStore, from: i64, to: i64) {
    for i in from..to {
        let t = T0 + i * STEP;
        let series = [("c", (i * 3) as f64), ("g", ((i * 37) % 101) as f64)]
            .into_iter()
            .map(|(name, v)| Series {
                labels: Labels::from_pairs([("__name__", name)]),
                samples: vec![Sample { t, v }],
            })
            .collect();
        store
            .append(WriteBatch { id: None, series })
            .await
            .expect("append");
    }
}

/// The buckets computed from the raw samples `store` reads, as `select_rollup` should return
/// them.
pub(super) async fn from_raw(
    store: &impl Querier,
    start: i64,
    end: i64,
    res: Resolution,
) -> Vec<RollupSeries> {
    let ms = res.millis();
    let lo = rollup::bucket_start(start, ms);
    let hi = rollup::bucket_start(end, ms) + ms - 1;
    let raw = store.select(&all(), lo, hi).await.expect("select");
    raw.into_iter()
        .map(|s| {
            let mut buckets = Vec::new();
            rollup::accumulate(&s.samples, ms, &mut buckets);
            buckets.retain(|b| b.t >= start && b.t <= end);
            RollupSeries {
                labels: s.labels,
                buckets,
            }
        })
        .filter(|s| !s.buckets.is_empty())
        .collect()
}

async fn assert_equal_to_raw(store: &SqliteStore, ranges: &[(i64, i64)]) {
    for &(start, end) in ranges {
        for res in [Resolution::OneHour] {
            let got = store
                .select_rollup(&all(), start, end, res)
                .await
                .expect("rollup");
            assert_eq!(
                got,
                from_raw(store, start, end, res).await,
                "{start}..{end} {res:?}"
            );
            assert!(!got.is_empty());
        }
    }
}

#[tokio::test]
async fn rollups_equal_the_buckets_of_the_raw_samples_across_chunks_head_and_a_restart() {
    // Arrange: ~10 h in closed chunks on disk, then an open chunk and head data not on disk.
    let dir = TempDir::new().expect("dir");
    let store = open(&dir, StoreConfig::default()).await;
    write(&store, 0, 2_400).await;
    store.checkpoint().await.expect("checkpoint");
    write(&store, 2_400, 2_500).await;
    let end = T0 + 2_500 * STEP;
    let ranges = [
        (T0, end),
        (T0 + 3_600_000, T0 + 5 * 3_600_000 + 17),
        (end - 2 * 3_600_000, end),
    ];

    // Act / Assert
    assert_equal_to_raw(&store, &ranges).await;
    store.close().await.expect("close");
    let store = open(&dir, StoreConfig::default()).await;
    assert_equal_to_raw(&store, &ranges).await;
}

#[tokio::test]
async fn retention_deletes_rollups_with_their_chunks() {
    // Arrange
    let dir = TempDir::new().expect("dir");
    let config = StoreConfig {
        retention: Duration::from_secs(3 * 3600),
        ..StoreConfig::default()
    };
    let store = open(&dir, config).await;
    write(&store, 0, 2_400).await;
    let now = T0 + 2_400 * STEP;

    // Act
    store.retain(now).await.expect("retain");

    // Assert
    let old = store
        .select_rollup(&all(), T0, T0 + 3_600_000, Resolution::OneHour)
        .await
        .expect("rollup");
    assert!(old.is_empty());
    let stale_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rollups WHERE max_t < ?")
        .bind(now - 3 * 3_600_000)
        .fetch_one(&store.shared.pool)
        .await
        .expect("count");
    assert_eq!(stale_rows, 0);
    assert_equal_to_raw(&store, &[(now - 3_600_000, now)]).await;
}

/// Writes 1,000 scrapes, closes the store, then turns the file back into an older database.
async fn downgraded(dir: &TempDir, statements: &[&str]) {
    let store = open(dir, StoreConfig::default()).await;
    write(&store, 0, 1_000).await;
    store.close().await.expect("close");
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(*sql))
            .execute(&store.shared.pool)
            .await
            .expect("downgrade");
    }
    store.shared.pool.close().await;
}

#[tokio::test]
async fn a_database_from_before_the_rollups_migration_gets_them_at_open() {
    // Arrange: a store whose rollups table (and its migration) never existed.
    let dir = TempDir::new().expect("dir");
    downgraded(
        &dir,
        &[
            "DROP TABLE rollups",
            "DELETE FROM _sqlx_migrations WHERE version = 4",
        ],
    )
    .await;

    // Act
    let store = open(&dir, StoreConfig::default()).await;

    // Assert
    assert_equal_to_raw(&store, &[(T0, T0 + 1_000 * STEP)]).await;
}

#[tokio::test]
async fn rollups_in_the_former_five_minute_layout_are_rebuilt_at_open() {
    // Arrange: rows that hold some other layout, from a database before migration 6.
    let dir = TempDir::new().expect("dir");
    downgraded(
        &dir,
        &[
            "UPDATE rollups SET data = X'0100'",
            "DELETE FROM _sqlx_migrations WHERE version = 6",
        ],
    )
    .await;

    // Act
    let store = open(&dir, StoreConfig::default()).await;

    // Assert
    assert_equal_to_raw(&store, &[(T0, T0 + 1_000 * STEP)]).await;
}
