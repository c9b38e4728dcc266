//! Before evaluation: find every selector in the tree with the time range it will read, and
//! fetch those series once through the async [`Querier`].

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};
use promql_parser::parser::{AtModifier, Expr, Offset, VectorSelector};

use super::range_fns::Window;
use super::{LOOKBACK_MS, QueryError, aggregate, functions};
use warroom_tsdb::model::{Labels, METRIC_NAME, MatchOp, Matcher, Sample, Series};
use warroom_tsdb::store::{Projection, Querier};

/// The series of every selector, keyed by the selector node's address in the parsed tree:
/// with their whole label sets, or labelled by the group keys of the aggregation reading them.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    whole: HashMap<usize, Vec<Series>>,
    projected: HashMap<usize, Vec<Series>>,
    reduced: HashMap<usize, Vec<(Labels, f64)>>,
}

impl Fetched {
    /// Samples held, over every selector (a reduced series counts as one).
    pub(crate) fn samples(&self) -> usize {
        let all = self.whole.values().chain(self.projected.values());
        let reduced: usize = self.reduced.values().map(Vec::len).sum();
        reduced + all.flatten().map(|s| s.samples.len()).sum::<usize>()
    }

    /// Takes the series fetched for `vs` out (none when it was not planned).
    pub(crate) fn take(&mut self, vs: &VectorSelector) -> Vec<Series> {
        self.whole.remove(&key(vs)).unwrap_or_default()
    }

    /// The series fetched for `vs` (none when it was not planned, or planned projected).
    pub(crate) fn series(&self, vs: &VectorSelector) -> &[Series] {
        debug_assert!(
            !self.projected.contains_key(&key(vs)) && !self.reduced.contains_key(&key(vs)),
            "projected: {vs}"
        );
        self.whole.get(&key(vs)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The values the store reduced the series of `vs` to, each labelled by its group key,
    /// when the planner could fetch them so ([`Need::reduce`]).
    pub(crate) fn reduced(&self, vs: &VectorSelector) -> Option<&[(Labels, f64)]> {
        self.reduced.get(&key(vs)).map(Vec::as_slice)
    }

    /// The series fetched for `vs` labelled by the group keys of the aggregation over it,
    /// when the planner could fetch them so ([`Need::projection`]).
    pub(crate) fn projected(&self, vs: &VectorSelector) -> Option<&[Series]> {
        self.projected.get(&key(vs)).map(Vec::as_slice)
    }
}

fn key(vs: &VectorSelector) -> usize {
    std::ptr::from_ref(vs) as usize
}

/// One selector and the inclusive millisecond range its evaluation reads.
struct Need<'a> {
    vs: &'a VectorSelector,
    lo: i64,
    hi: i64,
    /// An instant selector evaluated at one time only: its newest sample in range is enough.
    newest: bool,
    /// Read only by an aggregation over a range function of it (`sum(rate(x[5m]))`): the
    /// group key to label its series with, and whether the function keeps metric names.
    projection: Option<(Projection, bool)>,
    /// With a projection, when the selector is read over exactly one window (an instant
    /// query): the range function without parameter to reduce each series to, over it.
    reduce: Option<(&'static str, Window)>,
}

/// Plans and fetches everything `expr` reads when evaluated from `start` to `end`.
pub(crate) async fn fetch(
    querier: &dyn Querier,
    expr: &Expr,
    start: i64,
    end: i64,
) -> Result<Fetched, QueryError> {
    let mut needs = Vec::new();
    walk(expr, start, end, (start, end), &mut needs);
    let mut fetched = Fetched::default();
    for need in needs {
        let matchers = matchers(need.vs)?;
        if let Some((projection, keeps_name)) = &need.projection {
            // Members that may collide once their names are dropped take the general path,
            // which must see whole label sets to refuse the collision.
            let usable = |distinct: bool| distinct || *keeps_name;
            let (lo, hi) = (need.lo, need.hi);
            if let Some((name, w)) = need.reduce {
                let reduce =
                    |s: &[Sample]| functions::window_value(name, s, w, 0.0, w.end, &mut Vec::new());
                let got = querier
                    .select_reduced(&matchers, lo, hi, projection, &reduce)
                    .await?;
                if usable(got.distinct_without_name) {
                    fetched.reduced.insert(key(need.vs), got.values);
                    continue;
                }
            } else {
                let got = querier
                    .select_projected(&matchers, lo, hi, projection)
                    .await?;
                if usable(got.distinct_without_name) {
                    fetched.projected.insert(key(need.vs), got.series);
                    continue;
                }
            }
        }
        let series = if need.newest {
            querier.select_newest(&matchers, need.lo, need.hi).await?
        } else {
            querier.select(&matchers, need.lo, need.hi).await?
        };
        fetched.whole.insert(key(need.vs), series);
    }
    Ok(fetched)
}

/// Collects selectors under `expr`, evaluated at times within `[lo, hi]`; `query` is the whole
/// query's range, which `@ start()` and `@ end()` refer to.
fn walk<'a>(expr: &'a Expr, lo: i64, hi: i64, query: (i64, i64), out: &mut Vec<Need<'a>>) {
    match expr {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, lo, hi, query, out);
            }
            let keyed = functions::range_call_of_selector(&a.expr).and_then(|(c, ms, named)| {
                Some((c, ms, named, aggregate::keyed_projection(a, named)?))
            });
            let Some((call, ms, keeps_name, projection)) = keyed else {
                walk(&a.expr, lo, hi, query, out);
                return;
            };
            for arg in &call.args.args {
                if !matches!(functions::unwrap_parens(arg), Expr::MatrixSelector(m) if std::ptr::eq(m, ms))
                {
                    walk(arg, lo, hi, query, out);
                }
            }
            let range = millis(&ms.range);
            let mut need = need(&ms.vs, lo, hi, query, range);
            need.projection = Some((projection, keeps_name));
            // Every evaluation reads a window as long as the range, within what is fetched: when
            // that is the range itself, they all read that one window.
            if need.hi.checked_sub(need.lo) == Some(range) && call.args.args.len() == 1 {
                need.reduce = Some((
                    call.func.name,
                    Window {
                        start: need.lo,
                        end: need.hi,
                    },
                ));
            }
            out.push(need);
        }
        Expr::Unary(u) => walk(&u.expr, lo, hi, query, out),
        Expr::Paren(p) => walk(&p.expr, lo, hi, query, out),
        Expr::Binary(b) => {
            walk(&b.lhs, lo, hi, query, out);
            walk(&b.rhs, lo, hi, query, out);
        }
        Expr::Subquery(s) => {
            let (lo, hi) = shift(s.at.as_ref(), s.offset.as_ref(), lo, hi, query);
            walk(&s.expr, lo.saturating_sub(millis(&s.range)), hi, query, out);
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, lo, hi, query, out)),
        Expr::VectorSelector(vs) => {
            let mut need = need(vs, lo, hi, query, LOOKBACK_MS);
            need.newest = need.hi.checked_sub(need.lo) == Some(LOOKBACK_MS);
            out.push(need);
        }
        Expr::MatrixSelector(ms) => out.push(need(&ms.vs, lo, hi, query, millis(&ms.range))),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn need(vs: &VectorSelector, lo: i64, hi: i64, query: (i64, i64), back: i64) -> Need<'_> {
    let (lo, hi) = shift(vs.at.as_ref(), vs.offset.as_ref(), lo, hi, query);
    Need {
        vs,
        lo: lo.saturating_sub(back),
        hi,
        newest: false,
        projection: None,
        reduce: None,
    }
}

