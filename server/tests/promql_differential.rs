//! Differential test: the same dataset goes into a real Prometheus 2.42 (remote_write) and a
//! MemStore; every query runs through Prometheus' HTTP API and through warroom's query router,
//! and the answers must agree (labels exactly, values within a relative 1e-9, NaN equals NaN).
//! Constructs warroom does not evaluate are listed in `UNSUPPORTED` and must fail with 422.
#![allow(clippy::unwrap_used, missing_docs)]

mod differential;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;
use tower::ServiceExt;
use warroom_server::model::WriteBatch;
use warroom_server::prompb;
use warroom_server::store::MetricStore;
use warroom_server::store::mem::MemStore;

use differential::dataset::{STEP_MS, STEPS, generate};
use differential::prometheus::Prometheus;

/// Queries evaluated at every instant time and as range queries. `{AT}` is replaced by a time
/// inside the data (seconds).
const QUERIES: &[&str] = &[
    "http_requests_total",
    r#"http_requests_total{code="500"}"#,
    r#"http_requests_total{job=~"a.*",code!="200"}"#,
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "irate(http_requests_total[1m])",
    "resets(http_requests_total[50m])",
    "delta(node_temp_celsius[10m])",
    "idelta(node_temp_celsius[5m])",
    "deriv(node_temp_celsius[10m])",
    "predict_linear(node_temp_celsius[10m], 600)",
    "avg_over_time(node_temp_celsius[7m])",
    "min_over_time(node_temp_celsius[7m])",
    "max_over_time(node_temp_celsius[7m])",
    "sum_over_time(node_temp_celsius[7m])",
    "count_over_time(node_temp_celsius[7m])",
    "last_over_time(node_temp_celsius[7m])",
    "quantile_over_time(0.9, node_temp_celsius[7m])",
    "stddev_over_time(node_temp_celsius[7m])",
    "stdvar_over_time(node_temp_celsius[7m])",
    "changes(flaky_gauge[30m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "avg by (env) (node_temp_celsius)",
    "min by (env) (node_temp_celsius)",
    "max(node_temp_celsius)",
    "count by (job) (http_requests_total)",
    "stddev(node_temp_celsius)",
    "stdvar by (env) (node_temp_celsius)",
    "group by (job) (http_requests_total)",
    "topk(2, node_temp_celsius)",
    "bottomk by (job) (1, rate(http_requests_total[5m]))",
    "quantile(0.75, node_temp_celsius)",
    r#"count_values("bucket", floor(node_temp_celsius / 5))"#,
    "histogram_quantile(0.9, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(request_duration_seconds_bucket[5m]))",
    "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
    "abs(node_temp_celsius - 20)",
    "ceil(node_temp_celsius)",
    "floor(node_temp_celsius)",
    "round(node_temp_celsius, 0.5)",
    "clamp_min(node_temp_celsius, 20)",
    "clamp_max(node_temp_celsius, 20)",
    "clamp(node_temp_celsius, 18, 22)",
    "sqrt(node_temp_celsius)",
    "ln(memory_bytes)",
    r#"absent(nonexistent{job="x", instance=~"y"})"#,
    "absent(node_temp_celsius)",
    "absent_over_time(batch_progress[1m])",
    "time()",
    "vector(1)",
    "scalar(sum(node_temp_celsius))",
    "scalar(node_temp_celsius)",
    "sort_desc(node_temp_celsius)",
    "timestamp(batch_progress)",
    r#"label_replace(node_temp_celsius, "host", "h-$1", "instance", "(.*)")"#,
    r#"label_join(node_temp_celsius, "id", "/", "env", "instance")"#,
    "node_temp_celsius > 20",
    "node_temp_celsius > bool 20",
    "20 < node_temp_celsius",
    "-node_temp_celsius",
    "2 * 3 + 1 - 2 ^ 3 % 5",
    "memory_bytes / machine_memory_bytes",
    "memory_bytes / on(instance) machine_memory_bytes",
    "memory_bytes * on(instance) group_left(region) machine_info",
    "machine_info * on(instance) group_right(region) memory_bytes",
    "sum without (code) (rate(http_requests_total[5m])) / ignoring(code) group_right rate(http_requests_total[5m])",
    "rate(http_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))",
    "memory_bytes > bool on(instance, job) machine_memory_bytes",
    r#"http_requests_total and http_requests_total{code="500"}"#,
    r#"http_requests_total{job="api"} or http_requests_total{code="500"}"#,
    r#"http_requests_total unless on(code) http_requests_total{code="500"}"#,
    "node_temp_celsius offset 10m",
    "node_temp_celsius @ {AT}",
    "rate(http_requests_total[5m] @ {AT})",
    "rate(http_requests_total[5m] offset 5m)",
    "max_over_time(rate(http_requests_total[2m])[10m:1m])",
    "max_over_time(node_temp_celsius[10m:30s])",
    "avg_over_time(node_temp_celsius[5m:1m] offset 2m)",
    "batch_progress",
    "count_over_time(batch_progress[10m])",
    "last_over_time(batch_progress[10m])",
    "flaky_gauge",
    "http_requests_total + on(job) http_requests_total",
    "memory_bytes + ignoring(job) machine_info",
    "hour()",
    "minute(vector(time()))",
    "day_of_week()",
    "day_of_month()",
    "day_of_year()",
    "days_in_month()",
    "month()",
    "year(node_temp_celsius * 1e7)",
];

