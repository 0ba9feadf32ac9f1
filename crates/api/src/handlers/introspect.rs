//! `POST /api/auth/introspect`: token introspection (RFC 7662) for services
//! that verify rolegate's access tokens and want the database's word on
//! them (a session ended, a user disabled) instead of waiting for `exp`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, post, web};
use base64::Engine as _;
use futures_util::StreamExt as _;
use rolegate_domain::UserId;
use rolegate_domain::access::permissions::TokensIntrospect;
use rolegate_guard::{MAX_TOKEN_LEN, RequirePermission, authorize, token_from_headers};
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::dto::introspect::{IntrospectRequest, IntrospectResponse};
use crate::error::{ApiError, ErrorBody};

/// The largest introspection body read.
const BODY_LIMIT: usize = crate::JSON_BODY_LIMIT;

/// The shared secret that authenticates introspection callers
/// (`auth.introspection_secret`), kept as its SHA-256 only and compared in
/// constant time.
#[derive(Clone)]
pub struct IntrospectionSecret([u8; 32]);

impl IntrospectionSecret {
    pub fn new(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `presented` is the secret; the time taken does not depend on
    /// where they differ, nor on the lengths (both are hashed first).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let diff = digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for IntrospectionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntrospectionSecret(***)")
    }
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_client",
        message: "Unauthorized! Introspection needs the introspection secret \
                  (Authorization: Basic) or an access token granting tokens:introspect."
            .into(),
    }
}

/// The password of `Authorization: Basic base64(name:password)`.
fn basic_password(credentials: &str) -> Option<Vec<u8>> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// The caller must present the introspection secret (`Basic`) or an access
/// token granting `tokens:introspect` (`Bearer` / `x-access-token`).
async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<(), actix_web::Error> {
    let headers = req.headers();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let basic = authorization
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    if let Some((_, credentials)) = basic {
        let accepted = state.introspection_secret.as_ref().is_some_and(|secret| {
            basic_password(credentials).is_some_and(|password| secret.matches(&password))
        });
        if accepted {
            return Ok(());
        }
        tracing::info!("introspection refused: wrong or unconfigured client secret");
        return Err(unauthorized().into());
    }
    let token = token_from_headers(
        authorization,
        headers.get("x-access-token").map(HeaderValue::as_bytes),
    );
    if token.is_none() {
        return Err(unauthorized().into());
    }
    authorize::<RequirePermission<TokensIntrospect>>(&state.verifier, token)
        .await
        .map(|_| ())
        .map_err(Into::into)
}

/// The body, at most [`BODY_LIMIT`] bytes.
async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            if crate::body_timeout::is_body_timeout(&e) {
                ApiError::RequestTimeout
            } else {
                ApiError::bad_request("invalid_body", "The request body could not be read")
            }
        })?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A form (RFC 7662) or JSON, by the `Content-Type`.
fn parse(req: &HttpRequest, body: &[u8]) -> Result<IntrospectRequest, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(body).map_err(|_| {
            ApiError::bad_request(
                "invalid_body",
                "The request body is not a valid form (token=…)",
            )
        }),
        "application/json" => serde_json::from_slice(body).map_err(|_| {
            ApiError::bad_request(
                "malformed_json",
                "Malformed JSON: expected {\"token\": \"…\"}",
            )
        }),
        _ => Err(ApiError::bad_request(
            "unsupported_content_type",
            "Content-Type must be application/x-www-form-urlencoded or application/json",
        )),
    }
}

/// Introspect an access token (RFC 7662).
///
/// Says whether a token is active **now**, checked against the database:
/// signature, expiry, issuer and audience, then that the user still exists
/// and is enabled and that the token's session was not revoked. An inactive
/// token gets `{"active": false}` and nothing else, whatever the reason.
/// Refresh tokens are never active here.
///
/// The caller authenticates with the shared secret
/// `auth.introspection_secret` as the password of `Authorization: Basic`
/// (any user name, e.g. `Basic base64("articles:" + secret)`), or with an
/// access token of its own that grants `tokens:introspect`.
#[utoipa::path(
    tag = "auth",
    request_body(description = "The token, as a form (RFC 7662) or as JSON", content(
        (IntrospectRequest = "application/x-www-form-urlencoded"),
        (IntrospectRequest = "application/json"),
    )),
    security(("basic" = []), ("bearer" = []), ("x-access-token" = [])),
    responses(
        (status = 200, description = "Whether the token is active, and its claims when it is", body = IntrospectResponse),
        (status = 400, description = "No `token` (invalid_request), a body that does not parse, or another content type", body = ErrorBody),
        (status = 401, description = "Neither the introspection secret nor an access token (invalid_client); an invalid or revoked access token (invalid_token, token_revoked)", body = ErrorBody),
        (status = 403, description = "The caller's access token lacks tokens:introspect", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Database unavailable", body = ErrorBody),
    )
)]
#[post("/introspect")]
pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    authenticate(&req, &state).await?;
    let body = read_body(payload).await?;
    let request = parse(&req, &body)?;
    let Some(token) = request
        .token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(
            ApiError::bad_request("invalid_request", "The token parameter is required.").into(),
        );
    };
    let inactive = || HttpResponse::Ok().json(IntrospectResponse::default());
    if token.len() > MAX_TOKEN_LEN {
        return Ok(inactive());
    }
    let claims = match state.verifier.verify_fresh(token).await {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::debug!(%reason, "introspection: inactive token");
            return Ok(inactive());
        }
    };
    let username = state
        .auth
        .active_session(UserId(claims.sub), claims.sid.as_deref())
        .await
        .map_err(ApiError::from)?;
    let Some(username) = username else {
        tracing::debug!(
            user_id = claims.sub,
            "introspection: session or user no longer active"
        );
        return Ok(inactive());
    };
    Ok(HttpResponse::Ok().json(IntrospectResponse {
        active: true,
        token_type: Some("access_token".into()),
        sub: Some(claims.sub.to_string()),
        username: Some(username),
        iss: Some(claims.iss.clone()),
        aud: Some(claims.aud.clone()),
        iat: Some(claims.iat),
        exp: Some(claims.exp),
        jti: Some(claims.jti.clone()),
        sid: claims.sid.clone(),
        scope: Some(claims.perms.join(" ")),
        roles: Some(claims.roles.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_matches_only_itself_and_is_not_shown() {
        let secret = IntrospectionSecret::new("s3cret-s3cret-s3cret-s3cret-s3cret");
        assert!(secret.matches(b"s3cret-s3cret-s3cret-s3cret-s3cret"));
        assert!(!secret.matches(b"s3cret-s3cret-s3cret-s3cret-s3cre"));
        assert!(!secret.matches(b""));
        assert!(!format!("{secret:?}").contains("s3cret"));
        let encoded = base64::engine::general_purpose::STANDARD.encode("svc:pa:ss");
        assert_eq!(basic_password(&encoded).as_deref(), Some(&b"pa:ss"[..]));
        assert_eq!(basic_password("%%%"), None);
    }
}
