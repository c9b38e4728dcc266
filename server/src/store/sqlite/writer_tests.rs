//! Tests of the writer against real SQLite files: series by id, stale ids, a failed one-call
//! transaction, groups committed while the previous one is applied, and timed checkpoints
//! stopping on the shutdown signal.

use std::time::Duration;

use prost::Message;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use super::super::SqliteStore;
use super::super::testutil::bits;
use crate::ingest::remote_write::{decode, decode_with};
use crate::model::{MatchOp, Matcher};
use crate::prompb::{self, TimeSeries, WriteRequest};
use crate::store::mem::MemStore;
use crate::store::{MetricStore, Querier, StoreConfig, StoreError};

async fn open(dir: &TempDir) -> SqliteStore {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    SqliteStore::open(pool, StoreConfig::default())
        .await
        .expect("store")
}

/// Labels in wire order and `(t, v)` samples.
type WireSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

/// A remote_write body of `series`.
fn body(series: &[WireSeries<'_>]) -> Vec<u8> {
    let timeseries = (series.iter())
        .map(|(labels, samples)| TimeSeries {
            labels: (labels.iter())
                .map(|(n, v)| prompb::Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: (samples.iter())
                .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
                .collect(),
        })
        .collect();
    let raw = WriteRequest { timeseries }.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy")
}

const A: &[(&str, &str)] = &[("__name__", "known_a"), ("node", "n1")];
const B: &[(&str, &str)] = &[("__name__", "known_b"), ("node", "n1")];
const B_UNSORTED: &[(&str, &str)] = &[("node", "n1"), ("__name__", "known_b")];

fn all() -> Vec<Matcher> {
    vec![Matcher::new("__name__", MatchOp::Regex, "known_.+").expect("matcher")]
}

#[tokio::test]
async fn series_named_by_id_are_judged_and_stored_exactly_as_by_labels() {
    // Arrange: both series exist; the second body repeats them out of order, with a
    // duplicate, and B also with its labels unsorted (so by labels, in the same batch).
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    let mem = MemStore::new();
    let lookup = store.lookup().expect("lookup");
    let first = body(&[(A, &[(1_000, 1.0)]), (B, &[(1_000, 5.0)])]);
    let second = body(&[
        (B, &[(3_000, 7.0)]),
        (A, &[(3_000, 3.0), (2_000, 2.0)]),
        (B_UNSORTED, &[(2_000, 6.0)]),
        (A, &[(3_000, 9.0), (500, 0.5)]),
    ]);
    let mut reports = Vec::new();

    for b in [&first, &second] {
        // Act
        let decoded = decode_with(b, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
        let got = store
            .append_known(decoded.batch, decoded.known)
            .await
            .expect("append");
        let want = mem
            .append(decode(b, 1 << 20, 100).expect("decode"))
            .await
            .expect("append");
        reports.push((got, want));
    }

    // Assert
    let second = decode_with(&second, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
    assert_eq!(second.known.samples.len(), 5, "A and sorted B by id");
    assert_eq!(second.batch.series.len(), 1, "unsorted B by labels");
    for (got, want) in &reports {
        assert_eq!(got, want);
    }
    assert_eq!(reports[1].0.appended, 4);
    assert_eq!(reports[1].0.out_of_order, 1);
    assert_eq!(reports[1].0.duplicates, 1);
    let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
    let expected = mem.select(&all(), 0, i64::MAX).await.expect("select");
    assert_eq!(bits(&stored), bits(&expected));
}

#[tokio::test]
async fn ids_forgotten_after_their_lookup_fail_the_batch_whole_and_a_retry_stores_it() {
    // Arrange: A exists, is looked up, then retention forgets it.
    let dir = TempDir::new().expect("tempdir");
    let store = open(&dir).await;
    let lookup = store.lookup().expect("lookup");
    let old = body(&[(A, &[(1_000, 1.0)])]);
    let decoded = decode_with(&old, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
    store
        .append_known(decoded.batch, decoded.known)
        .await
        .expect("append");
    let now = body(&[(A, &[(40 * 86_400_000, 2.0)]), (B, &[(1_000, 5.0)])]);
    let stale = decode_with(&now, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
    assert_eq!(stale.known.samples.len(), 1);
    assert_eq!(store.retain(40 * 86_400_000).await.expect("retain"), 1);

    // Act
    let refused = store.append_known(stale.batch, stale.known).await;
    let retry = decode_with(&now, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
    let retried = store.append_known(retry.batch, retry.known).await;

    // Assert
    assert!(
        matches!(refused, Err(StoreError::StaleIds(1))),
        "{refused:?}"
    );
    assert_eq!(retried.expect("retry").appended, 2);
    let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
    let names: Vec<_> = stored.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(names, [r#"known_a{node="n1"}"#, r#"known_b{node="n1"}"#]);
    assert_eq!(stored[0].samples.len(), 1);
}

#[tokio::test]
async fn a_group_whose_one_call_transaction_fails_leaves_nothing_and_the_next_commits() {
    // Arrange: a trigger makes every WAL insert fail until it is dropped.
    let dir = TempDir::new().expect("tempdir");
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    let store = SqliteStore::open(pool.clone(), StoreConfig::default())
        .await
        .expect("store");
    let fail = "CREATE TRIGGER fail BEFORE INSERT ON wal BEGIN SELECT RAISE(ABORT, 'full'); END";
    sqlx::query(fail).execute(&pool).await.expect("trigger");
    let b = body(&[(A, &[(1_000, 1.0)]), (B, &[(1_000, 2.0)])]);

    // Act
    let failed = store
        .append(decode(&b, 1 << 20, 100).expect("decode"))
        .await;
    sqlx::query("DROP TRIGGER fail")
        .execute(&pool)
        .await
        .expect("drop trigger");
    let retried = store
        .append(decode(&b, 1 << 20, 100).expect("decode"))
        .await;

    // Assert
    assert!(failed.is_err(), "{failed:?}");
    let report = retried.expect("retry");
    assert_eq!((report.appended, report.series_created), (2, 2));
    let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
    assert_eq!(stored.len(), 2);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM series")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_one_series_store_each_timestamp_once_and_see_their_acks() {
    // Arrange: groups commit while the one before is still being applied; judging must
    // see that group's samples, or a timestamp would be stored twice.
    let dir = TempDir::new().expect("tempdir");
    let store = std::sync::Arc::new(open(&dir).await);
    let series = |t: i64| crate::model::Series {
        labels: crate::model::Labels::from_pairs(A.iter().copied()),
        samples: vec![crate::model::Sample { t, v: t as f64 }],
    };

    // Act
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut appended = 0;
                for round in 0..60 {
                    let t = 1_000 * (round + (task % 3));
                    let batch = crate::model::WriteBatch {
                        id: None,
                        series: vec![series(t)],
                    };
                    appended += store.append(batch).await.expect("append").appended;
                    let seen = store.select(&all(), t, i64::MAX).await.expect("select");
                    assert!(
                        !seen.is_empty(),
                        "an acked sample at {t} or later is visible"
                    );
                }
                appended
            })
        })
        .collect();
    let mut appended = 0;
    for task in tasks {
        appended += task.await.expect("task");
    }

    // Assert
    let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
    let times: Vec<i64> = stored[0].samples.iter().map(|s| s.t).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(appended, times.len() as u64);
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
    let batch = decode(&body(&[(A, &[(1_000, 1.0)])]), 1 << 20, 100).expect("decode");
    store.append(batch).await.expect("append");
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
