//! Ports: what the use cases need from the outside world. `rolegate-persistence`
//! implements the stores, `rolegate-auth` the hasher and the token issuer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{StoreError, UniqueField};
use crate::types::{Email, Password, PasswordHash, Permission, RoleName, UserId, Username};

/// A user to be created, with the roles it gets.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub password_hash: PasswordHash,
    pub roles: Vec<RoleName>,
}

/// What sign-in needs to know about a user.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: PasswordHash,
    /// Ordered by the role's creation: user, moderator, admin, then custom roles.
    pub roles: Vec<RoleName>,
    /// What the roles grant, de-duplicated and sorted.
    pub permissions: Vec<Permission>,
    pub disabled: bool,
}

/// The one row a password check needs (roles are read only after it succeeds).
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: PasswordHash,
    pub disabled: bool,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user and its role links in one transaction. A duplicate
    /// username or email is `StoreError::Conflict`, an unknown role
    /// `StoreError::UnknownRole`; on any error nothing is written.
    async fn create_user(&self, user: NewUser) -> Result<UserId, StoreError>;

    /// Which unique field is already taken by another user, if any.
    async fn find_conflict(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<Option<UniqueField>, StoreError>;

    /// What checking a password needs, by the case-insensitive username key:
    /// one query, the same for every user, so that a wrong password for an
    /// existing user costs what an unknown user costs.
    async fn find_login(&self, username: &Username) -> Result<Option<LoginRecord>, StoreError>;

    /// What the user's roles are and what they grant (permissions
    /// de-duplicated and sorted): read after a password check succeeds.
    async fn grants_of(&self, id: UserId) -> Result<(Vec<RoleName>, Vec<Permission>), StoreError>;

    /// A user with fresh roles, permissions and status (at a token refresh).
    async fn find_by_id(&self, id: UserId) -> Result<Option<UserCredentials>, StoreError>;

    /// The names among `names` that are not roles.
    async fn missing_roles(&self, names: &[RoleName]) -> Result<Vec<RoleName>, StoreError>;
}

/// Readiness of a backing service (the database).
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes running and queued: shed load instead of queueing
    /// without bound (each argon2id hash holds ~19 MiB while it runs).
    #[error("password hashing is at capacity")]
    Overloaded,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Password hashing. Implementations must not block the async workers.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Verifies `password` against `hash`. With `None` (unknown user) it
    /// verifies against a dummy hash, so that an unknown user costs the same
    /// as a wrong password, and returns `false`.
    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError>;
}

/// Who an access token is for.
#[derive(Debug, Clone)]
pub struct AccessSubject {
    pub user_id: UserId,
    pub username: String,
    pub roles: Vec<RoleName>,
    pub permissions: Vec<Permission>,
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("token issuing failed: {0}")]
pub struct TokenError(pub String);

pub trait TokenIssuer: Send + Sync {
    fn issue_access(&self, subject: &AccessSubject) -> Result<IssuedToken, TokenError>;
}

/// Time, injectable so that tests can drive expiry without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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
    /// Whether the grace window's one extra use has been spent.
    pub grace_used: bool,
    pub revoked: bool,
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

    /// Spends the grace window's one extra use of token `id`; `Ok(false)` if already spent.
    async fn claim_grace(&self, id: i64) -> Result<bool, StoreError>;

    /// Revokes every token of a family; returns how many were live.
    async fn revoke_family(&self, family: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Revokes every token of every family of a user.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        at: DateTime<Utc>,
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

/// A clock that only moves when told to: for tests (expiry without sleeping)
/// and simulations.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map_or_else(|e| *e.into_inner(), |now| *now)
    }
}

/// Failed or counted attempts under one key (an account, a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub last: DateTime<Utc>,
}

/// Counters for rate limits. In-process by default; a shared store (the
/// database) makes several instances enforce one limit.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Adds one to `key`, starting over when its last hit is older than
    /// `window_secs`; returns the new state.
    async fn record(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<Attempts, StoreError>;

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError>;

    async fn clear(&self, key: &str) -> Result<(), StoreError>;
}
