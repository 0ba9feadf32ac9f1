//! Ports: what the use cases need from the outside world. `rolegate-persistence`
//! implements the stores, `rolegate-auth` the hasher and the token issuer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{StoreError, UniqueField};
use crate::types::{Email, Password, PasswordHash, RoleName, UserId, Username};

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

    /// Looks a user up by the case-insensitive username key.
    async fn find_credentials(
        &self,
        username: &Username,
    ) -> Result<Option<UserCredentials>, StoreError>;

    /// The names among `names` that are not roles.
    async fn missing_roles(&self, names: &[RoleName]) -> Result<Vec<RoleName>, StoreError>;
}

/// Readiness of a backing service (the database).
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

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
