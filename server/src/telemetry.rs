//! The server's own metrics, in one prometheus-client registry: samples ingested by protocol,
//! batches rejected and samples dropped by reason, the store's sizes, query latency, and the
//! standard `process_*` metrics.
//!
//! - [`process`]: the `process_*` metrics, read at scrape time.
//! - [`text`]: the exposition formats, OpenMetrics and Prometheus 0.0.4 text.

pub mod process;
pub mod text;

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::AppendReport;
use crate::store::StoreStats;
pub use text::Format;
use text::to_prometheus_text;

type Labeled<M> = Family<Vec<(&'static str, String)>, M>;
type Timings = Family<Vec<(&'static str, String)>, Histogram, fn() -> Histogram>;

/// Which ingest path a sample came in by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /v1/metrics`.
    Otlp,
    /// `POST /api/v1/write`.
    RemoteWrite,
}

impl Protocol {
    /// The `protocol` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Otlp => "otlp",
            Protocol::RemoteWrite => "remote_write",
        }
    }
}

/// Every metric the server exposes about itself.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    ingested: Labeled<Counter>,
    rejected: Labeled<Counter>,
    dropped: Labeled<Counter>,
    series: Gauge,
    active_series: Gauge,
    disk_bytes: Gauge,
    query_seconds: Timings,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMetrics {
    /// A registry with every metric registered at zero.
    pub fn new() -> Self {
        let query_seconds: Timings =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15)));
        let mut m = Self {
            registry: Registry::default(),
            ingested: Labeled::default(),
            rejected: Labeled::default(),
            dropped: Labeled::default(),
            series: Gauge::default(),
            active_series: Gauge::default(),
            disk_bytes: Gauge::default(),
            query_seconds,
        };
        m.register();
        match process::ProcessCollector::new() {
            Ok(c) => m.registry.register_collector(Box::new(c)),
            Err(e) => tracing::warn!("process_* metrics left out: {e}"),
        }
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "warroom_ingest_samples",
            "Samples stored, by ingest protocol",
            self.ingested.clone(),
        );
        r.register(
            "warroom_ingest_rejected_batches",
            "Ingest requests refused whole, by reason",
            self.rejected.clone(),
        );
        r.register(
            "warroom_ingest_dropped_samples",
            "Samples of accepted requests that were not stored, by reason",
            self.dropped.clone(),
        );
        r.register(
            "warroom_store_series",
            "Series known to the store",
            self.series.clone(),
        );
        r.register(
            "warroom_store_active_series",
            "Series with a sample in the live window",
            self.active_series.clone(),
        );
        r.register(
            "warroom_store_disk_bytes",
            "Bytes the store occupies on disk",
            self.disk_bytes.clone(),
        );
        r.register(
            "warroom_query_duration_seconds",
            "Time to answer Prometheus API queries, by route",
            self.query_seconds.clone(),
        );
    }

    /// Counts what the store did with an accepted batch, and samples the decoder left out.
    pub fn appended(&self, protocol: Protocol, report: &AppendReport, unsupported: u64) {
        self.ingested
            .get_or_create(&vec![("protocol", protocol.as_str().to_owned())])
            .inc_by(report.appended);
        for (reason, n) in [
            ("out_of_order", report.out_of_order),
            ("duplicate", report.duplicates),
            ("unsupported", unsupported),
        ] {
            self.dropped
                .get_or_create(&vec![("reason", reason.to_owned())])
                .inc_by(n);
        }
    }

    /// Counts a request refused whole, `reason` being a short snake_case word.
    pub fn rejected(&self, protocol: Protocol, reason: &'static str) {
        let labels = vec![
            ("protocol", protocol.as_str().to_owned()),
            ("reason", reason.to_owned()),
        ];
        self.rejected.get_or_create(&labels).inc();
    }

    /// Records how long a query on `route` took.
    pub fn query_took(&self, route: &str, took: Duration) {
        self.query_seconds
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(took.as_secs_f64());
    }

    /// Sets the store gauges from its latest sizes.
    pub fn store_stats(&self, stats: &StoreStats) {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.series.set(clamp(stats.series));
        self.active_series.set(clamp(stats.active_series));
        self.disk_bytes.set(clamp(stats.disk_bytes));
    }

    /// The registry as text in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; an encoder error would leave the text cut short.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("encoding the server's metrics: {e}");
        }
        match format {
            Format::OpenMetrics => out,
            Format::Prometheus => to_prometheus_text(&out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_under_their_names_and_labels() {
        let m = ServerMetrics::new();
        let report = AppendReport {
            appended: 5,
            out_of_order: 2,
            ..Default::default()
        };

        m.appended(Protocol::Otlp, &report, 1);
        m.rejected(Protocol::RemoteWrite, "malformed");
        m.store_stats(&StoreStats {
            series: 3,
            active_series: 2,
            disk_bytes: 4096,
        });
        m.query_took("/api/v1/query", Duration::from_millis(3));
        let text = m.render(Format::Prometheus);

        for line in [
            r#"warroom_ingest_samples_total{protocol="otlp"} 5"#,
            r#"warroom_ingest_dropped_samples_total{reason="out_of_order"} 2"#,
            r#"warroom_ingest_dropped_samples_total{reason="unsupported"} 1"#,
            r#"warroom_ingest_rejected_batches_total{protocol="remote_write",reason="malformed"} 1"#,
            "warroom_store_series 3",
            "warroom_store_disk_bytes 4096",
            r#"warroom_query_duration_seconds_count{route="/api/v1/query"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn counters_are_typed_under_their_total_name_in_the_text_format_and_without_in_openmetrics() {
        let m = ServerMetrics::new();
        let report = AppendReport {
            appended: 1,
            ..Default::default()
        };
        m.appended(Protocol::RemoteWrite, &report, 0);

        let text = m.render(Format::Prometheus);
        let open = m.render(Format::OpenMetrics);

        for line in [
            "# HELP warroom_ingest_samples_total Samples stored, by ingest protocol.",
            "# TYPE warroom_ingest_samples_total counter",
            "# TYPE process_cpu_seconds_total counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_start_time_seconds gauge",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            open.contains("# TYPE warroom_ingest_samples counter"),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"), "{open}");
    }
}
