//! The `[alerting]` section of `warroom.toml`: where the rule files and `alerting.yaml` are and
//! how often rules are evaluated. Relative paths are taken from the working directory.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The `[alerting]` section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingSettings {
    /// Directory of `*.yaml` / `*.yml` rule files (Prometheus rule groups and `slos:`).
    pub rules_dir: Option<PathBuf>,
    /// `alerting.yaml`: route tree, receivers, inhibit rules and escalation policies.
    pub config_file: Option<PathBuf>,
    /// How often a group without its own `interval` is evaluated ("15s").
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
}

impl Default for AlertingSettings {
    fn default() -> Self {
        Self {
            rules_dir: None,
            config_file: None,
            evaluation_interval: Duration::from_secs(15),
        }
    }
}
