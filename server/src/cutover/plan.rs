//! `plan.yaml`, the cutover, as DESIGN.md fixes its shape: the two environments, the services
//! and their SLIs, the ordered phases with their gates, and the runbook. Every table rejects
//! unknown fields; what parsing cannot see (a step named but not defined, a cycle, a query that
//! does not parse) is [`super::check`]'s.

use std::time::Duration;

use serde::Deserialize;

/// A cutover plan.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The cutover's name, in reports.
    pub name: String,
    /// Label matchers of each side.
    pub environments: Environments,
    /// The services compared on both sides.
    #[serde(default)]
    pub services: Vec<Service>,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// The runbook's steps.
    #[serde(default)]
    pub runbook: Vec<Step>,
}

/// The label matchers (`env="source", cluster=~"do-.*"`) added to every selector of a
/// service's SLIs on each side.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environments {
    /// The side traffic leaves.
    pub source: String,
    /// The side traffic moves to.
    pub target: String,
}

/// One side of the migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// `environments.source`.
    Source,
    /// `environments.target`.
    Target,
}

/// A service and its SLIs, each PromQL run once per environment.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Its name (gates and pages name it).
    pub name: String,
    /// Who owns it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Request rate.
    #[serde(default)]
    pub requests: Option<String>,
    /// Error rate (the error ratio is this over `requests`).
    #[serde(default)]
    pub errors: Option<String>,
    /// A histogram's `_bucket` series, for p50 and p99.
    #[serde(default)]
    pub latency: Option<String>,
    /// Saturation (a ratio of 0 to 1).
    #[serde(default)]
    pub saturation: Option<String>,
    /// Its SLO, expanded through the `slos:` machinery.
    #[serde(default)]
    pub slo: Option<Slo>,
}

/// An availability objective over a window.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Percent of good requests, e.g. 99.9.
    pub objective: f64,
    /// Over how long ("30d").
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

/// One phase of the cutover.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Its name (`shift-10`).
    pub name: String,
    /// The target's share of traffic, percent: never lower than the phase before's.
    pub traffic: f64,
    /// How long every gate must stay green before advance is allowed.
    #[serde(default, with = "humantime_serde")]
    pub hold_for: Option<Duration>,
    /// After it, no rollback (no data syncs back). At most one phase.
    #[serde(default)]
    pub point_of_no_return: bool,
    /// What must hold before advancing from it.
    #[serde(default)]
    pub gates: Vec<Gate>,
}

/// A go/no-go gate: exactly one of `query`, `burn_rate`, `runbook`, `signoff` and `integrity`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Its name on the page and in pages (a query or burn-rate gate needs one).
    #[serde(default)]
    pub name: Option<String>,
    /// A PromQL condition: green while its value is `below` (or `above`) the threshold.
    #[serde(default)]
    pub query: Option<String>,
    /// The service a query gate is about (a burn rate gate names its own), for the
    /// `service` label of its alert and the timeline.
    #[serde(default)]
    pub service: Option<String>,
    /// The threshold the value must stay under.
    #[serde(default)]
    pub below: Option<f64>,
    /// The threshold the value must stay over.
    #[serde(default)]
    pub above: Option<f64>,
    /// A service's SLO burn rate on one side, under a factor over a window.
    #[serde(default)]
    pub burn_rate: Option<BurnRate>,
    /// `done`: every runbook step of this phase done.
    #[serde(default)]
    pub runbook: Option<RunbookDone>,
    /// A person of this role signs (`commander`).
    #[serde(default)]
    pub signoff: Option<String>,
    /// A runbook step whose verification query must pass.
    #[serde(default)]
    pub integrity: Option<String>,
}

/// The only value of a runbook gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunbookDone {
    /// Every step of the phase done.
    Done,
}

/// A burn-rate gate.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnRate {
    /// A service of the plan, with an SLO.
    pub service: String,
    /// The side whose burn rate counts.
    pub env: Env,
    /// The window the rate is taken over ("1h").
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// The factor it must stay under.
    pub below: f64,
}

/// A runbook step.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Its id (`depends_on` and `integrity` name it).
    pub id: String,
    /// What is done.
    pub title: String,
    /// Who does it.
    #[serde(default)]
    pub owner: Option<String>,
    /// The phase it belongs to.
    pub phase: String,
    /// How long it should take.
    #[serde(with = "humantime_serde")]
    pub planned: Duration,
    /// Steps to be done first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// A PromQL condition that verifies it (true while it returns a result).
    #[serde(default)]
    pub verify: Option<String>,
    /// A link to the procedure.
    #[serde(default)]
    pub link: Option<String>,
}

impl Plan {
    /// The phase marked as the point of no return, if any.
    pub fn point_of_no_return(&self) -> Option<&Phase> {
        self.phases.iter().find(|p| p.point_of_no_return)
    }
}
