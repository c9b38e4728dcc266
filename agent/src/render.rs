//! `/metrics` text: the latest collection written straight from the shared buffer (tens of
//! thousands of series on a busy node, so no per-sample trait objects or second pass), followed by
//! the agent's own metrics from a prometheus-client registry. Every sample carries the constant
//! labels `node`, `cluster` and `env`; the output is OpenMetrics or the Prometheus 0.0.4 text
//! format, byte for byte what prometheus-client and [`to_prometheus_text`] would write.
//! `/metrics` bodies (and their gzip'd form) are kept per collection and format while the own
//! metrics read the same (`served`).

mod served;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use prometheus_client::registry::Registry;

use crate::metrics::{Buffer, Family, FastHash, HistogramValue, Kind, Labels, SharedLabels, Value};
use served::Served;

/// The content type of OpenMetrics output.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of Prometheus 0.0.4 text output.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text format of one rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, for clients that ask for it (Prometheus does).
    OpenMetrics,
    /// The Prometheus 0.0.4 text format that node_exporter serves and `promtool` reads.
    Prometheus,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, the 0.0.4 text format otherwise.
    pub fn negotiate(accept: &str) -> Self {
        if accept.contains("application/openmetrics-text") {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS,
            Self::Prometheus => PROMETHEUS_TEXT,
        }
    }
}

/// The latest finished collection, shared between the collection loop and `/metrics`, with its
/// number (the renderings of `/metrics` are kept per collection).
#[derive(Debug, Default, Clone)]
pub struct Snapshot(Arc<RwLock<(Arc<Buffer>, u64)>>);

impl Snapshot {
    /// Replaces the latest collection and returns the one it replaces (to be freed or reused
    /// outside the lock, so a scrape never waits for that).
    pub fn publish(&self, buf: Arc<Buffer>) -> Arc<Buffer> {
        let mut latest = self.0.write().unwrap_or_else(|e| e.into_inner());
        latest.1 += 1;
        std::mem::replace(&mut latest.0, buf)
    }

    /// The latest collection.
    pub fn latest(&self) -> Arc<Buffer> {
        self.numbered().0
    }

