//! The cutover running in the server: the plan in force and the [`Memory`] behind one lock.
//! [`Cutover::evaluate`] runs a round of the current phase's gates and every verification
//! (queries run outside the lock), keeps each gate's value and green-since, auto-holds when a
//! gate turns red and raises `CutoverGateFailed` through the alert pipeline;
//! [`Cutover::act`] carries out advance, hold, resume and rollback as [`decide`] decides;
//! runbook steps and sign-offs are ticked here too. Every change is saved with its timeline
//! events in one transaction.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, Notify};
use warroom_alerts::dispatch::fingerprint;
use warroom_alerts::notify::AlertView;

use super::decide::{Action, Decision, Hold, auto_hold, decide};
use super::gates::{self, Check, GateSpec, Reading};
use super::measure::{self, Measured};
use super::memory::{self, Failing, GateMemory, Memory, Signed, StepDone, Verification};
use super::plan::Plan;
use super::settings::CutoverSettings;
use crate::alerting::pipeline::Pipeline;
use crate::alerting::records::{RecordError, from_ms, to_ms};
use crate::query::{Engine, Value};
use crate::timeline::{Kind, NewEvent, Timeline};

/// The alert a gate turning red raises.
pub const GATE_FAILED: &str = "CutoverGateFailed";

/// The actor of the server's own decisions in the timeline.
const WARROOM: &str = "warroom";

/// What the lock guards.
pub struct Live {
    /// The plan in force.
    pub plan: Arc<Plan>,
    /// The cutover's state.
    pub memory: Memory,
    /// Each service on both sides, as last measured (not kept across restarts: it is
    /// measured again).
    pub services: Vec<Measured>,
}

/// The running cutover.
pub struct Cutover {
    db: SqlitePool,
    timeline: Arc<Timeline>,
    pipeline: Arc<Pipeline>,
    engine: Engine,
    settings: CutoverSettings,
    live: Mutex<Live>,
    /// Rung after a change that gates should see at once (a step done, a sign-off, a new phase).
    pub poke: Notify,
}

/// Why a runbook step or a sign-off was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepRefusal {
    /// The plan has no such step.
    UnknownStep(String),
    /// It is done already.
    AlreadyDone {
        /// The step.
        step: String,
        /// By whom.
        by: String,
    },
    /// It is not done, so there is nothing to undo.
    NotDone(String),
    /// Steps it depends on are not done.
    Waiting {
        /// The step.
        step: String,
        /// What it waits on.
        on: Vec<String>,
    },
    /// The phase has no sign-off gate for that role.
    NoSuchSignoff {
        /// The phase.
        phase: String,
        /// The role.
        role: String,
    },
}

impl fmt::Display for StepRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepRefusal::UnknownStep(s) => write!(f, "the runbook has no step {s}"),
            StepRefusal::AlreadyDone { step, by } => write!(f, "step {step} was done by {by}"),
            StepRefusal::NotDone(s) => write!(f, "step {s} is not done"),
            StepRefusal::Waiting { step, on } => {
                write!(f, "step {step} depends on {}, not done", on.join(", "))
            }
            StepRefusal::NoSuchSignoff { phase, role } => {
                write!(f, "phase {phase} has no sign-off by the {role}")
            }
        }
    }
}

/// What the gate queries of a round came to.
struct Looked {
    plan: Arc<Plan>,
    phase: String,
    specs: Vec<GateSpec>,
    readings: BTreeMap<String, Reading>,
    verified: BTreeMap<String, Reading>,
    services: Vec<Measured>,
}

