//! Breach to page: a breaching sample is pushed to `warroom serve` (release build) over
//! remote_write; the clock runs from the 2xx (the sample is durable) until the local PagerDuty
//! stand-in has the trigger. The rule has `for: 0s` and an hour-long group interval, so only the
//! ingest-triggered evaluation can page in time. Each trial uses a new `trial` label, so each
//! is a new alert group and pages at once (group_wait 0s). Prints p50, p90, p99 and max.
//!
//! Run: `cargo build --release -p warroom-server && cargo bench -p warroom-tests --bench alert_latency`
//! Trials: `ALERT_TRIALS` (default 100).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use warroom_server::prompb::{Label, Sample, TimeSeries, WriteRequest};
use warroom_tests::alerting::{spawn_alerting_server, wait_for};
use warroom_tests::http;
use warroom_tests::saas::Saas;
use warroom_tests::server::Server;

const RULES: &str = r#"groups:
  - name: breach
    interval: 1h
    rules:
      - alert: TargetErrorBudgetBurn
        expr: bench_breach > 0
        labels:
          severity: page
"#;

fn alerting(pd: &str) -> String {
    format!(
        "global:\n  pagerduty_url: {pd}/v2/enqueue\nroute:\n  receiver: pd\n  group_by: [trial]\n  group_wait: 0s\nreceivers:\n  - name: pd\n    pagerduty_configs:\n      - routing_key: bench\n"
    )
}

/// One snappy remote_write body: `bench_breach{trial="N"} 1` now.
fn breach(trial: usize) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let label = |name: &str, value: &str| Label {
        name: name.into(),
        value: value.into(),
    };
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                label("__name__", "bench_breach"),
                label("env", "target"),
                label("trial", &trial.to_string()),
            ],
            samples: vec![Sample {
                value: 1.0,
                timestamp: now,
            }],
        }],
    };
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let trials: usize = std::env::var("ALERT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let pd = Saas::pagerduty().expect("PagerDuty stand-in");
    let s = spawn_alerting_server(RULES, &alerting(&pd.url()));
    let bearer = Server::bearer(&s.server.token);
    let headers = [
        bearer.as_str(),
        "Content-Type: application/x-protobuf",
        "Content-Encoding: snappy",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
    ];
    let mut latencies = Vec::with_capacity(trials);
    for trial in 0..trials {
        let body = breach(trial);
        let r = http::post(s.server.addr, "/api/v1/write", &headers, &body).expect("remote_write");
        let acked = Instant::now();
        assert_eq!(r.status, 204, "remote_write: {}", r.body);
        let arrival = wait_for("the page", Duration::from_secs(30), || {
            pd.accepted().into_iter().nth(trial)
        });
        latencies.push(arrival.at.saturating_duration_since(acked));
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "breach accepted -> first page received, {trials} trials: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (budget: p99 <= 1000 ms)",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.9)),
        ms(quantile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}
