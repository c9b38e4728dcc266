//! The shared buffer every collector writes into: metric families with their samples, in the
//! Prometheus data model, independent of how they are exposed (text) or shipped (OTLP).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// The Prometheus type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic counter; its name ends in `_total`.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// A cumulative histogram with explicit bucket bounds.
    Histogram,
    /// A value of unknown type, kept where node_exporter exposes one (`node_netstat_*`,
    /// `node_vmstat_*`) so existing names stay the same.
    Untyped,
}

/// A label set: (name, value) pairs in the order they are rendered.
pub type Labels = Vec<(&'static str, String)>;

/// A label set shared by the series that carry it (a container's ~20 series hold one copy).
pub type SharedLabels = Arc<Labels>;

/// One histogram observation set: cumulative bucket counts by upper bound, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramValue {
    /// `(upper bound, cumulative count)`, ascending, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// The value of one sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter or gauge value.
    Number(f64),
    /// A histogram.
    Histogram(HistogramValue),
}

/// One series of a family at this collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels particular to this series (the agent's `node`, `cluster`, `env` are added on output),
    /// shared with the other series of the same object.
    pub labels: SharedLabels,
    /// The value.
    pub value: Value,
}

impl Sample {
    /// True when every `(name, value)` of `labels` is among this sample's labels.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.iter().any(|(lk, lv)| lk == k && lv == v))
    }
}

/// A metric family: a name, a help text, a type and its series.
#[derive(Debug, Clone)]
pub struct Family {
    /// The full Prometheus name (counters end in `_total`).
    pub name: Cow<'static, str>,
    /// One line of help.
    pub help: Cow<'static, str>,
    /// The type.
    pub kind: Kind,
    /// The series collected this time.
    pub samples: Vec<Sample>,
}

impl Family {
    /// Adds a counter or gauge sample; `labels` is a [`Labels`] or an already shared set.
    pub fn push(&mut self, labels: impl Into<SharedLabels>, value: f64) {
        self.samples.push(Sample {
            labels: labels.into(),
            value: Value::Number(value),
        });
    }

    /// Adds a histogram sample.
    pub fn push_histogram(&mut self, labels: impl Into<SharedLabels>, value: HistogramValue) {
        self.samples.push(Sample {
            labels: labels.into(),
            value: Value::Histogram(value),
        });
    }
}

/// All families of one collection, in the order they were first written.
#[derive(Debug, Default, Clone)]
pub struct Buffer {
    families: Vec<Family>,
    /// Position of each family by name: collectors look families up thousands of times a pass.
    index: HashMap<Cow<'static, str>, usize, FastHash>,
}

/// A fast hash for keys the agent makes itself (metric names, cgroup paths found by its walk),
/// so there is no flooding to defend against: rustc's Fx hash.
pub(crate) type FastHash = rustc_hash::FxBuildHasher;

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The family named `name`, created with `help` and `kind` when it is new this collection.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> &mut Family {
        let i = self.position(name, help, kind);
        &mut self.families[i]
    }

    /// Where the family named `name` is, created with `help` and `kind` when it is new this
    /// collection. The position holds for the rest of the collection: a writer of thousands of
    /// series looks a family up once and writes through [`Buffer::at`].
    pub fn position(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> usize {
        let name = name.into();
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.families.len();
        self.index.insert(name.clone(), i);
        self.families.push(Family {
            name,
            help: help.into(),
            kind,
            samples: Vec::new(),
        });
        i
    }

    /// The family at `position`, as [`Buffer::position`] returned it this collection.
    pub fn at(&mut self, position: usize) -> &mut Family {
        &mut self.families[position]
    }

    /// Shorthand for a counter family; `name` must end in `_total`.
    pub fn counter(&mut self, name: &'static str, help: &'static str) -> &mut Family {
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        self.family(name, help, Kind::Counter)
    }

    /// Shorthand for a gauge family.
    pub fn gauge(&mut self, name: &'static str, help: &'static str) -> &mut Family {
        self.family(name, help, Kind::Gauge)
    }

    /// The families, in first-written order.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Number of series in all families.
    pub fn series_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// The value of the first number sample of `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = &self.families[*self.index.get(name)?];
        family.samples.iter().find_map(|s| match &s.value {
            Value::Number(n) if s.has_labels(labels) => Some(*n),
            _ => None,
        })
    }

    /// Empties the buffer for the next collection.
    pub fn clear(&mut self) {
        self.families.clear();
        self.index.clear();
    }

    /// Empties every family for the next collection but keeps the families, in order, with their
    /// allocations: a pass of the same shape as the last allocates nothing for them.
    pub fn recycle(&mut self) {
        for family in &mut self.families {
            family.samples.clear();
        }
    }

    /// Drops families that have no series (a collector that found nothing to report).
    pub fn retain_non_empty(&mut self) {
        if self.families.iter().all(|f| !f.samples.is_empty()) {
            return;
        }
        // The index is renumbered in place, not rebuilt: no family name is hashed again.
        let mut kept = 0;
        let moved: Vec<Option<usize>> = (self.families.iter())
            .map(|f| {
                let at = (!f.samples.is_empty()).then_some(kept);
                kept += usize::from(at.is_some());
                at
            })
            .collect();
        self.families.retain(|f| !f.samples.is_empty());
        self.index.retain(|_, i| match moved[*i] {
            Some(to) => {
                *i = to;
                true
            }
            None => false,
        });
    }
}

