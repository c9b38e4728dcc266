//! The store against real SQLite files: durability, MemStore-equal semantics, retention, errors.

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use super::SqliteStore;
use super::testutil::{Rng, bits, stores};
use crate::model::{BatchId, Labels, MatchOp, Matcher, Sample, Series, WriteBatch};
use crate::store::limit;
use crate::store::mem::MemStore;
use crate::store::{MetricStore, Projection, Querier, StoreConfig, StoreError};

async fn open(dir: &TempDir) -> SqliteStore {
    open_with(dir, StoreConfig::default()).await
}

async fn open_with(dir: &TempDir, config: StoreConfig) -> SqliteStore {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    SqliteStore::open(pool, config).await.expect("store")
}

fn series(name: &str, node: &str, samples: &[(i64, f64)]) -> Series {
    Series {
        labels: Labels::from_pairs([("__name__", name), ("node", node)]),
        samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
    }
}

fn batch(seq: Option<u64>, series: Vec<Series>) -> WriteBatch {
    WriteBatch {
        id: seq.map(|seq| BatchId {
            agent: "agent-1".into(),
            seq,
        }),
        series,
    }
}

/// A store's config starting a checkpoint every millisecond, so that they overlap appends.
fn checkpointing_every_ms() -> StoreConfig {
    StoreConfig {
        checkpoint_interval: Duration::from_millis(1),
        ..StoreConfig::default()
    }
}

/// A store's config keeping an hour of samples (retention tests count in hours).
fn an_hour_kept() -> StoreConfig {
    StoreConfig {
        retention: Duration::from_secs(3600),
        ..StoreConfig::default()
    }
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new("__name__", MatchOp::Regex, ".+").expect("matcher")]
}

/// A random batch over a small universe of series, with some old and repeated timestamps.
fn random_batch(rng: &mut Rng, seq: u64) -> WriteBatch {
    let names = ["up", "cpu", "mem"];
    let list = (0..rng.below(6) + 1)
        .map(|_| {
            let name = names[rng.below(3) as usize];
            let node = format!("n{}", rng.below(5));
            let base = seq as i64 * 10_000;
            let samples: Vec<(i64, f64)> = (0..rng.below(40))
                .map(|i| {
                    (
                        base + i as i64 * 300 - rng.below(3000) as i64,
                        rng.below(4) as f64,
                    )
                })
                .collect();
            series(name, &node, &samples)
        })
        .collect();
    batch((rng.below(4) > 0).then(|| rng.below(seq + 1)), list)
}

#[tokio::test]
async fn out_of_order_duplicate_and_replay_reports_equal_memstores() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    let mem = MemStore::new();
    let mut rng = Rng::new(1);

    for seq in 0..200 {
        let b = random_batch(&mut rng, seq);

        // Act
        let got = store.append(b.clone()).await.expect("append");
        let want = mem.append(b).await.expect("append");

        // Assert
        assert_eq!(got, want, "batch {seq}");
    }
}

/// A store in `dir` and a MemStore given the same 150 random batches, the first 71 of them
/// checkpointed to the store's disk chunks and the rest left in its head.
async fn random_stores(dir: &TempDir, rng: &mut Rng) -> (SqliteStore, MemStore) {
    let mem = MemStore::new();
    let store = open(dir).await;
    for seq in 0..150 {
        let b = random_batch(rng, seq);
        store.append(b.clone()).await.expect("append");
        mem.append(b).await.expect("append");
        if seq == 70 {
            store.checkpoint().await.expect("checkpoint");
        }
    }
    (store, mem)
}

#[tokio::test]
async fn select_equals_memstore_on_random_data_and_matchers_across_a_restart() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let mut rng = Rng::new(2);
    let (store, mem) = random_stores(&dir, &mut rng).await;
    store.close().await.expect("close");
    let store = open(&dir).await;
    let ops = [
        MatchOp::Equal,
        MatchOp::NotEqual,
        MatchOp::Regex,
        MatchOp::NotRegex,
    ];
    let values = ["up", "n1", "", "n.*", "c.u|mem"];

    for _ in 0..100 {
        let matchers: Vec<Matcher> = (0..rng.below(3) + 1)
            .map(|_| {
                let name = ["__name__", "node", "missing"][rng.below(3) as usize];
                let op = ops[rng.below(4) as usize];
                Matcher::new(name, op, values[rng.below(5) as usize]).expect("matcher")
            })
            .collect();
        let start = rng.below(1_600_000) as i64 - 50_000;
        let end = start + rng.below(800_000) as i64;

        // Act
        let got = store.select(&matchers, start, end).await.expect("select");
        let want = mem.select(&matchers, start, end).await.expect("select");

        // Assert
        assert_eq!(bits(&got), bits(&want), "{matchers:?} [{start}, {end}]");
    }
}

