//! The rules loop: evaluates each group at its interval, and a group holding an alert with
//! `for: 0s` also right after new samples arrive (at most every [`INGEST_GAP`]), so a breach
//! does not wait for the next tick. Reloads the rule files and `alerting.yaml` on SIGHUP and
//! when they change; a bad new file is reported and the last good rules keep running.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use warroom_alerts::eval::GroupEvaluator;
use warroom_alerts::notify::AlertView;
use warroom_alerts::rules::{Rule, RuleGroup};
use warroom_alerts::state::{AlertState, Transition};

use super::files::{self, Stamp};
use super::pipeline::Pipeline;
use super::settings::AlertingSettings;
use super::store_io::{EngineQuery, StoreSink};

/// Shortest gap between two ingest-triggered evaluations of a group.
pub const INGEST_GAP: Duration = Duration::from_millis(50);
/// How often the files are looked at for changes.
const FILE_CHECK: Duration = Duration::from_secs(1);

/// One group with its schedule.
struct Scheduled {
    evaluator: GroupEvaluator,
    interval: Duration,
    next: Instant,
    last: Option<Instant>,
    /// Evaluated on ingest too: it has an alert with `for: 0s`.
    on_ingest: bool,
}

/// The loop's state.
pub struct Runner {
    /// Answers the rules' expressions.
    pub query: EngineQuery,
    /// Takes recorded samples.
    pub sink: StoreSink,
    /// Where alerts go.
    pub pipeline: Arc<Pipeline>,
    /// Paths and the default interval.
    pub settings: AlertingSettings,
    /// Builds the integrations on reload.
    pub client: reqwest::Client,
    groups: Vec<Scheduled>,
    stamp: Stamp,
    /// The groups the cutover plan's SLOs expand into, kept across reloads of the rule files.
    planned: Vec<RuleGroup>,
}

/// The bells the loop listens to.
pub struct Bells {
    /// Rung after every append that stored samples.
    pub ingested: Arc<Notify>,
    /// Rung on SIGHUP.
    pub reload: Arc<Notify>,
}

impl Runner {
    /// A runner with the given rule groups (already loaded and checked).
    pub async fn new(
        query: EngineQuery,
        sink: StoreSink,
        pipeline: Arc<Pipeline>,
        settings: AlertingSettings,
        client: reqwest::Client,
        groups: Vec<RuleGroup>,
        planned: Vec<RuleGroup>,
    ) -> Self {
        let stamp = files::stamp(&settings);
        let mut runner = Self {
            query,
            sink,
            pipeline,
            settings,
            client,
            groups: Vec::new(),
            stamp,
            planned,
        };
        let all = groups.into_iter().chain(runner.planned.clone()).collect();
        runner.install(all).await;
        runner
    }

