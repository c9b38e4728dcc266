//! Local stand-ins for Slack incoming webhooks and the PagerDuty Events API v2. They check the
//! published payload shapes (answering as the services do when a payload is wrong), record every
//! accepted message with its arrival time, and can be scripted to answer 429 (with
//! `Retry-After`) or 5xx first, or to hold requests (a slow answer) before answering. Scripted
//! failures can quote the request back, as some error pages and proxies do.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer: a status and an optional `Retry-After` in seconds.
pub type Scripted = (u16, Option<u64>);

/// A message the receiver accepted.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// When it arrived.
    pub at: Instant,
    /// The JSON body.
    pub body: Value,
}

#[derive(Default)]
struct Log {
    script: VecDeque<Scripted>,
    holds: VecDeque<Duration>,
    echo: bool,
    accepted: Vec<Arrival>,
    requests: usize,
}

type Shared = Arc<Mutex<Log>>;

/// A running Slack or PagerDuty stand-in.
pub struct Saas {
    /// Where it listens.
    pub addr: SocketAddr,
    log: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl Saas {
    /// Slack: `POST /services/T/B/X` webhooks answer 200 `ok`.
    pub fn slack() -> std::io::Result<Self> {
        Self::start(Router::new().route("/services/{*path}", post(slack)))
    }

    /// PagerDuty: `POST /v2/enqueue` answers 202.
    pub fn pagerduty() -> std::io::Result<Self> {
        Self::start(Router::new().route("/v2/enqueue", post(pagerduty)))
    }

    fn start(routes: Router<Shared>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let log: Shared = Arc::default();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let app = routes.with_state(log.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            addr,
            log,
            _runtime: runtime,
        })
    }

    /// Answers the next requests with these statuses before behaving normally.
    pub fn script(&self, answers: &[Scripted]) {
        self.lock().script.extend(answers.iter().copied());
    }

    /// Holds the next requests, one per entry, that long before answering them (as scripted or
    /// normally). A held request counts in [`Saas::requests`] at once and in
    /// [`Saas::accepted`] only once answered.
    pub fn hold(&self, holds: &[Duration]) {
        self.lock().holds.extend(holds.iter().copied());
    }

