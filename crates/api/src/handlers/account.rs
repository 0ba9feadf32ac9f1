//! `/api/auth`: the account lifecycle — password change and reset, e-mail
//! verification and change, sessions, deleting the account. Handlers parse
//! the body into domain types, call `AccountService`, shape the answer.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use rolegate_domain::{Email, FieldErrors, Password, UserId};
use rolegate_guard::AuthUser;

use crate::AppState;
use crate::dto::{
    ChangeEmailRequest, ChangePasswordRequest, ForgotPasswordRequest, MessageResponse,
    PasswordRequest, ResetPasswordRequest, SessionResponse, SigninResponse, TokenRequest,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{client_info, client_ip};

fn message(text: &str) -> MessageResponse {
    MessageResponse {
        message: text.into(),
    }
}

/// What `POST /password/forgot` answers, whoever the address belongs to.
pub const FORGOT_MESSAGE: &str =
    "If an account uses this address, a link to reset its password is on its way.";

/// Change the signed-in user's password.
///
/// The current password is checked like a sign-in (a wrong one counts
/// toward the sign-in limits). Every other session of the user ends; the
/// answer is a fresh session, like sign-in's. A notice is mailed.
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("x-access-token" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed; a new session", body = SigninResponse),
        (status = 400, description = "Invalid new password (too short, common, containing the username, the same as the current one)", body = ErrorBody,
            example = json!({"error": "validation_failed", "message": "newPassword is one of the most common passwords (found in breached-password lists): choose another", "fields": {"newPassword": "is one of the most common passwords (found in breached-password lists): choose another"}})),
        (status = 401, description = "No or invalid token, or a wrong current password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "The password was changed meanwhile", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable, or password hashing at capacity", body = ErrorBody),
    )
)]
#[post("/password")]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = Password::parse_presented(&body.current_password)
        .map_err(|m| ApiError::Validation(FieldErrors::single("currentPassword", m)))?;
    let client = client_info(&req, &state.http.trusted_proxies);
    let signed_in = state
        .accounts
        .change_password(
            UserId(user.user_id()),
            &current,
            &body.new_password,
            &client,
            &super::mfa::amr_of(&user),
        )
        .await?;
    Ok(HttpResponse::Ok().json(super::auth::signin_response(signed_in)))
}

/// Ask for a password-reset link.
///
/// Always 202 with the same body, whether or not an account uses the
/// address (no enumeration); the work happens after the answer, so it
/// takes the same time too. Limited per client address and per address.
#[utoipa::path(
    tag = "account",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted (a link is mailed if the address is known)", body = MessageResponse,
            example = json!({"message": FORGOT_MESSAGE})),
        (status = 400, description = "Not an e-mail address", body = ErrorBody),
        (status = 429, description = "Too many requests from this address or for this e-mail (Retry-After)", body = ErrorBody),
        (status = 503, description = "Rate-limit store unavailable", body = ErrorBody),
    )
)]
#[post("/password/forgot")]
pub async fn forgot_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email)
        .map_err(|m| ApiError::Validation(FieldErrors::single("email", m)))?;
    let client = client_ip(&req, &state.http.trusted_proxies);
    state.throttle.mail_request(&client, email.as_str()).await?;
    let accounts = state.accounts.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = accounts.forgot_password(&email).await {
            tracing::error!(error = %crate::error::chain(&e), "queueing a password reset failed");
        }
    });
    Ok(HttpResponse::Accepted().json(message(FORGOT_MESSAGE)))
}

/// Set a new password with the token of a reset link.
///
/// The token works once, for `auth.reset_token_ttl` seconds, and only if no
/// newer link was asked for and the password was not changed since. Every
/// session ends and the account's sign-in lockout is lifted.
#[utoipa::path(
    tag = "account",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password set", body = MessageResponse),
        (status = 400, description = "Invalid, used or expired token (`invalid_token`), or an invalid new password", body = ErrorBody,
            example = json!({"error": "invalid_token", "message": "This link is invalid or has expired. Please ask for a new one."})),
        (status = 503, description = "Database unavailable, or password hashing at capacity", body = ErrorBody),
    )
)]
#[post("/password/reset")]
pub async fn reset_password(
    state: web::Data<AppState>,
    body: web::Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .reset_password(&body.token, &body.new_password)
        .await?;
    Ok(HttpResponse::Ok().json(message(
        "Your password was reset. Please sign in with the new one.",
    )))
}

