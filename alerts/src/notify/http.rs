//! Posting a JSON payload and reading the answer as a receiver kind defines it: success, a retry
//! (with the service's `Retry-After`), or a permanent failure. Errors name the host and port,
//! never the whole URL (for Slack it is itself the secret), and the secret is blanked out of any
//! answer they quote.

use std::time::Duration;

use super::NotifyError;
use super::secret::Secret;

/// How a receiver kind reads HTTP statuses.
#[derive(Clone, Copy, Debug)]
pub struct Answers {
    /// Statuses meaning delivered (Slack 200, PagerDuty 202).
    pub ok: &'static [u16],
    /// Statuses that no retry can fix.
    pub permanent: &'static [u16],
}

/// Reads one answer. 429 and 5xx are retried; the listed permanent statuses are not; any other
/// status is treated as permanent too, since retrying an unknown 4xx only repeats it.
pub fn classify(
    answers: Answers,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<(), NotifyError> {
    if answers.ok.contains(&status) {
        return Ok(());
    }
    let body: String = body.chars().take(200).collect();
    let reason = format!("HTTP {status}: {}", body.trim());
    if status == 429 || status >= 500 {
        let after = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(NotifyError::Retry { after, reason });
    }
    Err(NotifyError::Permanent { reason })
}

/// POSTs `body` as JSON to `url` and classifies the answer; `secret` (the webhook URL, the
/// routing key) is blanked out of the error's text.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    answers: Answers,
    secret: &Secret,
) -> Result<(), NotifyError> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| NotifyError::Retry {
            after: None,
            reason: secret.blank_in(&format!(
                "request to {} failed: {}",
                endpoint(url),
                causes(e)
            )),
        })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    classify(
        answers,
        status,
        retry_after.as_deref(),
        &secret.blank_in(&text),
    )
}

/// `host:port` of `url`, or `the receiver` when it does not parse.
fn endpoint(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => "the receiver".to_owned(),
        },
        Err(_) => "the receiver".to_owned(),
    }
}

/// The error and its causes (`error sending request: ...: Connection refused`), without the
/// URL reqwest would print.
fn causes(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: Answers = Answers {
        ok: &[200],
        permanent: &[400, 403, 404, 410],
    };

    #[test]
    fn a_429_is_retried_after_the_services_retry_after() {
        let got = classify(SLACK, 429, Some("2"), "rate_limited");
        assert_eq!(
            got,
            Err(NotifyError::Retry {
                after: Some(Duration::from_secs(2)),
                reason: "HTTP 429: rate_limited".into()
            })
        );
    }

    #[tokio::test]
    async fn a_refused_connection_names_host_port_and_cause_but_never_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/services/T1/B2/S3CRET");
        let secret = Secret::new(url.clone());
        let client = reqwest::Client::new();
        let got = post_json(&client, &url, &serde_json::json!({}), SLACK, &secret).await;
        let Err(NotifyError::Retry { reason, .. }) = got else {
            panic!("{got:?}");
        };
        assert!(
            reason.starts_with(&format!("request to 127.0.0.1:{port} failed: ")),
            "{reason}"
        );
        assert!(reason.to_lowercase().contains("refused"), "{reason}");
        assert!(
            !reason.contains("S3CRET") && !reason.contains("/services"),
            "{reason}"
        );
    }

    #[test]
    fn a_5xx_is_retried_and_a_410_is_permanent() {
        assert!(matches!(
            classify(SLACK, 503, None, ""),
            Err(NotifyError::Retry { after: None, .. })
        ));
        assert!(matches!(
            classify(SLACK, 410, None, "channel_is_archived"),
            Err(NotifyError::Permanent { .. })
        ));
        assert_eq!(classify(SLACK, 200, None, "ok"), Ok(()));
    }
}
