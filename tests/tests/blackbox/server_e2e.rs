//! Agent and server as real processes: the agent's series are queryable within one interval, and
//! a server stopped for 60 s while the agent runs gets every batch exactly once afterwards; the
//! server runs with two malloc arenas.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use warroom_tests::agent::{Agent, Shipping};
use warroom_tests::http::{self, percent_encode};
use warroom_tests::server::{Server, spawn_server};

/// An agent on `server`, with a token file of its own.
fn start_agent(server: &Server, node: &str, interval: &str, spool: &Path) -> Agent {
    let token_file = server.scratch().join(format!("{node}.token"));
    std::fs::write(&token_file, format!("{}\n", server.token)).expect("token file");
    let url = server.url();
    let shipping = Shipping {
        server: &url,
        token_file: &token_file,
        spool,
    };
    Agent::start("target", node, interval, Some(shipping))
}

/// `/api/v1/query` result array.
fn query(server: &Server, q: &str) -> Vec<Value> {
    let r = http::get(
        server.addr,
        &format!("/api/v1/query?query={}", percent_encode(q)),
        &[&server.reader()],
    )
    .expect("query");
    assert_eq!(r.status, 200, "{q}: {}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[test]
fn the_server_restarts_itself_with_two_malloc_arenas_and_serves() {
    // Arrange: started without MALLOC_ARENA_MAX (cargo does not set it).
    assert!(std::env::var_os("MALLOC_ARENA_MAX").is_none());

    // Act: ready once `/readyz` answers.
    let server = spawn_server();
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid())).expect("environ");

    // Assert: the same process (its pid), glibc's arenas capped.
    let vars: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
    assert!(
        vars.contains(&&b"MALLOC_ARENA_MAX=2"[..]),
        "environment: {}",
        String::from_utf8_lossy(&environ)
    );
}

#[test]
fn the_agents_series_are_queryable_within_one_interval() {
    // Arrange
    let server = spawn_server();
    let _agent = start_agent(&server, "e2e-fresh", "2s", &server.scratch().join("spool"));
    // Act: poll until the series shows up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (seen_at, sample_ts) = loop {
        let result = query(&server, r#"node_load1{node="e2e-fresh",env="target"}"#);
        if let Some(first) = result.first() {
            break (now_s(), first["value"][0].as_f64().expect("timestamp"));
        }
        assert!(
            Instant::now() < deadline,
            "no node_load1 in 30s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Assert: visible before the next collection was due.
    assert!(
        seen_at - sample_ts <= 2.0,
        "visible {:.2}s after collection",
        seen_at - sample_ts
    );
}

#[test]
fn a_server_stopped_for_60_s_gets_every_agent_batch_exactly_once() {
    // Arrange
    let mut server = spawn_server();
    let spool = server.scratch().join("spool");
    let mut agent = start_agent(&server, "e2e-outage", "1s", &spool);
    let series = r#"node_load1{node="e2e-outage"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(&server, series).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the agent never arrived\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Act: 60 s without a server, then back; the agent keeps collecting into its spool.
    assert!(
        server
            .terminate(Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );
    std::thread::sleep(Duration::from_secs(60));
    server.restart();
    std::thread::sleep(Duration::from_secs(15));
    agent.stop();
    // Assert: one node_load1 sample per batch the agent made, none missing, none twice.
    let made: u64 = std::fs::read_to_string(spool.join("seq"))
        .expect("seq file")
        .trim()
        .parse::<u64>()
        .expect("seq")
        - 1;
    let result = query(&server, &format!("{series}[30m]"));
    let samples = result[0]["values"]
        .as_array()
        .expect("a range vector")
        .clone();
    let times: Vec<f64> = samples
        .iter()
        .map(|s| s[0].as_f64().unwrap_or(0.0))
        .collect();
    assert!(made >= 70, "the agent made only {made} batches in 75 s");
    assert_eq!(times.len() as u64, made, "every batch arrived once");
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "samples in order, no duplicate timestamps"
    );
}
