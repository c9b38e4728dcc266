//! The real agent's `/metrics` after real collections of this machine, judged by `promtool check
//! metrics` (Debian's prometheus package; `.ci/run` installs it): no errors, and lint findings
//! only about node_exporter's own names, which the agent keeps so existing rules go on working.

// Helpers of a test binary panic on purpose: a failed setup step must fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The agent binary, serving `/metrics`; killed when dropped, even after a panic.
struct Agent(Child);

impl Agent {
    fn start(addr: SocketAddr) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_warroom-agent"))
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

/// A loopback address nothing listens on.
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The body of `GET /metrics`, or `None` while the agent is not answering yet.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let request = "GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
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
        let body = scrape(addr).unwrap_or_default();
        if value(&body, "warroom_agent_collections_total").is_some_and(|n| n >= 2.0) {
            return body;
        }
        assert!(Instant::now() < deadline, "no second collection:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `promtool check metrics` on `text`: (exit code, findings on stdout and stderr).
fn promtool(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (.ci/run installs the prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), findings)
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
    let addr = free_addr();
    let _agent = Agent::start(addr);
    let text = scrape_after_collections(addr);

    let (code, findings) = promtool(&text);

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
    let addr = free_addr();
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
