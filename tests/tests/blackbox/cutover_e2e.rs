//! A whole cutover on real processes: `warroom serve` with a plan, rules and an `alerting.yaml`
//! whose only route to Slack matches `phase="shift-10"`; remote_write traffic for the source and
//! target sides of one service, shifted step by step. The target's errors breach at shift-10:
//! the gate turns red, the cutover holds itself and `CutoverGateFailed` reaches Slack with the
//! phase; the errors stop, the gate is green for `hold_for` and advance goes through; past
//! shift-50 rollback is refused; the service's SLO is recorded per side; a crash and restart mid-phase keep the phase and green-since; and the
//! timeline holds every step in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use warroom_tests::alerting::wait_for;
use warroom_tests::http;
use warroom_tests::remote_write;
use warroom_tests::saas::{Arrival, Saas};
use warroom_tests::server::{Server, spawn_server_with_env, token};

const PLAN: &str = r#"name: dc-to-eks
environments:
  source: 'env="source"'
  target: 'env="target"'
services:
  - name: checkout
    requests: sum(rate(http_requests_total{service="checkout"}[10s]))
    errors: sum(rate(http_requests_total{service="checkout", code=~"5.."}[10s]))
    slo: {objective: 99, window: 30d}
phases:
  - name: prepare
    traffic: 0
  - name: shift-10
    traffic: 10
    hold_for: 8s
    gates:
      - name: target error ratio
        service: checkout
        query: sum(rate(http_requests_total{env="target", code=~"5.."}[10s])) / sum(rate(http_requests_total{env="target"}[10s]))
        below: 0.05
  - name: shift-50
    traffic: 50
    point_of_no_return: true
  - name: shift-100
    traffic: 100
runbook:
  - id: freeze-deploys
    title: Freeze deploys on both sides
    phase: prepare
    planned: 1m
"#;

const RULES: &str = r#"groups:
  - name: sides
    interval: 1s
    rules:
      - record: side:requests:rate10s
        expr: sum by (env) (rate(http_requests_total[10s]))
"#;

/// Only a gate failing during shift-10 reaches Slack: the route proves the `phase` label.
fn alerting_yaml(slack: &str) -> String {
    format!(
        r#"global:
  external_url: http://warroom.test
route:
  receiver: nobody
  group_by: [alertname, phase, gate]
  group_wait: 0s
  group_interval: 1m
  routes:
    - matchers: ['alertname="CutoverGateFailed"', 'phase="shift-10"']
      receiver: slack-warroom
receivers:
  - name: nobody
  - name: slack-warroom
    slack_configs:
      - api_url: {slack}/services/T000/B000/XXXX
"#
    )
}

/// The traffic the sender writes: the target's share and its error fraction.
#[derive(Clone, Copy)]
struct Mix {
    target_share: f64,
    target_errors: f64,
}

