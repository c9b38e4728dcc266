//! The load generator against the real peer: a small generated load pushed into Debian's
//! Prometheus 2.42 over remote_write lands whole — every series and every acknowledged sample
//! is there when asked through its query API. This proves the generator speaks remote_write.

use warroom_tests::loadgen::{
    Fleet, SendOptions, Workload, acked_samples, encode, send, stored_samples,
};
use warroom_tests::prometheus::{Prometheus, scalar};

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
