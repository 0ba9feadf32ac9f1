//! `/api/auth`: sign-up and sign-in. Handlers are thin: parse the body into
//! domain types, call the use case, shape the response.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use rolegate_domain::{
    Email, Error, FieldErrors, Password, RoleName, SignInStep, SignUp, UserId, Username,
};

use crate::AppState;
use crate::dto::{
    MeResponse, MessageResponse, MfaRequiredResponse, RefreshRequest, RefreshResponse,
    SigninAnswer, SigninRequest, SigninResponse, SignupRequest,
};
use crate::error::{ApiError, ErrorBody, authority};
use crate::extract::{client_info, client_ip};
use rolegate_guard::AuthUser;

/// Longest role name echoed back in an error message.
const MAX_ECHO: usize = 64;

fn parse_signup(body: SignupRequest) -> Result<SignUp, Error> {
    let mut errors = FieldErrors::default();
    let username = errors.check("username", Username::parse(&body.username));
    let email = errors.check("email", Email::parse(&body.email));
    let password = errors.check("password", Password::parse(&body.password));
    let roles = match body.roles {
        None => None,
        Some(names) => {
            let mut roles = Vec::with_capacity(names.len());
            for name in names {
                match RoleName::parse(&name) {
                    Ok(r) => roles.push(r),
                    Err(_) => {
                        let shown: String = name.chars().take(MAX_ECHO).collect();
                        return Err(Error::UnknownRole(shown));
                    }
                }
            }
            Some(roles)
        }
    };
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) if errors.is_empty() => Ok(SignUp {
            username,
            email,
            password,
            roles,
            welcome: None,
        }),
        _ => Err(Error::Validation(errors)),
    }
}

/// Register a new user.
///
/// Without `roles` the user gets `user`. Requests for other roles are refused
/// (403) unless the server runs with `auth.open_role_signup = true`.
#[utoipa::path(
    tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "User registered", body = MessageResponse),
        (status = 200, description = "User registered (the `compat` profile: the tutorial's status)", body = MessageResponse),
        (status = 400, description = "Invalid input, malformed JSON or unknown role", body = ErrorBody,
            example = json!({"error": "unknown_role", "message": "Failed! Role does not exist = superuser"})),
        (status = 403, description = "Role not allowed at sign-up", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address (Retry-After)", body = ErrorBody),
        (status = 409, description = "Username or email already in use (400 in the `compat` profile, as the tutorial answers)", body = ErrorBody,
            example = json!({"error": "username_taken", "message": "Failed! Username is already in use!"})),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable, or password hashing at capacity (Retry-After)", body = ErrorBody),
    )
)]
#[post("/signup")]
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_ip(&req, &state.http.trusted_proxies);
    // The verification link and its mail are stored with the account.
    let request = parse_signup(body.into_inner()).and_then(|mut signup| {
        signup.welcome = Some(
            state
                .accounts
                .welcome(signup.username.as_str(), &signup.email)?,
        );
        Ok(signup)
    });
    let tutorial = state.http.tutorial_answers;
    let result = state.throttle.sign_up(&state.auth, &client, request).await;
    if let Some(metrics) = &state.metrics.0 {
        metrics.sign_up(&result);
    }
    result.map_err(|e| match e {
        // The tutorial's checkDuplicateUsernameOrEmail: 400, same words.
        Error::UsernameTaken | Error::EmailTaken if tutorial => {
            let code = if matches!(e, Error::UsernameTaken) {
                "username_taken"
            } else {
                "email_taken"
            };
            let message = ApiError::from(e).body().message;
            ApiError::bad_request(code, message)
        }
        other => other.into(),
    })?;
    let message = MessageResponse {
        message: "User registered successfully!".into(),
    };
    Ok(if tutorial {
        HttpResponse::Ok().json(message)
    } else {
        HttpResponse::Created().json(message)
    })
}

