//! What the server remembers of a running cutover, kept in SQLite as one JSON row
//! (`cutover_state`) written in the same transaction as the timeline events of each change: the
//! phase and when it began, a hold, every gate's last value and green-since, the gates that
//! turned red (their alerts firing), runbook progress, sign-offs and verifications. Phases,
//! gates and steps are named, not numbered, so a reloaded plan never rewinds the cutover.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sqlx::{Row, SqlitePool};

use super::decide::{GateNow, Hold, State};
use super::eta::StepProgress;
use super::gates::{GateSpec, Reading};
use super::plan::Plan;
use crate::alerting::records::{RecordError, from_ms, to_ms};
use crate::timeline::{Event, NewEvent, Timeline};

/// A running cutover's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The plan's name (a plan of another name is another cutover).
    pub plan: String,
    /// The current phase's name.
    pub phase: String,
    /// When it began (ms).
    pub since_ms: i64,
    /// When the cutover began (ms).
    pub began_ms: i64,
    /// Why advancing is held.
    pub hold: Option<Hold>,
    /// The current phase's gates by name.
    pub gates: BTreeMap<String, GateMemory>,
    /// Gates of the current phase that turned red, whose alert fires, by name.
    pub failing: BTreeMap<String, Failing>,
    /// Runbook steps done, by id.
    pub steps: BTreeMap<String, StepDone>,
    /// When each phase was last entered (ms).
    pub entered: BTreeMap<String, i64>,
    /// Sign-offs: phase → role → who and when.
    pub signoffs: BTreeMap<String, BTreeMap<String, Signed>>,
    /// The last verification of each runbook step that has one.
    pub verified: BTreeMap<String, Verification>,
}

/// A gate's last evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GateMemory {
    /// Its live value.
    pub value: Option<f64>,
    /// Since when it has been green (ms); none while it is not.
    pub green_since_ms: Option<i64>,
    /// When it was last evaluated (ms); none before the first time.
    pub checked_ms: Option<i64>,
    /// Why it is not green.
    pub detail: Option<String>,
}

/// A gate that turned red during the phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failing {
    /// When (ms): its alert's start.
    pub since_ms: i64,
    /// The service it is about.
    pub service: Option<String>,
    /// What it read then.
    pub detail: Option<String>,
}

/// A runbook step done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepDone {
    /// When work on it could begin (its phase entered and its dependencies done), ms.
    pub started_ms: i64,
    /// When it was done, ms.
    pub done_ms: i64,
    /// Who did it.
    pub by: String,
    /// Their note.
    pub note: Option<String>,
}

/// A sign-off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signed {
    /// Who signed.
    pub by: String,
    /// When, ms.
    pub at_ms: i64,
}

/// A runbook step's verification as last run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Its value.
    pub value: Option<f64>,
    /// Whether it passed.
    pub passed: bool,
    /// When it ran, ms.
    pub at_ms: i64,
    /// Why it failed.
    pub detail: Option<String>,
}

/// A gate's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    /// It holds.
    Green,
    /// It does not.
    Red,
    /// Not evaluated yet in this phase.
    Unknown,
}

impl GateMemory {
    /// Its colour.
    pub fn colour(&self) -> Colour {
        match (self.green_since_ms, self.checked_ms) {
            (Some(_), _) => Colour::Green,
            (None, Some(_)) => Colour::Red,
            (None, None) => Colour::Unknown,
        }
    }

    /// The same gate after `reading` at `now_ms`: green-since kept while it stays green.
    pub fn after(&self, reading: &Reading, now_ms: i64) -> GateMemory {
        GateMemory {
            value: reading.value,
            green_since_ms: match reading.green {
                true => self.green_since_ms.or(Some(now_ms)),
                false => None,
            },
            checked_ms: Some(now_ms),
            detail: reading.detail.clone(),
        }
    }
}

