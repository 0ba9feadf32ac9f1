//! The public verification keys (JWKS, RFC 7517).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::AppState;

/// The public keys that verify rolegate's access tokens.
///
/// Other services verify tokens with these alone (match the token's `kid`).
/// With HS256 (a shared secret) the set is empty: the secret is never published.
#[utoipa::path(
    tag = "keys",
    responses((status = 200, description = "JSON Web Key Set", content_type = "application/json",
        body = Object,
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "X0n8…", "alg": "EdDSA", "use": "sig"}]})))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.jwks.as_ref())
}

/// OpenID Connect discovery (only what rolegate serves): the issuer, where
/// its keys are, and the signing algorithm — enough for JWT middleware in
/// other stacks (Spring's `issuer-uri`, express-jwt + jwks-rsa, PyJWT's
/// `PyJWKClient`) to configure itself from the issuer URL. 404 unless
/// `auth.openid_discovery` is on.
#[utoipa::path(
    tag = "keys",
    responses(
        (status = 200, description = "Discovery document", content_type = "application/json",
            body = Object,
            example = json!({"issuer": "https://auth.example.com", "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": ["EdDSA"], "subject_types_supported": ["public"],
                "claims_supported": ["iss", "aud", "sub", "exp", "iat", "jti", "name", "roles", "perms", "sid"]})),
        (status = 404, description = "Discovery is off", body = crate::ErrorBody),
    )
)]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(
    state: web::Data<AppState>,
) -> Result<HttpResponse, crate::ApiError> {
    let Some(discovery) = &state.discovery else {
        return Err(crate::ApiError::NotFound);
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(discovery.as_ref()))
}
