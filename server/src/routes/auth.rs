//! The bearer token every API route but the health and query ones asks for.

use axum::http::{HeaderMap, header};

use crate::error::ApiError;
use crate::tokens::{AgentToken, TokenStatus, TokenStore};

/// Lets in a live token; 401 without one or with an unknown one, 403 for a revoked one.
pub async fn authorize(tokens: &TokenStore, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| AgentToken::presented(token))
        .ok_or(ApiError::Unauthorized("a bearer token is required"))?;
    match tokens.check(&token).await? {
        TokenStatus::Valid(name) => Ok(name),
        TokenStatus::Revoked(name) => {
            Err(ApiError::Forbidden(format!("token {name:?} was revoked")))
        }
        TokenStatus::Unknown => Err(ApiError::Unauthorized("unknown token")),
    }
}
