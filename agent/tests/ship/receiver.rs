//! A local OTLP receiver on loopback standing in for the warroom server: it checks the bearer
//! token, the headers, gunzips and decodes every body on its own (not through the agent's
//! helpers), records each batch's `warroom.batch.seq` and answers the status a test asks for.

use std::collections::HashMap;
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
use tokio::net::TcpListener;

pub const TOKEN: &str = "tok-9f8e7d6c5b4a";

/// What the receiver saw and how it answers.
#[derive(Debug, Default)]
pub struct Seen {
    /// Sequence numbers answered with 2xx, in arrival order.
    pub accepted: Vec<u64>,
    /// Every sequence number that arrived, whatever the answer.
    pub attempts: Vec<u64>,
    /// The `warroom.agent.id` of every accepted batch.
    pub agent_ids: Vec<String>,
    /// Answer for every batch unless `by_seq` says otherwise.
    pub status: u16,
    /// Answers for particular sequence numbers.
    pub by_seq: HashMap<u64, u16>,
}

/// A handle on a running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    /// Starts a receiver answering 200 on `addr` (port 0 for any).
    pub async fn start(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind receiver");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Seen {
            status: 200,
            ..Seen::default()
        }));
        let app = Router::new()
            .route("/v1/metrics", post(handle))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    /// Every sequence number that arrived so far, whatever the answer.
    pub fn attempts(&self) -> Vec<u64> {
        self.seen.lock().expect("lock").attempts.clone()
    }

    /// Answers `status` from now on.
    pub fn answer(&self, status: u16) {
        self.seen.lock().expect("lock").status = status;
    }

    /// Answers `status` to batch `seq` only.
    pub fn answer_seq(&self, seq: u64, status: u16) {
        self.seen.lock().expect("lock").by_seq.insert(seq, status);
    }

    /// Sequence numbers accepted so far.
    pub fn accepted(&self) -> Vec<u64> {
        self.seen.lock().expect("lock").accepted.clone()
    }

    /// Agent ids of accepted batches so far.
    pub fn agent_ids(&self) -> Vec<String> {
        self.seen.lock().expect("lock").agent_ids.clone()
    }
}

/// An address on loopback where nothing listens (bound, then closed).
pub async fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr")
}

async fn handle(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if header(&headers, "authorization") != format!("Bearer {TOKEN}") {
        return (StatusCode::UNAUTHORIZED, "bad token".into());
    }
    if header(&headers, "content-type") != "application/x-protobuf"
        || header(&headers, "content-encoding") != "gzip"
    {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "want gzip'd protobuf".into(),
        );
    }
    let Some((seq, agent_id)) = decode(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed OTLP body".into());
    };
    let mut seen = seen.lock().expect("lock");
    seen.attempts.push(seq);
    let status = seen.by_seq.get(&seq).copied().unwrap_or(seen.status);
    if (200..300).contains(&status) {
        seen.accepted.push(seq);
        seen.agent_ids.push(agent_id);
    }
    let status = StatusCode::from_u16(status).expect("status");
    (status, format!("answer for batch {seq}"))
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Gunzips and decodes a body; returns its `warroom.batch.seq` and `warroom.agent.id`.
fn decode(body: &[u8]) -> Option<(u64, String)> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut raw)
        .ok()?;
    let req = ExportMetricsServiceRequest::decode(raw.as_slice()).ok()?;
    let resource = req.resource_metrics.first()?.resource.as_ref()?;
    let attr = |key: &str| {
        let kv = resource.attributes.iter().find(|kv| kv.key == key)?;
        kv.value.as_ref()?.value.clone()
    };
    let Some(Value::IntValue(seq)) = attr("warroom.batch.seq") else {
        return None;
    };
    let Some(Value::StringValue(agent_id)) = attr("warroom.agent.id") else {
        return None;
    };
    Some((u64::try_from(seq).ok()?, agent_id))
}
