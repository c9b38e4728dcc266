//! The HTTP probe: a GET on a fresh connection (no pooling, no redirects), timed until the
//! response head arrives; 2xx and 3xx are success.

use super::ProbeError;

/// The client probes share: no idle connections kept, so every run pays DNS, connect and TLS
/// like a new client would, and redirects are not followed, so a 3xx is itself the answer.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// GETs `url`, succeeding on a 2xx or 3xx status.
pub async fn check(client: Option<&reqwest::Client>, url: &str) -> Result<(), ProbeError> {
    let client = client.ok_or(ProbeError::NoClient)?;
    let response = client.get(url).send().await.map_err(ProbeError::Http)?;
    let status = response.status();
    if status.is_success() || status.is_redirection() {
        Ok(())
    } else {
        Err(ProbeError::Status(status.as_u16()))
    }
}
