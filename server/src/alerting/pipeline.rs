//! The alert pipeline's live half: alerts from rules and from outside go into the dispatcher;
//! every step ticks it (mute → group timing → escalation) and commits its new state together with
//! the outbox rows of its decisions; acknowledgements and silences change it. One lock guards the
//! state, so decisions are made one at a time, in order. Every change is written to the timeline
//! in the same transaction as the state, and published once it committed.
//!
//! - [`held`]: the `phase` label of alerts coming in, and which of them changed.
//! - [`events`]: the timeline events of alerts and of the dispatcher's actions.

mod events;
pub mod held;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use sqlx::SqlitePool;
use tokio::sync::{Mutex, Notify};
use warroom_alerts::config::AlertingConfig;
use warroom_alerts::dispatch::{Action, Dispatcher, GroupState};
use warroom_alerts::mute::{AnyOf, Inhibitor, Muter, Silence};
use warroom_alerts::notify::AlertView;
use warroom_alerts::notify::pagerduty::dedup_key;
use warroom_alerts::outbox::{Delivery, RetryPolicy};

use self::held::Held;
use super::integrations::Integrations;
use super::records::{self, NewDelivery, RecordError, Saved};
use crate::timeline::{Kind, NewEvent, Timeline};

/// The configuration the pipeline runs with; replaced whole on reload.
pub struct Routing {
    /// `alerting.yaml`.
    pub config: AlertingConfig,
    /// Its receivers' integrations.
    pub integrations: Integrations,
}

struct State {
    routing: Arc<Routing>,
    saved: Saved,
    silences: Vec<Silence>,
}

/// The pipeline: state behind one lock, the database, and the bells that wake its loops.
pub struct Pipeline {
    db: SqlitePool,
    timeline: Arc<Timeline>,
    state: Mutex<State>,
    /// Rung when the outbox has something new; the sender waits on it.
    pub outbox_changed: Notify,
    /// How deliveries are retried.
    pub retry: RetryPolicy,
}

/// A group as the API lists it.
pub struct GroupSummary {
    /// Short stable id (PagerDuty's dedup key).
    pub id: String,
    /// The group key.
    pub key: String,
    /// Its state.
    pub group: GroupState,
}

