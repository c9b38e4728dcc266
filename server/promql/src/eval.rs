//! The evaluator: one expression at one timestamp over pre-fetched series. Selectors apply the
//! lookback and stale markers; subqueries re-evaluate their expression at aligned steps. Every
//! vector, range and subquery it makes is counted against the query's [`Budget`], and every
//! subquery step checks its deadline.

use std::collections::{BTreeMap, HashSet};

use promql_parser::parser::{
    AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector,
};

use super::limits::Budget;
use super::plan::{Fetched, millis, shift};
use super::{
    DEFAULT_SUBQUERY_STEP_MS, Element, LOOKBACK_MS, QueryError, Value, aggregate, binary, functions,
};
use warroom_tsdb::model::hash::FxBuild;
use warroom_tsdb::model::{Labels, Sample, Series, is_stale};

/// Evaluates expressions of one query; `start`/`end` are the query's range (for `@ start()`).
pub(crate) struct Evaluator<'a> {
    data: &'a Fetched,
    start: i64,
    end: i64,
    budget: &'a Budget,
}

impl<'a> Evaluator<'a> {
    /// An evaluator over fetched series for a query running from `start` to `end`, within
    /// `budget`.
    pub(crate) fn new(data: &'a Fetched, start: i64, end: i64, budget: &'a Budget) -> Self {
        Self {
            data,
            start,
            end,
            budget,
        }
    }

    /// The query's budget.
    pub(crate) fn budget(&self) -> &'a Budget {
        self.budget
    }

    /// The series fetched for a selector.
    pub(crate) fn series(&self, vs: &VectorSelector) -> &'a [Series] {
        self.data.series(vs)
    }

    /// The values a store reduced a selector's series to ([`Fetched::reduced`]).
    pub(crate) fn reduced(&self, vs: &VectorSelector) -> Option<&'a [(Labels, f64)]> {
        self.data.reduced(vs)
    }

    /// The series fetched for a selector labelled with group keys ([`Fetched::projected`]).
    pub(crate) fn projected(&self, vs: &VectorSelector) -> Option<&'a [Series]> {
        self.data.projected(vs)
    }

    /// The value of `expr` at time `t` (milliseconds).
    pub(crate) fn eval(&self, expr: &Expr, t: i64) -> Result<Value, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => negate(self.eval(&u.expr, t)?),
            Expr::VectorSelector(vs) => {
                let found = self.instant(vs, t);
                self.budget.fits(found.len())?;
                Ok(Value::Vector(
                    found
                        .into_iter()
                        .map(|(labels, s)| Element { labels, v: s.v })
                        .collect(),
                ))
            }
            Expr::MatrixSelector(ms) => {
                let range = self.range(ms, t);
                self.budget
                    .fits(range.iter().map(|s| s.samples.len()).sum())?;
                Ok(Value::Matrix(range))
            }
            Expr::Subquery(sq) => self.subquery(sq, t).map(Value::Matrix),
            Expr::Call(c) => functions::call(self, c, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Extension(_) => Err(QueryError::unsupported("extension expressions")),
        }
    }

    /// Evaluates `expr`, requiring an instant vector.
    pub(crate) fn vector(&self, expr: &Expr, t: i64) -> Result<Vec<Element>, QueryError> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates `expr`, requiring a scalar.
    pub(crate) fn scalar(&self, expr: &Expr, t: i64) -> Result<f64, QueryError> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// The time a selector or subquery with these modifiers reads at, for evaluation time `t`.
    pub(crate) fn effective_time(
        &self,
        at: Option<&AtModifier>,
        offset: Option<&Offset>,
        t: i64,
    ) -> i64 {
        shift(at, offset, t, t, (self.start, self.end)).0
    }

    /// Each series' newest sample within the lookback window, unless that sample is a stale
    /// marker; the sample keeps its own timestamp (for `timestamp()`).
    pub(crate) fn instant(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, Sample)> {
        let t = self.effective_time(vs.at.as_ref(), vs.offset.as_ref(), t);
        self.data
            .series(vs)
            .iter()
            .filter_map(|s| Some((s.labels.clone(), newest(&s.samples, t)?)))
            .collect()
    }

    /// The samples of each series in `[t - range, t]` without stale markers; empty series left out.
    pub(crate) fn range(&self, ms: &MatrixSelector, t: i64) -> Vec<Series> {
        let t = self.effective_time(ms.vs.at.as_ref(), ms.vs.offset.as_ref(), t);
        let lo = t.saturating_sub(millis(&ms.range));
        self.data
            .series(&ms.vs)
            .iter()
            .filter_map(|s| {
                let from = s.samples.partition_point(|x| x.t < lo);
                let to = s.samples.partition_point(|x| x.t <= t);
                let samples: Vec<Sample> = s.samples[from..to]
                    .iter()
                    .filter(|x| !is_stale(x.v))
                    .copied()
                    .collect();
                (!samples.is_empty()).then(|| Series {
                    labels: s.labels.clone(),
                    samples,
                })
            })
            .collect()
    }

    /// The inner expression evaluated at every multiple of the step in `[t - range, t]`; its
    /// points are held in the budget while they are made, and the deadline checked each step.
    pub(crate) fn subquery(&self, sq: &SubqueryExpr, t: i64) -> Result<Vec<Series>, QueryError> {
        let mut held = 0;
        let made = self.subquery_steps(sq, t, &mut held);
        self.budget.release(held);
        made
    }

    fn subquery_steps(
        &self,
        sq: &SubqueryExpr,
        t: i64,
        held: &mut usize,
    ) -> Result<Vec<Series>, QueryError> {
        let t = self.effective_time(sq.at.as_ref(), sq.offset.as_ref(), t);
        let step = sq
            .step
            .as_ref()
            .map_or(DEFAULT_SUBQUERY_STEP_MS, millis)
            .max(1);
        let lo = t.saturating_sub(millis(&sq.range));
        let first = step.saturating_mul(lo.div_euclid(step));
        let mut next = if first < lo {
            first.checked_add(step)
        } else {
            Some(first)
        };
        let mut out: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        while let Some(ts) = next.filter(|&ts| ts <= t) {
            self.budget.check_time()?;
            let made = match self.eval(&sq.expr, ts)? {
                Value::Scalar(v) => {
                    out.entry(Labels::default())
                        .or_default()
                        .push(Sample { t: ts, v });
                    1
                }
                Value::Vector(elements) => {
                    let n = elements.len();
                    for e in elements {
                        out.entry(e.labels)
                            .or_default()
                            .push(Sample { t: ts, v: e.v });
                    }
                    n
                }
                other => {
                    return Err(QueryError::exec(format!(
                        "subquery of a {} is not allowed",
                        other.type_name()
                    )));
                }
            };
            *held += made;
            self.budget.hold(made)?;
            next = ts.checked_add(step);
        }
        Ok(out
            .into_iter()
            .map(|(labels, samples)| Series { labels, samples })
            .collect())
    }
}

