//! The agent's HTTP endpoints: `GET /metrics` (the latest collection, gzip'd when the client
//! accepts it) and `GET /healthz`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::render::{Exposition, Format};

/// The router serving `exposition`.
pub fn router(exposition: Exposition) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(Arc::new(exposition))
}

/// OpenMetrics for clients that ask for it (Prometheus does), the 0.0.4 text format otherwise;
/// gzip'd when `Accept-Encoding` allows it, as node_exporter does.
async fn metrics(State(exposition): State<Arc<Exposition>>, headers: HeaderMap) -> Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let format = Format::negotiate(header(header::ACCEPT));
    let content_type = (header::CONTENT_TYPE, format.content_type());
    let vary = (header::VARY, "Accept-Encoding");
    if accepts_gzip(header(header::ACCEPT_ENCODING)) {
        let encoding = (header::CONTENT_ENCODING, "gzip");
        let body = exposition.body(format, true);
        return ([content_type, encoding, vary], body).into_response();
    }
    ([content_type, vary], exposition.body(format, false)).into_response()
}

/// Whether an `Accept-Encoding` value lists `gzip` (or `*`) without `q=0`.
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Buffer;
    use crate::render::{Snapshot, registry};
    use std::io::Read;

    fn buffer(value: f64) -> Arc<Buffer> {
        let mut buf = Buffer::new();
        buf.gauge("node_load1", "Load.").push(vec![], value);
        Arc::new(buf)
    }

    #[tokio::test]
    async fn metrics_are_gzipped_for_a_client_that_asks_and_show_each_new_collection() {
        // Arrange: a served exposition whose snapshot the test replaces.
        let snapshot = Snapshot::default();
        snapshot.publish(buffer(1.0));
        let exposition = Exposition::new(snapshot.clone(), registry("n", "c", "e"), "n", "c", "e");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(exposition)).await });
        let client = reqwest::Client::new();
        let get = |gzip: bool| {
            let request = client.get(&url);
            let request = if gzip {
                request.header("Accept-Encoding", "gzip")
            } else {
                request
            };
            async move { request.send().await.unwrap() }
        };

        // Act
        let plain = get(false).await.text().await.unwrap();
        snapshot.publish(buffer(2.0));
        let zipped = get(true).await;
        let encoding = zipped.headers()[header::CONTENT_ENCODING].clone();
        let bytes = zipped.bytes().await.unwrap();
        let plain_after = get(false).await.text().await.unwrap();

        // Assert
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(encoding, "gzip");
        assert!(
            plain.contains("node_load1{node=\"n\",cluster=\"c\",env=\"e\"} 1.0\n"),
            "{plain}"
        );
        assert!(
            unzipped.contains("node_load1{node=\"n\",cluster=\"c\",env=\"e\"} 2.0\n"),
            "{unzipped}"
        );
        assert_eq!(unzipped, plain_after);
    }

    #[test]
    fn gzip_is_accepted_when_listed_without_a_zero_weight() {
        let cases = [
            ("gzip", true),
            ("br, GZIP;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("identity", false),
            ("", false),
        ];
        for (value, expected) in cases {
            assert_eq!(accepts_gzip(value), expected, "{value:?}");
        }
    }
}