impl Pipeline {
    /// The pipeline with the dispatcher and silences as last saved.
    pub async fn open(
        db: SqlitePool,
        timeline: Arc<Timeline>,
        routing: Routing,
    ) -> Result<Arc<Self>, RecordError> {
        let saved = records::load_state(&db).await?;
        let silences = records::silences(&db).await?;
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                routing: Arc::new(routing),
                saved,
                silences,
            }),
            db,
            timeline,
            outbox_changed: Notify::new(),
            retry: RetryPolicy::default(),
        }))
    }

    /// The database the pipeline keeps its records in.
    pub fn db(&self) -> &SqlitePool {
        &self.db
    }

    /// The timeline its events go to.
    pub fn timeline(&self) -> &Arc<Timeline> {
        &self.timeline
    }

    /// The configuration in force.
    pub async fn routing(&self) -> Arc<Routing> {
        self.state.lock().await.routing.clone()
    }

    /// Swaps in a reloaded configuration; groups and escalations carry on.
    pub async fn set_routing(&self, routing: Routing) {
        self.state.lock().await.routing = Arc::new(routing);
    }

    /// The alerts every group holds, as they came in (without the `phase` label the pipeline
    /// added), for restoring rule states after a restart.
    pub async fn alerts(&self) -> Vec<AlertView> {
        let state = self.state.lock().await;
        let stamped = &state.saved.phase_stamped;
        let groups = state.saved.dispatcher.groups.values();
        let alerts = groups.flat_map(|g| g.alerts.values());
        alerts
            .map(|a| match stamped.contains(&a.fingerprint) {
                true => held::unstamped(a),
                false => a.clone(),
            })
            .collect()
    }

    /// Routes alerts into their groups, each with the cutover's phase label (see [`held`]),
    /// then steps at once (so a page never waits for a tick). An alert that starts firing or
    /// resolves is a timeline event; a re-send is not.
    pub async fn receive(
        &self,
        alerts: Vec<AlertView>,
        now: SystemTime,
    ) -> Result<Option<SystemTime>, RecordError> {
        let mut state = self.state.lock().await;
        let routing = state.routing.clone();
        let phase = self.timeline.phase();
        let mut held = Held::of(&state.saved.dispatcher, now);
        let mut changes = Vec::new();
        for a in alerts {
            let (a, stamped) = held.stamp(a, phase.as_deref());
            if stamped {
                state.saved.phase_stamped.insert(a.fingerprint.clone());
            }
            if let Some(what) = held.change(&a, now) {
                changes.push(events::alert(&a, what));
            }
            held.note(&a, now);
            state.saved.dispatcher.upsert(&routing.config, a, now);
        }
        self.step_locked(&mut state, Vec::new(), changes, now).await
    }

    /// Ticks the dispatcher at `now`; returns when it next has something due.
    pub async fn step(&self, now: SystemTime) -> Result<Option<SystemTime>, RecordError> {
        let mut state = self.state.lock().await;
        self.step_locked(&mut state, Vec::new(), Vec::new(), now)
            .await
    }

    /// Acknowledges the group with id `id` (see [`GroupSummary::id`]); `false` if there is no
    /// such group or it has not fired.
    pub async fn acknowledge(
        &self,
        id: &str,
        by: &str,
        now: SystemTime,
    ) -> Result<bool, RecordError> {
        let mut state = self.state.lock().await;
        let Some(key) = key_of(&state.saved.dispatcher, id) else {
            return Ok(false);
        };
        let routing = state.routing.clone();
        let url = alerts_url(&routing.config, id);
        let dispatcher = &mut state.saved.dispatcher;
        let actions = dispatcher.acknowledge(&routing.config, &key, by, now, &url);
        let group = dispatcher.groups.get(&key);
        let fired = group.is_some_and(|g| g.escalation.is_some());
        let event = NewEvent::new(Kind::Ack, json!({"what": "acknowledged"}))
            .by(by)
            .of_service(group.and_then(service))
            .about(key);
        self.step_locked(&mut state, actions, vec![event], now)
            .await?;
        Ok(fired)
    }

    /// Withdraws an acknowledgement: escalation starts again from the first tier.
    pub async fn unacknowledge(
        &self,
        id: &str,
        by: &str,
        now: SystemTime,
    ) -> Result<bool, RecordError> {
        let mut state = self.state.lock().await;
        let Some(key) = key_of(&state.saved.dispatcher, id) else {
            return Ok(false);
        };
        let dispatcher = &mut state.saved.dispatcher;
        let done = dispatcher.unacknowledge(&key, now);
        let service = dispatcher.groups.get(&key).and_then(service);
        let event = NewEvent::new(Kind::Ack, json!({"what": "acknowledgement withdrawn"}))
            .by(by)
            .of_service(service)
            .about(key);
        self.step_locked(&mut state, Vec::new(), vec![event], now)
            .await?;
        Ok(done)
    }

    /// Adds or replaces a silence.
    pub async fn silence(&self, s: Silence, now: SystemTime) -> Result<(), RecordError> {
        records::save_silence(&self.db, &s).await?;
        let mut state = self.state.lock().await;
        let body = json!({"what": "added", "comment": s.comment,
            "matchers": s.matchers.iter().map(ToString::to_string).collect::<Vec<_>>()});
        let what = NewEvent::new(Kind::Silence, body)
            .by(s.created_by.clone())
            .about(s.id.clone());
        state.silences.retain(|old| old.id != s.id);
        state.silences.push(s);
        self.step_locked(&mut state, Vec::new(), vec![what], now)
            .await?;
        Ok(())
    }

    /// Ends silence `id` at `now`; `false` if there is none.
    pub async fn expire_silence(&self, id: &str, now: SystemTime) -> Result<bool, RecordError> {
        let mut state = self.state.lock().await;
        let Some(s) = state.silences.iter_mut().find(|s| s.id == id) else {
            return Ok(false);
        };
        s.ends_at = s.ends_at.min(now);
        let s = s.clone();
        records::save_silence(&self.db, &s).await?;
        let what = NewEvent::new(Kind::Silence, json!({"what": "expired"})).about(id);
        self.step_locked(&mut state, Vec::new(), vec![what], now)
            .await?;
        Ok(true)
    }

    /// Every silence.
    pub async fn silences(&self) -> Vec<Silence> {
        self.state.lock().await.silences.clone()
    }

    /// Every group with its id.
    pub async fn groups(&self) -> Vec<GroupSummary> {
        let state = self.state.lock().await;
        let groups = state.saved.dispatcher.groups.iter();
        groups
            .map(|(key, group)| GroupSummary {
                id: dedup_key(key),
                key: key.clone(),
                group: group.clone(),
            })
            .collect()
    }

    /// Ticks, then commits the state with `extra` actions, every action's deliveries and the
    /// timeline's `changes` and those of the actions.
    async fn step_locked(
        &self,
        state: &mut State,
        extra: Vec<Action>,
        mut changes: Vec<NewEvent>,
        now: SystemTime,
    ) -> Result<Option<SystemTime>, RecordError> {
        let routing = state.routing.clone();
        let (actions, wake) = tick(state, &routing, now);
        let actions: Vec<Action> = extra.into_iter().chain(actions).collect();
        let deliveries = deliveries(&routing, &actions, now, self.retry);
        changes.extend(events::of_actions(&actions));
        forget_stamps(&mut state.saved);
        let stored = records::commit(
            &self.timeline,
            &self.db,
            &state.saved,
            &deliveries,
            changes,
            now,
        )
        .await?;
        self.timeline.publish(stored);
        if !deliveries.is_empty() {
            self.outbox_changed.notify_one();
        }
        Ok(wake)
    }
}

