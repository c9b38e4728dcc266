//! warroom-alerts turns rule results into pages that reach a human: alert states, routing, silences,
//! acknowledgement, escalation tiers and notifiers, as pure logic behind traits (no HTTP, no SQL).
//!
//! Modules:
//! - [`config`]: `alerting.yaml` (route tree, receivers, inhibit rules, escalation policies).
//! - [`dispatch`]: the pipeline's composition: route, group, mute, escalate; serialisable state.
//! - [`escalation`]: tiers, acks, repeats and resolves as decisions of state and `now`.
//! - [`eval`]: evaluating a rule group through `InstantQuery` / `RecordSink` traits.
//! - [`external`]: alerts posted by a Prometheus (`/api/v2/alerts`) or an Alertmanager webhook.
//! - [`group`]: when a group notification is due (group_wait, group_interval, repeat_interval).
//! - [`matcher`]: Alertmanager label matchers (`name=~"re"`).
//! - [`mute`]: silences and inhibit rules behind the `Muter` trait.
//! - [`notify`]: Slack, PagerDuty and webhook payloads behind the `Notifier` trait; secrets.
//! - [`outbox`]: a stored notification's retries, backoff, deadline and Slack's rate gate.
//! - [`route`]: the route tree: which routes an alert takes and its group key.
//! - [`rules`]: Prometheus rule files (`rules/*.yaml`) with located errors.
//! - [`slo`]: SLOs expanded into burn-rate recording rules and page/ticket alerts.
//! - [`state`]: alert states of a rule (pending, firing, resolved) with `for` and `keep_firing_for`.
//! - [`template`]: the Go-template subset of annotations (`$labels`, `$value`, humanize, printf).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod dispatch;
pub mod escalation;
pub mod eval;
pub mod external;
pub mod group;
pub mod matcher;
pub mod mute;
pub mod notify;
pub mod outbox;
pub mod route;
pub mod rules;
pub mod slo;
pub mod state;
pub mod template;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    /// A label set from `(name, value)` pairs.
    pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
