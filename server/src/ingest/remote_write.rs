//! Prometheus remote_write 1.0 → [`WriteBatch`]: a snappy *block* (not framed) holding a
//! `prompb::WriteRequest`. The block's header states its decompressed length, so a bomb is
//! refused before anything is allocated. Batches have no id: remote_write has no replay identity.

use prost::Message;

use super::{BatchBuilder, IngestError, too_large_decompressed};
use crate::model::{Labels, METRIC_NAME, Sample, WriteBatch};
use crate::prompb::WriteRequest;

/// Decodes a snappy-compressed `WriteRequest` that inflates to at most `max_bytes` and carries
/// at most `max_samples` samples.
pub fn decode(
    body: &[u8],
    max_bytes: usize,
    max_samples: usize,
) -> Result<WriteBatch, IngestError> {
    let raw = unsnappy(body, max_bytes)?;
    let req = WriteRequest::decode(raw.as_slice())
        .map_err(|e| IngestError::Malformed(format!("not a remote_write WriteRequest: {e}")))?;
    let mut batch = BatchBuilder::new(max_samples);
    for ts in req.timeseries {
        let labels = Labels::from_pairs(ts.labels.into_iter().map(|l| (l.name, l.value)));
        if labels.metric_name().is_none() {
            return Err(IngestError::Malformed(format!(
                "a series has no {METRIC_NAME} label: {labels}"
            )));
        }
        for s in ts.samples {
            let sample = Sample {
                t: s.timestamp,
                v: s.value,
            };
            batch.push(labels.clone(), sample)?;
        }
    }
    Ok(batch.finish(None))
}

/// Inflates a snappy block after checking the length its header claims.
fn unsnappy(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, IngestError> {
    let malformed = |e: snap::Error| IngestError::Malformed(format!("not a snappy block: {e}"));
    let len = snap::raw::decompress_len(body).map_err(malformed)?;
    if len > max_bytes {
        return Err(too_large_decompressed(max_bytes));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompb::{self, TimeSeries};

    fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| prompb::Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| prompb::Sample { value, timestamp })
                .collect(),
        }
    }

    fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
        let raw = WriteRequest { timeseries }.encode_to_vec();
        snap::raw::Encoder::new().compress_vec(&raw).unwrap()
    }

    #[test]
    fn a_write_request_becomes_series_without_a_batch_id() {
        let b = body(vec![series(
            &[("job", "node"), ("__name__", "up")],
            &[(1_000, 1.0), (2_000, 0.0)],
        )]);

        let batch = decode(&b, 1 << 20, 100).unwrap();

        assert_eq!(batch.id, None);
        assert_eq!(batch.series.len(), 1);
        assert_eq!(batch.series[0].labels.to_string(), r#"up{job="node"}"#);
        assert_eq!(batch.series[0].samples[1], Sample { t: 2_000, v: 0.0 });
    }

    #[test]
    fn a_series_without_a_name_is_malformed() {
        let b = body(vec![series(&[("job", "node")], &[(1, 1.0)])]);

        let err = decode(&b, 1 << 20, 100).unwrap_err();

        assert!(err.to_string().contains("no __name__ label"), "{err}");
    }

    #[test]
    fn a_block_claiming_more_than_the_limit_is_refused_before_inflating() {
        let b = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 1 << 20])
            .unwrap();

        let err = decode(&b, 1 << 10, 100).unwrap_err();

        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    }

    #[test]
    fn framed_snappy_gzip_or_plain_protobuf_bodies_are_malformed() {
        let raw = WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(1, 1.0)])],
        }
        .encode_to_vec();
        let mut framed = Vec::new();
        std::io::Write::write_all(&mut snap::write::FrameEncoder::new(&mut framed), &raw).unwrap();

        for bad in [
            &b"\x1f\x8b\x08garbage"[..],
            b"\xff\xff\xff\xff\xff",
            &framed,
        ] {
            let err = decode(bad, 1 << 20, 100).unwrap_err();
            assert!(matches!(err, IngestError::Malformed(_)), "{err}");
        }
    }

    #[test]
    fn too_many_samples_are_refused() {
        let b = body(vec![series(
            &[("__name__", "up")],
            &[(1, 1.0), (2, 1.0), (3, 1.0)],
        )]);

        let err = decode(&b, 1 << 20, 2).unwrap_err();

        assert!(matches!(err, IngestError::TooLarge(_)), "{err}");
    }
}
