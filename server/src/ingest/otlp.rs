//! OTLP/HTTP protobuf → [`WriteBatch`], in the Prometheus data model the agent's own `/metrics`
//! shows: gauges stay gauges; monotonic cumulative sums become counters under their own names;
//! other cumulative sums become gauges; cumulative histograms become `_bucket{le=..}` (cumulative,
//! `le` spelled as prometheus-client does: `1.0`, `+Inf`), `_sum` and `_count`; summaries become
//! `{quantile=..}`, `_sum` and `_count`. Resource attributes and then data point attributes become
//! labels, except `warroom.agent.id` and `warroom.batch.seq`, which make the [`BatchId`]. Delta
//! temporality and exponential histograms are counted as unsupported and left out.

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::{BatchBuilder, Decoded, IngestError, label_budget, otlp_size};
use crate::model::intern::with_interner;
use crate::model::{AppendReport, BatchId, Label, Labels, METRIC_NAME, Sample};

/// The resource attribute carrying the sending agent's id.
pub const AGENT_ID_ATTR: &str = "warroom.agent.id";
/// The resource attribute carrying the batch's sequence number.
pub const SEQ_ATTR: &str = "warroom.batch.seq";

/// OTLP's "no recorded value" data point flag: Prometheus' staleness marker.
const NO_RECORDED_VALUE: u32 = 1;

/// Decodes an uncompressed `ExportMetricsServiceRequest` of at most `max_samples` samples,
/// refused first if prost would allocate too much for it ([`otlp_size`]).
pub fn decode(raw: &[u8], max_samples: usize) -> Result<Decoded, IngestError> {
    otlp_size::within_decoded_budget(raw)?;
    let req = ExportMetricsServiceRequest::decode(raw).map_err(|e| {
        IngestError::Malformed(format!("not an OTLP ExportMetricsServiceRequest: {e}"))
    })?;
    let mut out = Builder {
        batch: BatchBuilder::interned(max_samples, 0).within_labels(label_budget(raw.len())),
        unsupported: 0,
    };
    let mut id = None;
    for rm in &req.resource_metrics {
        let (base, rid) = resource(rm.resource.as_ref())?;
        id = agree(id, rid)?;
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            out.metric(&base, m)?;
        }
    }
    Ok(Decoded {
        batch: out.batch.finish(id),
        known: Default::default(),
        unsupported: out.unsupported,
    })
}

/// The response body: `partial_success` says how many points were dropped and why.
pub fn response(report: &AppendReport, unsupported: u64) -> Vec<u8> {
    let rejected = report.out_of_order + report.duplicates + unsupported;
    let partial_success = (rejected > 0).then(|| ExportMetricsPartialSuccess {
        rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: format!(
            "dropped {} out-of-order, {} duplicate and {} unsupported (delta or exponential) samples",
            report.out_of_order, report.duplicates, unsupported
        ),
    });
    ExportMetricsServiceResponse { partial_success }.encode_to_vec()
}

