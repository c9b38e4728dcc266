//! warroom-alerts turns rule results into pages that reach a human: alert states, routing, silences,
//! acknowledgement, escalation tiers and notifiers, as pure logic behind traits (no HTTP, no SQL).
//! This crate starts empty: it is filled by the alerting issue.
//!
//! Modules (planned, see `DESIGN.md`):
//! - `rules`: Prometheus rule groups and SLO burn-rate expansion.
//! - `escalation`: tiers, acks and their decisions as functions of state and `now`.
//! - `notify`: Slack, PagerDuty, email and webhook notifiers behind a `Notifier` trait.
