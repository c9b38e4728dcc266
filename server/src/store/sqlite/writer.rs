//! The single writer task: group commit of appends, checkpoints and retention.
//!
//! Everything that changes the database or the in-memory state runs here, one command group at a
//! time, so decisions taken before a commit still hold when it is applied after.

use super::hash::FxHashMap;
use std::sync::Arc;

use sqlx::{Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::checkpoint;
use super::head::{Verdict, judge};
use super::index::{encode_labels, labels_hash};
use super::wal::{self, Entry};
use super::{Command, Shared, State, WAL_CHECKPOINT_BYTES};
use crate::model::{AppendReport, Sample, WriteBatch};
use crate::store::{KnownSamples, StoreError};

/// New series rows per `INSERT` statement (2 bound values each).
const SERIES_PER_INSERT: usize = 400;

/// A group stops growing past this many samples, to bound one transaction.
const GROUP_SAMPLES: usize = 500_000;

type Reply = oneshot::Sender<Result<AppendReport, StoreError>>;

/// One caller's batch: series named by labels plus series named by id.
pub struct Append {
    /// Series named by labels.
    pub batch: WriteBatch,
    /// Samples of series named by id.
    pub known: KnownSamples,
}

impl Append {
    fn sample_count(&self) -> usize {
        self.batch.sample_count() + self.known.samples.len()
    }
}

/// Runs until [`Command::Close`] or until every sender is gone.
pub async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Command>) {
    let mut ticker = tokio::time::interval(shared.config.checkpoint_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut wal_bytes = 0u64;
    // A committed group whose samples are applied (and callers answered) while the next group
    // commits: the head append then overlaps the next fsync instead of adding to it.
    let mut pending: Option<Committed> = None;
    loop {
        if rx.is_empty() {
            finish(&shared, pending.take());
        }
        let first = tokio::select! {
            cmd = rx.recv() => match cmd { Some(cmd) => cmd, None => break },
            _ = ticker.tick() => {
                finish(&shared, pending.take());
                log_failure(checkpoint(&shared).await);
                wal_bytes = 0;
                continue;
            }
        };
        let (appends, controls) = gather(first, &mut rx);
        if !appends.is_empty() {
            let previous = pending.take();
            let (bytes, next) = commit_group(&shared, appends, previous).await;
            wal_bytes += bytes;
            pending = next;
        }
        if wal_bytes > WAL_CHECKPOINT_BYTES || !controls.is_empty() {
            finish(&shared, pending.take());
        }
        if wal_bytes > WAL_CHECKPOINT_BYTES {
            log_failure(checkpoint(&shared).await);
            wal_bytes = 0;
        }
        for cmd in controls {
            if !control(&shared, cmd, &mut wal_bytes).await {
                return;
            }
        }
    }
    finish(&shared, pending.take());
    log_failure(checkpoint(&shared).await);
}

fn log_failure(result: Result<(), StoreError>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "store checkpoint failed");
    }
}

/// The first command plus whatever else is already waiting, split into appends and the rest.
fn gather(
    first: Command,
    rx: &mut mpsc::Receiver<Command>,
) -> (Vec<(Append, Reply)>, Vec<Command>) {
    let mut appends = Vec::new();
    let mut controls = Vec::new();
    let mut samples = 0;
    let mut next = Some(first);
    while let Some(cmd) = next.take() {
        match cmd {
            Command::Append(append, reply) => {
                samples += append.sample_count();
                appends.push((append, reply));
            }
            other => controls.push(other),
        }
        if samples < GROUP_SAMPLES && controls.is_empty() {
            next = rx.try_recv().ok();
        }
    }
    (appends, controls)
}

