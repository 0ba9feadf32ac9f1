//! The one place where errors become HTTP responses.
//!
//! Every error body is JSON: `{"error": "<stable code>", "message": "<for people>"}`,
//! plus `fields` for validation errors. 5xx bodies say nothing internal: the
//! detail is logged, never sent.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use rolegate_domain::{
    BoxError, BuiltInRule, Error, Escalation, FieldErrors, RefreshFailure, RoleName,
};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "validation_failed", "message": "Invalid input: password must be at least 8 characters long", "fields": {"password": "must be at least 8 characters long"}}))]
pub struct ErrorBody {
    /// Stable, machine-readable code (e.g. `validation_failed`, `username_taken`, `invalid_token`).
    pub error: String,
    /// Human-readable message.
    pub message: String,
    /// For validation errors: what is wrong with each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

/// An error as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("Invalid input")]
    Validation(FieldErrors),
    #[error("No token provided!")]
    NoToken,
    #[error("Unauthorized!")]
    InvalidToken,
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("Not found")]
    NotFound,
    /// A 404 that says what was not found.
    #[error("{message}")]
    NotFoundWith { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("Request body is too large")]
    PayloadTooLarge,
    /// The body did not arrive within `server.body_timeout_secs`.
    #[error("The request body was not received in time.")]
    RequestTimeout,
    /// A backing service (the database) is unreachable; the cause is logged.
    #[error("a backing service is unavailable")]
    Unavailable(#[source] BoxError),
    /// The rate-limit store failed and `rate_limit.on_store_error = "deny"`:
    /// the request is refused rather than let through uncounted (the cause
    /// was logged where it happened).
    #[error(
        "Rate limiting is temporarily unavailable, so this request cannot be accepted. Please retry shortly."
    )]
    RateLimitUnavailable(#[source] BoxError),
    /// A rate limit: retry after this many seconds.
    #[error("Too many attempts. Please retry in {0} seconds.")]
    TooManyRequests(u64),
    /// Admission control shed the request (too many password hashes at once).
    #[error("Too many sign-in attempts are being processed. Please retry shortly.")]
    Overloaded,
    /// A bug or an unexpected failure; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::NotFoundWith { code, .. } => code,
            Self::Validation(_) => "validation_failed",
            Self::NoToken => "no_token",
            Self::InvalidToken => "invalid_token",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimitUnavailable(_) => "rate_limit_unavailable",
            Self::Overloaded => "overloaded",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Internal(_) => "internal",
        }
    }

    pub(crate) fn body(&self) -> ErrorBody {
        let (message, fields) = match self {
            Self::Validation(f) => (format!("Invalid input: {f}"), Some(f.0.clone())),
            Self::Unavailable(_) => (
                "The service is temporarily unavailable. Please retry shortly.".to_owned(),
                None,
            ),
            Self::Internal(_) => ("Internal server error.".to_owned(), None),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error: self.code().to_owned(),
            message,
            fields,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::NoToken | Self::InvalidToken | Self::Unauthorized { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound | Self::NotFoundWith { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::RateLimitUnavailable(_) | Self::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(source) => {
                tracing::error!(error = %chain(source.as_ref()), "internal error")
            }
            Self::Unavailable(source) => {
                tracing::warn!(error = %chain(source.as_ref()), "backing service unavailable")
            }
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            Self::NoToken => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::InvalidToken => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            Self::Unauthorized { .. } => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::Unavailable(_) | Self::Overloaded => {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::RateLimitUnavailable(_) => {
                res.insert_header((
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RATE_LIMIT_UNAVAILABLE_RETRY_SECS),
                ));
            }
            Self::TooManyRequests(seconds) => {
                res.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            // The rest of the body may still come: the connection cannot
            // carry another request.
            Self::RequestTimeout => {
                res.force_close();
            }
            _ => {}
        }
        res.json(self.body())
    }
}

/// `Retry-After` of `rate_limit_unavailable`: long enough for a restarted
/// store to be reconnected, short enough for a person retrying by hand.
const RATE_LIMIT_UNAVAILABLE_RETRY_SECS: &str = "5";

/// The tutorial's form of a role: `ROLE_USER`, `ROLE_MODERATOR`, `ROLE_ADMIN`.
pub fn authority(role: &RoleName) -> String {
    format!("ROLE_{}", role.as_str().to_ascii_uppercase())
}

fn escalation_message(e: &Escalation) -> String {
    match e {
        Escalation::ActOnUser { username, missing } => format!(
            "You cannot change {username}: they hold {missing}, which you do not hold yourself."
        ),
        Escalation::GrantRole { role, missing } => format!(
            "You cannot grant the role {role}: it grants {missing}, which you do not hold yourself."
        ),
        Escalation::GrantPermission { missing } => {
            format!("You cannot grant the permission {missing}: you do not hold it yourself.")
        }
        Escalation::ChangeRole { role, missing } => format!(
            "You cannot change the role {role}: it grants {missing}, which you do not hold yourself."
        ),
        Escalation::DeleteRole { role, missing } => format!(
            "You cannot delete the role {role}: it grants {missing}, which you do not hold yourself."
        ),
    }
}

fn built_in_message(rule: &BuiltInRule) -> String {
    match rule {
        BuiltInRule::CannotDelete(role) => format!("The built-in role {role} cannot be deleted."),
        BuiltInRule::AdminKeeps(kept) => format!(
            "The admin role always keeps {kept} (and every other permission needed to administer)."
        ),
        BuiltInRule::UserRoleCannotGrant(p) => {
            format!("The user role is given to every new account: it cannot grant {p}.")
        }
    }
}

/// The one table: each domain error's status, code and message (the
/// tutorial's words where it has them).
impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let conflict = |code, message: String| Self::Conflict { code, message };
        let forbidden = |code, message: String| Self::Forbidden { code, message };
        match e {
            Error::Validation(f) => Self::Validation(f),
            Error::UsernameTaken => {
                conflict("username_taken", "Failed! Username is already in use!".into())
            }
            Error::EmailTaken => conflict("email_taken", "Failed! Email is already in use!".into()),
            Error::UnknownRole(r) => {
                Self::bad_request("unknown_role", format!("Failed! Role does not exist = {r}"))
            }
            Error::UnknownPermission(p) => Self::bad_request(
                "unknown_permission",
                format!("Failed! Permission does not exist = {p}"),
            ),
            Error::RoleNotAllowed(roles) => {
                let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
                forbidden(
                    "role_not_allowed",
                    format!(
                        "Failed! Signing up with the role(s) {} is not allowed; new accounts get the role user. An administrator can grant other roles.",
                        names.join(", ")
                    ),
                )
            }
            Error::InvalidCredentials => Self::Unauthorized {
                code: "invalid_credentials",
                message: "Invalid username or password.".into(),
            },
            // The tutorial's message for every refresh failure; the code says which.
            Error::RefreshInvalid(why) => Self::Unauthorized {
                code: match why {
                    RefreshFailure::Unknown => "invalid_refresh_token",
                    RefreshFailure::Expired => "refresh_token_expired",
                    RefreshFailure::Reused => "refresh_token_reused",
                    RefreshFailure::Revoked => "refresh_token_revoked",
                },
                message: "Refresh token was expired. Please make a new signin request".into(),
            },
            Error::InvalidToken => Self::bad_request(
                "invalid_token",
                "This link is invalid or has expired. Please ask for a new one.",
            ),
            Error::InvalidMfaCode => Self::Unauthorized {
                code: "invalid_mfa_code",
                message: "Invalid or already used code.".into(),
            },
            Error::InvalidMfaToken => Self::Unauthorized {
                code: "invalid_mfa_token",
                message: "The sign-in has expired or was used. Please sign in again.".into(),
            },
            Error::MfaAlreadyEnabled => conflict(
                "mfa_already_enabled",
                "Two-factor authentication with an app is enabled already; remove it first.".into(),
            ),
            Error::MfaNotPending => conflict(
                "mfa_not_pending",
                "No enrolment waits for a code: start one with POST /api/auth/mfa/totp.".into(),
            ),
            Error::MfaNotEnabled => conflict(
                "mfa_not_enabled",
                "Two-factor authentication is not enabled.".into(),
            ),
            Error::EmailNotVerified => forbidden(
                "email_not_verified",
                "Please verify your e-mail address first: follow the link we sent you, or ask for a new one.".into(),
            ),
            Error::AlreadyVerified => conflict(
                "already_verified",
                "This e-mail address is verified already.".into(),
            ),
            Error::SessionNotFound => Self::NotFoundWith {
                code: "not_found",
                message: "Session not found.".into(),
            },
            Error::AccountDisabled => {
                forbidden("account_disabled", "This account is disabled.".into())
            }
            Error::ActorGone => Self::InvalidToken,
            Error::UserNotFound => Self::NotFoundWith {
                code: "not_found",
                message: "User not found.".into(),
            },
            Error::RoleNotFound(r) => Self::NotFoundWith {
                code: "not_found",
                message: format!("Role not found: {r}"),
            },
            Error::RoleExists(r) => {
                conflict("role_exists", format!("Failed! Role already exists = {r}"))
            }
            Error::PermissionExists(p) => conflict(
                "permission_exists",
                format!("Failed! Permission already exists = {p}"),
            ),
            Error::LastAdmin => conflict(
                "last_admin",
                "The last active admin cannot be removed, disabled or deleted: make another user admin first.".into(),
            ),
            Error::BuiltInRole(rule) => conflict("built_in_role", built_in_message(&rule)),
            Error::Escalation(e) => forbidden("escalation", escalation_message(&e)),
            Error::ConcurrentChange => conflict(
                "concurrent_change",
                "The user or role was changed by someone else meanwhile; read it again and retry."
                    .into(),
            ),
            Error::NotAllowed(p) => {
                forbidden("missing_permission", format!("Require permission {p}!"))
            }
            // One answer whatever the reason (the reason is logged).
            Error::PasskeyRefused(_) => Self::Unauthorized {
                code: "invalid_passkey",
                message: "The passkey could not be verified. Please try again.".into(),
            },
            Error::PasskeyNotFound => Self::NotFoundWith {
                code: "not_found",
                message: "Passkey not found.".into(),
            },
            Error::PasskeyExists => conflict(
                "passkey_exists",
                "This passkey is registered already.".into(),
            ),
            Error::RateLimited(wait) => Self::TooManyRequests(wait),
            Error::Overloaded => Self::Overloaded,
            Error::Unavailable(source) => Self::Unavailable(source),
            Error::RateLimitUnavailable(source) => Self::RateLimitUnavailable(source),
            Error::Internal(source) => Self::Internal(source),
        }
    }
}

impl From<rolegate_domain::StoreError> for ApiError {
    fn from(e: rolegate_domain::StoreError) -> Self {
        Error::from(e).into()
    }
}

/// How a person reads a domain error outside HTTP (the command line): the
/// API's message, or for 5xx errors the error and its causes.
pub fn describe(e: Error) -> String {
    match ApiError::from(e) {
        err @ (ApiError::Internal(_)
        | ApiError::Unavailable(_)
        | ApiError::RateLimitUnavailable(_)) => chain(&err),
        other => other.body().message,
    }
}

/// An error and its causes, `: `-separated, for the log.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
