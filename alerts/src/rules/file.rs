//! The rule file as written: `groups:` in Prometheus' format (existing files load unchanged) and
//! `slos:`. Every error names the file, line and column: `FILE:LINE:COL: what is wrong`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{AlertRule, Expr, PromDuration, RecordRule, Rule, RuleGroup};
use crate::slo::{Slo, SloSpec};

/// A loaded rule file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleFile {
    /// The rule groups.
    pub groups: Vec<RuleGroup>,
    /// The SLOs, checked (expand them with [`crate::slo::expand`]).
    pub slos: Vec<Slo>,
}

/// Why a rule file did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's content is wrong at a place.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when the parser gave no place).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    slos: Vec<SloSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    interval: Option<PromDuration>,
    #[allow(dead_code)] // accepted for compatibility; warroom does not cap alerts per group
    limit: Option<u64>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawRuleFields")]
struct RawRule(Rule);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleFields {
    alert: Option<String>,
    record: Option<String>,
    expr: Expr,
    #[serde(rename = "for")]
    hold: Option<PromDuration>,
    keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl TryFrom<RawRuleFields> for RawRule {
    type Error = String;

    fn try_from(mut r: RawRuleFields) -> Result<Self, String> {
        match (r.alert.take(), r.record.take()) {
            (Some(name), None) => Ok(RawRule(Rule::Alert(AlertRule {
                name,
                expr: r.expr,
                hold: r.hold.unwrap_or_default().0,
                keep_firing_for: r.keep_firing_for.unwrap_or_default().0,
                labels: r.labels,
                annotations: r.annotations,
            }))),
            (None, Some(name)) => record_rule(name, r),
            (Some(_), Some(_)) => Err("a rule has both `alert` and `record`".into()),
            (None, None) => Err("a rule needs `alert` or `record`".into()),
        }
    }
}

fn record_rule(name: String, r: RawRuleFields) -> Result<RawRule, String> {
    if r.hold.is_some() || r.keep_firing_for.is_some() || !r.annotations.is_empty() {
        return Err(format!(
            "recording rule {name:?} cannot have `for`, `keep_firing_for` or annotations"
        ));
    }
    if !is_metric_name(&name) {
        return Err(format!(
            "recording rule name {name:?} is not a valid metric name"
        ));
    }
    Ok(RawRule(Rule::Record(RecordRule {
        name,
        expr: r.expr,
        labels: r.labels,
    })))
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Reads and checks one rule file.
pub fn load_file(path: &Path) -> Result<RuleFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_rules(path, &text)
}

/// Checks every file, as `warroom rules check` does: all errors, not just the first file's.
pub fn check_files(paths: &[PathBuf]) -> Vec<LoadError> {
    let mut errors = Vec::new();
    for path in paths {
        match load_file(path) {
            Ok(file) => errors.extend(check_slos(path, &file)),
            Err(e) => errors.push(e),
        }
    }
    errors
}

/// SLOs must expand into rules that parse.
fn check_slos(path: &Path, file: &RuleFile) -> Vec<LoadError> {
    file.slos
        .iter()
        .filter_map(|slo| crate::slo::expand(slo).err())
        .map(|message| LoadError::Invalid {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message,
        })
        .collect()
}

/// Checks rule file text; `path` only names the file in errors.
pub fn parse_rules(path: &Path, text: &str) -> Result<RuleFile, LoadError> {
    let invalid = |line, column, message| LoadError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    let raw: RawFile = serde_norway::from_str(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let message = strip_location(&e.to_string());
        let (line, column) = refine_location(text, line, column, &message);
        invalid(line, column, message)
    })?;
    let mut names = HashSet::new();
    if let Some(dup) = raw.groups.iter().find(|g| !names.insert(g.name.as_str())) {
        let (line, column) = find_text(text, &dup.name);
        return Err(invalid(
            line,
            column,
            format!("group name {:?} is repeated", dup.name),
        ));
    }
    let slos = raw
        .slos
        .into_iter()
        .map(Slo::try_from)
        .collect::<Result<Vec<_>, _>>();
    let slos = slos.map_err(|e| invalid(0, 0, e))?;
    let groups = raw.groups.into_iter().map(into_group).collect();
    Ok(RuleFile { groups, slos })
}

