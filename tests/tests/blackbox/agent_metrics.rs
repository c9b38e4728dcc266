//! The real agent's `/metrics` after real collections of this machine, judged by `promtool check
//! metrics` (Debian's prometheus package; `.ci/run` installs it): no errors, and lint findings
//! only about node_exporter's own names, which the agent keeps so existing rules go on working;
//! and the clock, conntrack, UDP and process families each with HELP, TYPE and a sample.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warroom_tests::bins::bin;
use warroom_tests::http;
use warroom_tests::promtool::check_metrics;

/// The agent binary, serving `/metrics`; killed when dropped, even after a panic.
struct Agent(Child);

impl Agent {
    fn start(addr: SocketAddr) -> Self {
        let child = Command::new(bin("warroom-agent"))
            .args(["--env", "source", "--node", "n1", "--cluster", "c1"])
            .args(["--interval", "1s", "--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start warroom-agent");
        Self(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// The value of the unlabelled-but-constant-labelled sample `name` in `text`.
fn value(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name}{{node=\"n1\",cluster=\"c1\",env=\"source\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

/// `/metrics` once the agent has collected at least twice (so counters have moved).
fn scrape_after_collections(addr: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = http::get(addr, "/metrics", &[])
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.body)
            .unwrap_or_default();
        if value(&body, "warroom_agent_collections_total").is_some_and(|n| n >= 2.0) {
            return body;
        }
        assert!(Instant::now() < deadline, "no second collection:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// True for a finding node_exporter itself draws, on one of its own names: camelCase from the
/// kernel's field names (`node_memory_MemTotal_bytes`, `node_netstat_Tcp_InSegs`).
fn is_node_exporters_own(finding: &str) -> bool {
    let Some((name, lint)) = finding.split_once(' ') else {
        return false;
    };
    name.starts_with("node_") && lint.contains("'snake_case' not 'camelCase'")
}

#[test]
fn metrics_pass_promtool_with_findings_only_on_node_exporters_own_names() {
    let addr = http::free_addr();
    let _agent = Agent::start(addr);
    let text = scrape_after_collections(addr);

    let (code, findings) = check_metrics(&text);

    assert_ne!(code, 1, "promtool found errors:\n{findings}");
    let other: Vec<&str> = findings
        .lines()
        .filter(|line| !is_node_exporters_own(line))
        .collect();
    assert!(
        other.is_empty(),
        "findings beyond node_exporter's names: {other:#?}"
    );
}

#[test]
fn metrics_hold_the_clock_conntrack_udp_and_process_families_with_help_and_type() {
    let addr = http::free_addr();
    let _agent = Agent::start(addr);
    let text = scrape_after_collections(addr);

    // node_exporter's untyped node_netstat_* read as gauges in this text format.
    let mut families = vec![
        ("node_timex_offset_seconds", "gauge"),
        ("node_timex_sync_status", "gauge"),
        ("node_timex_tick_seconds", "gauge"),
        ("node_timex_pps_calibration_total", "counter"),
        ("node_netstat_Udp_NoPorts", "gauge"),
        ("node_netstat_Udp_InErrors", "gauge"),
        ("node_netstat_Udp_RcvbufErrors", "gauge"),
        ("node_netstat_Udp_SndbufErrors", "gauge"),
        ("node_netstat_Udp_InCsumErrors", "gauge"),
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ];
    if std::path::Path::new("/proc/net/stat/nf_conntrack").exists() {
        families.push(("node_nf_conntrack_stat_insert_failed", "gauge"));
        families.push(("node_nf_conntrack_stat_drop", "gauge"));
    }
    if std::path::Path::new("/proc/net/snmp6").exists() {
        families.push(("node_netstat_Udp6_NoPorts", "gauge"));
        families.push(("node_netstat_Udp6_RcvbufErrors", "gauge"));
    }
    for (name, kind) in families {
        assert!(
            text.contains(&format!("\n# HELP {name} ")),
            "{name}: no HELP"
        );
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")),
            "{name}: no TYPE {kind}"
        );
        assert!(value(&text, name).is_some(), "{name}: no sample");
    }
}
