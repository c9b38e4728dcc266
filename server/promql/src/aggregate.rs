//! Aggregation operators over instant vectors, grouped `by` or `without` labels, with the
//! accumulation order of Prometheus 2.42 (incremental mean, Welford variance).

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::Evaluator;
use super::functions::{self, labels::valid_label_name};
use super::range_fns::quantile;
use super::{Element, QueryError, Value, format_float};
use warroom_tsdb::model::hash::FxHashMap;
use warroom_tsdb::model::{Label, Labels};
use warroom_tsdb::store::Projection;

/// Which labels identify a group: only the `by` labels (the metric name too when named), or
/// all but the `without` labels and the metric name.
struct Grouping(Projection);

impl Grouping {
    fn from(m: Option<&LabelModifier>) -> Self {
        Grouping(match m {
            None => Projection::By {
                names: Vec::new(),
                keep_name: true,
            },
            Some(LabelModifier::Include(l)) => Projection::By {
                names: l.labels.clone(),
                keep_name: true,
            },
            Some(LabelModifier::Exclude(l)) => Projection::Without(l.labels.clone()),
        })
    }

    /// The group's labels.
    fn key(&self, labels: &Labels) -> Labels {
        self.0.apply(labels)
    }

    /// The grouping of elements a function made from series, keeping their metric names
    /// (which a `by` naming it then keeps) or dropping them.
    fn of_function(self, keeps_name: bool) -> Projection {
        match self.0 {
            Projection::By { names, .. } => Projection::By {
                names,
                keep_name: keeps_name,
            },
            without => without,
        }
    }
}

/// The group key of each member of `a`, when its members are a function's results that keep
/// their metric names or not (`sum by (node) (rate(x[5m]))`), as a projection of the series'
/// labels: what the store may hand out instead of whole label sets. `None` for operators that
/// return members (`topk`) or label them (`count_values`), which read whole label sets.
pub(crate) fn keyed_projection(a: &AggregateExpr, keeps_name: bool) -> Option<Projection> {
    matches!(
        a.op.id(),
        T_SUM | T_AVG | T_COUNT | T_GROUP | T_MIN | T_MAX | T_STDDEV | T_STDVAR | T_QUANTILE
    )
    .then(|| Grouping::from(a.modifier.as_ref()).of_function(keeps_name))
}

/// Groups' labels with their members, in order of first appearance.
type Groups = Vec<(Labels, Vec<Element>)>;

/// Evaluates an aggregation at time `t`.
pub(crate) fn eval(ev: &Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<Value, QueryError> {
    let mut grouping = Grouping::from(a.modifier.as_ref());
    let param = a.param.as_ref().map(|p| ev.eval(p, t)).transpose()?;
    let op = a.op.id();
    let unsupported = || QueryError::unsupported(format!("aggregation {}", a.op));
    if let Some(groups) = keyed_groups(ev, a, t)? {
        // Grouping a step's whole input is the long part: the deadline is checked before folding.
        ev.budget().check_time()?;
        return fold_op(op, groups, param.as_ref()).ok_or_else(unsupported);
    }
    let mut v = ev.vector(&a.expr, t)?;
    ev.budget().check_time()?;
    if op == T_COUNT_VALUES {
        let label = match &param {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(QueryError::exec("count_values expects a string parameter")),
        };
        if !valid_label_name(&label) {
            return Err(QueryError::exec(format!("invalid label name {label:?}")));
        }
        v = with_value_label(v, &label);
        if let Projection::By { names, .. } = &mut grouping.0 {
            names.push(label);
        }
    }
    let groups = group_vector(v, &grouping);
    ev.budget().check_time()?;
    fold_op(op, groups, param.as_ref()).ok_or_else(unsupported)
}

/// The aggregation `op` (with its parameter) of each group; `None` for an unknown `op`.
fn fold_op(op: u16, groups: Groups, param: Option<&Value>) -> Option<Value> {
    let number = match param {
        Some(Value::Scalar(x)) => *x,
        _ => 0.0,
    };
    Some(Value::Vector(match op {
        T_TOPK | T_BOTTOMK => select_k(groups, number, op == T_TOPK),
        T_QUANTILE => fold(groups, |vals| quantile(number, &mut vals.to_vec())),
        T_SUM => fold(groups, |vals| vals.iter().sum()),
        T_COUNT | T_COUNT_VALUES => fold(groups, |vals| vals.len() as f64),
        T_GROUP => fold(groups, |_| 1.0),
        T_AVG => fold(groups, mean),
        T_MIN => fold(groups, |vals| extreme(vals, |acc, x| acc > x)),
        T_MAX => fold(groups, |vals| extreme(vals, |acc, x| acc < x)),
        T_STDVAR => fold(groups, variance),
        T_STDDEV => fold(groups, |vals| variance(vals).sqrt()),
        _ => return None,
    }))
}

/// The groups of an aggregation over a range function of a selector (`sum(rate(x[5m]))`),
/// whose members' label sets are never built: only each member's group key and value, the
/// members in the general path's order with empty labels. `None` for other aggregations,
/// and for operators that return members (`topk`) or label them (`count_values`).
fn keyed_groups(
    ev: &Evaluator<'_>,
    a: &AggregateExpr,
    t: i64,
) -> Result<Option<Groups>, QueryError> {
    let keyed = functions::keyed_over_selector(ev, &a.expr, t, |keeps_name| {
        keyed_projection(a, keeps_name)
    })?;
    Ok(keyed.map(|keyed| {
        group(keyed.into_iter().map(|(key, v)| {
            (
                key,
                Element {
                    labels: Labels::default(),
                    v,
                },
            )
        }))
    }))
}

/// Splits a vector into groups, in order of first appearance.
fn group_vector(v: Vec<Element>, grouping: &Grouping) -> Groups {
    group(v.into_iter().map(|e| (grouping.key(&e.labels), e)))
}

/// Elements with their group keys split into groups, in order of first appearance.
fn group(keyed: impl Iterator<Item = (Labels, Element)>) -> Groups {
    let mut index: FxHashMap<Labels, usize> = FxHashMap::default();
    let mut groups: Groups = Vec::new();
    for (key, e) in keyed {
        // Looked up before inserting: a key is cloned once per group, not once per element.
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, Vec::new()));
                groups.len() - 1
            }
        };
        groups[i].1.push(e);
    }
    groups
}

