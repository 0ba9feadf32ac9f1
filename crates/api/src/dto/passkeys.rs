//! Bodies of the passkey routes (`/api/auth/passkeys`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A ceremony begun: send `options` to `navigator.credentials.create` (or
/// `get`) and the result back with `ceremonyId` within `expiresIn` seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "ceremonyId": "Zk3…q1", "expiresIn": 300,
    "options": {"publicKey": {
        "rp": {"id": "localhost", "name": "rolegate"},
        "user": {"id": "3q2-7w…", "name": "alice", "displayName": "alice"},
        "challenge": "kU1m…", "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "timeout": 300000,
        "authenticatorSelection": {"residentKey": "required", "requireResidentKey": true, "userVerification": "required"},
        "attestation": "none"
    }}
}))]
pub struct CeremonyResponse {
    /// Identifies the ceremony's server-side state; single use.
    pub ceremony_id: String,
    /// Seconds until the ceremony expires.
    pub expires_in: u64,
    /// WebAuthn options in their JSON form (`{"publicKey": …}`; binary
    /// values base64url): `PublicKeyCredential.parseCreationOptionsFromJSON`
    /// (or `parseRequestOptionsFromJSON`) turns `publicKey` into what the
    /// browser takes.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// The authenticator's answer to a registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "ceremonyId": "Zk3…q1", "name": "Laptop",
    "credential": {"id": "AbC…", "rawId": "AbC…", "type": "public-key",
        "response": {"attestationObject": "o2Nm…", "clientDataJSON": "eyJ0…"}}
}))]
pub struct FinishRegistrationRequest {
    pub ceremony_id: String,
    /// A name for the passkey, 1–64 characters (e.g. the device).
    pub name: String,
    /// The `PublicKeyCredential` as JSON (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A passkey of the signed-in user.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": 7, "name": "Laptop", "createdAt": "2026-12-10T08:00:00Z", "lastUsedAt": null}))]
pub struct PasskeyResponse {
    /// `DELETE /api/auth/passkeys/{id}` removes it.
    pub id: i64,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The last sign-in with it.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<rolegate_domain::PasskeyInfo> for PasskeyResponse {
    fn from(p: rolegate_domain::PasskeyInfo) -> Self {
        Self {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// Begins a passwordless sign-in; with `username`, only that account's
/// passkeys are accepted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice"}))]
pub struct StartSigninRequest {
    #[serde(default)]
    pub username: Option<String>,
}

/// The authenticator's answer to a sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "ceremonyId": "Q9x…p0",
    "credential": {"id": "AbC…", "rawId": "AbC…", "type": "public-key",
        "response": {"authenticatorData": "SZYN…", "clientDataJSON": "eyJ0…", "signature": "MEUC…", "userHandle": "3q2-7w…"}}
}))]
pub struct FinishSigninRequest {
    pub ceremony_id: String,
    /// The `PublicKeyCredential` as JSON (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Begins the passkey step of a password sign-in that answered `mfaRequired`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"mfaToken": "Jt0cS2mS1o2-5hC3p8bX0Zr8YyQ2mJm2mH8o2bXx3aQ"}))]
pub struct MfaPasskeyStartRequest {
    pub mfa_token: String,
}

/// The authenticator's answer to the passkey step of a password sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "mfaToken": "Jt0cS2mS1o2-5hC3p8bX0Zr8YyQ2mJm2mH8o2bXx3aQ",
    "ceremonyId": "Q9x…p0",
    "credential": {"id": "AbC…", "rawId": "AbC…", "type": "public-key",
        "response": {"authenticatorData": "SZYN…", "clientDataJSON": "eyJ0…", "signature": "MEUC…", "userHandle": "3q2-7w…"}}
}))]
pub struct MfaPasskeyFinishRequest {
    pub mfa_token: String,
    pub ceremony_id: String,
    /// The `PublicKeyCredential` as JSON (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}
