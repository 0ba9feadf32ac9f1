//! The one place where errors become HTTP responses.
//!
//! Every error body is JSON: `{"error": "<stable code>", "message": "<for people>"}`,
//! plus `fields` for validation errors. 5xx bodies say nothing internal: the
//! detail is logged, never sent.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use rolegate_domain::{AuthError, FieldErrors};
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
    /// A backing service (the database) is unreachable; the detail is logged.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A rate limit: retry after this many seconds.
    #[error("Too many attempts. Please retry in {0} seconds.")]
    TooManyRequests(u64),
    /// Admission control shed the request (too many password hashes at once).
    #[error("Too many sign-in attempts are being processed. Please retry shortly.")]
    Overloaded,
    /// A bug or an unexpected failure; the detail is logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
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
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded => "overloaded",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Internal(_) => "internal",
        }
    }

    fn body(&self) -> ErrorBody {
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
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            Self::Unavailable(detail) => {
                tracing::warn!(error = %detail, "backing service unavailable")
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
            Self::TooManyRequests(seconds) => {
                res.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            _ => {}
        }
        res.json(self.body())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Validation(f) => Self::Validation(f),
            AuthError::UsernameTaken => Self::Conflict {
                code: "username_taken",
                message: e.to_string(),
            },
            AuthError::EmailTaken => Self::Conflict {
                code: "email_taken",
                message: e.to_string(),
            },
            AuthError::UnknownRole(_) => Self::BadRequest {
                code: "unknown_role",
                message: e.to_string(),
            },
            AuthError::RoleNotAllowed(_) => Self::Forbidden {
                code: "role_not_allowed",
                message: e.to_string(),
            },
            AuthError::InvalidCredentials => Self::Unauthorized {
                code: "invalid_credentials",
                message: e.to_string(),
            },
            AuthError::RefreshInvalid => Self::Unauthorized {
                code: "invalid_refresh_token",
                message: e.to_string(),
            },
            AuthError::AccountDisabled => Self::Forbidden {
                code: "account_disabled",
                message: e.to_string(),
            },
            AuthError::Unavailable(d) => Self::Unavailable(d),
            AuthError::Overloaded => Self::Overloaded,
            AuthError::RateLimited(wait) => Self::TooManyRequests(wait),
            AuthError::Internal(d) => Self::Internal(d),
        }
    }
}

impl From<rolegate_domain::StoreError> for ApiError {
    fn from(e: rolegate_domain::StoreError) -> Self {
        AuthError::from(e).into()
    }
}

impl From<rolegate_domain::AdminError> for ApiError {
    fn from(e: rolegate_domain::AdminError) -> Self {
        use rolegate_domain::AdminError as E;
        let message = e.to_string();
        match e {
            E::Validation(f) => Self::Validation(f),
            E::UserNotFound | E::RoleNotFound(_) => Self::NotFoundWith {
                code: "not_found",
                message,
            },
            E::UnknownRole(_) => Self::bad_request("unknown_role", message),
            E::UnknownPermission(_) => Self::bad_request("unknown_permission", message),
            E::RoleExists(_) => Self::Conflict {
                code: "role_exists",
                message,
            },
            E::PermissionExists(_) => Self::Conflict {
                code: "permission_exists",
                message,
            },
            E::UsernameTaken => Self::Conflict {
                code: "username_taken",
                message,
            },
            E::EmailTaken => Self::Conflict {
                code: "email_taken",
                message,
            },
            E::LastAdmin => Self::Conflict {
                code: "last_admin",
                message,
            },
            E::BuiltInRole(_) => Self::Conflict {
                code: "built_in_role",
                message,
            },
            E::Escalation(_) => Self::Forbidden {
                code: "escalation",
                message,
            },
            E::NotAllowed(_) => Self::Forbidden {
                code: "missing_permission",
                message,
            },
            E::ConcurrentChange => Self::Conflict {
                code: "concurrent_change",
                message,
            },
            E::ActorDisabled => Self::Forbidden {
                code: "account_disabled",
                message,
            },
            E::ActorGone => Self::InvalidToken,
            E::Unavailable(d) => Self::Unavailable(d),
            E::Overloaded => Self::Overloaded,
            E::Internal(d) => Self::Internal(d),
        }
    }
}