/// Verify the account's e-mail address with the token of the link mailed
/// at sign-up (or by a resend).
#[utoipa::path(
    tag = "account",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Address verified", body = MessageResponse),
        (status = 400, description = "Invalid, used or expired token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/email/verify")]
pub async fn verify_email(
    state: web::Data<AppState>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    state.accounts.verify_email(&body.token).await?;
    Ok(HttpResponse::Ok().json(message("Your e-mail address is verified.")))
}

/// Mail a new verification link to the signed-in user's address (the
/// previous link stops working).
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 202, description = "A new link is on its way", body = MessageResponse),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "The address is verified already (`already_verified`)", body = ErrorBody),
        (status = 429, description = "Too many requests (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/email/verify/resend")]
pub async fn resend_verification(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let client = client_ip(&req, &state.http.trusted_proxies);
    state
        .accounts
        .resend_verification(UserId(user.user_id()), &client)
        .await?;
    Ok(HttpResponse::Accepted().json(message("A new verification link is on its way.")))
}

/// Ask to change the signed-in user's e-mail address.
///
/// The password is checked like a sign-in. A confirmation link goes to the
/// new address and a notice to the current one; nothing changes until the
/// link is used (`POST /api/auth/email/confirm`).
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("x-access-token" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Confirmation link sent to the new address", body = MessageResponse),
        (status = 400, description = "Invalid address, or the current one", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "The address is in use (`email_taken`)", body = ErrorBody),
        (status = 429, description = "Too many attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable, or password hashing at capacity", body = ErrorBody),
    )
)]
#[post("/email")]
pub async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = FieldErrors::default();
    let email = errors.check("newEmail", Email::parse(&body.new_email));
    let password = errors.check(
        "currentPassword",
        Password::parse_presented(&body.current_password),
    );
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };
    let client = client_ip(&req, &state.http.trusted_proxies);
    state
        .accounts
        .request_email_change(UserId(user.user_id()), &email, &password, &client)
        .await?;
    Ok(HttpResponse::Accepted().json(message(
        "A confirmation link is on its way to the new address.",
    )))
}

/// Confirm an e-mail change with the token of the link mailed to the new address.
#[utoipa::path(
    tag = "account",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Address changed (and verified)", body = MessageResponse),
        (status = 400, description = "Invalid, used or expired token", body = ErrorBody),
        (status = 409, description = "The address was taken meanwhile (`email_taken`)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/email/confirm")]
pub async fn confirm_email(
    state: web::Data<AppState>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    state.accounts.confirm_email_change(&body.token).await?;
    Ok(HttpResponse::Ok().json(message("Your e-mail address was changed.")))
}

/// The signed-in user's live sessions, the most recently used first.
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "Live sessions", body = Vec<SessionResponse>),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let current = user.claims.sid.as_deref();
    let sessions: Vec<SessionResponse> = state
        .accounts
        .sessions(UserId(user.user_id()))
        .await?
        .into_iter()
        .map(|s| SessionResponse {
            current: current == Some(s.id.as_str()),
            id: s.id,
            created_at: s.started_at,
            last_used_at: s.last_used_at,
            user_agent: s.client.user_agent,
            client_address: Some(s.client.addr).filter(|a| !a.is_empty()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(sessions))
}

/// End one of the signed-in user's sessions (its refresh token stops working).
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("x-access-token" = [])),
    params(("id" = String, Path, description = "The session's id, as listed")),
    responses(
        (status = 200, description = "Session ended", body = MessageResponse),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 404, description = "No live session of the caller has this id", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[delete("/sessions/{id}")]
pub async fn end_session(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .end_session(UserId(user.user_id()), &id)
        .await?;
    Ok(HttpResponse::Ok().json(message("The session was ended.")))
}

/// Delete the signed-in user's account, its roles and sessions.
///
/// The password is checked like a sign-in. The last active admin cannot
/// delete itself (409 `last_admin`).
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("x-access-token" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "Account deleted", body = MessageResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "The last active admin (`last_admin`)", body = ErrorBody),
        (status = 429, description = "Too many attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable, or password hashing at capacity", body = ErrorBody),
    )
)]
#[delete("/me")]
pub async fn delete_me(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse_presented(&body.password)
        .map_err(|m| ApiError::Validation(FieldErrors::single("password", m)))?;
    let client = client_ip(&req, &state.http.trusted_proxies);
    state
        .accounts
        .delete_account(UserId(user.user_id()), &password, &client)
        .await?;
    Ok(HttpResponse::Ok().json(message("Your account was deleted.")))
}
