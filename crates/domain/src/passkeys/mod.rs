//! Passkeys (WebAuthn): registering them, listing and removing them, and
//! passwordless sign-in with one.
//!
//! The domain holds the rules (who may finish which ceremony, once; a
//! credential belongs to one user; a sign counter never goes back); the
//! cryptography is behind [`PasskeyVerifier`] (an adapter in
//! `rolegate-auth` over `webauthn-rs`) and storage behind [`PasskeyStore`].
//! Neither port shows a WebAuthn library type: options and credentials are
//! JSON, ceremony state and stored credentials opaque strings.

mod service;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use service::{PasskeyDeps, PasskeyService, StartedCeremony};

use crate::error::{BoxError, StoreError};
use crate::users::UserId;

/// How long a ceremony (registration or sign-in) may take, in seconds.
pub const CEREMONY_TTL_SECS: i64 = 300;

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A stored passkey, as sign-in needs it.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub id: i64,
    pub user_id: UserId,
    /// The WebAuthn user handle the credential was registered under.
    pub user_handle: String,
    /// The verifier's serialized credential (public key, counter, flags).
    pub credential: String,
    /// The last sign counter seen (0: the authenticator keeps none).
    pub sign_count: u32,
}

/// A passkey to store.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    pub user_id: UserId,
    pub name: String,
    pub user_handle: String,
    /// The credential id, base64url (unique over every user).
    pub credential_id: String,
    pub credential: String,
    pub sign_count: u32,
    pub created_at: DateTime<Utc>,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a passkey for the signed-in user (`user_id` set).
    Register,
    /// Signing in with any user's discoverable passkey.
    Authenticate,
    /// Signing in as the named user (`user_id` unset when no such user:
    /// the ceremony then always fails, like one with a wrong credential).
    AuthenticateUser,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
            Self::AuthenticateUser => "authenticate_user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Register, Self::Authenticate, Self::AuthenticateUser]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A ceremony's server-side state: stored under the hash of its id,
/// single-use, short-lived.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub kind: CeremonyKind,
    pub user_id: Option<UserId>,
    /// The verifier's opaque state (the challenge among it).
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// Storage of passkeys and ceremonies.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// The user handle of the user's passkeys, if they have one.
    async fn user_handle(&self, user: UserId) -> Result<Option<String>, StoreError>;
    /// The credential ids (base64url) of the user's passkeys.
    async fn credential_ids(&self, user: UserId) -> Result<Vec<String>, StoreError>;
    async fn list(&self, user: UserId) -> Result<Vec<PasskeyInfo>, StoreError>;
    /// Stores a passkey; `Conflict(UniqueField::Credential)` when its
    /// credential id is registered already.
    async fn insert(&self, passkey: NewPasskey) -> Result<PasskeyInfo, StoreError>;
    async fn find_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>, StoreError>;
    /// Records a use: the new credential state, counter and time — only if
    /// the stored counter is still below `sign_count` (or both are 0).
    /// `false`: it was not (a concurrent use got there first).
    async fn record_use(
        &self,
        id: i64,
        credential: &str,
        sign_count: u32,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes one of the user's passkeys; `false` if the user has none with this id.
    async fn delete(&self, user: UserId, id: i64) -> Result<bool, StoreError>;
    /// Deletes every passkey of the user (an admin's reset of second factors).
    async fn delete_all_for_user(&self, user: UserId) -> Result<u64, StoreError>;
    async fn insert_ceremony(&self, id_hash: &str, ceremony: &Ceremony) -> Result<(), StoreError>;
    /// Removes the ceremony and returns it; `None` if there is none, or a
    /// concurrent request took it first (one delete wins).
    async fn take_ceremony(&self, id_hash: &str) -> Result<Option<Ceremony>, StoreError>;
    /// Deletes ceremonies that expired before `now`; returns how many.
    async fn purge_ceremonies(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Options for the browser and the state to keep until the ceremony ends.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// What `navigator.credentials.create`/`get` takes (`{"publicKey": …}`).
    pub options: serde_json::Value,
    pub state: String,
}

/// Whom a passkey is registered for.
#[derive(Debug, Clone)]
pub struct PasskeyUser<'a> {
    /// The user handle to use (a new one when `None`).
    pub handle: Option<&'a str>,
    pub name: &'a str,
    pub display_name: &'a str,
    /// Credential ids the authenticator should not register again.
    pub exclude: &'a [String],
}

/// A registration that checked out.
#[derive(Debug, Clone)]
pub struct VerifiedPasskey {
    pub user_handle: String,
    pub credential_id: String,
    pub credential: String,
    pub sign_count: u32,
}

/// Who a presented assertion claims to be (not verified yet).
#[derive(Debug, Clone)]
pub struct PresentedAssertion {
    pub credential_id: String,
    pub user_handle: Option<String>,
}

/// An assertion that checked out: the credential's new state.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub credential: String,
    pub sign_count: u32,
}

/// Why a passkey (or a ceremony) was refused. All read as one 401; the
/// kind is for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasskeyFailure {
    /// No such ceremony: never started, expired, or finished already.
    UnknownCeremony,
    /// The ceremony is not for this (a registration finished as a sign-in,
    /// another user's registration).
    WrongCeremony,
    /// No passkey has this credential id.
    UnknownCredential,
    /// The credential belongs to another user than the ceremony's or the
    /// user handle's.
    OtherUser,
    /// The sign counter did not go up: a cloned authenticator.
    CounterRegression,
    /// The verifier refused it (origin, challenge, signature, flags…).
    Verification(String),
}

/// What the verifier reports.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// Not a credential at all (its JSON does not parse as one).
    #[error("malformed credential: {0}")]
    Malformed(String),
    #[error("passkey refused: {0:?}")]
    Refused(PasskeyFailure),
    #[error("passkey verifier failed")]
    Internal(#[source] BoxError),
}

/// The WebAuthn relying party: ceremonies' options and their verification.
pub trait PasskeyVerifier: Send + Sync {
    fn start_registration(&self, user: &PasskeyUser<'_>) -> Result<Challenge, PasskeyError>;
    fn finish_registration(
        &self,
        state: &str,
        credential: &serde_json::Value,
    ) -> Result<VerifiedPasskey, PasskeyError>;
    /// A sign-in challenge for discoverable credentials (no credential is
    /// listed in the options, whoever signs in).
    fn start_authentication(&self) -> Result<Challenge, PasskeyError>;
    /// Reads the credential id and user handle of an assertion.
    fn identify(&self, credential: &serde_json::Value) -> Result<PresentedAssertion, PasskeyError>;
    /// Verifies an assertion against the stored credential.
    fn finish_authentication(
        &self,
        state: &str,
        credential: &serde_json::Value,
        stored: &str,
    ) -> Result<VerifiedAssertion, PasskeyError>;
}
