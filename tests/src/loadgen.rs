//! A Prometheus remote_write 1.0 load generator: N active series with node_exporter- and
//! cAdvisor-like label sets from a fleet of migrating nodes, one sample per series per round at
//! 15 s timestamp steps, batched into snappy-compressed requests, pre-encoded, then sent over
//! concurrent keep-alive connections while acknowledged samples, latency and errors are counted.
//!
//! - `catalog`: the node_exporter and cAdvisor metrics a node exposes.
//! - [`fleet`]: which series exist and their labels.
//! - [`values`]: how counters and gauges move from round to round.
//! - [`encode`]: batches and rounds into request bodies.
//! - [`send`]: requests over HTTP, and the report of what was acknowledged.
//! - [`verify`]: whether a receiver holds every acknowledged sample.

mod catalog;
pub mod encode;
pub mod fleet;
pub mod send;
pub mod values;
pub mod verify;

pub use encode::{Encoded, Request, Workload, encode};
pub use fleet::{Fleet, SeriesDef};
pub use send::{Acked, Report, SendOptions, Target, send};
pub use verify::{acked_samples, stored_samples};

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use prost::Message;
    use warroom_server::prompb::WriteRequest;

    use super::*;

    fn value_of<'a>(def: &'a SeriesDef, name: &str) -> Option<&'a str> {
        def.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    #[test]
    fn label_sets_are_distinct_sorted_and_look_like_node_exporter_and_cadvisor() {
        let fleet = Fleet::new(20_000);
        let defs = fleet.series(0..fleet.len());

        assert_eq!(defs.len(), 20_000);
        let key = |d: &SeriesDef| -> Vec<(String, String)> {
            d.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        };
        let sets: HashSet<_> = defs.iter().map(key).collect();
        assert_eq!(sets.len(), defs.len(), "every label set is distinct");
        let names: BTreeSet<_> = defs
            .iter()
            .filter_map(|d| value_of(d, "__name__"))
            .collect();
        assert!(names.len() >= 40, "{} metric names", names.len());
        let mean = defs.iter().map(|d| d.labels.len()).sum::<usize>() as f64 / defs.len() as f64;
        assert!((7.0..=9.0).contains(&mean), "{mean} labels per series");
        for d in &defs {
            assert!(d.labels.windows(2).all(|w| w[0].name < w[1].name), "{d:?}");
            for required in ["cluster", "node", "job"] {
                assert!(
                    value_of(d, required).is_some_and(|v| !v.is_empty()),
                    "{d:?}"
                );
            }
            assert!(matches!(value_of(d, "env"), Some("source" | "target")));
            let name = value_of(d, "__name__").unwrap();
            if name.starts_with("container_") {
                assert!(value_of(d, "pod").is_some() && value_of(d, "namespace").is_some());
            }
            if name == "node_cpu_seconds_total" {
                assert!(value_of(d, "cpu").is_some() && value_of(d, "mode").is_some());
            }
        }
        let envs: BTreeSet<_> = defs.iter().filter_map(|d| value_of(d, "env")).collect();
        assert_eq!(envs.len(), 2);
    }

    #[test]
    fn a_range_of_series_is_the_same_whether_asked_whole_or_in_pieces() {
        let fleet = Fleet::new(3_000);

        let whole = fleet.series(0..3_000);
        let pieces: Vec<_> = [0..777, 777..1_500, 1_500..3_000]
            .into_iter()
            .flat_map(|r| fleet.series(r))
            .collect();

        assert_eq!(whole.len(), pieces.len());
        assert!(
            whole
                .iter()
                .zip(&pieces)
                .all(|(a, b)| a.labels == b.labels && a.seed == b.seed)
        );
    }

    #[test]
    fn batching_covers_every_series_once_per_round() {
        let fleet = Fleet::new(5_003);
        let workload = Workload::ending_now(5_003, 1_000, 3);

        let encoded = encode(&fleet, &workload, 2);

        assert_eq!(encoded.requests.len(), 6 * 3);
        for round in 0..3 {
            let mut covered = vec![0u8; 5_003];
            for r in encoded.requests.iter().filter(|r| r.round == round) {
                assert_eq!(r.first_ts, workload.timestamp(round));
                assert!(r.samples() <= 1_000);
                r.series.clone().for_each(|s| covered[s] += 1);
            }
            assert!(covered.iter().all(|&c| c == 1), "round {round}");
        }
        assert_eq!(workload.timestamp(1) - workload.timestamp(0), 15_000);
    }

    #[test]
    fn a_snappy_body_decodes_back_into_the_same_write_request() {
        let fleet = Fleet::new(2_500);
        let workload = Workload::ending_now(2_500, 1_000, 2);
        let encoded = encode(&fleet, &workload, 1);

        for request in &encoded.requests {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(&request.body)
                .unwrap();
            let decoded = WriteRequest::decode(&raw[..]).unwrap();

            let defs = fleet.series(request.series.clone());
            let expected = encode::write_request(&defs, request.round, request.first_ts);
            assert_eq!(decoded, expected);
            assert_eq!(decoded.timeseries.len(), request.samples());
            assert!(
                request.body.len() * 3 < request.raw_len,
                "snappy compresses label sets"
            );
        }
    }

    #[test]
    fn counters_never_decrease_and_most_series_change_between_rounds() {
        let fleet = Fleet::new(2_000);
        let defs = fleet.series(0..2_000);
        let ts = |r: u32| 1_700_000_000_000 + i64::from(r) * 15_000;
        let mut changed = 0;

        for d in &defs {
            let values: Vec<f64> = (0..40).map(|r| d.kind.value(d.seed, r, ts(r))).collect();
            if value_of(d, "__name__").unwrap().ends_with("_total") {
                assert!(values.windows(2).all(|w| w[0] <= w[1]), "{d:?}: {values:?}");
            }
            assert!(values.iter().all(|v| v.is_finite() && *v >= 0.0));
            changed += usize::from(values.windows(2).any(|w| w[0] != w[1]));
        }

        assert!(
            changed * 10 > defs.len() * 8,
            "{changed} of {} series move",
            defs.len()
        );
    }
}
