//! The HTTP side of shipping: the agent token (a secret that never prints), one POST of a gzip'd
//! OTLP body to `{server}/v1/metrics`, and what the answer means — delivered, worth retrying from
//! the spool, or permanently refused.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::{StatusCode, Url};

use super::ShipError;

/// The agent's bearer token. Its `Debug` and `Display` print `[redacted]`; only
/// [`AgentToken::expose`] gives the value, for the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentToken(String);

impl AgentToken {
    /// Reads the token from the first line of `path`, surrounding whitespace trimmed.
    pub fn from_file(path: &Path) -> Result<Self, ShipError> {
        let text = std::fs::read_to_string(path).map_err(|source| ShipError::Token {
            path: path.to_path_buf(),
            reason: source.to_string(),
        })?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(ShipError::Token {
                path: path.to_path_buf(),
                reason: "the file is empty".into(),
            });
        }
        Ok(Self(token.to_owned()))
    }

    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a batch waits in the spool instead of being delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryReason {
    /// No connection to the server (refused, unreachable, DNS, TLS …).
    Unreachable(String),
    /// The server did not answer within the configured timeout.
    Timeout,
    /// The server answered with a status worth retrying (429, 5xx, 401, 403, …).
    Status(u16),
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "server unreachable: {e}"),
            Self::Timeout => f.write_str("server timed out"),
            Self::Status(code) => write!(f, "server answered {code}"),
        }
    }
}

/// The server's verdict on one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// 2xx: the server holds the batch durably.
    Accepted,
    /// Keep the batch and try again later.
    Retry(RetryReason),
    /// 400, 413, 415: the batch itself is wrong and will never be accepted.
    Rejected {
        /// The HTTP status.
        code: u16,
        /// The server's one-line reason, shortened.
        reason: String,
    },
}

/// Posts batches to one server.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    url: Url,
    token: Option<AgentToken>,
}

impl Client {
    /// A client for `{server}/v1/metrics` whose requests give up after `timeout`.
    pub(crate) fn new(
        server: &str,
        token: Option<AgentToken>,
        timeout: Duration,
    ) -> Result<Self, ShipError> {
        let bad_url = |reason: String| ShipError::Server {
            url: server.to_owned(),
            reason,
        };
        let base = Url::parse(server).map_err(|e| bad_url(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad_url("the scheme must be http or https".into()));
        }
        let url = Url::parse(&format!("{}/v1/metrics", server.trim_end_matches('/')))
            .map_err(|e| bad_url(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("warroom-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ShipError::Http(e.to_string()))?;
        Ok(Self { http, url, token })
    }

    /// Posts one gzip'd OTLP body and says what the answer means.
    pub(crate) async fn post(&self, body: &[u8]) -> Delivery {
        let mut req = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header(CONTENT_ENCODING, "gzip")
            .body(body.to_vec());
        if let Some(token) = &self.token {
            // bearer_auth marks the header sensitive, so it is hidden from reqwest's own Debug.
            req = req.bearer_auth(token.expose());
        }
        match req.send().await {
            Ok(resp) => verdict(resp).await,
            Err(e) if e.is_timeout() => Delivery::Retry(RetryReason::Timeout),
            Err(e) => Delivery::Retry(RetryReason::Unreachable(error_chain(&e))),
        }
    }
}

async fn verdict(resp: reqwest::Response) -> Delivery {
    let status = resp.status();
    if status.is_success() {
        return Delivery::Accepted;
    }
    if !is_permanent(status) {
        return Delivery::Retry(RetryReason::Status(status.as_u16()));
    }
    let text = resp.text().await.unwrap_or_default();
    let reason: String = text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    Delivery::Rejected {
        code: status.as_u16(),
        reason,
    }
}

/// 400, 413 and 415 say the batch itself is wrong: sending it again cannot help. Everything
/// else that is not 2xx (429, 5xx, 401/403 while a token is being fixed, 404 behind a proxy being
/// reconfigured) may pass later, so the batch is kept.
pub(crate) fn is_permanent(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 413 | 415)
}

/// The error and its sources on one line: reqwest's own message alone is often just
/// "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_appears_in_debug_or_display() {
        let token = AgentToken("s3cr3t-token".into());

        let shown = format!("{token:?} {token} {:?}", Some(&token));

        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert_eq!(token.expose(), "s3cr3t-token");
    }

    #[test]
    fn a_missing_token_file_is_an_error_naming_the_file() {
        let err = AgentToken::from_file(Path::new("/nonexistent/warroom-token"))
            .expect_err("missing file");

        assert!(
            err.to_string().contains("/nonexistent/warroom-token"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_token_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");

        let err = AgentToken::from_file(dir.path()).expect_err("a directory");

        assert!(
            err.to_string().contains(&*dir.path().to_string_lossy()),
            "{err}"
        );
    }

    #[test]
    fn an_empty_token_file_is_an_error() {
        let file = tempfile::NamedTempFile::new().expect("tempfile");

        let err = AgentToken::from_file(file.path()).expect_err("empty");

        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn only_bad_request_too_large_and_wrong_type_are_permanent() {
        let permanent: Vec<u16> = [200, 400, 401, 403, 404, 413, 415, 429, 500, 503]
            .into_iter()
            .filter(|&c| is_permanent(StatusCode::from_u16(c).expect("status")))
            .collect();

        assert_eq!(permanent, [400, 413, 415]);
    }

    #[test]
    fn a_server_url_that_is_not_http_is_refused() {
        let err = Client::new("ftp://x", None, Duration::from_secs(1)).expect_err("scheme");

        assert!(err.to_string().contains("ftp://x"), "{err}");
    }
}