/// Sign in with username and password; returns an access token.
///
/// An unknown user and a wrong password give the same 401 and take the same time.
#[utoipa::path(
    tag = "auth",
    request_body = SigninRequest,
    responses(
        (status = 200, description = "Signed in; or, for a user with a second factor, `mfaRequired` with the `mfaToken` for `POST /api/auth/signin/mfa` (no session yet)", body = SigninAnswer),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Invalid username or password", body = ErrorBody,
            example = json!({"error": "invalid_credentials", "message": "Invalid username or password."})),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins for this account from this address, for this account, or from this address; or too many sign-ins from this address or for this account (Retry-After). The password was not checked.", body = ErrorBody,
            example = json!({"error": "too_many_requests", "message": "Too many attempts. Please retry in 30 seconds."})),
        (status = 503, description = "Database unavailable, or password hashing at capacity (Retry-After)", body = ErrorBody),
    )
)]
#[post("/signin")]
pub async fn signin(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SigninRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    errors.check("username", Username::check_presented(&body.username));
    let password = errors.check("password", Password::parse_presented(&body.password));
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        if let Some(metrics) = &state.metrics.0 {
            metrics.sign_in_malformed();
        }
        return Err(ApiError::Validation(errors));
    };
    // Rate limits: each attempt is reserved before the password is checked.
    let client = client_info(&req, &state.http.trusted_proxies);
    let result = state
        .throttle
        .sign_in(&state.auth, &body.username, &password, &client)
        .await;
    if let Some(metrics) = &state.metrics.0 {
        metrics.sign_in(&result);
    }
    let step = result.map_err(|e| match e {
        // The tutorial's words, for an unknown user too (it said
        // "User Not found." with 404 there: enumeration, not kept).
        Error::InvalidCredentials if state.http.tutorial_answers => ApiError::Unauthorized {
            code: "invalid_credentials",
            message: "Invalid Password!".into(),
        },
        other => other.into(),
    })?;
    Ok(HttpResponse::Ok().json(match step {
        SignInStep::Done(signed_in) => SigninAnswer::Session(signin_response(*signed_in)),
        SignInStep::SecondFactor(challenge) => SigninAnswer::SecondFactor(MfaRequiredResponse {
            mfa_required: true,
            mfa_token: challenge.token,
            methods: challenge
                .methods
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect(),
            expires_in: challenge.expires_in,
        }),
    }))
}

/// Exchange a refresh token for a new access token and a new refresh token.
///
/// Every use rotates: the presented token stops working. Presenting a token
/// that was already used revokes the whole session (a stolen token is useless
/// once either party uses it), except within a few seconds of its rotation
/// while the successor is unused: then it gets that same successor, however
/// often it is presented (several tabs refreshing at once). Roles are read
/// fresh from the database.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = RefreshResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Refused, always with the tutorial's message; `error` says why: `invalid_refresh_token` (unknown), `refresh_token_expired`, `refresh_token_reused` (presented again after its rotation: the session is revoked now), `refresh_token_revoked` (the session had ended: sign-out, an earlier reuse, a password change or reset, a disabled account, ended by its owner)", body = ErrorBody,
            example = json!({"error": "refresh_token_reused", "message": "Refresh token was expired. Please make a new signin request"})),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Too many refreshes from this address (Retry-After)", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/refreshtoken")]
pub async fn refresh_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client_ip(&req, &state.http.trusted_proxies);
    let refreshed = state
        .throttle
        .refresh(&state.auth, &body.refresh_token, &client)
        .await?;
    Ok(HttpResponse::Ok().json(RefreshResponse {
        access_token: refreshed.access.token,
        refresh_token: refreshed.refresh.token,
        token_type: "Bearer".into(),
        expires_in: refreshed.access.expires_in,
        refresh_expires_in: refreshed.refresh.expires_in,
    }))
}

/// End the session a refresh token belongs to (all its tokens stop working).
///
/// Idempotent: an unknown or already revoked token also gets 200. Access
/// tokens already issued stay valid until they expire.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Signed out", body = MessageResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signout")]
pub async fn signout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    state.auth.sign_out(&body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "You've been signed out!".into(),
    }))
}

/// End every session of the signed-in user.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "All sessions ended", body = MessageResponse),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signout-all")]
pub async fn signout_all(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let id = user.user_id();
    let revoked = state.auth.sign_out_all(UserId(id)).await?;
    tracing::info!(user_id = id, revoked, "signed out of all sessions");
    Ok(HttpResponse::Ok().json(MessageResponse {
        message: "You've been signed out of all sessions!".into(),
    }))
}

/// The signed-in user's profile: id, username, e-mail, roles, permissions.
///
/// Read from the database, so it shows changes an admin made after the
/// token was issued.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "The profile", body = MeResponse),
        (status = 401, description = "No token, an invalid token, or the account no longer exists", body = ErrorBody),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let id = user.user_id();
    let profile = state.admin.me(UserId(id)).await?;
    Ok(HttpResponse::Ok().json(MeResponse {
        id: profile.user.id.0,
        username: profile.user.username,
        email: profile.user.email,
        roles: profile.user.roles.iter().map(authority).collect(),
        permissions: profile
            .permissions
            .iter()
            .map(ToString::to_string)
            .collect(),
        created_at: profile.user.created_at,
        email_verified: profile.user.email_verified,
    }))
}

/// Sign-in's answer (also a password change's): the tutorial's fields and the refresh token.
pub(crate) fn signin_response(signed_in: rolegate_domain::SignedIn) -> SigninResponse {
    SigninResponse {
        id: signed_in.id.0,
        username: signed_in.username,
        email: signed_in.email,
        roles: signed_in.roles.iter().map(authority).collect(),
        access_token: signed_in.access.token,
        token_type: "Bearer".into(),
        expires_in: signed_in.access.expires_in,
        refresh_token: signed_in.refresh.token,
        refresh_expires_in: signed_in.refresh.expires_in,
    }
}
