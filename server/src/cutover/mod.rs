//! The cutover: the commander's plan, run inside the server and judged by the metrics it stores.
//!
//! - [`plan`]: `plan.yaml`'s shape (environments, services, phases and gates, runbook).
//! - [`check`]: what a plan must satisfy beyond its shape, each error as `FILE:LINE:COL: reason`
//!   (`warroom plan check`).
//! - [`decide`]: advance, hold, resume and rollback as pure decisions with their reasons.
//! - [`eta`]: the expected end from the runbook's plan and the pace so far.
//! - [`traffic`]: the traffic actually shifted per service against the plan's, and drift.
//! - [`locate`]: the line and column of each node of a YAML file, by path.
//!
//! Running in the server:
//! - [`settings`]: the `[cutover]` section (the plan file, the gates' interval).
//! - [`sli`]: a service's SLIs as PromQL for one side (the environment's matchers added).
//! - [`measure`]: each service's SLIs on both sides, and the traffic the target takes.
//! - [`gates`]: a phase's gates as evaluated: what makes each green, and a query's reading.
//! - [`memory`]: the cutover's state as kept in SQLite (phase, hold, gates, runbook, sign-offs).
//! - [`live`]: the running cutover: gate rounds, auto-hold and `CutoverGateFailed`, actions.
//! - [`runner`]: the loop that runs the rounds and reloads the plan.
//! - [`view`]: the cutover, its gates and its runbook as the JSON API shows them.

pub mod check;
pub mod decide;
pub mod eta;
pub mod gates;
pub mod live;
mod locate;
pub mod measure;
pub mod memory;
pub mod plan;
pub mod runner;
pub mod settings;
pub mod sli;
pub mod traffic;
pub mod view;

#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod live_tests;
