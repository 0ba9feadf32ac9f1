//! Access tokens as the use cases see them: who a token is for, and the
//! port that issues one (implemented by `rolegate-auth`).

use crate::error::BoxError;
use crate::roles::{Permission, RoleName};
use crate::users::UserId;

/// Who an access token is for.
#[derive(Debug, Clone)]
pub struct AccessSubject {
    pub user_id: UserId,
    pub username: String,
    pub roles: Vec<RoleName>,
    pub permissions: Vec<Permission>,
    /// The session the token belongs to (its `sid` claim).
    pub session: Option<String>,
    /// How the session was opened (its `amr` claim).
    pub amr: Vec<crate::mfa::AuthMethod>,
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Issuing failed (a key or encoding problem: a bug or a misconfiguration).
#[derive(Debug, thiserror::Error)]
#[error("token issuing failed")]
pub struct TokenError(#[source] pub BoxError);

impl From<TokenError> for crate::error::Error {
    fn from(e: TokenError) -> Self {
        Self::Internal(e.0)
    }
}

/// Issues access tokens.
pub trait TokenIssuer: Send + Sync {
    fn issue_access(&self, subject: &AccessSubject) -> Result<IssuedToken, TokenError>;
}
