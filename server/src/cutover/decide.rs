//! The cutover's decisions: advance, hold, resume and rollback, as pure functions of the plan,
//! the cutover's state, its gates' colours and `now`, each answer an enum carrying its reason
//! (STYLE 11). The server stores what they decide; nothing here reads a clock or a database.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::plan::Plan;

/// Where a cutover stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The current phase, by its index in the plan.
    pub phase: usize,
    /// When it began.
    pub since: SystemTime,
    /// Why advancing is held, if it is.
    pub hold: Option<Hold>,
}

/// Why a cutover is held.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// A person held it.
    ByHand {
        /// Who.
        actor: String,
        /// Why, in their words.
        reason: String,
    },
    /// A gate turned red during the phase.
    GateRed {
        /// The gate.
        gate: String,
    },
}

/// One gate of the current phase as it stands: green since a time, or not green (red, or not
/// known yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateNow {
    /// The gate's name.
    pub name: String,
    /// Since when it has been green.
    pub green_since: Option<SystemTime>,
}

/// What someone asks of the cutover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// To the next phase; `override_reason` to go although the gates have not been green for
    /// the phase's `hold_for`.
    Advance {
        /// The written reason of an override.
        override_reason: Option<String>,
    },
    /// Hold advancing, with a reason.
    Hold {
        /// Why.
        reason: String,
    },
    /// End a hold.
    Resume,
    /// Back to an earlier phase.
    Rollback {
        /// The phase's name.
        to: String,
    },
}

/// What an action comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The cutover moves to phase `to`; `overridden` holds the reason when it went past gates
    /// not yet green for `hold_for`.
    Advance {
        /// The next phase's index.
        to: usize,
        /// The override's reason.
        overridden: Option<String>,
    },
    /// The cutover is held.
    Hold(Hold),
    /// The hold ends.
    Resume,
    /// The cutover goes back to phase `to`.
    Rollback {
        /// The earlier phase's index.
        to: usize,
    },
    /// Nothing changes, for this reason.
    Refused(Refusal),
}

/// Why an action was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// There is no phase after the current one.
    LastPhase,
    /// Some gates are not green, or not yet green for `hold_for` (each with the time left).
    NotReady {
        /// Gates not green.
        red: Vec<String>,
        /// Green gates with how long they still have to stay green.
        waiting: Vec<(String, Duration)>,
    },
    /// The cutover is held; resume first.
    Held(Hold),
    /// Going back would cross phase `phase`, the point of no return.
    PastPointOfNoReturn {
        /// The point of no return.
        phase: String,
    },
    /// The plan has no phase of that name.
    UnknownPhase(String),
    /// Phase `phase` is not before the current one.
    NotEarlier {
        /// The phase asked for.
        phase: String,
    },
    /// There is no hold to end.
    NotHeld,
    /// The cutover is held already.
    AlreadyHeld(Hold),
    /// A hold or an override needs a written reason.
    NoReason,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::ByHand { actor, reason } => write!(f, "held by {actor}: {reason}"),
            Hold::GateRed { gate } => write!(f, "held: gate {gate} turned red"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::LastPhase => write!(f, "this is the last phase"),
            Refusal::NotReady { red, waiting } => {
                let mut parts: Vec<String> =
                    red.iter().map(|g| format!("{g} is not green")).collect();
                parts.extend(waiting.iter().map(|(g, left)| {
                    format!(
                        "{g} must stay green {} more",
                        humantime::format_duration(*left)
                    )
                }));
                write!(
                    f,
                    "not ready: {} (or advance with an override and a reason)",
                    parts.join("; ")
                )
            }
            Refusal::Held(hold) => write!(f, "{hold}; resume first"),
            Refusal::PastPointOfNoReturn { phase } => {
                write!(f, "no rollback past {phase}, the point of no return")
            }
            Refusal::UnknownPhase(p) => write!(f, "the plan has no phase {p}"),
            Refusal::NotEarlier { phase } => write!(f, "{phase} is not before the current phase"),
            Refusal::NotHeld => write!(f, "the cutover is not held"),
            Refusal::AlreadyHeld(hold) => write!(f, "already {hold}"),
            Refusal::NoReason => write!(f, "a reason is required"),
        }
    }
}

