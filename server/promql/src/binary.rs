//! Binary operators: arithmetic and comparisons between scalars and vectors, vector matching
//! (`on`, `ignoring`, `group_left`, `group_right`) and the set operators `and`, `or`, `unless`.

use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{Evaluator, check_unique};
use super::{Element, QueryError, Value};
use warroom_tsdb::model::{Label, Labels, METRIC_NAME};

/// Evaluates a binary expression at time `t`.
pub(crate) fn eval(ev: &Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Value, QueryError> {
    let op = b.op.id();
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    let bool_mod = b.return_bool();
    let out = match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = elem(op, l, r)?;
            let v = if is_comparison(op) {
                f64::from(u8::from(keep))
            } else {
                v
            };
            return Ok(Value::Scalar(v));
        }
        (Value::Vector(l), Value::Scalar(r)) => vector_scalar(op, l, r, false, bool_mod)?,
        (Value::Scalar(l), Value::Vector(r)) => vector_scalar(op, r, l, true, bool_mod)?,
        (Value::Vector(l), Value::Vector(r)) => {
            vector_vector(op, l, r, Matching::from(b), bool_mod)?
        }
        (l, r) => {
            return Err(QueryError::exec(format!(
                "binary operator {} is not defined between {} and {}",
                b.op,
                l.type_name(),
                r.type_name()
            )));
        }
    };
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

fn drops_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_MOD | T_POW | T_ATAN2)
}

/// One operation on two values: the result and whether a comparison holds.
fn elem(op: TokenId, l: f64, r: f64) -> Result<(f64, bool), QueryError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_MOD => (l % r, true),
        T_POW => (l.powf(r), true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(QueryError::unsupported(format!(
                "operator id {op} between these operands"
            )));
        }
    })
}

/// A vector and a scalar; `swapped` when the scalar was written on the left.
fn vector_scalar(
    op: TokenId,
    v: Vec<Element>,
    s: f64,
    swapped: bool,
    bool_mod: bool,
) -> Result<Vec<Element>, QueryError> {
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let (l, r) = if swapped { (s, e.v) } else { (e.v, s) };
        let (mut value, mut keep) = elem(op, l, r)?;
        if is_comparison(op) && swapped {
            value = r;
        }
        if bool_mod {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || bool_mod {
                e.labels.without_metric_name()
            } else {
                e.labels
            };
            out.push(Element { labels, v: value });
        }
    }
    Ok(out)
}

/// How two vectors' elements are paired.
struct Matching {
    on: bool,
    names: Vec<String>,
    card: VectorMatchCardinality,
}

impl Matching {
    fn from(b: &BinaryExpr) -> Self {
        let m = b.modifier.as_ref();
        let (on, names) = match m.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        let card = m.map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
        Self { on, names, card }
    }

    /// The labels two elements must share to match.
    fn signature(&self, labels: &Labels) -> Labels {
        let keep = |l: &&Label| {
            if self.on {
                self.names.iter().any(|n| l.name == *n)
            } else {
                l.name != METRIC_NAME && !self.names.iter().any(|n| l.name == *n)
            }
        };
        Labels::new(labels.iter().filter(keep).cloned().collect())
    }

    fn include(&self) -> &[String] {
        match &self.card {
            VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => {
                &l.labels
            }
            _ => &[],
        }
    }
}

fn vector_vector(
    op: TokenId,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    m: Matching,
    bool_mod: bool,
) -> Result<Vec<Element>, QueryError> {
    match op {
        T_LAND | T_LUNLESS => {
            let right: HashSet<Labels> = rhs.iter().map(|e| m.signature(&e.labels)).collect();
            let keep_matched = op == T_LAND;
            Ok(lhs
                .into_iter()
                .filter(|e| right.contains(&m.signature(&e.labels)) == keep_matched)
                .collect())
        }
        T_LOR => {
            let left: HashSet<Labels> = lhs.iter().map(|e| m.signature(&e.labels)).collect();
            let extra: Vec<Element> = rhs
                .into_iter()
                .filter(|e| !left.contains(&m.signature(&e.labels)))
                .collect();
            Ok(lhs.into_iter().chain(extra).collect())
        }
        _ => matched(op, lhs, rhs, &m, bool_mod),
    }
}

/// One-to-one and many-to-one / one-to-many matching, with Prometheus' error messages.
fn matched(
    op: TokenId,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    m: &Matching,
    bool_mod: bool,
) -> Result<Vec<Element>, QueryError> {
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_side: HashMap<Labels, Element> = HashMap::with_capacity(one.len());
    for e in one {
        let sig = m.signature(&e.labels);
        if let Some(dup) = one_side.get(&sig) {
            return Err(QueryError::exec(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                prom_string(&sig),
                if one_to_many { "left" } else { "right" },
                prom_string(&e.labels),
                prom_string(&dup.labels)
            )));
        }
        one_side.insert(sig, e);
    }
    let mut seen: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for e in many {
        let sig = m.signature(&e.labels);
        let Some(o) = one_side.get(&sig) else {
            continue;
        };
        let (l, r) = if one_to_many { (o.v, e.v) } else { (e.v, o.v) };
        let (mut value, keep) = elem(op, l, r)?;
        if bool_mod {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&e.labels, &o.labels, op, m);
        if bool_mod {
            labels = labels.without_metric_name();
        }
        check_match(&mut seen, sig, &labels, m)?;
        out.push(Element { labels, v: value });
    }
    Ok(out)
}

/// Rejects a second result for one match group (one-to-one) or for one output label set.
fn check_match(
    seen: &mut HashMap<Labels, HashSet<Labels>>,
    sig: Labels,
    labels: &Labels,
    m: &Matching,
) -> Result<(), QueryError> {
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let entry = seen.entry(sig);
    let exists = matches!(entry, std::collections::hash_map::Entry::Occupied(_));
    let set = entry.or_default();
    if one_to_one && exists {
        return Err(QueryError::exec(
            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
        ));
    }
    if !one_to_one && !set.insert(labels.clone()) {
        return Err(QueryError::exec(
            "multiple matches for labels: grouping labels must ensure unique matches",
        ));
    }
    Ok(())
}

/// The result's labels: the "many" side's, without the name for arithmetic, cut to the
/// matching labels for one-to-one, plus the `group_x(...)` labels from the "one" side.
fn result_labels(many: &Labels, one: &Labels, op: TokenId, m: &Matching) -> Labels {
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let include = m.include();
    let mut out: Vec<Label> = many
        .iter()
        .filter(|l| !(drops_name(op) && l.name == METRIC_NAME))
        .filter(|l| !one_to_one || (m.on == m.names.iter().any(|n| l.name == *n)))
        .filter(|l| !include.iter().any(|n| l.name == *n))
        .cloned()
        .collect();
    for name in include {
        if let Some(v) = one.get(name) {
            out.push(Label {
                name: name.into(),
                value: v.into(),
            });
        }
    }
    Labels::new(out)
}

/// Prometheus' `labels.String()`: `{__name__="x", a="b"}`.
fn prom_string(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}
