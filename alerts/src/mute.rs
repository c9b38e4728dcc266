//! Muting: silences (matchers, author, comment, start/end) and inhibit rules, each behind the
//! small [`Muter`] trait the pipeline asks before a notification goes out. Acknowledgement is not
//! a mute: it stops escalation, not the war room's view (see [`crate::escalation`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Deserialize;

use crate::matcher::{Matcher, all_match};

/// Why an alert is muted, for the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MuteReason {
    /// A silence covers it.
    Silenced {
        /// The silence's id.
        id: String,
        /// Who created it.
        by: String,
    },
    /// A firing alert inhibits it.
    Inhibited {
        /// The `alertname` of the inhibiting alert.
        by_alert: String,
    },
}

/// Something that may mute an alert with these labels at `now`.
pub trait Muter {
    /// `Some(reason)` when muted.
    fn mutes(&self, labels: &BTreeMap<String, String>, now: SystemTime) -> Option<MuteReason>;
}

/// Several muters: the first that mutes gives the reason.
pub struct AnyOf<'a>(pub &'a [&'a dyn Muter]);

impl Muter for AnyOf<'_> {
    fn mutes(&self, labels: &BTreeMap<String, String>, now: SystemTime) -> Option<MuteReason> {
        self.0.iter().find_map(|m| m.mutes(labels, now))
    }
}

/// A silence as Alertmanager has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    /// Stable id.
    pub id: String,
    /// Every matcher must pass.
    pub matchers: Vec<Matcher>,
    /// Active from.
    pub starts_at: SystemTime,
    /// Active until (exclusive).
    pub ends_at: SystemTime,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Whether it is in force at `now`.
    pub fn active(&self, now: SystemTime) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

impl Muter for Vec<Silence> {
    fn mutes(&self, labels: &BTreeMap<String, String>, now: SystemTime) -> Option<MuteReason> {
        self.iter()
            .find(|s| s.active(now) && all_match(&s.matchers, labels))
            .map(|s| MuteReason::Silenced {
                id: s.id.clone(),
                by: s.created_by.clone(),
            })
    }
}

/// An `inhibit_rules` entry: a firing source alert mutes matching targets that share `equal`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// What the inhibiting alert must match.
    #[serde(default)]
    pub source_matchers: Vec<Matcher>,
    /// What the muted alert must match.
    #[serde(default)]
    pub target_matchers: Vec<Matcher>,
    /// Labels both must have with equal values.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// Inhibit rules over the currently firing alerts.
pub struct Inhibitor<'a> {
    /// The rules.
    pub rules: &'a [InhibitRule],
    /// Labels of every firing alert.
    pub firing: &'a [BTreeMap<String, String>],
}

impl Muter for Inhibitor<'_> {
    fn mutes(&self, target: &BTreeMap<String, String>, _now: SystemTime) -> Option<MuteReason> {
        for rule in self
            .rules
            .iter()
            .filter(|r| all_match(&r.target_matchers, target))
        {
            let source = self.firing.iter().find(|s| {
                *s != target
                    && all_match(&rule.source_matchers, s)
                    && rule.equal.iter().all(|l| s.get(l) == target.get(l))
            });
            if let Some(s) = source {
                let by_alert = s.get("alertname").cloned().unwrap_or_default();
                return Some(MuteReason::Inhibited { by_alert });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::labels;
    use std::time::Duration;

    #[test]
    fn a_silence_mutes_matching_alerts_only_between_its_start_and_end() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let silences = vec![Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("env=\"source\"").unwrap()],
            starts_at: t0,
            ends_at: t0 + Duration::from_secs(60),
            created_by: "alice".into(),
            comment: "planned drain".into(),
        }];
        let source = labels(&[("env", "source")]);
        assert_eq!(
            silences.mutes(&source, t0),
            Some(MuteReason::Silenced {
                id: "s1".into(),
                by: "alice".into()
            })
        );
        assert_eq!(silences.mutes(&source, t0 + Duration::from_secs(60)), None);
        assert_eq!(silences.mutes(&labels(&[("env", "target")]), t0), None);
    }

    #[test]
    fn a_firing_critical_alert_inhibits_warnings_in_the_same_env_only() {
        let rules: Vec<InhibitRule> = serde_norway::from_str(
            "- source_matchers: ['severity=\"critical\"']\n  target_matchers: ['severity=\"warning\"']\n  equal: [env]\n",
        )
        .unwrap();
        let firing = vec![labels(&[
            ("alertname", "TargetDown"),
            ("severity", "critical"),
            ("env", "target"),
        ])];
        let inhibitor = Inhibitor {
            rules: &rules,
            firing: &firing,
        };
        let now = SystemTime::UNIX_EPOCH;
        let warning = labels(&[("severity", "warning"), ("env", "target")]);
        assert_eq!(
            inhibitor.mutes(&warning, now),
            Some(MuteReason::Inhibited {
                by_alert: "TargetDown".into()
            })
        );
        assert_eq!(
            inhibitor.mutes(&labels(&[("severity", "warning"), ("env", "source")]), now),
            None
        );
    }
}
