//! The domain's errors: what stores report ([`StoreError`]) and what the use
//! cases report ([`Error`]). They carry facts, never wire text: the HTTP
//! layer decides status codes and messages (the tutorial's included), in one
//! table. Causes are kept as `#[source]`, for the log.

use std::collections::BTreeMap;

use crate::roles::{Permission, RoleName};

/// A cause kept for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Which unique field a write collided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    /// A role name.
    Role,
    /// A permission name.
    Permission,
    /// A passkey's credential id.
    Credential,
}

/// What a store (database) can report. Drivers' errors are translated into
/// these by the adapters; nothing driver-specific leaves them except as a
/// source for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated on {0:?}")]
    Conflict(UniqueField),
    #[error("role does not exist: {0}")]
    UnknownRole(String),
    #[error("permission does not exist: {0}")]
    UnknownPermission(String),
    /// The user or role the write addresses does not exist.
    #[error("not found")]
    NotFound,
    /// The write would leave no active user with the `admin` role (the
    /// store checks this inside the write's transaction, under a lock).
    #[error("the last active admin cannot be removed")]
    LastAdmin,
    /// A precondition of the write no longer holds (a concurrent change).
    #[error("changed concurrently")]
    Stale,
    /// The store cannot be reached (connection refused, pool timed out…).
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else; the detail is for the log, never for a response.
    #[error("store failed")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// An internal error described by a message (no underlying error value).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }
}

/// Invalid input, by field name. Serialises as `{"field": "message"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    /// Records the first error of `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Records the error of a parse, if any, and returns the value.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }
    /// One field's error.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }
}

/// `field message; field message`, in field order.
impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        f.write_str(&parts.join("; "))
    }
}

/// An actor would reach beyond what they hold: what they tried, and the
/// first permission involved that they lack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escalation {
    /// Acting on a user who holds `missing`.
    ActOnUser {
        username: String,
        missing: Permission,
    },
    /// Giving a role that grants `missing`.
    GrantRole { role: RoleName, missing: Permission },
    /// Putting `missing` into a role.
    GrantPermission { missing: Permission },
    /// Changing a role that grants `missing`.
    ChangeRole { role: RoleName, missing: Permission },
    /// Deleting a role that grants `missing`.
    DeleteRole { role: RoleName, missing: Permission },
}

/// A rule of the built-in roles that a change would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltInRule {
    /// Built-in roles cannot be deleted.
    CannotDelete(RoleName),
    /// `admin` always keeps the permissions needed to administer.
    AdminKeeps(&'static str),
    /// `user` (every new account's role) never grants an administrative permission.
    UserRoleCannotGrant(Permission),
}

/// Why a refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// Not a token rolegate issued (or its session was deleted).
    Unknown,
    /// Its lifetime ended.
    Expired,
    /// Presented again after it was rotated: the session is revoked now.
    Reused,
    /// Its session had ended: signed out, revoked after a reuse, a password
    /// change or reset, a disabled account, or ended by its owner.
    Revoked,
}

