//! The `[cutover]` section of `warroom.toml`: where the plan is and how often its gates are
//! evaluated. A relative path is taken from the working directory.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::traffic::DEFAULT_TOLERANCE;

/// The `[cutover]` section.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CutoverSettings {
    /// `plan.yaml`; without one the server runs no cutover.
    pub plan_file: Option<PathBuf>,
    /// How often the gates are evaluated ("15s"); also right after samples arrive, at most
    /// once a second.
    #[serde(with = "humantime_serde")]
    pub gate_interval: Duration,
    /// How far, in points of percent, the measured traffic share may stray from the phase's
    /// before it is flagged as drift.
    pub traffic_tolerance: f64,
}

impl Default for CutoverSettings {
    fn default() -> Self {
        Self {
            plan_file: None,
            gate_interval: Duration::from_secs(15),
            traffic_tolerance: DEFAULT_TOLERANCE,
        }
    }
}
