//! Probes against real local listeners on 127.0.0.1 and `localhost`: nothing leaves the machine.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::collect::Inventory;
use crate::metrics::{Buffer, HistogramValue, Value};

fn config(kind: ProbeKind, target: impl Into<String>) -> ProbeConfig {
    ProbeConfig {
        name: "p".into(),
        kind,
        target: target.into(),
        side: Side::Target,
        timeout: Duration::from_secs(2),
    }
}

/// A local HTTP server answering every request with `status`; its base URL.
async fn http_server(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = conn.read(&mut buf).await;
            let response =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = conn.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}/healthz")
}

/// A listener that accepts connections and never answers; its address.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    addr.to_string()
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Collects `probes` into a fresh buffer; `(success, histogram)` of each probe, in order.
fn results(probes: &mut Probes) -> Vec<(f64, HistogramValue)> {
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
    probes
        .collect(&mut Cx::new(&mut out, &mut inventory))
        .unwrap();
    let family = |name: &str| {
        let found = out.families().iter().find(|f| f.name == name);
        found.map(|f| f.samples.clone()).unwrap_or_default()
    };
    let success = family("warroom_probe_success");
    let durations = family("warroom_probe_duration_seconds");
    assert_eq!(success.len(), durations.len());
    let pairs = success
        .into_iter()
        .zip(durations)
        .map(|(s, d)| match (s.value, d.value) {
            (Value::Number(ok), Value::Histogram(h)) => (ok, h),
            other => panic!("wrong value types {other:?}"),
        });
    pairs.collect()
}

async fn run_once(config: ProbeConfig) -> (f64, HistogramValue) {
    let mut probes = Probes::new(vec![config]);
    probes.run().await;
    results(&mut probes).remove(0)
}

#[tokio::test]
async fn a_tcp_probe_to_a_listener_succeeds_and_counts_one_per_run() {
    let addr = silent_server().await;
    let mut probes = Probes::new(vec![config(ProbeKind::Tcp, addr)]);

    probes.run().await;
    let first = results(&mut probes).remove(0);
    probes.run().await;
    let second = results(&mut probes).remove(0);

    assert_eq!(first.0, 1.0);
    assert_eq!(first.1.count, 1);
    assert_eq!(second.1.count, 2);
    assert_eq!(second.1.buckets.last(), Some(&(f64::INFINITY, 2)));
}

#[tokio::test]
async fn a_tcp_probe_to_a_closed_port_fails() {
    let (ok, durations) = run_once(config(ProbeKind::Tcp, closed_port().await)).await;

    assert_eq!(ok, 0.0);
    assert_eq!(durations.count, 1, "a failure is still timed");
}

#[tokio::test]
async fn an_http_probe_succeeds_on_200_and_302_and_fails_on_500() {
    let ok = run_once(config(ProbeKind::Http, http_server("200 OK").await)).await;
    let moved = run_once(config(ProbeKind::Http, http_server("302 Found").await)).await;
    let broken = run_once(config(ProbeKind::Http, http_server("500 Oops").await)).await;

    assert_eq!(ok.0, 1.0);
    assert_eq!(moved.0, 1.0);
    assert_eq!(broken.0, 0.0);
    assert_eq!(broken.1.count, 1);
}

#[tokio::test]
async fn a_dns_probe_resolves_localhost() {
    let (ok, durations) = run_once(config(ProbeKind::Dns, "localhost")).await;

    assert_eq!(ok, 1.0);
    assert_eq!(durations.count, 1);
}

#[tokio::test]
async fn a_hanging_http_probe_fails_at_its_timeout_and_records_that_duration() {
    let mut hang = config(
        ProbeKind::Http,
        format!("http://{}/", silent_server().await),
    );
    hang.timeout = Duration::from_millis(150);

    let (ok, durations) = run_once(hang).await;

    assert_eq!(ok, 0.0);
    assert!((0.15..1.0).contains(&durations.sum), "{}", durations.sum);
    assert_eq!(
        durations.buckets[7],
        (0.25, 1),
        "lands in the 0.25 s bucket"
    );
    assert_eq!(durations.buckets[6], (0.1, 0));
}

#[tokio::test]
async fn probes_run_concurrently_so_timeouts_do_not_add_up() {
    let addr = silent_server().await;
    let mut hangs: Vec<_> = (0..4)
        .map(|_| config(ProbeKind::Http, format!("http://{addr}/")))
        .collect();
    hangs
        .iter_mut()
        .for_each(|c| c.timeout = Duration::from_millis(300));
    let mut probes = Probes::new(hangs);

    let start = Instant::now();
    probes.run().await;

    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert!(results(&mut probes).iter().all(|(ok, _)| *ok == 0.0));
}

#[tokio::test]
async fn results_carry_probe_kind_target_and_side_labels() {
    let mut probes = Probes::new(vec![config(ProbeKind::Dns, "localhost")]);
    probes.run().await;
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());

    probes
        .collect(&mut Cx::new(&mut out, &mut inventory))
        .unwrap();

    let sample = &out.families()[0].samples[0];
    let expected =
        labels!["probe" => "p", "kind" => "dns", "target" => "localhost", "side" => "target"];
    assert_eq!(*sample.labels, expected);
}

#[test]
fn probes_that_never_ran_write_nothing() {
    let mut probes = Probes::new(vec![config(ProbeKind::Tcp, "127.0.0.1:1")]);
    let (mut out, mut inventory) = (Buffer::new(), Inventory::default());

    probes
        .collect(&mut Cx::new(&mut out, &mut inventory))
        .unwrap();

    assert_eq!(out.series_count(), 0);
}
