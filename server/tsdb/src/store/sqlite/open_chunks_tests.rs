//! The head keeping only the end of each open chunk once a checkpoint stored its start
//! (`open_chunks`): every read path against the memory store, on a real SQLite file, while
//! background checkpoints cut the heads and join sealed chunks to their start on disk, across
//! restarts and an explicit checkpoint.

use std::time::Duration;

use tempfile::TempDir;

use super::SqliteStore;
use super::rollup::Resolution;
use super::rollup_tests::from_raw;
use super::testutil::{Rng, bits};
use crate::model::{Labels, MatchOp, Matcher, Sample, Series, WriteBatch};
use crate::store::mem::MemStore;
use crate::store::{MetricStore, Projection, Querier, StoreConfig};

const STEP: i64 = 15_000;
const T0: i64 = 1_700_000_000_000;
const SERIES: usize = 24;

async fn open(dir: &TempDir) -> SqliteStore {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    let config = StoreConfig {
        checkpoint_interval: Duration::from_millis(1),
        ..StoreConfig::default()
    };
    SqliteStore::open(pool, config).await.expect("store")
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new("__name__", MatchOp::Regex, ".+").expect("matcher")]
}

/// Round `k`: one sample of each series, counters and gauges of several widths (each exact in
/// a bucket's sum, whichever way its parts are added).
fn round(rng: &mut Rng, k: i64) -> WriteBatch {
    let series = (0..SERIES)
        .map(|i| {
            let v = match i % 3 {
                0 => (k * (i as i64 + 1) * 7) as f64,
                1 => rng.below(1_000) as f64 / 8.0,
                _ => rng.below(1 << 40) as f64 / 4.0,
            };
            Series {
                labels: Labels::from_pairs([("__name__", "m"), ("i", &*format!("{i:02}"))]),
                samples: vec![Sample {
                    t: T0 + k * STEP + rng.below(3) as i64,
                    v,
                }],
            }
        })
        .collect();
    WriteBatch { id: None, series }
}

/// Appends rounds `from..to` to both stores, pausing now and then so that the background
/// checkpoints run between appends.
async fn write(store: &SqliteStore, mem: &MemStore, rng: &mut Rng, rounds: std::ops::Range<i64>) {
    for k in rounds {
        let b = round(rng, k);
        store.append(b.clone()).await.expect("append");
        mem.append(b).await.expect("append");
        if k % 7 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
}

/// Series whose head dropped the stored start of its open chunk.
fn cut_heads(store: &SqliteStore) -> usize {
    let state = store.shared.read();
    (0..state.head.len())
        .filter(|&id| state.head[id].open_on_disk())
        .count()
}

/// [`cut_heads`] once a background checkpoint cut some (waiting up to 10 s for one to run on
/// a busy machine), or 0.
async fn cut_soon(store: &SqliteStore) -> usize {
    for _ in 0..2_000 {
        match cut_heads(store) {
            0 => tokio::time::sleep(Duration::from_millis(5)).await,
            n => return n,
        }
    }
    0
}

/// The reduction and map the read paths are checked with (no NaN, so results compare).
fn reduce(s: &[Sample]) -> Option<f64> {
    Some(s.iter().map(|x| (x.t - T0) as f64 + x.v).sum::<f64>() + s.len() as f64)
}

fn map(s: &[Sample]) -> Vec<Sample> {
    s.to_vec()
}

/// Every read path of `store` equals `mem`'s over whole, recent, chunk-crossing and random
/// ranges up to round `rounds`.
async fn assert_reads_equal(store: &SqliteStore, mem: &MemStore, rng: &mut Rng, rounds: i64) {
    let now = T0 + rounds * STEP;
    let mut ranges = vec![
        (T0 - 1, now),
        (now - 5 * 60_000, now),
        (now - 20 * 60_000, now - 4 * 60_000),
        (now - 3 * 3_600_000, now),
    ];
    for _ in 0..12 {
        let end = T0 + rng.below((rounds + 10) as u64) as i64 * STEP;
        ranges.push((end - rng.below(4 * 3_600_000) as i64, end));
    }
    let matchers = all();
    let projection = Projection::Without(vec![]);
    for (start, end) in ranges {
        let what = format!("[{start}, {end}] after {rounds} rounds");
        let want = mem.select(&matchers, start, end).await.expect("select");
        let got = store.select(&matchers, start, end).await.expect("select");
        assert_eq!(bits(&got), bits(&want), "select {what}");
        let got = (store.select_mapped(&matchers, start, end, &map).await).expect("mapped");
        assert_eq!(bits(&got), bits(&want), "select_mapped {what}");
        let got = (store.select_newest(&matchers, start, end).await).expect("newest");
        let newest = mem
            .select_newest(&matchers, start, end)
            .await
            .expect("newest");
        assert_eq!(bits(&got), bits(&newest), "select_newest {what}");
        let got = store.select_reduced(&matchers, start, end, &projection, &reduce);
        let newest = mem.select_reduced(&matchers, start, end, &projection, &reduce);
        let (mut got, mut newest) = (got.await.expect("reduced"), newest.await.expect("reduced"));
        got.values.sort_by_key(|(l, _)| l.to_string());
        newest.values.sort_by_key(|(l, _)| l.to_string());
        assert_eq!(got, newest, "select_reduced {what}");
        let res = Resolution::OneHour;
        let got = store.select_rollup(&matchers, start, end, res).await;
        assert_eq!(
            got.expect("rollup"),
            from_raw(mem, start, end, res).await,
            "rollup {what}"
        );
    }
}

#[tokio::test]
async fn reads_reaching_past_what_the_head_keeps_equal_the_memory_stores() {
    // Arrange: 700 rounds, two chunks sealed per series along the way, checkpoints beside
    // the appends every millisecond.
    let dir = TempDir::new().expect("tempdir");
    let mut rng = Rng::new(5);
    let mem = MemStore::new();
    let store = open(&dir).await;
    write(&store, &mem, &mut rng, 0..300).await;

    // Act / Assert: while appending, after a restart, after an explicit checkpoint and after
    // more appends and a restart again.
    assert!(cut_soon(&store).await > 0, "some heads cut by now");
    assert_reads_equal(&store, &mem, &mut rng, 300).await;
    write(&store, &mem, &mut rng, 300..700).await;
    assert_reads_equal(&store, &mem, &mut rng, 700).await;
    store.close().await.expect("close");

    let store = open(&dir).await;
    assert_eq!(
        cut_heads(&store),
        SERIES,
        "a reopened head holds the end only"
    );
    assert_reads_equal(&store, &mem, &mut rng, 700).await;

    store.checkpoint().await.expect("checkpoint");
    assert_eq!(
        cut_heads(&store),
        0,
        "held whole after an explicit checkpoint"
    );
    assert_reads_equal(&store, &mem, &mut rng, 700).await;

    write(&store, &mem, &mut rng, 700..800).await;
    assert!(cut_soon(&store).await > 0, "cut again");
    assert_reads_equal(&store, &mem, &mut rng, 800).await;
    store.close().await.expect("close");
    let store = open(&dir).await;
    assert_reads_equal(&store, &mem, &mut rng, 800).await;
}
