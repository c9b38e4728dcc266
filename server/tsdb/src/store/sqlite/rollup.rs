//! Rollups: per series, the min / max / sum / count of its samples in aligned time buckets
//! (`floor(t / res) * res`), at each of [`RESOLUTIONS`], so a week's chart reads 168 buckets a
//! series instead of 40,320 samples.
//!
//! They are computed from each chunk the checkpoint writes and stored beside it in `rollups`
//! under the same `(series_id, min_t)`, every resolution in one row ([`encode_all`]), so
//! rewriting the open chunk rewrites its rollups and retention deletes both by `max_t`. A bucket cut by a chunk boundary is stored in both rows
//! and merged on read. Stale markers are not samples and are left out, as range vectors leave
//! them out. min, max and count are exact; a sum over a bucket cut by a chunk boundary adds
//! the two partial sums, which equals the raw sum exactly for integer-valued series and to
//! within float rounding otherwise.
//!
//! A row's blob is [`encode`]'s: bucket starts and counts as varints, min / max / sum as the
//! scaled integers' deltas when they are decimals (as the chunk encodings store values).

use super::decimal;
use crate::model::is_stale;
use crate::model::varint;
use crate::model::{Labels, Sample};

/// Bucket widths kept (ms): 1 hour, for charts of days and weeks. Finer buckets cost too much
/// disk for what they save: at a 15 s scrape a 5 minute bucket's four aggregates add about
/// 0.8 byte to every 1.9-byte sample, while a day of raw samples decodes in a few
/// milliseconds a series.
pub const RESOLUTIONS: [i64; 1] = [3_600_000];

/// One of the [`RESOLUTIONS`] the store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// 1-hour buckets.
    OneHour,
}

impl Resolution {
    /// The bucket width in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Resolution::OneHour => RESOLUTIONS[0],
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

/// A chunk's stored rollups: for each of [`RESOLUTIONS`], a varint length and [`encode`]'s
/// output for the chunk's buckets at that resolution.
pub fn encode_all(samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::new();
    for res in RESOLUTIONS {
        let mut buckets = Vec::new();
        accumulate(samples, res, &mut buckets);
        let one = encode(&buckets, res);
        varint::put(&mut out, one.len() as u64);
        out.extend_from_slice(&one);
    }
    out
}

/// The buckets at `res` from [`encode_all`]'s output (`None` when it is malformed).
pub fn decode_one(mut data: &[u8], res: Resolution) -> Option<Vec<Bucket>> {
    let position = RESOLUTIONS.iter().position(|&r| r == res.millis())?;
    for _ in 0..position {
        let len = usize::try_from(varint::get(&mut data)?).ok()?;
        data = data.get(len..)?;
    }
    let len = usize::try_from(varint::get(&mut data)?).ok()?;
    decode(data.get(..len)?, res.millis())
}

/// Marks a value stream stored as raw `f64` bits (no decimal scale fits).
const RAW: u8 = 0xff;

/// The stored form of `buckets`: a varint count, the bucket starts as zigzag varint deltas of
/// `t / res`, then min, max and sum each as a decimal stream (scale byte, zigzag varint deltas
/// of the scaled integers) or raw bits, then the counts as varints.
pub fn encode(buckets: &[Bucket], res: i64) -> Vec<u8> {
    let mut out = Vec::new();
    varint::put(&mut out, buckets.len() as u64);
    let mut prev = 0;
    for b in buckets {
        let index = b.t.div_euclid(res);
        varint::put(&mut out, varint::zigzag(index.wrapping_sub(prev)));
        prev = index;
    }
    let streams: [fn(&Bucket) -> f64; 3] = [|b| b.min, |b| b.max, |b| b.sum];
    for value in streams {
        let values: Vec<Sample> = buckets
            .iter()
            .map(|b| Sample { t: 0, v: value(b) })
            .collect();
        put_values(&mut out, &values);
    }
    for b in buckets {
        varint::put(&mut out, b.count);
    }
    out
}

fn put_values(out: &mut Vec<u8>, values: &[Sample]) {
    match decimal::scale(values) {
        Some((k, ints)) => {
            out.push(k);
            let mut prev = 0i64;
            for i in ints {
                varint::put(out, varint::zigzag(i.wrapping_sub(prev)));
                prev = i;
            }
        }
        None => {
            out.push(RAW);
            for s in values {
                out.extend_from_slice(&s.v.to_bits().to_be_bytes());
            }
        }
    }
}

/// Reads [`encode`]'s output back (`None` when it is malformed).
pub fn decode(mut data: &[u8], res: i64) -> Option<Vec<Bucket>> {
    let data = &mut data;
    let n = usize::try_from(varint::get(data)?).ok()?;
    // Every bucket takes at least a byte per stream, so a huge count is corrupt, not a request.
    if n > data.len() {
        return None;
    }
    let mut index = 0i64;
    let mut buckets = Vec::with_capacity(n);
    for _ in 0..n {
        index = index.wrapping_add(varint::unzigzag(varint::get(data)?));
        buckets.push(Bucket::new(index.wrapping_mul(res), 0.0));
    }
    let min = get_values(data, n)?;
    let max = get_values(data, n)?;
    let sum = get_values(data, n)?;
    for (i, b) in buckets.iter_mut().enumerate() {
        (b.min, b.max, b.sum) = (min[i], max[i], sum[i]);
        b.count = varint::get(data)?;
    }
    Some(buckets)
}

fn get_values(data: &mut &[u8], n: usize) -> Option<Vec<f64>> {
    let (&k, rest) = data.split_first()?;
    *data = rest;
    if k == RAW {
        let bytes = data.get(..n * 8)?;
        *data = &data[n * 8..];
        return bytes
            .chunks_exact(8)
            .map(|c| {
                c.try_into()
                    .ok()
                    .map(|b| f64::from_bits(u64::from_be_bytes(b)))
            })
            .collect();
    }
    let pow = 10f64.powi(i32::from(k));
    let mut prev = 0i64;
    (0..n)
        .map(|_| {
            prev = prev.wrapping_add(varint::unzigzag(varint::get(data)?));
            Some(prev as f64 / pow)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::STALE_NAN_BITS;

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
            let mut merged = decode(&encode(&left, res), res).expect("decode");
            extend(
                &mut merged,
                &decode(&encode(&right, res), res).expect("decode"),
            );

            // Assert
            assert_eq!(merged, whole, "res {res}");
            assert_eq!(whole.iter().map(|b| b.count).sum::<u64>(), 500);
        }
    }

    #[test]
    fn odd_values_round_trip_bit_for_bit_and_garbage_is_refused() {
        // Arrange
        let odd = [0.1 + 0.2, f64::NAN, f64::INFINITY, -0.0, 1e300, 5e-324];
        let buckets: Vec<Bucket> = odd
            .iter()
            .enumerate()
            .map(|(i, &v)| Bucket {
                t: (i as i64 - 2) * 3_600_000,
                min: v,
                max: 2.5,
                sum: v,
                count: i as u64 * 1000,
            })
            .collect();
        let bits = |b: &[Bucket]| -> Vec<_> {
            b.iter()
                .map(|b| {
                    (
                        b.t,
                        b.min.to_bits(),
                        b.max.to_bits(),
                        b.sum.to_bits(),
                        b.count,
                    )
                })
                .collect()
        };

        // Act
        let data = encode(&buckets, 3_600_000);
        let back = decode(&data, 3_600_000).expect("decode");

        // Assert
        assert_eq!(bits(&back), bits(&buckets));
        assert_eq!(decode(&data[..data.len() - 1], 3_600_000), None);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f], 3_600_000), None);
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
