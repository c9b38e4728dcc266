//! SLOs expand into multi-window, multi-burn-rate alerts (the Google SRE workbook's table) and into
//! recorded series for the burn rate per window and the error budget remaining, per `env`.
//!
//! Page: 14.4× over 1h with 5m, or 6× over 6h with 30m. Ticket: 3× over 1d with 2h, or 1× over 3d
//! with 6h. Both only where the SLI's traffic is above a minimum, so three requests at night with
//! one error do not page anybody.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::rules::{AlertRule, Expr, PromDuration, RecordRule, Rule, RuleGroup};

/// An SLO as written in a rule file's `slos:`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    service: String,
    objective: f64,
    window: PromDuration,
    #[serde(with = "serde_norway::with::singleton_map")]
    sli: SliSpec,
    #[serde(default = "default_min_rate")]
    min_rate: f64,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn default_min_rate() -> f64 {
    // One request a minute: below it a burn rate says nothing.
    1.0 / 60.0
}

/// The SLI: errors over total, or a latency threshold on a classic histogram.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliSpec {
    /// PromQL rates with `{{.window}}` where the range goes, aggregated `by (env)`.
    Ratio {
        /// Bad events per second.
        errors: String,
        /// All events per second.
        total: String,
    },
    /// Requests slower than `threshold` seconds count as errors.
    Latency {
        /// The histogram's base name (`http_request_duration_seconds`).
        histogram: String,
        /// Extra label matchers, e.g. `job="checkout"`.
        #[serde(default)]
        selector: String,
        /// An existing bucket bound (`le`) in seconds.
        threshold: f64,
    },
}

/// A checked SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// Service name, the `service` label of everything generated.
    pub service: String,
    /// Target as a ratio, e.g. 0.999.
    pub objective: f64,
    /// The SLO window, e.g. 30 days.
    pub window: Duration,
    /// Error-rate query template with `{{.window}}`.
    pub errors: String,
    /// Total-rate query template with `{{.window}}`.
    pub total: String,
    /// Minimum total rate (per second) for the alerts to fire.
    pub min_rate: f64,
    /// Extra labels on the alerts.
    pub labels: BTreeMap<String, String>,
}

impl TryFrom<SloSpec> for Slo {
    type Error = String;

    fn try_from(s: SloSpec) -> Result<Self, String> {
        if !(s.objective > 0.0 && s.objective < 100.0) {
            return Err(format!(
                "slo {:?}: objective {} must be a percentage between 0 and 100",
                s.service, s.objective
            ));
        }
        let (errors, total) = match s.sli {
            SliSpec::Ratio { errors, total } => (errors, total),
            SliSpec::Latency {
                histogram,
                selector,
                threshold,
            } => latency_queries(&histogram, &selector, threshold),
        };
        let slo = Slo {
            service: s.service,
            objective: s.objective / 100.0,
            window: s.window.0,
            errors,
            total,
            min_rate: s.min_rate,
            labels: s.labels,
        };
        for w in ["5m", &prom_duration(slo.window)] {
            Expr::parse(&slo.error_ratio(w)).map_err(|e| format!("slo {:?}: {e}", slo.service))?;
        }
        Ok(slo)
    }
}

/// Slow requests are all requests minus those in the threshold's bucket.
fn latency_queries(histogram: &str, selector: &str, threshold: f64) -> (String, String) {
    let sep = if selector.is_empty() { "" } else { "," };
    let total = format!("sum by (env) (rate({histogram}_count{{{selector}}}[{{{{.window}}}}]))");
    let good = format!(
        "sum by (env) (rate({histogram}_bucket{{{selector}{sep}le=\"{threshold}\"}}[{{{{.window}}}}]))"
    );
    (format!("({total} - {good})"), total)
}

/// Burn-rate windows: (long, short, factor) for page and ticket.
const PAGE: [(&str, &str, f64); 2] = [("1h", "5m", 14.4), ("6h", "30m", 6.0)];
const TICKET: [(&str, &str, f64); 2] = [("1d", "2h", 3.0), ("3d", "6h", 1.0)];

impl Slo {
    fn error_ratio(&self, window: &str) -> String {
        let errors = self.errors.replace("{{.window}}", window);
        let total = self.total.replace("{{.window}}", window);
        format!("({errors}) / ({total})")
    }

    fn budget(&self) -> f64 {
        1.0 - self.objective
    }

