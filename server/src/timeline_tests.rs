//! The timeline on a real SQLite file: appends paged back through every filter, phases stamped,
//! the broadcast (a lagging subscriber told how many it missed), and the migration that moved
//! the alert pipeline's old events in.

use std::time::SystemTime;

use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::*;
use crate::alerting::records::from_ms;

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

async fn timeline() -> (tempfile::TempDir, Arc<Timeline>) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::open(&dir.path().join("w.db")).await.unwrap();
    (dir, Timeline::new(db))
}

fn note(text: &str) -> NewEvent {
    NewEvent::new(Kind::Note, json!({ "text": text }))
}

/// Appends one event at `at_ms`, each in its own transaction.
async fn append_at(t: &Timeline, at_ms: i64, e: NewEvent) -> Event {
    let mut stored = t.append(from_ms(at_ms), vec![e]).await.unwrap();
    stored.pop().unwrap()
}

/// Each event's `text` (a note's) or `what`.
fn texts(events: &[Event]) -> Vec<&str> {
    events.iter().map(text).collect()
}

fn text(e: &Event) -> &str {
    let body = &e.body;
    body["text"]
        .as_str()
        .or(body["what"].as_str())
        .unwrap_or("")
}

/// Four events a minute apart: a note, an alert of checkout in shift-10, a note of search in
/// shift-10, an ack with no phase.
async fn four_events(t: &Timeline) {
    append_at(t, T0, note("first")).await;
    t.set_phase(Some("shift-10".into()));
    let alert = NewEvent::new(Kind::Alert, json!({"what": "firing"}))
        .about("HighErrorRate")
        .of_service(Some("checkout".into()));
    append_at(t, T0 + MINUTE, alert).await;
    append_at(
        t,
        T0 + 2 * MINUTE,
        note("search").of_service(Some("search".into())),
    )
    .await;
    t.set_phase(None);
    let ack = NewEvent::new(Kind::Ack, json!({"what": "acknowledged"})).by("alice");
    append_at(t, T0 + 3 * MINUTE, ack).await;
}

async fn page(t: &Timeline, filter: Filter) -> Vec<Event> {
    t.page(&filter, MAX_PAGE).await.unwrap()
}

#[tokio::test]
async fn appended_events_page_back_oldest_first_with_every_field() {
    let (_dir, t) = timeline().await;
    four_events(&t).await;

    let all = page(&t, Filter::default()).await;

    assert_eq!(texts(&all), ["first", "firing", "search", "acknowledged"]);
    let alert = &all[1];
    assert_eq!(alert.at_ms, T0 + MINUTE);
    assert_eq!(alert.kind, "alert");
    assert_eq!(alert.subject.as_deref(), Some("HighErrorRate"));
    assert_eq!(alert.service.as_deref(), Some("checkout"));
    assert_eq!(all[3].actor.as_deref(), Some("alice"));
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
}

#[tokio::test]
async fn from_and_to_bound_the_window_inclusively() {
    let (_dir, t) = timeline().await;
    four_events(&t).await;

    let window = Filter {
        from_ms: Some(T0 + MINUTE),
        to_ms: Some(T0 + 2 * MINUTE),
        ..Filter::default()
    };
    let only_from = Filter {
        from_ms: Some(T0 + 2 * MINUTE),
        ..Filter::default()
    };
    let only_to = Filter {
        to_ms: Some(T0 + MINUTE - 1),
        ..Filter::default()
    };

    assert_eq!(texts(&page(&t, window).await), ["firing", "search"]);
    assert_eq!(
        texts(&page(&t, only_from).await),
        ["search", "acknowledged"]
    );
    assert_eq!(texts(&page(&t, only_to).await), ["first"]);
}

#[tokio::test]
async fn kind_service_and_phase_each_narrow_the_page() {
    let (_dir, t) = timeline().await;
    four_events(&t).await;

    let notes = Filter {
        kind: Some(Kind::Note),
        ..Filter::default()
    };
    let checkout = Filter {
        service: Some("checkout".into()),
        ..Filter::default()
    };
    let shift = Filter {
        phase: Some("shift-10".into()),
        ..Filter::default()
    };
    let notes_in_shift = Filter {
        kind: Some(Kind::Note),
        phase: Some("shift-10".into()),
        ..Filter::default()
    };

    assert_eq!(texts(&page(&t, notes).await), ["first", "search"]);
    assert_eq!(texts(&page(&t, checkout).await), ["firing"]);
    assert_eq!(texts(&page(&t, shift).await), ["firing", "search"]);
    assert_eq!(texts(&page(&t, notes_in_shift).await), ["search"]);
}

#[tokio::test]
async fn after_id_pages_on_from_the_last_event_seen() {
    let (_dir, t) = timeline().await;
    four_events(&t).await;

    let first_two = t.page(&Filter::default(), 2).await.unwrap();
    let next = Filter {
        after_id: first_two.last().map(|e| e.id),
        ..Filter::default()
    };
    let rest = page(&t, next).await;
    let past_the_end = Filter {
        after_id: rest.last().map(|e| e.id),
        ..Filter::default()
    };

    assert_eq!(texts(&first_two), ["first", "firing"]);
    assert_eq!(texts(&rest), ["search", "acknowledged"]);
    assert!(page(&t, past_the_end).await.is_empty());
}

#[tokio::test]
async fn after_id_pages_on_within_a_window() {
    let (_dir, t) = timeline().await;
    four_events(&t).await;
    let window = Filter {
        from_ms: Some(T0 + MINUTE),
        to_ms: Some(T0 + 3 * MINUTE),
        ..Filter::default()
    };

    let first = t.page(&window, 1).await.unwrap();
    let next = Filter {
        after_id: first.last().map(|e| e.id),
        ..window.clone()
    };
    let rest = page(&t, next).await;

    assert_eq!(texts(&first), ["firing"]);
    assert_eq!(texts(&rest), ["search", "acknowledged"]);
}

