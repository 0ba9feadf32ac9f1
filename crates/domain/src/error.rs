//! The domain's errors: what stores report, and what use cases report.

use std::collections::BTreeMap;

/// Which unique field a write collided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    /// A role name.
    Role,
    /// A permission name.
    Permission,
}

/// What a store (database) can report. Drivers' errors are translated into
/// these by `rolegate-persistence`; nothing driver-specific leaves it.
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
    /// The database cannot be reached (connection refused, pool timed out…).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is for the log, never for a response.
    #[error("database error: {0}")]
    Internal(String),
}

/// Invalid input, by field name. Serialises as `{"field": "message"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
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
}

/// `field message; field message`, in field order.
impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        f.write_str(&parts.join("; "))
    }
}

/// What the authentication use cases report.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid input")]
    Validation(FieldErrors),
    #[error("Failed! Username is already in use!")]
    UsernameTaken,
    #[error("Failed! Email is already in use!")]
    EmailTaken,
    #[error("Failed! Role does not exist = {0}")]
    UnknownRole(String),
    #[error(
        "Failed! Signing up with the role(s) {0} is not allowed; new accounts get the role user. An administrator can grant other roles."
    )]
    RoleNotAllowed(String),
    #[error("Invalid username or password.")]
    InvalidCredentials,
    #[error("Refresh token was expired. Please make a new signin request")]
    RefreshInvalid,
    #[error("This account is disabled.")]
    AccountDisabled,
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    /// Too many attempts: retry after this many seconds.
    #[error("Too many attempts. Please retry in {0} seconds.")]
    RateLimited(u64),
    /// Too many password checks at once; retry shortly.
    #[error("Too many sign-in attempts are being processed. Please retry shortly.")]
    Overloaded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(UniqueField::Username) => AuthError::UsernameTaken,
            StoreError::Conflict(UniqueField::Email) => AuthError::EmailTaken,
            StoreError::UnknownRole(r) => AuthError::UnknownRole(r),
            StoreError::Unavailable(d) => AuthError::Unavailable(d),
            StoreError::Internal(d) => AuthError::Internal(d),
            // Not produced by the stores the authentication use cases call.
            other @ (StoreError::Conflict(UniqueField::Role | UniqueField::Permission)
            | StoreError::UnknownPermission(_)
            | StoreError::NotFound
            | StoreError::Stale
            | StoreError::LastAdmin) => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<crate::ports::HashError> for AuthError {
    fn from(e: crate::ports::HashError) -> Self {
        match e {
            crate::ports::HashError::Overloaded => AuthError::Overloaded,
            crate::ports::HashError::Failed(d) => AuthError::Internal(d),
        }
    }
}
