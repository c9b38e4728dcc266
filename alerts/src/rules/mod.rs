//! Prometheus rule groups, loaded unchanged from `rules/*.yaml`, plus warroom's `slos:` entries.
//!
//! - [`file`]: the YAML shapes and `FILE:LINE:COL: message` errors (`warroom rules check`).
//! - [`expr`]: parse-don't-validate newtypes for PromQL expressions and Prometheus durations.

pub mod expr;
pub mod file;

use std::collections::BTreeMap;
use std::time::Duration;

pub use expr::{Expr, PromDuration};
pub use file::{LoadError, RuleFile, check_files, load_file, parse_rules};

/// One rule group: its rules run in order at the group's interval.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleGroup {
    /// Group name, unique within a file.
    pub name: String,
    /// Evaluation interval; `None` means the server's default.
    pub interval: Option<Duration>,
    /// Rules in file order.
    pub rules: Vec<Rule>,
}

/// An alerting or a recording rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// `alert:` — produces alerts.
    Alert(AlertRule),
    /// `record:` — produces a new series.
    Record(RecordRule),
}

/// An `alert:` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    /// The alert name (becomes the `alertname` label).
    pub name: String,
    /// The condition: every series it returns is an active alert.
    pub expr: Expr,
    /// `for`: how long the condition must hold before firing.
    pub hold: Duration,
    /// `keep_firing_for`: how long it keeps firing once the condition is gone.
    pub keep_firing_for: Duration,
    /// Labels added to each alert (may use templates).
    pub labels: BTreeMap<String, String>,
    /// Annotations (templated with `$labels` and `$value`).
    pub annotations: BTreeMap<String, String>,
}

/// A `record:` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordRule {
    /// The new metric name.
    pub name: String,
    /// What to record.
    pub expr: Expr,
    /// Labels added to each recorded series.
    pub labels: BTreeMap<String, String>,
}
