//! The timeline routes through the whole [`app`](crate::app::app) over loopback, with a real
//! SQLite file for the tokens and the timeline.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::app::{Ingested, app};
use crate::config::Limits;
use crate::routes::auth::{ApiConfig, Auth};
use crate::store::mem::MemStore;
use crate::telemetry::ServerMetrics;
use crate::timeline::Timeline;
use crate::tokens::{Scope, TokenStore};

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

struct Served {
    _dir: tempfile::TempDir,
    url: String,
    timeline: Arc<Timeline>,
    admin: String,
    reader: String,
    agent: String,
    client: reqwest::Client,
}

async fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::open(&dir.path().join("w.db")).await.unwrap();
    let tokens = TokenStore::new(pool.clone());
    let token = async |name, scope| {
        let t = tokens.create(name, scope).await.unwrap();
        t.expose().to_owned()
    };
    let (admin, reader) = (
        token("ops", Scope::Admin).await,
        token("grafana", Scope::Read).await,
    );
    let agent = token("agent", Scope::Ingest).await;
    let store = Arc::new(MemStore::new());
    let timeline = Timeline::new(pool.clone());
    let state = AppState {
        store: store.clone(),
        querier: store,
        auth: Auth::new(tokens.clone(), ApiConfig::default()),
        metrics: Arc::new(ServerMetrics::new()),
        limits: Limits::default(),
        ingested: Ingested::default(),
        alerts: None,
        timeline: timeline.clone(),
        cutover: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state)).await });
    Served {
        _dir: dir,
        url,
        timeline,
        admin,
        reader,
        agent,
        client: reqwest::Client::new(),
    }
}