    /// Makes scripted answers quote the request (`POST PATH?QUERY` and its body) in their body,
    /// as an error page or a proxy in the way may.
    pub fn echo_requests(&self) {
        self.lock().echo = true;
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> Vec<Arrival> {
        self.lock().accepted.clone()
    }

    /// Requests received so far, scripted failures included.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts the request and waits out its hold, if one is scripted.
async fn arrive(log: &Shared) {
    let hold = {
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.requests += 1;
        log.holds.pop_front()
    };
    if let Some(hold) = hold {
        tokio::time::sleep(hold).await;
    }
}

/// Takes the next scripted answer to a request for `uri` with `body`, if any.
fn scripted(log: &Shared, uri: &Uri, body: &str) -> Option<Response> {
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    let (status, retry_after) = log.script.pop_front()?;
    let text = if log.echo {
        format!("scripted: cannot POST {uri}: {body}")
    } else {
        "scripted".to_owned()
    };
    let mut headers = HeaderMap::new();
    if let Some(secs) = retry_after {
        headers.insert("retry-after", HeaderValue::from(secs));
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some((status, headers, text).into_response())
}

fn accept(log: &Shared, body: Value) {
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    log.accepted.push(Arrival {
        at: Instant::now(),
        body,
    });
}

async fn slack(State(log): State<Shared>, uri: Uri, body: String) -> Response {
    arrive(&log).await;
    if let Some(r) = scripted(&log, &uri, &body) {
        return r;
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    if let Err(e) = check_slack(&body) {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    accept(&log, body);
    (StatusCode::OK, "ok").into_response()
}

/// Slack's rules for incoming webhooks: a non-empty `text` (the fallback) and valid blocks.
pub fn check_slack(body: &Value) -> Result<(), &'static str> {
    if body["text"].as_str().is_none_or(str::is_empty) {
        return Err("no_text");
    }
    let Some(blocks) = body.get("blocks") else {
        return Ok(());
    };
    let blocks = blocks.as_array().ok_or("invalid_blocks")?;
    if blocks.len() > 50 || !blocks.iter().all(valid_block) {
        return Err("invalid_blocks");
    }
    Ok(())
}

fn valid_block(block: &Value) -> bool {
    let text_ok = |t: &Value| {
        matches!(t["type"].as_str(), Some("mrkdwn" | "plain_text")) && t["text"].is_string()
    };
    match block["type"].as_str() {
        Some("section") => {
            text_ok(&block["text"])
                && block["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.len() <= 3000)
        }
        Some("context") => block["elements"]
            .as_array()
            .is_some_and(|e| e.len() <= 10 && e.iter().all(text_ok)),
        Some("actions") => block["elements"].as_array().is_some_and(|e| {
            e.len() <= 25
                && e.iter()
                    .all(|b| b["type"] == "button" && b["text"]["type"] == "plain_text")
        }),
        Some("divider" | "header") => true,
        _ => false,
    }
}

async fn pagerduty(State(log): State<Shared>, uri: Uri, body: String) -> Response {
    arrive(&log).await;
    if let Some(r) = scripted(&log, &uri, &body) {
        return r;
    }
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    if let Err(errors) = check_pagerduty(&body) {
        let answer = json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors});
        return (StatusCode::BAD_REQUEST, json_type(), answer.to_string()).into_response();
    }
    let dedup_key = body["dedup_key"].clone();
    accept(&log, body);
    let answer = json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key});
    (StatusCode::ACCEPTED, json_type(), answer.to_string()).into_response()
}

fn json_type() -> [(axum::http::header::HeaderName, &'static str); 1] {
    [(axum::http::header::CONTENT_TYPE, "application/json")]
}

/// The Events API v2 rules: routing key, action, dedup key ≤ 255, and for a trigger a payload
/// with summary ≤ 1024, source and one of the four severities.
pub fn check_pagerduty(body: &Value) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    if body["routing_key"].as_str().is_none_or(str::is_empty) {
        errors.push("'routing_key' is missing or blank".to_string());
    }
    let action = body["event_action"].as_str().unwrap_or("");
    if !matches!(action, "trigger" | "acknowledge" | "resolve") {
        errors.push("'event_action' is invalid".to_string());
    }
    let key = body["dedup_key"].as_str().unwrap_or("");
    if key.len() > 255 || (action != "trigger" && key.is_empty()) {
        errors.push("'dedup_key' is invalid".to_string());
    }
    if action == "trigger" {
        let p = &body["payload"];
        if p["summary"]
            .as_str()
            .is_none_or(|s| s.is_empty() || s.chars().count() > 1024)
        {
            errors.push("'payload.summary' is invalid".to_string());
        }
        if p["source"].as_str().is_none_or(str::is_empty) {
            errors.push("'payload.source' is missing or blank".to_string());
        }
        if !matches!(
            p["severity"].as_str(),
            Some("critical" | "error" | "warning" | "info")
        ) {
            errors.push("'payload.severity' is invalid".to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_rejects_a_message_without_fallback_text_or_with_an_unknown_block() {
        assert_eq!(check_slack(&json!({"blocks": []})), Err("no_text"));
        assert_eq!(
            check_slack(&json!({"text": "t", "blocks": [{"type": "bogus"}]})),
            Err("invalid_blocks")
        );
        assert_eq!(check_slack(&json!({"text": "t"})), Ok(()));
    }

    #[test]
    fn pagerduty_rejects_a_trigger_without_severity_and_a_resolve_without_dedup_key() {
        let trigger = json!({"routing_key": "k", "event_action": "trigger", "payload": {"summary": "s", "source": "x"}});
        assert_eq!(
            check_pagerduty(&trigger).unwrap_err(),
            vec!["'payload.severity' is invalid"]
        );
        let resolve = json!({"routing_key": "k", "event_action": "resolve"});
        assert!(check_pagerduty(&resolve).is_err());
    }
}