impl Memory {
    /// A cutover of `plan` beginning its first phase at `now`.
    pub fn begin(plan: &Plan, now: SystemTime) -> Memory {
        let now_ms = to_ms(now);
        let first = plan.phases.first().map(|p| p.name.clone());
        let mut m = Memory {
            plan: plan.name.clone(),
            began_ms: now_ms,
            ..Memory::default()
        };
        m.enter(&first.unwrap_or_default(), now_ms);
        m
    }

    /// Moves to phase `name` at `now_ms`: no hold, its gates not yet evaluated.
    pub fn enter(&mut self, name: &str, now_ms: i64) {
        self.phase = name.to_owned();
        self.since_ms = now_ms;
        self.hold = None;
        self.gates.clear();
        self.failing.clear();
        self.entered.insert(name.to_owned(), now_ms);
    }

    /// The decisions' view of it, or why the plan has no such phase.
    pub fn state(&self, plan: &Plan) -> Result<State, String> {
        let phase = plan.phases.iter().position(|p| p.name == self.phase);
        let phase = phase.ok_or_else(|| {
            format!(
                "the plan has no phase {:?}, where the cutover stands",
                self.phase
            )
        })?;
        Ok(State {
            phase,
            since: from_ms(self.since_ms),
            hold: self.hold.clone(),
        })
    }

    /// The current phase's gates as the decisions see them.
    pub fn gates_now(&self, specs: &[GateSpec]) -> Vec<GateNow> {
        let since = |name: &str| self.gates.get(name).and_then(|g| g.green_since_ms);
        specs
            .iter()
            .map(|s| GateNow {
                name: s.name.clone(),
                green_since: since(&s.name).map(from_ms),
            })
            .collect()
    }

    /// Whether every runbook step of phase `phase` is done.
    pub fn phase_steps_done(&self, plan: &Plan, phase: &str) -> bool {
        let mut of_phase = plan.runbook.iter().filter(|s| s.phase == phase);
        of_phase.all(|s| self.steps.contains_key(&s.id))
    }

    /// When work on step `id` could begin: its phase entered and its dependencies done (the
    /// cutover's start for a step whose phase has not been entered).
    pub fn startable_since(&self, plan: &Plan, id: &str) -> Option<i64> {
        let step = plan.runbook.iter().find(|s| s.id == id)?;
        let mut since = *self.entered.get(&step.phase)?;
        for dep in &step.depends_on {
            since = since.max(self.steps.get(dep)?.done_ms);
        }
        Some(since)
    }

    /// The runbook's progress, for the ETA.
    pub fn progress(&self, plan: &Plan) -> Vec<StepProgress> {
        let step = |s: &super::plan::Step| {
            let done = self.steps.get(&s.id);
            StepProgress {
                planned: s.planned,
                started: done
                    .map(|d| d.started_ms)
                    .or_else(|| self.startable_since(plan, &s.id))
                    .map(from_ms),
                done: done.map(|d| from_ms(d.done_ms)),
            }
        };
        plan.runbook.iter().map(step).collect()
    }
}

/// The cutover as last saved, if one was.
pub async fn load(db: &SqlitePool) -> Result<Option<Memory>, RecordError> {
    let row = sqlx::query("SELECT state FROM cutover_state WHERE id = 1")
        .fetch_optional(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row.try_get("state")?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| RecordError::Corrupt {
            what: "cutover_state".into(),
            detail: e.to_string(),
        })
}

/// Saves `memory` and appends `events` in one transaction; the stored events, published.
pub async fn save(
    db: &SqlitePool,
    timeline: &Timeline,
    memory: &Memory,
    events: Vec<NewEvent>,
    now: SystemTime,
) -> Result<Vec<Event>, RecordError> {
    let state = serde_json::to_string(memory).map_err(|e| RecordError::Corrupt {
        what: "cutover_state".into(),
        detail: e.to_string(),
    })?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO cutover_state (id, state) VALUES (1, ?) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state",
    )
    .bind(state)
    .execute(&mut *tx)
    .await?;
    let stored = timeline.write(&mut tx, now, events).await?;
    tx.commit().await?;
    timeline.publish(stored.clone());
    Ok(stored)
}