/// The dispatcher's decisions at `now`, muted by silences and inhibit rules.
fn tick(
    state: &mut State,
    routing: &Routing,
    now: SystemTime,
) -> (Vec<Action>, Option<SystemTime>) {
    let firing = firing_labels(&state.saved.dispatcher, now);
    let inhibitor = Inhibitor {
        rules: &routing.config.inhibit_rules,
        firing: &firing,
    };
    let muters: [&dyn Muter; 2] = [&state.silences, &inhibitor];
    let url = alerts_url(&routing.config, "");
    state
        .saved
        .dispatcher
        .tick(&routing.config, &AnyOf(&muters), now, &url)
}

/// Keeps the phase stamps of the alerts still held only.
fn forget_stamps(saved: &mut Saved) {
    if saved.phase_stamped.is_empty() {
        return;
    }
    let groups = saved.dispatcher.groups.values();
    let held: HashSet<&String> = groups.flat_map(|g| g.alerts.keys()).collect();
    saved.phase_stamped.retain(|fp| held.contains(fp));
}

/// The service a group concerns, if one.
fn service(g: &GroupState) -> Option<String> {
    records::group_service(&g.group_labels, g.alerts.values())
}

/// The group key whose id is `id`.
fn key_of(d: &Dispatcher, id: &str) -> Option<String> {
    d.groups.keys().find(|k| dedup_key(k) == id).cloned()
}

/// The war room's alerts page, or one group's anchor on it.
fn alerts_url(config: &AlertingConfig, id: &str) -> String {
    let base = config.global.external_url.trim_end_matches('/');
    match id {
        "" => format!("{base}/alerts"),
        id => format!("{base}/alerts#{id}"),
    }
}

/// Labels of every alert still firing, for the inhibit rules.
fn firing_labels(d: &Dispatcher, now: SystemTime) -> Vec<BTreeMap<String, String>> {
    let alerts = d.groups.values().flat_map(|g| g.alerts.values());
    alerts
        .filter(|a| a.ends_at.is_none_or(|e| e > now))
        .map(|a| a.labels.clone())
        .collect()
}

/// One outbox row per integration that takes the action's kind.
fn deliveries(
    routing: &Routing,
    actions: &[Action],
    now: SystemTime,
    retry: RetryPolicy,
) -> Vec<NewDelivery> {
    let mut out = Vec::new();
    for a in actions {
        let integrations = routing.integrations.of(&a.receiver);
        if integrations.is_empty() {
            tracing::warn!("receiver {} has no integrations; nothing sent", a.receiver);
        }
        for i in integrations.iter().filter(|i| i.takes(a.notification.kind)) {
            out.push(NewDelivery {
                integration: i.key.clone(),
                reason: a.reason.clone(),
                notification: a.notification.clone(),
                delivery: Delivery::new(now, retry),
            });
        }
    }
    out
}

/// How long the dispatcher loop may sleep: until the next due time, at most a second (silences
/// start and end on their own clock).
pub fn sleep_for(wake: Option<SystemTime>, now: SystemTime) -> Duration {
    let cap = Duration::from_secs(1);
    wake.map_or(cap, |w| w.duration_since(now).unwrap_or_default().min(cap))
}

#[cfg(test)]
pub(super) mod tests;