/// The empty label set, shared by every series without labels, so writing one allocates nothing.
pub fn no_labels() -> SharedLabels {
    static EMPTY: std::sync::OnceLock<SharedLabels> = std::sync::OnceLock::new();
    EMPTY.get_or_init(SharedLabels::default).clone()
}

/// Returns a `'static` copy of `name`, made once per distinct name for the life of the process.
/// For metric names derived from kernel field names (`node_memory_*`, `node_netstat_*`): a fixed,
/// small set, so later collections reuse them without allocating.
pub fn intern(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = names.get(name) {
        return existing;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Builds a [`Labels`] from `name => value` pairs; values are anything `ToString`.
#[macro_export]
macro_rules! labels {
    ($($k:literal => $v:expr),* $(,)?) => {
        vec![$(($k, ::std::string::ToString::to_string(&$v))),*]
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_to_a_family_twice_appends_to_the_same_family() {
        let mut buf = Buffer::new();
        buf.counter("a_total", "A.").push(labels!["x" => 1], 1.0);
        buf.gauge("b", "B.").push(vec![], 2.0);
        buf.counter("a_total", "A.").push(labels!["x" => 2], 3.0);

        assert_eq!(buf.families().len(), 2);
        assert_eq!(buf.families()[0].samples.len(), 2);
        assert_eq!(buf.series_count(), 3);
    }

    #[test]
    fn a_recycled_buffer_keeps_its_families_in_order_and_drops_the_unwritten_ones() {
        let mut buf = Buffer::new();
        buf.gauge("a", "A.").push(vec![], 1.0);
        buf.gauge("b", "B.").push(vec![], 2.0);
        buf.recycle();

        buf.gauge("c", "C.").push(vec![], 3.0);
        buf.gauge("a", "A.").push(vec![], 4.0);
        buf.retain_non_empty();

        let names: Vec<&str> = buf.families().iter().map(|f| &*f.name).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(buf.value("a", &[]), Some(4.0));
        assert_eq!(buf.value("c", &[]), Some(3.0));
        assert_eq!(buf.series_count(), 2);
    }

    #[test]
    fn the_fast_hash_is_seedless_and_every_one_of_many_similar_names_finds_its_family() {
        use std::hash::BuildHasher;
        let names: Vec<String> = (0..5000)
            .map(|i| format!("node_netstat_TcpExt_{i}"))
            .collect();
        let mut buf = Buffer::new();

        for (i, name) in names.iter().enumerate() {
            buf.family(name.clone(), "H.", Kind::Gauge)
                .push(vec![], i as f64);
        }

        let hash = |name: &str| FastHash::default().hash_one(name);
        assert_eq!(hash("node_load1"), hash("node_load1"), "no per-map seed");
        assert_ne!(hash("node_load1"), hash("node_load5"));
        assert_eq!(buf.families().len(), names.len());
        for (i, name) in names.iter().enumerate() {
            assert_eq!(buf.value(name, &[]), Some(i as f64), "{name}");
        }
    }

    #[test]
    fn empty_families_are_dropped() {
        let mut buf = Buffer::new();
        buf.gauge("empty", "Nothing.");
        buf.gauge("full", "Something.").push(vec![], 1.0);
        buf.retain_non_empty();
        assert_eq!(buf.families().len(), 1);
    }
}
