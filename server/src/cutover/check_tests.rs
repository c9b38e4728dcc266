//! `warroom plan check`'s errors, one test per kind, each at its line and column.

use std::path::Path;

use super::check::{PlanError, check_text, summary};

/// DESIGN.md's example plan (a line per node, so tests can point at lines).
const GOOD: &str = include_str!("example_plan.yaml");

/// The errors of `GOOD` with `from` replaced by `to` (which must occur once).
fn errors_with(from: &str, to: &str) -> Vec<PlanError> {
    assert_eq!(GOOD.matches(from).count(), 1, "{from:?} occurs once");
    let text = GOOD.replace(from, to);
    check_text(Path::new("plan.yaml"), &text).expect_err("the plan is refused")
}

/// Asserts exactly one error, at `line:column`, whose message contains `says`.
fn assert_one(errors: &[PlanError], line: usize, column: usize, says: &str) {
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let e = &errors[0];
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(e.message.contains(says), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("plan.yaml:{line}:{column}: ")),
        "{e}"
    );
}

#[test]
fn the_design_example_is_a_good_plan_with_a_one_line_summary() {
    let plan = check_text(Path::new("plan.yaml"), GOOD).expect("good");

    assert_eq!(
        summary(&plan),
        r#"plan "do-to-eks": 3 phases (point of no return: shift-50), 5 gates, 1 services, 2 runbook steps"#
    );
}

#[test]
fn a_dependency_on_an_unknown_step_is_named_where_it_is_written() {
    let errors = errors_with(
        "depends_on: [start-replication]",
        "depends_on: [start-replication, warm-cache]",
    );

    assert_one(&errors, 42, 37, "depends on unknown step warm-cache");
}

#[test]
fn a_dependency_cycle_is_reported_once_with_its_steps() {
    let errors = errors_with(
        "    phase: prepare\n    planned: 30m",
        "    phase: prepare\n    planned: 30m\n    depends_on: [rows-match]",
    );

    assert_one(
        &errors,
        43,
        18,
        "runbook step rows-match: dependency cycle start-replication → rows-match → start-replication",
    );
}

#[test]
fn a_gate_query_that_does_not_parse_is_an_error_at_the_query() {
    let errors = errors_with("[5m])) / sum(", "[5m]) / sum(");

    assert_one(&errors, 20, 16, "the query does not parse");
}

#[test]
fn two_points_of_no_return_are_an_error_at_the_second() {
    let errors = errors_with(
        "    hold_for: 10m\n",
        "    hold_for: 10m\n    point_of_no_return: true\n",
    );

    assert_one(
        &errors,
        29,
        25,
        "phase shift-50: a second point of no return (phase shift-10 is one)",
    );
}

#[test]
fn traffic_lower_than_the_phase_before_is_an_error_at_the_traffic() {
    let errors = errors_with("traffic: 50", "traffic: 5");

    assert_one(
        &errors,
        27,
        14,
        "traffic 5% is lower than the 10% of phase shift-10",
    );
}

#[test]
fn an_unknown_environment_is_an_error_at_its_line() {
    let errors = errors_with("env: target, window", "env: staging, window");

    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 23, "{}", errors[0]);
    assert!(
        errors[0].message.contains("unknown variant `staging`"),
        "{}",
        errors[0]
    );
}

#[test]
fn a_bad_duration_is_an_error_at_its_line() {
    let errors = errors_with("hold_for: 10m", "hold_for: 10 minutes please");

    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 17, "{}", errors[0]);
    assert!(errors[0].message.contains("hold_for"), "{}", errors[0]);
}

#[test]
fn an_unknown_field_is_an_error_naming_it() {
    let errors = errors_with(
        "    owner: team-payments\n",
        "    owner: team-payments\n    tier: gold\n",
    );

    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 8, "{}", errors[0]);
    assert!(
        errors[0].message.contains("unknown field `tier`"),
        "{}",
        errors[0]
    );
}

#[test]
fn environment_matchers_that_do_not_parse_are_an_error_at_them() {
    let errors = errors_with(r#"cluster="eks-prod"'"#, r#"cluster=="eks-prod"'"#);

    assert_one(&errors, 4, 11, "environment target: not label matchers");
}

#[test]
fn gates_naming_unknown_services_steps_or_roles_are_errors_at_the_names() {
    let text = GOOD
        .replace(
            "burn_rate: {service: checkout,",
            "burn_rate: {service: cart,",
        )
        .replace("signoff: commander", "signoff: captain")
        .replace("integrity: rows-match", "integrity: rows-equal");

    let errors = check_text(Path::new("plan.yaml"), &text).unwrap_err();

    let got: Vec<(usize, usize, &str)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (23, 30, "phase shift-10: gate: unknown service cart"),
            (
                25,
                18,
                "phase shift-10: gate: unknown role captain (roles: viewer, responder, commander)"
            ),
            (
                30,
                20,
                "phase shift-50: gate: unknown runbook step rows-equal"
            ),
        ]
    );
}

#[test]
fn a_gate_of_two_kinds_or_a_query_without_a_threshold_is_an_error_at_the_gate() {
    let two = errors_with(
        "      - runbook: done\n",
        "      - runbook: done\n        signoff: commander\n",
    );
    let no_threshold = errors_with("        below: 0.01\n", "");

    assert_one(
        &two,
        24,
        9,
        "exactly one of query, burn_rate, runbook, signoff or integrity (this one: runbook, signoff)",
    );
    assert_one(&no_threshold, 19, 9, "exactly one threshold");
}

#[test]
fn a_step_of_an_unknown_phase_and_a_step_defined_twice_are_errors_at_them() {
    let errors = errors_with("  - id: rows-match\n", "  - id: start-replication\n");
    let phase = errors_with("phase: shift-10", "phase: shift-15");

    let messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{}:{} {}", e.line, e.column, e.message))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m == "37:9 runbook step start-replication is defined twice"),
        "{messages:#?}"
    );
    assert_one(&phase, 40, 12, "unknown phase shift-15");
}

#[test]
fn a_query_gate_may_name_a_known_service_and_only_a_query_gate_may() {
    let unknown = errors_with(
        "        below: 0.01\n",
        "        below: 0.01\n        service: cart\n",
    );
    let misplaced = errors_with(
        "      - runbook: done\n",
        "      - runbook: done\n        service: checkout\n",
    );

    assert_one(
        &unknown,
        22,
        18,
        "phase shift-10: gate: unknown service cart",
    );
    assert_one(&misplaced, 25, 18, "service belongs to a query gate");
}

#[test]
fn two_gates_of_one_name_in_a_phase_are_an_error_at_the_second() {
    let errors = errors_with(
        "      - runbook: done\n",
        "      - runbook: done\n      - runbook: done\n",
    );

    assert_one(
        &errors,
        25,
        9,
        "phase shift-10: gate runbook steps done is defined twice",
    );
}
