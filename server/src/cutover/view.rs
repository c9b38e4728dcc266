//! The cutover as the JSON API (and, later, the pages) show it: where it stands with its
//! traffic and ETA, the current phase's gates, and the runbook with each step's progress.

use std::time::SystemTime;

use serde_json::{Value, json};
use warroom_alerts::notify::rfc3339;

use super::decide::Hold;
use super::eta;
use super::gates;
use super::live::{Live, gate_json};
use super::measure::{Measured, Sli};
use super::memory::Memory;
use super::plan::Plan;
use super::traffic::Shift;
use crate::alerting::records::from_ms;

fn at(ms: i64) -> String {
    rfc3339(from_ms(ms))
}

/// `GET /api/warroom/v1/cutover`.
pub fn cutover(live: &Live, now: SystemTime) -> Value {
    let (plan, m) = (&*live.plan, &live.memory);
    let index = plan.phases.iter().position(|p| p.name == m.phase);
    let phases: Vec<Value> = (plan.phases.iter().enumerate())
        .map(|(i, p)| {
            let stage = match index {
                Some(c) if i < c => "done",
                Some(c) if i == c => "current",
                _ => "ahead",
            };
            json!({
                "name": p.name, "traffic": p.traffic, "stage": stage,
                "hold_for_s": p.hold_for.map(|d| d.as_secs()),
                "point_of_no_return": p.point_of_no_return,
                "entered": m.entered.get(&p.name).map(|ms| at(*ms)),
            })
        })
        .collect();
    let services: Vec<Value> = live.services.iter().map(service).collect();
    let eta = eta::eta(from_ms(m.began_ms), &m.progress(plan), now);
    let pnr = plan.point_of_no_return().map(|p| {
        let reached = match (index, plan.phases.iter().position(|q| q.name == p.name)) {
            (Some(c), Some(i)) => c >= i,
            _ => false,
        };
        json!({"phase": p.name, "reached": reached})
    });
    json!({
        "name": plan.name,
        "phase": m.phase,
        "phase_index": index,
        "since": at(m.since_ms),
        "began": at(m.began_ms),
        "hold": m.hold.as_ref().map(hold),
        "phases": phases,
        "services": services,
        "point_of_no_return": pnr,
        "eta": {
            "pace": eta.pace,
            "planned_end": rfc3339(eta.planned_end),
            "expected_end": rfc3339(eta.expected_end),
            "late_by_s": eta.late_by().as_secs(),
        },
    })
}

/// A service on both sides, and the traffic the target takes against the plan.
fn service(m: &Measured) -> Value {
    let (actual, planned, drift) = match m.shift {
        Shift::NoTraffic => (None, None, false),
        Shift::Measured {
            actual,
            planned,
            drift,
        } => (Some(actual), Some(planned), drift),
    };
    json!({
        "name": m.service,
        "traffic": {"planned": planned, "actual": actual, "drift": drift},
        "source": sli(&m.source),
        "target": sli(&m.target),
    })
}

fn sli(s: &Sli) -> Value {
    json!({
        "requests": s.requests, "error_ratio": s.error_ratio,
        "p50": s.p50, "p99": s.p99, "saturation": s.saturation,
    })
}

fn hold(h: &Hold) -> Value {
    match h {
        Hold::ByHand { actor, reason } => {
            json!({"by": actor, "reason": reason, "gate": null, "text": h.to_string()})
        }
        Hold::GateRed { gate } => {
            json!({"by": "warroom", "reason": null, "gate": gate, "text": h.to_string()})
        }
    }
}

/// `GET /api/warroom/v1/gates`: the current phase's gates, and whether advance is allowed.
pub fn gates(live: &Live, now: SystemTime) -> Value {
    let (plan, m) = (&*live.plan, &live.memory);
    let Some(phase) = plan.phases.iter().find(|p| p.name == m.phase) else {
        return json!({"phase": m.phase, "gates": []});
    };
    let specs = gates::specs(plan, phase);
    let list: Vec<Value> = specs.iter().map(|s| gate_json(s, m)).collect();
    let ready = match m.state(plan) {
        Ok(state) => {
            let decision = super::decide::decide(
                plan,
                &state,
                &m.gates_now(&specs),
                &super::decide::Action::Advance {
                    override_reason: None,
                },
                "",
                now,
            );
            match decision {
                super::decide::Decision::Refused(r) => {
                    json!({"advance": false, "why": r.to_string()})
                }
                _ => json!({"advance": true, "why": null}),
            }
        }
        Err(e) => json!({"advance": false, "why": e}),
    };
    json!({"phase": m.phase, "gates": list, "ready": ready})
}

/// `GET /api/warroom/v1/runbook`: every step with its progress and verification.
pub fn runbook(plan: &Plan, m: &Memory) -> Value {
    let steps: Vec<Value> = plan
        .runbook
        .iter()
        .map(|s| {
            let done = m.steps.get(&s.id);
            let waiting: Vec<&String> = s
                .depends_on
                .iter()
                .filter(|d| !m.steps.contains_key(*d))
                .collect();
            let status = match (done, waiting.is_empty()) {
                (Some(_), _) => "done",
                (None, false) => "blocked",
                (None, true) => "ready",
            };
            let verification = m.verified.get(&s.id).map(|v| {
                json!({
                    "passed": v.passed, "value": v.value, "at": at(v.at_ms), "detail": v.detail,
                })
            });
            json!({
                "id": s.id, "title": s.title, "owner": s.owner, "phase": s.phase,
                "planned_s": s.planned.as_secs(), "depends_on": s.depends_on,
                "verify": s.verify, "link": s.link, "status": status, "waiting_on": waiting,
                "started": done.map(|d| at(d.started_ms)),
                "done": done.map(|d| at(d.done_ms)),
                "done_by": done.map(|d| d.by.clone()),
                "note": done.and_then(|d| d.note.clone()),
                "verification": verification,
            })
        })
        .collect();
    json!({"steps": steps})
}