/// Applies `@` (which pins the time) and `offset` (which moves it back) to a time range.
pub(crate) fn shift(
    at: Option<&AtModifier>,
    offset: Option<&Offset>,
    lo: i64,
    hi: i64,
    query: (i64, i64),
) -> (i64, i64) {
    let (lo, hi) = match at {
        Some(at) => {
            let t = at_millis(at, query);
            (t, t)
        }
        None => (lo, hi),
    };
    let o = offset_millis(offset);
    (lo.saturating_sub(o), hi.saturating_sub(o))
}

/// The time an `@` modifier pins evaluation to.
pub(crate) fn at_millis(at: &AtModifier, query: (i64, i64)) -> i64 {
    match at {
        AtModifier::Start => query.0,
        AtModifier::End => query.1,
        AtModifier::At(t) => system_time_millis(*t),
    }
}

fn system_time_millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => millis(&e.duration()).saturating_neg(),
    }
}

/// An offset in milliseconds (negative offsets look forward).
pub(crate) fn offset_millis(offset: Option<&Offset>) -> i64 {
    match offset {
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => millis(d).saturating_neg(),
        None => 0,
    }
}

/// A duration in milliseconds.
pub(crate) fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The store's matchers for a selector: its metric name plus its label matchers.
pub(crate) fn matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::unsupported(
            "`or` between matchers inside a selector",
        ));
    }
    let mut out: Vec<Matcher> = vs
        .name
        .iter()
        .map(|n| Matcher::equal(METRIC_NAME, n))
        .collect();
    for m in &vs.matchers.matchers {
        out.push(convert(m)?);
    }
    Ok(out)
}

fn convert(m: &PMatcher) -> Result<Matcher, QueryError> {
    let op = match m.op {
        PMatchOp::Equal => MatchOp::Equal,
        PMatchOp::NotEqual => MatchOp::NotEqual,
        PMatchOp::Re(_) => MatchOp::Regex,
        PMatchOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(&m.name, op, &m.value)
        .map_err(|e| QueryError::BadData(format!("invalid regular expression {:?}: {e}", m.value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(q: &str, start: i64, end: i64) -> Vec<(i64, i64)> {
        let expr = promql_parser::parser::parse(q).unwrap();
        let mut out = Vec::new();
        walk(&expr, start, end, (start, end), &mut out);
        out.iter().map(|n| (n.lo, n.hi)).collect()
    }

    #[test]
    fn an_instant_selector_reads_the_lookback_window_before_the_range() {
        assert_eq!(
            needs("up", 1_000_000, 2_000_000),
            vec![(700_000, 2_000_000)]
        );
    }

    #[test]
    fn offset_range_and_subquery_widen_and_move_the_window() {
        let got = needs(
            "max_over_time(rate(x[1m] offset 1m)[10m:1m])",
            3_600_000,
            3_600_000,
        );
        assert_eq!(got, vec![(3_600_000 - 600_000 - 120_000, 3_540_000)]);
    }

    #[test]
    fn the_at_modifier_pins_the_window_to_its_time() {
        assert_eq!(
            needs("x @ 100", 5_000_000, 9_000_000),
            vec![(100_000 - 300_000, 100_000)]
        );
        assert_eq!(needs("x[1m] @ end()", 0, 600_000), vec![(540_000, 600_000)]);
    }
}
