//! Checking that a receiver holds what it acknowledged: every (series, timestamp) pair of the
//! acknowledged requests, against the raw samples a range-selector query returns.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::{Acked, Fleet};

/// (series number, timestamp in ms) of every sample the receiver acknowledged.
pub fn acked_samples(acked: &[Acked]) -> BTreeSet<(usize, i64)> {
    acked
        .iter()
        .flat_map(|a| a.series.clone().map(|s| (s, a.first_ts)))
        .collect()
}

/// (series number, timestamp in ms) of every sample in a Prometheus matrix result, the series
/// numbered by their labels in `fleet`; labels the fleet does not know are skipped.
pub fn stored_samples(matrix: &Value, fleet: &Fleet) -> BTreeSet<(usize, i64)> {
    let numbers: HashMap<Vec<(String, String)>, usize> = fleet
        .series(0..fleet.len())
        .into_iter()
        .enumerate()
        .map(|(i, d)| (d.labels.into_iter().map(|l| (l.name, l.value)).collect(), i))
        .collect();
    let mut out = BTreeSet::new();
    for series in matrix.as_array().into_iter().flatten() {
        let mut labels: Vec<(String, String)> = series["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        labels.sort();
        let Some(&number) = numbers.get(&labels) else {
            continue;
        };
        for point in series["values"].as_array().into_iter().flatten() {
            out.insert((
                number,
                (point[0].as_f64().unwrap_or(0.0) * 1000.0).round() as i64,
            ));
        }
    }
    out
}
