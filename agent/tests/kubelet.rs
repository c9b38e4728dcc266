//! Kubelet enrichment end to end: a local kubelet stand-in serves `/pods` behind a bearer token;
//! the cgroups collector then labels a fixture tree's containers with pod, namespace and
//! container names and exports restart counts. With the kubelet down, UIDs label the pods.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use warroom_agent::collect::cgroups::Cgroups;
use warroom_agent::collect::cgroups::fixtures::{self, Fixture};
use warroom_agent::collect::pods::{Kubelet, KubeletConfig, PodDirectory};
use warroom_agent::collect::{Collector, Cx, ErrorLog, Inventory};
use warroom_agent::metrics::{Buffer, Labels};

const TOKEN: &str = "kubelet-test-token";

/// A PodList naming the fixture's first pod and its two containers, like a kubelet's.
fn pod_list(fx: &Fixture) -> String {
    let (pause, app) = (&fx.containers[0], &fx.containers[1]);
    serde_json::json!({
        "kind": "PodList", "apiVersion": "v1", "metadata": {},
        "items": [{
            "metadata": {"name": "web-0", "namespace": "shop", "uid": app.pod_uid,
                         "labels": {"app": "web"}, "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "shop/web:1.2"},
                                                          {"name": "sidecar", "image": "envoy:1.30"}]},
            "status": {
                "phase": "Running", "qosClass": "Guaranteed", "podIP": "10.1.2.3",
                "containerStatuses": [
                    {"name": "app", "containerID": format!("containerd://{}", app.id), "restartCount": 4,
                     "ready": true, "image": "shop/web:1.2", "state": {"running": {"startedAt": "2024-05-01T10:00:05Z"}}},
                    {"name": "sidecar", "containerID": format!("containerd://{}", pause.id), "restartCount": 0, "ready": true}
                ]
            }
        }]
    })
    .to_string()
}

/// Serves `body` on `/pods` of a loopback port for requests with the bearer token; counts them.
async fn kubelet(body: String) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let handler = move |headers: HeaderMap| async move {
        counter.fetch_add(1, Ordering::SeqCst);
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {TOKEN}")) {
            return (StatusCode::UNAUTHORIZED, String::new());
        }
        (StatusCode::OK, body)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/pods", listener.local_addr().expect("addr"));
    let app = Router::new().route("/pods", get(handler));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

fn config(url: String, token_file: &std::path::Path) -> KubeletConfig {
    KubeletConfig {
        url,
        token_file: Some(token_file.to_path_buf()),
        insecure_skip_verify: true,
        refresh: Duration::from_secs(60),
    }
}

fn collect(fx: &Fixture, pods: Option<Arc<PodDirectory>>) -> (Buffer, Inventory, usize) {
    let (mut out, mut inventory) = (
        Buffer::new(),
        Inventory {
            pods,
            ..Inventory::default()
        },
    );
    let mut cx = Cx::new(&mut out, &mut inventory);
    Cgroups::new(fx.roots.clone())
        .collect(&mut cx)
        .expect("collect");
    let partial = cx.take_partial().len();
    (out, inventory, partial)
}

fn labels_of<'a>(inventory: &'a Inventory, id: &str) -> &'a Labels {
    &inventory
        .containers
        .iter()
        .find(|c| c.id == id)
        .expect("container")
        .labels
}

#[tokio::test]
async fn kubelet_names_label_containers_and_restarts_are_exported() {
    // Arrange
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = fixtures::v2_systemd(tmp.path(), 4).expect("fixture");
    let token = tmp.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    let (url, hits) = kubelet(pod_list(&fx)).await;
    let mut kubelet = Kubelet::new(config(url, &token)).expect("client");

    // Act
    let directory = kubelet.refresh().await.expect("pods");
    let again = kubelet.refresh().await.expect("cached");
    let (out, inventory, partial) = collect(&fx, Some(directory));

    // Assert
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the second refresh is served from the cache"
    );
    assert!(Arc::ptr_eq(&again, &kubelet.cached()));
    assert_eq!(partial, 0);
    let app = labels_of(&inventory, &fx.containers[1].id);
    assert_eq!(
        &app[1..],
        &[
            ("container", "app".into()),
            ("pod", "web-0".into()),
            ("namespace", "shop".into())
        ]
    );
    let other_pod = labels_of(&inventory, &fx.containers[2].id);
    assert_eq!(other_pod[2], ("pod", fx.containers[2].pod_uid.clone()));
    let restarts = out
        .families()
        .iter()
        .find(|f| f.name == "kube_pod_container_status_restarts_total")
        .expect("restarts");
    let app_restarts = restarts
        .samples
        .iter()
        .find(|s| s.labels.contains(&("container", "app".into())))
        .expect("app");
    assert_eq!(
        app_restarts.value,
        warroom_agent::metrics::Value::Number(4.0)
    );
}

#[tokio::test]
async fn a_wrong_token_is_an_error_and_a_down_kubelet_leaves_uids_as_pod_labels() {
    // Arrange
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = fixtures::v1_cgroupfs(tmp.path(), 2).expect("fixture");
    let token = tmp.path().join("token");
    std::fs::write(&token, "wrong").expect("token");
    let (url, _) = kubelet(pod_list(&fx)).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down_url = format!("http://{}/pods", closed.local_addr().expect("addr"));
    drop(closed);
    let mut errors = ErrorLog::default();

    // Act
    let unauthorized = Kubelet::new(config(url, &token))
        .expect("client")
        .refresh()
        .await;
    let mut down = Kubelet::new(config(down_url, &token)).expect("client");
    let result = down.refresh().await;
    if let Err(e) = &result {
        errors.record("kubelet", e);
    }
    let after = down
        .refresh()
        .await
        .expect("no new attempt before `refresh` has passed");
    let (_, inventory, partial) = collect(&fx, Some(after));

    // Assert
    assert!(unauthorized.unwrap_err().to_string().contains("401"));
    assert_eq!(errors.count("kubelet"), 1);
    assert_eq!(partial, 0);
    let c = &fx.containers[0];
    assert_eq!(
        &labels_of(&inventory, &c.id)[1..],
        &[
            ("container", String::new()),
            ("pod", c.pod_uid.clone()),
            ("namespace", String::new())
        ]
    );
}
