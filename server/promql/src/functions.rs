//! Function calls: dispatch by name to the range-vector arithmetic in [`super::range_fns`], the
//! per-element math below, `histogram_quantile`, and the label functions in [`labels`].

mod date;
pub(crate) mod labels;

use std::hash::{BuildHasher, Hash, Hasher};

use promql_parser::parser::{Call, Expr, MatrixSelector};

use super::eval::{Evaluator, check_unique};
use super::histogram::histogram_quantile;
use super::plan::millis;
use super::range_fns::{self as rf, Window};
use super::{Element, QueryError, Value};
use warroom_tsdb::model::hash::{FxBuild, FxHashSet};
use warroom_tsdb::model::is_stale;
use warroom_tsdb::model::{Labels, Sample, Series};
use warroom_tsdb::store::Projection;

/// Evaluates a function call at time `t`.
pub(crate) fn call(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Value, QueryError> {
    let args: Vec<&Expr> = c.args.args.iter().map(AsRef::as_ref).collect();
    let name = c.func.name;
    let value = if is_range_function(name) {
        over_range(ev, name, &args, t)?
    } else {
        instant_function(ev, name, &args, t)?
    };
    if let Value::Vector(v) = &value {
        check_unique(v)?;
    }
    Ok(value)
}

/// The `i`-th argument (the parser checked arity; this keeps a bug from panicking).
pub(super) fn arg<'e>(args: &[&'e Expr], i: usize) -> Result<&'e Expr, QueryError> {
    args.get(i)
        .copied()
        .ok_or_else(|| QueryError::exec(format!("missing argument {}", i + 1)))
}

fn instant_function(
    ev: &Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    t: i64,
) -> Result<Value, QueryError> {
    let vector = |i| ev.vector(arg(args, i)?, t);
    let scalar = |i| ev.scalar(arg(args, i)?, t);
    Ok(match name {
        "time" => Value::Scalar(t as f64 / 1000.0),
        "vector" => Value::Vector(vec![Element {
            labels: Labels::default(),
            v: scalar(0)?,
        }]),
        "scalar" => match vector(0)?.as_slice() {
            [one] => Value::Scalar(one.v),
            _ => Value::Scalar(f64::NAN),
        },
        "absent" => Value::Vector(absent(arg(args, 0)?, vector(0)?.is_empty())),
        "histogram_quantile" => Value::Vector(histogram_quantile(scalar(0)?, vector(1)?)),
        "label_replace" => Value::Vector(labels::label_replace(ev, args, t)?),
        "label_join" => Value::Vector(labels::label_join(ev, args, t)?),
        "sort" => Value::Vector(sorted(vector(0)?, false)),
        "sort_desc" => Value::Vector(sorted(vector(0)?, true)),
        "timestamp" => Value::Vector(timestamp(ev, arg(args, 0)?, t)?),
        "clamp" => Value::Vector(clamp(vector(0)?, scalar(1)?, scalar(2)?)),
        "clamp_min" => {
            let lo = scalar(1)?;
            Value::Vector(map(vector(0)?, |v| Ok(go_max(lo, v)))?)
        }
        "clamp_max" => {
            let hi = scalar(1)?;
            Value::Vector(map(vector(0)?, |v| Ok(go_min(hi, v)))?)
        }
        "round" => {
            let inv = 1.0 / if args.len() > 1 { scalar(1)? } else { 1.0 };
            Value::Vector(map(vector(0)?, |v| Ok((v * inv + 0.5).floor() / inv))?)
        }
        _ if date::date_function(name).is_some() => Value::Vector(calendar(ev, name, args, t)?),
        _ => match math(name) {
            Some(f) => Value::Vector(map(vector(0)?, |v| Ok(f(v)))?),
            None => return Err(QueryError::unsupported(format!("function {name}()"))),
        },
    })
}

/// Applies `f` to every value, dropping metric names as Prometheus' math functions do.
fn map(
    v: Vec<Element>,
    mut f: impl FnMut(f64) -> Result<f64, QueryError>,
) -> Result<Vec<Element>, QueryError> {
    v.into_iter()
        .map(|e| {
            Ok(Element {
                labels: e.labels.without_metric_name(),
                v: f(e.v)?,
            })
        })
        .collect()
}

