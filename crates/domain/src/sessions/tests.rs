//! Refresh rotation, the grace window and the session cap, against the
//! in-memory store.

use crate::sessions::ClientInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{NewRefreshToken, RefreshRecord, SessionStore};
use crate::authentication::{AuthDeps, AuthPolicy, AuthService};
use crate::clock::ManualClock;
use crate::error::{Error, StoreError};
use crate::testing::{FakeSecrets, FakeTokens, InMemory, PlainHasher};
use crate::users::{Password, UserId};

fn policy() -> AuthPolicy {
    AuthPolicy {
        refresh_grace_secs: 5,
        ..AuthPolicy::default()
    }
}

async fn signed_in(auth: &AuthService) -> String {
    let pw = Password::parse_presented("password").unwrap();
    auth.sign_in("bob", &pw, &ClientInfo::default())
        .await
        .unwrap()
        .into_session()
        .unwrap()
        .refresh
        .token
}

#[tokio::test]
async fn every_presentation_within_the_grace_window_gets_the_same_successor() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = InMemory::seeded();
    let bob = store.add_user("bob", &["user"]);
    let auth = store.auth_service(policy(), Arc::new(PlainHasher::default()), clock.clone());
    let first = signed_in(&auth).await;
    let successor = auth.refresh(&first).await.unwrap().refresh.token;
    for _ in 0..5 {
        clock.advance(Duration::seconds(1));
        assert_eq!(auth.refresh(&first).await.unwrap().refresh.token, successor);
    }
    assert_eq!(
        store.live_sessions(bob),
        2,
        "the rotated token and one successor, no branches"
    );
    clock.advance(Duration::seconds(1));
    assert_eq!(
        auth.session_counts(),
        crate::SessionCounts {
            rotations: 1,
            reuse_detected: 0
        },
        "a successor handed out again is no rotation"
    );
    assert!(
        matches!(auth.refresh(&first).await, Err(Error::RefreshInvalid(_))),
        "past the window: reuse"
    );
    assert_eq!(auth.clone().session_counts().reuse_detected, 1);
    assert!(matches!(
        auth.refresh(&successor).await,
        Err(Error::RefreshInvalid(_))
    ));
    assert_eq!(store.live_sessions(bob), 0);
}

/// Revokes the family just before a rotation (a sign-out racing a
/// refresh) and counts the revocations the use case asks for.
struct RevokedMeanwhile {
    inner: InMemory,
    revocations: AtomicUsize,
}

#[async_trait]
impl SessionStore for RevokedMeanwhile {
    async fn insert_refresh(&self, token: NewRefreshToken) -> Result<(), StoreError> {
        self.inner.insert_refresh(token).await
    }
    async fn find_refresh(&self, hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.inner.find_refresh(hash).await
    }
    async fn rotate_refresh(
        &self,
        id: i64,
        at: DateTime<Utc>,
        sealed: String,
        successor: NewRefreshToken,
    ) -> Result<bool, StoreError> {
        self.inner.revoke_family(&successor.family, at).await?;
        self.inner.rotate_refresh(id, at, sealed, successor).await
    }
    async fn find_generation(
        &self,
        family: &str,
        generation: i32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.inner.find_generation(family, generation).await
    }
    async fn session_live(&self, family: &str, user: UserId) -> Result<bool, StoreError> {
        self.inner.session_live(family, user).await
    }
    async fn revoke_family(&self, family: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.revocations.fetch_add(1, Ordering::SeqCst);
        self.inner.revoke_family(family, at).await
    }
    async fn revoke_user_sessions(&self, u: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.revoke_user_sessions(u, at).await
    }
    async fn revoke_sessions_beyond(
        &self,
        u: UserId,
        keep: u32,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.inner.revoke_sessions_beyond(u, keep, now).await
    }
    async fn purge_expired(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_expired(before).await
    }
}

#[tokio::test]
async fn a_rotation_that_loses_to_a_revocation_is_not_treated_as_reuse() {
    let store = InMemory::seeded();
    store.add_user("bob", &["user"]);
    let sessions = Arc::new(RevokedMeanwhile {
        inner: store.clone(),
        revocations: AtomicUsize::new(0),
    });
    let auth = AuthService::new(
        AuthDeps {
            users: Arc::new(store.clone()),
            sessions: sessions.clone(),
            hasher: Arc::new(PlainHasher::default()),
            tokens: Arc::new(FakeTokens),
            refresh: Arc::new(FakeSecrets::default()),
            clock: Arc::new(ManualClock::new(Utc::now())),
            mfa: Arc::new(crate::testing::MemoryMfa::default()),
            factors: Arc::new(crate::testing::FakeFactors::default()),
        },
        policy(),
    );
    let token = signed_in(&auth).await;
    assert!(matches!(
        auth.refresh(&token).await,
        Err(Error::RefreshInvalid(_))
    ));
    assert_eq!(
        sessions.revocations.load(Ordering::SeqCst),
        0,
        "a revoked session, not reuse: nothing more to revoke"
    );
}

#[tokio::test]
async fn a_sign_in_beyond_the_cap_revokes_the_least_recently_used_session() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = InMemory::seeded();
    store.add_user("bob", &["user"]);
    let auth = store.auth_service(
        AuthPolicy {
            max_sessions_per_user: 3,
            ..policy()
        },
        Arc::new(PlainHasher::default()),
        clock.clone(),
    );
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(signed_in(&auth).await);
    }
    // the first session is used: the second is now the least recently used
    tokens[0] = auth.refresh(&tokens[0]).await.unwrap().refresh.token;
    clock.advance(Duration::seconds(10));
    let fourth = signed_in(&auth).await;
    assert!(matches!(
        auth.refresh(&tokens[1]).await,
        Err(Error::RefreshInvalid(_))
    ));
    for t in [&tokens[0], &tokens[2], &fourth] {
        assert!(auth.refresh(t).await.is_ok());
    }
}

#[tokio::test]
async fn introspection_asks_the_store_about_the_user_and_the_session() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = InMemory::seeded();
    let bob = store.add_user("bob", &["user"]);
    let auth = store.auth_service(policy(), Arc::new(PlainHasher::default()), clock);
    let pw = Password::parse_presented("password").unwrap();
    let signed_in = |auth: AuthService| {
        let pw = pw.clone();
        async move {
            auth.sign_in("bob", &pw, &ClientInfo::default())
                .await
                .unwrap()
                .into_session()
                .unwrap()
        }
    };
    let first = signed_in(auth.clone()).await;
    let second = signed_in(auth.clone()).await;
    let active = |sid: Option<String>| {
        let auth = auth.clone();
        async move { auth.active_session(bob, sid.as_deref()).await.unwrap() }
    };
    assert_eq!(
        active(Some(first.session.clone())).await.as_deref(),
        Some("bob")
    );
    assert_eq!(active(None).await, None, "no session: cannot be checked");
    assert_eq!(active(Some("unknown".into())).await, None);
    assert_eq!(
        auth.active_session(UserId(bob.0 + 100), Some(&first.session))
            .await
            .unwrap(),
        None,
        "another user's session"
    );
    auth.sign_out(&first.refresh.token).await.unwrap();
    assert_eq!(active(Some(first.session)).await, None, "signed out");
    assert_eq!(
        active(Some(second.session.clone())).await.as_deref(),
        Some("bob")
    );
    store.set_disabled(bob, true);
    assert_eq!(active(Some(second.session)).await, None, "disabled");
}