    /// The latest collection and its number.
    fn numbered(&self) -> (Arc<Buffer>, u64) {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What `/metrics` renders: the latest snapshot and the registry of the agent's own metrics.
#[derive(Debug, Clone)]
pub struct Exposition {
    snapshot: Snapshot,
    registry: Arc<Registry>,
    /// `node="…",cluster="…",env="…"`, escaped once.
    const_labels: Arc<str>,
    /// Length of the last rendering, to allocate the next one once.
    last_len: Arc<AtomicUsize>,
    /// The latest collection's renderings.
    served: Arc<Served>,
}

impl Exposition {
    /// Renders `snapshot` then `registry` (built by [`registry`] with the same labels).
    pub fn new(
        snapshot: Snapshot,
        registry: Registry,
        node: &str,
        cluster: &str,
        env: &str,
    ) -> Self {
        let mut const_labels = String::new();
        for (k, v) in [("node", node), ("cluster", cluster), ("env", env)] {
            push_label(&mut const_labels, k, v);
        }
        Self {
            snapshot,
            registry: Arc::new(registry),
            const_labels: const_labels[1..].into(),
            last_len: Arc::default(),
            served: Arc::default(),
        }
    }

    /// The latest snapshot and the agent's own metrics as `format` text.
    pub fn render(&self, format: Format) -> String {
        let (snapshot, _) = self.snapshot.numbered();
        let mut out = self.snapshot_text(&snapshot, format);
        out.push_str(&self.own_text(format));
        out
    }

    /// What `GET /metrics` answers: [`Self::render`]'s text, gzip'd when `gzip`, kept while the
    /// collection and the own metrics stay the same (see `served`).
    pub fn body(&self, format: Format, gzip: bool) -> Bytes {
        let (snapshot, generation) = self.snapshot.numbered();
        let own = self.own_text(format);
        let render = || self.snapshot_text(&snapshot, format);
        if gzip {
            self.served.gzip((generation, format), &own, render)
        } else {
            self.served.text((generation, format), &own, render)
        }
    }

    /// `snapshot` as `format` text.
    fn snapshot_text(&self, snapshot: &Buffer, format: Format) -> String {
        let mut out = String::with_capacity(self.last_len.load(Ordering::Relaxed) + 4096);
        let mut shared = SharedText::default();
        for family in snapshot.families() {
            write_family(&mut out, family, &self.const_labels, format, &mut shared);
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        out
    }

    /// The agent's own metrics as `format` text.
    fn own_text(&self, format: Format) -> String {
        let own = encode(&self.registry);
        match format {
            Format::OpenMetrics => own,
            Format::Prometheus => to_prometheus_text(&own),
        }
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
    let mut out = String::with_capacity(4096);
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
                _ = writeln!(out, "# HELP {name}{suffix} {text}");
            }
            _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
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

/// Writes one family: its `# HELP` and `# TYPE` lines, then every sample.
fn write_family(
    out: &mut String,
    family: &Family,
    const_labels: &str,
    format: Format,
    shared: &mut SharedText,
) {
    let (name, kind) = match family.kind {
        // The `_total` suffix belongs to the samples; OpenMetrics names the family without it.
        Kind::Counter => (family.name.trim_end_matches("_total"), "counter"),
        Kind::Gauge => (&*family.name, "gauge"),
        Kind::Histogram => (&*family.name, "histogram"),
        // The 0.0.4 text format Prometheus tools read has no `unknown` type; a gauge reads alike.
        Kind::Untyped => (&*family.name, "gauge"),
    };
    let suffix = match (format, family.kind) {
        (Format::Prometheus, Kind::Counter) => "_total",
        _ => "",
    };
    for line in ["# HELP ", "# TYPE "] {
        out.push_str(line);
        out.push_str(name);
        out.push_str(suffix);
        out.push(' ');
        out.push_str(if line == "# HELP " {
            &family.help
        } else {
            kind
        });
        out.push('\n');
    }
    let sample_suffix = if family.kind == Kind::Counter {
        "_total"
    } else {
        ""
    };
    let mut line = Line {
        out,
        name,
        const_labels,
        shared,
    };
    for sample in &family.samples {
        match &sample.value {
            Value::Number(v) => {
                line.start(sample_suffix, &sample.labels, None);
                line.end(dtoa::Buffer::new().format(*v));
            }
            Value::Histogram(h) => line.histogram(&sample.labels, h),
        }
    }
}

/// The text (`,name="value"…`) of each label set that several series share, written once per
/// rendering and copied for the others: a container's ~20 series carry one set.
#[derive(Default)]
struct SharedText {
    text: String,
    /// Where each set's text is in `text`, by the set's address (the snapshot keeps every set
    /// alive, and so its address unique, for the whole rendering).
    spans: HashMap<usize, (usize, usize), FastHash>,
}

impl SharedText {
    /// Appends the text of `labels` to `out`.
    fn push(&mut self, out: &mut String, labels: &SharedLabels) {
        if labels.is_empty() {
            return;
        }
        if Arc::strong_count(labels) == 1 {
            push_labels(out, labels);
            return;
        }
        let text = &mut self.text;
        let &mut (start, end) = (self.spans)
            .entry(Arc::as_ptr(labels) as usize)
            .or_insert_with(|| {
                let start = text.len();
                push_labels(text, labels);
                (start, text.len())
            });
        out.push_str(&self.text[start..end]);
    }
}

/// Appends `,name="value"` for every label of `labels`.
fn push_labels(out: &mut String, labels: &Labels) {
    for (k, v) in labels {
        push_label(out, k, v);
    }
}

/// Writes sample lines of one family.
struct Line<'a> {
    out: &'a mut String,
    name: &'a str,
    const_labels: &'a str,
    shared: &'a mut SharedText,
}

impl Line<'_> {
    /// `name{suffix}{const labels[,le="…"],labels}` and the space before the value.
    fn start(&mut self, suffix: &str, labels: &SharedLabels, le: Option<&str>) {
        let out = &mut *self.out;
        out.push_str(self.name);
        out.push_str(suffix);
        out.push('{');
        out.push_str(self.const_labels);
        if let Some(le) = le {
            push_label(out, "le", le);
        }
        self.shared.push(out, labels);
        out.push_str("} ");
    }

    /// The value and the end of the line.
    fn end(&mut self, value: &str) {
        self.out.push_str(value);
        self.out.push('\n');
    }

    /// `_sum`, `_count` and one `_bucket` per bound, as prometheus-client writes them: its own
    /// running total of the per-bucket counts.
    fn histogram(&mut self, labels: &SharedLabels, h: &HistogramValue) {
        self.start("_sum", labels, None);
        self.end(dtoa::Buffer::new().format(h.sum));
        self.start("_count", labels, None);
        self.end(itoa::Buffer::new().format(h.count));
        let (mut previous, mut total) = (0u64, 0u64);
        for &(le, cumulative) in &h.buckets {
            total += cumulative.saturating_sub(previous);
            previous = cumulative;
            let mut bound = dtoa::Buffer::new();
            let le = if le == f64::INFINITY {
                "+Inf"
            } else {
                bound.format(le)
            };
            self.start("_bucket", labels, Some(le));
            self.end(itoa::Buffer::new().format(total));
        }
    }
}

/// Appends `,name="value"` with the value escaped (`\\`, `\"`, `\n`).
fn push_label(out: &mut String, name: &str, value: &str) {
    out.push(',');
    out.push_str(name);
    out.push_str("=\"");
    // A fold without early exit compiles to a vector loop; escapes are rare.
    let escape = (value.bytes()).fold(false, |e, b| e | matches!(b, b'\\' | b'"' | b'\n'));
    if escape {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(value);
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
