//! The running cutover on a real SQLite file, a real store and the real alert pipeline, with an
//! injected clock: gate rounds, the auto-hold and `CutoverGateFailed`, runbook steps and
//! sign-offs, advancing after `hold_for`, restarts and reloads.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::check::check_text;
use super::decide::{Action, Decision, Hold, Refusal};
use super::live::{Cutover, GATE_FAILED, StepRefusal};
use super::plan::Plan;
use super::settings::CutoverSettings;
use crate::alerting::files::load_routing;
use crate::alerting::pipeline::Pipeline;
use crate::alerting::records::to_ms;
use crate::alerting::settings::AlertingSettings;
use crate::model::{Labels, Sample, Series, WriteBatch};
use crate::query::Engine;
use crate::store::MetricStore;
use crate::store::mem::MemStore;
use crate::timeline::{Filter, Kind, Timeline};

const PLAN: &str = r#"name: vm-to-k8s
environments:
  source: 'env="source"'
  target: 'env="target"'
services:
  - name: api
    requests: sum(rate(req_total{service="api"}[1m]))
phases:
  - name: prepare
    traffic: 0
  - name: shift
    traffic: 10
    hold_for: 1m
    gates:
      - name: errors
        service: api
        query: max(errors{env="target"})
        below: 1
      - runbook: done
      - signoff: commander
  - name: shift-50
    traffic: 50
    point_of_no_return: true
runbook:
  - id: drain
    title: Drain the old pool
    phase: shift
    planned: 10m
  - id: switch
    title: Switch DNS
    phase: shift
    planned: 10m
    depends_on: [drain]
"#;

const T0: Duration = Duration::from_secs(1_800_000_000);
const MINUTE: Duration = Duration::from_secs(60);

fn at(minutes: u32) -> SystemTime {
    UNIX_EPOCH + T0 + MINUTE * minutes
}

fn plan(text: &str) -> Plan {
    check_text(Path::new("plan.yaml"), text).unwrap()
}

struct Harness {
    _dir: tempfile::TempDir,
    db: sqlx::SqlitePool,
    store: Arc<MemStore>,
    timeline: Arc<Timeline>,
    pipeline: Arc<Pipeline>,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(&dir.path().join("w.db")).await.unwrap();
        let timeline = Timeline::new(db.clone());
        let routing = load_routing(&AlertingSettings::default(), &reqwest::Client::new()).unwrap();
        let pipeline = Pipeline::open(db.clone(), timeline.clone(), routing)
            .await
            .unwrap();
        Harness {
            _dir: dir,
            db,
            store: Arc::new(MemStore::new()),
            timeline,
            pipeline,
        }
    }

    /// The cutover of `text` as a start finds it in the database.
    async fn open(&self, text: &str) -> anyhow::Result<Arc<Cutover>> {
        Cutover::open(
            self.db.clone(),
            self.timeline.clone(),
            self.pipeline.clone(),
            Engine::new(self.store.clone()),
            CutoverSettings::default(),
            plan(text),
        )
        .await
    }

    /// The target's error gauge is `v` at `t`.
    async fn errors(&self, v: f64, t: SystemTime) {
        let series = Series {
            labels: Labels::from_pairs([("__name__", "errors"), ("env", "target")]),
            samples: vec![Sample { t: to_ms(t), v }],
        };
        let batch = WriteBatch {
            id: None,
            series: vec![series],
        };
        self.store.append(batch).await.unwrap();
    }

    /// The `CutoverGateFailed` alerts the pipeline holds: (labels, resolved).
    async fn gate_alerts(&self) -> Vec<(std::collections::BTreeMap<String, String>, bool)> {
        let alerts = self.pipeline.alerts().await;
        let failed = alerts
            .into_iter()
            .filter(|a| a.labels["alertname"] == GATE_FAILED);
        failed.map(|a| (a.labels, a.ends_at.is_some())).collect()
    }
}

async fn colour(c: &Cutover, gate: &str) -> Option<Option<i64>> {
    c.read(|l| l.memory.gates.get(gate).map(|g| g.green_since_ms))
        .await
}

async fn advance(c: &Cutover, t: SystemTime) -> Decision {
    let action = Action::Advance {
        override_reason: None,
    };
    c.act(&action, "alice", t).await.unwrap()
}

