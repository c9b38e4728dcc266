//! Posting a JSON payload and reading the answer as a receiver kind defines it: success, a retry
//! (with the service's `Retry-After`), or a permanent failure. Errors never include the URL,
//! which for Slack is itself the secret.

use std::time::Duration;

use super::NotifyError;

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

/// POSTs `body` as JSON to `url` and classifies the answer.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    answers: Answers,
) -> Result<(), NotifyError> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| NotifyError::Retry {
            after: None,
            reason: format!("request failed: {}", e.without_url()),
        })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    classify(answers, status, retry_after.as_deref(), &text)
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
