//! A service's SLIs as PromQL for one side: the plan's templates with that environment's label
//! matchers added to every selector (so `sum(rate(http_requests_total{service="checkout"}[5m]))`
//! becomes the target's with `env="target", cluster="eks-prod"` inside its braces), and the
//! queries built from them: the error ratio, the burn rate over a window, latency quantiles.

use std::time::Duration;

use promql_parser::label::{Labels, Matcher};
use promql_parser::parser::{self, Expr, LabelModifier};
use promql_parser::util::visitor::{ExprVisitorMut, walk_expr_mut};

use super::plan::{Env, Plan, Service};

/// `expr` with `matchers` (`env="target", cluster=~"eks-.*"`) added to every selector, and
/// every range set to `range` when one is given.
pub fn on_side(expr: &str, matchers: &str, range: Option<Duration>) -> Result<String, String> {
    let mut tree = parser::parse(expr).map_err(|e| format!("{expr}: {e}"))?;
    let extra = side_matchers(matchers)?;
    let mut add = AddMatchers { extra, range };
    walk_expr_mut(&mut add, &mut tree)?;
    Ok(tree.to_string())
}

/// The matchers of an environment's text.
fn side_matchers(matchers: &str) -> Result<Vec<Matcher>, String> {
    let selector = format!("{{{matchers}}}");
    match parser::parse(&selector) {
        Ok(Expr::VectorSelector(vs)) => Ok(vs.matchers.matchers),
        Ok(_) => Err(format!("{matchers:?} is not a list of label matchers")),
        Err(e) => Err(format!("{matchers:?}: {e}")),
    }
}

struct AddMatchers {
    extra: Vec<Matcher>,
    range: Option<Duration>,
}

impl ExprVisitorMut for AddMatchers {
    type Error = String;

    fn pre_visit(&mut self, expr: &mut Expr) -> Result<bool, String> {
        match expr {
            Expr::VectorSelector(vs) => vs.matchers.matchers.extend(self.extra.iter().cloned()),
            Expr::MatrixSelector(ms) => {
                ms.vs.matchers.matchers.extend(self.extra.iter().cloned());
                if let Some(range) = self.range {
                    ms.range = range;
                }
            }
            _ => {}
        }
        Ok(true)
    }
}

/// The label matchers of `env` in `plan`.
pub fn matchers(plan: &Plan, env: Env) -> &str {
    match env {
        Env::Source => &plan.environments.source,
        Env::Target => &plan.environments.target,
    }
}

/// The request rate of `service` on the side of `matchers`, if the plan gives one.
pub fn requests(service: &Service, matchers: &str) -> Option<Result<String, String>> {
    let requests = service.requests.as_deref()?;
    Some(on_side(requests, matchers, None))
}

/// The error ratio (errors ÷ requests) on one side, each rate over `range` (the template's own
/// when `None`).
pub fn error_ratio(
    service: &Service,
    matchers: &str,
    range: Option<Duration>,
) -> Option<Result<String, String>> {
    let (errors, requests) = (service.errors.as_deref()?, service.requests.as_deref()?);
    let ratio = on_side(errors, matchers, range).and_then(|e| {
        let r = on_side(requests, matchers, range)?;
        Ok(format!("({e}) / ({r})"))
    });
    Some(ratio)
}

/// How fast the SLO's error budget burns on one side over `window`: the error ratio over
/// that window divided by the budget (1 − objective). `None` without an SLO or error SLIs.
pub fn burn_rate(
    service: &Service,
    matchers: &str,
    window: Duration,
) -> Option<Result<String, String>> {
    let objective = service.slo.as_ref()?.objective;
    let ratio = error_ratio(service, matchers, Some(window))?;
    Some(ratio.map(|r| format!("({r}) / (1 - {objective} / 100)")))
}

/// The `q` quantile (0.5, 0.99) of the service's latency histogram on one side, over 5 minutes.
pub fn latency(service: &Service, matchers: &str, q: f64) -> Option<Result<String, String>> {
    let buckets = service.latency.as_deref()?;
    let query = on_side(buckets, matchers, None)
        .map(|b| format!("histogram_quantile({q}, sum by (le) (rate({b}[5m])))"));
    Some(query)
}

/// A range no template writes, rendered and then replaced by `{{.window}}`.
const WINDOW_MARK: Duration = Duration::from_secs(1_234_567);

/// `expr` as the `slos:` machinery takes a template: every aggregation kept `by (env)` (so
/// each side gets its own burn rate) and every range `{{.window}}`.
pub fn slo_template(expr: &str) -> Result<String, String> {
    let mut tree = parser::parse(expr).map_err(|e| format!("{expr}: {e}"))?;
    walk_expr_mut(&mut ByEnv, &mut tree)?;
    let mark = format!("[{}]", promql_parser::util::display_duration(&WINDOW_MARK));
    Ok(tree.to_string().replace(&mark, "[{{.window}}]"))
}

struct ByEnv;