/// One element per group, labelled with the group's labels.
fn fold(groups: Groups, f: impl Fn(&[f64]) -> f64) -> Vec<Element> {
    groups
        .into_iter()
        .map(|(labels, members)| {
            let values: Vec<f64> = members.iter().map(|e| e.v).collect();
            Element {
                labels,
                v: f(&values),
            }
        })
        .collect()
}

/// `count_values`: each element gets its value as a label.
fn with_value_label(v: Vec<Element>, label: &str) -> Vec<Element> {
    v.into_iter()
        .map(|e| {
            let mut l: Vec<Label> = e
                .labels
                .iter()
                .filter(|l| l.name != label)
                .cloned()
                .collect();
            l.push(Label {
                name: label.into(),
                value: format_float(e.v).into(),
            });
            Element {
                labels: Labels::new(l),
                v: e.v,
            }
        })
        .collect()
}

/// `topk` / `bottomk`: the k best elements of each group, keeping their labels; NaN is worst.
fn select_k(groups: Groups, k: f64, top: bool) -> Vec<Element> {
    let k = k as i64;
    if k < 1 {
        return Vec::new();
    }
    let k = usize::try_from(k).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if top => b.v.total_cmp(&a.v),
            _ => a.v.total_cmp(&b.v),
        });
        out.extend(members.into_iter().take(k));
    }
    out
}

/// Prometheus' incremental mean, which keeps an infinite mean instead of producing NaN.
fn mean(vals: &[f64]) -> f64 {
    let mut m = vals[0];
    for (i, &x) in vals.iter().enumerate().skip(1) {
        let n = (i + 1) as f64;
        if m.is_infinite()
            && ((x.is_infinite() && (m > 0.0) == (x > 0.0)) || (!x.is_infinite() && !x.is_nan()))
        {
            continue;
        }
        m += x / n - m / n;
    }
    m
}

/// `min` / `max`: replace the accumulator when `replace(acc, x)` or while it is NaN.
fn extreme(vals: &[f64], replace: impl Fn(f64, f64) -> bool) -> f64 {
    vals.iter().skip(1).fold(vals[0], |acc, &x| {
        if replace(acc, x) || acc.is_nan() {
            x
        } else {
            acc
        }
    })
}

/// Population variance, accumulated as Prometheus' aggregation does.
fn variance(vals: &[f64]) -> f64 {
    let (mut mean, mut aux) = (vals[0], 0.0);
    for (i, &x) in vals.iter().enumerate().skip(1) {
        let delta = x - mean;
        mean += delta / (i + 1) as f64;
        aux += delta * (x - mean);
    }
    aux / vals.len() as f64
}
