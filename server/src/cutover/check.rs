//! `warroom plan check`: a plan file is read into [`Plan`] (its shape, types, durations and
//! unknown fields, where serde stops at the first error), then checked for what its shape
//! cannot say, each error at the line and column of the node it is about: names defined twice,
//! steps and services named but not defined, dependency cycles, queries and matchers that do
//! not parse, traffic going down, two points of no return, gates that are not exactly one kind.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::locate::Positions;
use super::plan::{Gate, Phase, Plan, Step};

/// The roles a sign-off gate may name (the people issue's roles).
pub const ROLES: [&str; 3] = ["viewer", "responder", "commander"];

/// One error in a plan file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// The file.
    pub path: PathBuf,
    /// Line, from 1 (0: the file as a whole).
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        write!(f, "{path}:{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Reads and checks the plan file at `path`.
pub fn check_file(path: &Path) -> Result<Plan, Vec<PlanError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![PlanError {
            path: path.to_owned(),
            line: 0,
            column: 0,
            message: format!("cannot read the plan: {e}"),
        }]
    })?;
    check_text(path, &text)
}

/// Checks plan text; `path` only names the file in errors.
pub fn check_text(path: &Path, text: &str) -> Result<Plan, Vec<PlanError>> {
    let error = |(line, column), message| PlanError {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    let plan: Plan = serde_norway::from_str(text).map_err(|e| {
        let at = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(cut) => message[..cut].to_owned(),
            None => message,
        };
        vec![error(at, message)]
    })?;
    let problems = problems(&plan);
    if problems.is_empty() {
        return Ok(plan);
    }
    let positions = Positions::of(text);
    let mut errors: Vec<PlanError> = problems
        .into_iter()
        .map(|p| error(positions.at(&p.at), p.reason))
        .collect();
    errors.sort_by_key(|e| (e.line, e.column));
    Err(errors)
}

/// The one-line summary of a good plan.
pub fn summary(plan: &Plan) -> String {
    let gates: usize = plan.phases.iter().map(|p| p.gates.len()).sum();
    let no_return = plan.point_of_no_return().map_or(String::new(), |p| {
        format!(" (point of no return: {})", p.name)
    });
    format!(
        "plan {:?}: {} phases{no_return}, {} gates, {} services, {} runbook steps",
        plan.name,
        plan.phases.len(),
        gates,
        plan.services.len(),
        plan.runbook.len()
    )
}

/// Something wrong at the node `at` (a path as [`Positions`] takes it).
struct Problem {
    at: String,
    reason: String,
}

fn problem(at: impl Into<String>, reason: impl Into<String>) -> Problem {
    Problem {
        at: at.into(),
        reason: reason.into(),
    }
}

/// Every problem of `plan`.
fn problems(plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    environments(plan, &mut out);
    services(plan, &mut out);
    phases(plan, &mut out);
    runbook(plan, &mut out);
    out
}

/// Why `expr` is not PromQL, if it is not.
fn promql_error(expr: &str) -> Option<String> {
    promql_parser::parser::parse(expr).err()
}

fn environments(plan: &Plan, out: &mut Vec<Problem>) {
    for (side, matchers) in [
        ("source", &plan.environments.source),
        ("target", &plan.environments.target),
    ] {
        let at = format!("environments.{side}");
        if matchers.trim().is_empty() {
            out.push(problem(
                at,
                format!("environment {side} has no label matchers"),
            ));
        } else if let Some(e) = promql_error(&format!("{{{matchers}}}")) {
            out.push(problem(
                at,
                format!("environment {side}: not label matchers: {e}"),
            ));
        }
    }
}

/// The `names` that appeared before, each with the index of its repeat.
fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(usize, &'a str)> {
    let mut seen = HashSet::new();
    names
        .enumerate()
        .filter(|(_, n)| !seen.insert(*n))
        .collect()
}

fn services(plan: &Plan, out: &mut Vec<Problem>) {
    for (i, name) in repeated(plan.services.iter().map(|s| s.name.as_str())) {
        out.push(problem(
            format!("services[{i}].name"),
            format!("service {name} is defined twice"),
        ));
    }
    for (i, s) in plan.services.iter().enumerate() {
        let slis = [
            ("requests", &s.requests),
            ("errors", &s.errors),
            ("latency", &s.latency),
            ("saturation", &s.saturation),
        ];
        for (field, expr) in slis {
            if let Some(e) = expr.as_deref().and_then(promql_error) {
                let at = format!("services[{i}].{field}");
                out.push(problem(
                    at,
                    format!("service {}: {field} does not parse: {e}", s.name),
                ));
            }
        }
        if let Some(slo) = &s.slo
            && !(slo.objective > 0.0 && slo.objective < 100.0)
        {
            let at = format!("services[{i}].slo.objective");
            let reason = format!(
                "service {}: objective {} is not between 0 and 100",
                s.name, slo.objective
            );
            out.push(problem(at, reason));
        }
    }
}

