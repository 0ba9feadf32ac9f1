//! The OpenAPI document. Paths are collected from the route macros by
//! `utoipa-actix-web`; this module adds the metadata and security schemes.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rolegate",
        description = "JWT authentication and role-based access control. Drop-in for the Node/Express tutorial's API.",
        license(name = "MIT OR Apache-2.0")
    ),
    tags(
        (name = "auth", description = "Sign-up, sign-in, sessions and the signed-in user's profile"),
        (name = "admin", description = "Users, roles, permissions and the audit log. Each route names the permission it requires; the caller's current permissions are checked again in the database."),
        (name = "test", description = "The tutorial's role-gated content routes"),
        (name = "health", description = "Liveness and readiness"),
        (name = "keys", description = "Public keys for verifying access tokens"),
    )
)]
struct ApiDoc;

pub(crate) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds the security schemes so that Swagger UI's "Authorize" works.
pub(crate) fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        "x-access-token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-access-token"))),
    );
    api
}
