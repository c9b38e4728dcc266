//! The timeline's budget: with 100,000 events, a 1-hour window answers in ≤ 20 ms.
//!
//! Fills a real SQLite file (through `db::open`, so with every migration and index) with
//! `BENCH_TIMELINE_EVENTS` events (default 100,000) spread evenly over 7 days, of mixed kinds
//! and services, one cutover phase a day; then times `Timeline::page` for a 1-hour window in
//! the middle of the week (a full page, `MAX_PAGE`), its next page (`after_id`) and that of a
//! window on the first day, a poll for the newest events since the week's start, the window
//! narrowed by kind and service, and one `append` of an alert-path-sized batch (an alert firing
//! and three notifications queued) into that table.
//!
//! Run: `cargo bench -p warroom-server --bench timeline` (`-- <filter>` for one).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokio::runtime::Runtime;
use warroom_server::timeline::{Filter, Kind, MAX_PAGE, NewEvent, Timeline};

/// 2023-11-14T22:13:20Z.
const BASE_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * 24 * HOUR_MS;
/// Events per transaction while filling.
const FILL_BATCH: usize = 1000;

const SERVICES: [Option<&str>; 6] = [
    Some("checkout"),
    Some("search"),
    Some("payments"),
    Some("catalog"),
    Some("auth"),
    None,
];
const PHASES: [&str; 7] = [
    "prepare",
    "shift-10",
    "shift-25",
    "shift-50",
    "shift-75",
    "shift-100",
    "cleanup",
];
/// The mix of a busy war room: mostly the alert pipeline's events.
const KINDS: [Kind; 16] = [
    Kind::Alert,
    Kind::Alert,
    Kind::Notification,
    Kind::Notification,
    Kind::Notification,
    Kind::Notification,
    Kind::Gate,
    Kind::Gate,
    Kind::Ack,
    Kind::Escalation,
    Kind::Silence,
    Kind::Note,
    Kind::Runbook,
    Kind::Integrity,
    Kind::Phase,
    Kind::Hold,
];

fn events_wanted() -> usize {
    std::env::var("BENCH_TIMELINE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap())
}

/// The `i`th event of the fill: a kind, a service and a body the size the pipeline writes.
fn event(i: usize) -> NewEvent {
    let kind = KINDS[i % KINDS.len()];
    let service = SERVICES[(i / 3) % SERVICES.len()].map(str::to_owned);
    let body = json!({
        "what": "queued",
        "notification": "firing",
        "receiver": "slack-warroom",
        "reason": format!("TierDue {{ tier: 0, elapsed: {i}ms }}"),
        "labels": {"alertname": "TargetErrors", "env": "target", "severity": "page",
            "service": service},
    });
    NewEvent::new(kind, body)
        .about(format!(
            "{{}}:{{alertname=\"TargetErrors\", n=\"{}\"}}",
            i % 50
        ))
        .of_service(service)
}

/// A timeline in a fresh file in `dir` with `n` events spread over a week.
async fn filled(dir: &tempfile::TempDir, n: usize) -> Arc<Timeline> {
    let db = warroom_server::db::open(&dir.path().join("timeline.db"))
        .await
        .unwrap();
    let timeline = Timeline::new(db.clone());
    let gap = WEEK_MS / i64::try_from(n).unwrap();
    for start in (0..n).step_by(FILL_BATCH) {
        let mut tx = db.begin().await.unwrap();
        for i in start..(start + FILL_BATCH).min(n) {
            let at_ms = BASE_MS + i64::try_from(i).unwrap() * gap;
            let day = usize::try_from((at_ms - BASE_MS) / (24 * HOUR_MS)).unwrap();
            timeline.set_phase(Some(PHASES[day.min(6)].to_owned()));
            timeline
                .write(&mut tx, at(at_ms), vec![event(i)])
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    timeline
}

/// A 1-hour window in the middle of the week.
fn window() -> Filter {
    let from = BASE_MS + WEEK_MS / 2;
    Filter {
        from_ms: Some(from),
        to_ms: Some(from + HOUR_MS),
        ..Filter::default()
    }
}

fn timeline_budget(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let n = events_wanted();
    let timeline = rt.block_on(filled(&dir, n));
    let page = |filter: &Filter| rt.block_on(timeline.page(filter, MAX_PAGE)).unwrap();
    let hour = window();
    let first = page(&hour);
    let next = Filter {
        after_id: first.get(first.len() / 2).map(|e| e.id),
        ..hour.clone()
    };
    let narrow = Filter {
        kind: Some(Kind::Notification),
        service: Some("checkout".into()),
        ..hour.clone()
    };
    println!(
        "{n} events over 7 days; the window holds {}, its second half {}, narrowed {}",
        first.len(),
        page(&next).len(),
        page(&narrow).len()
    );

    let mut group = c.benchmark_group(format!("timeline of {n}"));
    group.bench_function("1-hour window", |b| b.iter(|| black_box(page(&hour))));
    group.bench_function("1-hour window, next page", |b| {
        b.iter(|| black_box(page(&next)))
    });
    let early = Filter {
        from_ms: Some(BASE_MS + HOUR_MS),
        to_ms: Some(BASE_MS + 2 * HOUR_MS),
        ..Filter::default()
    };
    let early_first = page(&early);
    let early_next = Filter {
        after_id: early_first.get(early_first.len() / 2).map(|e| e.id),
        ..early
    };
    group.bench_function("1-hour window on the first day, next page", |b| {
        b.iter(|| black_box(page(&early_next)))
    });
    let poll = Filter {
        from_ms: Some(BASE_MS),
        after_id: Some(i64::try_from(n).unwrap() - 10),
        ..Filter::default()
    };
    group.bench_function("since the week's start, the 10 newest (a poll)", |b| {
        b.iter(|| black_box(page(&poll)))
    });
    group.bench_function("1-hour window, one kind and service", |b| {
        b.iter(|| black_box(page(&narrow)))
    });
    let batch = || {
        let alert = NewEvent::new(Kind::Alert, json!({"what": "firing"})).about("TargetErrors");
        let queued = (0..3).map(event);
        std::iter::once(alert).chain(queued).collect::<Vec<_>>()
    };
    group.bench_function("append of an alert's 4 events", |b| {
        b.iter(|| {
            rt.block_on(timeline.append(SystemTime::now(), batch()))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, timeline_budget);
criterion_main!(benches);
