//! The cutover for automation, reads behind a `read` (or `admin`) token, actions behind an
//! `admin` one until people and roles exist:
//! - `GET /api/warroom/v1/cutover`: the phase, hold, phases, traffic per service, ETA;
//! - `GET /api/warroom/v1/gates`: the current phase's gates, each value next to its threshold;
//! - `GET /api/warroom/v1/runbook`: every step with its progress and verification;
//! - `POST /api/warroom/v1/cutover/advance` (`{"override": reason}` to go past gates not yet
//!   green), `/hold` (`{"reason"}`), `/resume`, `/rollback` (`{"to": phase}`), `/signoff`
//!   (`{"role"}`): 200 with the cutover after it, or 409 with the reason it was refused;
//! - `POST /api/warroom/v1/runbook/{step}/done` and `/undo`, with an optional `{"note"}`.
//!
//! Every action body may say `{"by": name}`; the acting name is the token's otherwise.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cutover::decide::{Action, Decision};
use crate::cutover::live::{Cutover, StepRefusal};
use crate::cutover::view;
use crate::error::ApiError;
use crate::routes::auth::Auth;
use crate::routes::{answer, json_response};

/// What the cutover routes share.
#[derive(Clone)]
pub struct CutoverState {
    /// The cutover, when a plan is configured.
    pub cutover: Option<Arc<Cutover>>,
    /// The bearer token check.
    pub auth: Auth,
}

/// The cutover routes.
pub fn router(state: CutoverState) -> Router {
    Router::new()
        .route("/api/warroom/v1/cutover", get(get_cutover))
        .route("/api/warroom/v1/gates", get(get_gates))
        .route("/api/warroom/v1/runbook", get(get_runbook))
        .route("/api/warroom/v1/cutover/{action}", post(post_action))
        .route("/api/warroom/v1/runbook/{step}/{action}", post(post_step))
        .with_state(state)
}

/// What an action's body may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    by: Option<String>,
    reason: Option<String>,
    #[serde(rename = "override")]
    override_reason: Option<String>,
    to: Option<String>,
    role: Option<String>,
    note: Option<String>,
}

fn refused(reason: String) -> Response {
    json_response(
        StatusCode::CONFLICT,
        json!({"status": "refused", "reason": reason}),
    )
}

fn running(s: &CutoverState) -> Result<&Arc<Cutover>, ApiError> {
    s.cutover.as_ref().ok_or_else(|| {
        ApiError::NotFound("no cutover is running: [cutover] plan_file is not set".into())
    })
}

async fn get_cutover(State(s): State<CutoverState>, headers: HeaderMap) -> Response {
    answer(read(&s, &headers, |live| view::cutover(live, SystemTime::now())).await)
}

async fn get_gates(State(s): State<CutoverState>, headers: HeaderMap) -> Response {
    answer(read(&s, &headers, |live| view::gates(live, SystemTime::now())).await)
}

async fn get_runbook(State(s): State<CutoverState>, headers: HeaderMap) -> Response {
    answer(read(&s, &headers, |live| view::runbook(&live.plan, &live.memory)).await)
}

async fn read(
    s: &CutoverState,
    headers: &HeaderMap,
    f: impl FnOnce(&crate::cutover::live::Live) -> Value,
) -> Result<Response, ApiError> {
    s.auth.read(headers).await?;
    let body = running(s)?.read(f).await;
    Ok(json_response(StatusCode::OK, body))
}

/// The token's name and the body, which may be empty.
async fn steer(
    s: &CutoverState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, ActionBody), ApiError> {
    let token = s.auth.steer(headers).await?;
    let body: ActionBody = match body.iter().all(u8::is_ascii_whitespace) {
        true => ActionBody::default(),
        false => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("malformed body: {e}")))?,
    };
    let by = body.by.clone().filter(|b| !b.trim().is_empty());
    Ok((by.unwrap_or(token), body))
}

async fn post_action(
    State(s): State<CutoverState>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(act(&s, &action, &headers, &body).await)
}

async fn act(
    s: &CutoverState,
    action: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (by, body) = steer(s, headers, body).await?;
    let cutover = running(s)?;
    let now = SystemTime::now();
    let action = match action {
        "advance" => Action::Advance {
            override_reason: body.override_reason,
        },
        "hold" => Action::Hold {
            reason: body.reason.unwrap_or_default(),
        },
        "resume" => Action::Resume,
        "rollback" => Action::Rollback {
            to: body
                .to
                .ok_or_else(|| ApiError::BadRequest("rollback needs {\"to\": phase}".into()))?,
        },
        "signoff" => {
            let role = body
                .role
                .ok_or_else(|| ApiError::BadRequest("signoff needs {\"role\": role}".into()))?;
            return match cutover.sign_off(&role, &by, now).await? {
                Ok(()) => done(cutover).await,
                Err(r) => Ok(refused(r.to_string())),
            };
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no cutover action {other:?} (advance, hold, resume, rollback, signoff)"
            )));
        }
    };
    match cutover.act(&action, &by, now).await? {
        Decision::Refused(r) => Ok(refused(r.to_string())),
        _ => done(cutover).await,
    }
}

async fn done(cutover: &Cutover) -> Result<Response, ApiError> {
    let body = cutover
        .read(|live| view::cutover(live, SystemTime::now()))
        .await;
    Ok(json_response(StatusCode::OK, body))
}

async fn post_step(
    State(s): State<CutoverState>,
    Path((step, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(tick(&s, &step, &action, &headers, &body).await)
}

async fn tick(
    s: &CutoverState,
    step: &str,
    action: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (by, body) = steer(s, headers, body).await?;
    let cutover = running(s)?;
    let now = SystemTime::now();
    let outcome = match action {
        "done" => cutover.step_done(step, &by, body.note, now).await?,
        "undo" => cutover.step_undo(step, &by, body.note, now).await?,
        other => {
            return Err(ApiError::NotFound(format!(
                "no runbook action {other:?} (done, undo)"
            )));
        }
    };
    match outcome {
        Err(StepRefusal::UnknownStep(step)) => Err(ApiError::NotFound(format!(
            "the runbook has no step {step}"
        ))),
        Err(r) => Ok(refused(r.to_string())),
        Ok(()) => {
            let body = cutover
                .read(|live| view::runbook(&live.plan, &live.memory))
                .await;
            Ok(json_response(StatusCode::OK, body))
        }
    }
}
