//! An existing Prometheus forwards to warroom: Debian's Prometheus 2.42 scrapes a running agent and
//! remote-writes to `warroom serve` with a bearer token; the agent's series arrive and answer
//! through warroom's query API.

use std::time::{Duration, Instant};

use serde_json::Value;
use warroom_tests::agent::Agent;
use warroom_tests::http::{self, free_addr, percent_encode};
use warroom_tests::prometheus::Prometheus;
use warroom_tests::server::spawn_server;

#[test]
fn prometheus_scraping_an_agent_remote_writes_its_series_into_warroom() {
    // Arrange: a server, an agent to scrape, and a Prometheus forwarding to the server.
    let server = spawn_server();
    let agent_addr = free_addr();
    let _agent = Agent::serving("source", "prom-fwd", "1s", &agent_addr.to_string());
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: agent\n    static_configs:\n      \
         - targets: ['{agent_addr}']\nremote_write:\n  - url: {}/api/v1/write\n    authorization:\n      \
         credentials: {}\n    queue_config:\n      batch_send_deadline: 1s\n",
        server.url(),
        server.token
    );
    let prometheus = Prometheus::start_with(&config).expect("prometheus starts");
    // Act + Assert: the agent's load average, scraped by Prometheus, is queryable in warroom.
    let reader = server.reader();
    let q = percent_encode(r#"node_load1{job="agent",node="prom-fwd"}"#);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let r =
            http::get(server.addr, &format!("/api/v1/query?query={q}"), &[&reader]).expect("query");
        let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        if v["data"]["result"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            assert_eq!(v["data"]["result"][0]["metric"]["env"], "source");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing arrived in 90 s\nwarroom:\n{}\nprometheus:\n{}",
            server.log_text(),
            prometheus.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let up = percent_encode(r#"up{job="agent"}"#);
    let r = http::get(
        server.addr,
        &format!("/api/v1/query?query={up}"),
        &[&reader],
    )
    .expect("query");
    assert!(
        r.body.contains(r#""value":["#),
        "Prometheus' own up series arrives too: {}",
        r.body
    );
}