    /// The budget as PromQL text, without float noise (0.001, not 0.0009999999999998899).
    fn budget_text(&self) -> String {
        let text = format!("{:.12}", self.budget());
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The recording rules and the page and ticket alerts of one SLO, as one rule group.
pub fn expand(slo: &Slo) -> Result<RuleGroup, String> {
    let mut rules = Vec::new();
    let slo_window = prom_duration(slo.window);
    let windows = [
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
        slo_window.as_str(),
    ];
    for w in windows {
        rules.push(record(
            slo,
            &format!("slo:sli_error:ratio_rate{w}"),
            &slo.error_ratio(w),
        )?);
        let burn = format!(
            "slo:sli_error:ratio_rate{w}{{service={:?}}} / {}",
            slo.service,
            slo.budget_text()
        );
        rules.push(record(slo, &format!("slo:burn_rate:{w}"), &burn)?);
    }
    let total_1h = slo.total.replace("{{.window}}", "1h");
    rules.push(record(slo, "slo:sli_total:rate1h", &total_1h)?);
    let remaining = format!(
        "1 - slo:burn_rate:{slo_window}{{service={:?}}}",
        slo.service
    );
    rules.push(record(slo, "slo:error_budget_remaining:ratio", &remaining)?);
    rules.push(burn_alert(slo, "page", &PAGE)?);
    rules.push(burn_alert(slo, "ticket", &TICKET)?);
    Ok(RuleGroup {
        name: format!("slo:{}", slo.service),
        interval: None,
        rules,
    })
}

fn record(slo: &Slo, name: &str, expr: &str) -> Result<Rule, String> {
    let labels = BTreeMap::from([("service".to_string(), slo.service.clone())]);
    Ok(Rule::Record(RecordRule {
        name: name.to_owned(),
        expr: Expr::parse(expr)?,
        labels,
    }))
}

/// `(long > f and short > f) or (...)`, guarded by the minimum traffic.
fn burn_alert(slo: &Slo, severity: &str, windows: &[(&str, &str, f64)]) -> Result<Rule, String> {
    let sel = format!("{{service={:?}}}", slo.service);
    let conditions: Vec<String> = windows
        .iter()
        .map(|(long, short, f)| {
            format!("(slo:burn_rate:{long}{sel} > {f} and slo:burn_rate:{short}{sel} > {f})")
        })
        .collect();
    let guard = format!("slo:sli_total:rate1h{sel} > {}", slo.min_rate);
    let expr = format!("({}) and on (env) ({guard})", conditions.join(" or "));
    let mut labels = slo.labels.clone();
    labels.insert("severity".into(), severity.into());
    labels.insert("service".into(), slo.service.clone());
    let summary = format!(
        "{} in {{{{ $labels.env }}}} burns its {:.3}% error budget {{{{ $value | humanize }}}}× too fast",
        slo.service,
        slo.budget() * 100.0
    );
    Ok(Rule::Alert(AlertRule {
        name: format!("SLOErrorBudgetBurn{}", capitalize(severity)),
        expr: Expr::parse(&expr)?,
        hold: Duration::from_secs(if severity == "page" { 120 } else { 900 }),
        keep_firing_for: Duration::ZERO,
        labels,
        annotations: BTreeMap::from([("summary".to_string(), summary)]),
    }))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A duration the way Prometheus writes it in a range: whole days, hours, minutes or seconds.
fn prom_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rules;
    use std::path::Path;

    fn checkout() -> Slo {
        let text = r#"
slos:
  - service: checkout
    objective: 99.9
    window: 30d
    sli:
      ratio:
        errors: sum by (env) (rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
        total: sum by (env) (rate(http_requests_total{job="checkout"}[{{.window}}]))
"#;
        parse_rules(Path::new("slo.yaml"), text)
            .unwrap()
            .slos
            .remove(0)
    }

    #[test]
    fn an_slo_expands_into_page_and_ticket_alerts_with_the_workbook_factors() {
        let group = expand(&checkout()).unwrap();
        let alerts: Vec<&AlertRule> = group
            .rules
            .iter()
            .filter_map(|r| {
                if let Rule::Alert(a) = r {
                    Some(a)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(alerts.len(), 2);
        let page = alerts[0].expr.as_str();
        assert!(
            page.contains("slo:burn_rate:1h{service=\"checkout\"} > 14.4"),
            "{page}"
        );
        assert!(
            page.contains("slo:burn_rate:30m{service=\"checkout\"} > 6"),
            "{page}"
        );
        assert!(
            page.contains("slo:sli_total:rate1h{service=\"checkout\"} > "),
            "{page}"
        );
        assert!(
            alerts[1]
                .expr
                .as_str()
                .contains("slo:burn_rate:3d{service=\"checkout\"} > 1 and")
        );
        assert_eq!(alerts[0].labels["severity"], "page");
    }

    #[test]
    fn the_burn_rate_divides_the_error_ratio_by_the_budget_and_budget_remaining_uses_the_slo_window()
     {
        let group = expand(&checkout()).unwrap();
        let exprs: Vec<(String, String)> = group
            .rules
            .iter()
            .filter_map(|r| {
                if let Rule::Record(r) = r {
                    Some((r.name.clone(), r.expr.to_string()))
                } else {
                    None
                }
            })
            .collect();
        let burn = exprs.iter().find(|(n, _)| n == "slo:burn_rate:1h").unwrap();
        assert!(burn.1.ends_with("/ 0.001"), "{}", burn.1);
        let remaining = exprs
            .iter()
            .find(|(n, _)| n == "slo:error_budget_remaining:ratio")
            .unwrap();
        assert_eq!(remaining.1, "1 - slo:burn_rate:30d{service=\"checkout\"}");
    }

    #[test]
    fn a_latency_sli_counts_requests_above_the_threshold_bucket_as_errors() {
        let (errors, total) = latency_queries("http_request_duration_seconds", "job=\"api\"", 0.3);
        assert!(
            errors.contains(
                "http_request_duration_seconds_bucket{job=\"api\",le=\"0.3\"}[{{.window}}]"
            )
        );
        assert!(total.contains("http_request_duration_seconds_count{job=\"api\"}"));
    }

    #[test]
    fn an_objective_outside_zero_to_one_hundred_is_rejected() {
        let text = "slos:\n  - service: a\n    objective: 100\n    window: 30d\n    sli:\n      ratio: {errors: x, total: y}\n";
        let err = parse_rules(Path::new("s.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("objective"), "{err}");
    }
}
