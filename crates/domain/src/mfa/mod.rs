//! Second factors: TOTP (RFC 6238), recovery codes, and the two-step
//! sign-in that asks for one; the methods a session was opened with
//! (`amr`, RFC 8176).
//!
//! The rules live here; the codes' arithmetic and the sealing of secrets are
//! behind [`FactorSecrets`] (implemented in `rolegate-auth`), their storage
//! behind [`MfaStore`] (`rolegate-persistence`).

mod service;
mod signin;
#[cfg(test)]
mod tests;

pub use service::{MfaService, RECOVERY_CODES, TotpEnrolment};
pub use signin::{
    MFA_TOKEN_MAX_FAILURES, MFA_TOKEN_TTL_SECS, MfaChallenge, MfaProof, PendingSignIn, SignInStep,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{BoxError, StoreError};
use crate::users::UserId;

/// How the holder of a session proved who they are (RFC 8176 values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthMethod {
    /// A password.
    Pwd,
    /// A one-time code: TOTP or a recovery code.
    Otp,
    /// A hardware-bound key: a passkey.
    Hwk,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pwd" => Some(Self::Pwd),
            "otp" => Some(Self::Otp),
            "hwk" => Some(Self::Hwk),
            _ => None,
        }
    }

    /// `amr` as stored: the values, space-separated (`"pwd otp"`).
    pub fn join(methods: &[AuthMethod]) -> String {
        methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The stored form back; unknown words are dropped, and nothing (a
    /// session from before `amr` was kept) means a password.
    pub fn split(stored: Option<&str>) -> Vec<AuthMethod> {
        let methods: Vec<_> = stored
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(Self::parse)
            .collect();
        if methods.is_empty() {
            vec![Self::Pwd]
        } else {
            methods
        }
    }

    /// Whether `amr` shows more than a password: a one-time code or a passkey.
    pub fn is_multi_factor(amr: &[AuthMethod]) -> bool {
        amr.iter().any(|m| matches!(m, Self::Otp | Self::Hwk))
    }
}

/// A second factor a user can use for the second step of a sign-in, as
/// named in `methods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
    Passkey,
}

impl MfaMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }
}

/// A user's TOTP enrolment as stored.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    /// The secret, sealed by [`FactorSecrets::seal`].
    pub secret_sealed: String,
    /// `None` until a first code confirmed it: not active before.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last accepted 30-second step (`-1`: none).
    pub last_step: i64,
}

/// The second step of a sign-in, as stored (its token only hashed).
#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    pub id: i64,
    pub user_id: UserId,
    /// What the first step proved (`pwd`).
    pub amr: Vec<AuthMethod>,
    pub failures: i32,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

/// A new second step to store.
#[derive(Debug, Clone)]
pub struct NewChallenge {
    pub user_id: UserId,
    pub token_hash: String,
    pub amr: Vec<AuthMethod>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Storage of second factors. Every write that races another (two codes of
/// one step, two uses of one recovery code or `mfaToken`) is a conditional
/// update: exactly one wins.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// The second factors `user` can sign in with (confirmed TOTP, unused
    /// recovery codes, passkeys), sorted.
    async fn methods(&self, user: UserId) -> Result<Vec<MfaMethod>, StoreError>;

    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Stores an unconfirmed secret, replacing an unconfirmed one.
    /// `Ok(false)`: a confirmed one exists (nothing changed).
    async fn put_pending_totp(
        &self,
        user: UserId,
        secret_sealed: String,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Confirms the pending secret with the step of the code that proved it
    /// and stores the recovery codes (hashes), replacing any, in one
    /// transaction with `audit`. `Ok(false)`: nothing pending any more.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: Vec<String>,
        audit: crate::audit::NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Records `step` as used if it is after the last used one.
    /// `Ok(false)`: it (or a later one) was used already — a replay.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;

    /// Removes the TOTP secret and the recovery codes, with `audit`.
    /// `Ok(false)`: there was no TOTP.
    async fn remove_totp(
        &self,
        user: UserId,
        audit: crate::audit::NewAuditEvent,
    ) -> Result<bool, StoreError>;

    /// Replaces the recovery codes, with `audit`.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: Vec<String>,
        audit: crate::audit::NewAuditEvent,
    ) -> Result<(), StoreError>;

    /// Marks the unused recovery code with this hash used. `Ok(false)`: no
    /// such unused code.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn insert_challenge(&self, challenge: NewChallenge) -> Result<(), StoreError>;

    async fn find_challenge(&self, token_hash: &str)
    -> Result<Option<ChallengeRecord>, StoreError>;

    /// Counts a failed code against the challenge; returns the failures now.
    async fn count_challenge_failure(&self, id: i64) -> Result<i32, StoreError>;

    /// Marks the challenge used if it was not. `Ok(false)`: used already.
    async fn consume_challenge(&self, id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Deletes challenges that expired before `before`; returns how many.
    async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Whether any user has a confirmed second factor (the server refuses
    /// to start in production without an encryption key then).
    async fn any_enrolled(&self) -> Result<bool, StoreError>;
}

/// Sealing a TOTP secret or opening it failed (a wrong or missing key).
#[derive(Debug, thiserror::Error)]
#[error("second-factor secret unavailable")]
pub struct FactorError(#[source] pub BoxError);

/// A missing or wrong key is a misconfiguration of the server: the request
/// is refused as "unavailable" (503) and the cause logged.
impl From<FactorError> for crate::error::Error {
    fn from(e: FactorError) -> Self {
        Self::Unavailable(e.0)
    }
}

/// The arithmetic of second factors: TOTP codes, the secrets' sealing,
/// recovery codes and their keyed hashes.
pub trait FactorSecrets: Send + Sync {
    /// A new random TOTP secret (160 bits).
    fn new_totp_secret(&self) -> Vec<u8>;

    /// The secret in Base32, its `otpauth://` URI for `account`, and that
    /// URI as a QR code in a PNG data URL.
    fn totp_setup(&self, secret: &[u8], account: &str) -> Result<TotpEnrolment, FactorError>;

    /// The 30-second step whose code `code` is, among the step of `now` and
    /// the one before and after; `None` when it is none of them.
    fn totp_step(&self, secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64>;

    fn seal(&self, secret: &[u8]) -> Result<String, FactorError>;

    fn open(&self, sealed: &str) -> Result<Vec<u8>, FactorError>;

    /// `n` new recovery codes, as shown to the user.
    fn new_recovery_codes(&self, n: usize) -> Vec<String>;

    /// The keyed hash a recovery code is stored and looked up by (the code
    /// normalised: case, spaces and dashes do not matter).
    fn recovery_code_hash(&self, code: &str) -> String;
}