fn into_group(g: RawGroup) -> RuleGroup {
    RuleGroup {
        name: g.name,
        interval: g.interval.map(|d| d.0),
        rules: g.rules.into_iter().map(|r| r.0).collect(),
    }
}

/// serde_norway appends " at line L column C"; the location is printed in front instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The YAML parser places errors raised by a value's own check at the start of the enclosing
/// mapping; point at the offending value instead (the `expr:` or the bad duration text).
fn refine_location(text: &str, line: usize, column: usize, message: &str) -> (usize, usize) {
    let needle = if message.contains("invalid PromQL") {
        Some("expr:".to_owned())
    } else {
        message.split("invalid duration ").nth(1).and_then(|rest| {
            let quoted = rest.split(':').next()?;
            Some(quoted.trim_matches('"').to_owned())
        })
    };
    let Some(needle) = needle.filter(|_| line > 0) else {
        return (line, column);
    };
    let after = text.lines().enumerate().skip(line - 1);
    let found = after
        .map(|(i, l)| (i, l.find(&needle)))
        .find_map(|(i, c)| Some((i, c?)));
    match found {
        Some((i, c)) if needle == "expr:" => {
            let rest = &text.lines().nth(i).unwrap_or_default()[c + needle.len()..];
            let pad = rest.len() - rest.trim_start().len();
            (i + 1, c + needle.len() + pad + 1)
        }
        Some((i, c)) => (i + 1, c + 1),
        None => (line, column),
    }
}

/// Line and column of the first occurrence of `needle`, for errors found after parsing.
fn find_text(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<RuleFile, String> {
        parse_rules(Path::new("r.yaml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_prometheus_rule_file_loads_unchanged() {
        let file = check(
            r#"
groups:
  - name: node
    interval: 30s
    rules:
      - record: instance:node_cpu:rate5m
        expr: sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))
      - alert: NodeFilesystemAlmostOutOfSpace
        expr: node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < 5
        for: 30m
        keep_firing_for: 5m
        labels:
          severity: warning
        annotations:
          summary: "Filesystem on {{ $labels.device }} has {{ printf \"%.2f\" $value }}% left."
"#,
        )
        .unwrap();
        assert_eq!(
            file.groups[0].interval,
            Some(std::time::Duration::from_secs(30))
        );
        let Rule::Alert(alert) = &file.groups[0].rules[1] else {
            panic!("alert rule expected")
        };
        assert_eq!(alert.hold, std::time::Duration::from_secs(1800));
        assert_eq!(alert.labels["severity"], "warning");
    }

    #[test]
    fn a_promql_error_names_the_file_line_and_column_of_the_expression() {
        let err =
            check("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n")
                .unwrap_err();
        assert!(
            err.starts_with("r.yaml:5:15: groups[0].rules[0]: invalid PromQL"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_place() {
        let err = check("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        fro: 5m\n")
            .unwrap_err();
        assert!(
            err.starts_with("r.yaml:6:9: groups[0].rules[0]: unknown field `fro`"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_duration_is_reported_where_it_is_written() {
        let err = check("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: 5 minutes\n")
            .unwrap_err();
        assert!(
            err.starts_with("r.yaml:6:14: groups[0].rules[0]: invalid duration"),
            "{err}"
        );
    }

    #[test]
    fn a_yaml_syntax_error_and_a_rule_without_a_name_are_reported() {
        assert!(check("groups: [\n").unwrap_err().starts_with("r.yaml:"));
        let err = check("groups:\n  - name: g\n    rules:\n      - expr: up\n").unwrap_err();
        assert!(err.contains("needs `alert` or `record`"), "{err}");
    }

    #[test]
    fn check_files_reports_every_bad_file_and_a_missing_one_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &good,
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n",
        )
        .unwrap();
        std::fs::write(
            &bad,
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n",
        )
        .unwrap();
        let missing = dir.path().join("missing.yaml");
        let errors = check_files(&[good, bad.clone(), missing.clone()]);
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0]
                .to_string()
                .starts_with(&format!("{}:5:15:", bad.display()))
        );
        assert!(
            errors[1]
                .to_string()
                .starts_with(&missing.display().to_string())
        );
    }

    #[test]
    fn a_repeated_group_name_is_rejected() {
        let err = check("groups:\n  - name: g\n  - name: g\n").unwrap_err();
        assert!(err.contains("repeated"), "{err}");
    }
}