#[tokio::test]
async fn a_gate_turning_red_holds_the_cutover_and_pages_until_it_is_green_again() {
    // Arrange: in phase shift with its error gate green.
    let h = Harness::new().await;
    let c = h.open(PLAN).await.unwrap();
    assert!(matches!(
        advance(&c, at(0)).await,
        Decision::Advance { to: 1, .. }
    ));
    h.errors(0.0, at(1)).await;
    c.evaluate(at(1)).await.unwrap();
    assert_eq!(colour(&c, "errors").await, Some(Some(to_ms(at(1)))));
    assert!(h.gate_alerts().await.is_empty());

    // Act: the errors breach.
    h.errors(5.0, at(2)).await;
    c.evaluate(at(2)).await.unwrap();

    // Assert: held, and CutoverGateFailed fires with the phase, gate and service.
    let hold = c.read(|l| l.memory.hold.clone()).await;
    let gate = "errors".to_owned();
    assert_eq!(hold, Some(Hold::GateRed { gate }));
    let alerts = h.gate_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (labels, resolved) = &alerts[0];
    assert_eq!(
        [&labels["phase"], &labels["gate"], &labels["service"]],
        ["shift", "errors", "api"]
    );
    assert!(!resolved);
    let refused = advance(&c, at(2)).await;
    assert!(
        matches!(refused, Decision::Refused(Refusal::Held(_))),
        "{refused:?}"
    );

    // Green again: the alert resolves; the hold stays until a person resumes.
    h.errors(0.0, at(3)).await;
    c.evaluate(at(3)).await.unwrap();
    assert_eq!(colour(&c, "errors").await, Some(Some(to_ms(at(3)))));
    let alert_events = Filter {
        kind: Some(Kind::Alert),
        ..Filter::default()
    };
    let whats: Vec<String> = (h.timeline.page(&alert_events, 100).await.unwrap())
        .into_iter()
        .map(|e| e.body["what"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(whats, ["firing", "resolved"]);
    assert!(c.read(|l| l.memory.hold.is_some()).await);
    let kinds: Vec<String> = (h.timeline.page(&Filter::default(), 100).await.unwrap())
        .into_iter()
        .map(|e| format!("{} {}", e.kind, e.subject.unwrap_or_default()))
        .collect();
    for expected in ["phase ", "phase shift", "gate errors", "hold "] {
        assert!(
            kinds.contains(&expected.to_owned()),
            "{expected:?} in {kinds:?}"
        );
    }
}

#[tokio::test]
async fn steps_wait_for_their_dependencies_and_advance_waits_for_every_gate_to_hold() {
    // Arrange
    let h = Harness::new().await;
    let c = h.open(PLAN).await.unwrap();
    advance(&c, at(0)).await;
    h.errors(0.0, at(1)).await;

    // Act + Assert: the second step waits on the first.
    let early = c.step_done("switch", "bob", None, at(1)).await.unwrap();
    let on = vec!["drain".to_owned()];
    let step = "switch".to_owned();
    assert_eq!(early, Err(StepRefusal::Waiting { step, on }));
    c.step_done("drain", "bob", None, at(1))
        .await
        .unwrap()
        .unwrap();
    c.step_done("switch", "bob", Some("TTL 60".into()), at(2))
        .await
        .unwrap()
        .unwrap();
    let wrong_role = c.sign_off("responder", "carol", at(2)).await.unwrap();
    assert!(matches!(wrong_role, Err(StepRefusal::NoSuchSignoff { .. })));
    c.sign_off("commander", "carol", at(2))
        .await
        .unwrap()
        .unwrap();
    c.evaluate(at(2)).await.unwrap();

    // Every gate green since minute 2: not ready for hold_for (1m), then ready.
    let soon = advance(&c, at(2) + Duration::from_secs(30)).await;
    let Decision::Refused(Refusal::NotReady { red, waiting }) = soon else {
        panic!("{soon:?}");
    };
    assert!(red.is_empty(), "{red:?}");
    assert_eq!(
        waiting.len(),
        3,
        "every gate green since minute 2: {waiting:?}"
    );
    assert_eq!(waiting[0].1, Duration::from_secs(30));
    h.errors(0.0, at(3)).await;
    c.evaluate(at(3)).await.unwrap();
    assert_eq!(
        advance(&c, at(3)).await,
        Decision::Advance {
            to: 2,
            overridden: None
        }
    );

    // Past the point of no return there is no way back.
    let back = Action::Rollback { to: "shift".into() };
    let refused = c.act(&back, "alice", at(4)).await.unwrap();
    let phase = "shift-50".to_owned();
    assert_eq!(
        refused,
        Decision::Refused(Refusal::PastPointOfNoReturn { phase })
    );
    // The ETA's pace: the runbook took 1 + 1 minutes of 20 planned.
    let steps = c.read(|l| l.memory.progress(&l.plan)).await;
    assert!(steps.iter().all(|s| s.done.is_some()));
}

#[tokio::test]
async fn a_restart_keeps_the_phase_and_green_since_and_a_reload_never_rewinds() {
    // Arrange: in shift, the error gate green since minute 1.
    let h = Harness::new().await;
    let c = h.open(PLAN).await.unwrap();
    advance(&c, at(0)).await;
    h.errors(0.0, at(1)).await;
    c.evaluate(at(1)).await.unwrap();
    drop(c);

    // Act: the server starts again on the same database.
    let c = h.open(PLAN).await.unwrap();
    h.errors(0.0, at(2)).await;
    c.evaluate(at(2)).await.unwrap();

    // Assert
    assert_eq!(c.read(|l| l.memory.phase.clone()).await, "shift");
    assert_eq!(colour(&c, "errors").await, Some(Some(to_ms(at(1)))));
    let rewinding = plan(
        &PLAN
            .replace("name: shift\n", "name: shift-10\n")
            .replace("phase: shift\n", "phase: shift-10\n"),
    );
    let refused = c.reload(rewinding).await.unwrap_err();
    assert!(
        refused.contains("the plan has no phase \"shift\""),
        "{refused}"
    );
    let renamed = plan(&PLAN.replace("name: vm-to-k8s", "name: other"));
    assert!(c.reload(renamed).await.is_err());
    let fewer = plan(&PLAN.replace("      - signoff: commander\n", ""));
    c.reload(fewer).await.unwrap();
    assert_eq!(colour(&c, "errors").await, Some(Some(to_ms(at(1)))));
    assert_eq!(colour(&c, "signed off by the commander").await, None);
    let started = h
        .open(
            &PLAN
                .replace("name: shift\n", "name: shift-10\n")
                .replace("phase: shift\n", "phase: shift-10\n"),
        )
        .await;
    assert!(
        started.is_err(),
        "a start with a plan that would rewind is refused"
    );
}
