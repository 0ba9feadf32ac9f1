//! Request and response bodies: the tutorial's field names, so its clients
//! work unchanged. Unknown fields in requests are ignored (as the tutorial
//! does), never stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod introspect;
pub mod passkeys;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com", "password": "correct horse battery", "roles": ["user"]}))]
pub struct SignupRequest {
    #[schema(schema_with = crate::schemas::username)]
    pub username: String,
    #[schema(schema_with = crate::schemas::email)]
    pub email: String,
    #[schema(schema_with = crate::schemas::new_password)]
    pub password: String,
    #[serde(default)]
    #[schema(schema_with = crate::schemas::signup_roles)]
    pub roles: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery"}))]
pub struct SigninRequest {
    #[schema(schema_with = crate::schemas::presented_username)]
    pub username: String,
    #[schema(schema_with = crate::schemas::presented_password)]
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

/// The signed-in user's profile.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 1, "username": "alice", "email": "alice@example.com", "roles": ["ROLE_USER"],
    "permissions": ["content:read"], "createdAt": "2026-11-27T08:00:00Z", "emailVerified": true
}))]
pub struct MeResponse {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// In the tutorial's form, as at sign-in: `ROLE_USER`, …
    pub roles: Vec<String>,
    /// What the roles grant, sorted.
    pub permissions: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whether the address was verified (a link from a mail, or an operator).
    pub email_verified: bool,
}

/// A user as the admin API shows it. Roles are plain names (`admin`), as the
/// admin API takes them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 2, "username": "bob", "email": "bob@example.com", "roles": ["user", "editor"],
    "disabled": false, "createdAt": "2026-11-27T08:00:00Z", "emailVerified": true
}))]
pub struct AdminUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub email_verified: bool,
    /// Only when one user is shown: what the roles grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<AdminUser>,
    /// The page number asked for; `null` for a page reached with `cursor`.
    pub page: Option<u32>,
    pub per_page: u32,
    /// How many match in all, counted up to 10 000: when `totalCapped` is
    /// true there are more than `total`.
    pub total: u64,
    /// `total` stopped counting at its cap (10 000).
    pub total_capped: bool,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "dXNlcnM6MjA")]
    pub next: Option<String>,
}

/// Paging for lists: `page` from 1 (at most 10 000 items skipped), or
/// `cursor` (the `next` of the page before), `per_page` 1–100 (default 20).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    #[param(schema_with = crate::schemas::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::schemas::per_page)]
    pub per_page: Option<u32>,
    #[param(schema_with = crate::schemas::cursor)]
    pub cursor: Option<String>,
}

/// Paging and search for the user list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    #[param(schema_with = crate::schemas::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::schemas::per_page)]
    pub per_page: Option<u32>,
    #[param(schema_with = crate::schemas::cursor)]
    pub cursor: Option<String>,
    /// Case-insensitive start of the username or the e-mail.
    #[param(schema_with = crate::schemas::search)]
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"roles": ["user", "moderator", "admin"]}))]
pub struct SetRolesRequest {
    /// The user's roles after the change (replaces the current ones).
    #[schema(schema_with = crate::schemas::role_names)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"disabled": true}))]
pub struct UpdateUserRequest {
    /// `true` disables the account (sign-in and refresh refused, sessions
    /// ended); `false` enables it again.
    pub disabled: bool,
}

/// A role and what it grants.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"name": "editor", "description": "Edits articles", "builtIn": false, "permissions": ["articles:write", "content:read"]}))]
pub struct RoleResponse {
    pub name: String,
    pub description: String,
    /// `user`, `moderator` and `admin` are built in: they cannot be deleted.
    pub built_in: bool,
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "reviewer", "description": "Reviews content", "permissions": ["content:moderate", "content:read"]}))]
pub struct CreateRoleRequest {
    #[schema(schema_with = crate::schemas::role_name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = crate::schemas::description)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::schemas::permission_names)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"permissions": ["articles:write", "articles:publish", "content:read"]}))]
pub struct UpdateRoleRequest {
    /// The role's permissions after the change (replaces the current ones).
    #[schema(schema_with = crate::schemas::permission_names)]
    pub permissions: Vec<String>,
    /// A new description; unchanged when absent.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::description)]
    pub description: Option<String>,
}

/// A permission of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"name": "users:read", "description": "List and read user accounts", "builtIn": true}))]
pub struct PermissionResponse {
    pub name: String,
    pub description: String,
    pub built_in: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "articles:write", "description": "Write articles"}))]
pub struct CreatePermissionRequest {
    #[schema(schema_with = crate::schemas::permission_name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = crate::schemas::description)]
    pub description: Option<String>,
}

