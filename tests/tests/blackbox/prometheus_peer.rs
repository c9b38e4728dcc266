//! The load generator against the real peer: a small generated load pushed into Debian's
//! Prometheus 2.42 over remote_write lands whole — every series and every acknowledged sample
//! is there when asked through its query API. This proves the generator speaks remote_write.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use warroom_tests::loadgen::{Acked, Fleet, SendOptions, Workload, encode, send};
use warroom_tests::prometheus::{Prometheus, scalar};

/// (series number, timestamp in ms) of every sample the receiver acknowledged.
fn acked_samples(acked: &[Acked]) -> BTreeSet<(usize, i64)> {
    acked
        .iter()
        .flat_map(|a| a.series.clone().map(|s| (s, a.first_ts)))
        .collect()
}

/// (series number, timestamp in ms) of every sample in a matrix result, series numbered by
/// their labels in `fleet`.
fn stored_samples(matrix: &Value, fleet: &Fleet) -> BTreeSet<(usize, i64)> {
    let numbers: HashMap<Vec<(String, String)>, usize> = fleet
        .series(0..fleet.len())
        .into_iter()
        .enumerate()
        .map(|(i, d)| (d.labels.into_iter().map(|l| (l.name, l.value)).collect(), i))
        .collect();
    let mut out = BTreeSet::new();
    for series in matrix.as_array().unwrap() {
        let mut labels: Vec<(String, String)> = series["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        labels.sort();
        let number = numbers[&labels];
        for point in series["values"].as_array().unwrap() {
            out.insert((number, (point[0].as_f64().unwrap() * 1000.0).round() as i64));
        }
    }
    out
}

#[test]
fn prometheus_holds_every_series_and_sample_the_generator_pushed() {
    // Arrange
    let prometheus = Prometheus::start().unwrap();
    let fleet = Fleet::new(3_000);
    let workload = Workload::ending_now(fleet.len(), 700, 4);
    let encoded = encode(&fleet, &workload, 2);
    let options = SendOptions {
        connections: 3,
        deadline: None,
    };

    // Act
    let report = send(&prometheus.write_target(), &encoded.requests, &options).unwrap();

    // Assert
    assert_eq!(
        report.failed(),
        0,
        "{:?}\n{}",
        report.error_samples,
        prometheus.log_tail()
    );
    assert_eq!(report.acked_samples, 3_000 * 4);
    assert_eq!(report.acked.len(), encoded.requests.len());
    let last_s = workload.timestamp(3) as f64 / 1000.0;
    let series = prometheus
        .query(r#"count({__name__=~".+"})"#, last_s)
        .unwrap();
    assert_eq!(scalar(&series), Some(3_000.0), "{series}");
    // A range selector as an instant query returns every series' raw samples.
    let raw = prometheus.query(r#"{__name__=~".+"}[5m]"#, last_s).unwrap();
    assert_eq!(stored_samples(&raw, &fleet), acked_samples(&report.acked));
    let cpu = prometheus
        .query(
            r#"count(node_cpu_seconds_total{mode="idle",env="source"})"#,
            last_s,
        )
        .unwrap();
    assert!(scalar(&cpu).is_some_and(|n| n >= 2.0), "{cpu}");
}