    /// Runs until `shutdown` is cancelled. An evaluation under way gets up to `drain` more to
    /// finish; past it, it is dropped where it waits, as if the server had stopped between
    /// two rules (each rule's outcome is stored on its own, and the next start evaluates
    /// again), rather than holding shutdown for as long as its query may run.
    pub async fn run(mut self, bells: Bells, shutdown: CancellationToken, drain: Duration) {
        let mut file_check = tokio::time::interval(FILE_CHECK);
        file_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !shutdown.is_cancelled() {
            let past_drain = async {
                shutdown.cancelled().await;
                tokio::time::sleep(drain).await;
            };
            tokio::select! {
                () = self.evaluate_due() => {}
                () = past_drain => {
                    tracing::warn!("a rule evaluation still under way {drain:?} after the shutdown signal was cut off");
                    return;
                }
            }
            let next = self.groups.iter().map(|g| g.next).min();
            let next = next.unwrap_or_else(|| Instant::now() + FILE_CHECK);
            let on_ingest = self.groups.iter().any(|g| g.on_ingest);
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep_until(next) => {}
                () = bells.ingested.notified(), if on_ingest => self.ingest_due(),
                () = bells.reload.notified() => self.reload("SIGHUP").await,
                _ = file_check.tick() => {
                    if files::stamp(&self.settings) != self.stamp {
                        self.reload("a file changed").await;
                    }
                }
            }
        }
    }

    /// Brings every ingest-triggered group forward to now (or to [`INGEST_GAP`] after its last
    /// evaluation).
    fn ingest_due(&mut self) {
        let now = Instant::now();
        for g in self.groups.iter_mut().filter(|g| g.on_ingest) {
            let earliest = g.last.map_or(now, |l| l + INGEST_GAP).max(now);
            g.next = g.next.min(earliest);
        }
    }

    async fn evaluate_due(&mut self) {
        let now = Instant::now();
        let mut alerts = Vec::new();
        let wall = SystemTime::now();
        for g in self.groups.iter_mut().filter(|g| g.next <= now) {
            g.last = Some(now);
            g.next = now + g.interval;
            let out = g.evaluator.evaluate(&self.query, &self.sink, wall).await;
            for (rule, error) in out.errors {
                tracing::warn!("rule {rule} of group {}: {error}", g.evaluator.group.name);
            }
            for (rule, labels, t) in out.transitions {
                if matches!(t, Transition::Fired { .. } | Transition::Resolved) {
                    tracing::info!("alert {rule} {labels:?}: {t:?}");
                }
            }
            alerts.extend(routed(out.alerts));
        }
        if alerts.is_empty() {
            return;
        }
        if let Err(e) = self.pipeline.receive(alerts, SystemTime::now()).await {
            tracing::error!("alert pipeline: {e}");
        }
    }

    /// Loads the files again; keeps everything as it was if any is bad.
    async fn reload(&mut self, why: &str) {
        self.stamp = files::stamp(&self.settings);
        let groups = match &self.settings.rules_dir {
            None => Ok(Vec::new()),
            Some(dir) => files::load_rules(dir),
        };
        let routing = files::load_routing(&self.settings, &self.client);
        match (groups, routing) {
            (Ok(groups), Ok(routing)) => {
                let all = groups.into_iter().chain(self.planned.clone()).collect();
                self.install(all).await;
                self.pipeline.set_routing(routing).await;
                tracing::info!(
                    "reloaded rules and alerting config ({why}): {} groups",
                    self.groups.len()
                );
            }
            (groups, routing) => {
                let errors = groups.err().unwrap_or_default();
                let errors = errors.into_iter().chain(routing.err());
                for e in errors {
                    tracing::error!("reload ({why}) failed, keeping the last good rules: {e}");
                }
            }
        }
    }

    /// Takes new groups: an unchanged group keeps its alert states; a new or changed one starts
    /// from the pipeline's firing alerts.
    async fn install(&mut self, groups: Vec<RuleGroup>) {
        let mut old = std::mem::take(&mut self.groups);
        let known = self.pipeline.alerts().await;
        let default = self.settings.evaluation_interval;
        for group in groups {
            if let Some(i) = old.iter().position(|s| s.evaluator.group == group) {
                self.groups.push(old.swap_remove(i));
                continue;
            }
            let interval = group
                .interval
                .unwrap_or(default)
                .max(Duration::from_millis(100));
            let on_ingest = group
                .rules
                .iter()
                .any(|r| matches!(r, Rule::Alert(a) if a.hold.is_zero()));
            let mut evaluator = GroupEvaluator::new(group);
            evaluator.restore(&known);
            self.groups.push(Scheduled {
                evaluator,
                interval,
                next: Instant::now(),
                last: None,
                on_ingest,
            });
        }
    }
}

/// Firing and resolved alerts go to the pipeline; pending ones wait.
fn routed(alerts: Vec<(AlertState, AlertView)>) -> impl Iterator<Item = AlertView> {
    alerts
        .into_iter()
        .filter(|(state, _)| *state != AlertState::Pending)
        .map(|(_, view)| view)
}

/// The dispatcher loop: ticks the pipeline whenever something is due (escalation tiers, group
/// intervals, silences ending), until `shutdown` is cancelled.
pub async fn dispatch(pipeline: Arc<Pipeline>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let now = SystemTime::now();
        let wake = match pipeline.step(now).await {
            Ok(wake) => wake,
            Err(e) => {
                tracing::error!("alert pipeline: {e}");
                None
            }
        };
        let pause = super::pipeline::sleep_for(wake, SystemTime::now());
        shutdown
            .run_until_cancelled(tokio::time::sleep(pause))
            .await;
    }
}