fn phases(plan: &Plan, out: &mut Vec<Problem>) {
    if plan.phases.is_empty() {
        out.push(problem("phases", "a plan needs at least one phase"));
    }
    for (i, name) in repeated(plan.phases.iter().map(|p| p.name.as_str())) {
        out.push(problem(
            format!("phases[{i}].name"),
            format!("phase {name} is defined twice"),
        ));
    }
    let mut before: Option<&Phase> = None;
    let mut no_return: Option<&Phase> = None;
    for (i, phase) in plan.phases.iter().enumerate() {
        let at = |field: &str| format!("phases[{i}].{field}");
        if !(0.0..=100.0).contains(&phase.traffic) {
            let reason = format!(
                "phase {}: traffic {}% is not between 0 and 100",
                phase.name, phase.traffic
            );
            out.push(problem(at("traffic"), reason));
        }
        if let Some(prev) = before
            && phase.traffic < prev.traffic
        {
            let reason = format!(
                "phase {}: traffic {}% is lower than the {}% of phase {} before it",
                phase.name, phase.traffic, prev.traffic, prev.name
            );
            out.push(problem(at("traffic"), reason));
        }
        if phase.point_of_no_return {
            match no_return {
                Some(first) => out.push(problem(
                    at("point_of_no_return"),
                    format!(
                        "phase {}: a second point of no return (phase {} is one)",
                        phase.name, first.name
                    ),
                )),
                None => no_return = Some(phase),
            }
        }
        for (j, gate) in phase.gates.iter().enumerate() {
            gate_problems(plan, phase, gate, &format!("phases[{i}].gates[{j}]"), out);
        }
        // Gates are known by name (their colour and green-since are kept by it); a gate of no
        // one kind has no name of its own and has its error already.
        let specs = super::gates::specs(plan, phase).into_iter();
        let names: Vec<String> = (phase.gates.iter().zip(specs))
            .filter(|(gate, _)| kinds(gate).len() == 1)
            .map(|(_, spec)| spec.name)
            .collect();
        for (j, name) in repeated(names.iter().map(String::as_str)) {
            let reason = format!("phase {}: gate {name} is defined twice", phase.name);
            out.push(problem(format!("phases[{i}].gates[{j}]"), reason));
        }
        before = Some(phase);
    }
}

