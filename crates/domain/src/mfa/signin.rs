//! The two-step sign-in: a password that checks out for a user with a
//! second factor gives an `mfaToken` instead of a session; the second step
//! trades it and a code for the session.

use super::{AuthMethod, ChallengeRecord, MfaMethod, NewChallenge};
use crate::authentication::{AuthService, SignedIn, seconds_until};
use crate::error::Error;
use crate::sessions::ClientInfo;
use crate::users::{LoginRecord, UserId};

/// How long an `mfaToken` works, in seconds.
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// Wrong codes one `mfaToken` survives; the next voids it.
pub const MFA_TOKEN_MAX_FAILURES: i32 = 5;
/// The longest `mfaToken` looked up (ours are 43 characters).
const MAX_MFA_TOKEN_LEN: usize = 256;
/// The longest code looked at.
const MAX_CODE_LEN: usize = 64;

/// The outcome of a first step whose password checked out.
#[derive(Debug, Clone)]
pub enum SignInStep {
    /// No second factor: the session.
    Done(Box<SignedIn>),
    /// A second factor is needed.
    SecondFactor(MfaChallenge),
}

impl SignInStep {
    /// The session, if no second step is needed.
    pub fn into_session(self) -> Option<SignedIn> {
        match self {
            Self::Done(s) => Some(*s),
            Self::SecondFactor(_) => None,
        }
    }
}

/// What the client needs for the second step.
#[derive(Debug, Clone)]
pub struct MfaChallenge {
    /// The `mfaToken` (256 random bits; stored only hashed).
    pub token: String,
    /// The factors the user has.
    pub methods: Vec<MfaMethod>,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// A second step in progress: the challenge and whose it is.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub challenge: ChallengeRecord,
    pub login: LoginRecord,
}

/// The second factor presented in the second step.
#[derive(Debug, Clone)]
pub enum MfaProof {
    Totp(String),
    RecoveryCode(String),
}

