//! Rate limits: failed sign-ins per account and per client address, with
//! exponential, bounded back-off; plain counts for sign-up and refresh.

mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemoryAttempts;

use crate::authentication::{AuthService, SignUp, SignedIn};
use crate::clock::Clock;
use crate::error::{Error, StoreError};
use crate::sessions::Refreshed;
use crate::users::{Password, UserId, Username};

/// Failed or counted attempts under one key (an account, a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub last: DateTime<Utc>,
}

/// Counters for rate limits. In-process by default; a shared store (the
/// database) makes several instances enforce one limit.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Adds one to `key`, starting over when its last hit is older than
    /// `window_secs`; returns the new state.
    async fn record(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<Attempts, StoreError>;

    async fn get(&self, key: &str) -> Result<Option<Attempts>, StoreError>;

    async fn clear(&self, key: &str) -> Result<(), StoreError>;
}

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
    /// (`Error::RateLimited`) before the password is checked, a failure
    /// counts against both, a success starts the account over.
    pub async fn sign_in(
        &self,
        auth: &AuthService,
        username: &str,
        password: &Password,
        client: &str,
    ) -> Result<SignedIn, Error> {
        // Before anything else: the name keys the limits in the store.
        Username::check_presented(username).map_err(|m| Error::invalid("username", m))?;
        let account = Self::account_key(username);
        if let Some(wait) = self.signin_blocked(&account, client).await? {
            return Err(Error::RateLimited(wait));
        }
        match auth.sign_in(username, password).await {
            Ok(signed_in) => {
                self.signin_succeeded(&account).await?;
                Ok(signed_in)
            }
            Err(Error::InvalidCredentials) => {
                self.signin_failed(&account, client).await?;
                Err(Error::InvalidCredentials)
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

    /// Signs up under the per-address limit: every attempt from `client`
    /// counts, valid or not, and a blocked client is refused before the
    /// request is looked at.
    pub async fn sign_up(
        &self,
        auth: &AuthService,
        client: &str,
        request: Result<SignUp, Error>,
    ) -> Result<UserId, Error> {
        let key = format!("signup:ip:{client}");
        if let Some(wait) = self.count(key, &self.limits.signup_per_client).await? {
            return Err(Error::RateLimited(wait));
        }
        auth.sign_up(request?).await
    }

    /// Refreshes under the per-address limit.
    pub async fn refresh(
        &self,
        auth: &AuthService,
        presented: &str,
        client: &str,
    ) -> Result<Refreshed, Error> {
        let key = format!("refresh:ip:{client}");
        if let Some(wait) = self.count(key, &self.limits.refresh_per_client).await? {
            return Err(Error::RateLimited(wait));
        }
        auth.refresh(presented).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

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
            assert_eq!(
                t.count("signup:ip:1.2.3.4".into(), &t.limits.signup_per_client)
                    .await
                    .unwrap(),
                None
            );
        }
        assert!(
            t.count("signup:ip:1.2.3.4".into(), &t.limits.signup_per_client)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            t.count("signup:ip:5.6.7.8".into(), &t.limits.signup_per_client)
                .await
                .unwrap(),
            None,
            "per client"
        );
        clock.advance(chrono::Duration::seconds(901));
        assert_eq!(
            t.count("signup:ip:1.2.3.4".into(), &t.limits.signup_per_client)
                .await
                .unwrap(),
            None,
            "the window ends"
        );
    }

    fn service(
        clock: Arc<ManualClock>,
    ) -> (
        crate::testing::InMemory,
        Arc<crate::testing::PlainHasher>,
        AuthService,
        Throttle,
    ) {
        let store = crate::testing::InMemory::seeded();
        let hasher = Arc::new(crate::testing::PlainHasher::default());
        let auth = store.auth_service(
            crate::authentication::AuthPolicy::default(),
            hasher.clone(),
            clock.clone(),
        );
        let throttle = Throttle::new(Arc::new(MemoryAttempts::default()), clock, limits());
        (store, hasher, auth, throttle)
    }

    #[tokio::test]
    async fn a_blocked_account_is_refused_before_its_password_is_checked() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let (store, hasher, auth, t) = service(clock.clone());
        store.add_user("bob", &["user"]);
        let wrong = Password::parse_presented("wrong").unwrap();
        let right = Password::parse_presented("password").unwrap();
        for _ in 0..3 {
            assert!(matches!(
                t.sign_in(&auth, "bob", &wrong, "1.2.3.4").await,
                Err(Error::InvalidCredentials)
            ));
        }
        assert_eq!(hasher.verifications(), 3);
        assert!(matches!(
            t.sign_in(&auth, "BOB", &right, "1.2.3.4").await,
            Err(Error::RateLimited(10))
        ));
        assert_eq!(
            hasher.verifications(),
            3,
            "no password checked while blocked"
        );
        clock.advance(chrono::Duration::seconds(11));
        let signed_in = t.sign_in(&auth, "bob", &right, "1.2.3.4").await.unwrap();
        assert_eq!(signed_in.username, "bob");
        // a success starts the account over
        assert!(matches!(
            t.sign_in(&auth, "bob", &wrong, "1.2.3.4").await,
            Err(Error::InvalidCredentials)
        ));
        assert!(t.sign_in(&auth, "bob", &right, "1.2.3.4").await.is_ok());
        // unknown and unparsable names are limited too
        for _ in 0..3 {
            assert!(t.sign_in(&auth, "x y", &wrong, "5.6.7.8").await.is_err());
        }
        assert!(matches!(
            t.sign_in(&auth, "X Y", &wrong, "5.6.7.8").await,
            Err(Error::RateLimited(_))
        ));
    }

    /// The name keys the limits in the store: a NUL must never get there.
    #[tokio::test]
    async fn a_name_with_control_characters_is_refused_before_the_store_or_the_hash() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let (_, hasher, auth, t) = service(clock);
        let wrong = Password::parse_presented("wrong").unwrap();
        for name in ["bob\0", "\0", "bo\nb", ""] {
            assert!(
                matches!(
                    t.sign_in(&auth, name, &wrong, "1.2.3.4").await,
                    Err(Error::Validation(f)) if f.0.contains_key("username")
                ),
                "{name:?}"
            );
        }
        assert_eq!(hasher.verifications(), 0);
        assert_eq!(t.store.get("signin:ip:1.2.3.4").await.unwrap(), None);
    }

    #[tokio::test]
    async fn every_sign_up_attempt_counts_valid_or_not() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let (_, hasher, auth, t) = service(clock.clone());
        let request = |name: &str| -> Result<SignUp, Error> {
            Ok(SignUp {
                username: Username::parse(name).unwrap(),
                email: crate::users::Email::parse(&format!("{name}@example.com")).unwrap(),
                password: Password::parse("a fine password").unwrap(),
                roles: None,
            })
        };
        assert!(t.sign_up(&auth, "1.2.3.4", request("ann")).await.is_ok());
        assert!(matches!(
            t.sign_up(&auth, "1.2.3.4", Err(Error::invalid("email", "bad")))
                .await,
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            t.sign_up(&auth, "1.2.3.4", request("ann")).await,
            Err(Error::UsernameTaken)
        ));
        assert!(matches!(
            t.sign_up(&auth, "1.2.3.4", request("cid")).await,
            Err(Error::RateLimited(_))
        ));
        assert_eq!(hasher.hashes(), 1, "a refused sign-up hashes nothing");
        assert!(
            t.sign_up(&auth, "9.9.9.9", request("cid")).await.is_ok(),
            "per address"
        );
        // refreshes: limited per address before the token is looked at
        for _ in 0..3 {
            assert!(matches!(
                t.refresh(&auth, "nope", "1.2.3.4").await,
                Err(Error::RefreshInvalid)
            ));
        }
        assert!(matches!(
            t.refresh(&auth, "nope", "1.2.3.4").await,
            Err(Error::RateLimited(_))
        ));
    }
}