/// Runs one control command; false when the writer must stop.
async fn control(shared: &Shared, cmd: Command, wal_bytes: &mut u64) -> bool {
    match cmd {
        Command::Append(..) => true,
        Command::Checkpoint(reply) => {
            *wal_bytes = 0;
            let _ = reply.send(checkpoint(shared).await);
            true
        }
        Command::Retain(now, reply) => {
            *wal_bytes = 0;
            let _ = reply.send(super::retention::retain(shared, now).await);
            true
        }
        Command::Close(reply) => {
            let _ = reply.send(checkpoint(shared).await);
            false
        }
    }
}

/// What a group will write once committed.
#[derive(Default)]
struct Plan {
    reports: Vec<AppendReport>,
    entries: Vec<Entry>,
    new_series: Vec<(u32, Vec<u8>)>,
    /// The newest accepted sample of each series the group touched.
    newest: Newest,
}

/// Series id → newest accepted `(t, value bits)`.
type Newest = FxHashMap<u32, (i64, u64)>;

/// Answers the appends naming series by ids that are no longer known, and returns the others.
fn drop_stale(shared: &Shared, appends: Vec<(Append, Reply)>) -> Vec<(Append, Reply)> {
    let state = shared.read();
    let generation = state.index.generation();
    let mut live = Vec::with_capacity(appends.len());
    for (append, reply) in appends {
        let known = &append.known;
        let stale = match known.generation == generation {
            true => 0,
            false => (known.samples.iter())
                .filter(|(id, _)| !state.index.contains(*id))
                .count(),
        };
        match stale {
            0 => live.push((append, reply)),
            n => drop(reply.send(Err(StoreError::StaleIds(n)))),
        }
    }
    live
}

/// A group that committed: its samples still to apply, its callers still to answer.
struct Committed {
    plan: Plan,
    replies: Vec<Reply>,
    batches: Vec<Append>,
}

/// Applies a committed group to the head, then answers its callers: only then are their
/// samples both durable and visible to queries.
fn finish(shared: &Shared, committed: Option<Committed>) {
    let Some(Committed {
        plan,
        replies,
        batches,
    }) = committed
    else {
        return;
    };
    apply(shared, &plan.entries);
    for (reply, report) in replies.into_iter().zip(plan.reports) {
        let _ = reply.send(Ok(report));
    }
    // Freeing thousands of label sets is work the next group need not wait for.
    tokio::task::spawn_blocking(move || drop(batches));
}

/// Commits a group of batches while finishing the `previous` one (planning against its
/// accepted samples, which the head does not hold yet); returns the WAL bytes written and the
/// group, committed, for [`finish`]. A group that fails is answered here.
async fn commit_group(
    shared: &Shared,
    appends: Vec<(Append, Reply)>,
    previous: Option<Committed>,
) -> (u64, Option<Committed>) {
    let appends = drop_stale(shared, appends);
    let (batches, replies): (Vec<_>, Vec<_>) = appends.into_iter().unzip();
    let mut planned = None;
    let mut previous = previous;
    let overlay =
        (previous.as_mut()).map_or_else(Newest::default, |p| std::mem::take(&mut p.plan.newest));
    let write = write_group(shared, &batches, &mut planned, overlay);
    let (result, ()) = tokio::join!(write, async { finish(shared, previous) });
    if result.is_err()
        && let Some(plan) = &planned
    {
        forget_new_series(shared, plan);
    }
    match result {
        Ok(bytes) => {
            let plan = planned.unwrap_or_default();
            let committed = Committed {
                plan,
                replies,
                batches,
            };
            (bytes, Some(committed))
        }
        Err(e) => {
            tracing::error!(error = %e, "store group commit failed");
            let message = format!("group commit failed: {e}");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                    message.clone(),
                ))));
            }
            (0, None)
        }
    }
}

