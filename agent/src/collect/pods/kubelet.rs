//! The kubelet's `/pods` endpoint, fetched at most once per `refresh` so pod and container names
//! cost one HTTP request a minute, not one per collection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::PodDirectory;
use crate::collect::CollectError;

/// Where and how to ask the kubelet for this node's pods.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubeletConfig {
    /// The pod list URL; the kubelet's authenticated port serves it as `https://<node>:10250/pods`.
    #[serde(default = "default_url")]
    pub url: String,
    /// A file holding the bearer token (a service account's), read at each fetch so rotated
    /// tokens are picked up; none sends no `Authorization`.
    #[serde(default = "default_token_file")]
    pub token_file: Option<PathBuf>,
    /// Accept any TLS certificate: kubelets serve self-signed ones by default.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The CA that signs the kubelet's serving certificate (PEM, one or more certificates), the
    /// only root trusted for it when set; none trusts the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How old the pod list may get before it is fetched again, e.g. "60s".
    #[serde(default = "default_refresh", with = "humantime_serde")]
    pub refresh: Duration,
}

fn default_url() -> String {
    "https://127.0.0.1:10250/pods".to_string()
}

fn default_token_file() -> Option<PathBuf> {
    Some(PathBuf::from(
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
    ))
}

fn default_refresh() -> Duration {
    Duration::from_secs(60)
}

impl Default for KubeletConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            token_file: default_token_file(),
            insecure_skip_verify: false,
            ca_file: None,
            refresh: default_refresh(),
        }
    }
}

/// A kubelet client keeping the last pod list it fetched.
pub struct Kubelet {
    config: KubeletConfig,
    client: reqwest::Client,
    directory: Arc<PodDirectory>,
    last_attempt: Option<Instant>,
}

impl Kubelet {
    /// A client for `config`; nothing is fetched yet. A `ca_file` that cannot be read or holds
    /// no certificate is an error naming it.
    pub fn new(config: KubeletConfig) -> Result<Self, CollectError> {
        let mut builder = reqwest::Client::builder();
        if let Some(path) = &config.ca_file {
            builder = builder.tls_certs_only(read_ca_file(path)?);
        }
        let client = builder
            .tls_danger_accept_invalid_certs(config.insecure_skip_verify)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CollectError::Other(format!("kubelet client: {e}")))?;
        Ok(Self {
            config,
            client,
            directory: Arc::default(),
            last_attempt: None,
        })
    }

    /// The pod directory, fetched again when the last attempt is older than `refresh`. A failed
    /// fetch is returned as the error of that pass only; later passes until the next attempt get
    /// the last good directory (empty before any success), so a down kubelet is neither hammered
    /// nor counted more than once per `refresh`.
    pub async fn refresh(&mut self) -> Result<Arc<PodDirectory>, CollectError> {
        let due = self
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.config.refresh);
        if !due {
            return Ok(self.directory.clone());
        }
        self.last_attempt = Some(Instant::now());
        self.directory = Arc::new(self.fetch().await?);
        Ok(self.directory.clone())
    }

    /// The last directory fetched successfully (empty before any success).
    pub fn cached(&self) -> Arc<PodDirectory> {
        self.directory.clone()
    }

    async fn fetch(&self) -> Result<PodDirectory, CollectError> {
        let url = &self.config.url;
        let fail = |what: String| CollectError::Other(format!("kubelet {url}: {what}"));
        let mut request = self.client.get(url);
        if let Some(path) = &self.config.token_file {
            let token = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| CollectError::read(path, e))?;
            request = request.bearer_auth(token.trim());
        }
        let response = request.send().await.map_err(|e| fail(with_causes(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        let body = response.bytes().await.map_err(|e| fail(with_causes(&e)))?;
        PodDirectory::from_pod_list(&body).map_err(|e| fail(format!("bad pod list: {e}")))
    }
}

/// `err` and its causes, `: `-joined: reqwest's own message leaves out why a request failed
/// (an untrusted certificate, a refused connection).
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        let part = e.to_string();
        // hyper and rustls repeat an inner message in the outer one at times.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

/// The certificates of the PEM file at `path`.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, CollectError> {
    let pem = std::fs::read(path).map_err(|e| CollectError::read(path, e))?;
    let bad =
        |what: String| CollectError::Other(format!("kubelet ca_file {}: {what}", path.display()));
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_reads_human_durations_and_rejects_unknown_fields() {
        // Arrange
        let good = "url = \"https://10.0.0.1:10250/pods\"\ninsecure_skip_verify = true\nrefresh = \"90s\"\nca_file = \"/etc/kubernetes/pki/kubelet-ca.crt\"\n";
        let bad = "url = \"x\"\nrefesh = \"90s\"\n";

        // Act
        let config: KubeletConfig = toml::from_str(good).unwrap();
        let err = toml::from_str::<KubeletConfig>(bad).unwrap_err();

        // Assert
        assert_eq!(config.refresh, Duration::from_secs(90));
        assert!(config.insecure_skip_verify);
        assert_eq!(config.token_file, default_token_file());
        assert_eq!(
            config.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/kubernetes/pki/kubelet-ca.crt"))
        );
        assert!(err.to_string().contains("refesh"), "{err}");
    }
}
