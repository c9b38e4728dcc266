//! The timeline for automation:
//! - `GET /api/warroom/v1/timeline?from=&to=&kind=&service=&phase=&after_id=&limit=`: events
//!   oldest first behind a `read` (or `admin`) token; times as RFC 3339 or Unix seconds, as
//!   Prometheus takes them; `next_after_id` is the last event's id, for the next page (or the
//!   next poll), null when the page is empty;
//! - `POST /api/warroom/v1/notes` with `{"text", "by"?, "service"?, "incident"?}`: a person's
//!   note, behind an `admin` token; 201 with the stored event.

use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use warroom_alerts::notify::rfc3339;

use crate::alerting::records::from_ms;
use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::query::params::parse_time;
use crate::routes::{answer, json_response};
use crate::timeline::{Event, Filter, Kind, NewEvent};

/// Events in a page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 500;

/// The largest note body taken, in bytes.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;

/// The timeline routes over the state's timeline and token check.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/warroom/v1/timeline", get(list))
        .route("/api/warroom/v1/notes", post(add_note))
        .with_state(state)
}

fn internal(e: sqlx::Error) -> ApiError {
    ApiError::Internal(anyhow::Error::new(e).context("timeline"))
}

async fn list(
    State(s): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            s.auth.read(&headers).await?;
            let (filter, limit) = page_params(query.as_deref().unwrap_or(""))?;
            let events = s.timeline.page(&filter, limit).await.map_err(internal)?;
            let next = events.last().map(|e| e.id);
            let events: Vec<Value> = events.iter().map(event_json).collect();
            let body = json!({ "events": events, "next_after_id": next });
            Ok(json_response(StatusCode::OK, body))
        }
        .await,
    )
}

/// The filter and limit a query string asks for; unknown parameters are ignored, as
/// Prometheus does.
fn page_params(query: &str) -> Result<(Filter, usize), ApiError> {
    let mut filter = Filter::default();
    let mut page = DEFAULT_LIMIT;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        match name.as_ref() {
            "from" => filter.from_ms = Some(time(&name, &value)?),
            "to" => filter.to_ms = Some(time(&name, &value)?),
            "kind" => filter.kind = Some(value.parse().map_err(bad)?),
            "service" => filter.service = Some(value.into_owned()),
            "phase" => filter.phase = Some(value.into_owned()),
            "after_id" => filter.after_id = Some(whole(&name, &value)?),
            "limit" => page = limit(&value)?,
            _ => {}
        }
    }
    if let (Some(from), Some(to)) = (filter.from_ms, filter.to_ms)
        && from > to
    {
        return Err(ApiError::BadRequest(
            "invalid parameters: \"from\" is after \"to\"".to_owned(),
        ));
    }
    Ok((filter, page))
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

fn time(name: &str, value: &str) -> Result<i64, ApiError> {
    parse_time(value).ok_or_else(|| {
        bad(format!(
            "invalid parameter {name:?}: cannot parse {value:?} as RFC 3339 or Unix seconds"
        ))
    })
}

fn whole(name: &str, value: &str) -> Result<i64, ApiError> {
    value.parse().map_err(|_| {
        bad(format!(
            "invalid parameter {name:?}: {value:?} is not a whole number"
        ))
    })
}

/// At least one (more than a page holds gives a full page).
fn limit(value: &str) -> Result<usize, ApiError> {
    let n = value.parse::<usize>().ok().filter(|n| *n > 0);
    n.ok_or_else(|| {
        bad(format!(
            "invalid parameter \"limit\": {value:?} is not a positive whole number"
        ))
    })
}

/// An event as the API shows it.
pub fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "at": rfc3339(from_ms(e.at_ms)),
        "at_ms": e.at_ms,
        "kind": e.kind,
        "actor": e.actor,
        "subject": e.subject,
        "service": e.service,
        "phase": e.phase,
        "body": e.body,
    })
}

/// A note as posted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    text: String,
    by: Option<String>,
    service: Option<String>,
    incident: Option<String>,
}

async fn add_note(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(
        async {
            let token = s.auth.steer(&headers).await?;
            let note = parse_note(&headers, &body)?;
            let event = note_event(note, token);
            let now = SystemTime::now();
            let stored = s
                .timeline
                .append(now, vec![event])
                .await
                .map_err(internal)?;
            let body = stored.first().map_or(Value::Null, event_json);
            Ok(json_response(StatusCode::CREATED, body))
        }
        .await,
    )
}

/// A JSON note of at most [`MAX_NOTE_BYTES`] with some text.
fn parse_note(headers: &HeaderMap, body: &[u8]) -> Result<NoteBody, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let is_json = content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType(
            "a note is JSON: Content-Type: application/json".to_owned(),
        ));
    }
    if body.len() > MAX_NOTE_BYTES {
        return Err(ApiError::TooLarge(format!(
            "a note is at most {MAX_NOTE_BYTES} bytes; this one is {}",
            body.len()
        )));
    }
    let note: NoteBody =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed note: {e}")))?;
    if note.text.trim().is_empty() {
        return Err(bad("a note needs some text"));
    }
    Ok(note)
}

/// The note's event: by `by`, else by the token's name.
fn note_event(note: NoteBody, token: String) -> NewEvent {
    let given = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let actor = given(note.by).unwrap_or_else(|| token.clone());
    let incident = given(note.incident);
    let body = json!({ "text": note.text, "incident": incident, "token": token });
    let mut event = NewEvent::new(Kind::Note, body)
        .by(actor)
        .of_service(given(note.service));
    event.subject = incident;
    event
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
