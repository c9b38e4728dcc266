//! The cutover's loop: a round of gates every `gate_interval`, right after samples arrive (at
//! most every [`INGEST_GAP`]) and right after a change (a step done, a new phase); the plan
//! reloaded on SIGHUP and when its file changes, a bad file reported and the last good plan
//! kept running.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check;
use super::live::Cutover;

/// Shortest gap between two rounds brought forward by ingest.
pub const INGEST_GAP: Duration = Duration::from_secs(1);
/// How often the plan file is looked at for changes.
const FILE_CHECK: Duration = Duration::from_secs(1);

/// The bells the loop listens to.
#[derive(Default)]
pub struct Bells {
    /// Rung after every append that stored samples.
    pub ingested: Arc<Notify>,
    /// Rung on SIGHUP.
    pub reload: Arc<Notify>,
}

/// What the plan file looked like: modified time and length.
type Stamp = Option<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok(), meta.len()))
}

/// Runs rounds until `shutdown` is cancelled; a round under way is dropped at the signal (its
/// outcome is saved whole or not at all, and the next start evaluates again).
pub async fn run(
    cutover: Arc<Cutover>,
    plan_file: PathBuf,
    bells: Bells,
    shutdown: CancellationToken,
) {
    let interval = cutover
        .settings()
        .gate_interval
        .max(Duration::from_millis(100));
    let mut file_stamp = stamp(&plan_file);
    let mut file_check = tokio::time::interval(FILE_CHECK);
    file_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = Instant::now();
    let mut last = Instant::now() - INGEST_GAP;
    while !shutdown.is_cancelled() {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep_until(next) => {
                last = Instant::now();
                next = last + interval;
                let round = cutover.evaluate(SystemTime::now());
                match shutdown.run_until_cancelled(round).await {
                    None => return,
                    Some(Err(e)) => tracing::error!("cutover gates: {e}"),
                    Some(Ok(())) => {}
                }
            }
            () = bells.ingested.notified() => next = next.min(last + INGEST_GAP),
            () = cutover.poke.notified() => next = Instant::now(),
            () = bells.reload.notified() => {
                file_stamp = stamp(&plan_file);
                reload(&cutover, &plan_file, "SIGHUP").await;
                next = Instant::now();
            }
            _ = file_check.tick() => {
                let now_stamp = stamp(&plan_file);
                if now_stamp != file_stamp {
                    file_stamp = now_stamp;
                    reload(&cutover, &plan_file, "the plan file changed").await;
                    next = Instant::now();
                }
            }
        }
    }
}

async fn reload(cutover: &Cutover, path: &Path, why: &str) {
    let plan = match check::check_file(path) {
        Ok(plan) => plan,
        Err(errors) => {
            for e in errors {
                tracing::error!("plan reload ({why}) failed, keeping the last good plan: {e}");
            }
            return;
        }
    };
    let summary = check::summary(&plan);
    match cutover.reload(plan).await {
        Ok(()) => tracing::info!("reloaded the cutover plan ({why}): {summary}"),
        Err(e) => tracing::error!(
            "plan reload ({why}) refused, keeping the last good plan: {}: {e}",
            path.display()
        ),
    }
}