/// The kinds a gate is written as (exactly one, in a good plan).
fn kinds(gate: &Gate) -> Vec<&'static str> {
    [
        ("query", gate.query.is_some()),
        ("burn_rate", gate.burn_rate.is_some()),
        ("runbook", gate.runbook.is_some()),
        ("signoff", gate.signoff.is_some()),
        ("integrity", gate.integrity.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

fn gate_problems(plan: &Plan, phase: &Phase, gate: &Gate, at: &str, out: &mut Vec<Problem>) {
    let field = |f: &str| format!("{at}.{f}");
    let mut push = |node: String, reason: String| {
        out.push(problem(
            node,
            format!("phase {}: gate: {reason}", phase.name),
        ));
    };
    let kinds = kinds(gate);
    if kinds.len() != 1 {
        let has = match kinds.is_empty() {
            true => "none".to_owned(),
            false => kinds.join(", "),
        };
        let reason = format!(
            "a gate is exactly one of query, burn_rate, runbook, signoff or integrity (this one: {has})"
        );
        push(at.to_owned(), reason);
        return;
    }
    let thresholds = usize::from(gate.below.is_some()) + usize::from(gate.above.is_some());
    if let Some(query) = &gate.query {
        if let Some(e) = promql_error(query) {
            push(field("query"), format!("the query does not parse: {e}"));
        }
        if thresholds != 1 {
            push(
                at.to_owned(),
                "a query gate states exactly one threshold, below or above".into(),
            );
        }
    } else if thresholds != 0 {
        let which = if gate.below.is_some() {
            "below"
        } else {
            "above"
        };
        push(
            field(which),
            format!("{which} belongs to a query gate (a burn rate gate puts it inside burn_rate)"),
        );
    }
    if (gate.query.is_some() || gate.burn_rate.is_some()) && gate.name.is_none() {
        push(
            at.to_owned(),
            "a query or burn rate gate needs a name".into(),
        );
    }
    if let Some(burn) = &gate.burn_rate {
        match plan.services.iter().find(|s| s.name == burn.service) {
            None => push(
                field("burn_rate.service"),
                format!("unknown service {}", burn.service),
            ),
            Some(s) if s.slo.is_none() => {
                push(
                    field("burn_rate.service"),
                    format!("service {} has no slo to burn", s.name),
                );
            }
            Some(_) => {}
        }
        if burn.below.is_nan() || burn.below <= 0.0 {
            push(
                field("burn_rate.below"),
                format!("burn rate factor {} is not above 0", burn.below),
            );
        }
    }
    if let Some(service) = &gate.service {
        if gate.query.is_none() {
            push(
                field("service"),
                "service belongs to a query gate (a burn rate gate names it inside burn_rate)"
                    .into(),
            );
        } else if !plan.services.iter().any(|s| &s.name == service) {
            push(field("service"), format!("unknown service {service}"));
        }
    }
    if let Some(role) = &gate.signoff
        && !ROLES.contains(&role.as_str())
    {
        push(
            field("signoff"),
            format!("unknown role {role} (roles: {})", ROLES.join(", ")),
        );
    }
    if let Some(step) = &gate.integrity {
        match plan.runbook.iter().find(|s| &s.id == step) {
            None => push(field("integrity"), format!("unknown runbook step {step}")),
            Some(s) if s.verify.is_none() => {
                push(
                    field("integrity"),
                    format!("runbook step {step} has no verify query"),
                );
            }
            Some(_) => {}
        }
    }
}

fn runbook(plan: &Plan, out: &mut Vec<Problem>) {
    for (i, id) in repeated(plan.runbook.iter().map(|s| s.id.as_str())) {
        out.push(problem(
            format!("runbook[{i}].id"),
            format!("runbook step {id} is defined twice"),
        ));
    }
    let phases: HashSet<&str> = plan.phases.iter().map(|p| p.name.as_str()).collect();
    let ids: HashSet<&str> = plan.runbook.iter().map(|s| s.id.as_str()).collect();
    for (i, step) in plan.runbook.iter().enumerate() {
        if !phases.contains(step.phase.as_str()) {
            let reason = format!("runbook step {}: unknown phase {}", step.id, step.phase);
            out.push(problem(format!("runbook[{i}].phase"), reason));
        }
        for (j, dep) in step.depends_on.iter().enumerate() {
            if !ids.contains(dep.as_str()) {
                let reason = format!("runbook step {}: depends on unknown step {dep}", step.id);
                out.push(problem(format!("runbook[{i}].depends_on[{j}]"), reason));
            }
        }
        if let Some(e) = step.verify.as_deref().and_then(promql_error) {
            let reason = format!("runbook step {}: verify does not parse: {e}", step.id);
            out.push(problem(format!("runbook[{i}].verify"), reason));
        }
    }
    cycles(&plan.runbook, out);
}

/// Each dependency cycle once, at the `depends_on` entry that closes it.
fn cycles(steps: &[Step], out: &mut Vec<Problem>) {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    // 0: not visited, 1: on the current path, 2: done.
    let mut state = vec![0u8; steps.len()];
    for start in 0..steps.len() {
        if state[start] != 0 {
            continue;
        }
        // An explicit stack of (step, next dependency to follow), so a long chain cannot
        // overflow the stack.
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(&mut (step, ref mut next)) = stack.last_mut() {
            let Some(dep) = steps[step].depends_on.get(*next) else {
                state[step] = 2;
                stack.pop();
                continue;
            };
            let j = *next;
            *next += 1;
            let Some(&to) = index.get(dep.as_str()) else {
                continue;
            };
            match state[to] {
                0 => {
                    state[to] = 1;
                    stack.push((to, 0));
                }
                1 => {
                    let from = stack.iter().position(|&(s, _)| s == to).unwrap_or(0);
                    let mut path: Vec<&str> = stack[from..]
                        .iter()
                        .map(|&(s, _)| steps[s].id.as_str())
                        .collect();
                    path.push(steps[to].id.as_str());
                    let reason = format!(
                        "runbook step {}: dependency cycle {}",
                        steps[step].id,
                        path.join(" → ")
                    );
                    out.push(problem(format!("runbook[{step}].depends_on[{j}]"), reason));
                }
                _ => {}
            }
        }
    }
}
