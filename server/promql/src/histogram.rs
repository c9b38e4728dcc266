//! `histogram_quantile` over classic histograms: buckets are the series that differ only in
//! their `le` label, fixed up the way Prometheus 2.42 does (merged duplicates, forced monotonic).

use std::collections::HashMap;

use super::Element;
use warroom_tsdb::model::{Label, Labels};

/// The bucket label.
const LE: &str = "le";

#[derive(Clone, Copy, Debug)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// The φ-quantile of every histogram in `v`; elements without a parsable `le` are ignored.
pub(crate) fn histogram_quantile(q: f64, v: Vec<Element>) -> Vec<Element> {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<Bucket>> = HashMap::new();
    for e in v {
        let Some(upper) = e.labels.get(LE).and_then(parse_le) else {
            continue;
        };
        let key = without_le(&e.labels);
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(Bucket { upper, count: e.v });
    }
    order
        .into_iter()
        .map(|labels| {
            let buckets = groups.remove(&labels).unwrap_or_default();
            Element {
                labels,
                v: bucket_quantile(q, buckets),
            }
        })
        .collect()
}

/// Go's `strconv.ParseFloat` accepts `+Inf`, `Inf`, `-inf`, ... which Rust's parser mostly does.
fn parse_le(s: &str) -> Option<f64> {
    s.trim_start_matches('+').parse().ok()
}

fn without_le(labels: &Labels) -> Labels {
    Labels::new(
        labels
            .without_metric_name()
            .iter()
            .filter(|l| l.name != LE)
            .cloned()
            .collect::<Vec<Label>>(),
    )
}

fn bucket_quantile(q: f64, mut b: Vec<Bucket>) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.upper.total_cmp(&y.upper));
    if b.last().is_none_or(|l| l.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let b = coalesce(b);
    let b = monotonic(b);
    if b.len() < 2 {
        return f64::NAN;
    }
    let observations = b[b.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let i = b[..b.len() - 1].partition_point(|x| x.count < rank);
    if i == b.len() - 1 {
        return b[b.len() - 2].upper;
    }
    if i == 0 && b[0].upper <= 0.0 {
        return b[0].upper;
    }
    let (mut start, end, mut count) = (0.0, b[i].upper, b[i].count);
    if i > 0 {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// Buckets with the same upper bound (e.g. `le="1"` and `le="1.0"`) are added together.
fn coalesce(b: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b {
        match out.last_mut() {
            Some(last) if last.upper == x.upper => last.count += x.count,
            _ => out.push(x),
        }
    }
    out
}

/// Counts never decrease with `le`; a lower count (scrape skew) is raised to the running max.
fn monotonic(mut b: Vec<Bucket>) -> Vec<Bucket> {
    let mut max = f64::NEG_INFINITY;
    for x in &mut b {
        if x.count > max {
            max = x.count;
        } else if x.count < max {
            x.count = max;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(&str, f64)]) -> Vec<Element> {
        pairs
            .iter()
            .map(|&(le, v)| Element {
                labels: Labels::from_pairs([("__name__", "h_bucket"), ("job", "a"), ("le", le)]),
                v,
            })
            .collect()
    }

    #[test]
    fn the_median_interpolates_linearly_inside_its_bucket() {
        // 100 observations: 20 ≤ 0.1, 60 ≤ 0.5, 100 ≤ +Inf. Rank 50 is 30/40 into (0.1, 0.5].
        let v = buckets(&[("0.1", 20.0), ("0.5", 60.0), ("+Inf", 100.0)]);
        let got = histogram_quantile(0.5, v);
        assert_eq!(got[0].labels, Labels::from_pairs([("job", "a")]));
        assert!((got[0].v - 0.4).abs() < 1e-12);
    }

    #[test]
    fn a_quantile_in_the_inf_bucket_returns_the_highest_finite_bound() {
        let v = buckets(&[("0.1", 20.0), ("0.5", 60.0), ("+Inf", 100.0)]);
        assert_eq!(histogram_quantile(0.99, v)[0].v, 0.5);
    }

    #[test]
    fn non_monotonic_buckets_are_fixed_and_a_missing_inf_bucket_gives_nan() {
        let fixed = histogram_quantile(0.75, buckets(&[("1", 10.0), ("2", 8.0), ("+Inf", 20.0)]));
        assert!((fixed[0].v - 2.0).abs() < 1e-12);
        assert!(
            histogram_quantile(0.5, buckets(&[("1", 10.0), ("2", 20.0)]))[0]
                .v
                .is_nan()
        );
    }
}
