//! No query takes the real server down: a subquery bomb, huge and overflowing times, deeply
//! nested expressions and a backtracking-shaped regex over long label values are each answered
//! with Prometheus' error (or a result) within the query timeout, and the server still answers
//! and ingests afterwards; queries past `query_max_concurrency` wait their turn, then time out.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use warroom_tests::http::{self, percent_encode};
use warroom_tests::remote_write;
use warroom_tests::server::{Server, spawn_server_with};

/// Far longer than any bounded query takes, far shorter than an unbounded one.
const ANSWERED_WITHIN: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes one sample for each `(labels, value)` through remote_write, asserting it is accepted.
fn write(server: &Server, series: &[(Vec<(&str, String)>, f64)]) {
    let req = remote_write::samples_at(series, now_ms());
    let r = remote_write::post(server.addr, &server.token, &req).unwrap();
    assert!(r.status / 100 == 2, "remote_write: {} {}", r.status, r.body);
}

/// `GET path` with the server's read token; the status, the JSON body and how long it took.
fn get(server: &Server, path: &str) -> (u16, Value, Duration) {
    let auth = Server::bearer(&server.read_token);
    let began = Instant::now();
    let r = http::get_within(server.addr, path, &[auth.as_str()], ANSWERED_WITHIN).unwrap();
    let body = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, body, began.elapsed())
}

/// `POST path` with a form body and the server's read token; the status, JSON body and time
/// taken.
fn post_form(server: &Server, path: &str, form: &str) -> (u16, Value, Duration) {
    let auth = Server::bearer(&server.read_token);
    let headers = [
        "Content-Type: application/x-www-form-urlencoded",
        auth.as_str(),
    ];
    let began = Instant::now();
    let r = http::post(server.addr, path, &headers, form.as_bytes()).unwrap();
    let body = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, body, began.elapsed())
}

fn query_path(q: &str, extra: &str) -> String {
    format!("/api/v1/query?query={}{extra}", percent_encode(q))
}

/// The server answers its health check and a fresh sample is queryable.
fn assert_alive_and_ingesting(server: &Server, marker: f64) {
    let (health, _, _) = get(server, "/healthz");
    assert_eq!(health, 200, "log:\n{}", server.log_text());
    write(server, &[(vec![("__name__", "alive".into())], marker)]);
    let (status, body, _) = get(server, &query_path("alive", ""));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], marker.to_string());
}

#[test]
fn no_query_takes_the_server_down() {
    // Arrange: a short timeout, a small sample budget, series with 100 KB label values.
    let server =
        spawn_server_with("[limits]\nquery_timeout = \"2s\"\nquery_max_samples = 1000000\n");
    let long: Vec<_> = (0..20)
        .map(|i| {
            let value = format!("{}{i}", "a".repeat(100_000));
            (vec![("__name__", "long".into()), ("v", value)], 1.0)
        })
        .collect();
    write(&server, &long);
    let deep_parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let deep_unary = format!("{}1", "-".repeat(100_000));
    let long_sum = vec!["1"; 50_000].join("+");
    let just_under = format!("{}1{}", "(".repeat(900), ")".repeat(900));
    let range = |q: &str, start: &str, end: &str, step: &str| {
        format!(
            "query_range:query={}&start={start}&end={end}&step={step}",
            percent_encode(q)
        )
    };
    let query_path = |q: &str, extra: &str| format!("query:query={}{extra}", percent_encode(q));
    // (what, path, acceptable statuses, error type when it fails)
    let cases: Vec<(&str, String, &[u16])> = vec![
        (
            "subquery bomb",
            query_path("count_over_time(vector(1)[1000y:1ms])", ""),
            &[422, 503],
        ),
        (
            "subquery bomb in a range query",
            range("count_over_time(vector(1)[1000y:1ms])", "0", "60", "15"),
            &[422, 503],
        ),
        (
            "range over all of time",
            range("long", "-1e300", "1e300", "1"),
            &[400],
        ),
        (
            "start and end at i64's edges",
            range(
                "long",
                "-9223372036854775.808",
                "9223372036854775.807",
                "0.001",
            ),
            &[400],
        ),
        (
            "offset and @ past the edges of time",
            query_path(
                "long offset -10000y or long @ 9e15 or long offset 10000y",
                "&time=1e300",
            ),
            &[200],
        ),
        (
            "a huge range",
            query_path("max_over_time(long[100000y])", ""),
            &[200],
        ),
        (
            "100,000 nested parentheses",
            query_path(&deep_parens, ""),
            &[400],
        ),
        ("100,000 unary minuses", query_path(&deep_unary, ""), &[400]),
        ("a sum of 50,000 terms", query_path(&long_sum, ""), &[400]),
        (
            "900 nested parentheses",
            query_path(&just_under, ""),
            &[200],
        ),
        (
            "a backtracking regex over long values",
            query_path(
                r#"count(long{v=~"(a+)+b"}) or count(long{v=~"(a|aa)+$"})"#,
                "",
            ),
            &[200],
        ),
    ];

    for (what, path, statuses) in cases {
        // Act: posted as a form, as Grafana posts long queries.
        let (route, form) = path.split_once(':').unwrap();
        let (status, body, took) = post_form(&server, &format!("/api/v1/{route}"), form);

        // Assert: Prometheus' answer, within the timeout's order, and the server lives on.
        assert!(statuses.contains(&status), "{what}: {status} {body}");
        if status != 200 {
            assert_eq!(body["status"], "error", "{what}: {body}");
            let kind = body["errorType"].as_str().unwrap_or("");
            let want = match status {
                400 => "bad_data",
                422 => "execution",
                _ => "timeout",
            };
            assert_eq!(kind, want, "{what}: {body}");
        }
        assert!(took < ANSWERED_WITHIN, "{what} took {took:?}");
        assert_alive_and_ingesting(&server, took.as_millis() as f64);
    }
}

#[test]
fn queries_past_the_concurrency_limit_wait_their_turn_then_time_out() {
    // Arrange: one query at a time; a bomb holds the turn until its 2 s timeout.
    let server = spawn_server_with("[limits]\nquery_timeout = \"2s\"\nquery_max_concurrency = 1\n");
    write(&server, &[(vec![("__name__", "up".into())], 1.0)]);
    let addr = server.addr;
    let auth = Server::bearer(&server.read_token);
    let bomb = std::thread::spawn(move || {
        let path = query_path("count_over_time(vector(1)[1000y:1ms])", "");
        http::get_within(addr, &path, &[auth.as_str()], ANSWERED_WITHIN)
            .unwrap()
            .status
    });
    std::thread::sleep(Duration::from_millis(300));

    // Act: a small query allowed half a second waits for the turn, which does not come.
    let (waited, waited_body, took) = get(&server, &query_path("up", "&timeout=500ms"));
    let bomb_status = bomb.join().unwrap();
    let (after, after_body, _) = get(&server, &query_path("up", ""));

    // Assert
    assert_eq!(waited, 503, "{waited_body}");
    assert_eq!(waited_body["errorType"], "timeout");
    assert!(took >= Duration::from_millis(400), "gave up after {took:?}");
    assert!([422, 503].contains(&bomb_status), "bomb: {bomb_status}");
    assert_eq!(after, 200, "{after_body}");
    assert_eq!(after_body["data"]["result"][0]["value"][1], "1");
}
