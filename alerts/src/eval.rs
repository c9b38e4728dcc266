//! Evaluating a rule group, as Prometheus' rule manager does: rules in order at one timestamp;
//! a recording rule's result is written before the next rule runs; an alerting rule's results
//! drive its alert states and give the alerts, labelled and annotated, to the dispatcher.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::dispatch::fingerprint;
use crate::notify::AlertView;
use crate::rules::{AlertRule, RecordRule, Rule, RuleGroup};
use crate::state::{AlertState, LabelSet, RuleState, Timing, Transition};
use crate::template::{Data, expand};

/// Runs an instant PromQL query (the server answers it from its store).
#[async_trait::async_trait]
pub trait InstantQuery: Send + Sync {
    /// Series labels (with `__name__` where the result has one) and values at `at`.
    async fn query(&self, expr: &str, at: SystemTime) -> Result<Vec<(LabelSet, f64)>, String>;
}

/// Takes recorded series (the server appends them to its store).
#[async_trait::async_trait]
pub trait RecordSink: Send + Sync {
    /// Stores samples of recorded series at `at`.
    async fn record(&self, series: Vec<(LabelSet, f64)>, at: SystemTime) -> Result<(), String>;
}

/// What one evaluation of a group produced.
#[derive(Debug, Default)]
pub struct EvalOutput {
    /// Pending, firing and recently resolved alerts of every alerting rule.
    pub alerts: Vec<(AlertState, AlertView)>,
    /// State changes, for the timeline: (rule, labels, transition).
    pub transitions: Vec<(String, LabelSet, Transition)>,
    /// Rules that failed, with why; the others still ran.
    pub errors: Vec<(String, String)>,
}

/// A rule group with the alert states of its alerting rules.
#[derive(Debug)]
pub struct GroupEvaluator {
    /// The group.
    pub group: RuleGroup,
    states: Vec<RuleState>,
}

impl GroupEvaluator {
    /// A group with no alert active yet.
    pub fn new(group: RuleGroup) -> Self {
        let states = group.rules.iter().map(|_| RuleState::default()).collect();
        Self { group, states }
    }

    /// Takes back the firing alerts of this group's alerting rules after a restart: each view
    /// whose `alertname` names one of the rules and which has not ended.
    pub fn restore(&mut self, views: &[AlertView]) {
        for (rule, state) in self.group.rules.iter().zip(self.states.iter_mut()) {
            let Rule::Alert(a) = rule else { continue };
            let mine = views
                .iter()
                .filter(|v| v.ends_at.is_none() && v.labels.get("alertname") == Some(&a.name));
            for v in mine {
                state.restore(v.labels.clone(), v.starts_at);
            }
        }
    }

    /// Evaluates every rule at `now`.
    pub async fn evaluate(
        &mut self,
        q: &dyn InstantQuery,
        sink: &dyn RecordSink,
        now: SystemTime,
    ) -> EvalOutput {
        let mut out = EvalOutput::default();
        for (rule, state) in self.group.rules.iter().zip(self.states.iter_mut()) {
            let result = match rule {
                Rule::Record(r) => record(r, q, sink, now).await,
                Rule::Alert(a) => alert(a, state, q, now, &mut out).await,
            };
            if let Err(e) = result {
                out.errors.push((rule_name(rule).to_owned(), e));
            }
        }
        out
    }
}

fn rule_name(rule: &Rule) -> &str {
    match rule {
        Rule::Record(r) => &r.name,
        Rule::Alert(a) => &a.name,
    }
}

async fn record(
    r: &RecordRule,
    q: &dyn InstantQuery,
    sink: &dyn RecordSink,
    now: SystemTime,
) -> Result<(), String> {
    let rows = q.query(r.expr.as_str(), now).await?;
    let series = rows
        .into_iter()
        .map(|(mut labels, v)| {
            labels.insert("__name__".into(), r.name.clone());
            labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            (labels, v)
        })
        .collect();
    sink.record(series, now).await
}

async fn alert(
    a: &AlertRule,
    state: &mut RuleState,
    q: &dyn InstantQuery,
    now: SystemTime,
    out: &mut EvalOutput,
) -> Result<(), String> {
    let rows = q.query(a.expr.as_str(), now).await?;
    let mut values = BTreeMap::new();
    let results: Vec<(LabelSet, f64)> = rows
        .into_iter()
        .map(|(labels, v)| {
            let labels = alert_labels(a, labels, v);
            values.insert(labels.clone(), v);
            (labels, v)
        })
        .collect();
    let timing = Timing {
        hold: a.hold,
        keep_firing_for: a.keep_firing_for,
    };
    for (labels, t) in state.step(timing, results, now) {
        out.transitions.push((a.name.clone(), labels, t));
    }
    for alert in state.alerts() {
        let data = Data {
            labels: &alert.labels,
            value: alert.value,
        };
        let annotations = a
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), expand(v, &data)))
            .collect();
        let view = AlertView {
            fingerprint: fingerprint(&alert.labels),
            labels: alert.labels.clone(),
            annotations,
            starts_at: alert.fired_at.unwrap_or(alert.active_at),
            ends_at: alert.resolved_at,
        };
        out.alerts.push((alert.state, view));
    }
    Ok(())
}

