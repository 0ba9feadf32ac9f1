//! The account lifecycle: a user changes or resets their password, verifies
//! or changes their e-mail address, sees and ends their sessions, and
//! leaves. Links in mails carry single-use [account tokens](NewAccountToken),
//! stored only hashed; every mail is written to the outbox in the
//! transaction of the change that causes it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::NewAuditEvent;
use crate::error::StoreError;
use crate::mail::NewMail;
use crate::sessions::ClientInfo;
use crate::users::{PasswordHash, UserId};

/// What an account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// Sets a new password (forgotten password).
    Reset,
    /// Verifies the account's address.
    Verify,
    /// Confirms a new address.
    EmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Verify => "verify",
            Self::EmailChange => "email_change",
        }
    }
}

/// An account token to store (only its hash).
#[derive(Debug, Clone)]
pub struct NewAccountToken {
    pub purpose: TokenPurpose,
    pub token_hash: String,
    /// The address a verification or an e-mail change is for.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A token and the mail that carries it, stored together.
#[derive(Debug, Clone)]
pub struct TokenMail {
    pub token: NewAccountToken,
    pub mail: NewMail,
}

/// A stored account token, with what its use needs of the account.
#[derive(Debug, Clone)]
pub struct AccountToken {
    pub id: i64,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub email: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

/// What the lifecycle's use cases read of an account.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub password_hash: PasswordHash,
    pub disabled: bool,
}

/// A new password to store, with what the change carries.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub user: UserId,
    /// Written only if the stored hash is still this one (else `Stale`).
    pub expected: PasswordHash,
    pub new_hash: PasswordHash,
    /// The reset token this change consumes (only if still unused, else `Stale`).
    pub consumes: Option<i64>,
    /// The session that stays (the one a signed-in change opens); every
    /// other session of the user is revoked.
    pub keep_session: Option<String>,
    pub at: DateTime<Utc>,
    pub audit: NewAuditEvent,
    pub mails: Vec<NewMail>,
}

/// A live session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session (refresh-token family) id; also the `sid` of its access tokens.
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// When its newest refresh token was issued.
    pub last_used_at: DateTime<Utc>,
    pub client: ClientInfo,
}

/// Storage for the lifecycle. Every write is one transaction with what it
/// carries (audit event, token, mails); nothing is written when it fails.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError>;

    /// The account whose (normalised) address is `email`.
    async fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError>;

    /// Voids the user's unused tokens of the same purpose, stores `token`
    /// and queues `mails` (e.g. the one carrying the token).
    async fn issue_token(
        &self,
        user: UserId,
        token: NewAccountToken,
        mails: Vec<NewMail>,
    ) -> Result<(), StoreError>;

    async fn find_token(
        &self,
        purpose: TokenPurpose,
        token_hash: &str,
    ) -> Result<Option<AccountToken>, StoreError>;

    /// Sets the new password (if the stored hash is still `expected`),
    /// consumes the reset token it names (if still unused), voids the
    /// user's unused reset tokens, revokes every session of the user, and
    /// stores the audit event and the mails. `Stale` when a condition fails.
    async fn set_password(&self, change: PasswordChange) -> Result<(), StoreError>;

    /// Consumes the verification token (if unused: else `Stale`) and marks
    /// the address verified if it is still the account's.
    async fn verify_email(
        &self,
        token: &AccountToken,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
    ) -> Result<(), StoreError>;

    /// Consumes the change token (if unused: else `Stale`), sets the
    /// account's address to the token's (verified), voids its other e-mail
    /// tokens, stores the audit event and the mails. `Conflict(Email)` when
    /// the address was taken meanwhile.
    async fn change_email(
        &self,
        token: &AccountToken,
        at: DateTime<Utc>,
        audit: NewAuditEvent,
        mails: Vec<NewMail>,
    ) -> Result<(), StoreError>;

    /// The user's live sessions (neither revoked nor expired at `now`), the
    /// most recently used first.
    async fn sessions_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionInfo>, StoreError>;

    /// Ends one of the user's sessions; `false` if the user has no live
    /// session with this id.
    async fn end_session(
        &self,
        user: UserId,
        session: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Deletes expired and used tokens.
    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

pub(crate) mod service;
pub use service::{AccountDeps, AccountPolicy, AccountService};
