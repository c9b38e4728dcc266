//! `kill -9` of the server during sustained remote_write ingest, then a restart: every sample the
//! server acknowledged with a 2xx is there (acked = durable).

use std::time::{Duration, Instant};

use serde_json::Value;
use warroom_tests::http::{self, percent_encode};
use warroom_tests::loadgen::{
    Fleet, SendOptions, Target, Workload, acked_samples, encode, send, stored_samples,
};
use warroom_tests::server::spawn_server;

fn ingested(server: &warroom_tests::server::Server) -> f64 {
    let text = http::get(server.addr, "/metrics", &[])
        .map(|r| r.body)
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("warroom_ingest_samples_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn every_acknowledged_sample_survives_a_kill_9_during_ingest() {
    // Arrange: a load big enough to still be running when the server dies.
    let mut server = spawn_server();
    let fleet = Fleet::new(5_000);
    let workload = Workload::ending_now(fleet.len(), 500, 40);
    let encoded = encode(&fleet, &workload, 2);
    let total = (fleet.len() * 40) as f64;
    let target = Target {
        url: format!("{}/api/v1/write", server.url()),
        token: Some(server.token.clone()),
    };
    let options = SendOptions {
        connections: 2,
        deadline: Some(Duration::from_secs(120)),
    };
    // Act: send in the background; kill -9 once a fifth of the load is in.
    let sender = std::thread::spawn(move || send(&target, &encoded.requests, &options));
    let deadline = Instant::now() + Duration::from_secs(120);
    while ingested(&server) < total / 5.0 {
        assert!(
            Instant::now() < deadline,
            "ingest never got going\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9();
    let report = sender.join().expect("sender thread").expect("send report");
    server.restart();
    // Assert: the kill hit mid-ingest, and everything acknowledged before it is stored.
    assert!(
        report.failed() > 0,
        "the kill came after the load finished; make the load bigger"
    );
    let acked = acked_samples(&report.acked);
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kill"
    );
    let last_s = workload.timestamp(39) as f64 / 1000.0;
    let q = percent_encode(r#"{__name__=~".+"}[15m]"#);
    let r = http::get(
        server.addr,
        &format!("/api/v1/query?query={q}&time={last_s}"),
        &[&server.reader()],
    )
    .expect("query");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).expect("json");
    let stored = stored_samples(&v["data"]["result"], &fleet);
    let missing: Vec<_> = acked.difference(&stored).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acked samples missing, e.g. {missing:?}",
        acked.difference(&stored).count()
    );
}
