//! Why a guard refused a request, and the JSON body it answers with.

use std::borrow::Cow;

use serde::Serialize;

use crate::verifier::VerifyError;

/// Why a guard refused a request. With the `actix` or `axum` feature it is
/// the extractors' rejection and answers with rolegate's JSON errors:
///
/// | variant | status | body | header |
/// |---|---|---|---|
/// | `NoToken` | 401 | `{"error":"no_token","message":"No token provided!"}` | `WWW-Authenticate: Bearer` |
/// | `InvalidToken` | 401 | `{"error":"invalid_token","message":"Unauthorized!"}` | `WWW-Authenticate: Bearer error="invalid_token"` |
/// | `Revoked` | 401 | `{"error":"token_revoked","message":"Unauthorized! The session has ended; please sign in again."}` | `WWW-Authenticate: Bearer error="invalid_token"` |
/// | `Forbidden` | 403 | `{"error":"missing_role","message":"Require Admin Role!"}` | |
/// | `MissingVerifier` | 500 | `{"error":"internal","message":"Internal server error."}` | |
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The request carries no token.
    #[error("No token provided!")]
    NoToken,
    /// The token was refused; the reason is for logs, never sent.
    #[error("Unauthorized!")]
    InvalidToken(VerifyError),
    /// A valid token that was revoked (see
    /// [`TokenVerifier::with_revocation`](crate::TokenVerifier::with_revocation)):
    /// its session ended, or its user was disabled or deleted.
    #[error("Unauthorized! The session has ended; please sign in again.")]
    Revoked,
    /// A valid token without the role or permission the route requires.
    #[error("{message}")]
    Forbidden {
        /// `missing_role` or `missing_permission`.
        code: &'static str,
        /// e.g. `Require Moderator Role!`.
        message: String,
    },
    /// The app has no [`TokenVerifier`] installed (a set-up mistake).
    #[error("no TokenVerifier is installed")]
    MissingVerifier,
}

/// The JSON body of a rejection: `{"error": …, "message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody<'a> {
    /// Stable, machine-readable code.
    pub error: &'static str,
    /// For people.
    pub message: Cow<'a, str>,
}

impl GuardError {
    /// The HTTP status: 401, 403 or 500.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoToken | Self::InvalidToken(_) | Self::Revoked => 401,
            Self::Forbidden { .. } => 403,
            Self::MissingVerifier => 500,
        }
    }

    /// The stable code of the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::Revoked => "token_revoked",
            Self::Forbidden { code, .. } => code,
            Self::MissingVerifier => "internal",
        }
    }

    /// The `WWW-Authenticate` header of a 401.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Self::NoToken => Some("Bearer"),
            Self::InvalidToken(_) | Self::Revoked => Some("Bearer error=\"invalid_token\""),
            _ => None,
        }
    }

    /// The response body.
    pub fn body(&self) -> ErrorBody<'_> {
        let message = match self {
            Self::Forbidden { message, .. } => Cow::Borrowed(message.as_str()),
            Self::MissingVerifier => Cow::Borrowed("Internal server error."),
            other => Cow::Owned(other.to_string()),
        };
        ErrorBody {
            error: self.code(),
            message,
        }
    }

    /// The response body as JSON text.
    pub fn body_json(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_else(|_| {
            r#"{"error":"internal","message":"Internal server error."}"#.to_owned()
        })
    }
}
