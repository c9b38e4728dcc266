//! A local OTLP/HTTP receiver standing in for the warroom server's ingest: it checks the bearer
//! token, content type and gzip, decodes each `ExportMetricsServiceRequest` and records the
//! `warroom.batch.seq` of every batch in arrival order.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// What the receiver has seen.
#[derive(Debug, Default, Clone)]
pub struct Received {
    /// `warroom.batch.seq` of each accepted batch, in arrival order.
    pub seqs: Vec<u64>,
    /// The decoded batches.
    pub batches: Vec<ExportMetricsServiceRequest>,
}

#[derive(Clone)]
struct Shared {
    token: String,
    received: Arc<Mutex<Received>>,
}

/// A running receiver; dropped with its runtime.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Starts a receiver on `addr` that accepts batches bearing `token`.
    pub fn start(addr: SocketAddr, token: &str) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let shared = Shared {
            token: token.to_string(),
            received: received.clone(),
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/metrics", post(ingest))
            .with_state(shared);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            addr,
            received,
            _runtime: runtime,
        })
    }

    /// A copy of what arrived so far.
    pub fn received(&self) -> Received {
        self.received.lock().expect("receiver lock").clone()
    }
}

async fn ingest(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header("authorization") != format!("Bearer {}", shared.token) {
        return (StatusCode::UNAUTHORIZED, "bad token".into());
    }
    if header("content-type") != "application/x-protobuf" || header("content-encoding") != "gzip" {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "want gzip'd application/x-protobuf".into(),
        );
    }
    let mut raw = Vec::new();
    if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut raw) {
        return (StatusCode::BAD_REQUEST, format!("gzip: {e}"));
    }
    let batch = match ExportMetricsServiceRequest::decode(&raw[..]) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("protobuf: {e}")),
    };
    let Some(seq) = batch_seq(&batch) else {
        return (StatusCode::BAD_REQUEST, "no warroom.batch.seq".into());
    };
    let mut received = shared.received.lock().expect("receiver lock");
    received.seqs.push(seq);
    received.batches.push(batch);
    (StatusCode::OK, String::new())
}

/// The `warroom.batch.seq` resource attribute of a batch.
pub fn batch_seq(batch: &ExportMetricsServiceRequest) -> Option<u64> {
    let resource = batch.resource_metrics.first()?.resource.as_ref()?;
    let attr = resource
        .attributes
        .iter()
        .find(|a| a.key == "warroom.batch.seq")?;
    match attr.value.as_ref()?.value.as_ref()? {
        Value::IntValue(v) => u64::try_from(*v).ok(),
        _ => None,
    }
}
