//! Prometheus remote_write 1.0 from a test: one sample per series at a time, snappy-compressed
//! and posted with a bearer token, as a Prometheus server sends it.

use std::net::SocketAddr;

use prost::Message;
use warroom_server::prompb::{Label, Sample, TimeSeries, WriteRequest};

use crate::http;
use crate::server::Server;

/// One sample at `t_ms` for each `(labels, value)`.
pub fn samples_at(series: &[(Vec<(&str, String)>, f64)], t_ms: i64) -> WriteRequest {
    let label = |(n, v): &(&str, String)| Label {
        name: (*n).into(),
        value: v.clone(),
    };
    WriteRequest {
        timeseries: (series.iter())
            .map(|(labels, v)| TimeSeries {
                labels: labels.iter().map(label).collect(),
                samples: vec![Sample {
                    value: *v,
                    timestamp: t_ms,
                }],
            })
            .collect(),
    }
}

/// POSTs `req` to `/api/v1/write` at `addr` with `token`; the answer.
pub fn post(addr: SocketAddr, token: &str, req: &WriteRequest) -> std::io::Result<http::Response> {
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .map_err(std::io::Error::other)?;
    let auth = Server::bearer(token);
    let headers = [
        "Content-Type: application/x-protobuf",
        "Content-Encoding: snappy",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
        auth.as_str(),
    ];
    http::post(addr, "/api/v1/write", &headers, &body)
}
