//! No notifier leaks a secret: with a Slack webhook URL (its path and query are the secret), a
//! PagerDuty routing key and an SMTP password configured, and every receiver failing (connection
//! refused, 503 pages that quote the request, SMTP refusing the login) so that errors are
//! recorded, none of the secrets appears in the server's stdout or stderr (at debug level), in
//! the outbox's error text, in `/api/warroom/v1/*` and `/api/v2/silences` answers, in
//! `/metrics`, or anywhere in its database files.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warroom_tests::alerting::{AlertingServer, spawn_alerting_server_with_env, wait_for};
use warroom_tests::http;
use warroom_tests::outbox;
use warroom_tests::saas::Saas;

/// The secret part of the Slack webhook URLs.
const SLACK_PATH: &str =
    "/services/T0SECRETWS/B0SECRETCH/sl4ckW3bhookS3cret?token=sl4ckQueryS3cret";
/// The PagerDuty routing key.
const ROUTING_KEY: &str = "pdR0utingKeyS3cret0123456789abcd";
/// The SMTP password.
const SMTP_PASSWORD: &str = "smtpPassw0rdS3cret";
/// Every piece that must never show.
const SECRETS: [&str; 6] = [
    "T0SECRETWS",
    "B0SECRETCH",
    "sl4ckW3bhookS3cret",
    "sl4ckQueryS3cret",
    ROUTING_KEY,
    SMTP_PASSWORD,
];

/// An SMTP server (aiosmtpd) that demands a login and refuses every one.
struct RefusingSmtp {
    child: Child,
    port: u16,
}

const SMTP_SCRIPT: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

def refuse(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]),
                        authenticator=refuse, auth_required=True, auth_require_tls=False)
controller.start()
while True:
    time.sleep(3600)
"#;

impl RefusingSmtp {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-c", SMTP_SCRIPT, &port.to_string()])
            .stdout(Stdio::null())
            // It warns on every connection that AUTH without TLS is unsafe: it is the point.
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening (python3 -m pip install aiosmtpd)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for RefusingSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (connections to it are refused).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One receiver with every integration: Slack refused and 503, PagerDuty 503 and refused, email
/// refused at login.
fn alerting_yaml(slack: &Saas, pd: &Saas, smtp: &RefusingSmtp) -> String {
    let refused = format!("http://127.0.0.1:{}", free_port());
    format!(
        r#"global:
  pagerduty_url: {pd}/v2/enqueue
route:
  receiver: everyone
  group_by: [alertname]
  group_wait: 0s
receivers:
  - name: everyone
    slack_configs:
      - api_url: {refused}{SLACK_PATH}
      - api_url: {slack}{SLACK_PATH}
    pagerduty_configs:
      - routing_key: {ROUTING_KEY}
      - routing_key: {ROUTING_KEY}
        url: {refused}/v2/enqueue
    email_configs:
      - to: oncall@example.com
        from: warroom@example.com
        smarthost: 127.0.0.1:{port}
        auth_username: warroom
        auth_password: {SMTP_PASSWORD}
"#,
        pd = pd.url(),
        slack = slack.url(),
        port = smtp.port,
    )
}

/// The integrations of the receiver, as the outbox names them.
const INTEGRATIONS: [&str; 5] = [
    "everyone/slack/0",
    "everyone/slack/1",
    "everyone/pagerduty/0",
    "everyone/pagerduty/1",
    "everyone/email/0",
];

/// GETs `path` with the read token; its status and body.
fn read(s: &AlertingServer, path: &str) -> String {
    let r = http::get(s.server.addr, path, &[&s.server.reader()]).unwrap();
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.body
}

/// Every file of the data directory, as lossy text.
fn data_files(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect()
}

#[test]
fn no_notifier_leaks_a_webhook_url_routing_key_or_smtp_password_in_logs_errors_api_or_metrics() {
    // Arrange: every receiver fails; the stand-ins' 503 pages quote the request back.
    let slack = Saas::slack().unwrap();
    let pd = Saas::pagerduty().unwrap();
    for saas in [&slack, &pd] {
        saas.script(&[(503, None); 50]);
        saas.echo_requests();
    }
    let smtp = RefusingSmtp::start();
    // Debug logs: what an operator turns on when a receiver keeps failing.
    let alerting = alerting_yaml(&slack, &pd, &smtp);
    let debug = [("WARROOM_LOG", "debug")];
    let mut s = spawn_alerting_server_with_env("groups: []\n", &alerting, &debug);
    let body = r#"[{"labels":{"alertname":"TargetDown","env":"target","severity":"page"},
        "annotations":{"summary":"target is down"}}]"#;
    // Act: fire, and wait for a failed attempt of every integration.
    let (status, text) = s.post_json("/api/v2/alerts", body);
    assert_eq!(status, 200, "{text}");
    let errors = wait_for(
        "every integration's failure recorded",
        Duration::from_secs(30),
        || {
            let rows = outbox::rows(&s.server.data_dir);
            let failed: Vec<(String, String)> = rows
                .into_iter()
                .filter_map(|r| Some((r.integration, r.last_error?)))
                .collect();
            let all = INTEGRATIONS
                .iter()
                .all(|i| failed.iter().any(|(key, _)| key == i));
            all.then_some(failed)
        },
    );
    let mut answers = vec![
        read(&s, "/api/warroom/v1/alerts"),
        read(&s, "/api/v2/silences"),
        http::get(s.server.addr, "/metrics", &[]).unwrap().body,
    ];
    let groups: serde_json::Value = serde_json::from_str(&answers[0]).unwrap();
    let id = groups["groups"][0]["id"].as_str().unwrap().to_owned();
    answers.push(s.act(&id, "ack", "alice").1);
    answers.push(read(&s, "/api/warroom/v1/alerts"));
    let status = s.server.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|st| st.success()), "clean exit");
    let log = s.server.log_text();
    let details: Vec<String> = outbox::attempts(&s.server.data_dir)
        .into_iter()
        .filter_map(|(_, _, detail)| detail)
        .collect();
    // Assert: the errors say what went wrong...
    let error_of = |key: &str| {
        let (_, e) = errors.iter().find(|(k, _)| k == key).unwrap();
        e.clone()
    };
    let refused = |key: &str| {
        let e = error_of(key).to_lowercase();
        e.starts_with("request to 127.0.0.1:") && e.contains("refused")
    };
    assert!(refused("everyone/slack/0"), "{errors:?}");
    assert!(
        error_of("everyone/slack/1").contains("HTTP 503"),
        "{errors:?}"
    );
    assert!(
        error_of("everyone/pagerduty/0").contains("HTTP 503"),
        "{errors:?}"
    );
    assert!(refused("everyone/pagerduty/1"), "{errors:?}");
    assert!(error_of("everyone/email/0").contains("smtp"), "{errors:?}");
    assert!(log.contains("everyone/email/0 failed"), "{log}");
    assert!(
        log.contains(" DEBUG "),
        "the server logged at debug level:\n{log}"
    );
    // ...and no secret shows anywhere.
    let mut places: Vec<(String, String)> = vec![("the server's output".into(), log)];
    places.extend(
        errors
            .into_iter()
            .map(|(k, e)| (format!("outbox error of {k}"), e)),
    );
    places.extend(details.into_iter().map(|d| ("an outbox attempt".into(), d)));
    places.extend(answers.into_iter().map(|a| ("an API answer".into(), a)));
    places.extend(data_files(&s.server.data_dir));
    for (place, text) in &places {
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{secret:?} leaked in {place}:\n{text}"
            );
        }
    }
}
