//! Kubelet enrichment end to end: a local kubelet stand-in serves `/pods` behind a bearer token;
//! the cgroups collector then labels a fixture tree's containers with pod, namespace and
//! container names and exports restart counts. With the kubelet down, UIDs label the pods. Over
//! HTTPS, with certificates made in the test: a self-signed one is accepted only when told to
//! skip verification, one signed by a CA when that CA is the `ca_file`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/pods", listener.local_addr().expect("addr"));
    let (app, hits) = kubelet_app(body);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// The kubelet stand-in's routes: `body` on `/pods` for requests with the bearer token, and
/// the count of requests.
fn kubelet_app(body: String) -> (Router, Arc<AtomicUsize>) {
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
    (Router::new().route("/pods", get(handler)), hits)
}

fn config(url: String, token_file: &std::path::Path) -> KubeletConfig {
    KubeletConfig {
        url,
        token_file: Some(token_file.to_path_buf()),
        insecure_skip_verify: true,
        ca_file: None,
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

/// A kubelet's serving certificate for `127.0.0.1`, and the PEM of what a client trusts for it.
struct ServingCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The certificate itself when self-signed, else the CA that signed it.
    trust_pem: String,
}

/// A self-signed certificate, as a kubelet generates when no CA issued it one.
fn self_signed() -> ServingCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    ServingCert {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
        trust_pem: cert.pem(),
    }
}

/// A certificate for `127.0.0.1` signed by a generated CA (the cluster's kubelet serving CA).
fn signed_by_a_ca() -> ServingCert {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    (ca_params.distinguished_name).push(rcgen::DnType::CommonName, "kubelet serving CA");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.signed_by(&key, &ca).expect("cert");
    ServingCert {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        trust_pem: ca.pem(),
    }
}

/// Accepts TLS connections with `cert`; a failed handshake (a client that refused the
/// certificate) is skipped, as a server would.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// [`kubelet`] over HTTPS with `cert`: the URL is `https://127.0.0.1:<port>/pods`.
async fn https_kubelet(body: String, cert: &ServingCert) -> (String, Arc<AtomicUsize>) {
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let tls = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())
        .expect("server certificate");
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}/pods", tcp.local_addr().expect("addr"));
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
    };
    let (app, hits) = kubelet_app(body);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test]
async fn an_https_kubelet_with_a_self_signed_certificate_enriches_pods_when_told_to_skip_verification()
 {
    // Arrange
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = fixtures::hybrid(tmp.path(), 2).expect("fixture");
    let token = tmp.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let (url, hits) = https_kubelet(pod_list(&fx), &self_signed()).await;
    let mut kubelet = Kubelet::new(config(url, &token)).expect("client");

    // Act
    let directory = kubelet.refresh().await.expect("pods over HTTPS");
    let (_, inventory, partial) = collect(&fx, Some(directory));

    // Assert
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(partial, 0);
    assert_eq!(
        &labels_of(&inventory, &fx.containers[1].id)[1..],
        &[
            ("container", "app".into()),
            ("pod", "web-0".into()),
            ("namespace", "shop".into())
        ]
    );
}

#[tokio::test]
async fn an_untrusted_kubelet_certificate_is_a_counted_error_and_uids_still_label_pods() {
    // Arrange: verification on, and nothing trusts the self-signed certificate.
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = fixtures::hybrid(tmp.path(), 2).expect("fixture");
    let token = tmp.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let (url, hits) = https_kubelet(pod_list(&fx), &self_signed()).await;
    let verified = KubeletConfig {
        insecure_skip_verify: false,
        ..config(url.clone(), &token)
    };
    let mut kubelet = Kubelet::new(verified).expect("client");
    let mut errors = ErrorLog::default();

    // Act
    let err = kubelet
        .refresh()
        .await
        .expect_err("an untrusted certificate");
    errors.record("kubelet", &err);
    let (_, inventory, partial) = collect(&fx, Some(kubelet.cached()));

    // Assert
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("kubelet {url}: ")),
        "{message}"
    );
    assert!(message.contains("certificate"), "{message}");
    assert_eq!(errors.count("kubelet"), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no request got through");
    assert_eq!(partial, 0);
    let c = &fx.containers[1];
    assert_eq!(
        &labels_of(&inventory, &c.id)[1..],
        &[
            ("container", String::new()),
            ("pod", c.pod_uid.clone()),
            ("namespace", String::new())
        ]
    );
}

#[tokio::test]
async fn a_kubelet_certificate_signed_by_the_configured_ca_file_is_verified() {
    // Arrange: verification on, the CA given as `ca_file`; a second kubelet with another
    // CA's certificate is refused by the same configuration.
    let tmp = tempfile::tempdir().expect("tmp");
    let fx = fixtures::v2_systemd(tmp.path(), 2).expect("fixture");
    let token = tmp.path().join("token");
    std::fs::write(&token, TOKEN).expect("token");
    let ours = signed_by_a_ca();
    let ca_file = tmp.path().join("kubelet-ca.crt");
    std::fs::write(&ca_file, &ours.trust_pem).expect("CA file");
    let (url, _) = https_kubelet(pod_list(&fx), &ours).await;
    let (other_url, _) = https_kubelet(pod_list(&fx), &signed_by_a_ca()).await;
    let with_ca = |url: String| KubeletConfig {
        insecure_skip_verify: false,
        ca_file: Some(ca_file.clone()),
        ..config(url, &token)
    };

    // Act
    let directory = Kubelet::new(with_ca(url))
        .expect("client")
        .refresh()
        .await
        .expect("pods from a kubelet the CA vouches for");
    let other = Kubelet::new(with_ca(other_url))
        .expect("client")
        .refresh()
        .await;

    // Assert
    let (_, inventory, _) = collect(&fx, Some(directory));
    assert_eq!(
        labels_of(&inventory, &fx.containers[0].id)[2],
        ("pod", "web-0".into())
    );
    let refused = other
        .expect_err("another CA's certificate is refused")
        .to_string();
    assert!(refused.contains("certificate"), "{refused}");
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_fails_the_client_naming_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("file");

    for file in [tmp.path().join("missing.pem"), empty] {
        let cfg = KubeletConfig {
            ca_file: Some(file.clone()),
            ..KubeletConfig::default()
        };

        let err = Kubelet::new(cfg).err().expect("an error");

        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
    }
}
