//! Sessions: refresh-token families, stored as hashes, and the secrets that
//! make and seal them. The use cases (refresh, sign-out) are in [`refresh`].

mod introspect;
mod refresh;
pub mod revocation;
#[cfg(test)]
mod tests;

pub use refresh::Refreshed;
pub use revocation::{
    POLL_OVERLAP, Revocation, RevocationFeed, RevocationPoller, RevocationSet, Revoked,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::users::UserId;

/// Where a request comes from, as a session's owner will see it (and as
/// the rate limits key it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (the rate limits' key).
    pub addr: String,
    /// The `User-Agent` header, shortened.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// The longest user agent kept.
    pub const MAX_USER_AGENT: usize = 255;

    pub fn new(addr: impl Into<String>, user_agent: Option<&str>) -> Self {
        Self {
            addr: addr.into(),
            user_agent: user_agent
                .map(|ua| {
                    ua.chars()
                        .filter(|c| !c.is_control())
                        .take(Self::MAX_USER_AGENT)
                        .collect::<String>()
                })
                .filter(|ua| !ua.is_empty()),
        }
    }
}

/// A refresh token to be stored (only its hash).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// The session (token family) it belongs to.
    pub family: String,
    pub user_id: UserId,
    pub token_hash: String,
    /// 0 for the token issued at sign-in, +1 per rotation.
    pub generation: i32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the session (its generation 0) started.
    pub session_started_at: DateTime<Utc>,
    /// Where the session was opened from.
    pub client: ClientInfo,
    /// How the session was opened.
    pub amr: Vec<crate::mfa::AuthMethod>,
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRecord {
    pub id: i64,
    pub family: String,
    pub user_id: UserId,
    pub token_hash: String,
    pub generation: i32,
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for its successor.
    pub rotated_at: Option<DateTime<Utc>>,
    /// The successor, sealed with a key only the holder of this token can derive.
    pub successor_sealed: Option<String>,
    pub revoked: bool,
    pub session_started_at: DateTime<Utc>,
    pub client: ClientInfo,
    pub amr: Vec<crate::mfa::AuthMethod>,
}

/// Storage of refresh tokens (hashes only), grouped in families (sessions).
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_refresh(&self, token: NewRefreshToken) -> Result<(), StoreError>;

    async fn find_refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StoreError>;

    /// Atomically marks token `id` rotated (only if it was not already) and
    /// stores its successor. `Ok(false)`: someone else rotated it first.
    async fn rotate_refresh(
        &self,
        id: i64,
        rotated_at: DateTime<Utc>,
        successor_sealed: String,
        successor: NewRefreshToken,
    ) -> Result<bool, StoreError>;

    /// The token of `family` at `generation`.
    async fn find_generation(
        &self,
        family: &str,
        generation: i32,
    ) -> Result<Option<RefreshRecord>, StoreError>;

    /// Whether `family` is a session of `user` that was not revoked (it
    /// still has a token that is not revoked).
    async fn session_live(&self, family: &str, user: UserId) -> Result<bool, StoreError>;

    /// Revokes every token of a family; returns how many were live.
    async fn revoke_family(&self, family: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Revokes every token of every family of a user.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Keeps the user's `keep` most recently used live sessions (a family
    /// whose newest token is neither rotated, revoked nor expired at `now`;
    /// "used" is when that newest token was issued) and revokes the others;
    /// returns how many tokens were revoked. Run concurrently, it never
    /// revokes one of the `keep` newest.
    async fn revoke_sessions_beyond(
        &self,
        user: UserId,
        keep: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes tokens that expired before `before`.
    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Refresh-token secrets: generation, hashing, and sealing a successor so
/// that only the holder of its predecessor can open it.
pub trait RefreshSecrets: Send + Sync {
    /// A new opaque token (≥ 256 bits from a CSPRNG, URL-safe).
    fn generate(&self) -> String;
    /// A new session (family) id.
    fn new_family_id(&self) -> String;
    /// The stored form of a token.
    fn hash(&self, token: &str) -> String;
    /// Seals `successor` with a key derived from `presented`.
    fn seal(&self, successor: &str, presented: &str) -> String;
    /// Opens what `seal` produced; `None` if it does not open.
    fn open(&self, sealed: &str, presented: &str) -> Option<String>;
}
