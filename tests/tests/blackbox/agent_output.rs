//! The agent's output as Prometheus and its users see it: `--once`, `/metrics`, `/healthz`,
//! labels, `promtool check metrics`, config errors and shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warroom_tests::bins::{agent_once, bin, sample};
use warroom_tests::http;
use warroom_tests::promtool::check_metrics;

#[test]
fn once_output_passes_promtool_with_only_node_exporters_own_camel_case_findings() {
    let out = agent_once(&["--env", "source", "--node", "n1", "--cluster", "c1"]);
    let text = String::from_utf8(out.stdout).unwrap();

    let (code, findings) = check_metrics(&text);

    assert_ne!(code, 1, "promtool found errors:\n{findings}");
    // camelCase is node_exporter's own (`node_memory_MemTotal_bytes`); on any other name it is not.
    let other: Vec<&str> = findings
        .lines()
        .filter(|l| !(l.starts_with("node_") && l.contains("camelCase")))
        .collect();
    assert!(other.is_empty(), "unexpected promtool findings: {other:?}");
    for name in [
        "node_timex_offset_seconds",
        "node_netstat_Udp_NoPorts",
        "process_resident_memory_bytes",
    ] {
        assert!(
            text.contains(&format!("\n# TYPE {name} ")),
            "{name} missing"
        );
    }
}

#[test]
fn every_sample_carries_node_cluster_and_env() {
    let out = agent_once(&["--env", "target", "--node", "n1", "--cluster", "c1"]);
    let text = String::from_utf8(out.stdout).unwrap();

    let samples: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();

    assert!(samples.len() > 100, "only {} samples", samples.len());
    for line in samples {
        assert!(
            line.contains(r#"node="n1",cluster="c1",env="target""#),
            "{line}"
        );
    }
    assert!(sample(&text, "node_cpu_seconds_total", &[("mode", "idle")]).unwrap() > 0.0);
    assert!(sample(&text, "node_memory_MemTotal_bytes", &[]).unwrap() > 0.0);
}

#[test]
fn a_running_agent_serves_metrics_and_health_and_stops_on_sigterm() {
    let addr = http::free_addr();
    let mut child = Command::new(bin("warroom-agent"))
        .args([
            "--env",
            "source",
            "--interval",
            "1s",
            "--listen",
            &addr.to_string(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        match http::get(addr, "/healthz", &[]) {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("agent never answered: {e}"),
        }
    };

    let text = http::get(addr, "/metrics", &[]).unwrap();
    let open = http::get(
        addr,
        "/metrics",
        &["Accept: application/openmetrics-text; version=1.0.0"],
    )
    .unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();

    assert_eq!(health.status, 200);
    assert_eq!(text.status, 200);
    assert!(
        text.headers
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        text.headers
    );
    assert!(sample(&text.body, "node_load1", &[("env", "source")]).is_some());
    assert!(
        open.headers.contains("application/openmetrics-text"),
        "{}",
        open.headers
    );
    assert!(open.body.ends_with("# EOF\n"));
    assert!(status.success(), "agent exited with {status} on SIGTERM");
}

#[test]
fn an_unknown_config_field_stops_the_agent_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "env = \"source\"\nlisten_addr = \"0.0.0.0:1\"\n").unwrap();

    let out = Command::new(bin("warroom-agent"))
        .args(["--once", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown field `listen_addr`"), "{stderr}");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
}
