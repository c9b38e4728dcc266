//! Planning a group commit: resolving (or creating) each series and judging every sample as
//! Prometheus' append path does, before anything is written.

use super::State;
use super::head::{Verdict, judge};
use super::index::{encode_labels, labels_hash};
use super::wal::Entry;
use super::writer::Append;
use crate::model::hash::FxHashMap;
use crate::model::{AppendReport, Sample};

/// What a group will write once committed.
#[derive(Default)]
pub struct Plan {
    /// One report per batch, in order.
    pub reports: Vec<AppendReport>,
    /// The accepted samples, for the WAL record and then the head.
    pub entries: Vec<Entry>,
    /// Series created by the group, with their encoded labels, for the `series` table.
    pub new_series: Vec<(u32, Vec<u8>)>,
    /// The newest accepted sample of each series the group touched.
    pub newest: Newest,
}

/// Series id → newest accepted `(t, value bits)`.
pub type Newest = FxHashMap<u32, (i64, u64)>;

/// Resolves (or creates) series and judges every sample, without touching the head: against
/// `overlay` (a committed group not applied yet) first, then the head.
pub fn plan_group(
    state: &mut State,
    appends: &[Append],
    replayed: &[bool],
    overlay: Newest,
) -> Plan {
    plan_each(appends, replayed, overlay, |judge, append| {
        judge.append(state, append)
    })
}

/// [`plan_group`] for appends that name every series by id (nothing to create), under a
/// shared borrow of the state: the writer then plans under the read lock, and ingest's
/// lookups go on meanwhile.
pub fn plan_known(state: &State, appends: &[Append], replayed: &[bool], overlay: Newest) -> Plan {
    debug_assert!(appends.iter().all(|a| a.batch.series.is_empty()));
    plan_each(appends, replayed, overlay, |judge, append| {
        judge.known(state, &append.known.samples)
    })
}

/// Judges each append not `replayed` with `judge_one`, one report per append.
fn plan_each(
    appends: &[Append],
    replayed: &[bool],
    overlay: Newest,
    mut judge_one: impl FnMut(&mut Judge, &Append),
) -> Plan {
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
            judge_one(&mut judge, append);
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
            .or(state.head[id as usize].last());
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
    state.head.grow_to(id as usize + 1);
    plan.new_series.push((id, encode_labels(labels)));
    report.series_created += 1;
    id
}
