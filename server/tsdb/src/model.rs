//! The data every part of the server shares: labels, samples, series, matchers and write batches.

pub mod hash;
pub mod intern;
mod sym;
pub mod varint;

use std::fmt;

pub use sym::Sym;

/// The label that carries a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// The bit pattern of the NaN Prometheus writes to mark a series as gone.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Prometheus' stale marker as a value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether a value is Prometheus' stale marker (a particular NaN, not any NaN).
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One `name="value"` pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    /// Label name, e.g. `node`.
    pub name: Sym,
    /// Label value; never empty inside [`Labels`].
    pub value: Sym,
}

/// A label set sorted by name, one value per name, without empty values (as Prometheus keeps them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Sorts by name, drops empty values and keeps the first value of a repeated name.
    pub fn new(mut labels: Vec<Label>) -> Self {
        labels.retain(|l| !l.value.is_empty());
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        labels.dedup_by(|later, first| later.name == first.name);
        Self(labels)
    }

    /// Wraps labels that already form a label set (sorted by name, names unique, no empty
    /// value), such as one the store's index kept from [`Labels::new`], without sorting again.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(
            labels.windows(2).all(|w| w[0].name < w[1].name)
                && labels.iter().all(|l| !l.value.is_empty()),
            "not a label set: {labels:?}"
        );
        Self(labels)
    }

    /// Builds a label set from `(name, value)` pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Sym>,
        V: Into<Sym>,
    {
        Self::new(
            pairs
                .into_iter()
                .map(|(name, value)| Label {
                    name: name.into(),
                    value: value.into(),
                })
                .collect(),
        )
    }

    /// The value of `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The same set without `__name__`, as PromQL functions and operators return it.
    pub fn without_metric_name(&self) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .cloned()
                .collect(),
        )
    }

    /// The labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    /// The labels as a sorted slice.
    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the set has no label.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Takes the sorted labels out.
    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }
}

/// Prometheus' notation: `name{a="1", b="2"}`, or `{...}` without a name.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// One float sample: milliseconds since the Unix epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Timestamp in milliseconds since the Unix epoch.
    pub t: i64,
    /// The value (NaN and ±Inf allowed, as in Prometheus).
    pub v: f64,
}

/// A series and its samples in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The series' identity.
    pub labels: Labels,
    /// Samples, oldest first.
    pub samples: Vec<Sample>,
}

/// How a [`Matcher`] compares a label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored RE2 syntax)
    Regex,
    /// `!~`
    NotRegex,
}

/// A label matcher as in a PromQL selector; a missing label matches as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// The value or the regex source.
    pub value: String,
    regex: Option<regex::Regex>,
}

impl Matcher {
    /// Builds a matcher; regexes are anchored at both ends as Prometheus does.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(regex::Regex::new(&format!("^(?s:{value})$"))?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// `name="value"`, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (empty when the label is missing) matches.
    pub fn matches(&self, value: &str) -> bool {
        match (&self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether a whole label set passes this matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }

    /// True when the empty string matches, i.e. the matcher also selects series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// Whether a label set passes every matcher.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

/// The identity of an agent batch: replaying the same `(agent, seq)` is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BatchId {
    /// `warroom.agent.id` (or another sender id).
    pub agent: String,
    /// `warroom.batch.seq`, monotonic per agent.
    pub seq: u64,
}

/// What one ingest request carries, already decoded: applied whole or not at all.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    /// Set for agent batches; `None` for remote_write.
    pub id: Option<BatchId>,
    /// Series with their new samples.
    pub series: Vec<Series>,
}

impl WriteBatch {
    /// Number of samples in the batch.
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }
}

/// What the store did with a batch. Out-of-order and duplicate samples are dropped one by one and
/// counted, as Prometheus' scrape path does; the rest of the batch is applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// The batch id had been applied before; nothing was written.
    pub replayed: bool,
    /// Samples now stored.
    pub appended: u64,
    /// Samples older than their series' newest sample, dropped.
    pub out_of_order: u64,
    /// Samples at an existing timestamp with another value, dropped (same value: silently kept once).
    pub duplicates: u64,
    /// Series seen for the first time.
    pub series_created: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_deduplicated_and_drop_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn regex_matchers_are_anchored_and_missing_labels_match_empty() {
        let m = Matcher::new("job", MatchOp::Regex, "node|api").expect("regex");
        assert!(m.matches("api"));
        assert!(!m.matches("apiserver"));
        let absent = Matcher::new("pod", MatchOp::Equal, "").expect("matcher");
        assert!(absent.matches_labels(&Labels::from_pairs([("job", "x")])));
    }
}
