//! API tokens: [`AgentToken`] is the secret (`wr_` + 64 hex digits) and never prints;
//! [`TokenStore`] keeps only each token's SHA-256 in SQLite, with its name, its [`Scope`] and
//! whether it was revoked, and tells the routes whether a presented token is valid, revoked or
//! unknown. [`Scope::allows`] decides whether a scope may read or write.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::{Row, SqlitePool};

/// The prefix of every token warroom makes, so a leaked one is recognisable in a secret scan.
const PREFIX: &str = "wr_";

/// An agent's bearer token. `Debug` and `Display` print `[redacted]`; only [`AgentToken::expose`]
/// gives the secret, for the one time it is shown to the operator.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentToken(String);

impl AgentToken {
    /// A new random token: `wr_` and 32 bytes from the OS's generator, in hex.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!("{PREFIX}{}", hex(&bytes))))
    }

    /// The token a request presented (`Authorization: Bearer <token>`), surrounding space trimmed;
    /// `None` when it is empty.
    pub fn presented(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Self(text.to_owned()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest stored in place of the token.
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentToken([redacted])")
    }
}

impl fmt::Display for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a token lets its holder do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Send data in (OTLP, remote_write, alerts, silences and acks), not read it: what agents
    /// and Prometheus servers hold. Tokens made before scopes existed have this one.
    #[default]
    Ingest,
    /// Read (the query API, alert groups, silences), not write: what Grafana holds.
    Read,
    /// Both.
    Admin,
}

/// What a route does with the data, and so which scopes may call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// It only reads.
    Read,
    /// It changes something: samples, alerts, silences, acknowledgements.
    Write,
    /// It steers the cutover or writes into the timeline (advance, hold, rollback, runbook
    /// steps, sign-offs, notes): until people and roles exist, only `admin` tokens may.
    Steer,
}

impl Scope {
    /// The scope's name, as `--scope` takes it and the database keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    /// Whether a token of this scope may do `access`.
    pub fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Scope::Admin, _) | (Scope::Ingest, Access::Write) | (Scope::Read, Access::Read)
        )
    }
}

impl Access {
    /// The scopes that allow it, for the 403 that names them.
    pub fn scopes(self) -> &'static str {
        match self {
            Access::Read => "read or admin",
            Access::Write => "ingest or admin",
            Access::Steer => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is none of `ingest`, `read`, `admin`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: expected ingest, read or admin")]
pub struct UnknownScope(String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ingest" => Ok(Scope::Ingest),
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            other => Err(UnknownScope(other.to_owned())),
        }
    }
}

/// What the store knows of a presented token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// A live token, created under this name with this scope.
    Valid {
        /// The name given at creation.
        name: String,
        /// What it may do.
        scope: Scope,
    },
    /// A token that was revoked: the sender is known but no longer let in.
    Revoked(String),
    /// No such token.
    Unknown,
}

/// One row of `warroom token list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The name given at creation.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_ms: Option<i64>,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name already has a live token.
    #[error("a live token named {0:?} exists; revoke it first")]
    NameTaken(String),
    /// No live token has that name.
    #[error("no live token is named {0:?}")]
    NoSuchName(String),
    /// Names are what operators type and see: short and plain.
    #[error("token name {0:?} must be 1 to 64 characters of letters, digits, '.', '_' or '-'")]
    BadName(String),
    /// The OS random generator failed.
    #[error("random generator: {0}")]
    Random(getrandom::Error),
    /// SQLite failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The tokens table of the server's database.
#[derive(Clone, Debug)]
pub struct TokenStore {
    pool: SqlitePool,
}