/// A calendar function of its argument's values, or of the evaluation time without one.
fn calendar(
    ev: &Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    t: i64,
) -> Result<Vec<Element>, QueryError> {
    let Some(f) = date::date_function(name) else {
        return Err(QueryError::unsupported(format!("function {name}()")));
    };
    let input = match args.first() {
        Some(a) => ev.vector(a, t)?,
        None => vec![Element {
            labels: Labels::default(),
            v: t as f64 / 1000.0,
        }],
    };
    // Go's `time.Unix(int64(v), 0)` truncates towards zero.
    map(input, |v| Ok(f(v.trunc() as i64)))
}

/// The one-argument math functions.
fn math(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        "deg" => f64::to_degrees,
        "rad" => f64::to_radians,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        _ => return None,
    })
}

/// Go's `math.Max`: NaN wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a < b {
        a
    } else {
        b
    }
}

fn clamp(v: Vec<Element>, lo: f64, hi: f64) -> Vec<Element> {
    if hi < lo {
        return Vec::new();
    }
    v.into_iter()
        .map(|e| Element {
            labels: e.labels.without_metric_name(),
            v: go_max(lo, go_min(hi, e.v)),
        })
        .collect()
}

/// `sort` / `sort_desc`: NaNs first in both, as Prometheus' heaps order them.
fn sorted(mut v: Vec<Element>, desc: bool) -> Vec<Element> {
    v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan(), desc) {
        (true, true, _) => std::cmp::Ordering::Equal,
        (true, false, _) => std::cmp::Ordering::Less,
        (false, true, _) => std::cmp::Ordering::Greater,
        (false, false, false) => a.v.total_cmp(&b.v),
        (false, false, true) => b.v.total_cmp(&a.v),
    });
    v
}

/// `timestamp()`: a selector's own sample times; otherwise the evaluation time.
fn timestamp(ev: &Evaluator<'_>, a: &Expr, t: i64) -> Result<Vec<Element>, QueryError> {
    let inner = unwrap_parens(a);
    let pairs: Vec<(Labels, i64)> = match inner {
        Expr::VectorSelector(vs) => ev
            .instant(vs, t)
            .into_iter()
            .map(|(l, s)| (l, s.t))
            .collect(),
        _ => ev
            .vector(inner, t)?
            .into_iter()
            .map(|e| (e.labels, t))
            .collect(),
    };
    Ok(pairs
        .into_iter()
        .map(|(l, ts)| Element {
            labels: l.without_metric_name(),
            v: ts as f64 / 1000.0,
        })
        .collect())
}

/// `absent()` / `absent_over_time()`: one element when nothing matched, labelled from the
/// selector's equality matchers (a label matched twice or otherwise is left out).
fn absent(a: &Expr, is_empty: bool) -> Vec<Element> {
    if !is_empty {
        return Vec::new();
    }
    let matchers = match a {
        Expr::VectorSelector(vs) => vs.matchers.matchers.as_slice(),
        Expr::MatrixSelector(ms) => ms.vs.matchers.matchers.as_slice(),
        _ => &[],
    };
    let mut has = std::collections::HashSet::new();
    let mut set: std::collections::BTreeMap<&str, Option<&str>> = Default::default();
    for m in matchers
        .iter()
        .filter(|m| m.name != warroom_tsdb::model::METRIC_NAME)
    {
        let equal = m.op == promql_parser::label::MatchOp::Equal;
        if equal && has.insert(m.name.as_str()) {
            set.insert(&m.name, Some(&m.value));
        } else {
            set.insert(&m.name, None);
        }
    }
    let labels = Labels::from_pairs(set.into_iter().filter_map(|(n, v)| Some((n, v?))));
    vec![Element { labels, v: 1.0 }]
}

/// `e` without the parentheses around it.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Functions whose argument (or one of them) is a range vector.
pub(super) fn is_range_function(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "changes"
            | "resets"
            | "absent_over_time"
            | "present_over_time"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "last_over_time"
            | "quantile_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
    )
}

/// A function over a range vector: one output element per series with enough samples.
fn over_range(ev: &Evaluator<'_>, name: &str, args: &[&Expr], t: i64) -> Result<Value, QueryError> {
    let (m, param, window) = range_args(ev, name, args, t)?;
    if let Expr::MatrixSelector(ms) = unwrap_parens(m)
        && name != "absent_over_time"
    {
        return Ok(Value::Vector(over_selector(ev, ms, name, window, param, t)));
    }
    let Value::Matrix(series) = ev.eval(m, t)? else {
        return Err(QueryError::exec(format!("{name}() expects a range vector")));
    };
    if name == "absent_over_time" {
        return Ok(Value::Vector(absent(m, series.is_empty())));
    }
    Ok(Value::Vector(
        series
            .into_iter()
            .filter_map(|s| {
                let v = apply(name, &s.samples, window, param, t)?;
                // Prometheus 2.42 keeps the name for `last_over_time` only.
                let labels = if name == "last_over_time" {
                    s.labels
                } else {
                    s.labels.without_metric_name()
                };
                Some(Element { labels, v })
            })
            .collect(),
    ))
}

