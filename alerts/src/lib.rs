//! warroom-alerts turns rule results into pages that reach a human: alert states, routing, silences,
//! acknowledgement, escalation tiers and notifiers, as pure logic behind traits (no HTTP, no SQL).
//!
//! Modules:
//! - [`escalation`]: tiers, acks, repeats and resolves as decisions of state and `now`.
//! - [`state`]: alert states of a rule (pending, firing, resolved) with `for` and `keep_firing_for`.
//!
//! Planned (see `DESIGN.md`): `rules` (Prometheus rule groups, SLO burn-rate expansion), `route`,
//! `notify` (Slack, PagerDuty, email and webhook notifiers behind a `Notifier` trait).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod escalation;
pub mod state;
