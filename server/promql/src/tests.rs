//! Engine tests on a MemStore with hand-checked values: staleness and lookback, offset and `@`,
//! vector matching, set operators, aggregations and their errors.

use std::sync::Arc;

use super::*;
use warroom_tsdb::model::{Labels, Sample, Series, WriteBatch};
use warroom_tsdb::store::MetricStore;
use warroom_tsdb::store::mem::MemStore;

const MIN: i64 = 60_000;

fn s(pairs: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
    Series {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples: points.iter().map(|&(t, v)| Sample { t, v }).collect(),
    }
}

async fn engine(series: Vec<Series>) -> Engine {
    let store = Arc::new(MemStore::new());
    store.append(WriteBatch { id: None, series }).await.unwrap();
    Engine::new(store)
}

/// `(labels as text, value)` pairs sorted by labels.
async fn instant(e: &Engine, q: &str, t: i64) -> Vec<(String, f64)> {
    let Value::Vector(v) = e.instant(q, t).await.unwrap() else {
        panic!("not a vector: {q}")
    };
    let mut out: Vec<(String, f64)> = v.into_iter().map(|e| (e.labels.to_string(), e.v)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn stale() -> f64 {
    warroom_tsdb::model::stale_nan()
}

#[tokio::test]
async fn a_stale_marker_ends_a_series_while_a_stopped_series_lives_for_five_minutes() {
    // Arrange
    let e = engine(vec![
        s(
            &[("__name__", "up"), ("i", "gone")],
            &[(0, 1.0), (MIN, 1.0), (2 * MIN, stale())],
        ),
        s(
            &[("__name__", "up"), ("i", "stopped")],
            &[(0, 1.0), (MIN, 1.0)],
        ),
    ])
    .await;

    // Act
    let at_3m = instant(&e, "up", 3 * MIN).await;
    let at_6m = instant(&e, "up", 6 * MIN).await;
    let at_7m = instant(&e, "up", 7 * MIN).await;

    // Assert
    assert_eq!(at_3m, vec![(r#"up{i="stopped"}"#.to_owned(), 1.0)]);
    assert_eq!(
        at_6m,
        vec![(r#"up{i="stopped"}"#.to_owned(), 1.0)],
        "lookback is inclusive"
    );
    assert!(at_7m.is_empty());
}

#[tokio::test]
async fn stale_markers_are_dropped_from_range_vectors() {
    let e = engine(vec![s(
        &[("__name__", "x")],
        &[(0, 1.0), (MIN, 2.0), (2 * MIN, stale())],
    )])
    .await;
    assert_eq!(
        instant(&e, "count_over_time(x[5m])", 2 * MIN).await,
        vec![("{}".to_owned(), 2.0)]
    );
}

#[tokio::test]
async fn offset_and_at_move_the_evaluation_time() {
    let e = engine(vec![s(
        &[("__name__", "g")],
        &[(0, 10.0), (MIN, 20.0), (2 * MIN, 30.0)],
    )])
    .await;
    assert_eq!(instant(&e, "g offset 1m", 2 * MIN).await[0].1, 20.0);
    assert_eq!(instant(&e, "g @ 60", 2 * MIN).await[0].1, 20.0);
    assert_eq!(instant(&e, "g @ 120 offset 2m", 2 * MIN).await[0].1, 10.0);
}

#[tokio::test]
async fn rate_handles_a_counter_reset_over_the_whole_range() {
    // Samples every 30 s exactly on the window edges: 0, 30, 60, reset to 10, 40 → increase 100.
    let points: Vec<(i64, f64)> = [0.0, 30.0, 60.0, 10.0, 40.0]
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as i64 * 30_000, v))
        .collect();
    let e = engine(vec![s(&[("__name__", "c_total"), ("j", "a")], &points)]).await;
    let got = instant(&e, "increase(c_total[2m])", 2 * MIN).await;
    assert_eq!(got, vec![(r#"{j="a"}"#.to_owned(), 100.0)]);
    let rate = instant(&e, "rate(c_total[2m])", 2 * MIN).await;
    assert!((rate[0].1 - 100.0 / 120.0).abs() < 1e-12);
}

async fn http_data() -> Engine {
    engine(vec![
        s(
            &[("__name__", "req"), ("job", "api"), ("code", "200")],
            &[(0, 10.0)],
        ),
        s(
            &[("__name__", "req"), ("job", "api"), ("code", "500")],
            &[(0, 2.0)],
        ),
        s(
            &[("__name__", "req"), ("job", "web"), ("code", "200")],
            &[(0, 5.0)],
        ),
        s(&[("__name__", "limit"), ("job", "api")], &[(0, 100.0)]),
        s(&[("__name__", "limit"), ("job", "web")], &[(0, 50.0)]),
        s(
            &[("__name__", "info"), ("job", "api"), ("team", "core")],
            &[(0, 1.0)],
        ),
    ])
    .await
}

#[tokio::test]
async fn one_to_one_matching_with_on_keeps_only_the_matching_labels() {
    let e = http_data().await;
    let got = instant(&e, "sum by (job) (req) / on(job) limit", 0).await;
    assert_eq!(
        got,
        vec![
            (r#"{job="api"}"#.to_owned(), 0.12),
            (r#"{job="web"}"#.to_owned(), 0.1)
        ]
    );
}

#[tokio::test]
async fn group_left_matches_many_to_one_and_copies_labels_from_the_one_side() {
    let e = http_data().await;
    let got = instant(&e, "req / on(job) group_left(team) info", 0).await;
    assert_eq!(
        got,
        vec![
            (r#"{code="200", job="api", team="core"}"#.to_owned(), 10.0),
            (r#"{code="500", job="api", team="core"}"#.to_owned(), 2.0),
        ]
    );
}

#[tokio::test]
async fn many_to_many_matching_is_refused_with_prometheus_wording() {
    let e = http_data().await;
    let err = e.instant("limit + on(job) req", 0).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("many-to-many matching not allowed"),
        "{err}"
    );
    let err = e.instant("req + on(job) limit", 0).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("many-to-one matching must be explicit"),
        "{err}"
    );
}

#[tokio::test]
async fn and_or_unless_select_by_matching_labels() {
    let e = http_data().await;
    let and = instant(&e, r#"req and on(job) limit{job="web"}"#, 0).await;
    assert_eq!(and, vec![(r#"req{code="200", job="web"}"#.to_owned(), 5.0)]);
    let unless = instant(&e, r#"req unless on(job) limit{job="web"}"#, 0).await;
    assert_eq!(unless.len(), 2);
    let or = instant(&e, r#"req{job="web"} or limit"#, 0).await;
    assert_eq!(or.len(), 3, "{or:?}");
}

#[tokio::test]
async fn comparisons_filter_or_return_booleans_without_the_name() {
    let e = http_data().await;
    assert_eq!(instant(&e, "req > 4", 0).await.len(), 2);
    let b = instant(&e, "req > bool 4", 0).await;
    assert_eq!(
        b.iter().map(|x| x.1).collect::<Vec<_>>(),
        vec![1.0, 1.0, 0.0]
    );
    assert!(b[0].0.starts_with('{'));
}

#[tokio::test]
async fn aggregations_group_by_and_without() {
    let e = http_data().await;
    let by = instant(&e, "sum by (job) (req)", 0).await;
    assert_eq!(
        by,
        vec![
            (r#"{job="api"}"#.to_owned(), 12.0),
            (r#"{job="web"}"#.to_owned(), 5.0)
        ]
    );
    let without = instant(&e, "max without (job) (req)", 0).await;
    assert_eq!(
        without,
        vec![
            (r#"{code="200"}"#.to_owned(), 10.0),
            (r#"{code="500"}"#.to_owned(), 2.0)
        ]
    );
    let counts = instant(&e, r#"count_values("v", req)"#, 0).await;
    assert_eq!(counts.len(), 3);
}

#[tokio::test]
async fn topk_keeps_the_largest_series_with_their_names() {
    let e = http_data().await;
    let got = instant(&e, "topk(2, req)", 0).await;
    assert_eq!(
        got,
        vec![
            (r#"req{code="200", job="api"}"#.to_owned(), 10.0),
            (r#"req{code="200", job="web"}"#.to_owned(), 5.0),
        ]
    );
    assert!(instant(&e, "bottomk(0, req)", 0).await.is_empty());
}

#[tokio::test]
async fn a_range_query_returns_a_series_per_label_set_and_a_scalar_as_one_series() {
    let e = engine(vec![s(&[("__name__", "g")], &[(0, 1.0), (MIN, 2.0)])]).await;
    let got = e.range("g * 2", 0, 2 * MIN, MIN).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].samples.iter().map(|x| x.v).collect::<Vec<_>>(),
        vec![2.0, 4.0, 4.0]
    );
    let scalar = e.range("time()", 0, MIN, MIN).await.unwrap();
    assert_eq!(scalar[0].labels, Labels::default());
    assert!(e.range("g[1m]", 0, MIN, MIN).await.is_err());
}

#[tokio::test]
async fn unsupported_functions_and_bad_syntax_are_told_apart() {
    let e = engine(Vec::new()).await;
    assert!(matches!(
        e.instant("histogram_count(x)", 0).await,
        Err(QueryError::Unsupported(_))
    ));
    assert!(matches!(
        e.instant("sum(", 0).await,
        Err(QueryError::BadData(_))
    ));
}

#[tokio::test]
async fn functions_that_drop_names_refuse_duplicate_label_sets() {
    let e = engine(vec![
        s(&[("__name__", "a"), ("x", "1")], &[(0, 1.0)]),
        s(&[("__name__", "b"), ("x", "1")], &[(0, 2.0)]),
    ])
    .await;
    let err = e.instant(r#"abs({x="1"})"#, 0).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[tokio::test]
async fn aggregating_a_range_function_refuses_series_that_differ_only_by_name() {
    // Arrange
    let e = engine(vec![
        s(&[("__name__", "a"), ("x", "1")], &[(0, 1.0), (MIN, 3.0)]),
        s(&[("__name__", "b"), ("x", "1")], &[(0, 2.0), (MIN, 5.0)]),
    ])
    .await;

    // Act
    let refused = e.instant(r#"sum(rate({x="1"}[5m]))"#, MIN).await;
    let kept = instant(&e, r#"sum(last_over_time({x="1"}[5m]))"#, MIN).await;

    // Assert
    assert_eq!(
        refused.unwrap_err().to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    assert_eq!(kept, vec![("{}".to_owned(), 8.0)]);
}

#[tokio::test]
async fn a_range_query_of_a_range_function_refuses_series_that_differ_only_by_name() {
    // Arrange
    let e = engine(vec![
        s(&[("__name__", "a"), ("x", "1")], &[(0, 1.0), (MIN, 3.0)]),
        s(&[("__name__", "b"), ("x", "1")], &[(0, 2.0), (MIN, 5.0)]),
    ])
    .await;

    // Act
    let refused = e.range(r#"rate({x="1"}[5m])"#, 0, 2 * MIN, MIN).await;
    let kept = e
        .range(r#"last_over_time({x="1"}[5m])"#, 0, 2 * MIN, MIN)
        .await
        .unwrap();

    // Assert
    assert_eq!(
        refused.unwrap_err().to_string(),
        "vector cannot contain metrics with the same labelset"
    );
    let names: Vec<String> = kept.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(names, [r#"a{x="1"}"#, r#"b{x="1"}"#]);
}

#[tokio::test]
async fn aggregations_of_range_functions_equal_those_of_the_materialised_vector() {
    // Arrange: `> -Inf` drops no element and changes no value or label, but makes the engine
    // build every element's labels first.
    let counter = |i: i64| (0..40).map(move |k| (k * 15_000, ((k * (i + 3)) % 70) as f64));
    let mut series = Vec::new();
    for (i, (job, name)) in [("a", "m"), ("a", "n"), ("b", "m"), ("c", "n")]
        .into_iter()
        .enumerate()
    {
        let points: Vec<(i64, f64)> = counter(i as i64).collect();
        let pairs = [("__name__", name), ("job", job), ("i", &*i.to_string())];
        series.push(s(&pairs, &points));
    }
    let e = engine(series).await;
    let queries = [
        "sum(rate({job=~\".+\"}[5m]))",
        "avg by (job) (increase({job=~\".+\"}[2m]))",
        "max by (__name__) (rate({job=~\".+\"}[5m]))",
        "count without (i) (delta({job=~\".+\"}[3m]))",
        "stddev by (job) (max_over_time({job=~\".+\"}[4m]))",
        "quantile(0.3, last_over_time({job=~\".+\"}[1m]))",
        "min by (__name__, job) (last_over_time({job=~\".+\"}[1m]))",
        "sum(rate(m[1m] offset 2m))",
    ];

    for q in queries {
        // Act
        let direct = instant(&e, q, 9 * MIN).await;
        let (inner, _) = q.rsplit_once("))").expect("ends with the call");
        let general = instant(&e, &format!("{inner}) > -Inf)"), 9 * MIN).await;

        // Assert
        let bits = |v: &[(String, f64)]| -> Vec<(String, u64)> {
            v.iter().map(|(l, x)| (l.clone(), x.to_bits())).collect()
        };
        assert!(!direct.is_empty(), "{q}");
        assert_eq!(bits(&direct), bits(&general), "{q}");
    }
}
