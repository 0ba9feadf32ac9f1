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
