//! The engine over the real SQLite store: range functions computed inside the store as it reads
//! each series, and aggregations over projected series, answer exactly as the step-by-step
//! evaluation over whole series (and over the in-memory store) does.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use tempfile::TempDir;
use warroom_promql::{Engine, Value};
use warroom_tsdb::model::{Labels, Sample, Series, WriteBatch};
use warroom_tsdb::store::sqlite::SqliteStore;
use warroom_tsdb::store::{MetricStore, StoreConfig};

// The store's own test helpers, which name the store's modules from its crate root.
use warroom_tsdb::{db, model, store};
#[path = "../../tsdb/src/store/sqlite/testutil.rs"]
#[allow(dead_code)]
mod testutil;
use testutil::{Rng, bits, stores};

async fn open(dir: &TempDir) -> SqliteStore {
    let pool = warroom_tsdb::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    SqliteStore::open(pool, StoreConfig::default())
        .await
        .expect("store")
}

fn series(name: &str, node: &str, samples: &[(i64, f64)]) -> Series {
    Series {
        labels: Labels::from_pairs([("__name__", name), ("node", node)]),
        samples: samples.iter().map(|&(t, v)| Sample { t, v }).collect(),
    }
}

#[tokio::test]
async fn range_functions_read_series_by_series_equal_the_step_by_step_evaluation() {
    // Arrange: counters with resets and gauges, partly checkpointed to disk chunks.
    let dir = TempDir::new().expect("tempdir");
    let store = Arc::new(open(&dir).await);
    let mut rng = Rng::new(4);
    let mut list = Vec::new();
    for node in 0..6 {
        let mut v = 0.0;
        let samples: Vec<(i64, f64)> = (0..400)
            .map(|i| {
                v = if node % 2 == 0 && rng.below(50) == 0 {
                    rng.below(10) as f64
                } else {
                    v + rng.below(100) as f64 - if node % 2 == 0 { 0.0 } else { 50.0 }
                };
                (i * 15_000 + rng.below(2_000) as i64, v)
            })
            .collect();
        list.push(series("m", &format!("n{node}"), &samples));
    }
    store
        .append(WriteBatch {
            id: None,
            series: list,
        })
        .await
        .expect("append");
    store.checkpoint().await.expect("checkpoint");
    let engine = warroom_promql::Engine::new(store);

    for f in [
        "rate",
        "increase",
        "delta",
        "max_over_time",
        "resets",
        "deriv",
    ] {
        for range in ["1m", "5m", "20m"] {
            let q = format!("{f}(m[{range}])");
            let times_one = format!("{q} * 1");

            // Act: `* 1` makes the query an expression, which is evaluated step by step.
            let by_series = engine.range(&q, 600_000, 5_900_000, 30_000).await;
            let by_steps = engine.range(&times_one, 600_000, 5_900_000, 30_000).await;

            // Assert
            let (got, want) = (by_series.expect("range"), by_steps.expect("range"));
            assert_eq!(got.len(), 6, "{q}");
            assert_eq!(bits(&got), bits(&want), "{q}");
        }
    }
}

#[tokio::test]
async fn aggregations_over_projected_series_answer_as_over_whole_ones() {
    // Arrange
    let dir = TempDir::new().expect("tempdir");
    let (sqlite, mem) = stores(&dir).await;
    let (sqlite, mem) = (Engine::new(sqlite), Engine::new(mem));
    let text = |v: Result<Value, _>| match v {
        Ok(Value::Vector(v)) => {
            let mut v: Vec<String> = v
                .iter()
                .map(|e| format!("{} {:?}", e.labels, e.v.to_bits()))
                .collect();
            v.sort();
            v.join(", ")
        }
        other => format!("{other:?}"),
    };

    // Each query, and the same with its range function times 1 (an aggregation over an
    // expression, which reads whole series and evaluates in full), or `None` for
    // `last_over_time`, whose metric names `* 1` would drop.
    let queries = [
        (
            r#"sum(rate({i=~"1[2-9]"}[5m]))"#,
            Some(r#"sum(rate({i=~"1[2-9]"}[5m]) * 1)"#),
        ),
        (
            r#"sum by (g) (rate({i=~"0|1[4-9]"}[5m]))"#,
            Some(r#"sum by (g) (rate({i=~"0|1[4-9]"}[5m]) * 1)"#),
        ),
        (
            r#"max without (i) (increase({i=~"0|1[4-9]"}[2m] offset 1m))"#,
            None,
        ),
        (
            r#"count by (__name__, g) (last_over_time({i=~".+"}[5m]))"#,
            None,
        ),
        (
            r#"quantile(0.9, quantile_over_time(0.5, {__name__="m1"}[5m]))"#,
            Some(r#"quantile(0.9, quantile_over_time(0.5, {__name__="m1"}[5m]) * 1)"#),
        ),
        (
            r#"avg by (g) (rate({i=~"0|1[4-9]"}[5m] @ 3700))"#,
            Some(r#"avg by (g) (rate({i=~"0|1[4-9]"}[5m] @ 3700) * 1)"#),
        ),
    ];

    // Windows across the checkpointed chunks' end, and within the head.
    for t in [3_615_000, 4_485_000] {
        for (q, times_one) in queries {
            // Act
            let got = text(sqlite.instant(q, t).await);
            let want = text(mem.instant(q, t).await);
            let full = match times_one {
                Some(q) => Some(text(sqlite.instant(q, t).await)),
                None => None,
            };

            // Assert
            assert_eq!(got, want, "{q} at {t}");
            assert!(got.contains('{'), "{q} at {t}: {got}");
            if let Some(full) = full {
                assert_eq!(got, full, "{q} at {t}");
            }
        }
    }
    // Range queries evaluate the projected series at every step.
    for (q, times_one) in &queries[..2] {
        let range = |q| sqlite.range(q, 3_500_000, 4_400_000, 60_000);
        let got = range(q).await.expect("range");
        let full = range(times_one.expect("comparable")).await.expect("range");
        assert_eq!(bits(&got), bits(&full), "{q}");
        assert!(got.iter().all(|s| s.samples.len() > 10), "{q}");
    }
    let refused = sqlite.instant(r#"sum(rate({i=~".+"}[5m]))"#, 400_000).await;
    assert_eq!(
        refused.expect_err("duplicates").to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}
