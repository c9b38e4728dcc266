//! `label_replace` and `label_join`: the functions that rewrite labels and keep metric names.

use promql_parser::parser::Expr;
use regex::Regex;

use super::arg;
use crate::eval::Evaluator;
use crate::{Element, QueryError, Value};
use warroom_tsdb::model::{Label, Labels};

/// `label_replace(v, dst, replacement, src, regex)`.
pub(crate) fn label_replace(
    ev: &Evaluator<'_>,
    args: &[&Expr],
    t: i64,
) -> Result<Vec<Element>, QueryError> {
    let v = ev.vector(arg(args, 0)?, t)?;
    let [dst, repl, src, regex] = [1, 2, 3, 4].map(|i| string(ev, args, i, t));
    let (dst, repl, src, regex) = (dst?, repl?, src?, regex?);
    let re = Regex::new(&format!("^(?:{regex})$")).map_err(|_| {
        QueryError::exec(format!(
            "invalid regular expression in label_replace(): {regex}"
        ))
    })?;
    if !valid_label_name(&dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    Ok(v.into_iter()
        .map(|e| {
            let Some(caps) = re.captures(e.labels.get(&src).unwrap_or("")) else {
                return e;
            };
            let mut value = String::new();
            caps.expand(&repl, &mut value);
            Element {
                labels: with_label(&e.labels, &dst, value),
                v: e.v,
            }
        })
        .collect())
}

/// `label_join(v, dst, separator, src...)`.
pub(crate) fn label_join(
    ev: &Evaluator<'_>,
    args: &[&Expr],
    t: i64,
) -> Result<Vec<Element>, QueryError> {
    let v = ev.vector(arg(args, 0)?, t)?;
    let dst = string(ev, args, 1, t)?;
    let sep = string(ev, args, 2, t)?;
    let srcs = (3..args.len())
        .map(|i| string(ev, args, i, t))
        .collect::<Result<Vec<_>, _>>()?;
    if !valid_label_name(&dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    if let Some(bad) = srcs.iter().find(|s| !valid_label_name(s)) {
        return Err(QueryError::exec(format!(
            "invalid source label name in label_join(): {bad}"
        )));
    }
    Ok(v.into_iter()
        .map(|e| {
            let joined: Vec<&str> = srcs.iter().map(|s| e.labels.get(s).unwrap_or("")).collect();
            Element {
                labels: with_label(&e.labels, &dst, joined.join(&sep)),
                v: e.v,
            }
        })
        .collect())
}

fn string(ev: &Evaluator<'_>, args: &[&Expr], i: usize, t: i64) -> Result<String, QueryError> {
    match ev.eval(arg(args, i)?, t)? {
        Value::String(s) => Ok(s),
        other => Err(QueryError::exec(format!(
            "expected string, got {}",
            other.type_name()
        ))),
    }
}

/// `labels` with `name` set to `value`, or removed when `value` is empty.
fn with_label(labels: &Labels, name: &str, value: String) -> Labels {
    let mut v: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    v.push(Label {
        name: name.into(),
        value: value.into(),
    });
    Labels::new(v)
}

/// Prometheus' label name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