#[tokio::test]
async fn mapped_reads_equal_memstores_across_checkpointed_chunks_and_the_head() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let mut rng = Rng::new(3);
    let (store, mem) = random_stores(&dir, &mut rng).await;
    // Every other sample, each added the series' sample count: wrong if any sample is
    // missing, repeated or out of place, and nothing for a series of one sample.
    let map = |s: &[Sample]| -> Vec<Sample> {
        let n = s.len() as f64;
        let kept = s.iter().step_by(2).map(|x| Sample { t: x.t, v: x.v + n });
        if s.len() > 1 {
            kept.collect()
        } else {
            Vec::new()
        }
    };

    for _ in 0..60 {
        let start = rng.below(1_600_000) as i64 - 50_000;
        let end = start + rng.below(800_000) as i64;

        // Act
        let got = store.select_mapped(&all(), start, end, &map).await;
        let want = mem.select_mapped(&all(), start, end, &map).await;

        // Assert
        let (got, want) = (got.expect("mapped"), want.expect("mapped"));
        assert_eq!(bits(&got), bits(&want), "[{start}, {end}]");
    }
}

#[tokio::test]
async fn a_restart_keeps_every_acked_sample_and_appends_continue_the_series() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    let samples: Vec<(i64, f64)> = (0..1000).map(|i| (i * 15_000, i as f64 * 0.25)).collect();
    store
        .append(batch(Some(1), vec![series("up", "a", &samples)]))
        .await
        .expect("append");
    store.close().await.expect("close");

    // Act
    let store = open(&dir).await;
    let report = store
        .append(batch(
            Some(2),
            vec![series(
                "up",
                "a",
                &[(999 * 15_000, 1.0), (1000 * 15_000, 7.0)],
            )],
        ))
        .await
        .expect("append");
    let replay = store.append(batch(Some(1), vec![])).await.expect("append");
    let got = store.select(&all(), 0, i64::MAX).await.expect("select");

    // Assert
    assert_eq!(
        (report.appended, report.duplicates, report.series_created),
        (1, 1, 0)
    );
    assert!(replay.replayed);
    assert_eq!(got[0].samples.len(), 1001);
    assert_eq!(
        got[0].samples[..1000],
        series("up", "a", &samples).samples[..]
    );
}

#[tokio::test]
async fn samples_acked_before_a_crash_are_replayed_from_the_wal() {
    // Arrange: no close and no checkpoint, then the files are copied as a crash would leave them.
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    let stale = crate::model::stale_nan();
    store
        .append(batch(
            None,
            vec![
                series("up", "a", &[(1, 1.0), (2, stale)]),
                series("up", "b", &[(5, 2.0)]),
            ],
        ))
        .await
        .expect("append");
    store.checkpoint().await.expect("checkpoint");
    store
        .append(batch(None, vec![series("up", "a", &[(3, 3.0)])]))
        .await
        .expect("append");
    let crashed = TempDir::new().expect("tempdir");
    for name in ["warroom.db", "warroom.db-wal"] {
        let _ = std::fs::copy(dir.path().join(name), crashed.path().join(name));
    }

    // Act
    let reopened = open(&crashed).await;
    let got = reopened.select(&all(), 0, 10).await.expect("select");

    // Assert
    let a: Vec<(i64, u64)> = got[0]
        .samples
        .iter()
        .map(|s| (s.t, s.v.to_bits()))
        .collect();
    assert_eq!(
        a,
        vec![
            (1, 1f64.to_bits()),
            (2, stale.to_bits()),
            (3, 3f64.to_bits())
        ]
    );
    assert_eq!(got[1].samples, vec![Sample { t: 5, v: 2.0 }]);
}

