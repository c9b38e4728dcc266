//! The cutover: the commander's plan, run inside the server and judged by the metrics it stores.
//!
//! - [`plan`]: `plan.yaml`'s shape (environments, services, phases and gates, runbook).
//! - [`check`]: what a plan must satisfy beyond its shape, each error as `FILE:LINE:COL: reason`
//!   (`warroom plan check`).
//! - [`decide`]: advance, hold, resume and rollback as pure decisions with their reasons.
//! - [`eta`]: the expected end from the runbook's plan and the pace so far.
//! - [`traffic`]: the traffic actually shifted per service against the plan's, and drift.
//! - [`locate`]: the line and column of each node of a YAML file, by path.

pub mod check;
pub mod decide;
pub mod eta;
pub mod live;
mod locate;
pub mod plan;
pub mod traffic;

#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod decide_tests;
