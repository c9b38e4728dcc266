//! The files users write, through the loaders the server runs: rule files (Prometheus rule
//! groups and `slos:`) through `alerting::files::load_rules`, `alerting.yaml` through
//! `alerting::files::load_routing` (which builds the integrations too), and `plan.yaml` through
//! `cutover::check::check_text` (`warroom plan check`). Inputs: mutations of
//! valid files with YAML's own tokens, and YAML generated from the files' keys.

use std::cell::RefCell;
use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;
use warroom_server::alerting::files::{load_routing, load_rules};
use warroom_server::alerting::settings::AlertingSettings;
use warroom_server::cutover::check::check_text;

use crate::{harness, mutate};

const RULES: &[&str] = &[
    r#"groups:
  - name: node
    interval: 30s
    limit: 10
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
    r#"slos:
  - service: checkout
    objective: 99.9
    window: 30d
    sli:
      ratio:
        errors: sum by (env) (rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
        total: sum by (env) (rate(http_requests_total{job="checkout"}[{{.window}}]))
groups:
  - name: g
    rules:
      - alert: Up
        expr: 1
"#,
];

const ALERTING: &[&str] = &[r#"global:
  pagerduty_url: http://127.0.0.1:9/v2/enqueue
  external_url: http://warroom.test
route:
  receiver: slack-warroom
  group_by: [alertname, env]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
  escalation: cutover
  routes:
    - matchers: ['env="target"', 'severity=~"page|critical"']
      receiver: pagerduty-sre
      continue: true
receivers:
  - name: slack-warroom
    slack_configs: [{api_url: "http://127.0.0.1:9/services/T/B/X"}]
  - name: pagerduty-sre
    pagerduty_configs: [{routing_key: abc}]
  - name: next-level
    pagerduty_configs: [{routing_key_env: PD_KEY}]
    email_configs: [{to: mgmt@example.com, from: warroom@example.com, smarthost: "127.0.0.1:2525"}]
    webhook_configs: [{url: "http://127.0.0.1:9/hook"}]
inhibit_rules:
  - source_matchers: ['severity="page"']
    target_matchers: ['severity="ticket"']
    equal: [alertname]
escalation_policies:
  - name: cutover
    tiers:
      - {after: 0s, receivers: [slack-warroom]}
      - {after: 15m, receivers: [pagerduty-sre]}
      - {after: 1h, receivers: [next-level]}
"#];

/// DESIGN.md's example plan, as the plan check's tests use it.
const PLANS: &[&str] = &[include_str!("../../src/cutover/example_plan.yaml")];

/// YAML's own syntax, durations and numbers at the edges, and an alias bomb's pieces.
const TOKENS: &[&str] = &[
    ":",
    "- ",
    "  ",
    "\t",
    "\n",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!!str ",
    "? ",
    "|",
    ">-",
    "~",
    "null",
    "1e999",
    "-.inf",
    ".nan",
    "99999999999999999999y",
    "0s",
    "1y1y",
    "-5m",
    "record: x",
    "alert: a",
    "expr: ",
    "for: ",
    "{{.window}}",
    "#",
    "%",
    "---\n",
    "...\n",
    "\u{feff}",
    "é",
    "objective: 100",
    "objective: -1",
    "window: 0s",
    "after: 1000000000000d",
    "receiver: nobody",
    "matchers: ['a=~\"(\"']",
    "point_of_no_return: true",
    "depends_on: [rows-match]",
    "depends_on: [start-replication, start-replication]",
    "traffic: -1",
    "traffic: 1e999",
    "gates: [{}]",
    "integrity: nothing",
    "signoff: captain",
    "env: staging",
];

/// Keys of both files' schemas.
const KEYS: &[&str] = &[
    "groups",
    "name",
    "interval",
    "limit",
    "rules",
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "slos",
    "service",
    "objective",
    "window",
    "sli",
    "ratio",
    "errors",
    "total",
    "latency",
    "route",
    "receiver",
    "receivers",
    "routes",
    "group_by",
    "group_wait",
    "matchers",
    "continue",
    "escalation",
    "escalation_policies",
    "tiers",
    "after",
    "slack_configs",
    "pagerduty_configs",
    "api_url",
    "routing_key",
    "inhibit_rules",
    "equal",
    "global",
    "repeat",
    "webhook_configs",
    "url",
    "environments",
    "source",
    "target",
    "phases",
    "traffic",
    "hold_for",
    "point_of_no_return",
    "gates",
    "query",
    "below",
    "burn_rate",
    "runbook",
    "signoff",
    "integrity",
    "id",
    "title",
    "phase",
    "planned",
    "depends_on",
    "verify",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(
            &[
                "5m",
                "0s",
                "30d",
                "1y",
                "99999999999d",
                "-1m",
                "",
                "up",
                "rate(x[5m])",
                "sum(",
                "{{.window}}",
                "nobody",
                "slack-warroom",
                "a=\"b\"",
                "a=~\"(\""
            ][..]
        )
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

/// A document of the files' keys, four deep.
fn document() -> impl Strategy<Value = Value> {
    let key =
        prop_oneof![6 => prop::sample::select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"];
    scalar().prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect())),
        ]
    })
}