#[tokio::test]
async fn a_corrupt_chunk_is_reported_with_its_series() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    let samples: Vec<(i64, f64)> = (0..600).map(|i| (i * 1000, i as f64)).collect();
    store
        .append(batch(None, vec![series("up", "a", &samples)]))
        .await
        .expect("append");
    store.close().await.expect("close");
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    sqlx::query("UPDATE chunks SET data = substr(data, 1, 10) WHERE min_t = 0")
        .execute(&pool)
        .await
        .expect("corrupt");

    // Act
    let store = SqliteStore::open(pool, StoreConfig::default())
        .await
        .expect("open");
    let err = store.select(&all(), 0, 1000).await.expect_err("corrupt");
    let keep = |s: &[Sample]| s.to_vec();
    let mapped_err = store.select_mapped(&all(), 0, 1000, &keep).await;

    // Assert
    for err in [err, mapped_err.expect_err("corrupt")] {
        assert!(
            matches!(&err, StoreError::Corrupt { what, .. } if what.contains(r#"up{node="a"}"#)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn retention_removes_old_chunks_and_forgets_series_left_without_data() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let config = an_hour_kept();
    let store = open_with(&dir, config).await;
    let hour = 3_600_000;
    let old: Vec<(i64, f64)> = (0..2000).map(|i| (i * 15_000, 1.0)).collect();
    let recent: Vec<(i64, f64)> = (0..2000).map(|i| (i * 15_000 + 10 * hour, 1.0)).collect();
    store
        .append(batch(
            None,
            vec![series("up", "old", &old), series("up", "new", &[(0, 1.0)])],
        ))
        .await
        .expect("append");
    store
        .append(batch(None, vec![series("up", "new", &recent)]))
        .await
        .expect("append");

    // Act
    let forgotten = store.retain(18 * hour).await.expect("retain");
    let got = store.select(&all(), 0, i64::MAX).await.expect("select");
    let stats = store.stats().await.expect("stats");

    // Assert
    assert_eq!(forgotten, 1);
    assert_eq!(stats.series, 1);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].samples[0].t >= 16 * hour - 3 * hour,
        "{}",
        got[0].samples[0].t
    );
    assert_eq!(
        got[0].samples.last().map(|s| s.t),
        Some(1999 * 15_000 + 10 * hour)
    );
}

#[tokio::test]
async fn a_series_taking_a_forgotten_ones_id_after_a_restart_gets_none_of_its_samples() {
    // Arrange: "b" (the newest id) has an open chunk stored as written and goes stale; "a" lives.
    let dir = TempDir::new().expect("tempdir");
    let config = an_hour_kept();
    let hour = 3_600_000;
    let store = open_with(&dir, config.clone()).await;
    let list = vec![
        series("up", "a", &[(0, 1.0)]),
        series("up", "b", &[(0, 2.0), (15_000, 2.0)]),
    ];
    store.append(batch(None, list)).await.expect("append");
    store.close().await.expect("close");
    let store = open_with(&dir, config.clone()).await;
    let list = vec![series("up", "a", &[(10 * hour, 1.0)])];
    store.append(batch(None, list)).await.expect("append");
    assert_eq!(store.retain(10 * hour).await.expect("retain"), 1);
    store.close().await.expect("close");

    // Act: after a restart "c" takes b's id, then a crash before any checkpoint.
    let store = open_with(&dir, config.clone()).await;
    let list = vec![series("up", "c", &[(10 * hour + 15_000, 3.0)])];
    store.append(batch(None, list)).await.expect("append");
    let crashed = TempDir::new().expect("tempdir");
    for name in ["warroom.db", "warroom.db-wal"] {
        let _ = std::fs::copy(dir.path().join(name), crashed.path().join(name));
    }
    let reopened = open_with(&crashed, config).await;
    let got = reopened.select(&all(), 0, i64::MAX).await.expect("select");

    // Assert
    let c = got.iter().find(|s| s.labels.get("node") == Some("c"));
    let want = vec![Sample {
        t: 10 * hour + 15_000,
        v: 3.0,
    }];
    assert_eq!(c.expect("series c").samples, want);
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn concurrent_appends_from_many_tasks_all_land() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let store = Arc::new(open(&dir).await);

    // Act
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    let s = series("up", &format!("n{task}"), &[(i * 1000, i as f64)]);
                    store.append(batch(None, vec![s])).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    store.close().await.expect("close");
    let after_close = store.append(batch(None, vec![])).await;
    let store = open(&dir).await;
    let got = store.select(&all(), 0, i64::MAX).await.expect("select");

    // Assert
    assert!(matches!(after_close, Err(StoreError::Closed)));
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|s| s.samples.len() == 50));
}

