//! PromQL strings through the real engine, parser and evaluator both, over a small MemStore
//! with tight limits (a 300 ms timeout, 20,000 samples): expressions from a small grammar of
//! selectors, functions, aggregations, binary operators, subqueries, offsets and `@`, and
//! mutations of valid queries. Every one must answer, `Ok` or an error, within its timeout.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use warroom_server::model::{Labels, Sample, Series, WriteBatch};
use warroom_server::query::{Engine, QueryLimits, parse_selector};
use warroom_server::store::MetricStore;
use warroom_server::store::mem::MemStore;

use crate::{harness, mutate};

/// The first sample's time; the data runs an hour from here, every 15 s.
const T0: i64 = 1_700_000_000_000;
const LIMITS: QueryLimits = QueryLimits {
    timeout: Duration::from_millis(300),
    max_samples: 20_000,
    max_concurrency: 2,
};
/// How long past its timeout a query may take to answer (the engine abandons it 250 ms after,
/// and a debug build on a busy machine is slow to get there).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// The engine's bound on nesting brackets and operators (`query::depth::MAX_NESTING`).
const NESTING_BOUND: usize = 1_000;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let store = MemStore::new();
    RUNTIME.block_on(store.append(dataset())).unwrap();
    Engine::with_limits(Arc::new(store), LIMITS)
});

/// Counters, gauges with NaN, Inf and stale markers, and a histogram, a few series each.
fn dataset() -> WriteBatch {
    let mut series = Vec::new();
    let mut add = |pairs: &[(&str, &str)], value: &dyn Fn(i64) -> f64| {
        let samples = (0..240)
            .map(|i| Sample {
                t: T0 + i * 15_000,
                v: value(i),
            })
            .collect();
        series.push(Series {
            labels: Labels::from_pairs(pairs.iter().copied()),
            samples,
        });
    };
    for (job, code) in [("api", "200"), ("api", "500"), ("web", "200")] {
        let pairs = [
            ("__name__", "http_requests_total"),
            ("job", job),
            ("code", code),
        ];
        add(&pairs, &|i| (i % 97) as f64 * 3.0);
    }
    for (env, weird) in [("source", f64::NAN), ("target", f64::INFINITY)] {
        let pairs = [
            ("__name__", "node_temp_celsius"),
            ("env", env),
            ("instance", "a:9100"),
        ];
        add(&pairs, &move |i| {
            if i % 50 == 7 {
                weird
            } else {
                20.0 + (i % 7) as f64
            }
        });
    }
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    add(&[("__name__", "flaky_gauge")], &move |i| {
        if i % 10 == 0 { stale } else { i as f64 }
    });
    for le in ["0.1", "1", "+Inf", "NaN", "x"] {
        let pairs = [("__name__", "request_duration_seconds_bucket"), ("le", le)];
        add(&pairs, &|i| i as f64);
    }
    WriteBatch { id: None, series }
}

const METRICS: &[&str] = &[
    "http_requests_total",
    "node_temp_celsius",
    "flaky_gauge",
    "request_duration_seconds_bucket",
    "nonexistent",
    "{__name__=~\".+\"}",
    "{job=~\".*\"}",
];
const MATCHERS: &[&str] = &[
    "job=\"api\"",
    "code=~\"5..\"",
    "le!=\"\"",
    "env!~\"(a|b)*\"",
    "x=\"\"",
    "__name__=~\"http.*\"",
    "job=~\"((((a*)*)*)*)*b\"",
];
const DURATIONS: &[&str] = &[
    "1ms", "1s", "15s", "5m", "1h", "1d", "1y", "0s", "99999y", "1h30m",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "0.5",
    "NaN",
    "Inf",
    "-Inf",
    "1e308",
    "0x1f",
    "1e-320",
    "9223372036854775807",
];
const RANGE_FNS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "absent_over_time",
    "present_over_time",
];
const INSTANT_FNS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "sgn",
    "sort",
    "sort_desc",
    "timestamp",
    "absent",
    "scalar",
    "vector",
    "hour",
    "month",
    "year",
    "day_of_week",
    "days_in_month",
    "sin",
    "acos",
    "deg",
    "-",
];
const AGGREGATIONS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "group",
];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless", "atan2",
    "> bool", "== bool",
];
const MODIFIERS: &[&str] = &[
    "",
    "",
    "",
    " on(job)",
    " ignoring(code)",
    " on(job) group_left(env)",
    " ignoring(le) group_right",
    " on() group_left",
];

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(options).prop_map(str::to_owned)
}

