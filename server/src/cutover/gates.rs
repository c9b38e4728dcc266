//! A phase's gates as the server evaluates them: each gate of the plan becomes a [`GateSpec`]
//! (its name, kind, service and what makes it green), and a query's answer becomes a
//! [`Reading`] (the live value next to its threshold, green or not, and why not).

use std::fmt;

use serde::Serialize;

use super::plan::{Gate, Phase, Plan};
use super::sli;
use crate::query::Value;

/// The threshold a query's value is held to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// Green while the value is under it.
    Below(f64),
    /// Green while the value is over it.
    Above(f64),
}

/// What makes a gate green.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// A PromQL value held to a threshold (query and burn rate gates).
    Query {
        /// The query as run.
        query: String,
        /// Its threshold.
        threshold: Threshold,
    },
    /// Every runbook step of the phase done.
    Runbook,
    /// A person of this role signed the phase off.
    Signoff(String),
    /// This runbook step's verification passes.
    Integrity(String),
}

/// One gate of a phase, ready to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct GateSpec {
    /// Its name, unique within the phase (the plan's, or one made from its kind).
    pub name: String,
    /// `query`, `burn_rate`, `runbook`, `signoff` or `integrity`.
    pub kind: &'static str,
    /// The service it is about, if one.
    pub service: Option<String>,
    /// What makes it green, or why it cannot be evaluated (a template that did not expand).
    pub check: Result<Check, String>,
}

/// A gate's value as last evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The live value, if there was one.
    pub value: Option<f64>,
    /// Whether the gate holds.
    pub green: bool,
    /// Why it does not, when it does not.
    pub detail: Option<String>,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Below(t) => write!(f, "below {t}"),
            Threshold::Above(t) => write!(f, "above {t}"),
        }
    }
}

/// The gates of phase `phase` of `plan`.
pub fn specs(plan: &Plan, phase: &Phase) -> Vec<GateSpec> {
    phase.gates.iter().map(|g| spec(plan, g)).collect()
}

fn spec(plan: &Plan, gate: &Gate) -> GateSpec {
    if let Some(query) = &gate.query {
        let threshold = match (gate.below, gate.above) {
            (Some(b), _) => Threshold::Below(b),
            (None, Some(a)) => Threshold::Above(a),
            (None, None) => Threshold::Below(f64::NAN),
        };
        return GateSpec {
            name: gate.name.clone().unwrap_or_else(|| query.clone()),
            kind: "query",
            service: gate.service.clone(),
            check: Ok(Check::Query {
                query: query.clone(),
                threshold,
            }),
        };
    }
    if let Some(burn) = &gate.burn_rate {
        let service = plan.services.iter().find(|s| s.name == burn.service);
        let matchers = sli::matchers(plan, burn.env);
        let query = service
            .and_then(|s| sli::burn_rate(s, matchers, burn.window))
            .unwrap_or_else(|| Err(format!("service {} has no SLO or SLIs", burn.service)));
        return GateSpec {
            name: gate
                .name
                .clone()
                .unwrap_or_else(|| format!("{} burn rate", burn.service)),
            kind: "burn_rate",
            service: Some(burn.service.clone()),
            check: query.map(|query| Check::Query {
                query,
                threshold: Threshold::Below(burn.below),
            }),
        };
    }
    let (kind, default_name, check) = match (&gate.signoff, &gate.integrity) {
        (Some(role), _) => (
            "signoff",
            format!("signed off by the {role}"),
            Check::Signoff(role.clone()),
        ),
        (None, Some(step)) => (
            "integrity",
            format!("{step} verified"),
            Check::Integrity(step.clone()),
        ),
        (None, None) => ("runbook", "runbook steps done".to_owned(), Check::Runbook),
    };
    GateSpec {
        name: gate.name.clone().unwrap_or(default_name),
        kind,
        service: None,
        check: Ok(check),
    }
}

/// A query's answer held to `threshold`. A vector's worst element counts (the highest under
/// `below`, the lowest under `above`); no series, or a value that is not a number, is no data,
/// and no data is not green.
pub fn judge(answer: Result<Value, String>, threshold: Threshold) -> Reading {
    let value = match answer {
        Ok(v) => worst(&v, threshold),
        Err(e) => return not_green(None, format!("query failed: {e}")),
    };
    let Some(v) = value.filter(|v| !v.is_nan()) else {
        return not_green(None, "no data".into());
    };
    let green = match threshold {
        Threshold::Below(t) => v < t,
        Threshold::Above(t) => v > t,
    };
    match green {
        true => Reading {
            value: Some(v),
            green,
            detail: None,
        },
        false => not_green(Some(v), format!("{v} is not {threshold}")),
    }
}

/// A verification's answer: it passes while it returns a result (a non-empty vector, or a
/// scalar other than 0); its value is the first element's.
pub fn verified(answer: Result<Value, String>) -> Reading {
    match answer {
        Err(e) => not_green(None, format!("query failed: {e}")),
        Ok(Value::Scalar(v)) if v != 0.0 => green(v),
        Ok(Value::Vector(elements)) if !elements.is_empty() => green(elements[0].v),
        Ok(Value::Scalar(v)) => not_green(Some(v), "the verification returned 0".into()),
        Ok(_) => not_green(None, "the verification returned no result".into()),
    }
}

fn green(v: f64) -> Reading {
    Reading {
        value: Some(v),
        green: true,
        detail: None,
    }
}

fn not_green(value: Option<f64>, detail: String) -> Reading {
    Reading {
        value,
        green: false,
        detail: Some(detail),
    }
}

fn worst(v: &Value, threshold: Threshold) -> Option<f64> {
    let values: Vec<f64> = match v {
        Value::Scalar(x) => vec![*x],
        Value::Vector(elements) => elements.iter().map(|e| e.v).collect(),
        Value::String(_) | Value::Matrix(_) => Vec::new(),
    };
    if values.iter().any(|x| x.is_nan()) {
        return Some(f64::NAN);
    }
    let pick = match threshold {
        Threshold::Below(_) => f64::max,
        Threshold::Above(_) => f64::min,
    };
    values.into_iter().reduce(pick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::query::Element;

    fn vector(values: &[f64]) -> Value {
        let element = |v: &f64| Element {
            labels: Labels::default(),
            v: *v,
        };
        Value::Vector(values.iter().map(element).collect())
    }

    #[test]
    fn the_worst_element_is_held_to_the_threshold() {
        let below = judge(Ok(vector(&[0.001, 0.02])), Threshold::Below(0.01));
        let above = judge(Ok(vector(&[5.0, 2.0])), Threshold::Above(1.0));

        assert_eq!((below.value, below.green), (Some(0.02), false));
        assert_eq!(below.detail.as_deref(), Some("0.02 is not below 0.01"));
        assert_eq!((above.value, above.green), (Some(2.0), true));
    }

    #[test]
    fn no_series_a_nan_or_a_failed_query_is_not_green() {
        for answer in [
            Ok(vector(&[])),
            Ok(Value::Scalar(f64::NAN)),
            Err("boom".into()),
        ] {
            let r = judge(answer, Threshold::Below(1.0));
            assert!(!r.green, "{r:?}");
            assert!(r.detail.is_some());
        }
    }

    #[test]
    fn a_verification_passes_while_it_returns_a_result() {
        assert!(
            verified(Ok(vector(&[0.0]))).green,
            "a result, even 0, passes"
        );
        assert!(!verified(Ok(vector(&[]))).green);
        assert!(!verified(Ok(Value::Scalar(0.0))).green);
    }
}
