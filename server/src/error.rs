//! The one error type at the HTTP edge: each variant is a status and a one-line reason. 5xx
//! details are logged here and never sent; clients get "internal error".

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ingest::IngestError;
use crate::store::StoreError;
use crate::tokens::TokenError;

/// What went wrong with a request, as the client is told.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no token, or one the server does not know.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: a known token that was revoked, or whose scope does not allow the route.
    #[error("{0}")]
    Forbidden(String),
    /// 400: the body is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such thing (an alert group, a silence).
    #[error("{0}")]
    NotFound(String),
    /// 409: the action is refused as things stand (a cutover decision, a runbook step); the
    /// reason says why.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body or its sample count is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a content type or encoding the route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: the store is shutting down.
    #[error("the store is closed")]
    Unavailable,
    /// 500: anything else; the detail is logged only.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short snake_case word for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "malformed",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "refused",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Malformed(_) => ApiError::BadRequest(e.to_string()),
            IngestError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => ApiError::Unavailable,
            e => ApiError::Internal(anyhow::Error::new(e).context("store")),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::Internal(anyhow::Error::new(e).context("token store"))
    }
}

impl ApiError {
    /// What the client is told: one line, or for a 5xx a generic word (the detail is logged).
    fn client_text(&self) -> String {
        let status = self.status();
        if !status.is_server_error() {
            // One line, whatever the decoder said.
            return self.to_string().replace(['\r', '\n'], " ");
        }
        tracing::error!(status = status.as_u16(), "{self:#}");
        match self {
            ApiError::Unavailable => "the server is shutting down".to_owned(),
            _ => "internal error".to_owned(),
        }
    }

    /// The response in the Prometheus HTTP API's error shape,
    /// `{"status":"error","errorType":REASON,"error":TEXT}`, for refusals on its routes.
    pub fn into_prometheus_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.reason(),
            "error": self.client_text(),
        });
        let headers = [(header::CONTENT_TYPE, "application/json")];
        challenged(status, (status, headers, body.to_string()).into_response())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let text = self.client_text();
        challenged(status, (status, format!("{text}\n")).into_response())
    }
}

/// A 401 says which scheme to authenticate with.
fn challenged(status: StatusCode, mut response: Response) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        let bearer = HeaderValue::from_static("Bearer");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, bearer);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(e: ApiError) -> (StatusCode, String) {
        let response = e.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn internal_details_are_never_sent_to_the_client() {
        let e = ApiError::Internal(anyhow::anyhow!("disk /secret/path is full"));

        let (status, text) = body(e).await;

        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(text, "internal error\n");
    }

    #[tokio::test]
    async fn client_errors_say_why_on_one_line() {
        let e = ApiError::from(IngestError::Malformed("bad\nthing".into()));

        let (status, text) = body(e).await;

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(text, "malformed body: bad thing\n");
    }

    #[test]
    fn a_401_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized("missing bearer token").into_response();

        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn a_prometheus_route_refusal_has_prometheus_error_shape() {
        let e = ApiError::Forbidden("token \"x\" has scope ingest".into());

        let response = e.into_prometheus_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();

        assert_eq!(status, StatusCode::FORBIDDEN);
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "status": "error",
                "errorType": "forbidden",
                "error": "token \"x\" has scope ingest",
            })
        );
    }
}