/// A selector with optional matchers, offset and `@`.
fn selector() -> impl Strategy<Value = String> + Clone {
    (
        pick(METRICS),
        prop::collection::vec(pick(MATCHERS), 0..3),
        prop::option::weighted(0.2, pick(DURATIONS)),
        prop::option::weighted(
            0.2,
            prop_oneof![
                pick(NUMBERS),
                Just("start()".to_owned()),
                Just("end()".to_owned()),
                Just("1700000600".to_owned()),
            ],
        ),
    )
        .prop_map(|(metric, matchers, offset, at)| {
            let mut s = metric;
            if !matchers.is_empty() {
                if s.ends_with('}') {
                    s.pop();
                    s.push(',');
                } else {
                    s.push('{');
                }
                s.push_str(&matchers.join(","));
                s.push('}');
            }
            if let Some(o) = offset {
                s.push_str(&format!(" offset {o}"));
            }
            if let Some(a) = at {
                s.push_str(&format!(" @ {a}"));
            }
            s
        })
}

/// Expressions up to five levels deep.
pub fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => selector(),
        1 => pick(NUMBERS),
        1 => Just("time()".to_owned()),
        1 => Just("\"text\"".to_owned()),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        prop_oneof![
            (pick(RANGE_FNS), selector(), pick(DURATIONS))
                .prop_map(|(f, s, d)| format!("{f}({s}[{d}])")),
            (
                pick(RANGE_FNS),
                inner.clone(),
                pick(DURATIONS),
                prop::option::of(pick(DURATIONS))
            )
                .prop_map(|(f, e, range, step)| {
                    format!("{f}(({e})[{range}:{}])", step.unwrap_or_default())
                }),
            (pick(INSTANT_FNS), inner.clone()).prop_map(|(f, e)| format!("{f}({e})")),
            (
                pick(AGGREGATIONS),
                prop::option::of(prop_oneof![
                    Just(" by (job)"),
                    Just(" without (code)"),
                    Just(" by ()"),
                    Just(" by (le, env)"),
                ]),
                inner.clone()
            )
                .prop_map(|(a, g, e)| format!("{a}{} ({e})", g.unwrap_or_default())),
            (
                prop::sample::select(
                    &["topk", "bottomk", "quantile", "count_values", "limitk"][..]
                ),
                pick(NUMBERS),
                inner.clone()
            )
                .prop_map(|(a, n, e)| match a {
                    "count_values" => format!("count_values(\"v\", {e})"),
                    _ => format!("{a}({n}, {e})"),
                }),
            (inner.clone(), pick(BINARY), pick(MODIFIERS), inner.clone())
                .prop_map(|(l, op, m, r)| format!("({l}) {op}{m} ({r})")),
            (pick(NUMBERS), inner.clone())
                .prop_map(|(q, e)| format!("histogram_quantile({q}, {e})")),
            (inner.clone(), pick(NUMBERS), pick(NUMBERS))
                .prop_map(|(e, a, b)| format!("clamp({e}, {a}, {b})")),
            (pick(NUMBERS), selector(), pick(DURATIONS))
                .prop_map(|(q, s, d)| format!("quantile_over_time({q}, {s}[{d}])")),
            (selector(), pick(DURATIONS), pick(NUMBERS))
                .prop_map(|(s, d, n)| format!("predict_linear({s}[{d}], {n})")),
            (selector(), pick(NUMBERS), pick(NUMBERS))
                .prop_map(|(s, a, b)| format!("holt_winters({s}[10m], {a}, {b})")),
            inner
                .clone()
                .prop_map(|e| format!("label_replace({e}, \"dst\", \"$1-$2\", \"job\", \"(.*)\")")),
            inner
                .clone()
                .prop_map(|e| format!("label_join({e}, \"id\", \"/\", \"env\", \"job\")")),
            (inner, pick(NUMBERS)).prop_map(|(e, n)| format!("round({e}, {n})")),
        ]
    })
}

