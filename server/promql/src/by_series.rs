//! Range queries series by series. When a query is one selector, or one range function over one
//! matrix selector (`rate(x[5m])`, `max_over_time(x[1h])`, ...), each output series depends on
//! exactly one input series, so it is computed over all steps at once with two moving cursors,
//! instead of step by step (which rebuilds, hashes and re-sorts every label set at every step).
//! A range function's series are computed inside the store as it reads them
//! ([`Querier::select_mapped`]), so their samples need not all be held at once.
//!
//! The arithmetic is the step-by-step evaluator's own (its selector rules and
//! [`functions::apply`]); anything else, or two output series with the same labels (which the
//! step-by-step path may have to refuse), returns `None` and the general path runs.

use std::collections::HashSet;
use std::ops::Range;

use promql_parser::parser::{Expr, MatrixSelector};

use super::extrapolate::{EdgeBlock, Edges};
use super::functions::{self, unwrap_parens, without_stale};
use super::limits::Budget;
use super::plan::{self, Fetched, millis};
use super::range_fns::Window;
use super::{LOOKBACK_MS, QueryError};
use warroom_tsdb::model::is_stale;
use warroom_tsdb::model::{Sample, Series};
use warroom_tsdb::store::Querier;

/// The evaluation times of a range query: `start`, `start + step`, ... up to `end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Steps {
    /// First evaluation time (ms).
    pub(crate) start: i64,
    /// Last possible evaluation time (ms, inclusive).
    pub(crate) end: i64,
    /// Distance between evaluation times (ms, > 0).
    pub(crate) step: i64,
}

impl Steps {
    /// How many evaluation times there are.
    fn count(self) -> usize {
        let span = self.end.checked_sub(self.start).unwrap_or(i64::MAX);
        usize::try_from(span / self.step).map_or(0, |n| n.saturating_add(1))
    }

    fn iter(self) -> impl Iterator<Item = i64> {
        let Steps { start, end, step } = self;
        std::iter::successors(Some(start), move |t| t.checked_add(step))
            .take_while(move |&t| t <= end)
    }
}

/// A range query that is one range function without parameter over one matrix selector
/// (`rate(x[5m])`, `max_over_time(x[1h])`, ...): each series' values at every step, made by the
/// store series by series ([`Querier::select_mapped`]), sorted by labels. `None` when `expr` is
/// not such a call, or when two output series would have the same labels (which the general
/// path must refuse). The points made are held in `budget`; once it is spent, the store's
/// remaining series map to nothing and the limit reached is the answer.
pub(crate) async fn mapped(
    querier: &dyn Querier,
    expr: &Expr,
    steps: Steps,
    budget: &Budget,
) -> Result<Option<Vec<Series>>, QueryError> {
    let Some((name, ms)) = per_series_call(expr) else {
        return Ok(None);
    };
    let query = (steps.start, steps.end);
    let (lo, hi) = plan::shift(
        ms.vs.at.as_ref(),
        ms.vs.offset.as_ref(),
        query.0,
        query.1,
        query,
    );
    let map = |samples: &[Sample]| {
        if budget.spent() {
            return Vec::new();
        }
        let points = windows(query, ms, samples, steps, name);
        match budget.hold(points.len()) {
            Ok(()) => points,
            Err(_) => Vec::new(),
        }
    };
    let matchers = plan::matchers(&ms.vs)?;
    let got = querier
        .select_mapped(&matchers, lo.saturating_sub(millis(&ms.range)), hi, &map)
        .await?;
    budget.check()?;
    // Prometheus 2.42 keeps the name for `last_over_time` only.
    let mut out: Vec<Series> = if name == "last_over_time" {
        got
    } else {
        got.into_iter()
            .map(|s| Series {
                labels: s.labels.without_metric_name(),
                samples: s.samples,
            })
            .collect()
    };
    let mut seen = HashSet::with_capacity(out.len());
    if !out.iter().all(|s| seen.insert(&s.labels)) {
        return Ok(None);
    }
    drop(seen);
    out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Some(out))
}

/// `f(x[range])` with `f` a range function whose result for a series depends on that series
/// only: its name and the matrix selector.
fn per_series_call(expr: &Expr) -> Option<(&'static str, &MatrixSelector)> {
    let Expr::Call(c) = unwrap_parens(expr) else {
        return None;
    };
    let [arg] = c.args.args.as_slice() else {
        return None;
    };
    let Expr::MatrixSelector(ms) = unwrap_parens(arg) else {
        return None;
    };
    is_per_series(c.func.name).then_some((c.func.name, ms))
}