/// Writes both sides' request counters every 250 ms until dropped.
struct Traffic {
    mix: Arc<Mutex<Mix>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

const RPS: f64 = 400.0;

impl Traffic {
    fn start(addr: std::net::SocketAddr, token: String) -> Self {
        let mix = Arc::new(Mutex::new(Mix {
            target_share: 0.0,
            target_errors: 0.0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (mix.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // source ok, source 5xx, target ok, target 5xx
            let mut counters = [0.0f64; 4];
            while !s.load(Ordering::Relaxed) {
                let mix = *m.lock().unwrap();
                let tick = RPS * 0.25;
                let target = tick * mix.target_share;
                counters[0] += tick - target;
                counters[2] += target * (1.0 - mix.target_errors);
                counters[3] += target * mix.target_errors;
                // Failed writes (the server restarting) are retried by the next tick's totals.
                let _ = write(addr, &token, &counters);
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Traffic {
            mix,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, target_share: f64, target_errors: f64) {
        *self.mix.lock().unwrap() = Mix {
            target_share,
            target_errors,
        };
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write(addr: std::net::SocketAddr, token: &str, counters: &[f64; 4]) -> std::io::Result<u16> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let t = i64::try_from(now.as_millis()).unwrap();
    let sides = [
        ("source", "200"),
        ("source", "500"),
        ("target", "200"),
        ("target", "500"),
    ];
    let series: Vec<(Vec<(&str, String)>, f64)> = (sides.iter().zip(counters))
        .map(|((env, code), v)| {
            let labels = vec![
                ("__name__", "http_requests_total".to_owned()),
                ("code", (*code).to_owned()),
                ("env", (*env).to_owned()),
                ("service", "checkout".to_owned()),
            ];
            (labels, *v)
        })
        .collect();
    remote_write::post(addr, token, &remote_write::samples_at(&series, t)).map(|r| r.status)
}

struct Cutover {
    server: Server,
    admin: String,
    _files: tempfile::TempDir,
}

impl Cutover {
    fn start(slack: &Saas) -> Self {
        let files = tempfile::tempdir().unwrap();
        let rules = files.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        std::fs::write(rules.join("sides.yaml"), RULES).unwrap();
        let alerting = files.path().join("alerting.yaml");
        std::fs::write(&alerting, alerting_yaml(&slack.url())).unwrap();
        let plan = files.path().join("plan.yaml");
        std::fs::write(&plan, PLAN).unwrap();
        let config = format!(
            "[alerting]\nrules_dir = {:?}\nconfig_file = {:?}\nevaluation_interval = \"1s\"\n\
             [cutover]\nplan_file = {:?}\ngate_interval = \"500ms\"\n",
            rules.display().to_string(),
            alerting.display().to_string(),
            plan.display().to_string(),
        );
        let server = spawn_server_with_env(&config, &[]);
        let admin = token(
            &server.data_dir,
            &["create", "commander", "--scope", "admin"],
        );
        Cutover {
            server,
            admin,
            _files: files,
        }
    }

    fn get(&self, path: &str) -> Value {
        let r = http::get(self.server.addr, path, &[&self.server.reader()]).unwrap();
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }

    /// POSTs an action with the admin token; the status and the JSON answer.
    fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let bearer = Server::bearer(&self.admin);
        let headers = [bearer.as_str(), "Content-Type: application/json"];
        let r = http::post(self.server.addr, path, &headers, body.as_bytes()).unwrap();
        let v = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body));
        (r.status, v)
    }

    fn gate(&self) -> Value {
        self.get("/api/warroom/v1/gates")["gates"][0].clone()
    }

    fn wait_gate(&self, colour: &str, within: Duration) -> Value {
        wait_for(&format!("the gate to be {colour}"), within, || {
            let g = self.gate();
            (g["colour"] == colour).then_some(g)
        })
    }
}

fn slack_gate_failures(slack: &Saas) -> Vec<Arrival> {
    let failed = |a: &Arrival| {
        let text = a.body["text"].as_str().unwrap_or_default();
        text.starts_with("[FIRING]") && text.contains("Gate target error ratio")
    };
    slack.accepted().into_iter().filter(failed).collect()
}

#[test]
fn a_target_breach_at_shift_10_holds_the_cutover_pages_slack_with_the_phase_and_the_timeline_keeps_it_all()
 {
    // Arrange: a server with the plan, and traffic all on the source side.
    let slack = Saas::slack().unwrap();
    let mut c = Cutover::start(&slack);
    let traffic = Traffic::start(c.server.addr, c.server.token.clone());
    let cutover = c.get("/api/warroom/v1/cutover");
    assert_eq!(cutover["phase"], "prepare");
    assert_eq!(cutover["name"], "dc-to-eks");

    // A runbook step, then the advance to shift-10 (prepare has no gates).
    let (status, body) = c.post(
        "/api/warroom/v1/runbook/freeze-deploys/done",
        r#"{"by":"dba","note":"frozen"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = c.post("/api/warroom/v1/cutover/advance", r#"{"by":"alice"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phase"], "shift-10");
    traffic.set(0.10, 0.0);

    // The gate turns green; advancing at once is refused until it has held for 8s.
    let green = c.wait_gate("green", Duration::from_secs(60));
    assert!(green["value"].as_f64().unwrap() < 0.05, "{green}");
    let (status, body) = c.post("/api/warroom/v1/cutover/advance", "{}");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("must stay green"),
        "{body}"
    );

    // The traffic the target takes is measured against the plan's 10%.
    let measured = wait_for("traffic measured", Duration::from_secs(60), || {
        let s = c.get("/api/warroom/v1/cutover")["services"][0].clone();
        s["traffic"]["actual"].as_f64().map(|a| (a, s))
    });
    let (actual, service) = measured;
    assert!((actual - 10.0).abs() < 3.0, "{service}");
    assert_eq!(service["traffic"]["planned"], 10.0);
    assert_eq!(service["traffic"]["drift"], false);
    // Both sides on the same SLIs: the source serves about nine times the target's requests.
    let rps = |side: &str| service[side]["requests"].as_f64().unwrap();
    assert!(
        (rps("source") / rps("target") - 9.0).abs() < 3.0,
        "{service}"
    );
    assert_eq!(service["target"]["error_ratio"], 0.0, "{service}");

    // A crash and restart mid-phase: the phase and the gate's green-since are intact.
    let green_since = c.gate()["green_since_ms"].as_i64().unwrap();
    c.server.kill9();
    c.server.restart();
    let after = c.get("/api/warroom/v1/cutover");
    assert_eq!(after["phase"], "shift-10", "{after}");
    let again = wait_for("a round after the restart", Duration::from_secs(60), || {
        let g = c.gate();
        (g["checked_ms"].as_i64() > Some(green_since + 1)).then_some(g)
    });
    assert_eq!(again["colour"], "green", "{again}");
    assert_eq!(
        again["green_since_ms"].as_i64(),
        Some(green_since),
        "{again}"
    );

    // Act: the target's errors breach.
    traffic.set(0.10, 0.5);

    // Assert: the gate turns red, the cutover holds itself, Slack is paged with the phase.
    let red = c.wait_gate("red", Duration::from_secs(60));
    assert!(red["value"].as_f64().unwrap() >= 0.05, "{red}");
    let held = c.get("/api/warroom/v1/cutover");
    assert_eq!(held["hold"]["gate"], "target error ratio", "{held}");
    let page = wait_for(
        "CutoverGateFailed on Slack",
        Duration::from_secs(60),
        || slack_gate_failures(&slack).into_iter().next(),
    );
    let text = page.body["text"].as_str().unwrap();
    assert!(text.contains("phase shift-10"), "{text}");
    let (status, body) = c.post("/api/warroom/v1/cutover/advance", r#"{"override":"  "}"#);
    assert_eq!(status, 409, "a held cutover does not advance: {body}");

    // The errors stop: green again, resumed, green for hold_for, and the advance goes through.
    // (Resumed once the errors have left the gate's 10s window, not while the ratio still
    // hovers at the threshold and could turn red again.)
    traffic.set(0.10, 0.0);
    wait_for("no errors in the window", Duration::from_secs(60), || {
        let g = c.gate();
        (g["colour"] == "green" && g["value"] == 0.0).then_some(())
    });
    let (status, body) = c.post("/api/warroom/v1/cutover/resume", r#"{"by":"alice"}"#);
    assert_eq!(status, 200, "{body}");
    let advanced = wait_for(
        "the advance after hold_for",
        Duration::from_secs(60),
        || {
            let (status, body) = c.post("/api/warroom/v1/cutover/advance", r#"{"by":"alice"}"#);
            (status == 200).then_some(body)
        },
    );
    assert_eq!(advanced["phase"], "shift-50");
    traffic.set(0.5, 0.0);

    // Past the point of no return, rollback is refused with that reason.
    let (status, body) = c.post("/api/warroom/v1/cutover/rollback", r#"{"to":"shift-10"}"#);
    assert_eq!(status, 409, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("point of no return"),
        "{body}"
    );

    // The service's SLO runs through the `slos:` machinery: burn rates recorded per side.
    let q = http::percent_encode(r#"slo:burn_rate:5m{service="checkout"}"#);
    let sides = wait_for("burn rates per side", Duration::from_secs(60), || {
        let v = c.get(&format!("/api/v1/query?query={q}"));
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        let mut envs: Vec<String> = (result.iter())
            .filter_map(|s| s["metric"]["env"].as_str().map(str::to_owned))
            .collect();
        envs.sort();
        (envs.len() == 2).then_some(envs)
    });
    assert_eq!(sides, ["source", "target"]);

    // The timeline holds every one of these events in order.
    let events = c.get("/api/warroom/v1/timeline?limit=5000")["events"]
        .as_array()
        .unwrap()
        .clone();
    let seen: Vec<String> = events
        .iter()
        .map(|e| {
            let what = e["body"]["what"].as_str().or(e["body"]["colour"].as_str());
            format!("{} {}", e["kind"].as_str().unwrap(), what.unwrap_or(""))
        })
        .collect();
    let expected = [
        "phase began",
        "runbook done",
        "phase advanced",
        "gate green",
        "gate red",
        "hold held: gate target error ratio turned red",
        "alert firing",
        "gate green",
        "resume resumed",
        "phase advanced",
    ];
    let mut at = 0;
    for e in &expected {
        let found = seen[at..].iter().position(|s| s == e);
        assert!(found.is_some(), "{e:?} after event {at} in {seen:#?}");
        at += found.unwrap() + 1;
    }
    let advance = events
        .iter()
        .rfind(|e| e["kind"] == "phase" && e["body"]["what"] == "advanced")
        .unwrap();
    assert_eq!(advance["body"]["to"], "shift-50");
    assert_eq!(advance["body"]["gates"][0]["colour"], "green", "{advance}");
    assert_eq!(advance["actor"], "alice");
    assert_eq!(advance["phase"], "shift-50");
    drop(traffic);
}

#[test]
fn a_plan_reload_takes_a_good_file_and_keeps_the_last_good_plan_for_a_broken_or_rewinding_one() {
    // Arrange: a cutover in shift-10.
    let slack = Saas::slack().unwrap();
    let c = Cutover::start(&slack);
    let (status, body) = c.post("/api/warroom/v1/cutover/advance", "{}");
    assert_eq!(status, 200, "{body}");
    let plan_file = c._files.path().join("plan.yaml");
    let gate_names = || -> Vec<String> {
        let gates = c.get("/api/warroom/v1/gates")["gates"].clone();
        let names = gates.as_array().unwrap().iter();
        names
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(gate_names(), ["target error ratio"]);

    // Act + Assert: a broken file on SIGHUP is reported with its place; nothing changes.
    std::fs::write(
        &plan_file,
        PLAN.replace(
            "    hold_for: 8s\n",
            "    hold_for: 8s\n    hold_four: 4s\n",
        ),
    )
    .unwrap();
    c.server.hangup();
    wait_for("the broken plan reported", Duration::from_secs(60), || {
        let log = c.server.log_text();
        (log.contains("plan reload (SIGHUP) failed, keeping the last good plan")
            && log.contains("plan.yaml:16:5: phases[1]: unknown field `hold_four`"))
        .then_some(())
    });
    assert_eq!(c.get("/api/warroom/v1/cutover")["phase"], "shift-10");

    // A plan without the phase the cutover is in would rewind it: refused on file change.
    std::fs::write(&plan_file, PLAN.replace("shift-10", "shift-15")).unwrap();
    wait_for(
        "the rewinding plan refused",
        Duration::from_secs(60),
        || {
            let log = c.server.log_text();
            log.contains("the plan has no phase \"shift-10\", where the cutover stands")
                .then_some(())
        },
    );
    assert_eq!(c.get("/api/warroom/v1/cutover")["phase"], "shift-10");

    // A good change (a second gate) is taken on file change, in the same phase.
    let second = "        below: 0.05\n      - name: target answers\n        query: sum(rate(http_requests_total{env=\"target\"}[10s]))\n        above: 0\n";
    std::fs::write(&plan_file, PLAN.replace("        below: 0.05\n", second)).unwrap();
    wait_for("the second gate", Duration::from_secs(60), || {
        (gate_names() == ["target error ratio", "target answers"]).then_some(())
    });
    assert_eq!(c.get("/api/warroom/v1/cutover")["phase"], "shift-10");
}

#[test]
fn cutover_actions_need_an_admin_token_and_a_refusal_says_why() {
    // Arrange
    let slack = Saas::slack().unwrap();
    let c = Cutover::start(&slack);
    let ingest = Server::bearer(&c.server.token);
    let headers = [ingest.as_str(), "Content-Type: application/json"];

    // Act
    let by_ingest = http::post(
        c.server.addr,
        "/api/warroom/v1/cutover/advance",
        &headers,
        b"{}",
    )
    .unwrap();
    let no_reason = c.post("/api/warroom/v1/cutover/hold", r#"{"reason":" "}"#);
    let unknown_step = c.post("/api/warroom/v1/runbook/nope/done", "{}");
    let back = c.post("/api/warroom/v1/cutover/rollback", r#"{"to":"prepare"}"#);
    let bad_body = c.post(
        "/api/warroom/v1/cutover/hold",
        r#"{"reason":"x","why":"y"}"#,
    );

    // Assert
    assert_eq!(by_ingest.status, 403, "{}", by_ingest.body);
    assert!(
        by_ingest.body.contains("needs scope admin"),
        "{}",
        by_ingest.body
    );
    assert_eq!(no_reason.0, 409);
    assert_eq!(no_reason.1["reason"], "a reason is required");
    assert_eq!(unknown_step.0, 404, "{}", unknown_step.1);
    assert_eq!(back.0, 409);
    assert_eq!(back.1["reason"], "prepare is not before the current phase");
    assert_eq!(bad_body.0, 400, "{}", bad_body.1);
    assert_eq!(c.get("/api/warroom/v1/cutover")["phase"], "prepare");
}
