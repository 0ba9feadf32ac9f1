//! Bodies of token introspection (`POST /api/auth/introspect`, RFC 7662).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The token to introspect, as a form (RFC 7662) or as JSON.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"token": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImhzLS4uLiIsInR5cCI6ImF0K2p3dCJ9…"}))]
pub struct IntrospectRequest {
    /// The access token. Refresh tokens are never reported active.
    #[serde(default)]
    pub token: Option<String>,
    /// `access_token` or `refresh_token`; a hint only (every token is
    /// looked at as an access token).
    #[serde(default)]
    pub token_type_hint: Option<String>,
}

/// RFC 7662's answer: `{"active": false}` alone for a token that is not
/// valid (malformed, wrongly signed, expired, a refresh token, its session
/// ended, its user disabled or deleted); otherwise `active: true` and what
/// the token says, with the user's current username.
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(example = json!({
    "active": true, "token_type": "access_token", "sub": "42", "username": "alice",
    "iss": "rolegate", "aud": "rolegate", "iat": 1800000000, "exp": 1800000900,
    "jti": "Zk3q1…", "sid": "c2Vzc2lvbi…", "scope": "content:read users:read",
    "roles": ["user", "moderator"]
}))]
pub struct IntrospectResponse {
    /// Whether the token is valid now and its session and user still are.
    pub active: bool,
    /// `access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The user's username now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The session the token was issued for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The permissions the token grants, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The roles the token carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}