/// A range query that is one selector, over the fetched series it takes out of `data` (the
/// store's, whose label sets are distinct): each series' points by the step-by-step
/// evaluator's selector rules, written over its own samples, so a day of samples is not copied
/// into a second day-sized vector; the points are held in `budget`. `None` when `expr` is not a
/// selector.
pub(crate) fn take_selector(
    expr: &Expr,
    data: &mut Fetched,
    steps: Steps,
    budget: &Budget,
) -> Option<Result<Vec<Series>, QueryError>> {
    let Expr::VectorSelector(vs) = unwrap_parens(expr) else {
        return None;
    };
    let query = (steps.start, steps.end);
    let shift = |t| plan::shift(vs.at.as_ref(), vs.offset.as_ref(), t, t, query).0;
    let mut out = Vec::new();
    for s in data.take(vs) {
        if let Err(e) = budget.check_time() {
            return Some(Err(e));
        }
        let samples = points_in_place(s.samples, shift, steps);
        if let Err(e) = budget.hold(samples.len()) {
            return Some(Err(e));
        }
        if !samples.is_empty() {
            out.push(Series {
                labels: s.labels,
                samples,
            });
        }
    }
    out.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
    Some(Ok(out))
}

/// One series' points at every step (the newest sample within the lookback at the step's
/// effective time `shift(t)`, unless stale), written into `samples` itself: point `k` never
/// lands on a sample still to be read while the points are no denser than the samples read so
/// far; when they become denser, the unread samples are moved aside first.
fn points_in_place(
    mut samples: Vec<Sample>,
    shift: impl Fn(i64) -> i64,
    steps: Steps,
) -> Vec<Sample> {
    // Samples `upto..` of `samples` are unread until `aside` takes them (then read from there).
    let mut aside: Option<Vec<Sample>> = None;
    let (mut upto, mut written) = (0, 0);
    let mut last: Option<Sample> = None;
    for t in steps.iter() {
        let te = shift(t);
        let unread = aside.as_deref().unwrap_or(&samples);
        while let Some(&x) = unread.get(upto).filter(|x| x.t <= te) {
            last = Some(x);
            upto += 1;
        }
        let Some(l) = last.filter(|l| l.t >= te.saturating_sub(LOOKBACK_MS) && !is_stale(l.v))
        else {
            continue;
        };
        let point = Sample { t, v: l.v };
        if aside.is_none() && written == upto {
            // The next point would overwrite the next unread sample: move the unread ones aside.
            aside = Some(samples.split_off(upto));
            upto = 0;
        }
        if aside.is_some() {
            // `samples` holds exactly the points written so far.
            samples.push(point);
        } else {
            samples[written] = point;
        }
        written += 1;
    }
    samples.truncate(written);
    samples
}

/// Range functions without a parameter, whose result for a series depends on that series only.
fn is_per_series(name: &str) -> bool {
    super::functions::is_range_function(name)
        && !matches!(
            name,
            "predict_linear" | "quantile_over_time" | "absent_over_time"
        )
}

/// The function `name` over one series' window `[te - range, te]` at every step.
fn windows(
    query: (i64, i64),
    ms: &MatrixSelector,
    samples: &[Sample],
    steps: Steps,
    name: &str,
) -> Vec<Sample> {
    let any_stale = samples.iter().any(|x| is_stale(x.v));
    if matches!(name, "rate" | "increase") && !any_stale {
        return counter_windows(query, ms, samples, steps, name == "rate");
    }
    let mut scratch = Vec::new();
    let mut out = Vec::with_capacity(steps.count().min(samples.len()));
    for (t, w, span) in spans(query, ms, samples, steps) {
        let window = if any_stale {
            without_stale(&samples[span], &mut scratch)
        } else {
            &samples[span]
        };
        if !window.is_empty() {
            out.extend(functions::apply(name, window, w, 0.0, t).map(|v| Sample { t, v }));
        }
    }
    out
}

/// Windows whose extrapolations [`counter_windows`] computes together; tests' few steps fill
/// several blocks too.
const EXTRAPOLATION_BLOCK: usize = if cfg!(test) { 4 } else { 512 };

