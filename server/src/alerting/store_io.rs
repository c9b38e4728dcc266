//! The rules engine's two doors to the store: [`EngineQuery`] answers a rule's expression with
//! the PromQL engine, and [`StoreSink`] appends a recording rule's results as new samples.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use warroom_alerts::eval::{InstantQuery, RecordSink};
use warroom_alerts::state::LabelSet;

use super::records::to_ms;
use crate::model::is_stale;
use crate::model::{Labels, Sample, Series, WriteBatch};
use crate::query::{Engine, Value};
use crate::store::MetricStore;

/// Instant queries through the PromQL engine.
pub struct EngineQuery(pub Engine);

#[async_trait::async_trait]
impl InstantQuery for EngineQuery {
    async fn query(&self, expr: &str, at: SystemTime) -> Result<Vec<(LabelSet, f64)>, String> {
        let value = self
            .0
            .instant(expr, to_ms(at))
            .await
            .map_err(|e| e.to_string())?;
        match value {
            Value::Vector(v) => Ok(v.into_iter().map(|e| (label_set(&e.labels), e.v)).collect()),
            Value::Scalar(v) => Ok(vec![(LabelSet::new(), v)]),
            other => Err(format!(
                "a rule's expression must give a vector or a scalar, not a {}",
                other.type_name()
            )),
        }
    }
}

fn label_set(labels: &Labels) -> LabelSet {
    labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect::<BTreeMap<_, _>>()
}

/// Recording rules' results, appended to the store as ordinary samples.
pub struct StoreSink(pub Arc<dyn MetricStore>);

#[async_trait::async_trait]
impl RecordSink for StoreSink {
    async fn record(&self, series: Vec<(LabelSet, f64)>, at: SystemTime) -> Result<(), String> {
        let t = to_ms(at);
        let series: Vec<Series> = series
            .into_iter()
            .filter(|(_, v)| !is_stale(*v))
            .map(|(labels, v)| Series {
                labels: Labels::from_pairs(labels),
                samples: vec![Sample { t, v }],
            })
            .collect();
        if series.is_empty() {
            return Ok(());
        }
        let batch = WriteBatch { id: None, series };
        self.0
            .append(batch)
            .await
            .map(|_| ())
            .map_err(|e| format!("storing recorded samples: {e}"))
    }
}
