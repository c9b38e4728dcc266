//! Each service measured on both sides in a round: its SLIs (request rate, error ratio,
//! latency p50 and p99, saturation), the same templates run with each environment's matchers,
//! so a VM fleet and a Kubernetes cluster compare on the same figures; and the traffic the
//! target actually takes against the phase's plan.

use super::plan::{Plan, Service};
use super::sli;
use super::traffic::{self, Shift};
use crate::query::{Engine, Value};

/// One side's SLIs as last measured; `None` where the plan gives no template or there was no
/// data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sli {
    /// Requests a second.
    pub requests: Option<f64>,
    /// Errors ÷ requests.
    pub error_ratio: Option<f64>,
    /// Median latency, seconds.
    pub p50: Option<f64>,
    /// 99th percentile latency, seconds.
    pub p99: Option<f64>,
    /// Saturation, 0 to 1.
    pub saturation: Option<f64>,
}

/// One service as last measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The service.
    pub service: String,
    /// The source side's SLIs.
    pub source: Sli,
    /// The target side's SLIs.
    pub target: Sli,
    /// The target's share of requests against the phase's planned share.
    pub shift: Shift,
}

/// Every service of `plan` measured at `at_ms`, against `planned` percent of traffic on the
/// target with drift past `tolerance` points.
pub async fn services(
    engine: &Engine,
    plan: &Plan,
    planned: f64,
    tolerance: f64,
    at_ms: i64,
) -> Vec<Measured> {
    let mut out = Vec::with_capacity(plan.services.len());
    for service in &plan.services {
        let source = side(engine, service, &plan.environments.source, at_ms).await;
        let target = side(engine, service, &plan.environments.target, at_ms).await;
        let rate = |s: &Sli| s.requests.unwrap_or(f64::NAN);
        let shift = traffic::shift(rate(&source), rate(&target), planned, tolerance);
        out.push(Measured {
            service: service.name.clone(),
            source,
            target,
            shift,
        });
    }
    out
}

async fn side(engine: &Engine, service: &Service, matchers: &str, at_ms: i64) -> Sli {
    let saturation = (service.saturation.as_deref()).map(|s| sli::on_side(s, matchers, None));
    Sli {
        requests: value(engine, sli::requests(service, matchers), at_ms, sum).await,
        error_ratio: value(
            engine,
            sli::error_ratio(service, matchers, None),
            at_ms,
            max,
        )
        .await,
        p50: value(engine, sli::latency(service, matchers, 0.5), at_ms, max).await,
        p99: value(engine, sli::latency(service, matchers, 0.99), at_ms, max).await,
        saturation: value(engine, saturation, at_ms, max).await,
    }
}

/// A query's answer folded by `fold`; `None` without a query, on an error or without data.
async fn value(
    engine: &Engine,
    query: Option<Result<String, String>>,
    at_ms: i64,
    fold: fn(&[f64]) -> f64,
) -> Option<f64> {
    let query = query?.ok()?;
    let values = match engine.instant(&query, at_ms).await.ok()? {
        Value::Scalar(v) => vec![v],
        Value::Vector(elements) => elements.iter().map(|e| e.v).collect(),
        Value::String(_) | Value::Matrix(_) => Vec::new(),
    };
    let v = (!values.is_empty()).then(|| fold(&values))?;
    v.is_finite().then_some(v)
}

fn sum(values: &[f64]) -> f64 {
    values.iter().sum()
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
