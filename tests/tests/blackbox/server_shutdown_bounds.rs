//! Shutdown is bounded on the real server (`[shutdown]`): a request whose body never arrives
//! holds SIGTERM only for `requests`, and a rule evaluation under way only for `sends`; past
//! them the server exits cleanly, saying what it cut off.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use warroom_tests::alerting::spawn_alerting_server_with_env;
use warroom_tests::server::{Server, spawn_server_with_env};

/// Sends SIGTERM and asserts a clean exit in under `bound` (plus the store's last checkpoint
/// and a debug build's slowness), and that the log says `cut_off`.
fn assert_exits_within(server: &mut Server, bound: Duration, cut_off: &str) {
    let start = Instant::now();
    let status = server.terminate(Duration::from_secs(60));
    let took = start.elapsed();
    let log = server.log_text();
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit: {status:?}\n{log}"
    );
    assert!(
        took < bound + Duration::from_secs(4),
        "exited {took:?} after SIGTERM, past the {bound:?} bound\n{log}"
    );
    assert!(log.contains(cut_off), "the log says {cut_off:?}\n{log}");
}

#[test]
fn a_request_whose_body_never_arrives_holds_shutdown_only_for_the_requests_grace() {
    // Arrange: a remote_write request of 100 KB whose first 10 bytes only are sent.
    let mut server = spawn_server_with_env("", &[("WARROOM_SHUTDOWN_REQUESTS", "1s")]);
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n\
         Content-Length: 100000\r\n\r\n0123456789",
        server.token
    );
    stalled.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // Act + Assert
    assert_exits_within(&mut server, Duration::from_secs(1), "cut off unanswered");
    drop(stalled);
}

#[test]
fn a_rule_evaluation_under_way_holds_shutdown_only_for_the_sends_grace() {
    // Arrange: a recording rule whose subquery steps through 100 days a second at a time
    // (8.6 million steps: many seconds), evaluated from the start.
    let rules = "groups:\n- name: slow\n  rules:\n  - record: slow:steps\n    \
                 expr: count_over_time(vector(1)[100d:1s])\n";
    let alerting = "route:\n  receiver: none\nreceivers:\n- name: none\n";
    let mut s = spawn_alerting_server_with_env(
        rules,
        alerting,
        &[
            ("WARROOM_SHUTDOWN_SENDS", "1s"),
            ("WARROOM_LIMITS_QUERY_TIMEOUT", "5m"),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));

    // Act + Assert
    assert_exits_within(
        &mut s.server,
        Duration::from_secs(1),
        "rule evaluation still under way",
    );
}
