//! The throttle when its store fails (`OnStoreError`), and the memory
//! store against the suite every store passes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::tests::{Setup, limits, setup};
use super::*;
use crate::error::StoreError;

#[tokio::test]
async fn the_memory_store_passes_the_store_suite() {
    let store = MemoryAttempts::default();
    crate::testing::attempt_store::check_attempt_store(
        &store,
        "suite:",
        crate::testing::attempt_store::Purge::Deletes,
    )
    .await;
}

/// A store that cannot be reached; counts the calls made to it.
#[derive(Default)]
struct Down {
    calls: std::sync::atomic::AtomicUsize,
}

impl Down {
    fn failed<T>(&self) -> Result<T, StoreError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(StoreError::Unavailable("connection refused".into()))
    }
}

#[async_trait]
impl AttemptStore for Down {
    async fn reserve(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: &Limit,
    ) -> Result<Reservation, StoreError> {
        self.failed()
    }
    async fn refund(&self, _: &str) -> Result<(), StoreError> {
        self.failed()
    }
    async fn get(&self, _: &str) -> Result<Option<Attempts>, StoreError> {
        self.failed()
    }
    async fn clear(&self, _: &str) -> Result<(), StoreError> {
        self.failed()
    }
    async fn clear_prefix(&self, _: &str) -> Result<u64, StoreError> {
        self.failed()
    }
    async fn purge(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        self.failed()
    }
}

fn with_store_down(policy: OnStoreError) -> (Setup, Arc<Down>) {
    let mut s = setup();
    let down = Arc::new(Down::default());
    s.throttle = Throttle::new(down.clone(), s.clock.clone(), limits()).on_store_error(policy);
    (s, down)
}

#[tokio::test]
async fn a_store_outage_refuses_by_default_without_hashing() {
    let (s, down) = with_store_down(OnStoreError::default());
    s.store.add_user("bob", &["user"]);
    assert!(matches!(
        s.try_sign_in("bob", "password", "1.2.3.4").await,
        Err(Error::RateLimitUnavailable(_))
    ));
    assert_eq!(s.hasher.verifications(), 0);
    let request = SignUp {
        username: Username::parse("ann").unwrap(),
        email: crate::users::Email::parse("ann@example.com").unwrap(),
        password: Password::parse("a fine password").unwrap(),
        roles: None,
        welcome: None,
    };
    assert!(matches!(
        s.throttle.sign_up(&s.auth, "1.2.3.4", Ok(request)).await,
        Err(Error::RateLimitUnavailable(_))
    ));
    assert!(matches!(
        s.throttle.mail_request("1.2.3.4", "bob@example.com").await,
        Err(Error::RateLimitUnavailable(_))
    ));
    assert!(matches!(
        s.throttle.refresh(&s.auth, "nope", "1.2.3.4").await,
        Err(Error::RateLimitUnavailable(_))
    ));
    assert_eq!(
        down.calls.load(std::sync::atomic::Ordering::SeqCst),
        4,
        "one store call per request"
    );
}

#[tokio::test]
async fn a_store_outage_lets_requests_through_uncounted_when_allowed() {
    let (s, down) = with_store_down(OnStoreError::Allow);
    s.store.add_user("bob", &["user"]);
    for _ in 0..5 {
        assert!(matches!(
            s.try_sign_in("bob", "wrong", "1.2.3.4").await,
            Err(Error::InvalidCredentials)
        ));
    }
    s.try_sign_in("bob", "password", "1.2.3.4").await.unwrap();
    assert!(
        s.throttle
            .mail_request("1.2.3.4", "bob@example.com")
            .await
            .is_ok()
    );
    assert!(matches!(
        s.throttle.refresh(&s.auth, "nope", "1.2.3.4").await,
        Err(Error::RefreshInvalid(_))
    ));
    assert_eq!(
        down.calls.load(std::sync::atomic::Ordering::SeqCst),
        8,
        "one store call per request, none to give back or clear"
    );
}
