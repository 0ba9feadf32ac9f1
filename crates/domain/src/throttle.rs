//! Rate limits: failed sign-ins per account and per client address, with
//! exponential, bounded back-off; plain counts for sign-up and refresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{AuthError, StoreError};
use crate::ports::{AttemptStore, Attempts, Clock};
use crate::types::{Password, Username};
use crate::usecases::{AuthService, SignedIn};

/// A limit: `max` attempts per `window_secs`; past it, blocked for
/// `backoff_base_secs` × 2^(attempts − max), at most `backoff_max_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_secs: i64,
    pub backoff_base_secs: i64,
    pub backoff_max_secs: i64,
}

/// The limits of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub signin_per_account: Limit,
    pub signin_per_client: Limit,
    pub signup_per_client: Limit,
    pub refresh_per_client: Limit,
}

/// Rate limiting over an `AttemptStore`.
#[derive(Clone)]
pub struct Throttle {
    store: Arc<dyn AttemptStore>,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

impl Throttle {
    pub fn new(store: Arc<dyn AttemptStore>, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    /// Seconds until `attempts` may try again under `limit`, if blocked.
    fn retry_after(limit: &Limit, attempts: Attempts, now: DateTime<Utc>) -> Option<u64> {
        if attempts.count < limit.max {
            return None;
        }
        let over = attempts.count - limit.max;
        let backoff = limit
            .backoff_base_secs
            .saturating_mul(1i64 << over.min(30))
            .min(limit.backoff_max_secs);
        let until = attempts.last + chrono::Duration::seconds(backoff);
        (now < until).then(|| u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1))
    }

    async fn blocked(&self, key: &str, limit: &Limit) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now();
        Ok(match self.store.get(key).await? {
            Some(a) if now - a.last <= chrono::Duration::seconds(limit.window_secs) => {
                Self::retry_after(limit, a, now)
            }
            _ => None,
        })
    }

    /// The account a sign-in attempt counts against: the username's key, or
    /// for a name that cannot be a username its first 64 characters,
    /// lower-cased (so junk names are limited too, without unbounded keys).
    fn account_key(username: &str) -> String {
        match Username::parse(username) {
            Ok(name) => name.key(),
            Err(_) => username.chars().take(64).collect::<String>().to_lowercase(),
        }
    }

