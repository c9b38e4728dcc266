//! The Prometheus HTTP query API over a [`Querier`]: `/api/v1/query`, `/api/v1/query_range`,
//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/{name}/values`, plus the small answers a
//! Grafana Prometheus datasource asks for (build info, metadata, exemplars).
//!
//! - [`params`]: parameters from the URL or a form body; times, steps.
//! - [`json`]: Prometheus' response shapes.

mod json;
pub(crate) mod params;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value as JsonValue, json};

use self::json::Json;
use self::params::{MAX_TIME_MS, MIN_TIME_MS, Params, now_ms, parse_duration_ms};
use crate::model::{Labels, Matcher};
use crate::query::{Engine, QueryError, QueryLimits, parse_selector};
use crate::store::{Querier, StoreError};

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS: i64 = 11_000;

/// The version reported to clients such as Grafana, which pick features by it.
const COMPATIBLE_VERSION: &str = "2.42.0";

struct ApiState {
    engine: Engine,
    querier: Arc<dyn Querier>,
}

type Shared = State<Arc<ApiState>>;
type ApiResult = Result<Json, ApiError>;

/// The query API's routes with Prometheus' default query limits.
pub fn router(querier: Arc<dyn Querier>) -> axum::Router {
    router_with_limits(querier, QueryLimits::default())
}

/// The query API's routes with their state applied, ready to be merged into the app.
pub fn router_with_limits(querier: Arc<dyn Querier>, limits: QueryLimits) -> axum::Router {
    let state = Arc::new(ApiState {
        engine: Engine::with_limits(Arc::clone(&querier), limits),
        querier,
    });
    axum::Router::new()
        .route("/api/v1/query", get(instant).post(instant))
        .route("/api/v1/query_range", get(range).post(range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(label_names).post(label_names))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/metadata", get(empty_object))
        .route("/api/v1/query_exemplars", get(empty_list).post(empty_list))
        .with_state(state)
}

/// An API failure in Prometheus' error shape; store details are logged, never sent.
#[derive(Debug)]
enum ApiError {
    BadData(String),
    Execution(String),
    Timeout(String),
    Store(StoreError),
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadData(m) => ApiError::BadData(m),
            QueryError::Unsupported(_) | QueryError::Execution(_) | QueryError::TooManySamples => {
                ApiError::Execution(e.to_string())
            }
            QueryError::Timeout => ApiError::Timeout(e.to_string()),
            QueryError::Store(s) => ApiError::Store(s),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, message) = match self {
            ApiError::BadData(m) => (StatusCode::BAD_REQUEST, "bad_data", m),
            ApiError::Execution(m) => (StatusCode::UNPROCESSABLE_ENTITY, "execution", m),
            ApiError::Timeout(m) => (StatusCode::SERVICE_UNAVAILABLE, "timeout", m),
            ApiError::Store(e) => {
                tracing::error!(error = %e, "query API: store failed");
                let status = match e {
                    StoreError::Closed => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (
                    status,
                    "internal",
                    "the metric store failed; see the server log".to_owned(),
                )
            }
        };
        let body = json!({ "status": "error", "errorType": kind, "error": message });
        (status, Json(body)).into_response()
    }
}

async fn instant(
    State(s): Shared,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: Bytes,
) -> Result<json::Text, ApiError> {
    let p = Params::collect(q.as_deref(), &h, &body);
    let query = required_query(&p)?;
    let t = p.time_or("time", now_ms()).map_err(ApiError::BadData)?;
    let value = engine(&s, &p)?.instant(query, t).await?;
    Ok(json::Text(json::instant_body(&value, t)))
}

async fn range(
    State(s): Shared,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: Bytes,
) -> Result<json::Text, ApiError> {
    let p = Params::collect(q.as_deref(), &h, &body);
    let query = required_query(&p)?;
    let (start, end, step) = range_params(&p)?;
    let series = engine(&s, &p)?.range(query, start, end, step).await?;
    Ok(json::Text(json::range_body(&series)))
}

