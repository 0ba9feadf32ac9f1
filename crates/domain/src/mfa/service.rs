//! Enrolling and removing second factors: TOTP and recovery codes.

use std::sync::Arc;

use serde_json::json;

use super::{FactorSecrets, MfaStore};
use crate::accounts::service::event;
use crate::authentication::AuthService;
use crate::error::Error;
use crate::throttle::Throttle;
use crate::users::{Password, UserId};

/// Recovery codes issued at once.
pub const RECOVERY_CODES: usize = 10;

/// What an enrolment shows the user once.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// The secret in Base32 (for typing into an app).
    pub secret: String,
    /// The `otpauth://totp/…` URI.
    pub otpauth_url: String,
    /// The URI as a QR code: a `data:image/png;base64,…` URL.
    pub qr_png: String,
}

/// TOTP enrolment, confirmation and removal; recovery codes.
#[derive(Clone)]
pub struct MfaService {
    store: Arc<dyn MfaStore>,
    factors: Arc<dyn FactorSecrets>,
    auth: AuthService,
    throttle: Throttle,
}

impl MfaService {
    pub fn new(auth: AuthService, throttle: Throttle) -> Self {
        Self {
            store: auth.deps.mfa.clone(),
            factors: auth.deps.factors.clone(),
            auth,
            throttle,
        }
    }

    /// The caller's name, if the account exists and is enabled.
    async fn caller(&self, user: UserId) -> Result<String, Error> {
        match self.auth.deps.users.profile(user).await? {
            Some(p) if p.user.disabled => Err(Error::AccountDisabled),
            Some(p) => Ok(p.user.username),
            None => Err(Error::ActorGone),
        }
    }

    /// The caller's name once `password` checked out under the sign-in limits.
    async fn reauthenticated(
        &self,
        user: UserId,
        password: &Password,
        client: &str,
    ) -> Result<String, Error> {
        let username = self.caller(user).await?;
        self.throttle
            .reauthenticate(&self.auth, &username, password, client)
            .await?;
        Ok(username)
    }

    /// The second factors the caller has.
    pub async fn methods(&self, user: UserId) -> Result<Vec<super::MfaMethod>, Error> {
        self.caller(user).await?;
        Ok(self.store.methods(user).await?)
    }

    /// Starts a TOTP enrolment (the password re-checked): a new secret,
    /// stored sealed and inactive until [`MfaService::confirm_totp`]; a
    /// repeated start replaces the unconfirmed secret. `MfaAlreadyEnabled`
    /// when TOTP is active (remove it first).
    pub async fn enrol_totp(
        &self,
        user: UserId,
        password: &Password,
        client: &str,
    ) -> Result<TotpEnrolment, Error> {
        let username = self.reauthenticated(user, password, client).await?;
        let secret = self.factors.new_totp_secret();
        let enrolment = self.factors.totp_setup(&secret, &username)?;
        let sealed = self.factors.seal(&secret)?;
        let now = self.auth.deps.clock.now();
        if !self.store.put_pending_totp(user, sealed, now).await? {
            return Err(Error::MfaAlreadyEnabled);
        }
        tracing::info!(user_id = %user, "TOTP enrolment started");
        Ok(enrolment)
    }

    /// Confirms the pending enrolment with a code from the app: TOTP is
    /// active from now on; the answer is a fresh set of recovery codes
    /// (shown once, stored only as keyed hashes).
    pub async fn confirm_totp(&self, user: UserId, code: &str) -> Result<Vec<String>, Error> {
        let username = self.caller(user).await?;
        let pending = self
            .store
            .totp(user)
            .await?
            .filter(|t| t.confirmed_at.is_none())
            .ok_or(Error::MfaNotPending)?;
        let secret = self.factors.open(&pending.secret_sealed)?;
        let now = self.auth.deps.clock.now();
        let step = self
            .factors
            .totp_step(&secret, code.trim(), now)
            .ok_or(Error::InvalidMfaCode)?;
        let codes = self.factors.new_recovery_codes(RECOVERY_CODES);
        let hashes = codes
            .iter()
            .map(|c| self.factors.recovery_code_hash(c))
            .collect();
        let audit = event(
            now,
            user,
            &username,
            "user.mfa.totp.enable",
            json!({}).to_string(),
        );
        if !self.store.confirm_totp(user, step, hashes, audit).await? {
            return Err(Error::MfaNotPending);
        }
        tracing::info!(user_id = %user, "TOTP enabled");
        Ok(codes)
    }

    /// Removes TOTP and the recovery codes (the password re-checked).
    pub async fn remove_totp(
        &self,
        user: UserId,
        password: &Password,
        client: &str,
    ) -> Result<(), Error> {
        let username = self.reauthenticated(user, password, client).await?;
        let now = self.auth.deps.clock.now();
        let audit = event(
            now,
            user,
            &username,
            "user.mfa.totp.remove",
            json!({}).to_string(),
        );
        if !self.store.remove_totp(user, audit).await? {
            return Err(Error::MfaNotEnabled);
        }
        tracing::info!(user_id = %user, "TOTP removed");
        Ok(())
    }

    /// A fresh set of recovery codes (the password re-checked); the old
    /// ones stop working. Only for a user with an active second factor.
    pub async fn regenerate_recovery_codes(
        &self,
        user: UserId,
        password: &Password,
        client: &str,
    ) -> Result<Vec<String>, Error> {
        let username = self.reauthenticated(user, password, client).await?;
        let methods = self.store.methods(user).await?;
        if !methods
            .iter()
            .any(|m| !matches!(m, super::MfaMethod::RecoveryCode))
        {
            return Err(Error::MfaNotEnabled);
        }
        let codes = self.factors.new_recovery_codes(RECOVERY_CODES);
        let hashes = codes
            .iter()
            .map(|c| self.factors.recovery_code_hash(c))
            .collect();
        let now = self.auth.deps.clock.now();
        let audit = event(
            now,
            user,
            &username,
            "user.mfa.recovery_codes.regenerate",
            json!({}).to_string(),
        );
        self.store
            .replace_recovery_codes(user, hashes, audit)
            .await?;
        tracing::info!(user_id = %user, "recovery codes regenerated");
        Ok(codes)
    }

    /// Deletes expired second steps; returns how many.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let before = self.auth.deps.clock.now() - chrono::Duration::hours(1);
        Ok(self.store.purge_challenges(before).await?)
    }
}
