//! The real server's own `/metrics` after real work: the real agent shipping OTLP, a remote_write
//! request, a refused batch, Prometheus API queries and a rule paging Slack. promtool finds nothing
//! to say about the text, and the `process_*` metrics describe a live process.

use std::time::{Duration, SystemTime};

use prost::Message;
use warroom_server::prompb;
use warroom_tests::agent::{Agent, Shipping};
use warroom_tests::alerting::{AlertingServer, alerting_yaml, spawn_alerting_server, wait_for};
use warroom_tests::bins::sample;
use warroom_tests::http::{self, percent_encode};
use warroom_tests::promtool::check_metrics;
use warroom_tests::saas::Saas;
use warroom_tests::server::Server;

const RULES: &str = r#"groups:
  - name: target
    interval: 1s
    rules:
      - alert: TargetMemoryWatch
        expr: node_memory_MemAvailable_bytes{env="target"} > 0
        labels:
          severity: page
"#;

fn ship_agent(s: &AlertingServer) -> Agent {
    let token_file = s.server.scratch().join("agent.token");
    std::fs::write(&token_file, &s.server.token).unwrap();
    let spool = s.server.scratch().join("spool");
    let url = s.server.url();
    let shipping = Shipping {
        server: &url,
        token_file: &token_file,
        spool: &spool,
    };
    Agent::start("target", "metrics-node", "1s", Some(shipping))
}

/// POSTs one remote_write request of `up` samples; the status.
fn remote_write(server: &Server, body: &[u8]) -> u16 {
    let bearer = Server::bearer(&server.token);
    let headers = [
        bearer.as_str(),
        "Content-Type: application/x-protobuf",
        "Content-Encoding: snappy",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
    ];
    http::post(server.addr, "/api/v1/write", &headers, body)
        .unwrap()
        .status
}

fn up_request() -> Vec<u8> {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let label = |name: &str, value: &str| prompb::Label {
        name: name.into(),
        value: value.into(),
    };
    let series = prompb::TimeSeries {
        labels: vec![label("__name__", "up"), label("job", "metrics-test")],
        samples: vec![prompb::Sample {
            value: 1.0,
            timestamp: now_ms,
        }],
    };
    let raw = prompb::WriteRequest {
        timeseries: vec![series],
    }
    .encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

fn run_queries(server: &Server) {
    let q = percent_encode("sum by (env) (node_memory_MemAvailable_bytes)");
    let end = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for path in [
        format!("/api/v1/query?query={q}"),
        format!(
            "/api/v1/query_range?query={q}&start={}&end={end}&step=1",
            end - 60
        ),
        format!("/api/v1/series?match[]={}", percent_encode("up")),
        "/api/v1/labels".to_owned(),
        "/api/v1/label/job/values".to_owned(),
    ] {
        let r = http::get(server.addr, &path, &[server.reader().as_str()]).unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
}

#[test]
fn the_servers_metrics_after_ingest_queries_and_a_page_pass_promtool_and_describe_a_live_process() {
    // Arrange: a server with a rule that pages Slack once the agent's memory figures arrive.
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    let s = spawn_alerting_server(RULES, &alerting_yaml(&slack.url(), &pd.url(), "1h", "2h"));
    let _agent = ship_agent(&s);
    wait_for("the Slack page", Duration::from_secs(30), || {
        slack.accepted().into_iter().next()
    });

    // Act: remote_write (one good, one broken), queries, then a scrape.
    assert_eq!(remote_write(&s.server, &up_request()), 204);
    assert_eq!(remote_write(&s.server, b"not snappy"), 400);
    run_queries(&s.server);
    let scrape = http::get(s.server.addr, "/metrics", &[]).unwrap();
    let (code, findings) = check_metrics(&scrape.body);

    // Assert: the text format, clean to promtool, with what was done counted.
    let text = &scrape.body;
    assert_eq!(scrape.status, 200);
    assert!(
        scrape.headers.contains("text/plain; version=0.0.4"),
        "{}",
        scrape.headers
    );
    assert_eq!(code, 0, "promtool exit code; findings:\n{findings}\n{text}");
    assert!(findings.trim().is_empty(), "promtool:\n{findings}\n{text}");
    for (name, labels) in [
        ("warroom_ingest_samples_total", &[("protocol", "otlp")][..]),
        (
            "warroom_ingest_samples_total",
            &[("protocol", "remote_write")],
        ),
        ("warroom_ingest_rejected_batches_total", &[]),
        (
            "warroom_query_duration_seconds_count",
            &[("route", "/api/v1/query_range")],
        ),
    ] {
        let n = sample(text, name, labels).unwrap_or(0.0);
        assert!(n >= 1.0, "{name}{labels:?} is {n}\n{text}");
    }
    assert_process_metrics_are_plausible(text);
}

fn assert_process_metrics_are_plausible(text: &str) {
    let get = |name: &str| sample(text, name, &[]).unwrap_or_else(|| panic!("{name}\n{text}"));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = get("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && now - started < 3600.0,
        "started at {started}, now {now}"
    );
    assert!(get("process_cpu_seconds_total") > 0.0, "{text}");
    let (rss, vsz) = (
        get("process_resident_memory_bytes"),
        get("process_virtual_memory_bytes"),
    );
    assert!(rss > 1e6 && vsz >= rss, "rss {rss}, virtual {vsz}");
    let (open, max) = (get("process_open_fds"), get("process_max_fds"));
    assert!(open >= 3.0 && open <= max, "open fds {open}, max {max}");
    for family in [
        "process_cpu_seconds_total counter",
        "process_resident_memory_bytes gauge",
        "process_start_time_seconds gauge",
    ] {
        assert!(text.contains(&format!("# TYPE {family}\n")), "{family}");
    }
}
