//! Second factors in memory: [`MemoryMfa`] stores them, [`FakeFactors`]
//! does their arithmetic in the open (a TOTP code is its step number).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::NewAuditEvent;
use crate::error::StoreError;
use crate::mfa::{
    ChallengeRecord, FactorError, FactorSecrets, MfaMethod, MfaStore, NewChallenge, TotpEnrolment,
    TotpRecord,
};
use crate::users::UserId;

#[derive(Debug, Default)]
struct Rows {
    totp: BTreeMap<i64, TotpRecord>,
    /// (user, hash, used)
    codes: Vec<(i64, String, bool)>,
    challenges: Vec<(String, ChallengeRecord)>,
    audit: Vec<NewAuditEvent>,
}

/// An [`MfaStore`] in memory; every write is atomic under one lock.
#[derive(Debug, Default)]
pub struct MemoryMfa(Mutex<Rows>);

impl MemoryMfa {
    fn rows(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The audit actions recorded, in order.
    pub fn audit_actions(&self) -> Vec<String> {
        self.rows().audit.iter().map(|a| a.action.clone()).collect()
    }
}

#[async_trait]
impl MfaStore for MemoryMfa {
    async fn methods(&self, user: UserId) -> Result<Vec<MfaMethod>, StoreError> {
        let rows = self.rows();
        let mut methods = Vec::new();
        if rows
            .totp
            .get(&user.0)
            .is_some_and(|t| t.confirmed_at.is_some())
        {
            methods.push(MfaMethod::Totp);
        }
        if rows.codes.iter().any(|(u, _, used)| *u == user.0 && !used) {
            methods.push(MfaMethod::RecoveryCode);
        }
        Ok(methods)
    }

    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        Ok(self.rows().totp.get(&user.0).cloned())
    }

    async fn put_pending_totp(
        &self,
        user: UserId,
        secret_sealed: String,
        _at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        if rows
            .totp
            .get(&user.0)
            .is_some_and(|t| t.confirmed_at.is_some())
        {
            return Ok(false);
        }
        rows.totp.insert(
            user.0,
            TotpRecord {
                secret_sealed,
                confirmed_at: None,
                last_step: -1,
            },
        );
        Ok(true)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: Vec<String>,
        audit: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        let at = audit.at;
        match rows.totp.get_mut(&user.0) {
            Some(t) if t.confirmed_at.is_none() => {
                t.confirmed_at = Some(at);
                t.last_step = step;
            }
            _ => return Ok(false),
        }
        rows.codes.retain(|(u, _, _)| *u != user.0);
        rows.codes
            .extend(recovery_hashes.into_iter().map(|h| (user.0, h, false)));
        rows.audit.push(audit);
        Ok(true)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        match rows.totp.get_mut(&user.0) {
            Some(t) if t.last_step < step => {
                t.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_totp(&self, user: UserId, audit: NewAuditEvent) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        if rows.totp.remove(&user.0).is_none() {
            return Ok(false);
        }
        rows.codes.retain(|(u, _, _)| *u != user.0);
        rows.audit.push(audit);
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: Vec<String>,
        audit: NewAuditEvent,
    ) -> Result<(), StoreError> {
        let mut rows = self.rows();
        rows.codes.retain(|(u, _, _)| *u != user.0);
        rows.codes
            .extend(hashes.into_iter().map(|h| (user.0, h, false)));
        rows.audit.push(audit);
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &str,
        _at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        match rows
            .codes
            .iter_mut()
            .find(|(u, h, used)| *u == user.0 && h == hash && !used)
        {
            Some(code) => {
                code.2 = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn insert_challenge(&self, c: NewChallenge) -> Result<(), StoreError> {
        let mut rows = self.rows();
        let id = i64::try_from(rows.challenges.len()).unwrap_or(i64::MAX) + 1;
        rows.challenges.push((
            c.token_hash,
            ChallengeRecord {
                id,
                user_id: c.user_id,
                amr: c.amr,
                failures: 0,
                expires_at: c.expires_at,
                used: false,
            },
        ));
        Ok(())
    }

    async fn find_challenge(
        &self,
        token_hash: &str,
    ) -> Result<Option<ChallengeRecord>, StoreError> {
        Ok(self
            .rows()
            .challenges
            .iter()
            .find(|(h, _)| h == token_hash)
            .map(|(_, c)| c.clone()))
    }

    async fn count_challenge_failure(&self, id: i64) -> Result<i32, StoreError> {
        let mut rows = self.rows();
        let c = rows
            .challenges
            .iter_mut()
            .find(|(_, c)| c.id == id)
            .ok_or(StoreError::NotFound)?;
        c.1.failures += 1;
        Ok(c.1.failures)
    }

    async fn consume_challenge(&self, id: i64, _at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut rows = self.rows();
        match rows
            .challenges
            .iter_mut()
            .find(|(_, c)| c.id == id && !c.used)
        {
            Some(c) => {
                c.1.used = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn purge_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut rows = self.rows();
        let n = rows.challenges.len();
        rows.challenges.retain(|(_, c)| c.expires_at >= before);
        Ok(u64::try_from(n - rows.challenges.len()).unwrap_or(0))
    }

    async fn any_enrolled(&self) -> Result<bool, StoreError> {
        Ok(self.rows().totp.values().any(|t| t.confirmed_at.is_some()))
    }
}

/// Second-factor arithmetic in the open: the TOTP code of a step is the
/// step's number; sealing is the identity in hex; recovery codes count up.
#[derive(Debug, Default)]
pub struct FakeFactors(std::sync::atomic::AtomicU64);

impl FakeFactors {
    /// The code [`FactorSecrets::totp_step`] accepts for the step of `at`.
    pub fn code_at(at: DateTime<Utc>) -> String {
        (at.timestamp() / 30).to_string()
    }
}

impl FactorSecrets for FakeFactors {
    fn new_totp_secret(&self) -> Vec<u8> {
        b"secret".to_vec()
    }
    fn totp_setup(&self, _secret: &[u8], account: &str) -> Result<TotpEnrolment, FactorError> {
        Ok(TotpEnrolment {
            secret: "SECRET".into(),
            otpauth_url: format!("otpauth://totp/test:{account}?secret=SECRET"),
            qr_png: "data:image/png;base64,".into(),
        })
    }
    fn totp_step(&self, _secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
        let step: i64 = code.parse().ok()?;
        ((step - now.timestamp() / 30).abs() <= 1).then_some(step)
    }
    fn seal(&self, secret: &[u8]) -> Result<String, FactorError> {
        Ok(secret.iter().map(|b| format!("{b:02x}")).collect())
    }
    fn open(&self, sealed: &str) -> Result<Vec<u8>, FactorError> {
        (0..sealed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(sealed.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|e| FactorError(e.into()))
    }
    fn new_recovery_codes(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let k = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("code-{k}")
            })
            .collect()
    }
    fn recovery_code_hash(&self, code: &str) -> String {
        format!("h:{}", code.trim().to_lowercase())
    }
}
