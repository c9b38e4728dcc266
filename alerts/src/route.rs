//! The Alertmanager route tree: which routes an alert takes (matchers, `continue`, inherited
//! settings) and the group it joins there. warroom adds `escalation:` naming a policy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::matcher::{Matcher, all_match};
use crate::rules::PromDuration;

/// One node of `route:` as written in `alerting.yaml`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Receiver for alerts ending here (inherited).
    pub receiver: Option<String>,
    /// Labels that split alerts into groups; `["..."]` groups by every label (inherited).
    pub group_by: Option<Vec<String>>,
    /// Wait before a new group's first notification (inherited, default 30s).
    pub group_wait: Option<PromDuration>,
    /// Wait between notifications about a changed group (inherited, default 5m).
    pub group_interval: Option<PromDuration>,
    /// Re-send an unchanged firing group this often (inherited, default 4h).
    pub repeat_interval: Option<PromDuration>,
    /// Escalation policy name for groups here (inherited); without one the receiver is tier 0.
    pub escalation: Option<String>,
    /// Matchers an alert must pass to take this route.
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    /// Legacy equality matchers.
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    /// Legacy regex matchers.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Keep looking at later siblings after this route matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Child routes, tried in order.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// Settings in force where an alert ends up, after inheritance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSettings {
    /// Path of indexes from the root, e.g. `0.2.1`: part of the group key.
    pub path: String,
    /// Receiver name.
    pub receiver: String,
    /// Group-by labels; `None` groups by every label.
    pub group_by: Option<Vec<String>>,
    /// First-notification delay.
    pub group_wait: Duration,
    /// Delay between updates.
    pub group_interval: Duration,
    /// Re-send interval.
    pub repeat_interval: Duration,
    /// Escalation policy name.
    pub escalation: Option<String>,
}

impl Route {
    /// All matchers of this node, the legacy maps included.
    fn all_matchers(&self) -> Result<Vec<Matcher>, String> {
        let mut all = self.matchers.clone();
        for (k, v) in &self.match_eq {
            all.push(Matcher::new(k, crate::matcher::Op::Equal, v)?);
        }
        for (k, v) in &self.match_re {
            all.push(Matcher::new(k, crate::matcher::Op::Regex, v)?);
        }
        Ok(all)
    }

    /// Checks the tree: regexes compile and the root names a receiver.
    pub fn validate(&self) -> Result<(), String> {
        if self.receiver.is_none() {
            return Err("the root route needs a receiver".into());
        }
        self.check_matchers()
    }

    fn check_matchers(&self) -> Result<(), String> {
        self.all_matchers()?;
        self.routes.iter().try_for_each(Route::check_matchers)
    }

    /// The routes an alert with `labels` takes (at least the root).
    pub fn resolve(&self, labels: &BTreeMap<String, String>) -> Vec<RouteSettings> {
        let root = inherit(&RouteSettings::defaults(), self, "0".into());
        let mut out = Vec::new();
        self.walk(labels, root, &mut out);
        out
    }

    fn walk(
        &self,
        labels: &BTreeMap<String, String>,
        here: RouteSettings,
        out: &mut Vec<RouteSettings>,
    ) {
        let before = out.len();
        for (i, child) in self.routes.iter().enumerate() {
            let matches = child
                .all_matchers()
                .map(|m| all_match(&m, labels))
                .unwrap_or(false);
            if !matches {
                continue;
            }
            let settings = inherit(&here, child, format!("{}.{i}", here.path));
            child.walk(labels, settings, out);
            if !child.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(here);
        }
    }
}

impl RouteSettings {
    fn defaults() -> Self {
        Self {
            path: String::new(),
            receiver: String::new(),
            group_by: Some(Vec::new()),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            escalation: None,
        }
    }

    /// The group key of an alert on this route: the route path plus the group-by values.
    pub fn group_key(&self, labels: &BTreeMap<String, String>) -> String {
        let picked: Vec<String> = match &self.group_by {
            None => labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect(),
            Some(names) => names
                .iter()
                .map(|n| format!("{n}={:?}", labels.get(n).map(String::as_str).unwrap_or("")))
                .collect(),
        };
        format!("{}:{{{}}}", self.path, picked.join(","))
    }
}

fn inherit(parent: &RouteSettings, node: &Route, path: String) -> RouteSettings {
    let pick =
        |own: Option<PromDuration>, inherited: Duration| own.map(|d| d.0).unwrap_or(inherited);
    let group_by = match &node.group_by {
        Some(names) if names.iter().any(|n| n == "...") => None,
        Some(names) => Some(names.clone()),
        None => parent.group_by.clone(),
    };
    RouteSettings {
        path,
        receiver: node
            .receiver
            .clone()
            .unwrap_or_else(|| parent.receiver.clone()),
        group_by,
        group_wait: pick(node.group_wait, parent.group_wait),
        group_interval: pick(node.group_interval, parent.group_interval),
        repeat_interval: pick(node.repeat_interval, parent.repeat_interval),
        escalation: node
            .escalation
            .clone()
            .or_else(|| parent.escalation.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::labels;

    fn tree() -> Route {
        serde_norway::from_str(
            r#"
receiver: slack-warroom
group_by: [alertname, env]
escalation: cutover
routes:
  - matchers: ['severity="page"']
    receiver: pagerduty-sre
    continue: true
    routes:
      - matchers: ['phase="traffic-shift"']
        escalation: no-wait
  - matchers: ['env=~"target|source"']
    group_by: ['...']
    group_wait: 0s
"#,
        )
        .unwrap()
    }

    #[test]
    fn an_alert_follows_continue_into_several_routes_with_inherited_settings() {
        let got = tree().resolve(&labels(&[
            ("severity", "page"),
            ("env", "target"),
            ("alertname", "A"),
        ]));
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].path.as_str(), got[0].receiver.as_str()),
            ("0.0", "pagerduty-sre")
        );
        assert_eq!(got[0].escalation.as_deref(), Some("cutover"));
        assert_eq!(
            (got[1].path.as_str(), got[1].receiver.as_str()),
            ("0.1", "slack-warroom")
        );
        assert_eq!(got[1].group_wait, Duration::ZERO);
        assert_eq!(got[1].group_by, None);
    }

    #[test]
    fn a_label_such_as_the_cutover_phase_selects_a_deeper_route_and_its_policy() {
        let got = tree().resolve(&labels(&[("severity", "page"), ("phase", "traffic-shift")]));
        assert_eq!(got[0].path, "0.0.0");
        assert_eq!(got[0].escalation.as_deref(), Some("no-wait"));
    }

    #[test]
    fn an_alert_no_child_matches_stays_on_the_root_and_groups_by_the_listed_labels() {
        let got = tree().resolve(&labels(&[("alertname", "A"), ("env", "x"), ("pod", "p")]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].receiver, "slack-warroom");
        let key = got[0].group_key(&labels(&[("alertname", "A"), ("env", "x"), ("pod", "p")]));
        assert_eq!(key, "0:{alertname=\"A\",env=\"x\"}");
    }
}
