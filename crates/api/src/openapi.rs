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
        (name = "account", description = "The account lifecycle: password change and reset, e-mail verification and change, the sessions a user sees, deleting the account. Links in mails carry single-use tokens."),
        (name = "passkeys", description = "Passkeys (WebAuthn): register them while signed in, list and remove them, and sign in without a password. Each ceremony is two calls: `…/start` answers the options for `navigator.credentials.create`/`get` and a single-use `ceremonyId` (5 minutes); `…/finish` takes the browser's credential. Failures answer 401 `invalid_passkey`, whatever the reason."),
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
        "basic",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "Token introspection only: any user name, the password `auth.introspection_secret`",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "x-access-token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-access-token"))),
    );
    name_required_permissions(&mut api);
    document_body_timeouts(&mut api);
    api
}

/// Every operation that takes a body may answer 408 (see [`crate::body_timeout`]).
fn document_body_timeouts(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let response = ResponseBuilder::new()
        .description(
            "The request body did not arrive within the server's body timeout \
             (request_timeout); the connection is closed",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in api.paths.paths.values_mut() {
        for op in [&mut item.put, &mut item.post, &mut item.patch]
            .into_iter()
            .flatten()
            .filter(|op| op.request_body.is_some())
        {
            op.responses
                .responses
                .entry("408".to_owned())
                .or_insert_with(|| RefOr::T(response.clone()));
        }
    }
}

/// Each admin operation's `x-required-permission` comes from the marker type
/// its guard takes; its description says the same in words, from that value.
fn name_required_permissions(api: &mut utoipa::openapi::OpenApi) {
    for item in api.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let required = op
                .extensions
                .as_ref()
                .and_then(|e| e.get("x-required-permission"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            if let Some(permission) = required {
                let said = format!("Requires the permission `{permission}`.");
                op.description = Some(match op.description.take() {
                    Some(d) if !d.is_empty() => format!("{said}\n\n{d}"),
                    _ => said,
                });
            }
        }
    }
}
