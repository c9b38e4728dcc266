//! Shipping against a local receiver on loopback: spooling while it is down, in-order replay when
//! it is back, restarts, permanent refusals, the spool's bound, and the token staying secret.

mod helpers;
mod logs;
mod receiver;

use std::time::Duration;

use prometheus_client::registry::Registry;
use warroom_agent::ship::{RetryReason, ShipConfig, ShipError, ShipOutcome, Shipper};

use helpers::{Fixture, metrics_text, node, ship};
use receiver::{Receiver, TOKEN, closed_addr};

#[tokio::test]
async fn batches_spooled_while_the_receiver_is_down_arrive_once_and_in_order_when_it_is_back() {
    let fx = Fixture::new();
    let addr = closed_addr().await;
    let (mut shipper, registry) = fx.open(&fx.config(addr));
    for seq in 1..=3 {
        let outcome = ship(&mut shipper).await;
        assert!(
            matches!(outcome, ShipOutcome::Spooled { seq: s, why: RetryReason::Unreachable(_) } if s == seq),
            "{outcome:?}"
        );
    }
    assert_eq!(fx.batch_files().len(), 3);

    let rx = Receiver::start(addr).await;
    let outcome = ship(&mut shipper).await;

    assert_eq!(
        outcome,
        ShipOutcome::Sent {
            seq: 4,
            replayed: 3
        }
    );
    assert_eq!(rx.accepted(), [1, 2, 3, 4]);
    assert!(fx.batch_files().is_empty());
    let text = metrics_text(&registry);
    assert!(
        text.contains("warroom_agent_batches_sent_total 4"),
        "{text}"
    );
    assert!(text.contains("warroom_agent_spool_batches 0"), "{text}");
}

#[tokio::test]
async fn a_restarted_shipper_continues_the_sequence_and_replays_what_is_left() {
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    rx.answer(503);
    let cfg = fx.config(rx.addr);
    let (mut first, _) = fx.open(&cfg);
    ship(&mut first).await;
    ship(&mut first).await;
    let agent_id = first.agent_id().to_owned();
    drop(first);

    let (mut second, registry) = fx.open(&cfg);
    rx.answer(200);
    let outcome = ship(&mut second).await;

    assert_eq!(second.agent_id(), agent_id);
    assert_eq!(
        outcome,
        ShipOutcome::Sent {
            seq: 3,
            replayed: 2
        }
    );
    assert_eq!(rx.accepted(), [1, 2, 3]);
    assert!(rx.agent_ids().iter().all(|id| *id == agent_id));
    let text = metrics_text(&registry);
    assert!(text.contains("warroom_agent_spool_bytes 0"), "{text}");
}

#[tokio::test]
async fn an_agent_stopped_before_its_batch_is_journaled_leaves_no_gap_in_the_sequence() {
    // Arrange: batch 1 waits in the spool; the next collection then waits behind it on a
    // server that never answers, and the agent stops (the future is dropped) right there.
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    rx.answer(503);
    let (mut first, _) = fx.open(&fx.config(rx.addr));
    ship(&mut first).await;
    drop(first);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (mut stuck, _) = fx.open(&fx.config(silent.local_addr().expect("addr")));
    let stopped = tokio::time::timeout(Duration::from_millis(300), ship(&mut stuck)).await;
    drop(stuck);

    // Act
    rx.answer(200);
    let (mut restarted, _) = fx.open(&fx.config(rx.addr));
    let outcome = ship(&mut restarted).await;

    // Assert: the stopped collection never used its number, so the next batch takes it.
    assert!(stopped.is_err(), "the drain was still waiting: {stopped:?}");
    assert_eq!(
        outcome,
        ShipOutcome::Sent {
            seq: 2,
            replayed: 1
        }
    );
    assert_eq!(rx.accepted(), [1, 2]);
}

#[tokio::test]
async fn a_restart_after_delivered_batches_never_reuses_a_sequence_number() {
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    let cfg = fx.config(rx.addr);
    let (mut first, _) = fx.open(&cfg);
    ship(&mut first).await;
    ship(&mut first).await;
    drop(first);

    let (mut second, _) = fx.open(&cfg);
    let outcome = ship(&mut second).await;

    assert_eq!(
        outcome,
        ShipOutcome::Sent {
            seq: 3,
            replayed: 0
        }
    );
    assert_eq!(rx.accepted(), [1, 2, 3]);
}