impl TokenStore {
    /// The tokens kept in `pool`'s database (migrations `0003_tokens.sql`, `0008_token_scopes.sql`).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Makes a new token for `name` with `scope`, stores its digest and returns it: the only
    /// time it is seen.
    pub async fn create(&self, name: &str, scope: Scope) -> Result<AgentToken, TokenError> {
        check_name(name)?;
        let token = AgentToken::generate().map_err(TokenError::Random)?;
        let inserted =
            sqlx::query("INSERT INTO tokens (hash, name, scope, created_ms) VALUES (?, ?, ?, ?)")
                .bind(token.digest())
                .bind(name)
                .bind(scope.as_str())
                .bind(now_ms())
                .execute(&self.pool)
                .await;
        match inserted {
            Ok(_) => Ok(token),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(TokenError::NameTaken(name.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the live token of `name`; its holder gets 403 from then on.
    pub async fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let done =
            sqlx::query("UPDATE tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL")
                .bind(now_ms())
                .bind(name)
                .execute(&self.pool)
                .await?;
        match done.rows_affected() {
            0 => Err(TokenError::NoSuchName(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// Every token ever made, by name then creation time (digests are not shown).
    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let rows = sqlx::query(
            "SELECT name, scope, created_ms, revoked_ms FROM tokens ORDER BY name, created_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        let info = |r: sqlx::sqlite::SqliteRow| -> Result<TokenInfo, sqlx::Error> {
            Ok(TokenInfo {
                name: r.try_get("name")?,
                scope: scope_of(&r)?,
                created_ms: r.try_get("created_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
            })
        };
        Ok(rows.into_iter().map(info).collect::<Result<_, _>>()?)
    }

    /// Whether `token` lets its holder in.
    pub async fn check(&self, token: &AgentToken) -> Result<TokenStatus, TokenError> {
        let row = sqlx::query("SELECT name, scope, revoked_ms FROM tokens WHERE hash = ?")
            .bind(token.digest())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(TokenStatus::Unknown);
        };
        let name: String = row.try_get("name")?;
        let scope = scope_of(&row)?;
        let revoked: Option<i64> = row.try_get("revoked_ms")?;
        Ok(match revoked {
            None => TokenStatus::Valid { name, scope },
            Some(_) => TokenStatus::Revoked(name),
        })
    }
}

/// A row's `scope` column (its CHECK constraint admits only the three names).
fn scope_of(row: &sqlx::sqlite::SqliteRow) -> Result<Scope, sqlx::Error> {
    let text: String = row.try_get("scope")?;
    text.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn check_name(name: &str) -> Result<(), TokenError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(TokenError::BadName(name.to_owned()));
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(&dir.path().join("t.db")).await.unwrap();
        (dir, TokenStore::new(pool))
    }

    #[test]
    fn a_token_never_appears_in_debug_or_display() {
        let token = AgentToken::generate().unwrap();

        let shown = format!("{token:?} {token} {:?}", Some(&token));

        assert!(!shown.contains(token.expose()), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert!(token.expose().starts_with("wr_"));
        assert_eq!(token.expose().len(), 3 + 64);
    }

    #[tokio::test]
    async fn a_created_token_is_valid_until_revoked_and_then_revoked_not_unknown() {
        let (_dir, tokens) = store().await;

        let token = tokens.create("node-a", Scope::Ingest).await.unwrap();
        assert_eq!(
            tokens.check(&token).await.unwrap(),
            TokenStatus::Valid {
                name: "node-a".into(),
                scope: Scope::Ingest
            }
        );

        tokens.revoke("node-a").await.unwrap();
        assert_eq!(
            tokens.check(&token).await.unwrap(),
            TokenStatus::Revoked("node-a".into())
        );
        let stranger = AgentToken::presented("wr_nope").unwrap();
        assert_eq!(tokens.check(&stranger).await.unwrap(), TokenStatus::Unknown);
    }

    #[tokio::test]
    async fn only_the_digest_is_stored() {
        let (_dir, tokens) = store().await;
        let token = tokens.create("node-a", Scope::Ingest).await.unwrap();

        let hash: Vec<u8> = sqlx::query_scalar("SELECT hash FROM tokens")
            .fetch_one(&tokens.pool)
            .await
            .unwrap();

        assert_eq!(hash, token.digest());
        assert_eq!(hash.len(), 32);
    }

    #[tokio::test]
    async fn a_name_has_one_live_token_but_can_get_a_new_one_after_revocation() {
        let (_dir, tokens) = store().await;
        tokens.create("n", Scope::Ingest).await.unwrap();

        assert!(matches!(
            tokens.create("n", Scope::Ingest).await,
            Err(TokenError::NameTaken(_))
        ));
        tokens.revoke("n").await.unwrap();
        tokens.create("n", Scope::Ingest).await.unwrap();

        let list = tokens.list().await.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list.iter().filter(|t| t.revoked_ms.is_none()).count(), 1);
    }

    #[tokio::test]
    async fn revoking_an_unknown_name_or_creating_a_strange_one_fails() {
        let (_dir, tokens) = store().await;

        assert!(matches!(
            tokens.revoke("ghost").await,
            Err(TokenError::NoSuchName(_))
        ));
        assert!(matches!(
            tokens.create("a b", Scope::Ingest).await,
            Err(TokenError::BadName(_))
        ));
        assert!(matches!(
            tokens.create("", Scope::Ingest).await,
            Err(TokenError::BadName(_))
        ));
    }

    #[test]
    fn ingest_writes_read_reads_and_only_admin_steers() {
        let allowed =
            |scope: Scope| [Access::Read, Access::Write, Access::Steer].map(|a| scope.allows(a));

        assert_eq!(allowed(Scope::Ingest), [false, true, false]);
        assert_eq!(allowed(Scope::Read), [true, false, false]);
        assert_eq!(allowed(Scope::Admin), [true, true, true]);
    }

    #[test]
    fn a_scope_parses_from_its_name_and_an_unknown_one_is_named_in_the_error() {
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin] {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }

        let err = "write".parse::<Scope>().unwrap_err().to_string();

        assert_eq!(
            err,
            "unknown scope \"write\": expected ingest, read or admin"
        );
    }

    #[tokio::test]
    async fn a_token_keeps_the_scope_it_was_created_with_and_the_list_shows_it() {
        let (_dir, tokens) = store().await;

        let grafana = tokens.create("grafana", Scope::Read).await.unwrap();
        tokens.create("ops", Scope::Admin).await.unwrap();

        assert_eq!(
            tokens.check(&grafana).await.unwrap(),
            TokenStatus::Valid {
                name: "grafana".into(),
                scope: Scope::Read
            }
        );
        let scopes: Vec<(String, Scope)> = (tokens.list().await.unwrap().into_iter())
            .map(|t| (t.name, t.scope))
            .collect();
        assert_eq!(
            scopes,
            [
                ("grafana".into(), Scope::Read),
                ("ops".into(), Scope::Admin)
            ]
        );
    }

    #[tokio::test]
    async fn a_token_made_before_scopes_existed_is_an_ingest_token_after_the_migration() {
        // Arrange: a database at migration 0007, with a token row of that schema.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let old = SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate!("./migrations")
            .run_to(7, &old)
            .await
            .unwrap();
        let token = AgentToken::generate().unwrap();
        sqlx::query("INSERT INTO tokens (hash, name, created_ms) VALUES (?, 'old-agent', 1)")
            .bind(token.digest())
            .execute(&old)
            .await
            .unwrap();
        old.close().await;

        // Act: the server opens it, running the migrations left.
        let tokens = TokenStore::new(crate::db::open(&path).await.unwrap());

        // Assert
        assert_eq!(
            tokens.check(&token).await.unwrap(),
            TokenStatus::Valid {
                name: "old-agent".into(),
                scope: Scope::Ingest
            }
        );
    }
}