impl ExprVisitorMut for ByEnv {
    type Error = String;

    fn pre_visit(&mut self, expr: &mut Expr) -> Result<bool, String> {
        match expr {
            Expr::Aggregate(a) => match &mut a.modifier {
                None => a.modifier = Some(LabelModifier::Include(Labels::new(vec!["env"]))),
                Some(LabelModifier::Include(by)) if !by.labels.iter().any(|l| l == "env") => {
                    by.labels.push("env".into());
                }
                Some(LabelModifier::Exclude(without)) => without.labels.retain(|l| l != "env"),
                Some(LabelModifier::Include(_)) => {}
            },
            Expr::MatrixSelector(ms) => ms.range = WINDOW_MARK,
            _ => {}
        }
        Ok(true)
    }
}

/// The `slos:` entry of each service of the plan with an SLO and both rates, expanded into its
/// rule group (burn rates recorded per `env`, page and ticket alerts).
pub fn slo_groups(plan: &Plan) -> Result<Vec<warroom_alerts::rules::RuleGroup>, String> {
    let mut groups = Vec::new();
    for s in &plan.services {
        let (Some(slo), Some(errors), Some(total)) = (&s.slo, &s.errors, &s.requests) else {
            continue;
        };
        let expanded = warroom_alerts::slo::Slo {
            service: s.name.clone(),
            objective: slo.objective / 100.0,
            window: slo.window,
            errors: slo_template(errors)?,
            total: slo_template(total)?,
            min_rate: 1.0 / 60.0,
            labels: [("cutover".to_owned(), plan.name.clone())].into(),
        };
        let group = warroom_alerts::slo::expand(&expanded)
            .map_err(|e| format!("service {}: slo: {e}", s.name))?;
        groups.push(group);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sides_matchers_go_into_every_selector_and_ranges_change_only_when_asked() {
        // Arrange
        let expr = r#"sum(rate(http_requests_total{service="checkout"}[5m])) / sum(up)"#;
        let target = r#"env="target", cluster=~"eks-.*""#;

        // Act
        let same = on_side(expr, target, None).unwrap();
        let hour = on_side(expr, target, Some(Duration::from_secs(3600))).unwrap();

        // Assert
        assert_eq!(
            same,
            r#"sum(rate(http_requests_total{cluster=~"eks-.*",env="target",service="checkout"}[5m])) / sum(up{cluster=~"eks-.*",env="target"})"#
        );
        assert!(hour.contains("[1h]"), "{hour}");
        assert!(parser::parse(&same).is_ok() && parser::parse(&hour).is_ok());
    }

    #[test]
    fn a_burn_rate_divides_the_error_ratio_over_the_window_by_the_budget() {
        // Arrange
        let service: Service = serde_norway::from_str(
            "name: checkout\nrequests: sum(rate(req_total[5m]))\nerrors: sum(rate(err_total[5m]))\nslo: {objective: 99.9, window: 30d}\n",
        )
        .unwrap();

        // Act
        let burn = burn_rate(&service, r#"env="target""#, Duration::from_secs(3600))
            .unwrap()
            .unwrap();

        // Assert
        assert!(burn.contains(r#"err_total{env="target"}[1h]"#), "{burn}");
        assert!(burn.contains(r#"req_total{env="target"}[1h]"#), "{burn}");
        assert!(burn.ends_with("/ (1 - 99.9 / 100)"), "{burn}");
    }

    #[test]
    fn an_slo_template_keeps_each_side_apart_and_leaves_the_window_to_the_machinery() {
        let plain = slo_template(r#"sum(rate(req_total{service="checkout"}[5m]))"#).unwrap();
        let by_code = slo_template("sum by (code) (rate(req_total[5m]))").unwrap();
        let without = slo_template("sum without (env, pod) (rate(req_total[5m]))").unwrap();

        assert_eq!(
            plain,
            r#"sum by (env) (rate(req_total{service="checkout"}[{{.window}}]))"#
        );
        assert_eq!(by_code, "sum by (code, env) (rate(req_total[{{.window}}]))");
        assert_eq!(without, "sum without (pod) (rate(req_total[{{.window}}]))");
    }

    #[test]
    fn a_service_slo_expands_into_burn_rate_records_and_alerts_per_env() {
        let plan = super::super::check::check_text(
            std::path::Path::new("plan.yaml"),
            include_str!("example_plan.yaml"),
        )
        .unwrap();

        let groups = slo_groups(&plan).unwrap();

        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].name, "slo:checkout");
        let text = format!("{:?}", groups[0].rules);
        assert!(text.contains("slo:burn_rate:1h"), "{text}");
        assert!(text.contains("by (env)"), "{text}");
    }

    #[test]
    fn a_template_that_does_not_parse_or_a_side_that_is_not_matchers_is_an_error() {
        assert!(on_side("sum(", r#"env="target""#, None).is_err());
        assert!(on_side("up", "1 + 1", None).is_err());
    }
}