#[tokio::test]
async fn a_400_drops_that_batch_and_counts_it_while_the_next_ones_go_through() {
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    rx.answer_seq(2, 400);
    let (mut shipper, registry) = fx.open(&fx.config(rx.addr));

    let outcomes = [
        ship(&mut shipper).await,
        ship(&mut shipper).await,
        ship(&mut shipper).await,
    ];

    assert_eq!(outcomes[1], ShipOutcome::Rejected { seq: 2, code: 400 });
    assert_eq!(
        outcomes[2],
        ShipOutcome::Sent {
            seq: 3,
            replayed: 0
        }
    );
    assert_eq!(rx.accepted(), [1, 3]);
    assert!(fx.batch_files().is_empty());
    let text = metrics_text(&registry);
    assert!(
        text.contains(r#"warroom_agent_batches_rejected_total{code="400"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_429_keeps_the_batch_and_delivers_it_later() {
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    rx.answer(429);
    let (mut shipper, _) = fx.open(&fx.config(rx.addr));

    let first = ship(&mut shipper).await;
    let files_while_throttled = fx.batch_files();
    rx.answer(200);
    let second = ship(&mut shipper).await;

    let why = RetryReason::Status(429);
    assert_eq!(first, ShipOutcome::Spooled { seq: 1, why });
    assert_eq!(files_while_throttled, ["00000000000000000001.batch"]);
    assert_eq!(
        second,
        ShipOutcome::Sent {
            seq: 2,
            replayed: 1
        }
    );
    assert_eq!(rx.attempts(), [1, 1, 2]);
    assert_eq!(rx.accepted(), [1, 2]);
}

#[tokio::test]
async fn a_wrong_token_gets_401_from_the_receiver_and_the_batch_is_kept() {
    let fx = Fixture::new();
    std::fs::write(fx.tmp.path().join("token"), "not-the-token").expect("token");
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    let (mut shipper, _) = fx.open(&fx.config(rx.addr));

    let outcome = ship(&mut shipper).await;

    let why = RetryReason::Status(401);
    assert_eq!(outcome, ShipOutcome::Spooled { seq: 1, why });
    assert!(rx.accepted().is_empty());
    assert_eq!(fx.batch_files().len(), 1);
}

#[tokio::test]
async fn a_full_spool_drops_the_oldest_batches_first_and_counts_them() {
    let probe = Fixture::new();
    let addr = closed_addr().await;
    let (mut measure, _) = probe.open(&probe.config(addr));
    ship(&mut measure).await;
    let one_batch = std::fs::metadata(probe.spool_dir().join(&probe.batch_files()[0]))
        .expect("metadata")
        .len();
    let fx = Fixture::new();
    let cfg = ShipConfig {
        spool_max_bytes: one_batch * 5 / 2,
        ..fx.config(addr)
    };
    let (mut shipper, registry) = fx.open(&cfg);

    for _ in 0..4 {
        ship(&mut shipper).await;
    }

    assert_eq!(
        fx.batch_files(),
        ["00000000000000000003.batch", "00000000000000000004.batch"]
    );
    let text = metrics_text(&registry);
    assert!(
        text.contains("warroom_agent_spool_dropped_batches_total 2"),
        "{text}"
    );
    assert!(text.contains("warroom_agent_spool_batches 2"), "{text}");
    let rx = Receiver::start(addr).await;
    ship(&mut shipper).await;
    assert_eq!(rx.accepted(), [3, 4, 5]);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_the_batch_is_spooled() {
    let fx = Fixture::new();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let cfg = ShipConfig {
        timeout: Duration::from_millis(300),
        ..fx.config(silent.local_addr().expect("addr"))
    };
    let (mut shipper, _) = fx.open(&cfg);

    let outcome = tokio::time::timeout(Duration::from_secs(5), ship(&mut shipper)).await;

    let why = RetryReason::Timeout;
    assert_eq!(
        outcome.expect("ship returned"),
        ShipOutcome::Spooled { seq: 1, why }
    );
    drop(silent);
}

#[tokio::test]
async fn a_batch_whose_sequence_cannot_be_persisted_is_not_sent_and_is_counted_as_lost() {
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    let (mut shipper, registry) = fx.open(&fx.config(rx.addr));
    ship(&mut shipper).await;
    let seq_file = fx.spool_dir().join("seq");
    std::fs::remove_file(&seq_file).expect("rm seq");
    std::fs::create_dir_all(seq_file.join("blocker")).expect("seq becomes a directory");

    let outcome = ship(&mut shipper).await;

    assert!(
        matches!(outcome, ShipOutcome::Dropped { seq: None, .. }),
        "{outcome:?}"
    );
    assert_eq!(rx.accepted(), [1]);
    let text = metrics_text(&registry);
    assert!(
        text.contains("warroom_agent_batches_lost_total 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_token_file_fails_open_with_an_error_naming_the_file() {
    let fx = Fixture::new();
    let cfg = ShipConfig {
        token_file: Some(fx.tmp.path().join("no-such-token")),
        ..fx.config(closed_addr().await)
    };

    let err = Shipper::open(&cfg, node(), &mut Registry::default()).expect_err("no token");

    assert!(matches!(err, ShipError::Token { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-token"), "{err}");
}

#[tokio::test]
async fn a_corrupt_spool_file_is_skipped_logged_by_name_and_counted_not_replayed_forever() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.spool_dir()).expect("mkdir");
    let garbage = fx.spool_dir().join("00000000000000000001.batch");
    std::fs::write(&garbage, b"\x1f\x8b\x08 truncated").expect("write");
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    let (mut shipper, registry) = fx.open(&fx.config(rx.addr));
    let logs = logs::capture();

    let first = ship(&mut shipper).await;
    let second = ship(&mut shipper).await;

    assert_eq!(
        first,
        ShipOutcome::Sent {
            seq: 2,
            replayed: 0
        }
    );
    assert_eq!(
        second,
        ShipOutcome::Sent {
            seq: 3,
            replayed: 0
        }
    );
    assert_eq!(rx.accepted(), [2, 3]);
    assert!(!garbage.exists());
    let text = metrics_text(&registry);
    assert!(
        text.contains("warroom_agent_spool_corrupt_batches_total 1"),
        "{text}"
    );
    let logged = logs.text();
    assert!(logged.contains("00000000000000000001.batch"), "{logged}");
}

#[tokio::test]
async fn the_token_never_appears_in_debug_output_or_logs() {
    let fx = Fixture::new();
    let rx = Receiver::start("127.0.0.1:0".parse().expect("addr")).await;
    let cfg = fx.config(rx.addr);
    let logs = logs::capture();
    let (mut shipper, _) = fx.open(&cfg);

    rx.answer(401);
    ship(&mut shipper).await;
    rx.answer(400);
    ship(&mut shipper).await;
    rx.answer(200);
    ship(&mut shipper).await;
    let shown = format!("{shipper:?} {cfg:?}");

    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    let logged = logs.text();
    assert!(!logged.is_empty());
    assert!(!logged.contains(TOKEN), "{logged}");
}