/// Generated documents as block YAML or as JSON (which YAML also reads).
fn generated() -> impl Strategy<Value = String> {
    (document(), any::<bool>()).prop_map(|(doc, block)| match block {
        true => serde_norway::to_string(&doc).unwrap_or_default(),
        false => doc.to_string(),
    })
}

thread_local! {
    /// This thread's directory for the files under test.
    static DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// Writes `text` to `name` in this thread's directory (its only file) and returns the path.
fn write(name: &str, text: &str) -> PathBuf {
    DIR.with_borrow_mut(|dir| {
        let dir = dir.get_or_insert_with(|| tempfile::tempdir().unwrap());
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    })
}

fn check_rules(text: &str) -> Result<(), TestCaseError> {
    let _case = harness::case("rule files");
    let path = write("rules.yaml", text);
    match load_rules(path.parent().unwrap()) {
        Ok(_) => {}
        Err(errors) => prop_assert!(errors.iter().all(|e| !e.is_empty())),
    }
    Ok(())
}

fn check_alerting(text: &str) -> Result<(), TestCaseError> {
    let _case = harness::case("alerting.yaml");
    let settings = AlertingSettings {
        config_file: Some(write("alerting.yaml", text)),
        ..AlertingSettings::default()
    };
    if let Err(e) = load_routing(&settings, &CLIENT) {
        prop_assert!(!e.is_empty());
    }
    Ok(())
}

fn check_plan(text: &str) -> Result<(), TestCaseError> {
    let _case = harness::case("plan.yaml");
    if let Err(errors) = check_text(std::path::Path::new("plan.yaml"), text) {
        prop_assert!(!errors.is_empty());
        // YAML breaks lines at a lone `\r` too, which `str::lines` does not; an error at the
        // end of the input is placed on the line after the last.
        let lines = text.matches(['\n', '\r']).count() + 2;
        for e in &errors {
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.line <= lines, "{e} past the file's {lines} lines");
        }
    }
    Ok(())
}

static CLIENT: std::sync::LazyLock<reqwest::Client> =
    std::sync::LazyLock::new(reqwest::Client::new);

proptest! {
    #![proptest_config(harness::config(2_000))]
    #[test]
    fn mutated_rule_files_load_or_are_refused(text in mutate::text(RULES, TOKENS)) {
        check_rules(&text)?;
    }

    #[test]
    fn generated_rule_files_load_or_are_refused(text in generated()) {
        check_rules(&text)?;
    }

    #[test]
    fn mutated_alerting_files_load_or_are_refused(text in mutate::text(ALERTING, TOKENS)) {
        check_alerting(&text)?;
    }

    #[test]
    fn generated_alerting_files_load_or_are_refused(text in generated()) {
        check_alerting(&text)?;
    }

    #[test]
    fn mutated_plans_are_checked_or_refused(text in mutate::text(PLANS, TOKENS)) {
        check_plan(&text)?;
    }

    #[test]
    fn generated_plans_are_checked_or_refused(text in generated()) {
        check_plan(&text)?;
    }
}

/// A billion laughs as one flow list: nine levels of aliases, each nine of the one before, so
/// a value that is buffered whole (an untagged enum such as `expr:`) would hold 9^9 leaves.
fn alias_bomb() -> String {
    let mut levels = vec!["&a0 [x]".to_owned()];
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        levels.push(format!("&a{i} [{refs}]"));
    }
    format!("[{}]", levels.join(", "))
}

#[test]
fn an_alias_bomb_is_refused_by_every_loader_without_expanding() {
    // Arrange: the bomb where each file takes any value first.
    let bomb = alias_bomb();
    let rules =
        format!("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: {bomb}\n");
    let alerting = format!("route: {{receiver: r, group_by: {bomb}}}\nreceivers: [{{name: r}}]\n");
    let rules_dir = write("rules.yaml", &rules).parent().unwrap().to_owned();
    let settings = AlertingSettings {
        config_file: Some(write("alerting.yaml", &alerting)),
        ..AlertingSettings::default()
    };

    let plan = format!(
        "name: x\nenvironments: {{source: 'a=\"b\"', target: 'a=\"c\"'}}\nphases: [{{name: p, traffic: 0, gates: {bomb}}}]\n"
    );

    // Act
    let (rules, rules_peak) = harness::peak_during(|| load_rules(&rules_dir));
    let (alerting, alerting_peak) = harness::peak_during(|| load_routing(&settings, &CLIENT));
    let path = std::path::Path::new("plan.yaml");
    let (plan, plan_peak) = harness::peak_during(|| check_text(path, &plan));

    // Assert
    assert!(rules.is_err());
    assert!(alerting.is_err());
    assert!(plan.is_err());
    assert!(rules_peak < 64 << 20, "{rules_peak}");
    assert!(alerting_peak < 64 << 20, "{alerting_peak}");
    assert!(plan_peak < 64 << 20, "{plan_peak}");
}
