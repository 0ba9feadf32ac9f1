//! `/api/auth/signin/mfa` and `/api/auth/mfa/…`: the second step of a
//! sign-in, TOTP enrolment and removal, recovery codes.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use rolegate_domain::{AuthMethod, FieldErrors, MfaProof, Password, UserId};
use rolegate_guard::AuthUser;

use crate::AppState;
use crate::dto::passkeys::{CeremonyResponse, MfaPasskeyFinishRequest, MfaPasskeyStartRequest};
use crate::dto::{
    MfaMethodsResponse, PasswordConfirmation, RecoveryCodesResponse, SigninMfaRequest,
    SigninResponse, TotpCode, TotpEnrolmentResponse,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{client_info, client_ip};

/// The methods of the caller's session, from their token's `amr` (a token
/// from before `amr` was recorded: a password).
pub(crate) fn amr_of(user: &AuthUser) -> Vec<AuthMethod> {
    AuthMethod::split(Some(&user.claims.amr.join(" ")))
}

/// The re-entered password of a change, and the client it comes from (the
/// sign-in limits' key).
fn confirmation(
    req: &HttpRequest,
    state: &AppState,
    body: &PasswordConfirmation,
) -> Result<(Password, String), ApiError> {
    let password = Password::parse_presented(&body.password)
        .map_err(|m| ApiError::Validation(FieldErrors::single("password", m)))?;
    Ok((password, client_ip(req, &state.http.trusted_proxies)))
}

/// Finish a sign-in with a second factor.
///
/// Trade the `mfaToken` of a sign-in that answered `mfaRequired` and a code
/// from the authenticator app (`code`) or a recovery code (`recoveryCode`)
/// for the session: the same answer as a sign-in without a second factor;
/// the access token's `amr` is `["pwd","otp"]`. The `mfaToken` works for 5
/// minutes, once, and at most 5 wrong codes; wrong codes also count as
/// failed sign-ins of the account from this address.
#[utoipa::path(
    tag = "mfa",
    request_body = SigninMfaRequest,
    responses(
        (status = 200, description = "Signed in", body = SigninResponse),
        (status = 400, description = "Neither or both of `code` and `recoveryCode`, or malformed JSON", body = ErrorBody),
        (status = 401, description = "`invalid_mfa_code` (wrong, used or out-of-window code) or `invalid_mfa_token` (unknown, used, expired, or voided by 5 wrong codes: sign in again)", body = ErrorBody,
            example = json!({"error": "invalid_mfa_code", "message": "Invalid or already used code."})),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signin/mfa")]
pub async fn signin_mfa(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SigninMfaRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let proof = match (body.code, body.recovery_code) {
        (Some(code), None) => MfaProof::Totp(code),
        (None, Some(code)) => MfaProof::RecoveryCode(code),
        _ => {
            return Err(ApiError::Validation(FieldErrors::single(
                "code",
                "give exactly one of code and recoveryCode",
            )));
        }
    };
    let client = client_info(&req, &state.http.trusted_proxies);
    let result = state
        .throttle
        .second_factor(&state.auth, &body.mfa_token, &proof, &client)
        .await;
    if let Some(metrics) = &state.metrics.0 {
        metrics.sign_in(&result);
    }
    Ok(HttpResponse::Ok().json(super::auth::signin_response(result?)))
}

/// The caller's second factors.
#[utoipa::path(
    tag = "mfa",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "The second factors", body = MfaMethodsResponse),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/mfa")]
pub async fn methods(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let methods = state.mfa.methods(UserId(user.user_id())).await?;
    Ok(HttpResponse::Ok().json(MfaMethodsResponse {
        methods: methods.iter().map(|m| m.as_str().to_owned()).collect(),
    }))
}

/// Start enrolling an authenticator app (TOTP).
///
/// The password is re-checked (a wrong one counts as a failed sign-in). The
/// answer holds the secret, its `otpauth://` URI and that URI as a QR code;
/// nothing changes at sign-in until a code from the app is confirmed at
/// `POST /api/auth/mfa/totp/confirm`. Starting again replaces an
/// unconfirmed secret.
#[utoipa::path(
    tag = "mfa",
    request_body = PasswordConfirmation,
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "The secret to add to the app", body = TotpEnrolmentResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "TOTP is enabled already (`mfa_already_enabled`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable, or second factors are not configured on this server", body = ErrorBody),
    )
)]
#[post("/mfa/totp")]
pub async fn enrol_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PasswordConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let (password, client) = confirmation(&req, &state, &body)?;
    let enrolment = state
        .mfa
        .enrol_totp(UserId(user.user_id()), &password, &client)
        .await?;
    Ok(HttpResponse::Ok().json(TotpEnrolmentResponse {
        secret: enrolment.secret,
        otpauth_url: enrolment.otpauth_url,
        qr_png: enrolment.qr_png,
    }))
}