impl Cutover {
    /// The cutover of `plan` as last saved, or a new one at its first phase. Refuses a saved
    /// cutover whose phase the plan no longer has (it would rewind it).
    pub async fn open(
        db: SqlitePool,
        timeline: Arc<Timeline>,
        pipeline: Arc<Pipeline>,
        engine: Engine,
        settings: CutoverSettings,
        plan: Plan,
    ) -> anyhow::Result<Arc<Self>> {
        let now = SystemTime::now();
        let saved = memory::load(&db).await?;
        let (memory, fresh) = match saved {
            Some(m) if m.plan == plan.name => (m, false),
            _ => (Memory::begin(&plan, now), true),
        };
        memory.state(&plan).map_err(anyhow::Error::msg)?;
        timeline.set_phase(Some(memory.phase.clone()));
        if fresh {
            let body = json!({"what": "began", "plan": plan.name, "to": memory.phase});
            let event = NewEvent::new(Kind::Phase, body).by(WARROOM);
            memory::save(&db, &timeline, &memory, vec![event], now).await?;
        }
        let live = Live {
            plan: Arc::new(plan),
            memory,
            services: Vec::new(),
        };
        Ok(Arc::new(Self {
            db,
            timeline,
            pipeline,
            engine,
            settings,
            live: Mutex::new(live),
            poke: Notify::new(),
        }))
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &CutoverSettings {
        &self.settings
    }

    /// A look at the plan, state and traffic under the lock.
    pub async fn read<T>(&self, f: impl FnOnce(&Live) -> T) -> T {
        f(&*self.live.lock().await)
    }

    /// Swaps in a reloaded plan, unless it lacks the phase the cutover is in (a reload never
    /// rewinds); gates no longer in the phase are forgotten.
    pub async fn reload(&self, plan: Plan) -> Result<(), String> {
        let mut live = self.live.lock().await;
        if plan.name != live.plan.name {
            return Err(format!(
                "the plan's name changed from {:?} to {:?}: another cutover needs a fresh data directory",
                live.plan.name, plan.name
            ));
        }
        live.memory.state(&plan)?;
        let phase = plan.phases.iter().find(|p| p.name == live.memory.phase);
        let names: Vec<String> = phase
            .map(|p| gates::specs(&plan, p).into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        live.memory.gates.retain(|n, _| names.contains(n));
        live.plan = Arc::new(plan);
        Ok(())
    }

    /// One round: the current phase's gates and every verification, at `now`.
    pub async fn evaluate(&self, now: SystemTime) -> Result<(), RecordError> {
        let looked = self.look(now).await;
        let mut live = self.live.lock().await;
        let moved = live.memory.phase != looked.phase || !Arc::ptr_eq(&live.plan, &looked.plan);
        if moved {
            return Ok(()); // Changed while the queries ran; the next round sees the new phase.
        }
        live.services = looked.services.clone();
        let mut next = live.memory.clone();
        let (events, alerts) = apply(&mut next, &looked, to_ms(now));
        if events.is_empty() {
            live.memory = next;
        } else {
            self.commit(&mut live, next, events, now).await?;
        }
        drop(live);
        if !alerts.is_empty() {
            self.pipeline.receive(alerts, now).await?;
        }
        Ok(())
    }

    /// Runs the round's queries: gates of the current phase, verifications, traffic.
    async fn look(&self, now: SystemTime) -> Looked {
        let (plan, phase) = {
            let live = self.live.lock().await;
            (live.plan.clone(), live.memory.phase.clone())
        };
        let at_ms = to_ms(now);
        let specs = plan
            .phases
            .iter()
            .find(|p| p.name == phase)
            .map(|p| gates::specs(&plan, p))
            .unwrap_or_default();
        let mut readings = BTreeMap::new();
        for spec in &specs {
            if let Ok(Check::Query { query, threshold }) = &spec.check {
                let answer = self.ask(query, at_ms).await;
                readings.insert(spec.name.clone(), gates::judge(answer, *threshold));
            }
        }
        let mut verified = BTreeMap::new();
        for step in &plan.runbook {
            if let Some(query) = &step.verify {
                let answer = self.ask(query, at_ms).await;
                verified.insert(step.id.clone(), gates::verified(answer));
            }
        }
        let planned = plan.phases.iter().find(|p| p.name == phase);
        let planned = planned.map_or(0.0, |p| p.traffic);
        let tolerance = self.settings.traffic_tolerance;
        let services = measure::services(&self.engine, &plan, planned, tolerance, at_ms).await;
        Looked {
            plan,
            phase,
            specs,
            readings,
            verified,
            services,
        }
    }

    async fn ask(&self, query: &str, at_ms: i64) -> Result<Value, String> {
        self.engine
            .instant(query, at_ms)
            .await
            .map_err(|e| e.to_string())
    }

    /// Carries out `action` by `actor` at `now` if [`decide`] allows it; the decision.
    pub async fn act(
        &self,
        action: &Action,
        actor: &str,
        now: SystemTime,
    ) -> Result<Decision, RecordError> {
        let mut live = self.live.lock().await;
        let plan = live.plan.clone();
        let Ok(state) = live.memory.state(&plan) else {
            return Ok(Decision::Refused(super::decide::Refusal::UnknownPhase(
                live.memory.phase.clone(),
            )));
        };
        let specs = gates::specs(&plan, &plan.phases[state.phase]);
        let gates_now = live.memory.gates_now(&specs);
        let decision = decide(&plan, &state, &gates_now, action, actor, now);
        let now_ms = to_ms(now);
        let mut events = Vec::new();
        let mut resolved = Vec::new();
        let mut next = live.memory.clone();
        let m = &mut next;
        match &decision {
            Decision::Refused(_) => return Ok(decision),
            Decision::Advance { to, .. } | Decision::Rollback { to } => {
                let to_name = plan.phases[*to].name.clone();
                let (what, overridden) = match &decision {
                    Decision::Advance { overridden, .. } => ("advanced", overridden.clone()),
                    _ => ("rolled back", None),
                };
                let snapshot: Vec<_> = specs.iter().map(|s| gate_json(s, m)).collect();
                let body = json!({
                    "what": what, "from": m.phase, "to": to_name,
                    "gates": snapshot, "override": overridden,
                });
                events.push(NewEvent::new(Kind::Phase, body).by(actor).about(&to_name));
                if let Some(reason) = overridden {
                    let body = json!({"from": m.phase, "to": to_name, "reason": reason,
                        "gates": specs.iter().map(|s| gate_json(s, m)).collect::<Vec<_>>()});
                    events.push(NewEvent::new(Kind::Override, body).by(actor));
                }
                resolved = failing_alerts(&plan, m, Some(now));
                m.enter(&to_name, now_ms);
            }
            Decision::Hold(hold) => {
                events.push(hold_event(hold, actor));
                m.hold = Some(hold.clone());
            }
            Decision::Resume => {
                let body =
                    json!({"what": "resumed", "was": m.hold.as_ref().map(ToString::to_string)});
                events.push(NewEvent::new(Kind::Resume, body).by(actor));
                m.hold = None;
            }
        }
        self.commit(&mut live, next, events, now).await?;
        drop(live);
        if !resolved.is_empty() {
            self.pipeline.receive(resolved, now).await?;
        }
        self.poke.notify_one();
        Ok(decision)
    }

    /// Saves `next` with `events` (stamped with its phase), then makes it the cutover's
    /// state; on a failure nothing changes.
    async fn commit(
        &self,
        live: &mut Live,
        next: Memory,
        events: Vec<NewEvent>,
        now: SystemTime,
    ) -> Result<(), RecordError> {
        let was = self.timeline.phase();
        self.timeline.set_phase(Some(next.phase.clone()));
        if let Err(e) = memory::save(&self.db, &self.timeline, &next, events, now).await {
            self.timeline.set_phase(was);
            return Err(e);
        }
        live.memory = next;
        Ok(())
    }

    /// Marks runbook step `id` done by `by`, unless it is already or waits on another step.
    pub async fn step_done(
        &self,
        id: &str,
        by: &str,
        note: Option<String>,
        now: SystemTime,
    ) -> Result<Result<(), StepRefusal>, RecordError> {
        let mut live = self.live.lock().await;
        let plan = live.plan.clone();
        let Some(step) = plan.runbook.iter().find(|s| s.id == id) else {
            return Ok(Err(StepRefusal::UnknownStep(id.to_owned())));
        };
        let mut next = live.memory.clone();
        let m = &mut next;
        if let Some(done) = m.steps.get(id) {
            let by = done.by.clone();
            return Ok(Err(StepRefusal::AlreadyDone {
                step: id.to_owned(),
                by,
            }));
        }
        let waiting: Vec<String> = (step.depends_on.iter())
            .filter(|d| !m.steps.contains_key(*d))
            .cloned()
            .collect();
        if !waiting.is_empty() {
            let step = id.to_owned();
            return Ok(Err(StepRefusal::Waiting { step, on: waiting }));
        }
        let now_ms = to_ms(now);
        let started_ms = m
            .startable_since(&plan, id)
            .unwrap_or(m.began_ms)
            .min(now_ms);
        let took = (now_ms - started_ms) / 1000;
        let body = json!({"what": "done", "title": step.title, "note": note,
            "planned_s": step.planned.as_secs(), "took_s": took});
        let event = NewEvent::new(Kind::Runbook, body).by(by).about(id);
        let done = StepDone {
            started_ms,
            done_ms: now_ms,
            by: by.to_owned(),
            note,
        };
        m.steps.insert(id.to_owned(), done);
        self.commit(&mut live, next, vec![event], now).await?;
        self.poke.notify_one();
        Ok(Ok(()))
    }

    /// Undoes runbook step `id` (it must be done), by `by`.
    pub async fn step_undo(
        &self,
        id: &str,
        by: &str,
        note: Option<String>,
        now: SystemTime,
    ) -> Result<Result<(), StepRefusal>, RecordError> {
        let mut live = self.live.lock().await;
        if !live.plan.runbook.iter().any(|s| s.id == id) {
            return Ok(Err(StepRefusal::UnknownStep(id.to_owned())));
        }
        let mut next = live.memory.clone();
        let Some(was) = next.steps.remove(id) else {
            return Ok(Err(StepRefusal::NotDone(id.to_owned())));
        };
        let body = json!({"what": "undone", "note": note, "was_done_by": was.by});
        let event = NewEvent::new(Kind::Runbook, body).by(by).about(id);
        self.commit(&mut live, next, vec![event], now).await?;
        self.poke.notify_one();
        Ok(Ok(()))
    }

    /// Records that `by`, in `role`, signed off the current phase.
    pub async fn sign_off(
        &self,
        role: &str,
        by: &str,
        now: SystemTime,
    ) -> Result<Result<(), StepRefusal>, RecordError> {
        let mut live = self.live.lock().await;
        let plan = live.plan.clone();
        let phase = live.memory.phase.clone();
        let has_gate = (plan.phases.iter().find(|p| p.name == phase))
            .is_some_and(|p| p.gates.iter().any(|g| g.signoff.as_deref() == Some(role)));
        if !has_gate {
            let role = role.to_owned();
            return Ok(Err(StepRefusal::NoSuchSignoff { phase, role }));
        }
        let signed = Signed {
            by: by.to_owned(),
            at_ms: to_ms(now),
        };
        let mut next = live.memory.clone();
        let signoffs = next.signoffs.entry(phase.clone()).or_default();
        signoffs.insert(role.to_owned(), signed);
        let body = json!({"role": role, "phase": phase});
        let event = NewEvent::new(Kind::Signoff, body).by(by).about(role);
        self.commit(&mut live, next, vec![event], now).await?;
        self.poke.notify_one();
        Ok(Ok(()))
    }
}

/// Folds a round's readings into `m`: verifications, every gate's colour and green-since, the
/// auto-hold, the gates that turned red; the timeline events and the alerts to send.
fn apply(m: &mut Memory, looked: &Looked, now_ms: i64) -> (Vec<NewEvent>, Vec<AlertView>) {
    let plan = &looked.plan;
    let mut events = Vec::new();
    for (step, r) in &looked.verified {
        let was = m.verified.get(step).map(|v| v.passed);
        if was != Some(r.green) {
            let what = if r.green { "passed" } else { "failed" };
            let body = json!({"what": what, "value": r.value, "detail": r.detail});
            events.push(NewEvent::new(Kind::Integrity, body).by(WARROOM).about(step));
        }
        let v = Verification {
            value: r.value,
            passed: r.green,
            at_ms: now_ms,
            detail: r.detail.clone(),
        };
        m.verified.insert(step.clone(), v);
    }
    let Ok(state) = m.state(plan) else {
        return (events, Vec::new());
    };
    let before = m.gates_now(&looked.specs);
    for spec in &looked.specs {
        let reading = reading(spec, looked, m);
        let old = m.gates.get(&spec.name).cloned().unwrap_or_default();
        let new = old.after(&reading, now_ms);
        if new.colour() != old.colour() {
            let body = json!({"colour": new.colour(), "was": old.colour(),
                "value": new.value, "detail": new.detail, "gate_kind": spec.kind});
            let event = NewEvent::new(Kind::Gate, body)
                .by(WARROOM)
                .about(&spec.name);
            events.push(event.of_service(spec.service.clone()));
        }
        m.gates.insert(spec.name.clone(), new);
    }
    let after = m.gates_now(&looked.specs);
    if let Some(hold) = auto_hold(&state, &before, &after) {
        events.push(hold_event(&hold, WARROOM));
        m.hold = Some(hold);
    }
    let turned_red = looked.specs.iter().filter(|s| {
        let was_green = before
            .iter()
            .any(|g| g.name == s.name && g.green_since.is_some());
        was_green
            && m.gates
                .get(&s.name)
                .is_some_and(|g| g.green_since_ms.is_none())
    });
    for spec in turned_red {
        let detail = m.gates.get(&spec.name).and_then(|g| g.detail.clone());
        let failing = Failing {
            since_ms: now_ms,
            service: spec.service.clone(),
            detail,
        };
        m.failing.insert(spec.name.clone(), failing);
    }
    let green_again: Vec<String> = (m.failing.keys())
        .filter(|n| m.gates.get(*n).is_some_and(|g| g.green_since_ms.is_some()))
        .cloned()
        .collect();
    let mut alerts = Vec::new();
    for name in green_again {
        if let Some(f) = m.failing.remove(&name) {
            alerts.push(gate_alert(plan, &m.phase, &name, &f, Some(from_ms(now_ms))));
        }
    }
    alerts.extend(failing_alerts(plan, m, None));
    (events, alerts)
}

/// A gate's reading this round: a query's answer, or what the memory says of steps, sign-offs
/// and verifications.
fn reading(spec: &GateSpec, looked: &Looked, m: &Memory) -> Reading {
    let yes_no = |green: bool, why: String| Reading {
        value: Some(f64::from(u8::from(green))),
        green,
        detail: (!green).then_some(why),
    };
    match &spec.check {
        Err(e) => Reading {
            value: None,
            green: false,
            detail: Some(e.clone()),
        },
        Ok(Check::Query { .. }) => looked.readings.get(&spec.name).cloned().unwrap_or(Reading {
            value: None,
            green: false,
            detail: Some("not evaluated".into()),
        }),
        Ok(Check::Runbook) => yes_no(
            m.phase_steps_done(&looked.plan, &m.phase),
            "runbook steps of this phase are not done".into(),
        ),
        Ok(Check::Signoff(role)) => {
            let signed = m
                .signoffs
                .get(&m.phase)
                .is_some_and(|s| s.contains_key(role));
            yes_no(signed, format!("not signed off by the {role}"))
        }
        Ok(Check::Integrity(step)) => match m.verified.get(step) {
            Some(v) => Reading {
                value: v.value,
                green: v.passed,
                detail: v.detail.clone(),
            },
            None => yes_no(false, format!("{step} not verified yet")),
        },
    }
}

/// The alerts of every gate still failing (`resolved_at` set: resolved then).
fn failing_alerts(plan: &Plan, m: &Memory, resolved_at: Option<SystemTime>) -> Vec<AlertView> {
    (m.failing.iter())
        .map(|(name, f)| gate_alert(plan, &m.phase, name, f, resolved_at))
        .collect()
}

/// `CutoverGateFailed` for gate `gate` of phase `phase`.
fn gate_alert(
    plan: &Plan,
    phase: &str,
    gate: &str,
    f: &Failing,
    resolved_at: Option<SystemTime>,
) -> AlertView {
    let mut labels = BTreeMap::from([
        ("alertname".to_owned(), GATE_FAILED.to_owned()),
        ("cutover".to_owned(), plan.name.clone()),
        ("phase".to_owned(), phase.to_owned()),
        ("gate".to_owned(), gate.to_owned()),
        ("severity".to_owned(), "page".to_owned()),
    ]);
    if let Some(service) = &f.service {
        labels.insert("service".to_owned(), service.clone());
    }
    let detail = f.detail.as_deref().unwrap_or("not green");
    let annotations = BTreeMap::from([(
        "summary".to_owned(),
        format!("Gate {gate} of phase {phase} turned red ({detail}); the cutover is held"),
    )]);
    AlertView {
        fingerprint: fingerprint(&labels),
        labels,
        annotations,
        starts_at: from_ms(f.since_ms),
        ends_at: resolved_at,
    }
}

fn hold_event(hold: &Hold, actor: &str) -> NewEvent {
    let (reason, gate) = match hold {
        Hold::ByHand { reason, .. } => (Some(reason.clone()), None),
        Hold::GateRed { gate } => (None, Some(gate.clone())),
    };
    let body = json!({"what": hold.to_string(), "reason": reason, "gate": gate});
    NewEvent::new(Kind::Hold, body).by(actor)
}

/// A gate as the timeline and the API show it.
pub fn gate_json(spec: &GateSpec, m: &Memory) -> serde_json::Value {
    let g: GateMemory = m.gates.get(&spec.name).cloned().unwrap_or_default();
    let threshold = match &spec.check {
        Ok(Check::Query { threshold, .. }) => Some(*threshold),
        _ => None,
    };
    json!({
        "name": spec.name,
        "kind": spec.kind,
        "service": spec.service,
        "colour": g.colour(),
        "value": g.value,
        "threshold": threshold,
        "green_since_ms": g.green_since_ms,
        "checked_ms": g.checked_ms,
        "detail": g.detail,
    })
}