#[tokio::test]
async fn checkpoints_running_beside_appends_keep_every_acked_sample_through_a_crash() {
    // Arrange: a checkpoint starts every millisecond, so they overlap the appends; 300 series
    // span several copy slices, and 300 samples each seal a chunk mid-run.
    let dir = TempDir::new().expect("tempdir");
    let store = open_with(&dir, checkpointing_every_ms()).await;
    let nodes: Vec<String> = (0..300).map(|n| format!("n{n:03}")).collect();
    let mut crashes = Vec::new();

    // Act: after every 25 acked batches, a consistent copy of what is committed: a crash's.
    for k in 0..300i64 {
        let list = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| series("up", node, &[(k * 15_000, k as f64 + n as f64 / 1e3)]))
            .collect();
        store.append(batch(None, list)).await.expect("append");
        if k % 25 == 24 {
            let copy = TempDir::new().expect("tempdir");
            let file = copy.path().join("warroom.db");
            sqlx::query("VACUUM INTO ?")
                .bind(file.to_string_lossy().into_owned())
                .execute(&store.shared.pool)
                .await
                .expect("vacuum into");
            crashes.push((k + 1, copy));
        }
    }

    // Assert: every copy reopens with exactly the batches acked before it was taken.
    for (acked, copy) in &crashes {
        let reopened = open(copy).await;
        let got = reopened.select(&all(), 0, i64::MAX).await.expect("select");
        assert_eq!(got.len(), nodes.len(), "after {acked} batches");
        for (n, s) in got.iter().enumerate() {
            let want: Vec<Sample> = (0..*acked)
                .map(|k| Sample {
                    t: k * 15_000,
                    v: k as f64 + n as f64 / 1e3,
                })
                .collect();
            assert_eq!(s.samples, want, "series {} after {acked} batches", s.labels);
        }
        reopened.close().await.expect("close");
    }
    let live = store.select(&all(), 0, i64::MAX).await.expect("select");
    assert!(
        live.iter().all(|s| s.samples.len() == 300),
        "the live store lost samples"
    );
    let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
        .fetch_one(&store.shared.pool)
        .await
        .expect("count");
    assert_eq!(chunks, nodes.len() as i64, "the sealed chunks");
    assert_eq!(encodings(&store).await, [3], "sealed chunks packed");
    assert!(
        !open_chunk_ids(&store).await.is_empty(),
        "open chunks as written"
    );
    store.close().await.expect("close");
}

/// The distinct first bytes (encodings) of the stored chunks.
async fn encodings(store: &SqliteStore) -> Vec<i64> {
    sqlx::query_scalar("SELECT DISTINCT unicode(substr(data, 1, 1)) FROM chunks ORDER BY 1")
        .fetch_all(&store.shared.pool)
        .await
        .expect("encodings")
}

#[tokio::test]
async fn an_explicit_checkpoint_stores_open_chunks_compacted() {
    // Arrange: an open chunk only, stored as written by the checkpoints beside appends first.
    let dir = TempDir::new().expect("tempdir");
    let store = open_with(&dir, checkpointing_every_ms()).await;
    for k in 0..20i64 {
        let list = vec![series("up", "a", &[(k * 15_000, k as f64 * 1.5)])];
        store.append(batch(None, list)).await.expect("append");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let before = (encodings(&store).await, open_chunk_ids(&store).await);

    // Act
    store.checkpoint().await.expect("checkpoint");

    // Assert
    assert_eq!(
        before,
        (vec![], vec![0]),
        "the background checkpoints' open chunk"
    );
    assert_eq!(encodings(&store).await, [3]);
    assert_eq!(open_chunk_ids(&store).await, Vec::<u32>::new());
    let got = store.select(&all(), 0, i64::MAX).await.expect("select");
    assert_eq!(got[0].samples.len(), 20);
}

#[tokio::test]
async fn a_wal_of_many_records_is_replayed_page_by_page() {
    // Arrange: seven acked records, more than three replay pages, and no checkpoint.
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    for k in 0..7i64 {
        let list = vec![
            series("up", "a", &[(k * 15_000, k as f64)]),
            series("up", &format!("n{k}"), &[(k, 1.0)]),
        ];
        store.append(batch(None, list)).await.expect("append");
    }
    let crashed = TempDir::new().expect("tempdir");
    for name in ["warroom.db", "warroom.db-wal"] {
        let _ = std::fs::copy(dir.path().join(name), crashed.path().join(name));
    }

    // Act
    let reopened = open(&crashed).await;
    let got = reopened.select(&all(), 0, i64::MAX).await.expect("select");

    // Assert
    assert_eq!(got.len(), 8);
    let a = got.iter().find(|s| s.labels.get("node") == Some("a"));
    let want: Vec<Sample> = (0..7)
        .map(|k| Sample {
            t: k * 15_000,
            v: k as f64,
        })
        .collect();
    assert_eq!(a.expect("series a").samples, want);
}

/// Rewrites the `open_chunks` rows of series `ids` (from a row start) as one row at its start,
/// as rows of 4,096 series held them before rows of [`super::open_chunks::ROW`].
async fn merge_open_chunk_rows(dir: &TempDir, ids: std::ops::Range<i64>) {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    let blobs: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT data FROM open_chunks WHERE first_id >= ? AND first_id < ? ORDER BY first_id",
    )
    .bind(ids.start)
    .bind(ids.end)
    .fetch_all(&pool)
    .await
    .expect("rows");
    let entries = blobs
        .iter()
        .flat_map(|b| super::open_chunks::decode(b).expect("blob"));
    let merged = super::open_chunks::encode_raw(entries);
    sqlx::query("DELETE FROM open_chunks WHERE first_id >= ? AND first_id < ?")
        .bind(ids.start)
        .bind(ids.end)
        .execute(&pool)
        .await
        .expect("delete");
    sqlx::query("INSERT INTO open_chunks (first_id, data) VALUES (?, ?)")
        .bind(ids.start)
        .bind(merged)
        .execute(&pool)
        .await
        .expect("insert");
    pool.close().await;
}

