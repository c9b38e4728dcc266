//! The direct writer against prometheus-client's encoder, and the formats it serves.

use super::*;
use crate::labels;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

fn exposition(buf: Buffer) -> Exposition {
    let snapshot = Snapshot::default();
    snapshot.publish(Arc::new(buf));
    Exposition::new(
        snapshot,
        registry("n1", "c1", "target"),
        "n1",
        "c1",
        "target",
    )
}

fn rendered(buf: Buffer) -> String {
    exposition(buf).render(Format::OpenMetrics)
}

/// The buffer through prometheus-client's own encoder: what the direct writer must match.
#[derive(Debug)]
struct Reference(Buffer);

impl Collector for Reference {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.0.families() {
            let (name, metric_type) = match family.kind {
                Kind::Counter => (family.name.trim_end_matches("_total"), MetricType::Counter),
                Kind::Histogram => (&*family.name, MetricType::Histogram),
                Kind::Gauge | Kind::Untyped => (&*family.name, MetricType::Gauge),
            };
            let mut metric = encoder.encode_descriptor(name, &family.help, None, metric_type)?;
            for sample in &family.samples {
                let labels: &Labels = &sample.labels;
                let mut series = metric.encode_family(labels)?;
                match (&sample.value, family.kind) {
                    (Value::Number(v), Kind::Counter) => {
                        series.encode_counter::<NoLabelSet, _, f64>(v, None)?
                    }
                    (Value::Number(v), _) => series.encode_gauge(v)?,
                    (Value::Histogram(h), _) => {
                        let mut previous = 0;
                        let per_bucket: Vec<(f64, u64)> = (h.buckets.iter())
                            .map(|&(le, c)| (le, c - std::mem::replace(&mut previous, c)))
                            .collect();
                        series.encode_histogram::<NoLabelSet>(h.sum, h.count, &per_bucket, None)?
                    }
                }
            }
        }
        Ok(())
    }
}

fn every_kind() -> Buffer {
    let mut buf = Buffer::new();
    buf.counter("node_cpu_seconds_total", "CPU.")
        .push(labels!["cpu" => 0, "mode" => "idle"], 1.5);
    buf.gauge("g", "A \"gauge\".")
        .push(labels!["v" => "a\"b\\c\nd"], 1e21);
    buf.gauge("g", "A \"gauge\".").push(vec![], -0.25);
    buf.family("u", "Untyped.", Kind::Untyped).push(vec![], 3.0);
    let h = HistogramValue {
        buckets: vec![(0.005, 0), (0.1, 2), (1.0, 5), (f64::INFINITY, 6)],
        sum: 3.0,
        count: 6,
    };
    buf.family("probe_seconds", "P.", Kind::Histogram)
        .push_histogram(labels!["target" => "x"], h.clone());
    // One label set shared by several families, as a container's is: written once, copied.
    let shared = SharedLabels::new(labels!["id" => "/a\"b", "pod" => "p"]);
    buf.counter("container_cpu_usage_seconds_total", "C.")
        .push(shared.clone(), 2.0);
    buf.gauge("container_memory_rss", "M.")
        .push(shared.clone(), 4.0);
    buf.family("probe_seconds", "P.", Kind::Histogram)
        .push_histogram(shared, h);
    buf
}

#[test]
fn the_direct_writer_matches_prometheus_client_byte_for_byte() {
    let mut reference = registry("n1", "c1", "target");
    reference.register_collector(Box::new(Reference(every_kind())));
    let expected = encode(&reference);

    let ours = exposition(every_kind());

    // The own-metrics registry is empty here, so both end with the same `# EOF`.
    assert_eq!(ours.render(Format::OpenMetrics), expected);
    assert_eq!(
        ours.render(Format::Prometheus),
        to_prometheus_text(&expected)
    );
}

#[test]
fn every_sample_carries_node_cluster_and_env_and_counters_keep_their_total_suffix() {
    let mut buf = Buffer::new();
    buf.counter("node_cpu_seconds_total", "CPU.")
        .push(labels!["cpu" => 0, "mode" => "idle"], 1.5);
    let text = rendered(buf);
    assert!(text.contains("# TYPE node_cpu_seconds counter"), "{text}");
    assert!(
        text.contains(
            r#"node_cpu_seconds_total{node="n1",cluster="c1",env="target",cpu="0",mode="idle"} 1.5"#
        ),
        "{text}"
    );
}

#[test]
fn prometheus_text_names_counter_families_with_their_suffix() {
    let mut buf = Buffer::new();
    buf.counter("a_total", "A counter.").push(vec![], 1.0);
    buf.gauge("b", "A gauge.").push(vec![], 2.0);
    let text = exposition(buf).render(Format::Prometheus);
    assert!(
        text.contains("# HELP a_total A counter.\n# TYPE a_total counter\na_total{"),
        "{text}"
    );
    assert!(text.contains("# TYPE b gauge\nb{"), "{text}");
    assert!(!text.contains("# EOF"), "{text}");
}

#[test]
fn histograms_are_rendered_cumulatively() {
    let text = rendered(every_kind());
    assert!(
        text.contains(
            r#"probe_seconds_bucket{node="n1",cluster="c1",env="target",le="1.0",target="x"} 5"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"le="+Inf",target="x"} 6"#), "{text}");
}

#[test]
fn the_agents_own_metrics_follow_the_snapshot_and_openmetrics_ends_with_eof() {
    let snapshot = Snapshot::default();
    let mut buf = Buffer::new();
    buf.gauge("b", "B.").push(vec![], 2.0);
    snapshot.publish(Arc::new(buf));
    let mut own = registry("n1", "c1", "target");
    let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
    own.register("warroom_agent_collections", "Passes.", counter.clone());
    counter.inc();
    let exposition = Exposition::new(snapshot, own, "n1", "c1", "target");

    let om = exposition.render(Format::OpenMetrics);
    let text = exposition.render(Format::Prometheus);

    assert!(om.starts_with("# HELP b B.\n"), "{om}");
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(
        text.contains("# TYPE warroom_agent_collections_total counter\n"),
        "{text}"
    );
}
