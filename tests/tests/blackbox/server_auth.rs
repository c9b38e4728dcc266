//! The real `warroom serve` and `warroom token` processes: reads need a `read` (or `admin`)
//! token, writes an `ingest` (or `admin`) one, `[api] anonymous_read = true` opens reads only,
//! and `--scope` takes only the three scopes.

use std::process::Command;

use serde_json::Value;
use warroom_tests::bins::bin;
use warroom_tests::http;
use warroom_tests::server::{Server, spawn_server, spawn_server_with, token};

const QUERY: &str = "/api/v1/query?query=up";
const REMOTE_WRITE: [&str; 2] = [
    "Content-Type: application/x-protobuf",
    "Content-Encoding: snappy",
];

fn read(server: &Server, token: Option<&str>) -> http::Response {
    let bearer = token.map(Server::bearer);
    let headers: Vec<&str> = bearer.iter().map(String::as_str).collect();
    http::get(server.addr, QUERY, &headers).expect("GET query")
}

/// An empty remote_write request: only the token decides its status.
fn write(server: &Server, token: Option<&str>) -> u16 {
    let bearer = token.map(Server::bearer);
    let mut headers = REMOTE_WRITE.to_vec();
    headers.extend(bearer.iter().map(String::as_str));
    let empty = [0u8]; // snappy: a zero-length block
    let r = http::post(server.addr, "/api/v1/write", &headers, &empty).expect("POST write");
    r.status
}

#[test]
fn a_query_needs_a_read_or_admin_token_and_an_ingest_token_is_told_which() {
    let server = spawn_server();
    let admin = token(&server.data_dir, &["create", "ops", "--scope", "admin"]);

    let none = read(&server, None);
    let ingest = read(&server, Some(&server.token));
    let reader = read(&server, Some(&server.read_token));
    let by_admin = read(&server, Some(&admin));

    assert_eq!(none.status, 401, "{none:?}");
    assert_eq!(ingest.status, 403, "{ingest:?}");
    let refusal: Value = serde_json::from_str(&ingest.body).unwrap();
    assert_eq!(refusal["status"], "error");
    assert_eq!(refusal["errorType"], "forbidden");
    assert_eq!(
        refusal["error"],
        "token \"test-agent\" has scope ingest; this route needs scope read or admin"
    );
    assert_eq!(reader.status, 200, "{reader:?}");
    assert_eq!(by_admin.status, 200, "{by_admin:?}");
}

#[test]
fn a_read_token_may_not_write_but_ingest_and_admin_tokens_may() {
    let server = spawn_server();
    let admin = token(&server.data_dir, &["create", "ops", "--scope", "admin"]);

    let statuses = [
        write(&server, Some(&server.read_token)),
        write(&server, Some(&server.token)),
        write(&server, Some(&admin)),
    ];

    assert_eq!(statuses, [403, 204, 204]);
    let otlp = http::post(
        server.addr,
        "/v1/metrics",
        &["Content-Type: application/x-protobuf", &server.reader()],
        b"",
    )
    .unwrap();
    assert_eq!(otlp.status, 403, "{otlp:?}");
}

#[test]
fn anonymous_reads_open_queries_only_and_are_warned_about_at_start() {
    let server = spawn_server_with("[api]\nanonymous_read = true\n");

    let query = read(&server, None);
    let alerts = http::get(server.addr, "/api/warroom/v1/alerts", &[]).unwrap();

    assert_eq!(query.status, 200, "{query:?}");
    assert_eq!(alerts.status, 200, "{alerts:?}");
    assert_eq!(write(&server, None), 401);
    let log = server.log_text();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("anonymous reads are allowed"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("WARN"), "{log}");
}

#[test]
fn token_create_refuses_an_unknown_scope_and_list_shows_each_scope() {
    let server = spawn_server();

    let out = Command::new(bin("warroom"))
        .args(["token", "create", "x", "--scope", "write", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    let listed = token(&server.data_dir, &["list"]);

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown scope \"write\": expected ingest, read or admin"),
        "{stderr}"
    );
    let scopes: Vec<(&str, &str)> = listed
        .lines()
        .filter_map(|l| l.split('\t').take(2).collect::<Vec<_>>().try_into().ok())
        .map(|[name, scope]: [&str; 2]| (name, scope))
        .collect();
    assert_eq!(
        scopes,
        [
            ("test-agent", "scope=ingest"),
            ("test-reader", "scope=read")
        ]
    );
}
