//! Route tests: the router driven with `oneshot` over a MemStore, checking Prometheus' JSON
//! shapes, POST forms, parameter errors and status codes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value as JsonValue, json};
use tower::ServiceExt;

use crate::model::{Labels, Sample, Series, WriteBatch};
use crate::store::MetricStore;
use crate::store::mem::MemStore;

async fn app() -> axum::Router {
    let store = Arc::new(MemStore::new());
    let series = ["a", "b"]
        .into_iter()
        .map(|i| Series {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", i)]),
            samples: (0..=10)
                .map(|k| Sample {
                    t: k * 15_000,
                    v: 1.0,
                })
                .collect(),
        })
        .collect();
    store.append(WriteBatch { id: None, series }).await.unwrap();
    super::router(store)
}

async fn send(app: axum::Router, req: Request<Body>) -> (StatusCode, JsonValue) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn get(uri: &str) -> (StatusCode, JsonValue) {
    send(app().await, Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn an_instant_query_answers_a_vector_in_prometheus_shape() {
    let (status, body) = get("/api/v1/query?query=up%7Binstance%3D%22a%22%7D&time=150").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "instance": "a", "job": "node"}, "value": [150, "1"]}
        ]}})
    );
}

#[tokio::test]
async fn scalars_and_strings_have_their_own_result_types() {
    let (_, scalar) = get("/api/v1/query?query=1%2F0&time=1.5").await;
    assert_eq!(
        scalar["data"],
        json!({"resultType": "scalar", "result": [1.5, "+Inf"]})
    );
    let (_, string) = get("/api/v1/query?query=%22hi%22&time=2").await;
    assert_eq!(
        string["data"],
        json!({"resultType": "string", "result": [2, "hi"]})
    );
}

#[tokio::test]
async fn a_posted_form_runs_a_range_query_returning_a_matrix() {
    let req = Request::post("/api/v1/query_range")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "query=sum(up)&start=1970-01-01T00:00:00Z&end=60&step=30s",
        ))
        .unwrap();
    let (status, body) = send(app().await, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["data"],
        json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[0, "2"], [30, "2"], [60, "2"]]}
        ]})
    );
}

#[tokio::test]
async fn a_parse_error_is_bad_data_with_status_400() {
    let (status, body) = get("/api/v1/query?query=sum(").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
}

#[tokio::test]
async fn an_unsupported_function_is_an_execution_error_with_status_422() {
    let (status, body) = get("/api/v1/query?query=histogram_count(up)&time=1").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errorType"], "execution");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("histogram_count()")
    );
}

#[tokio::test]
async fn too_many_points_and_bad_steps_are_refused() {
    let (status, body) = get("/api/v1/query_range?query=up&start=0&end=100000&step=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("11,000 points"));
    let (status, _) = get("/api/v1/query_range?query=up&start=0&end=10&step=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get("/api/v1/query_range?query=up&start=x&end=10&step=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn series_takes_repeated_match_parameters() {
    let uri =
        "/api/v1/series?match[]=up%7Binstance%3D%22a%22%7D&match[]=up%7Binstance%3D%22b%22%7D";
    let (status, body) = get(uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (status, _) = get("/api/v1/series").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn labels_and_label_values_list_sorted_names_and_values() {
    let (_, names) = get("/api/v1/labels").await;
    assert_eq!(names["data"], json!(["__name__", "instance", "job"]));
    let (_, values) = get("/api/v1/label/instance/values").await;
    assert_eq!(values["data"], json!(["a", "b"]));
}

#[tokio::test]
async fn grafana_probes_get_minimal_successful_answers() {
    let (_, info) = get("/api/v1/status/buildinfo").await;
    assert_eq!(info["data"]["version"], "2.42.0");
    let (_, meta) = get("/api/v1/metadata").await;
    assert_eq!(meta, json!({"status": "success", "data": {}}));
    let (_, ex) = get("/api/v1/query_exemplars?query=up").await;
    assert_eq!(ex["data"], json!([]));
}

#[tokio::test]
async fn queries_over_the_limits_fail_as_prometheus_fails_them() {
    // Arrange
    let store = Arc::new(MemStore::new());
    let series = vec![Series {
        labels: Labels::from_pairs([("__name__", "up")]),
        samples: (0..=10)
            .map(|k| Sample {
                t: k * 15_000,
                v: 1.0,
            })
            .collect(),
    }];
    store.append(WriteBatch { id: None, series }).await.unwrap();
    let few = crate::query::QueryLimits {
        max_samples: 5,
        ..Default::default()
    };
    let instant = super::router_with_limits(store.clone(), few);
    let no_time = crate::query::QueryLimits {
        timeout: std::time::Duration::ZERO,
        ..Default::default()
    };
    let range = super::router_with_limits(store, no_time);

    // Act
    let req = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let (many, many_body) = send(instant, req("/api/v1/query?query=up%5B5m%5D&time=150")).await;
    let (slow, slow_body) = send(
        range,
        req("/api/v1/query_range?query=sum(up)&start=0&end=150&step=15"),
    )
    .await;

    // Assert
    assert_eq!(many, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(many_body["errorType"], "execution");
    assert_eq!(
        many_body["error"],
        "query processing would load too many samples into memory in query execution"
    );
    assert_eq!(slow, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(slow_body["errorType"], "timeout");
    assert_eq!(slow_body["error"], "query timed out in query execution");
}