/// The newest of `samples` at or before `t` within the lookback, unless it is a stale marker.
pub(crate) fn newest(samples: &[Sample], t: i64) -> Option<Sample> {
    let idx = samples.partition_point(|x| x.t <= t);
    let last = *samples.get(idx.checked_sub(1)?)?;
    (last.t >= t.saturating_sub(LOOKBACK_MS) && !is_stale(last.v)).then_some(last)
}

/// Unary minus: negates values and drops metric names.
fn negate(value: Value) -> Result<Value, QueryError> {
    match value {
        Value::Scalar(v) => Ok(Value::Scalar(-v)),
        Value::Vector(v) => Ok(Value::Vector(
            v.into_iter()
                .map(|e| Element {
                    labels: e.labels.without_metric_name(),
                    v: -e.v,
                })
                .collect(),
        )),
        other => Err(QueryError::exec(format!(
            "unary minus is not defined on a {}",
            other.type_name()
        ))),
    }
}

/// Prometheus refuses a result in which two elements have the same labels (e.g. after a
/// function dropped the metric names that told them apart).
pub(crate) fn check_unique(v: &[Element]) -> Result<(), QueryError> {
    // Fx, not SipHash: this hashes every label of every element of every step.
    let mut seen = HashSet::with_capacity_and_hasher(v.len(), FxBuild);
    if v.iter().all(|e| seen.insert(&e.labels)) {
        Ok(())
    } else {
        Err(QueryError::exec(
            "vector cannot contain metrics with the same labelset",
        ))
    }
}