/// The series ids with an entry in `open_chunks`.
async fn open_chunk_ids(store: &SqliteStore) -> Vec<u32> {
    let blobs: Vec<Vec<u8>> = sqlx::query_scalar("SELECT data FROM open_chunks")
        .fetch_all(&store.shared.pool)
        .await
        .expect("rows");
    let mut ids: Vec<u32> = (blobs.iter())
        .flat_map(|b| super::open_chunks::decode(b).expect("blob"))
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn open_chunks_in_the_bigger_rows_of_older_databases_load_and_are_purged() {
    // Arrange: 40 series (ids 0..40, rows of 16 in tests) whose open chunks one row holds, as
    // rows of 4,096 series did; ids 20..40 have only old samples.
    let dir = TempDir::new().expect("tempdir");
    let config = an_hour_kept();
    let hour = 3_600_000;
    let store = open_with(&dir, config.clone()).await;
    let list = (0..40)
        .map(|n| {
            let t = if n < 20 { 10 * hour } else { 0 };
            series(
                "up",
                &format!("n{n:02}"),
                &[(t, n as f64), (t + 15_000, 1.0)],
            )
        })
        .collect();
    store.append(batch(None, list)).await.expect("append");
    store.close().await.expect("close");
    merge_open_chunk_rows(&dir, 0..64).await;

    // Act: reopen, then forget the stale series (no slice changed, so none is rewritten).
    let store = open_with(&dir, config.clone()).await;
    let loaded = store.select(&all(), 0, i64::MAX).await.expect("select");
    let forgotten = store.retain(10 * hour).await.expect("retain");
    let left = open_chunk_ids(&store).await;
    store.close().await.expect("close");
    let reopened = open_with(&dir, config).await;
    let got = reopened.select(&all(), 0, i64::MAX).await.expect("select");

    // Assert
    assert_eq!(loaded.len(), 40);
    assert!(loaded.iter().all(|s| s.samples.len() == 2));
    assert_eq!(forgotten, 20);
    assert_eq!(
        left,
        (0..20).collect::<Vec<u32>>(),
        "the stale series' entries purged"
    );
    assert_eq!(got.len(), 20);
    assert!(
        got.iter()
            .all(|s| s.samples[0].t == 10 * hour && s.samples.len() == 2)
    );
}

#[tokio::test]
async fn open_chunks_in_the_bigger_rows_of_older_databases_are_read_whole_until_rewritten() {
    // Arrange: 40 series of 100 samples, whose open chunks one row holds, as rows of 4,096
    // series did (ids 0..40, rows of 16 in tests).
    let dir = TempDir::new().expect("tempdir");
    let store = open_with(&dir, StoreConfig::default()).await;
    let round = |k: i64| {
        let list = (0..40)
            .map(|n| series("up", &format!("n{n:02}"), &[(k * 15_000, (k * n) as f64)]))
            .collect();
        batch(None, list)
    };
    for k in 0..100 {
        store.append(round(k)).await.expect("append");
    }
    store.close().await.expect("close");
    merge_open_chunk_rows(&dir, 0..64).await;

    // Act: reopen and read; then one more sample, a checkpoint at close, and again.
    let store = open_with(&dir, StoreConfig::default()).await;
    let loaded = store.select(&all(), 0, i64::MAX).await.expect("select");
    let one = [Matcher::new("node", MatchOp::Equal, "n25").expect("matcher")];
    let alone = store.select(&one, 0, i64::MAX).await.expect("select");
    store.append(round(100)).await.expect("append");
    store.close().await.expect("close");
    let store = open_with(&dir, StoreConfig::default()).await;
    let rows: Vec<i64> = sqlx::query_scalar("SELECT first_id FROM open_chunks ORDER BY 1")
        .fetch_all(&store.shared.pool)
        .await
        .expect("rows");
    let got = store.select(&all(), 0, i64::MAX).await.expect("select");

    // Assert
    assert_eq!(loaded.len(), 40);
    assert!(loaded.iter().all(|s| s.samples.len() == 100));
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0].samples.len(), 100, "read alone");
    assert_eq!(rows, [0, 16, 32], "rewritten in rows of 16");
    assert!(got.iter().all(|s| s.samples.len() == 101));
}