/// `rate` (or `increase`) of a counter without stale markers at every step. Each window's
/// change is what the scan of [`extrapolated_rate`](super::range_fns::extrapolated_rate) adds,
/// in its order, taken from the drops within the window only; the extrapolations then run a
/// block of windows at a time.
fn counter_windows(
    query: (i64, i64),
    ms: &MatrixSelector,
    samples: &[Sample],
    steps: Steps,
    rate: bool,
) -> Vec<Sample> {
    let drops = drops(samples);
    // The value before each drop, which a window holding the drop adds to its change.
    let before_drops: Vec<f64> = drops.iter().map(|&i| samples[i as usize - 1].v).collect();
    // The drops after the window's first sample and up to its last.
    let (mut first_drop, mut end_drop) = (0, 0);
    // Every window's `Window::secs`.
    let per_second_of = rate.then(|| millis(&ms.range) as f64 / 1000.0);
    let mut block = Box::<EdgeBlock<EXTRAPOLATION_BLOCK>>::default();
    let mut out = Vec::with_capacity(steps.count().min(samples.len()));
    for (t, w, span) in spans(query, ms, samples, steps) {
        first_drop = advance(&drops, first_drop, |&i| i as usize <= span.start);
        end_drop = advance(&drops, end_drop.max(first_drop), |&i| {
            (i as usize) < span.end
        });
        let Some(mut edges) = Edges::of(&samples[span], w) else {
            continue;
        };
        // 0.0 for a first sample below zero (turning -0.0 into 0.0), then each drop's
        // predecessor.
        if edges.first < 0.0 {
            edges.change += 0.0;
        }
        for &v in &before_drops[first_drop..end_drop] {
            edges.change += v;
        }
        if block.push(t, edges) {
            block.drain_into(true, per_second_of, &mut out);
        }
    }
    block.drain_into(true, per_second_of, &mut out);
    out
}

/// Each step's time, its window and the positions of the samples within that window.
fn spans<'a>(
    query: (i64, i64),
    ms: &'a MatrixSelector,
    samples: &'a [Sample],
    steps: Steps,
) -> impl Iterator<Item = (i64, Window, Range<usize>)> + 'a {
    let range = millis(&ms.range);
    let (mut from, mut to) = (0, 0);
    steps.iter().map(move |t| {
        let te = plan::shift(ms.vs.at.as_ref(), ms.vs.offset.as_ref(), t, t, query).0;
        let lo = te.saturating_sub(range);
        from = advance(samples, from, |x| x.t < lo);
        to = advance(samples, to.max(from), |x| x.t <= te);
        (t, Window { start: lo, end: te }, from..to)
    })
}

/// The positions of the samples below their predecessor (counter resets, or a gauge's every
/// fall): `rate` over a window then visits those within it, not every sample.
fn drops(samples: &[Sample]) -> Vec<u32> {
    let below = |i: &usize| samples[*i].v < samples[*i - 1].v;
    (1..samples.len()).filter(below).map(|i| i as u32).collect()
}