/// What `action` by `actor` comes to, given the current phase's `gates`, at `now`.
pub fn decide(
    plan: &Plan,
    state: &State,
    gates: &[GateNow],
    action: &Action,
    actor: &str,
    now: SystemTime,
) -> Decision {
    let refused = Decision::Refused;
    match action {
        Action::Advance { override_reason } => {
            advance(plan, state, gates, override_reason.as_deref(), now)
        }
        Action::Hold { reason } => match (&state.hold, reason.trim().is_empty()) {
            (Some(hold), _) => refused(Refusal::AlreadyHeld(hold.clone())),
            (None, true) => refused(Refusal::NoReason),
            (None, false) => Decision::Hold(Hold::ByHand {
                actor: actor.to_owned(),
                reason: reason.clone(),
            }),
        },
        Action::Resume => match state.hold {
            Some(_) => Decision::Resume,
            None => refused(Refusal::NotHeld),
        },
        Action::Rollback { to } => rollback(plan, state, to),
    }
}

fn advance(
    plan: &Plan,
    state: &State,
    gates: &[GateNow],
    override_reason: Option<&str>,
    now: SystemTime,
) -> Decision {
    if state.phase + 1 >= plan.phases.len() {
        return Decision::Refused(Refusal::LastPhase);
    }
    if let Some(hold) = &state.hold {
        return Decision::Refused(Refusal::Held(hold.clone()));
    }
    let hold_for = plan.phases[state.phase].hold_for.unwrap_or_default();
    let (mut red, mut waiting) = (Vec::new(), Vec::new());
    for gate in gates {
        match gate.green_since {
            None => red.push(gate.name.clone()),
            Some(since) => {
                let green_for = now.duration_since(since).unwrap_or_default();
                if green_for < hold_for {
                    waiting.push((gate.name.clone(), hold_for - green_for));
                }
            }
        }
    }
    let to = state.phase + 1;
    match (red.is_empty() && waiting.is_empty(), override_reason) {
        (true, _) => Decision::Advance {
            to,
            overridden: None,
        },
        (false, Some(reason)) if !reason.trim().is_empty() => Decision::Advance {
            to,
            overridden: Some(reason.to_owned()),
        },
        (false, Some(_)) => Decision::Refused(Refusal::NoReason),
        (false, None) => Decision::Refused(Refusal::NotReady { red, waiting }),
    }
}

fn rollback(plan: &Plan, state: &State, to: &str) -> Decision {
    let Some(target) = plan.phases.iter().position(|p| p.name == to) else {
        return Decision::Refused(Refusal::UnknownPhase(to.to_owned()));
    };
    if target >= state.phase {
        return Decision::Refused(Refusal::NotEarlier {
            phase: to.to_owned(),
        });
    }
    // Once the point of no return has begun, nothing before it can be gone back to.
    let crossed = plan.phases[target + 1..=state.phase]
        .iter()
        .find(|p| p.point_of_no_return);
    match crossed {
        Some(p) => Decision::Refused(Refusal::PastPointOfNoReturn {
            phase: p.name.clone(),
        }),
        None => Decision::Rollback { to: target },
    }
}

/// The hold a gate turning red brings (green `before`, not green `now`), unless the cutover is
/// held already.
pub fn auto_hold(state: &State, before: &[GateNow], now: &[GateNow]) -> Option<Hold> {
    if state.hold.is_some() {
        return None;
    }
    let was_green = |name: &str| {
        before
            .iter()
            .any(|g| g.name == name && g.green_since.is_some())
    };
    now.iter()
        .find(|g| g.green_since.is_none() && was_green(&g.name))
        .map(|g| Hold::GateRed {
            gate: g.name.clone(),
        })
}

impl State {
    /// The state once `decision` is carried out at `now`.
    pub fn after(&self, decision: &Decision, now: SystemTime) -> State {
        let moved = |phase| State {
            phase,
            since: now,
            hold: None,
        };
        match decision {
            Decision::Advance { to, .. } | Decision::Rollback { to } => moved(*to),
            Decision::Hold(hold) => State {
                hold: Some(hold.clone()),
                ..self.clone()
            },
            Decision::Resume => State {
                hold: None,
                ..self.clone()
            },
            Decision::Refused(_) => self.clone(),
        }
    }
}