/// Plans the group (judging against `overlay`, then the head) and commits it.
async fn write_group(
    shared: &Shared,
    batches: &[Append],
    planned: &mut Option<Plan>,
    overlay: Newest,
) -> Result<u64, StoreError> {
    if batches.iter().all(|a| a.batch.id.is_none()) {
        return write_group_at_once(shared, batches, planned, overlay).await;
    }
    let mut tx = shared.pool.begin().await?;
    let replayed = record_batch_ids(&mut tx, batches).await?;
    let plan = plan_group(&mut shared.write(), batches, &replayed, overlay);
    let plan = planned.insert(plan);
    insert_series(&mut tx, &plan.new_series).await?;
    let mut bytes = 0;
    if !plan.entries.is_empty() {
        let record = wal::encode(&plan.entries);
        bytes = record.len() as u64;
        sqlx::query("INSERT INTO wal (data) VALUES (?)")
            .bind(record)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(bytes)
}

/// [`write_group`] for batches without ids (nothing to ask the database before planning): the
/// whole transaction goes to SQLite as one multi-statement call, one hand-off to its thread
/// instead of one per statement.
async fn write_group_at_once(
    shared: &Shared,
    batches: &[Append],
    planned: &mut Option<Plan>,
    overlay: Newest,
) -> Result<u64, StoreError> {
    let replayed = vec![false; batches.len()];
    let plan = plan_group(&mut shared.write(), batches, &replayed, overlay);
    let plan = planned.insert(plan);
    if plan.new_series.is_empty() && plan.entries.is_empty() {
        return Ok(0);
    }
    let record = (!plan.entries.is_empty()).then(|| wal::encode(&plan.entries));
    let mut conn = shared.pool.acquire().await?;
    let done = one_transaction(&plan.new_series, record.as_deref())
        .execute(&mut *conn)
        .await;
    if let Err(e) = done {
        // A statement or the COMMIT failed: the transaction may still be open on this connection.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(record.map_or(0, |r| r.len() as u64))
}

/// `BEGIN IMMEDIATE`, the new series rows, the WAL record (when `entries` were accepted) and
/// `COMMIT`, as one query.
fn one_transaction<'q>(
    new_series: &'q [(u32, Vec<u8>)],
    record: Option<&'q [u8]>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for part in new_series.chunks(SERIES_PER_INSERT) {
        sql.push_str("INSERT INTO series (id, labels) VALUES ");
        sql.push_str(&vec!["(?, ?)"; part.len()].join(", "));
        sql.push(';');
    }
    if record.is_some() {
        sql.push_str("INSERT INTO wal (data) VALUES (?);");
    }
    sql.push_str("COMMIT;");
    // Only placeholders are formatted in; every value is bound. The text differs with the
    // number of new series, so only the steady form is worth a cached statement.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(new_series.is_empty());
    for (id, labels) in new_series {
        query = query.bind(i64::from(*id)).bind(labels.as_slice());
    }
    if let Some(record) = record {
        query = query.bind(record);
    }
    query
}

/// Inserts each batch id; an id already present marks its batch as replayed.
async fn record_batch_ids(
    tx: &mut Transaction<'_, Sqlite>,
    batches: &[Append],
) -> Result<Vec<bool>, StoreError> {
    let now = super::load::now_ms();
    let mut replayed = Vec::with_capacity(batches.len());
    for Append { batch, .. } in batches {
        let Some(id) = &batch.id else {
            replayed.push(false);
            continue;
        };
        let done =
            sqlx::query("INSERT OR IGNORE INTO batches (agent, seq, received_ms) VALUES (?, ?, ?)")
                .bind(&id.agent)
                .bind(id.seq as i64)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        replayed.push(done.rows_affected() == 0);
    }
    Ok(replayed)
}

/// Resolves (or creates) series and judges every sample, without touching the head: against
/// `overlay` (a committed group not applied yet) first, then the head.
fn plan_group(state: &mut State, appends: &[Append], replayed: &[bool], overlay: Newest) -> Plan {
    let samples: usize = appends.iter().map(Append::sample_count).sum();
    let mut judge = Judge {
        plan: Plan {
            entries: Vec::with_capacity(samples),
            newest: Newest::with_capacity_and_hasher(samples, Default::default()),
            ..Plan::default()
        },
        overlay,
        report: AppendReport::default(),
    };
    for (append, &replayed) in appends.iter().zip(replayed) {
        judge.report = AppendReport {
            replayed,
            ..AppendReport::default()
        };
        if !replayed {
            judge.append(state, append);
        }
        let report = std::mem::take(&mut judge.report);
        judge.plan.reports.push(report);
    }
    judge.plan
}

