//! `/api/auth/passkeys`: registering, listing and removing passkeys, and
//! passwordless sign-in. Handlers parse, call `PasskeyService`, shape the
//! answer; WebAuthn itself is the domain's verifier port.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use rolegate_domain::{FieldErrors, Password, UserId};
use rolegate_guard::AuthUser;

use crate::AppState;
use crate::dto::PasswordRequest;
use crate::dto::SigninResponse;
use crate::dto::passkeys::{
    CeremonyResponse, FinishRegistrationRequest, FinishSigninRequest, PasskeyResponse,
    StartSigninRequest,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{client_info, client_ip};

fn ceremony(started: rolegate_domain::StartedCeremony) -> CeremonyResponse {
    CeremonyResponse {
        ceremony_id: started.ceremony_id,
        expires_in: started.expires_in,
        options: started.options,
    }
}

/// Begin registering a passkey for the signed-in user.
///
/// Pass `options.publicKey` to `navigator.credentials.create` (after
/// `PublicKeyCredential.parseCreationOptionsFromJSON`), then post the
/// credential to `…/register/finish` with `ceremonyId`. The passkey is
/// discoverable (a resident key) and must verify the user.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "Creation options and the ceremony's id", body = CeremonyResponse),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/passkeys/register/start")]
pub async fn start_registration(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let started = state
        .passkeys
        .start_registration(UserId(user.user_id()))
        .await?;
    Ok(HttpResponse::Ok().json(ceremony(started)))
}

/// Finish registering a passkey: the browser's credential and a name.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = []), ("x-access-token" = [])),
    request_body = FinishRegistrationRequest,
    responses(
        (status = 201, description = "Passkey registered", body = PasskeyResponse),
        (status = 400, description = "Invalid name, or not a WebAuthn credential", body = ErrorBody,
            example = json!({"error": "validation_failed", "message": "Invalid input: name must not be empty", "fields": {"name": "must not be empty"}})),
        (status = 401, description = "No or invalid token; or the credential was refused (`invalid_passkey`): unknown, expired or used ceremony, another user's ceremony, wrong origin or challenge, no user verification", body = ErrorBody,
            example = json!({"error": "invalid_passkey", "message": "The passkey could not be verified. Please try again."})),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "This credential is registered already (`passkey_exists`)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/passkeys/register/finish")]
pub async fn finish_registration(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<FinishRegistrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let info = state
        .passkeys
        .finish_registration(
            UserId(user.user_id()),
            &body.ceremony_id,
            &body.credential,
            &body.name,
        )
        .await?;
    Ok(HttpResponse::Created().json(PasskeyResponse::from(info)))
}

/// The signed-in user's passkeys.
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "The passkeys, oldest first", body = [PasskeyResponse]),
        (status = 401, description = "No or invalid token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/passkeys")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let passkeys: Vec<PasskeyResponse> = state
        .passkeys
        .list(UserId(user.user_id()))
        .await?
        .into_iter()
        .map(PasskeyResponse::from)
        .collect();
    Ok(HttpResponse::Ok().json(passkeys))
}

/// Remove one of the signed-in user's passkeys.
///
/// The password is checked like a sign-in (a wrong one counts toward the
/// sign-in limits).
#[utoipa::path(
    tag = "passkeys",
    security(("bearer" = []), ("x-access-token" = [])),
    params(("id" = i64, Path, description = "The passkey's id, as listed")),
    request_body = PasswordRequest,
    responses(
        (status = 204, description = "Passkey removed"),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 404, description = "The caller has no passkey with this id", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable, or password hashing at capacity", body = ErrorBody),
    )
)]
#[delete("/passkeys/{id}")]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: web::Json<PasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse_presented(&body.password)
        .map_err(|m| ApiError::Validation(FieldErrors::single("password", m)))?;
    let client = client_ip(&req, &state.http.trusted_proxies);
    state
        .passkeys
        .delete(UserId(user.user_id()), *id, &password, &client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Begin a passwordless sign-in.
///
/// Pass `options.publicKey` to `navigator.credentials.get` (after
/// `PublicKeyCredential.parseRequestOptionsFromJSON`). The options list no
/// credentials (every passkey is discoverable) and read the same for any
/// `username`, known or not; with a username, only that account's passkeys
/// are accepted at `…/login/finish`.
#[utoipa::path(
    tag = "passkeys",
    request_body = StartSigninRequest,
    responses(
        (status = 200, description = "Request options and the ceremony's id", body = CeremonyResponse,
            example = json!({"ceremonyId": "Q9x…p0", "expiresIn": 300, "options": {"publicKey": {
                "challenge": "Xy1…", "timeout": 300000, "rpId": "localhost", "allowCredentials": [],
                "userVerification": "required"}}})),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 429, description = "Too many sign-ins begun from this address (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/passkeys/login/start")]
pub async fn start_signin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<StartSigninRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_ip(&req, &state.http.trusted_proxies);
    state.throttle.passkey_start(&client).await?;
    let started = state
        .passkeys
        .start_sign_in(body.username.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(ceremony(started)))
}

/// Finish a passwordless sign-in: the answer is sign-in's.
///
/// Refused passkeys count toward the failed sign-ins from the client's
/// address. A sign counter that did not go up (a cloned authenticator) is
/// refused and logged at WARN.
#[utoipa::path(
    tag = "passkeys",
    request_body = FinishSigninRequest,
    responses(
        (status = 200, description = "Signed in", body = SigninResponse),
        (status = 400, description = "Malformed request, or not a WebAuthn credential", body = ErrorBody),
        (status = 401, description = "Refused (`invalid_passkey`): unknown, expired or used ceremony; unknown credential; another user's credential; wrong origin, challenge or signature; no user verification; a sign counter that went backwards", body = ErrorBody,
            example = json!({"error": "invalid_passkey", "message": "The passkey could not be verified. Please try again."})),
        (status = 403, description = "Account disabled, or its e-mail address not verified when that is required", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins from this address (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/passkeys/login/finish")]
pub async fn finish_signin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<FinishSigninRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, &state.http.trusted_proxies);
    let signed_in = state
        .passkeys
        .finish_sign_in(&body.ceremony_id, &body.credential, &client)
        .await?;
    Ok(HttpResponse::Ok().json(super::auth::signin_response(signed_in)))
}
