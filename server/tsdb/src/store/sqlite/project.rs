//! Projected label sets built straight from the index's symbol ids ([`Projection`]), and the
//! check that selected series stay distinct without their metric names, on ids as well: an
//! aggregation such as `sum(rate(x[5m]))` over 100k series then builds and hashes no label
//! text at all.

use std::hash::Hasher;

use super::index::Index;
use crate::model::hash::FxHasher;
use crate::model::{Label, Labels, METRIC_NAME};
use crate::store::Projection;

/// A [`Projection`] resolved against one index: which name symbols stay.
pub(super) enum Projector {
    /// Only these name symbols (names the index has never seen cannot occur).
    Only(Vec<u32>),
    /// Every name symbol but these.
    AllBut(Vec<u32>),
}

impl Projector {
    pub(super) fn new(index: &Index, projection: &Projection) -> Self {
        let symbols = |names: &mut dyn Iterator<Item = &str>| -> Vec<u32> {
            names.filter_map(|n| index.symbol(n)).collect()
        };
        match projection {
            Projection::By { names, .. } => Projector::Only(symbols(
                &mut names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| projection.keeps(n)),
            )),
            Projection::Without(names) => Projector::AllBut(symbols(
                &mut names
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::once(METRIC_NAME)),
            )),
        }
    }

    /// The projected label set of series `id` (empty for a `by ()` without touching it).
    pub(super) fn labels(&self, index: &Index, id: u32) -> Labels {
        if matches!(self, Projector::Only(names) if names.is_empty()) {
            return Labels::default();
        }
        let pairs = index.interned(id).unwrap_or_default();
        let labels = pairs
            .iter()
            .filter(|(n, _)| match self {
                Projector::Only(names) => names.contains(n),
                Projector::AllBut(names) => !names.contains(n),
            })
            .map(|&(n, v)| Label {
                name: index.sym(n),
                value: index.sym(v),
            })
            .collect();
        Labels::from_sorted(labels)
    }
}

/// Whether the label sets of `ids` stay distinct without their metric names (see
/// [`crate::store::Projected::distinct_without_name`]). Sets compare by symbol ids; two that
/// only hash alike count as equal, so `false` may be a false alarm, `true` never is.
pub(super) fn distinct_without_name(index: &Index, ids: &[u32]) -> bool {
    let Some(name) = index.symbol(METRIC_NAME) else {
        return true;
    };
    // One pass over the label sets: each one's hash without the name, and whether they all
    // have one metric name (or none), when their whole label sets already tell them apart.
    let mut hashes = Vec::with_capacity(ids.len());
    let mut metrics = None;
    let mut one_metric = true;
    for &id in ids {
        let mut h = FxHasher::default();
        let mut metric = None;
        for &(n, v) in index.interned(id).unwrap_or_default() {
            if n == name {
                metric = Some(v);
            } else {
                h.write_u64((u64::from(n) << 32) | u64::from(v));
            }
        }
        one_metric &= *metrics.get_or_insert(metric) == metric;
        hashes.push(h.finish());
    }
    if one_metric {
        return true;
    }
    hashes.sort_unstable();
    hashes.windows(2).all(|w| w[0] != w[1])
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::super::testutil::{bits, stores};
    use crate::model::{MatchOp, Matcher};
    use crate::store::{Projection, Querier};

    fn by(names: &[&str], keep_name: bool) -> Projection {
        Projection::By {
            names: names.iter().map(|n| n.to_string()).collect(),
            keep_name,
        }
    }

    #[tokio::test]
    async fn projections_from_symbol_ids_equal_projections_of_whole_label_sets() {
        // Arrange
        let dir = TempDir::new().expect("tempdir");
        let (sqlite, mem) = stores(&dir).await;
        let projections = [
            by(&[], false),
            by(&["g"], false),
            by(&["g", "__name__"], false),
            by(&["g", "__name__"], true),
            by(&["nope"], true),
            Projection::Without(vec![]),
            Projection::Without(vec!["i".into(), "nope".into()]),
        ];
        // (selected i, whether distinct without names)
        let cases = [
            ("1[2-9]", true),    // m2 only
            ("0|1[4-9]", true),  // m1 and m2, no two alike
            ("9|1[4-9]", false), // m1{i="9"} and m2{i="9"}
            (".+", false),
        ];

        for (i, distinct) in cases {
            let matchers = [Matcher::new("i", MatchOp::Regex, i).expect("matcher")];
            for p in &projections {
                // Act
                let got = sqlite.select_projected(&matchers, 60_000, 200_000, p).await;
                let want = mem.select_projected(&matchers, 60_000, 200_000, p).await;

                // Assert
                let (got, want) = (got.expect("sqlite"), want.expect("mem"));
                assert_eq!(bits(&got.series), bits(&want.series), "{i} {p:?}");
                assert_eq!(got.distinct_without_name, distinct, "{i} {p:?}");
                assert_eq!(want.distinct_without_name, distinct, "{i} {p:?}");
            }
        }
    }
}