    /// Signs in under the limits: a blocked account or client is refused
    /// (`AuthError::RateLimited`) before the password is checked, a failure
    /// counts against both, a success starts the account over.
    pub async fn sign_in(
        &self,
        auth: &AuthService,
        username: &str,
        password: &Password,
        client: &str,
    ) -> Result<SignedIn, AuthError> {
        let account = Self::account_key(username);
        if let Some(wait) = self.signin_blocked(&account, client).await? {
            return Err(AuthError::RateLimited(wait));
        }
        match auth.sign_in(username, password).await {
            Ok(signed_in) => {
                self.signin_succeeded(&account).await?;
                Ok(signed_in)
            }
            Err(AuthError::InvalidCredentials) => {
                self.signin_failed(&account, client).await?;
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// Before checking a password: is this account or client blocked?
    async fn signin_blocked(&self, account: &str, client: &str) -> Result<Option<u64>, StoreError> {
        let a = self
            .blocked(
                &format!("signin:acct:{account}"),
                &self.limits.signin_per_account,
            )
            .await?;
        let c = self
            .blocked(
                &format!("signin:ip:{client}"),
                &self.limits.signin_per_client,
            )
            .await?;
        Ok(a.max(c))
    }

    /// After a wrong password (or an unknown user).
    async fn signin_failed(&self, account: &str, client: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        self.store
            .record(
                &format!("signin:acct:{account}"),
                now,
                self.limits.signin_per_account.window_secs,
            )
            .await?;
        self.store
            .record(
                &format!("signin:ip:{client}"),
                now,
                self.limits.signin_per_client.window_secs,
            )
            .await?;
        Ok(())
    }

    /// After a successful sign-in: the account starts over.
    async fn signin_succeeded(&self, account: &str) -> Result<(), StoreError> {
        self.store.clear(&format!("signin:acct:{account}")).await
    }

    async fn count(&self, key: String, limit: &Limit) -> Result<Option<u64>, StoreError> {
        if let Some(wait) = self.blocked(&key, limit).await? {
            return Ok(Some(wait));
        }
        let now = self.clock.now();
        let a = self.store.record(&key, now, limit.window_secs).await?;
        Ok(Self::retry_after(
            &Limit {
                max: limit.max + 1,
                ..*limit
            },
            a,
            now,
        ))
    }

    /// Counts a sign-up from `client`; `Some(seconds)` when over the limit.
    pub async fn signup(&self, client: &str) -> Result<Option<u64>, StoreError> {
        self.count(
            format!("signup:ip:{client}"),
            &self.limits.signup_per_client,
        )
        .await
    }

    /// Counts a refresh from `client`; `Some(seconds)` when over the limit.
    pub async fn refresh(&self, client: &str) -> Result<Option<u64>, StoreError> {
        self.count(
            format!("refresh:ip:{client}"),
            &self.limits.refresh_per_client,
        )
        .await
    }
}

/// The in-process store: one instance's counters, bounded in size.
#[derive(Debug, Default)]
pub struct MemoryAttempts {
    entries: Mutex<HashMap<String, Attempts>>,
}

/// Keys kept at most; beyond, the oldest half is dropped.
const MAX_KEYS: usize = 100_000;

#[async_trait]
impl AttemptStore for MemoryAttempts {
    async fn record(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<Attempts, StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::Internal("attempt counters poisoned".into()))?;
        if entries.len() >= MAX_KEYS && !entries.contains_key(key) {
            let mut lasts: Vec<DateTime<Utc>> = entries.values().map(|a| a.last).collect();
            lasts.sort();
            let cutoff = lasts[lasts.len() / 2];
            entries.retain(|_, a| a.last > cutoff);
        }
        let window = chrono::Duration::seconds(window_secs);
        let entry = entries.entry(key.to_owned()).or_insert(Attempts {
            count: 0,
            last: now,
        });
        if now - entry.last > window {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        Ok(*entry)
    }

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError> {
        let entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::Internal("attempt counters poisoned".into()))?;
        Ok(entries.get(key).copied())
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ManualClock;

    fn limits() -> Limits {
        let l = Limit {
            max: 3,
            window_secs: 900,
            backoff_base_secs: 10,
            backoff_max_secs: 60,
        };
        Limits {
            signin_per_account: l,
            signin_per_client: Limit { max: 10, ..l },
            signup_per_client: l,
            refresh_per_client: l,
        }
    }

    #[tokio::test]
    async fn account_backoff_grows_is_bounded_and_ends() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let t = Throttle::new(Arc::new(MemoryAttempts::default()), clock.clone(), limits());
        for _ in 0..3 {
            assert_eq!(t.signin_blocked("bob", "1.2.3.4").await.unwrap(), None);
            t.signin_failed("bob", "1.2.3.4").await.unwrap();
        }
        assert_eq!(t.signin_blocked("bob", "1.2.3.4").await.unwrap(), Some(10));
        clock.advance(chrono::Duration::seconds(11));
        assert_eq!(t.signin_blocked("bob", "1.2.3.4").await.unwrap(), None);
        t.signin_failed("bob", "1.2.3.4").await.unwrap();
        assert_eq!(
            t.signin_blocked("bob", "1.2.3.4").await.unwrap(),
            Some(20),
            "doubles"
        );
        for _ in 0..10 {
            t.signin_failed("bob", "5.6.7.8").await.unwrap();
        }
        assert_eq!(
            t.signin_blocked("bob", "9.9.9.9").await.unwrap(),
            Some(60),
            "bounded"
        );
        clock.advance(chrono::Duration::seconds(61));
        assert_eq!(
            t.signin_blocked("bob", "9.9.9.9").await.unwrap(),
            None,
            "a real user gets in after the back-off"
        );
        t.signin_succeeded("bob").await.unwrap();
        assert_eq!(t.signin_blocked("bob", "9.9.9.9").await.unwrap(), None);
    }

    #[tokio::test]
    async fn counts_per_client_with_a_window() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let t = Throttle::new(Arc::new(MemoryAttempts::default()), clock.clone(), limits());
        for _ in 0..3 {
            assert_eq!(t.signup("1.2.3.4").await.unwrap(), None);
        }
        assert!(t.signup("1.2.3.4").await.unwrap().is_some());
        assert_eq!(t.signup("5.6.7.8").await.unwrap(), None, "per client");
        clock.advance(chrono::Duration::seconds(901));
        assert_eq!(t.signup("1.2.3.4").await.unwrap(), None, "the window ends");
    }
}