impl Served {
    /// `GET /api/warroom/v1/timeline?query` with the read token: the status and the body.
    async fn list(&self, query: &str) -> (StatusCode, Value) {
        let url = format!("{}/api/warroom/v1/timeline?{query}", self.url);
        let r = self.client.get(url).bearer_auth(&self.reader);
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST /api/warroom/v1/notes` with `token` and a JSON content type.
    async fn note(&self, token: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let url = format!("{}/api/warroom/v1/notes", self.url);
        let r = self.client.post(url).bearer_auth(token);
        let r = r.header("content-type", "application/json").body(body);
        let r = r.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Four events a minute apart from T0: notes of checkout and search, an alert of
    /// checkout in shift-10, an ack.
    async fn four_events(&self) {
        let at = |i: i64| from_ms(T0 + i * MINUTE);
        let note = |text, service: &str| {
            NewEvent::new(Kind::Note, json!({ "text": text })).of_service(Some(service.into()))
        };
        let t = &self.timeline;
        t.append(at(0), vec![note("first", "checkout")])
            .await
            .unwrap();
        t.set_phase(Some("shift-10".into()));
        let alert = NewEvent::new(Kind::Alert, json!({"what": "firing"}))
            .of_service(Some("checkout".into()));
        t.append(at(1), vec![alert]).await.unwrap();
        t.set_phase(None);
        t.append(at(2), vec![note("second", "search")])
            .await
            .unwrap();
        let ack = NewEvent::new(Kind::Ack, json!({"what": "acknowledged"}));
        t.append(at(3), vec![ack]).await.unwrap();
    }
}

/// Each listed event's kind.
fn kinds(body: &Value) -> Vec<&str> {
    let events = body["events"].as_array().unwrap();
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_timeline_lists_every_event_oldest_first_with_its_time_in_rfc3339() {
    let s = serve().await;
    s.four_events().await;

    let (status, body) = s.list("").await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(kinds(&body), ["note", "alert", "note", "ack"]);
    let alert = &body["events"][1];
    assert_eq!(alert["at"], "2023-11-14T22:14:20.000Z");
    assert_eq!(alert["at_ms"], T0 + MINUTE);
    assert_eq!(alert["phase"], "shift-10");
    assert_eq!(alert["service"], "checkout");
    assert_eq!(alert["body"], json!({"what": "firing"}));
    assert_eq!(alert["actor"], Value::Null);
    assert_eq!(body["next_after_id"], body["events"][3]["id"]);
}

#[tokio::test]
async fn from_and_to_take_rfc3339_or_unix_seconds() {
    let s = serve().await;
    s.four_events().await;

    let rfc = s
        .list("from=2023-11-14T22:14:20Z&to=2023-11-14T23:15:20%2B01:00")
        .await;
    let unix = s.list("from=1700000060&to=1700000120.000").await;

    assert_eq!(kinds(&rfc.1), ["alert", "note"]);
    assert_eq!(kinds(&unix.1), ["alert", "note"]);
}

#[tokio::test]
async fn kind_service_and_phase_narrow_the_list() {
    let s = serve().await;
    s.four_events().await;

    assert_eq!(kinds(&s.list("kind=note").await.1), ["note", "note"]);
    assert_eq!(
        kinds(&s.list("service=checkout").await.1),
        ["note", "alert"]
    );
    assert_eq!(kinds(&s.list("phase=shift-10").await.1), ["alert"]);
    let (_, none) = s.list("kind=note&phase=shift-10").await;
    assert_eq!(none, json!({"events": [], "next_after_id": null}));
}

#[tokio::test]
async fn limit_and_after_id_page_through_the_timeline() {
    let s = serve().await;
    s.four_events().await;

    let (_, first) = s.list("limit=3").await;
    let after = &first["next_after_id"];
    let (_, rest) = s.list(&format!("limit=3&after_id={after}")).await;

    assert_eq!(kinds(&first), ["note", "alert", "note"]);
    assert_eq!(kinds(&rest), ["ack"]);
    assert_eq!(rest["next_after_id"], rest["events"][0]["id"]);
}

#[tokio::test]
async fn an_unknown_kind_is_400_naming_the_kinds() {
    let s = serve().await;

    let (status, body) = s.list("kind=page").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = body.as_str().unwrap();
    assert!(
        text.starts_with("unknown event kind \"page\" (one of: phase, hold,"),
        "{text}"
    );
    assert!(
        text.contains("notification, ack, escalation, silence, note)"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_parameters_are_400_with_the_reason() {
    let s = serve().await;
    let cases = [
        (
            "from=yesterday",
            "invalid parameter \"from\": cannot parse \"yesterday\"",
        ),
        (
            "after_id=x",
            "invalid parameter \"after_id\": \"x\" is not a whole number",
        ),
        (
            "limit=0",
            "invalid parameter \"limit\": \"0\" is not a positive whole number",
        ),
        (
            "from=200&to=100",
            "invalid parameters: \"from\" is after \"to\"",
        ),
    ];

    for (query, reason) in cases {
        let (status, body) = s.list(query).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let text = body.as_str().unwrap();
        assert!(text.starts_with(reason), "{query}: {text}");
    }
}

#[tokio::test]
async fn reading_the_timeline_needs_a_read_token() {
    let s = serve().await;
    let url = format!("{}/api/warroom/v1/timeline", s.url);

    let anonymous = s.client.get(&url).send().await.unwrap();
    let agent = s
        .client
        .get(&url)
        .bearer_auth(&s.agent)
        .send()
        .await
        .unwrap();
    let admin = s
        .client
        .get(&url)
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(agent.status(), StatusCode::FORBIDDEN);
    assert_eq!(admin.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_posts_a_note_and_gets_it_back_as_stored() {
    let s = serve().await;
    s.timeline.set_phase(Some("shift-10".into()));
    let note = json!({"text": "DNS TTL lowered to 60s", "by": "alice",
        "service": "checkout", "incident": "INC-7"});

    let (status, stored) = s.note(&s.admin, note.to_string()).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(stored["kind"], "note");
    assert_eq!(stored["actor"], "alice");
    assert_eq!(stored["service"], "checkout");
    assert_eq!(stored["subject"], "INC-7");
    assert_eq!(stored["phase"], "shift-10");
    let body = json!({"text": "DNS TTL lowered to 60s", "incident": "INC-7", "token": "ops"});
    assert_eq!(stored["body"], body);
    let (_, listed) = s.list("kind=note").await;
    assert_eq!(listed["events"], json!([stored]));
}

#[tokio::test]
async fn a_note_without_by_is_the_tokens() {
    let s = serve().await;

    let (status, stored) = s.note(&s.admin, r#"{"text": "go for shift-50"}"#).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(stored["actor"], "ops");
    assert_eq!(stored["body"]["incident"], Value::Null);
}

#[tokio::test]
async fn only_an_admin_token_may_post_a_note() {
    let s = serve().await;
    let note = r#"{"text": "hello"}"#;

    let (agent, reason) = s.note(&s.agent, note).await;
    let (reader, _) = s.note(&s.reader, note).await;

    assert_eq!(agent, StatusCode::FORBIDDEN);
    assert_eq!(
        reason,
        "token \"agent\" has scope ingest; this route needs scope admin\n"
    );
    assert_eq!(reader, StatusCode::FORBIDDEN);
    assert!(s.list("").await.1["events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_note_is_refused_with_the_reason() {
    let s = serve().await;
    let long = json!({ "text": "x".repeat(MAX_NOTE_BYTES) }).to_string();
    let cases = [
        (
            r#"{"text": "  "}"#.to_owned(),
            400,
            "a note needs some text",
        ),
        (
            r#"{"by": "alice"}"#.to_owned(),
            400,
            "malformed note: missing field `text`",
        ),
        (
            r#"{"text": "a", "colour": "red"}"#.to_owned(),
            400,
            "malformed note: unknown field",
        ),
        ("text=hello".to_owned(), 400, "malformed note:"),
        (
            long,
            413,
            "a note is at most 16384 bytes; this one is 16395",
        ),
    ];

    for (body, status, reason) in cases {
        let (got, text) = s.note(&s.admin, body.clone()).await;

        assert_eq!(got.as_u16(), status, "{body:.40}");
        let text = text.as_str().unwrap();
        assert!(text.starts_with(reason), "{body:.40}: {text}");
    }
    assert!(s.list("").await.1["events"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_note_that_is_not_json_is_415() {
    let s = serve().await;
    let url = format!("{}/api/warroom/v1/notes", s.url);

    let r = s.client.post(url).bearer_auth(&s.admin).body("text=hello");
    let r = r.header("content-type", "application/x-www-form-urlencoded");
    let r = r.send().await.unwrap();

    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        r.text().await.unwrap(),
        "a note is JSON: Content-Type: application/json\n"
    );
}
