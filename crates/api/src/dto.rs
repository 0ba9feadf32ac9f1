//! Request and response bodies: the tutorial's field names, so its clients
//! work unchanged. Unknown fields in requests are ignored (as the tutorial
//! does), never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com", "password": "correct horse battery", "roles": ["user"]}))]
pub struct SignupRequest {
    /// 3–32 characters: letters a-z, digits, `_`, `.`, `-` (unique,
    /// case-insensitive; full-width letters are folded to ASCII first).
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// A plausible e-mail address (unique, stored lower-cased).
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8–128 characters.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// Roles to grant. Without it the user gets `user`. Roles other than
    /// `user` are granted only when `auth.open_role_signup` is on.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery"}))]
pub struct SigninRequest {
    #[schema(min_length = 1)]
    pub username: String,
    #[schema(format = Password, min_length = 1, max_length = 128)]
    pub password: String,
}

/// A plain confirmation, as the tutorial sends it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"message": "User registered successfully!"}))]
pub struct MessageResponse {
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 1, "username": "alice", "email": "alice@example.com", "roles": ["ROLE_USER"],
    "accessToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImhzLTEyMyJ9.e30.sig",
    "tokenType": "Bearer", "expiresIn": 900, "refreshToken": "q3Xh2…", "refreshExpiresIn": 604800
}))]
pub struct SigninResponse {
    /// The user's integer id.
    pub id: i64,
    pub username: String,
    pub email: String,
    /// `ROLE_USER`, `ROLE_MODERATOR`, `ROLE_ADMIN` (then custom roles), in that order.
    pub roles: Vec<String>,
    /// A JWT to send as `Authorization: Bearer <token>` or `x-access-token: <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// Opaque; exchange it at `POST /api/auth/refreshtoken`. Single use: every refresh rotates it.
    pub refresh_token: String,
    /// Lifetime of the refresh token in seconds.
    pub refresh_expires_in: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"refreshToken": "q3Xh2…"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "accessToken": "eyJ…", "refreshToken": "Zk3…", "tokenType": "Bearer", "expiresIn": 900, "refreshExpiresIn": 604800
}))]
pub struct RefreshResponse {
    pub access_token: String,
    /// The successor of the presented refresh token, which no longer works.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct HealthResponse {
    /// `ok` (alive), `ready`, or `not_ready`.
    pub status: String,
}
