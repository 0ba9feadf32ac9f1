//! `/api/auth`: sign-up and sign-in. Handlers are thin: parse the body into
//! domain types, call the use case, shape the response.

use actix_web::{HttpResponse, post, web};
use rolegate_domain::{AuthError, Email, FieldErrors, Password, RoleName, SignUp, Username};

use crate::AppState;
use crate::dto::{MessageResponse, SigninRequest, SigninResponse, SignupRequest};
use crate::error::{ApiError, ErrorBody};

/// Longest role name echoed back in an error message.
const MAX_ECHO: usize = 64;

fn parse_signup(body: SignupRequest) -> Result<SignUp, ApiError> {
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
                        return Err(AuthError::UnknownRole(shown).into());
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
        }),
        _ => Err(ApiError::Validation(errors)),
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
        (status = 400, description = "Invalid input, malformed JSON or unknown role", body = ErrorBody,
            example = json!({"error": "unknown_role", "message": "Failed! Role does not exist = superuser"})),
        (status = 403, description = "Role not allowed at sign-up", body = ErrorBody),
        (status = 409, description = "Username or email already in use", body = ErrorBody,
            example = json!({"error": "username_taken", "message": "Failed! Username is already in use!"})),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signup")]
pub async fn signup(
    state: web::Data<AppState>,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = parse_signup(body.into_inner())?;
    state.auth.sign_up(request).await?;
    Ok(HttpResponse::Created().json(MessageResponse {
        message: "User registered successfully!".into(),
    }))
}

/// Sign in with username and password; returns an access token.
///
/// An unknown user and a wrong password give the same 401 and take the same time.
#[utoipa::path(
    tag = "auth",
    request_body = SigninRequest,
    responses(
        (status = 200, description = "Signed in", body = SigninResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Invalid username or password", body = ErrorBody,
            example = json!({"error": "invalid_credentials", "message": "Invalid username or password."})),
        (status = 403, description = "Account disabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/signin")]
pub async fn signin(
    state: web::Data<AppState>,
    body: web::Json<SigninRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = FieldErrors::default();
    if body.username.is_empty() {
        errors.add("username", "must not be empty");
    }
    let password = errors.check("password", Password::parse_presented(&body.password));
    let Some(password) = password.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let signed_in = state.auth.sign_in(&body.username, &password).await?;
    Ok(HttpResponse::Ok().json(SigninResponse {
        id: signed_in.id.0,
        username: signed_in.username,
        email: signed_in.email,
        roles: signed_in.roles.iter().map(RoleName::authority).collect(),
        access_token: signed_in.access.token,
        token_type: "Bearer".into(),
        expires_in: signed_in.access.expires_in,
    }))
}