/// What the use cases report: one enum for the domain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    Validation(FieldErrors),
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the e-mail address is taken")]
    EmailTaken,
    /// A role name that names no role (as given, shortened).
    #[error("unknown role {0}")]
    UnknownRole(String),
    /// A permission name that names no permission (as given, shortened).
    #[error("unknown permission {0}")]
    UnknownPermission(String),
    /// Sign-up asked for roles the policy does not give.
    #[error("roles not allowed at sign-up: {0:?}")]
    RoleNotAllowed(Vec<RoleName>),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("refresh refused: {0:?}")]
    RefreshInvalid(RefreshFailure),
    /// An account token (reset, verification, e-mail change) that is
    /// unknown, used, voided or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// A second-factor code (TOTP or recovery code) that is wrong, used or
    /// out of its time window.
    #[error("invalid second-factor code")]
    InvalidMfaCode,
    /// An `mfaToken` that is unknown, used, expired or voided.
    #[error("invalid or expired mfaToken")]
    InvalidMfaToken,
    /// TOTP is active already (remove it first).
    #[error("TOTP is enabled already")]
    MfaAlreadyEnabled,
    /// No TOTP enrolment waits for confirmation.
    #[error("no TOTP enrolment is pending")]
    MfaNotPending,
    /// The caller has no second factor of this kind.
    #[error("no second factor is enabled")]
    MfaNotEnabled,
    /// Sign-in refused until the address is verified.
    #[error("the e-mail address is not verified")]
    EmailNotVerified,
    /// The address is verified already.
    #[error("the e-mail address is verified already")]
    AlreadyVerified,
    /// No live session of the caller has this id.
    #[error("session not found")]
    SessionNotFound,
    /// The account (the caller's or the one signing in) is disabled.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The caller's account no longer exists.
    #[error("the acting account no longer exists")]
    ActorGone,
    #[error("user not found")]
    UserNotFound,
    #[error("role not found: {0}")]
    RoleNotFound(String),
    #[error("role exists: {0}")]
    RoleExists(String),
    #[error("permission exists: {0}")]
    PermissionExists(String),
    #[error("the last active admin would be removed")]
    LastAdmin,
    #[error("a built-in role rule: {0:?}")]
    BuiltInRole(BuiltInRule),
    #[error("escalation: {0:?}")]
    Escalation(Escalation),
    /// What a change relied on was changed by someone else meanwhile.
    #[error("changed concurrently")]
    ConcurrentChange,
    /// The caller's current permissions (not their token's) lack this one.
    #[error("missing permission {0}")]
    NotAllowed(&'static str),
    /// Too many attempts: retry after this many seconds.
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    /// The rate-limit counters' store failed and the policy refuses what
    /// it cannot count (`rate_limit.on_store_error = "deny"`).
    #[error("the rate-limit store is unavailable")]
    RateLimitUnavailable(#[source] BoxError),
    /// Too many password hashes at once; retry shortly.
    #[error("password hashing at capacity")]
    Overloaded,
    /// A passkey or its ceremony was refused (the kind is for the log).
    #[error("passkey refused: {0:?}")]
    PasskeyRefused(crate::passkeys::PasskeyFailure),
    /// The caller has no passkey with this id.
    #[error("passkey not found")]
    PasskeyNotFound,
    /// The credential is registered already.
    #[error("passkey registered already")]
    PasskeyExists,
    #[error("a backing service is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl Error {
    /// One invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::single(field, message))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(UniqueField::Username) => Self::UsernameTaken,
            StoreError::Conflict(UniqueField::Email) => Self::EmailTaken,
            StoreError::Conflict(UniqueField::Role) => Self::RoleExists(String::new()),
            StoreError::Conflict(UniqueField::Permission) => Self::PermissionExists(String::new()),
            StoreError::Conflict(UniqueField::Credential) => Self::PasskeyExists,
            StoreError::UnknownRole(r) => Self::UnknownRole(r),
            StoreError::UnknownPermission(p) => Self::UnknownPermission(p),
            StoreError::NotFound => Self::UserNotFound,
            StoreError::LastAdmin => Self::LastAdmin,
            StoreError::Stale => Self::ConcurrentChange,
            StoreError::Unavailable(source) => Self::Unavailable(source),
            StoreError::Internal(source) => Self::Internal(source),
        }
    }
}

impl From<crate::passkeys::PasskeyError> for Error {
    fn from(e: crate::passkeys::PasskeyError) -> Self {
        use crate::passkeys::PasskeyError;
        match e {
            PasskeyError::Malformed(m) => Self::invalid("credential", m),
            PasskeyError::Refused(why) => Self::PasskeyRefused(why),
            PasskeyError::Internal(source) => Self::Internal(source),
        }
    }
}
