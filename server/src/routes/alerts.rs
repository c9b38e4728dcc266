//! Alerts in and actions on them, every route behind a bearer token (writes an `ingest` or
//! `admin` one; the two reads, silences and alert groups, a `read` or `admin` one unless
//! anonymous reads are on):
//! - `POST /api/v2/alerts`: a Prometheus that names warroom as its Alertmanager;
//! - `POST /hooks/alertmanager`: an Alertmanager's webhook v4;
//! - `GET|POST /api/v2/silences`, `DELETE /api/v2/silence/{id}`: silences, as Alertmanager
//!   (and `amtool`) have them;
//! - `GET /api/warroom/v1/alerts`: the alert groups with their escalation;
//! - `POST /api/warroom/v1/alerts/{id}/ack` and `/unack`: acknowledge until resolved, or
//!   withdraw it. The acting name is the token's, or `by` from a JSON body.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use warroom_alerts::dispatch::fingerprint;
use warroom_alerts::external::{ExternalAlert, parse_silence, parse_v2_alerts, parse_webhook_v4};
use warroom_alerts::mute::Silence;
use warroom_alerts::notify::{AlertView, rfc3339};

use crate::alerting::pipeline::{GroupSummary, Pipeline};
use crate::alerting::records::RecordError;
use crate::error::ApiError;
use crate::routes::auth::Auth;
use crate::routes::{answer, json_response};

/// What the alert routes share.
#[derive(Clone)]
pub struct AlertsState {
    /// The pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The bearer token check.
    pub auth: Auth,
}

/// The alert routes.
pub fn router(state: AlertsState) -> Router {
    Router::new()
        .route("/api/v2/alerts", post(post_v2_alerts))
        .route("/hooks/alertmanager", post(post_webhook))
        .route("/api/v2/silences", get(list_silences).post(post_silence))
        .route("/api/v2/silence/{id}", delete(delete_silence))
        .route("/api/warroom/v1/alerts", get(list_groups))
        .route("/api/warroom/v1/alerts/{id}/ack", post(ack))
        .route("/api/warroom/v1/alerts/{id}/unack", post(unack))
        .with_state(state)
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("alert pipeline"))
    }
}

async fn post_v2_alerts(State(s): State<AlertsState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(external(&s, &headers, &body, parse_v2_alerts).await)
}

async fn post_webhook(State(s): State<AlertsState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(external(&s, &headers, &body, parse_webhook_v4).await)
}

/// Alerts from outside join the pipeline; 200 once they are routed and the state is stored.
async fn external(
    s: &AlertsState,
    headers: &HeaderMap,
    body: &[u8],
    parse: fn(&[u8], SystemTime) -> Result<Vec<ExternalAlert>, String>,
) -> Result<Response, ApiError> {
    s.auth.write(headers).await?;
    let now = SystemTime::now();
    let alerts = parse(body, now).map_err(ApiError::BadRequest)?;
    let views = alerts.into_iter().map(view).collect();
    s.pipeline.receive(views, now).await?;
    Ok(StatusCode::OK.into_response())
}

fn view(a: ExternalAlert) -> AlertView {
    AlertView {
        fingerprint: fingerprint(&a.labels),
        labels: a.labels,
        annotations: a.annotations,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
    }
}

async fn list_silences(State(s): State<AlertsState>, headers: HeaderMap) -> Response {
    answer(
        async {
            s.auth.read(&headers).await?;
            let now = SystemTime::now();
            let list: Vec<Value> = s
                .pipeline
                .silences()
                .await
                .iter()
                .map(|x| silence_json(x, now))
                .collect();
            Ok(json_response(StatusCode::OK, Value::Array(list)))
        }
        .await,
    )
}