/// Records in the `wal` table: what no checkpoint has stored yet.
async fn wal_rows(pool: &sqlx::SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM wal")
        .fetch_one(pool)
        .await
        .expect("count wal")
}

/// A store checkpointing every 50 ms, with one sample appended, and its pool.
async fn ticking_store(
    dir: &TempDir,
    shutdown: CancellationToken,
) -> (SqliteStore, sqlx::SqlitePool) {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    let config = StoreConfig {
        checkpoint_interval: Duration::from_millis(50),
        ..StoreConfig::default()
    };
    let store = SqliteStore::open_with_shutdown(pool.clone(), config, shutdown)
        .await
        .expect("store");
    let one = series("m", "n1", &[(1_000, 1.0)]);
    store.append(batch(None, vec![one])).await.expect("append");
    (store, pool)
}

#[tokio::test]
async fn timed_checkpoints_empty_the_wal_until_shutdown_is_signalled_and_close_still_does() {
    // Arrange: one store running, one whose shutdown signal has come.
    let (live_dir, ended_dir) = (
        TempDir::new().expect("tempdir"),
        TempDir::new().expect("tempdir"),
    );
    let ended = CancellationToken::new();
    ended.cancel();
    let (live, live_pool) = ticking_store(&live_dir, CancellationToken::new()).await;
    let (stopping, stopping_pool) = ticking_store(&ended_dir, ended).await;

    // Act: several checkpoint intervals pass.
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Assert
    assert_eq!(wal_rows(&live_pool).await, 0, "the timer checkpointed");
    assert_eq!(
        wal_rows(&stopping_pool).await,
        1,
        "no timed checkpoint after the signal"
    );
    stopping.close().await.expect("close");
    assert_eq!(wal_rows(&stopping_pool).await, 0, "close checkpointed");
    live.close().await.expect("close");
}

#[tokio::test]
async fn reads_within_a_sample_limit_fail_once_they_decode_past_it_from_disk_or_head() {
    // Arrange: 24 series of 300 samples, the first 240 of each checkpointed to disk.
    let dir = TempDir::new().expect("tempdir");
    let (sqlite, _) = stores(&dir).await;
    let all = all();
    let whole = 24 * 300;
    let by_g = Projection::By {
        names: vec!["g".into()],
        keep_name: false,
    };

    // Act
    let fits = limit::within(whole, sqlite.select(&all, 0, i64::MAX)).await;
    let past_on_disk = limit::within(whole - 1, sqlite.select(&all, 0, i64::MAX)).await;
    // Only the head's last 60 samples of each series: 1,440 in all.
    let past_in_head = limit::within(1_000, sqlite.select(&all, 3_600_000, i64::MAX)).await;
    let projected = limit::within(100, sqlite.select_projected(&all, 0, i64::MAX, &by_g)).await;
    let unlimited = sqlite.select(&all, 0, i64::MAX).await;

    // Assert
    let fits = fits.expect("within the limit");
    assert_eq!(fits.iter().map(|s| s.samples.len()).sum::<usize>(), whole);
    assert!(matches!(past_on_disk, Err(StoreError::TooManySamples(m)) if m == whole - 1));
    assert!(matches!(
        past_in_head,
        Err(StoreError::TooManySamples(1_000))
    ));
    assert!(matches!(projected, Err(StoreError::TooManySamples(100))));
    assert_eq!(unlimited.expect("no limit").len(), 24);
}