const SEEDS: &[&str] = &[
    "sum by (job) (rate(http_requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "max_over_time(rate(http_requests_total[2m])[10m:1m])",
    "node_temp_celsius @ 1700000600 offset 5m",
    "http_requests_total * on(job) group_left(env) node_temp_celsius",
    "topk(2, node_temp_celsius) > bool 20",
    "label_replace(node_temp_celsius, \"host\", \"h-$1\", \"instance\", \"(.*)\")",
    "avg_over_time(node_temp_celsius[5m:1m] offset 2m)",
];
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    "`",
    ",",
    "=~",
    "!~",
    "@",
    "offset",
    "by",
    "on",
    "group_left",
    "[5m:1ms]",
    "[1000y:1ms]",
    "1e999",
    "-",
    "\\",
    "\u{0}",
    "#",
    "^",
    "start()",
    "rate(",
    "sum(",
    "x[1s]",
    " or ",
    "/ 0",
];

/// Evaluates `query` as an instant query at `at` and as a range query of `steps` steps of
/// `step_ms`, each answered, either way, in time.
fn check(query: &str, at: i64, steps: i64, step_ms: i64) -> Result<(), TestCaseError> {
    let _case = harness::case("promql");
    let started = Instant::now();
    let instant = RUNTIME.block_on(ENGINE.instant(query, at));
    prop_assert!(
        started.elapsed() < ANSWER_WITHIN,
        "{query:?}: {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let end = at.saturating_add(steps.saturating_mul(step_ms));
    let range = RUNTIME.block_on(ENGINE.range(query, at, end, step_ms));
    prop_assert!(
        started.elapsed() < ANSWER_WITHIN,
        "{query:?}: {:?}",
        started.elapsed()
    );
    if let Err(e) = &instant {
        prop_assert!(!e.to_string().is_empty());
    }
    if let Ok(series) = range {
        let points: usize = series.iter().map(|s| s.samples.len()).sum();
        prop_assert!(
            points <= LIMITS.max_samples,
            "{points} points for {query:?}"
        );
    }
    Ok(())
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => T0..T0 + 3_600_000,
        1 => Just(0),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => any::<i64>(),
    ]
}

fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(15_000),
        Just(1),
        Just(60_000),
        Just(0),
        Just(-1),
        any::<i64>()
    ]
}

proptest! {
    #![proptest_config(harness::config(2_000))]
    #[test]
    fn generated_expressions_evaluate_or_fail_within_the_limits(
        query in expr(), at in time(), steps in 0..40i64, step in step()
    ) {
        check(&query, at, steps, step)?;
    }

    #[test]
    fn mutated_queries_evaluate_or_fail_within_the_limits(
        query in prop_oneof![mutate::text(SEEDS, TOKENS), "\\PC{0,40}"], at in time()
    ) {
        check(&query, at, 20, 15_000)?;
        let _ = parse_selector(&query);
    }
}

proptest! {
    #![proptest_config(harness::config(300))]
    #[test]
    fn expressions_nested_or_repeated_thousands_deep_are_refused_or_evaluated(
        depth in prop_oneof![1..20_000usize, NESTING_BOUND - 100..NESTING_BOUND + 2],
        kind in 0..4u8,
    ) {
        let query = match kind {
            0 => format!("{}1{}", "(".repeat(depth), ")".repeat(depth)),
            1 => format!("{}up", "-".repeat(depth)),
            2 => vec!["http_requests_total"; depth.min(2_000)].join(" + "),
            _ => format!("{}up{}", "sum(".repeat(depth), ")".repeat(depth)),
        };
        check(&query, T0 + 600_000, 5, 15_000)?;
    }
}