/// Judges a group's samples against the head and what was accepted before them.
struct Judge {
    plan: Plan,
    /// The previous group's newest samples, when the head does not hold them yet.
    overlay: Newest,
    /// The current batch's report.
    report: AppendReport,
}

impl Judge {
    fn append(&mut self, state: &mut State, append: &Append) {
        let known = &append.known.samples;
        if known.is_empty() {
            for series in &append.batch.series {
                let id = resolve(state, &series.labels, &mut self.plan, &mut self.report);
                self.series(state, id, series.samples.iter().copied());
            }
            return;
        }
        if append.batch.series.is_empty() {
            return self.known(state, known);
        }
        // Both kinds: one list in (id, time) order, as a decoder would have merged them.
        let mut all = Vec::with_capacity(append.sample_count());
        for series in &append.batch.series {
            let id = resolve(state, &series.labels, &mut self.plan, &mut self.report);
            all.extend(series.samples.iter().map(|&s| (id, s)));
        }
        all.extend_from_slice(known);
        all.sort_by_key(|&(id, s)| (id, s.t));
        self.known(state, &all)
    }

    /// Judges `(id, sample)`s sorted by id then time.
    fn known(&mut self, state: &State, samples: &[(u32, Sample)]) {
        for same in samples.chunk_by(|a, b| a.0 == b.0) {
            self.series(state, same[0].0, same.iter().map(|&(_, s)| s));
        }
    }

    fn series(&mut self, state: &State, id: u32, samples: impl Iterator<Item = Sample>) {
        let mut last = (self.plan.newest.get(&id).copied())
            .or_else(|| self.overlay.get(&id).copied())
            .or(state.head[id as usize].last);
        for s in samples {
            match judge(last, s.t, s.v) {
                Verdict::Append => {
                    self.plan.entries.push(Entry {
                        series: id,
                        t: s.t,
                        v: s.v,
                    });
                    last = Some((s.t, s.v.to_bits()));
                    self.report.appended += 1;
                }
                Verdict::OutOfOrder => self.report.out_of_order += 1,
                Verdict::Duplicate => self.report.duplicates += 1,
                Verdict::Same => {}
            }
        }
        if let Some(l) = last {
            self.plan.newest.insert(id, l);
        }
    }
}

fn resolve(
    state: &mut State,
    labels: &crate::model::Labels,
    plan: &mut Plan,
    report: &mut AppendReport,
) -> u32 {
    let hash = labels_hash(labels);
    if let Some(id) = state.index.lookup(labels, hash) {
        return id;
    }
    let id = state.index.next_id();
    state.index.insert(id, labels, hash);
    state.head.resize_with(id as usize + 1, Default::default);
    plan.new_series.push((id, encode_labels(labels)));
    report.series_created += 1;
    id
}