/// Constructs warroom does not evaluate; Prometheus answers them, warroom must refuse them (422,
/// or 400 where promql-parser itself does not know the function).
const UNSUPPORTED: &[&str] = &[
    "holt_winters(node_temp_celsius[10m], 0.5, 0.5)",
    "histogram_count(request_duration_seconds_count)",
    "histogram_sum(request_duration_seconds_sum)",
    "histogram_fraction(0, 0.1, request_duration_seconds_bucket)",
];

#[tokio::test]
async fn the_query_engine_answers_promql_as_prometheus_2_42_does() {
    // Arrange
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end = now - now % STEP_MS - 60_000;
    let base = end - STEPS * STEP_MS;
    let data = generate(base);
    let prom = Prometheus::start().await;
    prom.remote_write(&to_prompb(&data)).await;
    let store = Arc::new(MemStore::new());
    store
        .append(WriteBatch {
            id: None,
            series: data,
        })
        .await
        .unwrap();
    let router = warroom_server::routes::query::router(store);
    let at = seconds(base + 20 * 60_000);
    let times = [
        end,
        end - 433_000,
        base + 31 * 60_000,
        base + 36 * 60_000,
        base + 20 * 60_000,
        end + 240_000,
    ];
    let mut mismatches = Vec::new();
    let mut compared = 0;

    // Act
    for q in QUERIES.iter().map(|q| q.replace("{AT}", &at)) {
        for t in times {
            let params = [("query", q.clone()), ("time", seconds(t))];
            compared += 1;
            compare(&prom, &router, "/api/v1/query", &params, &mut mismatches).await;
        }
        for (start, step) in [(base + 5 * 60_000, "60"), (base, "37s")] {
            let params = [
                ("query", q.clone()),
                ("start", seconds(start)),
                ("end", seconds(end + 120_000)),
                ("step", step.to_owned()),
            ];
            compared += 1;
            compare(
                &prom,
                &router,
                "/api/v1/query_range",
                &params,
                &mut mismatches,
            )
            .await;
        }
    }
    for q in UNSUPPORTED {
        let params = [("query", (*q).to_owned()), ("time", seconds(end))];
        let (status, _) = call_router(&router, "/api/v1/query", &params).await;
        let theirs = prom.get("/api/v1/query", &params).await;
        if theirs["status"] != "success" || !(status == 422 || status == 400) {
            mismatches.push(format!(
                "unsupported {q}: prometheus {theirs}, warroom status {status}"
            ));
        }
    }

    // Assert
    eprintln!(
        "differential: {compared} comparisons, {} unsupported, {:.1?}",
        UNSUPPORTED.len(),
        started.elapsed()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// URL-encodes query parameters.
pub fn encode(params: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

fn to_prompb(data: &[warroom_server::model::Series]) -> prompb::WriteRequest {
    prompb::WriteRequest {
        timeseries: data
            .iter()
            .map(|s| prompb::TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|l| prompb::Label {
                        name: l.name.to_string(),
                        value: l.value.to_string(),
                    })
                    .collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|x| prompb::Sample {
                        value: x.v,
                        timestamp: x.t,
                    })
                    .collect(),
            })
            .collect(),
    }
}