/// The first index at or after `i` whose item fails `before`: a linear walk, since evaluation
/// times move forward a step at a time and a step passes a sample or two, which a binary search
/// over the rest of a day of samples would pay a dozen mispredicted branches for.
fn advance<T>(items: &[T], mut i: usize, before: impl Fn(&T) -> bool) -> usize {
    while items.get(i).is_some_and(&before) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::eval::Evaluator;
    use crate::limits::{Budget, Deadline};
    use crate::{by_steps, parse, plan};
    use warroom_tsdb::model::STALE_NAN_BITS;
    use warroom_tsdb::model::{Labels, WriteBatch};
    use warroom_tsdb::store::MetricStore;
    use warroom_tsdb::store::mem::MemStore;

    const MIN: i64 = 60_000;

    fn series(pairs: &[(&str, &str)], points: impl Iterator<Item = (i64, f64)>) -> Series {
        Series {
            labels: Labels::from_pairs(pairs.iter().copied()),
            samples: points.map(|(t, v)| Sample { t, v }).collect(),
        }
    }

    /// Counters with a reset, a gap, a stale marker and a series that stops early.
    async fn store() -> Arc<MemStore> {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let store = Arc::new(MemStore::new());
        let batch = WriteBatch {
            id: None,
            series: vec![
                series(
                    &[("__name__", "c"), ("i", "a")],
                    (0..120).map(|i| (i * 15_000, ((i * 7) % 50) as f64)),
                ),
                series(
                    &[("__name__", "c"), ("i", "b")],
                    (0..120)
                        .filter(|i| !(40..60).contains(i))
                        .map(|i| (i * 15_000 + 3_000, if i == 90 { stale } else { i as f64 })),
                ),
                series(
                    &[("__name__", "c"), ("i", "c")],
                    (0..30).map(|i| (i * 20_000, 0.5 * i as f64)),
                ),
                series(
                    &[("__name__", "c"), ("i", "d")],
                    (0..90).map(|i| {
                        (
                            i * 15_000,
                            if i % 5 == 0 { -0.0 } else { -((i % 3) as f64) },
                        )
                    }),
                ),
            ],
        };
        store.append(batch).await.expect("append");
        store
    }

    fn roomy() -> Budget {
        Budget::new(Deadline::after(Duration::from_secs(60)), usize::MAX)
    }

    async fn both(q: &str, steps: Steps) -> (Option<Vec<Series>>, Vec<Series>) {
        let store = store().await;
        let expr = parse(q).expect("parse");
        let mut data = plan::fetch(store.as_ref(), &expr, steps.start, steps.end)
            .await
            .expect("fetch");
        let budget = roomy();
        let ev = Evaluator::new(&data, steps.start, steps.end, &budget);
        let general = by_steps(&ev, &expr, steps).expect("eval");
        let fast = match mapped(store.as_ref(), &expr, steps, &roomy())
            .await
            .expect("mapped")
        {
            Some(series) => Some(series),
            None => take_selector(&expr, &mut data, steps, &roomy()).map(|r| r.expect("take")),
        };
        (fast, general)
    }

    #[tokio::test]
    async fn series_by_series_results_equal_the_step_by_step_evaluation() {
        // Arrange
        let steps = Steps {
            start: 0,
            end: 30 * MIN,
            step: 30_000,
        };
        let queries = [
            "c",
            "(c offset 2m)",
            "c @ 600",
            "rate(c[5m])",
            "increase(c[1m] offset 1m)",
            "increase(c[45s])",
            "rate(c[30s])",
            "irate(c[2m])",
            "deriv(c[3m])",
            "resets(c[10m])",
            "avg_over_time(c[5m])",
            "max_over_time((c[4m]))",
            "count_over_time(c[1m])",
            "last_over_time(c[5m])",
            "stddev_over_time(c[5m])",
        ];

        for q in queries {
            // Act
            let (fast, general) = both(q, steps).await;

            // Assert
            let fast = fast.unwrap_or_else(|| panic!("{q} took the general path"));
            assert_eq!(bits(&fast), bits(&general), "{q}");
        }
    }

    /// Each series as its label text and `(t, value bits)` points, so NaN and −0 compare exactly.
    fn bits(series: &[Series]) -> Vec<(String, Vec<(i64, u64)>)> {
        series
            .iter()
            .map(|s| {
                let points = s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect();
                (s.labels.to_string(), points)
            })
            .collect()
    }

    #[tokio::test]
    async fn selectors_written_over_their_own_samples_equal_the_step_by_step_evaluation() {
        for (q, step) in [
            ("c", 30_000),
            ("c", 15_000),
            ("c", 4_000),
            ("(c offset 2m)", 7_000),
            ("c @ 600", 60_000),
        ] {
            // Arrange: steps sparser and denser than the samples (15 s and 20 s apart).
            let steps = Steps {
                start: MIN / 2,
                end: 40 * MIN,
                step,
            };
            let store = store().await;
            let expr = parse(q).expect("parse");
            let mut data = plan::fetch(store.as_ref(), &expr, steps.start, steps.end)
                .await
                .expect("fetch");
            let budget = roomy();
            let ev = Evaluator::new(&data, steps.start, steps.end, &budget);
            let general = by_steps(&ev, &expr, steps).expect("eval");

            // Act
            let owned = take_selector(&expr, &mut data, steps, &roomy())
                .expect("a selector")
                .expect("within the budget");

            // Assert
            assert!(!general.is_empty(), "{q}");
            assert_eq!(bits(&owned), bits(&general), "{q} every {step} ms");
        }
    }

    #[tokio::test]
    async fn other_queries_are_left_to_the_general_path() {
        // Arrange
        let steps = Steps {
            start: 0,
            end: 10 * MIN,
            step: MIN,
        };

        // Act
        let aggregated = both("sum(c)", steps).await.0;
        let param = both("quantile_over_time(0.5, c[5m])", steps).await.0;

        // Assert
        assert!(aggregated.is_none());
        assert!(param.is_none());
    }
}