/// Series labels without `__name__`, plus the rule's (templated) labels and `alertname`.
fn alert_labels(a: &AlertRule, mut labels: LabelSet, value: f64) -> LabelSet {
    labels.remove("__name__");
    let data_labels = labels.clone();
    let data = Data {
        labels: &data_labels,
        value,
    };
    for (k, v) in &a.labels {
        labels.insert(k.clone(), expand(v, &data));
    }
    labels.insert("alertname".into(), a.name.clone());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;
    use crate::testing::labels as series;
    use std::path::Path;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Answers every query from a table and records what recording rules wrote.
    #[derive(Default)]
    struct Fake {
        answers: Mutex<BTreeMap<String, Vec<(LabelSet, f64)>>>,
        recorded: Mutex<Vec<(LabelSet, f64)>>,
    }

    #[async_trait::async_trait]
    impl InstantQuery for Fake {
        async fn query(&self, expr: &str, _at: SystemTime) -> Result<Vec<(LabelSet, f64)>, String> {
            let answers = self.answers.lock().unwrap();
            answers
                .get(expr)
                .cloned()
                .ok_or_else(|| format!("unexpected query {expr}"))
        }
    }

    #[async_trait::async_trait]
    impl RecordSink for Fake {
        async fn record(
            &self,
            series: Vec<(LabelSet, f64)>,
            _at: SystemTime,
        ) -> Result<(), String> {
            self.recorded.lock().unwrap().extend(series);
            Ok(())
        }
    }

    const RULES: &str = r#"
groups:
  - name: cutover
    rules:
      - record: env:errors:rate5m
        expr: sum by (env) (rate(errors_total[5m]))
        labels: {team: sre}
      - alert: TargetErrors
        expr: env:errors:rate5m{env="target"} > 1
        for: 0s
        labels: {severity: page, side: "{{ $labels.env }}"}
        annotations: {summary: "{{ $labels.env }} errors at {{ $value }}/s"}
"#;

    #[tokio::test]
    async fn a_group_records_then_fires_an_alert_with_templated_labels_and_annotations() {
        // Arrange
        let file = parse_rules(Path::new("r.yaml"), RULES).unwrap();
        let mut group = GroupEvaluator::new(file.groups[0].clone());
        let fake = Fake::default();
        fake.answers.lock().unwrap().insert(
            "sum by (env) (rate(errors_total[5m]))".into(),
            vec![(series(&[("env", "target")]), 3.0)],
        );
        fake.answers.lock().unwrap().insert(
            "env:errors:rate5m{env=\"target\"} > 1".into(),
            vec![(
                series(&[
                    ("__name__", "env:errors:rate5m"),
                    ("env", "target"),
                    ("team", "sre"),
                ]),
                3.0,
            )],
        );
        // Act
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let out = group.evaluate(&fake, &fake, now).await;
        // Assert
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let recorded = fake.recorded.lock().unwrap().clone();
        assert_eq!(recorded[0].0["__name__"], "env:errors:rate5m");
        assert_eq!(recorded[0].0["team"], "sre");
        let (state, view) = &out.alerts[0];
        assert_eq!(*state, AlertState::Firing);
        assert_eq!(view.labels["alertname"], "TargetErrors");
        assert_eq!(view.labels["side"], "target");
        assert!(!view.labels.contains_key("__name__"));
        assert_eq!(view.annotations["summary"], "target errors at 3/s");
    }

    #[tokio::test]
    async fn a_failing_rule_is_reported_and_the_others_still_run() {
        let file = parse_rules(Path::new("r.yaml"), RULES).unwrap();
        let mut group = GroupEvaluator::new(file.groups[0].clone());
        let fake = Fake::default();
        fake.answers
            .lock()
            .unwrap()
            .insert("env:errors:rate5m{env=\"target\"} > 1".into(), vec![]);
        let out = group.evaluate(&fake, &fake, SystemTime::UNIX_EPOCH).await;
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].0, "env:errors:rate5m");
        assert!(out.alerts.is_empty());
    }
}
