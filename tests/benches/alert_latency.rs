//! Breach to page: a breaching sample is pushed to `warroom serve` (release build) over
//! remote_write; the clock runs from the 2xx (the sample is durable) until the local PagerDuty
//! stand-in has the trigger. The rule has `for: 0s` and an hour-long group interval, so only the
//! ingest-triggered evaluation can page in time. Each trial uses a new `trial` label, so each
//! is a new alert group and pages at once (group_wait 0s). Prints p50, p90, p99 and max.
//!
//! The peer in the same run: Debian's Prometheus 2.42 takes the same remote_write, evaluates the
//! same rule every second (its practical floor; the default is a minute) and sends to Debian's
//! Alertmanager 0.25 (group_wait 0s), which pages the same PagerDuty stand-in. A warm-up alert
//! goes first on both sides and is not counted (Prometheus drops alerts sent before it has
//! discovered its Alertmanager).
//!
//! Run: `cargo build --release -p warroom-server && cargo bench -p warroom-tests --bench alert_latency`
//! (the peer needs `apt-get install prometheus prometheus-alertmanager`).
//! Trials: `ALERT_TRIALS` (default 100); `ALERT_PEER=0` skips the peer.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;
use warroom_server::prompb::{Label, Sample, TimeSeries, WriteRequest};
use warroom_tests::alerting::{spawn_alerting_server, wait_for};
use warroom_tests::http;
use warroom_tests::process::Process;
use warroom_tests::prometheus::Prometheus;
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

/// Pushes trial `first..first+trials` one at a time to `addr`; the latencies from each 2xx to
/// the page's arrival (the `n`th page at the stand-in is trial `n`).
fn run_trials(
    addr: SocketAddr,
    headers: &[&str],
    pd: &Saas,
    trials: std::ops::Range<usize>,
    within: Duration,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(trials.len());
    for trial in trials {
        let body = breach(trial);
        let r = http::post(addr, "/api/v1/write", headers, &body).expect("remote_write");
        let acked = Instant::now();
        assert!(r.status / 100 == 2, "remote_write: {} {}", r.status, r.body);
        let arrival = wait_for("the page", within, || pd.accepted().into_iter().nth(trial));
        latencies.push(arrival.at.saturating_duration_since(acked));
    }
    latencies
}

fn report(who: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{who}: breach accepted -> first page received, {} trials: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.9)),
        ms(quantile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

fn warroom(trials: usize) {
    let pd = Saas::pagerduty().expect("PagerDuty stand-in");
    let s = spawn_alerting_server(RULES, &alerting(&pd.url()));
    let bearer = Server::bearer(&s.server.token);
    let headers = [
        bearer.as_str(),
        "Content-Type: application/x-protobuf",
        "Content-Encoding: snappy",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
    ];
    run_trials(s.server.addr, &headers, &pd, 0..1, Duration::from_secs(30));
    let latencies = run_trials(
        s.server.addr,
        &headers,
        &pd,
        1..trials + 1,
        Duration::from_secs(30),
    );
    report("warroom", latencies);
}

fn peer(trials: usize) -> anyhow::Result<()> {
    let pd = Saas::pagerduty()?;
    let dir = tempfile::tempdir()?;
    let am_addr = http::free_addr();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: pd\n  group_by: [trial]\n  group_wait: 0s\nreceivers:\n  - name: pd\n    pagerduty_configs:\n      - routing_key: bench\n        url: {}/v2/enqueue\n",
            pd.url()
        ),
    )?;
    let mut command = Command::new("prometheus-alertmanager");
    command
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address={am_addr}"))
        .arg("--cluster.listen-address=");
    let mut am = Process::spawn("alertmanager", &mut command, &dir.path().join("am.log"))?;
    am.wait_ready(am_addr, "/-/ready", Duration::from_secs(60))?;
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES.replace("interval: 1h", "interval: 1s"))?;
    let config = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [{:?}]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: [\"{am_addr}\"]\n",
        rules.display().to_string()
    );
    let prometheus = Prometheus::start_with_args(&config, &["--rules.alert.resend-delay=1s"])?;
    let headers = [
        "Content-Type: application/x-protobuf",
        "Content-Encoding: snappy",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
    ];
    run_trials(
        prometheus.addr(),
        &headers,
        &pd,
        0..1,
        Duration::from_secs(90),
    );
    let latencies = run_trials(
        prometheus.addr(),
        &headers,
        &pd,
        1..trials + 1,
        Duration::from_secs(30),
    );
    report(
        "Prometheus 2.42 + Alertmanager 0.25 (rule interval 1s)",
        latencies,
    );
    drop(prometheus);
    am.terminate(Duration::from_secs(10))?;
    Ok(())
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
    warroom(trials);
    if std::env::var("ALERT_PEER").as_deref() != Ok("0")
        && let Err(e) = peer(trials)
    {
        eprintln!("peer failed: {e:#}");
        std::process::exit(2);
    }
}