async fn post_silence(State(s): State<AlertsState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            s.auth.write(&headers).await?;
            let now = SystemTime::now();
            let id = new_id().map_err(|e| ApiError::Internal(anyhow::anyhow!("random id: {e}")))?;
            let silence = parse_silence(&body, id.clone(), now).map_err(ApiError::BadRequest)?;
            s.pipeline.silence(silence, now).await?;
            Ok(json_response(StatusCode::OK, json!({ "silenceID": id })))
        }
        .await,
    )
}

async fn delete_silence(
    State(s): State<AlertsState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            s.auth.write(&headers).await?;
            match s.pipeline.expire_silence(&id, SystemTime::now()).await? {
                true => Ok(StatusCode::OK.into_response()),
                false => Err(ApiError::NotFound(format!("no silence {id}"))),
            }
        }
        .await,
    )
}

async fn list_groups(State(s): State<AlertsState>, headers: HeaderMap) -> Response {
    answer(
        async {
            s.auth.read(&headers).await?;
            let now = SystemTime::now();
            let groups: Vec<Value> = s
                .pipeline
                .groups()
                .await
                .iter()
                .map(|g| group_json(g, now))
                .collect();
            Ok(json_response(StatusCode::OK, json!({ "groups": groups })))
        }
        .await,
    )
}

async fn ack(
    State(s): State<AlertsState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(acknowledge(&s, &id, &headers, &body, true).await)
}

async fn unack(
    State(s): State<AlertsState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(acknowledge(&s, &id, &headers, &body, false).await)
}

async fn acknowledge(
    s: &AlertsState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    ack: bool,
) -> Result<Response, ApiError> {
    let token = s.auth.write(headers).await?;
    let by = acting_name(body, &token)?;
    let now = SystemTime::now();
    let known = s.pipeline.groups().await.iter().any(|g| g.id == id);
    if !known {
        return Err(ApiError::NotFound(format!("no alert group {id}")));
    }
    let done = match ack {
        true => s.pipeline.acknowledge(id, &by, now).await?,
        false => s.pipeline.unacknowledge(id, &by, now).await?,
    };
    let field = if ack {
        "acknowledged"
    } else {
        "unacknowledged"
    };
    Ok(json_response(
        StatusCode::OK,
        json!({ field: done, "by": by }),
    ))
}

/// `by` from an optional JSON body `{"by": "alice"}`, else the token's name.
fn acting_name(body: &[u8], token: &str) -> Result<String, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(token.to_owned());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("malformed body: {e}")))?;
    Ok(v.get("by")
        .and_then(Value::as_str)
        .filter(|b| !b.trim().is_empty())
        .map_or_else(|| token.to_owned(), |b| format!("{b} (token {token})")))
}

fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn silence_json(s: &Silence, now: SystemTime) -> Value {
    let state = if s.active(now) {
        "active"
    } else if now < s.starts_at {
        "pending"
    } else {
        "expired"
    };
    let matchers: Vec<String> = s.matchers.iter().map(ToString::to_string).collect();
    json!({
        "id": s.id,
        "matchers": matchers,
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "status": {"state": state},
    })
}

fn group_json(g: &GroupSummary, now: SystemTime) -> Value {
    let esc = g.group.escalation.as_ref();
    let alerts: Vec<Value> = g
        .group
        .alerts
        .values()
        .map(|a| {
            let resolved = a.ends_at.is_some_and(|e| e <= now);
            json!({
                "fingerprint": a.fingerprint,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "status": if resolved { "resolved" } else { "firing" },
            })
        })
        .collect();
    json!({
        "id": g.id,
        "key": g.key,
        "labels": g.group.group_labels,
        "receiver": g.group.settings.receiver,
        "escalation": g.group.settings.escalation,
        "created": rfc3339(g.group.created),
        "fired": esc.map(|e| rfc3339(e.clock_start)),
        "acknowledged": esc.and_then(|e| e.ack.as_ref()).map(|a| json!({"by": a.by, "at": rfc3339(a.at)})),
        "tiers_notified": esc.map(|e| e.ever_notified.clone()).unwrap_or_default(),
        "alerts": alerts,
    })
}
