//! Rollups: per series, the min / max / sum / count of its samples in aligned time buckets
//! (`floor(t / res) * res`), at each of [`RESOLUTIONS`], so a 24 h or 7 d chart reads a few
//! hundred buckets a series instead of thousands of samples.
//!
//! They are computed from each chunk the checkpoint writes and stored beside it in `rollups`
//! under the same `(series_id, min_t)` (so rewriting the open chunk rewrites its rollup, and
//! retention deletes both by `max_t`). A bucket cut by a chunk boundary is stored in both rows
//! and merged on read. Stale markers are not samples and are left out, as range vectors leave
//! them out. min, max and count are exact; a sum over a bucket cut by a chunk boundary adds
//! the two partial sums, which equals the raw sum exactly for integer-valued series and to
//! within float rounding otherwise.
//!
//! A row's blob holds four [`chunk`] streams of `(bucket start, value)`: min, max, sum and
//! count, each with a `u32` length in front, so the chunk encodings compress them.

use super::chunk::{self, ChunkError};
use crate::model::{Labels, Sample};
use crate::query::is_stale;

/// Bucket widths kept (ms): 5 minutes for day charts, 1 hour for week charts. (At a 15 s
/// scrape a 1 minute bucket holds 4 samples and its four aggregates would outweigh them.)
pub const RESOLUTIONS: [i64; 2] = [5 * 60_000, 3_600_000];

/// One of the [`RESOLUTIONS`] the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// 5-minute buckets.
    FiveMinutes,
    /// 1-hour buckets.
    OneHour,
}

impl Resolution {
    /// The bucket width in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Resolution::FiveMinutes => RESOLUTIONS[0],
            Resolution::OneHour => RESOLUTIONS[1],
        }
    }
}

/// The aggregates of one series' samples in `[t, t + res)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Start of the bucket (ms), a multiple of the resolution.
    pub t: i64,
    /// Smallest value (NaN values are skipped unless all are NaN).
    pub min: f64,
    /// Largest value (same rule).
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
    /// Number of samples (stale markers excluded).
    pub count: u64,
}

impl Bucket {
    fn new(t: i64, v: f64) -> Self {
        Bucket {
            t,
            min: v,
            max: v,
            sum: v,
            count: 1,
        }
    }

    /// Folds in the aggregates of another part of the same bucket.
    pub fn merge(&mut self, other: &Bucket) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// A series' buckets at one resolution, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct RollupSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Buckets with at least one sample.
    pub buckets: Vec<Bucket>,
}

/// The start of the bucket holding `t`.
pub fn bucket_start(t: i64, res: i64) -> i64 {
    t.div_euclid(res) * res
}

/// Adds time-ordered `samples` to `out` (merging into its last bucket when they share it).
pub fn accumulate(samples: &[Sample], res: i64, out: &mut Vec<Bucket>) {
    for s in samples.iter().filter(|s| !is_stale(s.v)) {
        let t = bucket_start(s.t, res);
        match out.last_mut() {
            Some(b) if b.t == t => b.merge(&Bucket::new(t, s.v)),
            _ => out.push(Bucket::new(t, s.v)),
        }
    }
}

/// Appends `more` (later buckets, possibly starting with a part of `out`'s last) to `out`.
pub fn extend(out: &mut Vec<Bucket>, more: &[Bucket]) {
    for b in more {
        match out.last_mut() {
            Some(last) if last.t == b.t => last.merge(b),
            _ => out.push(*b),
        }
    }
}

/// The stored form of `buckets`.
pub fn encode(buckets: &[Bucket]) -> Vec<u8> {
    let streams: [fn(&Bucket) -> f64; 4] = [|b| b.min, |b| b.max, |b| b.sum, |b| b.count as f64];
    let mut out = Vec::new();
    for value in streams {
        let samples: Vec<Sample> = buckets
            .iter()
            .map(|b| Sample {
                t: b.t,
                v: value(b),
            })
            .collect();
        let data = chunk::compact(&samples);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// Reads [`encode`]'s output back.
pub fn decode(mut data: &[u8]) -> Result<Vec<Bucket>, ChunkError> {
    let mut streams: Vec<Vec<Sample>> = Vec::with_capacity(4);
    for _ in 0..4 {
        let short = ChunkError::Truncated {
            decoded: 0,
            count: 0,
        };
        let len: [u8; 4] = data
            .get(..4)
            .and_then(|l| l.try_into().ok())
            .ok_or(short.clone())?;
        let len = u32::from_be_bytes(len) as usize;
        let body = data.get(4..4 + len).ok_or(short)?;
        streams.push(chunk::decode(body)?);
        data = &data[4 + len..];
    }
    let [min, max, sum, count] = streams.as_slice() else {
        return Ok(Vec::new());
    };
    Ok(
        (0..min.len().min(max.len()).min(sum.len()).min(count.len()))
            .map(|i| Bucket {
                t: min[i].t,
                min: min[i].v,
                max: max[i].v,
                sum: sum[i].v,
                count: count[i].v as u64,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::STALE_NAN_BITS;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { t, v }).collect()
    }

    #[test]
    fn buckets_split_across_chunks_merge_to_the_buckets_of_all_samples() {
        // Arrange
        let all: Vec<Sample> = (0..500)
            .map(|i| Sample {
                t: i * 15_000 + 7,
                v: ((i * 37) % 101) as f64 - 50.0,
            })
            .collect();
        let (a, b) = all.split_at(173);

        for res in RESOLUTIONS {
            // Act
            let mut whole = Vec::new();
            accumulate(&all, res, &mut whole);
            let (mut left, mut right) = (Vec::new(), Vec::new());
            accumulate(a, res, &mut left);
            accumulate(b, res, &mut right);
            let mut merged = decode(&encode(&left)).expect("decode");
            extend(&mut merged, &decode(&encode(&right)).expect("decode"));

            // Assert
            assert_eq!(merged, whole, "res {res}");
            assert_eq!(whole.iter().map(|b| b.count).sum::<u64>(), 500);
        }
    }

    #[test]
    fn stale_markers_are_not_counted() {
        // Arrange
        let stale = f64::from_bits(STALE_NAN_BITS);
        let points = samples(&[(0, 1.0), (15_000, stale), (30_000, 3.0)]);

        // Act
        let mut out = Vec::new();
        accumulate(&points, 300_000, &mut out);

        // Assert
        assert_eq!(
            out,
            vec![Bucket {
                t: 0,
                min: 1.0,
                max: 3.0,
                sum: 4.0,
                count: 2
            }]
        );
    }
}
