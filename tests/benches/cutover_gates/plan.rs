//! The plan measured: every service with requests, errors and an SLO (and latency where it has
//! a histogram), a first phase without gates, then the phase with 10 gates per service, and a
//! runbook with two verifications.

use crate::fleet::HISTOGRAMS;
use crate::service_name;

const SOURCE: &str = r#"env="source", cluster=~"do-.*""#;
const TARGET: &str = r#"env="target", cluster="eks-prod""#;

/// The plan: `services` services with requests, errors and an SLO; the phase measured holds
/// their gates, sized for a fleet of `nodes`.
pub fn plan_yaml(services: usize, nodes: usize) -> String {
    let mut y = format!(
        "name: bench\nenvironments:\n  source: '{SOURCE}'\n  target: '{TARGET}'\nservices:\n"
    );
    for s in 0..services {
        let svc = service_name(s);
        let requests = format!(r#"sum(rate(http_requests_total{{service="{svc}"}}[5m]))"#);
        let errors =
            format!(r#"sum(rate(http_requests_total{{service="{svc}", code=~"5.."}}[5m]))"#);
        y += &format!("  - name: {svc}\n    owner: team-{s:02}\n    requests: '{requests}'\n");
        y += &format!("    errors: '{errors}'\n    slo: {{objective: 99.9, window: 30d}}\n");
        if s < HISTOGRAMS {
            let buckets = format!(r#"http_request_duration_seconds_bucket{{service="{svc}"}}"#);
            y += &format!("    latency: '{buckets}'\n");
        }
    }
    y += "phases:\n  - name: prepare\n    traffic: 0\n";
    y += "  - name: shift-10\n    traffic: 10\n    hold_for: 10m\n    gates:\n";
    for s in 0..services {
        y += &service_gates(s, nodes);
    }
    y + PLAN_END
}

const PLAN_END: &str = r#"  - name: shift-50
    traffic: 50
    point_of_no_return: true
    gates:
      - integrity: rows-match
runbook:
  - id: start-replication
    title: Start Postgres replication to RDS
    owner: dba
    phase: prepare
    planned: 30m
  - id: rows-match
    title: Row counts of source and target equal
    owner: dba
    phase: shift-10
    planned: 15m
    depends_on: [start-replication]
    verify: 'abs(sum(pg_table_rows{env="source"}) - sum(pg_table_rows{env="target"})) == 0'
  - id: target-serves
    title: The target serves every service
    owner: sre
    phase: shift-10
    planned: 10m
    verify: 'count(sum by (service) (rate(http_requests_total{env="target", cluster="eks-prod"}[5m])))'
"#;

/// Service `s`'s 10 gates, as YAML list items; `nodes` in the fleet.
fn service_gates(s: usize, nodes: usize) -> String {
    let svc = service_name(s);
    let mut y = String::new();
    for (name, query, threshold) in query_gates(s, nodes) {
        y += &format!("      - name: {svc} {name}\n        service: {svc}\n");
        y += &format!("        query: '{query}'\n        {threshold}\n");
    }
    for (window, below) in [("5m", 2), ("30m", 1)] {
        y += &format!("      - name: {svc} burn rate {window}\n        burn_rate: ");
        y += &format!("{{service: {svc}, env: target, window: {window}, below: {below}}}\n");
    }
    y
}

/// Service `s`'s 8 query gates: name, query, threshold.
fn query_gates(s: usize, nodes: usize) -> [(&'static str, String, String); 8] {
    let svc = service_name(s);
    let sel = |side: &str, code: &str, range: &str| {
        format!(r#"rate(http_requests_total{{service="{svc}", {side}{code}}}[{range}])"#)
    };
    let errs = r#", code=~"5..""#;
    let (t_all, t_err) = (sel(TARGET, "", "5m"), sel(TARGET, errs, "5m"));
    let (s_all, s_err) = (sel(SOURCE, "", "5m"), sel(SOURCE, errs, "5m"));
    let t_ratio = format!("sum({t_err}) / sum({t_all})");
    let s_ratio = format!("sum({s_err}) / sum({s_all})");
    let every = format!(r#"rate(http_requests_total{{service="{svc}"}}[5m])"#);
    let buckets = format!(r#"http_request_duration_seconds_bucket{{service="{svc}", {TARGET}}}"#);
    let last = match s < HISTOGRAMS {
        true => (
            "target p99 latency",
            format!("histogram_quantile(0.99, sum by (le) (rate({buckets}[5m])))"),
            "below: 2.5".to_owned(),
        ),
        false => (
            "target errors last minute",
            format!("sum({})", sel(TARGET, errs, "1m")),
            "below: 5".to_owned(),
        ),
    };
    let serving = format!("above: {}", nodes * 9 / 20);
    [
        ("target error ratio", t_ratio.clone(), "below: 0.01".into()),
        (
            "target request rate",
            format!("sum({t_all})"),
            "above: 10".into(),
        ),
        (
            "source request rate",
            format!("sum({s_all})"),
            "above: 10".into(),
        ),
        (
            "target nodes serving",
            format!("count(sum by (node) ({t_all}) > 0)"),
            serving,
        ),
        (
            "worst target node error ratio",
            format!("max(sum by (node) ({t_err}) / sum by (node) ({t_all}))"),
            "below: 0.05".into(),
        ),
        (
            "target share",
            format!("sum({t_all}) / sum({every})"),
            "above: 0.05".into(),
        ),
        (
            "error ratio against the source",
            format!("({t_ratio}) - ({s_ratio})"),
            "below: 0.005".into(),
        ),
        last,
    ]
}
