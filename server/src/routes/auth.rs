//! Who may call a route: [`Auth`] checks the bearer token and its [`Scope`]. Writes (ingest,
//! alerts, silences, acknowledgements) need an `ingest` or `admin` token; reads (the query API,
//! alert groups, silences) a `read` or `admin` one, unless `[api] anonymous_read` lets reads in
//! without any. `/healthz`, `/readyz` and `/metrics` ask for nothing.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::Deserialize;

use crate::error::ApiError;
use crate::tokens::{Access, AgentToken, Scope, TokenStatus, TokenStore};

/// The `[api]` section: who may read the APIs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Let reads (`/api/v1/*` queries, `GET /api/warroom/v1/*`, `GET /api/v2/silences`) in
    /// without a token. Off by default; the server warns at start when it is on.
    pub anonymous_read: bool,
}

/// The token check every guarded route makes.
#[derive(Clone, Debug)]
pub struct Auth {
    tokens: TokenStore,
    anonymous_read: bool,
}

impl Auth {
    /// Checks presented tokens against `tokens`, letting reads in without one if `config` says so.
    pub fn new(tokens: TokenStore, config: ApiConfig) -> Self {
        Self {
            tokens,
            anonymous_read: config.anonymous_read,
        }
    }

    /// Lets in a write by an `ingest` or `admin` token; the token's name.
    pub async fn write(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        self.token(headers, Access::Write).await
    }

    /// Lets in a cutover action or a note by an `admin` token; the token's name.
    pub async fn steer(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        self.token(headers, Access::Steer).await
    }

    /// Lets in a read by a `read` or `admin` token, or by anyone with anonymous reads on (the
    /// token is not looked at then).
    pub async fn read(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.anonymous_read {
            return Ok(());
        }
        self.token(headers, Access::Read).await.map(drop)
    }

    /// 401 without a token or with an unknown one; 403 for a revoked one or one whose scope
    /// does not allow `access`.
    async fn token(&self, headers: &HeaderMap, access: Access) -> Result<String, ApiError> {
        let token = bearer(headers).ok_or(ApiError::Unauthorized("a bearer token is required"))?;
        match self.tokens.check(&token).await? {
            TokenStatus::Valid { name, scope } => permit(name, scope, access),
            TokenStatus::Revoked(name) => {
                Err(ApiError::Forbidden(format!("token {name:?} was revoked")))
            }
            TokenStatus::Unknown => Err(ApiError::Unauthorized("unknown token")),
        }
    }
}

/// `Authorization: Bearer <token>`, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<AgentToken> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| AgentToken::presented(token))
}

fn permit(name: String, scope: Scope, access: Access) -> Result<String, ApiError> {
    match scope.allows(access) {
        true => Ok(name),
        false => Err(ApiError::Forbidden(format!(
            "token {name:?} has scope {scope}; this route needs scope {}",
            access.scopes()
        ))),
    }
}

/// `routes` (the Prometheus query API) behind the read check, refusals in Prometheus' JSON
/// error shape so Grafana shows the reason.
pub fn prometheus_reads(routes: Router, auth: Auth) -> Router {
    routes.route_layer(middleware::from_fn_with_state(auth, check_read))
}

async fn check_read(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    match auth.read(req.headers()).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_prometheus_response(),
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
