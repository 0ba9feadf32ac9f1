//! The limits' rules, against the in-memory store and a hasher that counts.

use crate::sessions::ClientInfo;
use std::sync::Arc;

use chrono::{Duration, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::testing::{InMemory, PlainHasher};

pub(super) fn limits() -> Limits {
    let strict = Limit {
        max: 3,
        window_secs: 900,
        backoff_base_secs: 10,
        backoff_max_secs: 60,
    };
    let generous = Limit {
        max: 100,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    Limits {
        signin_failures_per_pair: strict,
        signin_failures_per_account: Limit { max: 10, ..strict },
        signin_failures_per_client: Limit { max: 10, ..strict },
        signin_per_client: generous,
        signin_per_account: generous,
        signup_per_client: strict,
        refresh_per_client: strict,
        mail_per_client: strict,
        mail_per_recipient: strict,
    }
}

pub(super) struct Setup {
    pub(super) store: InMemory,
    pub(super) hasher: Arc<PlainHasher>,
    pub(super) auth: AuthService,
    pub(super) throttle: Throttle,
    pub(super) clock: Arc<ManualClock>,
}

pub(super) fn setup_with(limits: Limits, hasher: PlainHasher) -> Setup {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let store = InMemory::seeded();
    let hasher = Arc::new(hasher);
    let auth = store.auth_service(
        crate::authentication::AuthPolicy::default(),
        hasher.clone(),
        clock.clone(),
    );
    let throttle = Throttle::new(store.attempts(), clock.clone(), limits);
    Setup {
        store,
        hasher,
        auth,
        throttle,
        clock,
    }
}

pub(super) fn setup() -> Setup {
    setup_with(limits(), PlainHasher::default())
}

pub(super) fn pw(s: &str) -> Password {
    Password::parse_presented(s).unwrap()
}

impl Setup {
    pub(super) async fn try_sign_in(
        &self,
        name: &str,
        password: &str,
        client: &str,
    ) -> Result<(), Error> {
        self.throttle
            .sign_in(
                &self.auth,
                name,
                &pw(password),
                &ClientInfo::new(client, None),
            )
            .await
            .map(|_| ())
    }
}

pub(super) fn limited(r: Result<(), Error>) -> Option<u64> {
    match r {
        Err(Error::RateLimited(wait)) => Some(wait),
        _ => None,
    }
}

#[tokio::test]
async fn concurrent_guesses_check_at_most_the_limit_and_the_rest_hash_nothing() {
    let s = setup_with(limits(), PlainHasher::yielding());
    s.store.add_user("bob", &["user"]);
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (auth, throttle) = (s.auth.clone(), s.throttle.clone());
        guesses.spawn(async move {
            let guess = pw(&format!("guess {i}"));
            throttle
                .sign_in(&auth, "bob", &guess, &ClientInfo::new("6.6.6.6", None))
                .await
        });
    }
    let (mut wrong, mut refused) = (0, 0);
    while let Some(outcome) = guesses.join_next().await {
        match outcome.unwrap() {
            Err(Error::InvalidCredentials) => wrong += 1,
            Err(Error::RateLimited(_)) => refused += 1,
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
    }
    assert_eq!((wrong, refused), (3, 37));
    assert_eq!(
        s.hasher.verifications(),
        3,
        "only the reserved attempts hash"
    );
    // The right password from that address waits too, unchecked.
    assert!(limited(s.try_sign_in("bob", "password", "6.6.6.6").await).is_some());
    assert_eq!(s.hasher.verifications(), 3);
}

#[tokio::test]
async fn the_owner_signs_in_from_another_address_while_the_attacker_waits() {
    let s = setup();
    s.store.add_user("bob", &["user"]);
    for _ in 0..3 {
        assert!(matches!(
            s.try_sign_in("bob", "wrong", "6.6.6.6").await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert_eq!(
        limited(s.try_sign_in("bob", "password", "6.6.6.6").await),
        Some(10)
    );
    s.try_sign_in("bob", "password", "1.2.3.4").await.unwrap();
    assert_eq!(
        limited(s.try_sign_in("bob", "password", "6.6.6.6").await),
        Some(10),
        "the owner's success does not free the attacker's address"
    );
}

#[tokio::test]
async fn the_account_ceiling_stops_guessing_from_many_addresses() {
    let s = setup();
    s.store.add_user("bob", &["user"]);
    for i in 0..10 {
        let addr = format!("10.0.0.{}", i / 3);
        assert!(matches!(
            s.try_sign_in("bob", "wrong", &addr).await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert_eq!(s.hasher.verifications(), 10);
    assert!(limited(s.try_sign_in("bob", "password", "1.2.3.4").await).is_some());
    assert_eq!(s.hasher.verifications(), 10, "refused before hashing");
}

#[tokio::test]
async fn backoff_grows_is_bounded_and_a_success_starts_the_pair_over() {
    let l = limits();
    let s = setup_with(
        Limits {
            signin_failures_per_client: Limit {
                max: 100,
                ..l.signin_failures_per_client
            },
            signin_failures_per_account: Limit {
                max: 100,
                ..l.signin_failures_per_account
            },
            ..l
        },
        PlainHasher::default(),
    );
    s.store.add_user("bob", &["user"]);
    for _ in 0..3 {
        let _ = s.try_sign_in("bob", "wrong", "1.2.3.4").await;
    }
    assert_eq!(
        limited(s.try_sign_in("bob", "wrong", "1.2.3.4").await),
        Some(10)
    );
    s.clock.advance(Duration::seconds(10));
    assert!(matches!(
        s.try_sign_in("bob", "wrong", "1.2.3.4").await,
        Err(Error::InvalidCredentials)
    ));
    assert_eq!(
        limited(s.try_sign_in("bob", "wrong", "1.2.3.4").await),
        Some(20),
        "doubles"
    );
    for _ in 0..4 {
        s.clock.advance(Duration::seconds(61));
        let _ = s.try_sign_in("bob", "wrong", "1.2.3.4").await;
    }
    assert_eq!(
        limited(s.try_sign_in("bob", "wrong", "1.2.3.4").await),
        Some(60),
        "bounded"
    );
    s.clock.advance(Duration::seconds(60));
    s.try_sign_in("BOB", "password", "1.2.3.4").await.unwrap();
    // the pair starts over: three more failures before a block
    for _ in 0..3 {
        assert!(matches!(
            s.try_sign_in("bob", "wrong", "1.2.3.4").await,
            Err(Error::InvalidCredentials)
        ));
    }
    assert!(limited(s.try_sign_in("bob", "password", "1.2.3.4").await).is_some());
}

#[tokio::test]
async fn a_success_gives_back_its_failure_reservations() {
    let s = setup();
    s.store.add_user("bob", &["user"]);
    for _ in 0..20 {
        s.try_sign_in("bob", "password", "1.2.3.4").await.unwrap();
    }
    let attempts = s.store.attempts();
    let count = |key: &'static str| {
        let attempts = attempts.clone();
        async move { attempts.get(key).await.unwrap().map_or(0, |a| a.count) }
    };
    assert_eq!(count("signin:ip:1.2.3.4").await, 0);
    assert_eq!(count("signin:acct:bob").await, 0);
    assert_eq!(count("signin:pair:bob|1.2.3.4").await, 0);
    assert_eq!(count("signin:total:ip:1.2.3.4").await, 20);
    assert_eq!(count("signin:total:acct:bob").await, 20);
}

#[tokio::test]
async fn every_sign_in_counts_against_the_totals_per_address_and_per_account() {
    let per_client = Limit {
        max: 3,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    let s = setup_with(
        Limits {
            signin_per_client: per_client,
            signin_per_account: Limit {
                max: 5,
                ..per_client
            },
            ..limits()
        },
        PlainHasher::default(),
    );
    s.store.add_user("bob", &["user"]);
    s.store.add_user("ann", &["user"]);
    for _ in 0..3 {
        s.try_sign_in("bob", "password", "1.2.3.4").await.unwrap();
    }
    assert_eq!(
        limited(s.try_sign_in("ann", "password", "1.2.3.4").await),
        Some(60),
        "per address, whatever the account"
    );
    s.try_sign_in("bob", "password", "5.6.7.8").await.unwrap();
    s.try_sign_in("bob", "password", "5.6.7.8").await.unwrap();
    assert!(
        limited(s.try_sign_in("bob", "password", "9.9.9.9").await).is_some(),
        "per account, from any address"
    );
    s.try_sign_in("ann", "password", "9.9.9.9").await.unwrap();
    s.clock.advance(Duration::seconds(61));
    s.try_sign_in("bob", "password", "1.2.3.4").await.unwrap();
}

#[tokio::test]
async fn a_refused_sign_in_costs_nothing_elsewhere() {
    let s = setup();
    s.store.add_user("bob", &["user"]);
    for _ in 0..3 {
        let _ = s.try_sign_in("bob", "wrong", "6.6.6.6").await;
    }
    for _ in 0..50 {
        assert!(limited(s.try_sign_in("bob", "wrong", "6.6.6.6").await).is_some());
    }
    let attempts = s.store.attempts();
    assert_eq!(
        attempts
            .get("signin:acct:bob")
            .await
            .unwrap()
            .unwrap()
            .count,
        3,
        "the account's ceiling saw only the checked attempts"
    );
    assert_eq!(
        attempts
            .get("signin:total:acct:bob")
            .await
            .unwrap()
            .unwrap()
            .count,
        3
    );
}

#[tokio::test]
async fn unknown_and_unparsable_names_are_limited_too() {
    let s = setup();
    for _ in 0..3 {
        assert!(s.try_sign_in("x y", "wrong", "5.6.7.8").await.is_err());
    }
    assert!(limited(s.try_sign_in("X Y", "wrong", "5.6.7.8").await).is_some());
}

#[tokio::test]
async fn every_sign_up_attempt_counts_valid_or_not() {
    let s = setup();
    let (auth, t) = (&s.auth, &s.throttle);
    let request = |name: &str| -> Result<SignUp, Error> {
        Ok(SignUp {
            username: Username::parse(name).unwrap(),
            email: crate::users::Email::parse(&format!("{name}@example.com")).unwrap(),
            password: Password::parse("a fine password").unwrap(),
            roles: None,
            welcome: None,
        })
    };
    assert!(t.sign_up(auth, "1.2.3.4", request("ann")).await.is_ok());
    assert!(matches!(
        t.sign_up(auth, "1.2.3.4", Err(Error::invalid("email", "bad")))
            .await,
        Err(Error::Validation(_))
    ));
    assert!(matches!(
        t.sign_up(auth, "1.2.3.4", request("ann")).await,
        Err(Error::UsernameTaken)
    ));
    assert!(matches!(
        t.sign_up(auth, "1.2.3.4", request("cid")).await,
        Err(Error::RateLimited(_))
    ));
    assert_eq!(s.hasher.hashes(), 1, "a refused sign-up hashes nothing");
    assert!(
        t.sign_up(auth, "9.9.9.9", request("cid")).await.is_ok(),
        "per address"
    );
    // refreshes: limited per address before the token is looked at
    for _ in 0..3 {
        assert!(matches!(
            t.refresh(auth, "nope", "1.2.3.4").await,
            Err(Error::RefreshInvalid(_))
        ));
    }
    assert!(matches!(
        t.refresh(auth, "nope", "1.2.3.4").await,
        Err(Error::RateLimited(_))
    ));
    s.clock.advance(Duration::seconds(901));
    assert!(
        t.sign_up(auth, "1.2.3.4", request("dan")).await.is_ok(),
        "the window ends"
    );
}

#[tokio::test]
async fn expired_counters_are_purged() {
    let s = setup();
    s.store.add_user("bob", &["user"]);
    let _ = s.try_sign_in("bob", "wrong", "1.2.3.4").await;
    s.clock.advance(Duration::seconds(901));
    let _ = s.try_sign_in("bob", "wrong", "5.6.7.8").await;
    // five counters per sign-in; those of the first share none with the second but two
    let purged = s.throttle.purge_expired().await.unwrap();
    assert_eq!(purged, 3, "the first address's counters and its pair");
    let attempts = s.store.attempts();
    assert!(attempts.get("signin:ip:1.2.3.4").await.unwrap().is_none());
    assert!(attempts.get("signin:ip:5.6.7.8").await.unwrap().is_some());
    assert!(attempts.get("signin:acct:bob").await.unwrap().is_some());
}

/// The name keys the limits in the store: a NUL must never get there.
#[tokio::test]
async fn a_name_with_control_characters_is_refused_before_the_store_or_the_hash() {
    let s = setup();
    for name in ["bob\0", "\0", "bo\nb", ""] {
        assert!(
            matches!(
                s.try_sign_in(name, "wrong", "1.2.3.4").await,
                Err(Error::Validation(f)) if f.0.contains_key("username")
            ),
            "{name:?}"
        );
    }
    assert_eq!(s.hasher.verifications(), 0);
    for key in s
        .throttle
        .signin_counters("bob", "1.2.3.4")
        .iter()
        .map(|c| c.key.clone())
    {
        assert_eq!(s.store.attempts().get(&key).await.unwrap(), None, "{key}");
    }
}