/// An audit event: who did what to what, and when.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 7, "at": "2026-11-27T08:00:00Z", "actorId": 1, "actor": "root",
    "action": "user.roles.set", "target": "user:2",
    "detail": {"username": "bob", "before": ["user"], "after": ["user", "editor"]}
}))]
pub struct AuditEventResponse {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The acting user's id; absent for the command line and the bootstrap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<i64>,
    /// The acting user's name, or `cli` / `bootstrap`.
    pub actor: String,
    /// `user.create`, `user.roles.set`, `user.disable`, `user.enable`, `user.delete`,
    /// `role.create`, `role.update`, `role.delete`, `permission.create`.
    pub action: String,
    /// `user:<id>`, `role:<name>` or `permission:<name>`.
    pub target: String,
    /// Details of the change (e.g. roles before and after).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// One page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditEventResponse>,
    /// The page number asked for; `null` for a page reached with `cursor`.
    pub page: Option<u32>,
    pub per_page: u32,
    /// How many match in all, counted up to 10 000: when `totalCapped` is
    /// true there are more than `total`.
    pub total: u64,
    /// `total` stopped counting at its cap (10 000).
    pub total_capped: bool,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(example = "dXNlcnM6MjA")]
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"currentPassword": "correct horse", "newPassword": "a new long passphrase"}))]
pub struct ChangePasswordRequest {
    #[schema(schema_with = crate::schemas::presented_password)]
    pub current_password: String,
    #[schema(schema_with = crate::schemas::new_password)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "alice@example.com"}))]
pub struct ForgotPasswordRequest {
    #[schema(schema_with = crate::schemas::email)]
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"token": "m3Bq…", "newPassword": "a new long passphrase"}))]
pub struct ResetPasswordRequest {
    /// The token of the link in the reset mail.
    #[schema(schema_with = crate::schemas::link_token)]
    pub token: String,
    #[schema(schema_with = crate::schemas::new_password)]
    pub new_password: String,
}

/// A token from a link in a mail.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"token": "m3Bq…"}))]
pub struct TokenRequest {
    #[schema(schema_with = crate::schemas::link_token)]
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"newEmail": "alice@new.example.com", "currentPassword": "correct horse"}))]
pub struct ChangeEmailRequest {
    #[schema(schema_with = crate::schemas::email)]
    pub new_email: String,
    #[schema(schema_with = crate::schemas::presented_password)]
    pub current_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"password": "correct horse"}))]
pub struct PasswordRequest {
    #[schema(schema_with = crate::schemas::presented_password)]
    pub password: String,
}

/// A live session of the signed-in user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "b5f0c2…", "createdAt": "2026-11-27T08:00:00Z", "lastUsedAt": "2026-11-27T09:30:00Z",
    "userAgent": "Mozilla/5.0 …", "clientAddress": "203.0.113.7", "current": true
}))]
pub struct SessionResponse {
    /// The session's id (`DELETE /api/auth/sessions/{id}` ends it).
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its refresh token was last issued (sign-in or refresh).
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    pub user_agent: Option<String>,
    pub client_address: Option<String>,
    /// Whether the calling access token belongs to this session.
    pub current: bool,
}

/// The answer to a sign-in whose password checked out for a user with a
/// second factor: no session yet; finish at `POST /api/auth/signin/mfa`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "mfaRequired": true, "mfaToken": "Jt0cS2mS1o2-5hC3p8bX0Zr8YyQ2mJm2mH8o2bXx3aQ",
    "methods": ["totp", "recovery_code"], "expiresIn": 300
}))]
pub struct MfaRequiredResponse {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single use, valid for `expiresIn` seconds and at most 5 wrong codes.
    pub mfa_token: String,
    /// The second factors the user has: `totp`, `recovery_code`, `passkey`.
    pub methods: Vec<String>,
    pub expires_in: u64,
}

/// The second step of a sign-in: the `mfaToken` and exactly one of `code`
/// (from the authenticator app) or `recoveryCode`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"mfaToken": "Jt0cS2mS1o2-5hC3p8bX0Zr8YyQ2mJm2mH8o2bXx3aQ", "code": "492039"}))]
pub struct SigninMfaRequest {
    pub mfa_token: String,
    /// A 6-digit code from the authenticator app.
    #[serde(default)]
    pub code: Option<String>,
    /// One of the recovery codes (`xxxxx-xxxxx`; case and dashes do not matter).
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// A password re-entered to confirm a change of second factors.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct PasswordConfirmation {
    pub password: String,
}

/// A TOTP enrolment: add it to an authenticator app, then confirm a code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauthUrl": "otpauth://totp/rolegate:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=rolegate",
    "qrPng": "data:image/png;base64,iVBORw0KGgo…"
}))]
pub struct TotpEnrolmentResponse {
    /// The secret in Base32, for typing in.
    pub secret: String,
    pub otpauth_url: String,
    /// The `otpauth://` URI as a QR code, a PNG data URL.
    pub qr_png: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct TotpCode {
    /// A 6-digit code from the authenticator app.
    pub code: String,
}

/// Recovery codes: shown this once, each usable once instead of a code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"recoveryCodes": ["k7m2q-x9d4a", "p3n8w-z5c2h"]}))]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

/// The caller's second factors.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"methods": ["totp", "recovery_code"]}))]
pub struct MfaMethodsResponse {
    /// `totp`, `recovery_code`, `passkey`.
    pub methods: Vec<String>,
}

/// A sign-in's answer: the session, or the second step it needs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SigninAnswer {
    Session(SigninResponse),
    SecondFactor(MfaRequiredResponse),
}
