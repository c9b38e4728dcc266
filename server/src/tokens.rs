//! Agent tokens: [`AgentToken`] is the secret (`wr_` + 64 hex digits) and never prints;
//! [`TokenStore`] keeps only each token's SHA-256 in SQLite, with its name and whether it was
//! revoked, and tells ingest whether a presented token is valid, revoked or unknown.

use std::fmt;
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

/// What the store knows of a presented token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// A live token, created under this name.
    Valid(String),
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
    /// The tokens kept in `pool`'s database (migration `0003_tokens.sql`).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Makes a new token for `name`, stores its digest and returns it: the only time it is seen.
    pub async fn create(&self, name: &str) -> Result<AgentToken, TokenError> {
        check_name(name)?;
        let token = AgentToken::generate().map_err(TokenError::Random)?;
        let inserted = sqlx::query("INSERT INTO tokens (hash, name, created_ms) VALUES (?, ?, ?)")
            .bind(token.digest())
            .bind(name)
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
            "SELECT name, created_ms, revoked_ms FROM tokens ORDER BY name, created_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        let info = |r: sqlx::sqlite::SqliteRow| -> Result<TokenInfo, sqlx::Error> {
            Ok(TokenInfo {
                name: r.try_get("name")?,
                created_ms: r.try_get("created_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
            })
        };
        Ok(rows.into_iter().map(info).collect::<Result<_, _>>()?)
    }

    /// Whether `token` lets its holder in.
    pub async fn check(&self, token: &AgentToken) -> Result<TokenStatus, TokenError> {
        let row = sqlx::query("SELECT name, revoked_ms FROM tokens WHERE hash = ?")
            .bind(token.digest())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(TokenStatus::Unknown);
        };
        let name: String = row.try_get("name")?;
        let revoked: Option<i64> = row.try_get("revoked_ms")?;
        Ok(match revoked {
            None => TokenStatus::Valid(name),
            Some(_) => TokenStatus::Revoked(name),
        })
    }
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

        let token = tokens.create("node-a").await.unwrap();
        assert_eq!(
            tokens.check(&token).await.unwrap(),
            TokenStatus::Valid("node-a".into())
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
        let token = tokens.create("node-a").await.unwrap();

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
        tokens.create("n").await.unwrap();

        assert!(matches!(
            tokens.create("n").await,
            Err(TokenError::NameTaken(_))
        ));
        tokens.revoke("n").await.unwrap();
        tokens.create("n").await.unwrap();

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
            tokens.create("a b").await,
            Err(TokenError::BadName(_))
        ));
        assert!(matches!(
            tokens.create("").await,
            Err(TokenError::BadName(_))
        ));
    }
}