#[tokio::test]
async fn a_page_holds_at_most_max_page_events_and_at_least_one() {
    let (_dir, t) = timeline().await;
    let many = (0..MAX_PAGE + 10).map(|i| note(&i.to_string())).collect();
    t.append(from_ms(T0), many).await.unwrap();

    let huge = t.page(&Filter::default(), usize::MAX).await.unwrap();
    let zero = t.page(&Filter::default(), 0).await.unwrap();

    assert_eq!(huge.len(), MAX_PAGE);
    assert_eq!(zero.len(), 1);
}

#[tokio::test]
async fn events_are_in_append_order_even_when_their_times_are_not() {
    // A late writer's clock may be behind: the page follows the id, the order of commits.
    let (_dir, t) = timeline().await;
    append_at(&t, T0 + MINUTE, note("written first")).await;
    append_at(&t, T0, note("written second, earlier time")).await;

    let all = page(&t, Filter::default()).await;

    assert_eq!(
        texts(&all),
        ["written first", "written second, earlier time"]
    );
}

#[tokio::test]
async fn each_event_carries_the_phase_set_when_it_was_written() {
    let (_dir, t) = timeline().await;

    let before = append_at(&t, T0, note("before")).await;
    t.set_phase(Some("prepare".into()));
    let during = append_at(&t, T0, note("during")).await;
    t.set_phase(Some("shift-10".into()));
    let after = append_at(&t, T0, note("after")).await;
    let stored = page(&t, Filter::default()).await;

    assert_eq!(t.phase().as_deref(), Some("shift-10"));
    assert_eq!(before.phase, None);
    assert_eq!(during.phase.as_deref(), Some("prepare"));
    assert_eq!(after.phase.as_deref(), Some("shift-10"));
    assert_eq!(stored, [before, during, after], "stored as handed back");
}

#[tokio::test]
async fn a_subscriber_receives_what_is_published_after_it_subscribed() {
    let (_dir, t) = timeline().await;
    append_at(&t, T0, note("before subscribing")).await;
    let mut rx = t.subscribe();

    let stored = t
        .append(SystemTime::now(), vec![note("one"), note("two")])
        .await
        .unwrap();

    assert_eq!(*rx.recv().await.unwrap(), stored[0]);
    assert_eq!(*rx.recv().await.unwrap(), stored[1]);
    assert!(rx.try_recv().is_err(), "nothing else was sent");
}

#[tokio::test]
async fn a_lagging_subscriber_is_told_how_many_it_missed_then_carries_on() {
    let (_dir, t) = timeline().await;
    let mut rx = t.subscribe();
    let n = BROADCAST_CAPACITY + 5;
    let events = (0..n).map(|i| note(&i.to_string())).collect();

    let stored = t.append(from_ms(T0), events).await.unwrap();

    let missed = rx.recv().await;
    assert!(matches!(missed, Err(RecvError::Lagged(5))), "{missed:?}");
    assert_eq!(*rx.recv().await.unwrap(), stored[5], "the oldest kept");
    t.append(from_ms(T0), vec![note("later")]).await.unwrap();
    let mut last = None;
    while let Ok(e) = rx.try_recv() {
        last = Some(e);
    }
    assert_eq!(last.unwrap().body["text"], "later");
}

/// A database as it was before the timeline: every migration below 0009 applied.
async fn database_before_the_timeline(path: &std::path::Path) -> SqlitePool {
    let pool = warroom_tsdb::db::open(path).await.unwrap();
    let mut server = sqlx::migrate!("./migrations");
    server.set_ignore_missing(true);
    server.run_to(8, &pool).await.unwrap();
    pool
}

#[tokio::test]
async fn the_migration_moves_old_alert_events_into_the_timeline_in_order() {
    // Arrange: three events of the old table, the middle one without a group.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    let old = database_before_the_timeline(&path).await;
    let rows = [
        (
            T0 + 2 * MINUTE,
            Some("{}:{alertname=\"A\"}"),
            "notification queued",
        ),
        (T0, None, "silence added"),
        (
            T0 + MINUTE,
            Some("{}:{alertname=\"B\"}"),
            "acknowledged by bob",
        ),
    ];
    for (at_ms, group, what) in rows {
        sqlx::query("INSERT INTO alert_events (at_ms, group_key, what) VALUES (?, ?, ?)")
            .bind(at_ms)
            .bind(group)
            .bind(what)
            .execute(&old)
            .await
            .unwrap();
    }
    old.close().await;
    // Act
    let db = crate::db::open(&path).await.unwrap();
    let moved = page(&Timeline::new(db.clone()), Filter::default()).await;
    // Assert: in the order they were written, as alert events with their text.
    assert_eq!(
        texts(&moved),
        [
            "notification queued",
            "silence added",
            "acknowledged by bob"
        ]
    );
    for (e, (at_ms, group, _)) in moved.iter().zip(rows) {
        assert_eq!(e.kind, "alert");
        assert_eq!(e.at_ms, at_ms);
        assert_eq!(e.subject.as_deref(), group);
        assert_eq!((e.actor.as_deref(), e.phase.as_deref()), (None, None));
    }
    let old_table = sqlx::query("SELECT name FROM sqlite_master WHERE name = 'alert_events'")
        .fetch_optional(&db)
        .await
        .unwrap();
    assert!(old_table.is_none(), "the old table is gone");
}