/// The engine, with a shorter timeout when the request asks for one (`timeout=30s`).
fn engine(s: &ApiState, p: &Params) -> Result<Engine, ApiError> {
    match p.get("timeout").filter(|t| !t.is_empty()) {
        None => Ok(s.engine.clone()),
        Some(raw) => {
            let ms = parse_duration_ms(raw).filter(|&ms| ms > 0).ok_or_else(|| {
                ApiError::BadData(format!(
                    "invalid parameter \"timeout\": cannot parse \"{raw}\" to a valid duration"
                ))
            })?;
            Ok(s.engine
                .with_timeout(Duration::from_millis(ms.unsigned_abs())))
        }
    }
}

fn required_query(p: &Params) -> Result<&str, ApiError> {
    match p.get("query") {
        Some(q) if !q.trim().is_empty() => Ok(q),
        _ => Err(ApiError::BadData(
            "invalid parameter \"query\": missing or empty".into(),
        )),
    }
}

/// `start`, `end` and `step` of a range query, checked as Prometheus checks them.
fn range_params(p: &Params) -> Result<(i64, i64, i64), ApiError> {
    let time = |name: &str| {
        p.get(name).and_then(params::parse_time).ok_or_else(|| {
            let raw = p.get(name).unwrap_or("");
            ApiError::BadData(format!(
                "invalid parameter \"{name}\": cannot parse \"{raw}\" to a valid timestamp"
            ))
        })
    };
    let (start, end) = (time("start")?, time("end")?);
    if end < start {
        return Err(ApiError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    let raw_step = p.get("step").unwrap_or("");
    let step = parse_duration_ms(raw_step).ok_or_else(|| {
        ApiError::BadData(format!(
            "invalid parameter \"step\": cannot parse \"{raw_step}\" to a valid duration"
        ))
    })?;
    if step <= 0 {
        return Err(ApiError::BadData("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
    }
    // Clamped times can be 2^64 ms apart: a span that overflows is certainly too many points.
    if end
        .checked_sub(start)
        .is_none_or(|span| span / step > MAX_POINTS)
    {
        return Err(ApiError::BadData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into()));
    }
    Ok((start, end, step))
}

/// `start`/`end` (defaulting to all time) and the `match[]` selectors, each parsed.
fn metadata_params(p: &Params) -> Result<(i64, i64, Vec<Vec<Matcher>>), ApiError> {
    let start = p.time_or("start", MIN_TIME_MS).map_err(ApiError::BadData)?;
    let end = p.time_or("end", MAX_TIME_MS).map_err(ApiError::BadData)?;
    let sets = p
        .all("match[]")
        .into_iter()
        .map(parse_selector)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((start, end, sets))
}

async fn series(State(s): Shared, RawQuery(q): RawQuery, h: HeaderMap, body: Bytes) -> ApiResult {
    let p = Params::collect(q.as_deref(), &h, &body);
    let (start, end, sets) = metadata_params(&p)?;
    if sets.is_empty() {
        return Err(ApiError::BadData("no match[] parameter provided".into()));
    }
    let mut all: BTreeSet<Labels> = BTreeSet::new();
    for m in &sets {
        all.extend(s.querier.series(m, start, end).await?);
    }
    let data: Vec<JsonValue> = all.iter().map(json::labels).collect();
    Ok(Json(json::success(JsonValue::Array(data))))
}

async fn label_names(
    State(s): Shared,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let p = Params::collect(q.as_deref(), &h, &body);
    let (start, end, mut sets) = metadata_params(&p)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for m in &sets {
        names.extend(s.querier.label_names(m, start, end).await?);
    }
    Ok(Json(json::success(json!(names))))
}

async fn label_values(
    State(s): Shared,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> ApiResult {
    let p = Params::collect(q.as_deref(), &h, &Bytes::new());
    if !crate::query::valid_label_name(&name) {
        return Err(ApiError::BadData(format!("invalid label name: {name:?}")));
    }
    let (start, end, mut sets) = metadata_params(&p)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let mut values: BTreeSet<String> = BTreeSet::new();
    for m in &sets {
        values.extend(s.querier.label_values(&name, m, start, end).await?);
    }
    Ok(Json(json::success(json!(values))))
}

async fn buildinfo() -> Json {
    Json(json::success(json!({
        "version": COMPATIBLE_VERSION,
        "revision": "warroom",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

async fn empty_object() -> Json {
    Json(json::success(json!({})))
}

async fn empty_list() -> Json {
    Json(json::success(json!([])))
}

#[cfg(test)]
mod tests;
