//! `/api/test`: the tutorial's content routes. Role checks read the token's
//! claims only; these routes never touch the database.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get};

use crate::error::ErrorBody;
use rolegate_guard::{Admin, AuthUser, Moderator, RequireRole};

fn text(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::plaintext())
        .body(body)
}

/// Public content: no token needed.
#[utoipa::path(tag = "test", responses((status = 200, description = "Public content", body = String, content_type = "text/plain", example = "Public Content.")))]
#[get("/all")]
pub async fn all() -> HttpResponse {
    text("Public Content.")
}

/// Content for any signed-in user.
#[utoipa::path(
    tag = "test",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "User content", body = String, content_type = "text/plain", example = "User Content."),
        (status = 401, description = "No token or invalid token", body = ErrorBody,
            example = json!({"error": "no_token", "message": "No token provided!"})),
    )
)]
#[get("/user")]
pub async fn user(_user: AuthUser) -> HttpResponse {
    text("User Content.")
}

/// Content for moderators.
#[utoipa::path(
    tag = "test",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "Moderator content", body = String, content_type = "text/plain", example = "Moderator Content."),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Not a moderator", body = ErrorBody,
            example = json!({"error": "missing_role", "message": "Require Moderator Role!"})),
    )
)]
#[get("/mod")]
pub async fn moderator(_user: RequireRole<Moderator>) -> HttpResponse {
    text("Moderator Content.")
}

/// Content for admins.
#[utoipa::path(
    tag = "test",
    security(("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "Admin content", body = String, content_type = "text/plain", example = "Admin Content."),
        (status = 401, description = "No token or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody,
            example = json!({"error": "missing_role", "message": "Require Admin Role!"})),
    )
)]
#[get("/admin")]
pub async fn admin(_user: RequireRole<Admin>) -> HttpResponse {
    text("Admin Content.")
}