impl AuthService {
    /// After the password checked out: the session, or — for a user with a
    /// second factor — a challenge for the second step.
    pub(crate) async fn after_password(
        &self,
        login: &LoginRecord,
        client: &ClientInfo,
    ) -> Result<SignInStep, Error> {
        let methods = self.deps.mfa.methods(login.id).await?;
        if methods.is_empty() {
            return Ok(SignInStep::Done(Box::new(
                self.open_session(login, client, &[AuthMethod::Pwd]).await?,
            )));
        }
        let now = self.deps.clock.now();
        let token = self.deps.refresh.generate();
        let expires_at = now + chrono::Duration::seconds(MFA_TOKEN_TTL_SECS);
        self.deps
            .mfa
            .insert_challenge(NewChallenge {
                user_id: login.id,
                token_hash: self.mfa_token_hash(&token),
                amr: vec![AuthMethod::Pwd],
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(user_id = %login.id, "password accepted: second factor required");
        Ok(SignInStep::SecondFactor(MfaChallenge {
            token,
            methods,
            expires_in: seconds_until(now, expires_at),
        }))
    }

    fn mfa_token_hash(&self, token: &str) -> String {
        self.deps.refresh.hash(&format!("mfa:{token}"))
    }

    /// The live challenge of `token` with its user's sign-in record (the
    /// sign-in limits key on the name); `InvalidMfaToken` when unknown,
    /// used, expired or voided by too many wrong codes.
    pub async fn mfa_challenge(&self, token: &str) -> Result<PendingSignIn, Error> {
        if token.is_empty() || token.len() > MAX_MFA_TOKEN_LEN {
            return Err(Error::InvalidMfaToken);
        }
        let now = self.deps.clock.now();
        let challenge = self
            .deps
            .mfa
            .find_challenge(&self.mfa_token_hash(token))
            .await?
            .filter(|c| !c.used && c.expires_at > now && c.failures < MFA_TOKEN_MAX_FAILURES)
            .ok_or(Error::InvalidMfaToken)?;
        let login = self
            .deps
            .users
            .login_by_id(challenge.user_id)
            .await?
            .ok_or(Error::InvalidMfaToken)?;
        Ok(PendingSignIn { challenge, login })
    }

    /// The second step: `proof` checked against the challenge's user; on
    /// success the challenge is used up and the session opened with the
    /// first step's methods and `otp`. A wrong code counts against the
    /// challenge (`MFA_TOKEN_MAX_FAILURES`) and is `InvalidMfaCode`. Not
    /// rate-limited by itself: callers go through `Throttle::second_factor`.
    pub async fn finish_second_factor(
        &self,
        pending: &PendingSignIn,
        proof: &MfaProof,
        client: &ClientInfo,
    ) -> Result<SignedIn, Error> {
        let PendingSignIn { challenge, login } = pending;
        let user = challenge.user_id;
        if login.disabled {
            return Err(Error::AccountDisabled);
        }
        let accepted = match proof {
            MfaProof::Totp(code) => self.accept_totp(user, code).await?,
            MfaProof::RecoveryCode(code) => self.accept_recovery_code(user, code).await?,
        };
        if !accepted {
            self.second_factor_refused(pending).await?;
            return Err(Error::InvalidMfaCode);
        }
        self.complete_second_factor(pending, AuthMethod::Otp, client)
            .await
    }

    /// Counts a refused second factor against the challenge.
    pub async fn second_factor_refused(&self, pending: &PendingSignIn) -> Result<(), Error> {
        let failures = self
            .deps
            .mfa
            .count_challenge_failure(pending.challenge.id)
            .await?;
        tracing::info!(user_id = %pending.login.id, failures, "second factor refused");
        Ok(())
    }

    /// After the second factor `method` checked out: the challenge is used
    /// up (once) and the session opened with the first step's methods and
    /// `method`.
    pub async fn complete_second_factor(
        &self,
        pending: &PendingSignIn,
        method: AuthMethod,
        client: &ClientInfo,
    ) -> Result<SignedIn, Error> {
        let now = self.deps.clock.now();
        if !self
            .deps
            .mfa
            .consume_challenge(pending.challenge.id, now)
            .await?
        {
            return Err(Error::InvalidMfaToken);
        }
        let mut amr = pending.challenge.amr.clone();
        amr.push(method);
        amr.sort();
        amr.dedup();
        self.open_session(&pending.login, client, &amr).await
    }

    /// Whether `code` is a current TOTP code of `user` not used before
    /// (its step is recorded, so it is never accepted twice).
    pub(crate) async fn accept_totp(&self, user: UserId, code: &str) -> Result<bool, Error> {
        let code = code.trim();
        if code.is_empty() || code.len() > MAX_CODE_LEN {
            return Ok(false);
        }
        let Some(totp) = self.deps.mfa.totp(user).await? else {
            return Ok(false);
        };
        if totp.confirmed_at.is_none() {
            return Ok(false);
        }
        let secret = self.deps.factors.open(&totp.secret_sealed)?;
        let now = self.deps.clock.now();
        let Some(step) = self.deps.factors.totp_step(&secret, code, now) else {
            return Ok(false);
        };
        if step <= totp.last_step || !self.deps.mfa.use_totp_step(user, step).await? {
            tracing::warn!(user_id = %user, "a TOTP code was presented again: refused");
            return Ok(false);
        }
        Ok(true)
    }

    async fn accept_recovery_code(&self, user: UserId, code: &str) -> Result<bool, Error> {
        if code.trim().is_empty() || code.len() > MAX_CODE_LEN {
            return Ok(false);
        }
        let hash = self.deps.factors.recovery_code_hash(code);
        let now = self.deps.clock.now();
        let used = self.deps.mfa.use_recovery_code(user, &hash, now).await?;
        if used {
            tracing::info!(user_id = %user, "a recovery code was used");
        }
        Ok(used)
    }
}
