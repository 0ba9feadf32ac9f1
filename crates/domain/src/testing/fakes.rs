//! Sessions in memory, and stand-ins for the hasher, the token issuer and
//! the refresh-token secrets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::InMemory;
use crate::clock::Clock;
use crate::error::StoreError;
use crate::roles::Permission;
use crate::sessions::{NewRefreshToken, RefreshRecord, SessionStore};
use crate::users::{HashError, Password, PasswordHash, PasswordHasher, UserId};

#[async_trait]
impl SessionStore for InMemory {
    async fn insert_refresh(&self, token: NewRefreshToken) -> Result<(), StoreError> {
        let mut s = self.lock_state();
        let id = s.refresh.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        s.refresh.push(RefreshRecord {
            id,
            family: token.family,
            user_id: token.user_id,
            token_hash: token.token_hash,
            generation: token.generation,
            expires_at: token.expires_at,
            rotated_at: None,
            successor_sealed: None,
            revoked: false,
            session_started_at: token.session_started_at,
            client: token.client,
            amr: token.amr,
        });
        Ok(())
    }

    async fn find_refresh(&self, token_hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        let s = self.lock_state();
        Ok(s.refresh
            .iter()
            .find(|t| t.token_hash == token_hash)
            .cloned())
    }

    async fn rotate_refresh(
        &self,
        id: i64,
        rotated_at: DateTime<Utc>,
        successor_sealed: String,
        successor: NewRefreshToken,
    ) -> Result<bool, StoreError> {
        {
            let mut s = self.lock_state();
            let Some(t) = s.refresh.iter_mut().find(|t| t.id == id) else {
                return Ok(false);
            };
            if t.rotated_at.is_some() || t.revoked {
                return Ok(false);
            }
            t.rotated_at = Some(rotated_at);
            t.successor_sealed = Some(successor_sealed);
        }
        self.insert_refresh(successor).await?;
        Ok(true)
    }

    async fn find_generation(
        &self,
        family: &str,
        generation: i32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let s = self.lock_state();
        Ok(s.refresh
            .iter()
            .find(|t| t.family == family && t.generation == generation)
            .cloned())
    }

    async fn session_live(&self, family: &str, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .lock_state()
            .refresh
            .iter()
            .any(|t| t.family == family && t.user_id == user && !t.revoked))
    }

    async fn revoke_family(&self, family: &str, _at: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let mut n = 0;
        for t in s
            .refresh
            .iter_mut()
            .filter(|t| t.family == family && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        _at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let mut n = 0;
        for t in s
            .refresh
            .iter_mut()
            .filter(|t| t.user_id == user && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn revoke_sessions_beyond(
        &self,
        user: UserId,
        keep: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let mut heads: Vec<(i64, String)> = s
            .refresh
            .iter()
            .filter(|t| {
                t.user_id == user && !t.revoked && t.rotated_at.is_none() && t.expires_at > now
            })
            .map(|t| (t.id, t.family.clone()))
            .collect();
        heads.sort_by_key(|h| std::cmp::Reverse(h.0));
        let old: Vec<String> = heads.into_iter().skip(keep as usize).map(|h| h.1).collect();
        let mut n = 0;
        for t in s
            .refresh
            .iter_mut()
            .filter(|t| old.contains(&t.family) && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock_state();
        let n = s.refresh.len();
        s.refresh.retain(|t| t.expires_at >= before);
        Ok((n - s.refresh.len()) as u64)
    }
}

/// A "hasher" that stores `plain:<password>` and counts its work: for tests
/// of what is hashed and verified, and how often.
#[derive(Debug, Default)]
pub struct PlainHasher {
    hashes: AtomicUsize,
    verifications: AtomicUsize,
    yielding: bool,
}

/// Returns `Pending` once (waking itself), then `Ready`: a point where other
/// tasks run, as they do while a real hash is computed off the async workers.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl PlainHasher {
    /// A hasher whose checks let other tasks run in the middle (as argon2 on
    /// its thread pool does), so that concurrent sign-ins really interleave.
    pub fn yielding() -> Self {
        Self {
            yielding: true,
            ..Self::default()
        }
    }

    /// How many passwords were hashed.
    pub fn hashes(&self) -> usize {
        self.hashes.load(Ordering::SeqCst)
    }
    /// How many passwords were checked (the dummy check included).
    pub fn verifications(&self) -> usize {
        self.verifications.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::new(format!("plain:{}", password.expose())))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        if self.yielding {
            YieldOnce(false).await;
        }
        Ok(hash.is_some_and(|h| h.as_str() == format!("plain:{}", password.expose())))
    }
}

/// Access tokens that name their subject: `token:<id>:<perm,perm>`.
#[derive(Debug, Default)]
pub struct FakeTokens;

impl crate::tokens::TokenIssuer for FakeTokens {
    fn issue_access(
        &self,
        subject: &crate::tokens::AccessSubject,
    ) -> Result<crate::tokens::IssuedToken, crate::tokens::TokenError> {
        let perms: Vec<&str> = subject.permissions.iter().map(Permission::as_str).collect();
        Ok(crate::tokens::IssuedToken {
            token: format!(
                "token:{}:{}:amr={}",
                subject.user_id,
                perms.join(","),
                crate::mfa::AuthMethod::join(&subject.amr)
            ),
            expires_in: 900,
        })
    }
}

/// Refresh tokens `r<n>`, hashed as `h:<token>`; a successor is "sealed"
/// together with its predecessor and opens only with it.
#[derive(Debug, Default)]
pub struct FakeSecrets(AtomicUsize);

impl crate::sessions::RefreshSecrets for FakeSecrets {
    fn generate(&self) -> String {
        format!("r{}", self.0.fetch_add(1, Ordering::SeqCst))
    }
    fn new_family_id(&self) -> String {
        format!("f{}", self.0.fetch_add(1, Ordering::SeqCst))
    }
    fn hash(&self, token: &str) -> String {
        format!("h:{token}")
    }
    fn seal(&self, successor: &str, presented: &str) -> String {
        format!("{presented}|{successor}")
    }
    fn open(&self, sealed: &str, presented: &str) -> Option<String> {
        let (key, successor) = sealed.split_once('|')?;
        (key == presented).then(|| successor.to_owned())
    }
}

impl InMemory {
    /// The authentication use cases over this store with fake tokens and secrets.
    pub fn auth_service(
        &self,
        policy: crate::authentication::AuthPolicy,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> crate::authentication::AuthService {
        crate::authentication::AuthService::new(
            crate::authentication::AuthDeps {
                users: Arc::new(self.clone()),
                sessions: Arc::new(self.clone()),
                hasher,
                tokens: Arc::new(FakeTokens),
                refresh: Arc::new(FakeSecrets::default()),
                clock,
                mfa: Arc::new(super::MemoryMfa::default()),
                factors: Arc::new(super::FakeFactors::default()),
            },
            policy,
        )
    }
}