/// A range function's matrix argument, its scalar parameter (0 without one) and the window
/// the matrix covers at `t`.
fn range_args<'e>(
    ev: &Evaluator<'_>,
    name: &str,
    args: &[&'e Expr],
    t: i64,
) -> Result<(&'e Expr, f64, Window), QueryError> {
    let m = arg(args, usize::from(name == "quantile_over_time"))?;
    let param = match name {
        "quantile_over_time" => ev.scalar(arg(args, 0)?, t)?,
        "predict_linear" => ev.scalar(arg(args, 1)?, t)?,
        _ => 0.0,
    };
    Ok((m, param, window(ev, m, t)?))
}

/// A range function over a matrix selector (`rate(x[5m])`, parentheses allowed), as an
/// aggregation over it reads it: the call, its selector, and whether the function keeps the
/// series' metric names (`last_over_time` alone does, in Prometheus 2.42). `None` for any
/// other expression.
pub(crate) fn range_call_of_selector(expr: &Expr) -> Option<(&Call, &MatrixSelector, bool)> {
    let Expr::Call(c) = unwrap_parens(expr) else {
        return None;
    };
    let name = c.func.name;
    if !is_range_function(name) || name == "absent_over_time" {
        return None;
    }
    let m = c.args.args.get(usize::from(name == "quantile_over_time"))?;
    let Expr::MatrixSelector(ms) = unwrap_parens(m) else {
        return None;
    };
    Some((c, ms, name == "last_over_time"))
}

/// For an aggregation over `f(x[range])` at `t` ([`range_call_of_selector`]): each output
/// element's value with its group key, the [`Projection`] `grouping` gives (told whether `f`
/// keeps metric names) of the element's labels, without building those labels. Series the
/// planner fetched projected already carry their keys. `None` when `expr` is not such a call,
/// when `grouping` gives none, or when two elements would have the same labels (an error the
/// general path reports).
pub(crate) fn keyed_over_selector(
    ev: &Evaluator<'_>,
    expr: &Expr,
    t: i64,
    grouping: impl Fn(bool) -> Option<Projection>,
) -> Result<Option<Vec<(Labels, f64)>>, QueryError> {
    let Some((c, ms, keeps_name)) = range_call_of_selector(expr) else {
        return Ok(None);
    };
    let Some(projection) = grouping(keeps_name) else {
        return Ok(None);
    };
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(AsRef::as_ref).collect();
    let (_, param, w) = range_args(ev, name, &args, t)?;
    if let Some(values) = ev.reduced(&ms.vs) {
        // Reduced by the store over this very window (the planner fetched exactly it).
        return Ok(Some(values.to_vec()));
    }
    let mut scratch = Vec::new();
    let mut value = |s: &Series| window_value(name, &s.samples, w, param, t, &mut scratch);
    if let Some(series) = ev.projected(&ms.vs) {
        // Labelled with their keys by the store, which found them distinct without names.
        let keyed = series
            .iter()
            .filter_map(|s| Some((s.labels.clone(), value(s)?)));
        return Ok(Some(keyed.collect()));
    }
    let keyed: Vec<(u64, Labels, f64)> = ev
        .series(&ms.vs)
        .iter()
        .filter_map(|s| {
            let v = value(s)?;
            // The store's label sets are distinct; without their names they may not be.
            let identity = if keeps_name {
                0
            } else {
                hash_without_name(&s.labels)
            };
            Some((identity, projection.apply(&s.labels), v))
        })
        .collect();
    if !keeps_name {
        let mut seen = FxHashSet::with_capacity_and_hasher(keyed.len(), FxBuild);
        if !keyed.iter().all(|(identity, _, _)| seen.insert(*identity)) {
            return Ok(None);
        }
    }
    Ok(Some(keyed.into_iter().map(|(_, k, v)| (k, v)).collect()))
}

