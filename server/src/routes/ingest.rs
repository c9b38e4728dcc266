//! `POST /v1/metrics` (OTLP/HTTP protobuf, gzip allowed) and `POST /api/v1/write` (remote_write
//! 1.0). Each request is checked in the order that costs least first: the bearer token (401/403;
//! an `ingest` or `admin` one), the content type and encoding (415), the body size (413), then the
//! decoded body (400/413).
//! 2xx is answered only after the store's `append` returned `Ok`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::app::AppState;
use crate::error::ApiError;
use crate::ingest::{self, Decoded, IngestError, otlp, remote_write};
use crate::model::AppendReport;
use crate::routes::decoders;
use crate::telemetry::Protocol;

/// The content type both protocols send.
const PROTOBUF: &str = "application/x-protobuf";

/// The ingest routes, their bodies capped at `limits.max_body_bytes`.
pub fn router(state: AppState) -> Router {
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/metrics", post(otlp_route))
        .route("/api/v1/write", post(remote_write_route))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn otlp_route(State(state): State<AppState>, req: Request) -> Response {
    let result = ingest_otlp(&state, req).await;
    counted(&state, Protocol::Otlp, result)
}

async fn remote_write_route(State(state): State<AppState>, req: Request) -> Response {
    let result = ingest_remote_write(&state, req).await;
    counted(&state, Protocol::RemoteWrite, result)
}

/// The response, with a refused request counted by reason.
fn counted(state: &AppState, protocol: Protocol, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|e| {
        state.metrics.rejected(protocol, e.reason());
        e.into_response()
    })
}

async fn ingest_otlp(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    state.auth.write(&parts.headers).await?;
    require_protobuf(&parts.headers, "OTLP/HTTP JSON is not supported")?;
    let gzip = match content_encoding(&parts.headers) {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => return Err(unsupported_encoding(other, "gzip")),
    };
    let body = read_body(state, parts, body).await?;
    let limits = state.limits;
    let decoded = off_thread(move || {
        let raw = match gzip {
            true => ingest::gunzip(&body, limits.max_decompressed_bytes)?,
            false => body.to_vec(),
        };
        otlp::decode(&raw, limits.max_samples_per_request)
    })
    .await?;
    let unsupported = decoded.unsupported;
    let report = state.store.append(decoded.batch).await?;
    stored(state, &report);
    state.metrics.appended(Protocol::Otlp, &report, unsupported);
    let body = otlp::response(&report, unsupported);
    Ok(([(header::CONTENT_TYPE, PROTOBUF)], body).into_response())
}

async fn ingest_remote_write(state: &AppState, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    state.auth.write(&parts.headers).await?;
    require_protobuf(&parts.headers, "remote_write 2.0 is not supported")?;
    if let Some(other) = content_encoding(&parts.headers).filter(|e| *e != "snappy") {
        return Err(unsupported_encoding(other, "snappy"));
    }
    let body = read_body(state, parts, body).await?;
    let limits = state.limits;
    let lookup = state.store.lookup();
    let decoded = off_thread(move || {
        remote_write::decode_with(
            &body,
            limits.max_decompressed_bytes,
            limits.max_samples_per_request,
            lookup.as_deref(),
        )
    })
    .await?;
    let report = (state.store)
        .append_known(decoded.batch, decoded.known)
        .await?;
    stored(state, &report);
    state.metrics.appended(Protocol::RemoteWrite, &report, 0);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// New samples are in: rules that fire without `for` look at once.
fn stored(state: &AppState, report: &AppendReport) {
    if report.appended > 0 {
        state.ingested.ring();
    }
}

/// 415 unless the body is declared `application/x-protobuf` (parameters other than `proto=`
/// naming remote_write 1.0's message are refused, so remote_write 2.0 is told so).
fn require_protobuf(headers: &HeaderMap, hint: &str) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or("");
    let other_proto = parts
        .filter_map(|p| p.strip_prefix("proto="))
        .any(|p| p != "prometheus.WriteRequest");
    if !essence.eq_ignore_ascii_case(PROTOBUF) || other_proto {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {PROTOBUF}, not {value:?} ({hint})"
        )));
    }
    Ok(())
}

fn content_encoding(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)").trim())
}

fn unsupported_encoding(got: &str, want: &str) -> ApiError {
    ApiError::UnsupportedMediaType(format!("Content-Encoding must be {want}, not {got:?}"))
}

/// The whole body, or 413 past `max_body_bytes` (the [`DefaultBodyLimit`] of this router).
async fn read_body(state: &AppState, parts: Parts, body: Body) -> Result<Bytes, ApiError> {
    let req = Request::from_parts(parts, body);
    Bytes::from_request(req, &())
        .await
        .map_err(|r| match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
                "the body is larger than {} bytes",
                state.limits.max_body_bytes
            )),
            _ => ApiError::BadRequest(format!("reading the body: {}", r.body_text())),
        })
}

/// Runs a decoder on a decoder thread ([`decoders`]): a big body takes milliseconds of CPU.
async fn off_thread<F>(decode: F) -> Result<Decoded, ApiError>
where
    F: FnOnce() -> Result<Decoded, IngestError> + Send + 'static,
{
    let decoded = (decoders::run(decode).await)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the decoder panicked")))?;
    Ok(decoded?)
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