/// Inserts new series rows, several per statement.
async fn insert_series(
    tx: &mut Transaction<'_, Sqlite>,
    rows: &[(u32, Vec<u8>)],
) -> Result<(), StoreError> {
    for part in rows.chunks(SERIES_PER_INSERT) {
        let sql = format!(
            "INSERT INTO series (id, labels) VALUES {}",
            vec!["(?, ?)"; part.len()].join(", ")
        );
        // Only placeholders are formatted in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, labels) in part {
            query = query.bind(i64::from(*id)).bind(labels.as_slice());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Undoes the in-memory series creation of a group that did not commit.
fn forget_new_series(shared: &Shared, plan: &Plan) {
    let ids = plan.new_series.iter().map(|(id, _)| *id).collect();
    shared.write().index.remove(&ids);
}

/// Applies committed samples to the head.
fn apply(shared: &Shared, entries: &[Entry]) {
    let mut state = shared.write();
    for e in entries {
        state.head[e.series as usize].append(e.t, e.v);
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use tempfile::TempDir;

    use super::super::SqliteStore;
    use super::super::testutil::bits;
    use crate::ingest::remote_write::{decode, decode_with};
    use crate::model::{MatchOp, Matcher};
    use crate::prompb::{self, TimeSeries, WriteRequest};
    use crate::store::mem::MemStore;
    use crate::store::{MetricStore, Querier, StoreConfig, StoreError};

    async fn open(dir: &TempDir) -> SqliteStore {
        let pool = crate::db::open(&dir.path().join("warroom.db"))
            .await
            .expect("db");
        SqliteStore::open(pool, StoreConfig::default())
            .await
            .expect("store")
    }

    /// Labels in wire order and `(t, v)` samples.
    type WireSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

    /// A remote_write body of `series`.
    fn body(series: &[WireSeries<'_>]) -> Vec<u8> {
        let timeseries = (series.iter())
            .map(|(labels, samples)| TimeSeries {
                labels: (labels.iter())
                    .map(|(n, v)| prompb::Label {
                        name: (*n).into(),
                        value: (*v).into(),
                    })
                    .collect(),
                samples: (samples.iter())
                    .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
                    .collect(),
            })
            .collect();
        let raw = WriteRequest { timeseries }.encode_to_vec();
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("snappy")
    }

    const A: &[(&str, &str)] = &[("__name__", "known_a"), ("node", "n1")];
    const B: &[(&str, &str)] = &[("__name__", "known_b"), ("node", "n1")];
    const B_UNSORTED: &[(&str, &str)] = &[("node", "n1"), ("__name__", "known_b")];

    fn all() -> Vec<Matcher> {
        vec![Matcher::new("__name__", MatchOp::Regex, "known_.+").expect("matcher")]
    }

    #[tokio::test]
    async fn series_named_by_id_are_judged_and_stored_exactly_as_by_labels() {
        // Arrange: both series exist; the second body repeats them out of order, with a
        // duplicate, and B also with its labels unsorted (so by labels, in the same batch).
        let dir = TempDir::new().expect("tempdir");
        let store = open(&dir).await;
        let mem = MemStore::new();
        let lookup = store.lookup().expect("lookup");
        let first = body(&[(A, &[(1_000, 1.0)]), (B, &[(1_000, 5.0)])]);
        let second = body(&[
            (B, &[(3_000, 7.0)]),
            (A, &[(3_000, 3.0), (2_000, 2.0)]),
            (B_UNSORTED, &[(2_000, 6.0)]),
            (A, &[(3_000, 9.0), (500, 0.5)]),
        ]);
        let mut reports = Vec::new();

        for b in [&first, &second] {
            // Act
            let decoded = decode_with(b, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
            let got = store
                .append_known(decoded.batch, decoded.known)
                .await
                .expect("append");
            let want = mem
                .append(decode(b, 1 << 20, 100).expect("decode"))
                .await
                .expect("append");
            reports.push((got, want));
        }

        // Assert
        let second = decode_with(&second, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
        assert_eq!(second.known.samples.len(), 5, "A and sorted B by id");
        assert_eq!(second.batch.series.len(), 1, "unsorted B by labels");
        for (got, want) in &reports {
            assert_eq!(got, want);
        }
        assert_eq!(reports[1].0.appended, 4);
        assert_eq!(reports[1].0.out_of_order, 1);
        assert_eq!(reports[1].0.duplicates, 1);
        let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
        let expected = mem.select(&all(), 0, i64::MAX).await.expect("select");
        assert_eq!(bits(&stored), bits(&expected));
    }

    #[tokio::test]
    async fn ids_forgotten_after_their_lookup_fail_the_batch_whole_and_a_retry_stores_it() {
        // Arrange: A exists, is looked up, then retention forgets it.
        let dir = TempDir::new().expect("tempdir");
        let store = open(&dir).await;
        let lookup = store.lookup().expect("lookup");
        let old = body(&[(A, &[(1_000, 1.0)])]);
        let decoded = decode_with(&old, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
        store
            .append_known(decoded.batch, decoded.known)
            .await
            .expect("append");
        let now = body(&[(A, &[(40 * 86_400_000, 2.0)]), (B, &[(1_000, 5.0)])]);
        let stale = decode_with(&now, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
        assert_eq!(stale.known.samples.len(), 1);
        assert_eq!(store.retain(40 * 86_400_000).await.expect("retain"), 1);

        // Act
        let refused = store.append_known(stale.batch, stale.known).await;
        let retry = decode_with(&now, 1 << 20, 100, Some(lookup.as_ref())).expect("decode");
        let retried = store.append_known(retry.batch, retry.known).await;

        // Assert
        assert!(
            matches!(refused, Err(StoreError::StaleIds(1))),
            "{refused:?}"
        );
        assert_eq!(retried.expect("retry").appended, 2);
        let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
        let names: Vec<_> = stored.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(names, [r#"known_a{node="n1"}"#, r#"known_b{node="n1"}"#]);
        assert_eq!(stored[0].samples.len(), 1);
    }

    #[tokio::test]
    async fn a_group_whose_one_call_transaction_fails_leaves_nothing_and_the_next_commits() {
        // Arrange: a trigger makes every WAL insert fail until it is dropped.
        let dir = TempDir::new().expect("tempdir");
        let pool = crate::db::open(&dir.path().join("warroom.db"))
            .await
            .expect("db");
        let store = SqliteStore::open(pool.clone(), StoreConfig::default())
            .await
            .expect("store");
        let fail =
            "CREATE TRIGGER fail BEFORE INSERT ON wal BEGIN SELECT RAISE(ABORT, 'full'); END";
        sqlx::query(fail).execute(&pool).await.expect("trigger");
        let b = body(&[(A, &[(1_000, 1.0)]), (B, &[(1_000, 2.0)])]);

        // Act
        let failed = store
            .append(decode(&b, 1 << 20, 100).expect("decode"))
            .await;
        sqlx::query("DROP TRIGGER fail")
            .execute(&pool)
            .await
            .expect("drop trigger");
        let retried = store
            .append(decode(&b, 1 << 20, 100).expect("decode"))
            .await;

        // Assert
        assert!(failed.is_err(), "{failed:?}");
        let report = retried.expect("retry");
        assert_eq!((report.appended, report.series_created), (2, 2));
        let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
        assert_eq!(stored.len(), 2);
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM series")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(rows, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_of_one_series_store_each_timestamp_once_and_see_their_acks() {
        // Arrange: groups commit while the one before is still being applied; judging must
        // see that group's samples, or a timestamp would be stored twice.
        let dir = TempDir::new().expect("tempdir");
        let store = std::sync::Arc::new(open(&dir).await);
        let series = |t: i64| crate::model::Series {
            labels: crate::model::Labels::from_pairs(A.iter().copied()),
            samples: vec![crate::model::Sample { t, v: t as f64 }],
        };

        // Act
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut appended = 0;
                    for round in 0..60 {
                        let t = 1_000 * (round + (task % 3));
                        let batch = crate::model::WriteBatch {
                            id: None,
                            series: vec![series(t)],
                        };
                        appended += store.append(batch).await.expect("append").appended;
                        let seen = store.select(&all(), t, i64::MAX).await.expect("select");
                        assert!(
                            !seen.is_empty(),
                            "an acked sample at {t} or later is visible"
                        );
                    }
                    appended
                })
            })
            .collect();
        let mut appended = 0;
        for task in tasks {
            appended += task.await.expect("task");
        }

        // Assert
        let stored = store.select(&all(), 0, i64::MAX).await.expect("select");
        let times: Vec<i64> = stored[0].samples.iter().map(|s| s.t).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert_eq!(appended, times.len() as u64);
    }
}