/// The hash of `labels` without the metric name: equal for label sets equal without it.
fn hash_without_name(labels: &Labels) -> u64 {
    let mut h = FxBuild.build_hasher();
    for l in labels
        .iter()
        .filter(|l| l.name != warroom_tsdb::model::METRIC_NAME)
    {
        l.hash(&mut h);
    }
    h.finish()
}

/// `name` over a matrix selector's series, read in place: what [`Evaluator::range`] would
/// select, without copying each window's samples and label set first.
fn over_selector(
    ev: &Evaluator<'_>,
    ms: &MatrixSelector,
    name: &str,
    w: Window,
    param: f64,
    t: i64,
) -> Vec<Element> {
    let mut scratch = Vec::new();
    ev.series(&ms.vs)
        .iter()
        .filter_map(|s| {
            let v = window_value(name, &s.samples, w, param, t, &mut scratch)?;
            // Prometheus 2.42 keeps the name for `last_over_time` only.
            let labels = if name == "last_over_time" {
                s.labels.clone()
            } else {
                s.labels.without_metric_name()
            };
            Some(Element { labels, v })
        })
        .collect()
}

/// The range function `name` over a series' samples within `w`, without stale markers: what
/// every path computes for one series (`scratch` holds the window when markers are dropped).
pub(crate) fn window_value(
    name: &str,
    samples: &[Sample],
    w: Window,
    param: f64,
    t: i64,
    scratch: &mut Vec<Sample>,
) -> Option<f64> {
    let window = without_stale(in_window(samples, w), scratch);
    apply(name, window, w, param, t)
}

/// The samples within `[w.start, w.end]`, both ends inclusive as in Prometheus 2.42.
pub(crate) fn in_window(samples: &[Sample], w: Window) -> &[Sample] {
    let from = samples.partition_point(|x| x.t < w.start);
    let to = samples.partition_point(|x| x.t <= w.end);
    &samples[from..to.max(from)]
}

/// `samples` without stale markers, borrowed when there is none (the common case).
pub(crate) fn without_stale<'s>(
    samples: &'s [Sample],
    scratch: &'s mut Vec<Sample>,
) -> &'s [Sample] {
    if !samples.iter().any(|x| is_stale(x.v)) {
        return samples;
    }
    scratch.clear();
    scratch.extend(samples.iter().filter(|x| !is_stale(x.v)));
    scratch
}

/// The range a matrix argument covers at time `t`.
fn window(ev: &Evaluator<'_>, m: &Expr, t: i64) -> Result<Window, QueryError> {
    let (at, offset, range) = match unwrap_parens(m) {
        Expr::MatrixSelector(ms) => (ms.vs.at.as_ref(), ms.vs.offset.as_ref(), &ms.range),
        Expr::Subquery(sq) => (sq.at.as_ref(), sq.offset.as_ref(), &sq.range),
        _ => {
            return Err(QueryError::unsupported(
                "a range function over this expression",
            ));
        }
    };
    let end = ev.effective_time(at, offset, t);
    Ok(Window {
        start: end.saturating_sub(millis(range)),
        end,
    })
}

/// The range function `name` over one series' samples in window `w`, evaluated at `t`.
pub(crate) fn apply(name: &str, s: &[Sample], w: Window, param: f64, t: i64) -> Option<f64> {
    let last = s.last()?.v;
    match name {
        "rate" => rf::extrapolated_rate(s, w, true, true),
        "increase" => rf::extrapolated_rate(s, w, true, false),
        "delta" => rf::extrapolated_rate(s, w, false, false),
        "irate" => rf::instant_value(s, true),
        "idelta" => rf::instant_value(s, false),
        "deriv" => rf::deriv(s),
        "predict_linear" => rf::predict_linear(s, t, param),
        "changes" => Some(rf::changes(s)),
        "resets" => Some(rf::resets(s)),
        "present_over_time" => Some(1.0),
        "avg_over_time" => Some(rf::avg(s)),
        "min_over_time" => Some(rf::min(s)),
        "max_over_time" => Some(rf::max(s)),
        "sum_over_time" => Some(rf::sum(s)),
        "count_over_time" => Some(s.len() as f64),
        "last_over_time" => Some(last),
        "stddev_over_time" => Some(rf::stdvar(s).sqrt()),
        "stdvar_over_time" => Some(rf::stdvar(s)),
        "quantile_over_time" => {
            let mut values: Vec<f64> = s.iter().map(|x| x.v).collect();
            Some(rf::quantile(param, &mut values))
        }
        _ => None,
    }
}