async fn call_router(router: &axum::Router, path: &str, params: &[(&str, String)]) -> (u16, Value) {
    let req = Request::get(format!("{path}?{}", encode(params)))
        .body(Body::empty())
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn compare(
    prom: &Prometheus,
    router: &axum::Router,
    path: &str,
    params: &[(&str, String)],
    out: &mut Vec<String>,
) {
    let theirs = prom.get(path, params).await;
    let (_, ours) = call_router(router, path, params).await;
    if let Err(why) = same(&theirs, &ours) {
        out.push(format!(
            "{path} {params:?}: {why}\n  prometheus: {}\n  warroom:    {}",
            short(&theirs),
            short(&ours)
        ));
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 600 {
        format!("{}…", &s[..600])
    } else {
        s
    }
}

/// Both errors (any message), or the same result type and the same normalized result.
fn same(theirs: &Value, ours: &Value) -> Result<(), String> {
    match (theirs["status"].as_str(), ours["status"].as_str()) {
        (Some("error"), Some("error")) => return Ok(()),
        (a, b) if a != b => return Err(format!("status {a:?} vs {b:?}")),
        _ => {}
    }
    let (t, o) = (&theirs["data"], &ours["data"]);
    if t["resultType"] != o["resultType"] {
        return Err(format!(
            "resultType {} vs {}",
            t["resultType"], o["resultType"]
        ));
    }
    let (tn, on) = (normalize(&t["result"]), normalize(&o["result"]));
    if tn.len() != on.len() {
        return Err(format!("{} vs {} series", tn.len(), on.len()));
    }
    for ((tm, tp), (om, op)) in tn.iter().zip(&on) {
        if tm != om {
            return Err(format!("labels {tm} vs {om}"));
        }
        if tp.len() != op.len() {
            return Err(format!("{tm}: {} vs {} points", tp.len(), op.len()));
        }
        for (a, b) in tp.iter().zip(op) {
            if a.0 != b.0 || !close(a.1, b.1) {
                return Err(format!("{tm}: point {a:?} vs {b:?}"));
            }
        }
    }
    Ok(())
}

/// Series as (metric JSON, [(ms, value)]) sorted by metric; a scalar or string is one series.
fn normalize(result: &Value) -> Vec<(String, Vec<(i64, f64)>)> {
    let point = |p: &Value| {
        let t = (p[0].as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64;
        let v = p[1]
            .as_str()
            .map_or(f64::NAN, |s| s.parse().unwrap_or(f64::NAN));
        (t, v)
    };
    let mut out: Vec<(String, Vec<(i64, f64)>)> = match result.as_array() {
        Some(items) if items.first().is_some_and(Value::is_object) || items.is_empty() => items
            .iter()
            .map(|s| {
                let points = match s.get("values") {
                    Some(vs) => vs
                        .as_array()
                        .map(|a| a.iter().map(point).collect())
                        .unwrap_or_default(),
                    None => vec![point(&s["value"])],
                };
                (s["metric"].to_string(), points)
            })
            .collect(),
        _ => vec![(String::new(), vec![point(result)])],
    };
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
        || (a - b).abs() < 1e-12
}