/// Confirm the enrolment with a code from the app.
///
/// From now on sign-in asks for a code. The answer holds 10 recovery
/// codes, shown this once: each works once instead of a code.
#[utoipa::path(
    tag = "mfa",
    request_body = TotpCode,
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "TOTP is on; the recovery codes", body = RecoveryCodesResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong code (`invalid_mfa_code`)", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "No enrolment is pending (`mfa_not_pending`)", body = ErrorBody),
        (status = 503, description = "Database unavailable, or second factors are not configured on this server", body = ErrorBody),
    )
)]
#[post("/mfa/totp/confirm")]
pub async fn confirm_totp(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    let codes = state
        .mfa
        .confirm_totp(UserId(user.user_id()), &body.code)
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse {
        recovery_codes: codes,
    }))
}

/// Turn off the authenticator app.
///
/// The password is re-checked. TOTP and the recovery codes go.
#[utoipa::path(
    tag = "mfa",
    request_body = PasswordConfirmation,
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "TOTP is not enabled (`mfa_not_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[delete("/mfa/totp")]
pub async fn remove_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PasswordConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let (password, client) = confirmation(&req, &state, &body)?;
    state
        .mfa
        .remove_totp(UserId(user.user_id()), &password, &client)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issue a fresh set of recovery codes.
///
/// The password is re-checked; the old codes stop working.
#[utoipa::path(
    tag = "mfa",
    request_body = PasswordConfirmation,
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "The new recovery codes", body = RecoveryCodesResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or invalid token, or a wrong password", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 409, description = "No second factor is enabled (`mfa_not_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/mfa/recovery-codes")]
pub async fn regenerate_recovery_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PasswordConfirmation>,
) -> Result<HttpResponse, ApiError> {
    let (password, client) = confirmation(&req, &state, &body)?;
    let codes = state
        .mfa
        .regenerate_recovery_codes(UserId(user.user_id()), &password, &client)
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesResponse {
        recovery_codes: codes,
    }))
}

/// Refuses, when `auth.admin_requires_mfa` is on, an `/api/admin` request
/// whose valid token shows no second factor: 403 `mfa_required`. A missing
/// or invalid token passes through to the route's own guard (401).
pub async fn admin_requires_mfa(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let refuse = req
        .app_data::<web::Data<AppState>>()
        .filter(|state| state.admin_requires_mfa)
        .and_then(|state| {
            let headers = req.headers();
            let token = rolegate_guard::token_from_headers(
                headers
                    .get(actix_web::http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
                headers.get("x-access-token").map(|v| v.as_bytes()),
            )?;
            let claims = state.verifier.verify_shared(token).ok()?;
            (!claims.is_multi_factor()).then_some(())
        })
        .is_some();
    if refuse {
        let error = rolegate_guard::mfa_required();
        return Ok(req.error_response(error));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Begin the passkey step of a sign-in.
///
/// For a sign-in that answered `mfaRequired` with `passkey` among the
/// `methods`: the request options for `navigator.credentials.get` (after
/// `PublicKeyCredential.parseRequestOptionsFromJSON`), bound to the
/// `mfaToken`'s user; post the result to `…/signin/mfa/passkey/finish`.
#[utoipa::path(
    tag = "mfa",
    request_body = MfaPasskeyStartRequest,
    responses(
        (status = 200, description = "Request options and the ceremony's id", body = CeremonyResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "`invalid_mfa_token`: sign in again", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signin/mfa/passkey/start")]
pub async fn start_passkey_step(
    state: web::Data<AppState>,
    body: web::Json<MfaPasskeyStartRequest>,
) -> Result<HttpResponse, ApiError> {
    let started = state.passkeys.start_second_step(&body.mfa_token).await?;
    Ok(HttpResponse::Ok().json(CeremonyResponse {
        ceremony_id: started.ceremony_id,
        expires_in: started.expires_in,
        options: started.options,
    }))
}

/// Finish a sign-in with a passkey as its second factor.
///
/// The passkey must be the `mfaToken`'s user's; the answer is the sign-in
/// answer with `amr: ["pwd","hwk"]`. A refused passkey counts against the
/// `mfaToken` (5 at most) and as a failed sign-in of the account.
#[utoipa::path(
    tag = "mfa",
    request_body = MfaPasskeyFinishRequest,
    responses(
        (status = 200, description = "Signed in", body = SigninResponse),
        (status = 400, description = "Malformed request, or not a WebAuthn credential", body = ErrorBody),
        (status = 401, description = "`invalid_passkey` (refused: another user's, unknown, wrong origin, replayed ceremony, counter went backwards) or `invalid_mfa_token` (sign in again)", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 429, description = "Too many failed attempts (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signin/mfa/passkey/finish")]
pub async fn finish_passkey_step(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<MfaPasskeyFinishRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_info(&req, &state.http.trusted_proxies);
    let result = state
        .passkeys
        .finish_second_step(
            &body.mfa_token,
            &body.ceremony_id,
            &body.credential,
            &client,
        )
        .await;
    if let Some(metrics) = &state.metrics.0 {
        metrics.sign_in(&result);
    }
    Ok(HttpResponse::Ok().json(super::auth::signin_response(result?)))
}
