//! The buffer of the latest collection as Prometheus text: a prometheus-client [`Collector`] over
//! the shared snapshot, registered beside the agent's own metrics in one registry whose constant
//! labels (`node`, `cluster`, `env`) every sample carries.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::metrics::{Buffer, Family, HistogramValue, Kind, Value};

/// The content type of [`encode`]'s output.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`to_prometheus_text`]'s output.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The latest finished collection, shared between the collection loop and `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct Snapshot(Arc<RwLock<Arc<Buffer>>>);

impl Snapshot {
    /// Replaces the latest collection.
    pub fn publish(&self, buf: Arc<Buffer>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = buf;
    }

    /// The latest collection.
    pub fn latest(&self) -> Arc<Buffer> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.latest().families() {
            encode_family(&mut encoder, family)?;
        }
        Ok(())
    }
}

/// A registry whose samples all carry `node`, `cluster` and `env`.
pub fn registry(node: &str, cluster: &str, env: &str) -> Registry {
    let labels = [("node", node), ("cluster", cluster), ("env", env)]
        .map(|(k, v)| (Cow::Borrowed(k), Cow::Owned(v.to_string())));
    Registry::with_labels(labels.into_iter())
}

/// Renders `registry` as OpenMetrics text.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(64 * 1024);
    prometheus_client::encoding::text::encode(&mut out, registry)
        .expect("writing to a String cannot fail");
    out
}

/// Turns OpenMetrics text into the Prometheus 0.0.4 text format that node_exporter serves and
/// `promtool check metrics` reads: counter families are named with their `_total` suffix in
/// `# HELP`/`# TYPE`, and `# UNIT`/`# EOF` lines are dropped.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let suffix = if kind == "counter" && !name.ends_with("_total") {
                "_total"
            } else {
                ""
            };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name}{suffix} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn encode_family(encoder: &mut DescriptorEncoder, family: &Family) -> Result<(), std::fmt::Error> {
    let (name, metric_type) = match family.kind {
        // prometheus-client appends `_total` to counters itself.
        Kind::Counter => (family.name.trim_end_matches("_total"), MetricType::Counter),
        Kind::Gauge => (&*family.name, MetricType::Gauge),
        Kind::Histogram => (&*family.name, MetricType::Histogram),
        // The 0.0.4 text format Prometheus tools read has no `unknown` type; a gauge reads alike.
        Kind::Untyped => (&*family.name, MetricType::Gauge),
    };
    let mut metric = encoder.encode_descriptor(name, &family.help, None, metric_type)?;
    for sample in &family.samples {
        let mut series = metric.encode_family(&sample.labels)?;
        match (&sample.value, family.kind) {
            (Value::Number(v), Kind::Counter) => {
                series.encode_counter::<NoLabelSet, _, f64>(v, None)?;
            }
            (Value::Number(v), _) => series.encode_gauge(v)?,
            (Value::Histogram(h), _) => {
                series.encode_histogram::<NoLabelSet>(h.sum, h.count, &per_bucket(h), None)?;
            }
        }
    }
    Ok(())
}

/// prometheus-client takes per-bucket counts and accumulates them itself.
fn per_bucket(h: &HistogramValue) -> Vec<(f64, u64)> {
    let mut previous = 0;
    h.buckets
        .iter()
        .map(|&(le, cumulative)| {
            let count = cumulative.saturating_sub(previous);
            previous = cumulative;
            (le, count)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    fn rendered(buf: Buffer) -> String {
        let snapshot = Snapshot::default();
        snapshot.publish(Arc::new(buf));
        let mut registry = registry("n1", "c1", "target");
        registry.register_collector(Box::new(snapshot));
        encode(&registry)
    }

    #[test]
    fn every_sample_carries_node_cluster_and_env_and_counters_keep_their_total_suffix() {
        let mut buf = Buffer::new();
        buf.counter("node_cpu_seconds_total", "CPU.")
            .push(labels!["cpu" => 0, "mode" => "idle"], 1.5);
        let text = rendered(buf);
        assert!(text.contains("# TYPE node_cpu_seconds counter"), "{text}");
        assert!(
            text.contains(r#"node_cpu_seconds_total{node="n1",cluster="c1",env="target",cpu="0",mode="idle"} 1.5"#),
            "{text}"
        );
    }

    #[test]
    fn prometheus_text_names_counter_families_with_their_suffix() {
        let mut buf = Buffer::new();
        buf.counter("a_total", "A counter.").push(vec![], 1.0);
        buf.gauge("b", "A gauge.").push(vec![], 2.0);
        let text = to_prometheus_text(&rendered(buf));
        assert!(
            text.contains("# HELP a_total A counter.\n# TYPE a_total counter\na_total{"),
            "{text}"
        );
        assert!(text.contains("# TYPE b gauge\nb{"), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }

    #[test]
    fn histograms_are_rendered_cumulatively() {
        let mut buf = Buffer::new();
        let h = HistogramValue {
            buckets: vec![(0.1, 2), (1.0, 5), (f64::INFINITY, 6)],
            sum: 3.0,
            count: 6,
        };
        buf.family("probe_seconds", "P.", Kind::Histogram)
            .push_histogram(vec![], h);
        let text = rendered(buf);
        assert!(
            text.contains(
                r#"probe_seconds_bucket{node="n1",cluster="c1",env="target",le="1.0"} 5"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"le="+Inf"} 6"#), "{text}");
    }
}