/// Every resource of a request must name the same batch, if any.
fn agree(seen: Option<BatchId>, next: Option<BatchId>) -> Result<Option<BatchId>, IngestError> {
    match (seen, next) {
        (Some(a), Some(b)) if a != b => Err(IngestError::Malformed(
            "resources of one request carry different warroom batch ids".into(),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// The resource's labels and, when it has both `warroom.agent.id` and `warroom.batch.seq`, the
/// batch id.
fn resource(r: Option<&Resource>) -> Result<(Vec<Label>, Option<BatchId>), IngestError> {
    let attrs = r.map_or(&[][..], |r| &r.attributes[..]);
    let (mut agent, mut seq) = (None, None);
    let mut labels = Vec::with_capacity(attrs.len());
    for kv in attrs {
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        match (kv.key.as_str(), value) {
            (AGENT_ID_ATTR, Some(any_value::Value::StringValue(s))) => agent = Some(s.clone()),
            (SEQ_ATTR, Some(any_value::Value::IntValue(n))) => {
                seq =
                    Some(u64::try_from(*n).map_err(|_| {
                        IngestError::Malformed(format!("{SEQ_ATTR} is negative: {n}"))
                    })?);
            }
            (AGENT_ID_ATTR | SEQ_ATTR, _) => {
                return Err(IngestError::Malformed(format!(
                    "{} has the wrong type (want a string id and an integer sequence)",
                    kv.key
                )));
            }
            _ => labels.extend(label(kv)),
        }
    }
    let id = agent.zip(seq).map(|(agent, seq)| BatchId { agent, seq });
    Ok((labels, id))
}

/// A scalar attribute as a label, its strings from the symbol table.
fn label(kv: &KeyValue) -> Option<Label> {
    let (name, value) = text_label(kv)?;
    with_interner(|table| {
        Some(Label {
            name: table.intern(&name),
            value: table.intern(&value),
        })
    })
}

/// A scalar attribute as label text; arrays, maps and bytes carry no label value.
fn text_label(kv: &KeyValue) -> Option<(String, String)> {
    let value = match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        _ => return None,
    };
    Some((sanitize(&kv.key, false), value))
}

/// Prometheus names: letters, digits and `_` (and `:` in metric names); anything else becomes
/// `_`, and a leading digit gets a `_` in front. Valid names (all of the agent's) stay as they are.
fn sanitize(name: &str, metric: bool) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':');
    let mut out: String = name.chars().map(|c| if ok(c) { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn millis(unix_nano: u64) -> i64 {
    i64::try_from(unix_nano / 1_000_000).unwrap_or(i64::MAX)
}

fn is_cumulative(temporality: i32) -> bool {
    temporality == AggregationTemporality::Cumulative as i32
}

/// A Prometheus bucket bound as the agent's `/metrics` prints it (prometheus-client's format).
fn le(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{bound:?}")
    }
}

/// The batch being built, and how many points were left out.
struct Builder {
    batch: BatchBuilder,
    unsupported: u64,
}

impl Builder {
    fn metric(&mut self, base: &[Label], m: &Metric) -> Result<(), IngestError> {
        let name = sanitize(&m.name, true);
        if name.is_empty() {
            return Err(IngestError::Malformed("a metric has no name".into()));
        }
        let series = Named { base, name: &name };
        match &m.data {
            Some(metric::Data::Gauge(g)) => self.numbers(&series, &g.data_points),
            Some(metric::Data::Sum(s)) if is_cumulative(s.aggregation_temporality) => {
                self.numbers(&series, &s.data_points)
            }
            Some(metric::Data::Histogram(h)) if is_cumulative(h.aggregation_temporality) => h
                .data_points
                .iter()
                .try_for_each(|p| self.histogram(&series, p)),
            Some(metric::Data::Summary(s)) => s
                .data_points
                .iter()
                .try_for_each(|p| self.summary(&series, p)),
            Some(metric::Data::Sum(s)) => self.skip(s.data_points.len()),
            Some(metric::Data::Histogram(h)) => self.skip(h.data_points.len()),
            Some(metric::Data::ExponentialHistogram(h)) => self.skip(h.data_points.len()),
            None => Ok(()),
        }
    }

    fn skip(&mut self, points: usize) -> Result<(), IngestError> {
        self.unsupported += points as u64;
        Ok(())
    }

    fn numbers(
        &mut self,
        series: &Named<'_>,
        points: &[NumberDataPoint],
    ) -> Result<(), IngestError> {
        for p in points {
            let v = match p.value {
                _ if p.flags & NO_RECORDED_VALUE != 0 => crate::model::stale_nan(),
                Some(number_data_point::Value::AsDouble(v)) => v,
                Some(number_data_point::Value::AsInt(v)) => v as f64,
                None => {
                    self.unsupported += 1;
                    continue;
                }
            };
            let labels = series.labels("", &p.attributes, None);
            self.batch.push(
                labels,
                Sample {
                    t: millis(p.time_unix_nano),
                    v,
                },
            )?;
        }
        Ok(())
    }

    fn histogram(&mut self, series: &Named<'_>, p: &HistogramDataPoint) -> Result<(), IngestError> {
        let buckets = p.bucket_counts.len();
        if buckets != 0 && buckets != p.explicit_bounds.len() + 1 {
            return Err(IngestError::Malformed(format!(
                "histogram {}: {} bucket counts for {} bounds (want bounds + 1)",
                series.name,
                buckets,
                p.explicit_bounds.len()
            )));
        }
        let t = millis(p.time_unix_nano);
        let mut cumulative = 0u64;
        for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
            cumulative = cumulative.saturating_add(*count);
            let labels = series.labels("_bucket", &p.attributes, Some(("le", le(*bound))));
            self.batch.push(
                labels,
                Sample {
                    t,
                    v: cumulative as f64,
                },
            )?;
        }
        let inf = series.labels("_bucket", &p.attributes, Some(("le", le(f64::INFINITY))));
        self.batch.push(
            inf,
            Sample {
                t,
                v: p.count as f64,
            },
        )?;
        if let Some(sum) = p.sum {
            let labels = series.labels("_sum", &p.attributes, None);
            self.batch.push(labels, Sample { t, v: sum })?;
        }
        let labels = series.labels("_count", &p.attributes, None);
        self.batch.push(
            labels,
            Sample {
                t,
                v: p.count as f64,
            },
        )
    }

    fn summary(&mut self, series: &Named<'_>, p: &SummaryDataPoint) -> Result<(), IngestError> {
        let t = millis(p.time_unix_nano);
        for q in &p.quantile_values {
            let quantile = Some(("quantile", q.quantile.to_string()));
            let labels = series.labels("", &p.attributes, quantile);
            self.batch.push(labels, Sample { t, v: q.value })?;
        }
        let labels = series.labels("_sum", &p.attributes, None);
        self.batch.push(labels, Sample { t, v: p.sum })?;
        let labels = series.labels("_count", &p.attributes, None);
        self.batch.push(
            labels,
            Sample {
                t,
                v: p.count as f64,
            },
        )
    }
}

/// A metric's name and its resource's labels, from which each data point's label set is made.
struct Named<'a> {
    base: &'a [Label],
    name: &'a str,
}

impl Named<'_> {
    /// `name + suffix`, the point's attributes, then `extra` (`le`, `quantile`), then the
    /// resource's labels; the first value of a repeated name wins.
    fn labels(&self, suffix: &str, attrs: &[KeyValue], extra: Option<(&str, String)>) -> Labels {
        let name = format!("{}{suffix}", self.name);
        let attrs: Vec<_> = attrs.iter().filter_map(text_label).collect();
        // Every string from the symbol table (one lock per set), as the batch builder and the
        // store's index expect: equal strings are then one pointer.
        let mut labels = with_interner(|table| {
            let mut label = |name: &str, value: &str| Label {
                name: table.intern(name),
                value: table.intern(value),
            };
            let mut labels = Vec::with_capacity(attrs.len() + self.base.len() + 2);
            labels.push(label(METRIC_NAME, &name));
            if let Some((name, value)) = &extra {
                labels.push(label(name, value));
            }
            labels.extend(attrs.iter().map(|(name, value)| label(name, value)));
            labels
        });
        labels.extend_from_slice(self.base);
        Labels::new(labels)
    }
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
