//! Helpers shared by the store's tests (and by the engine's tests over the store, which
//! include this file): a seeded random generator, a bit-exact view of series, and a small
//! fleet loaded into both stores.

use std::sync::Arc;

use tempfile::TempDir;

use crate::model::{Labels, Sample, Series, WriteBatch};
use crate::store::mem::MemStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{MetricStore, StoreConfig};

/// SplitMix64: tiny, seeded and good enough to generate test data.
pub struct Rng(u64);

impl Rng {
    /// A generator that always yields the same sequence for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Each series as its label text and `(t, value bits)` pairs, so NaN payloads compare exactly.
pub fn bits(series: &[Series]) -> Vec<(String, Vec<(i64, u64)>)> {
    series
        .iter()
        .map(|s| {
            let samples = s.samples.iter().map(|x| (x.t, x.v.to_bits())).collect();
            (s.labels.to_string(), samples)
        })
        .collect()
}

/// `m1` for `i` in 0..12 and `m2` for `i` in 8..20, each with group `g`: `m1` and `m2` of
/// `i` 8..11 differ only by name.
pub fn fleet() -> WriteBatch {
    let mut series = Vec::new();
    for (name, from, to) in [("m1", 0, 12), ("m2", 8, 20)] {
        for i in from..to {
            let (i, g) = (i.to_string(), (i % 3).to_string());
            series.push(Series {
                labels: Labels::from_pairs([("__name__", name), ("i", &*i), ("g", &*g)]),
                samples: (0..300)
                    .map(|k| Sample {
                        t: k * 15_000,
                        v: (k * (k % 7 + 1)) as f64,
                    })
                    .collect(),
            });
        }
    }
    WriteBatch { id: None, series }
}

pub async fn stores(dir: &TempDir) -> (Arc<SqliteStore>, Arc<MemStore>) {
    let pool = crate::db::open(&dir.path().join("warroom.db"))
        .await
        .expect("db");
    let sqlite = SqliteStore::open(pool, StoreConfig::default())
        .await
        .expect("store");
    let mem = MemStore::new();
    sqlite.append(fleet()).await.expect("append");
    mem.append(fleet()).await.expect("append");
    // The first 240 samples of each series move to disk: windows before 3,600 s read it.
    sqlite.checkpoint().await.expect("checkpoint");
    (Arc::new(sqlite), Arc::new(mem))
}
