//! Rate limits: failed sign-ins per account and per address (429 with
//! Retry-After, exponential and bounded), all sign-ins per address and per
//! account, sign-up and refresh per address, X-Forwarded-For only from
//! trusted proxies, a shared store, and the purge of expired counters.
//! (Attacks on one account: `lockout.rs`.)

use std::sync::Arc;

use chrono::{Duration, Utc};
use rolegate::settings::AttemptStoreKind;
use rolegate_domain::ManualClock;
use serde_json::json;

use crate::helpers::{
    TestDb, expect_error, spawn_app_with, spawn_app_with_clock, test_settings,
    trusting_the_test_proxy,
};

const PW: &str = "correct horse battery";

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failed_signins_lock_the_account_with_growing_bounded_backoff() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |s| {
        s.rate_limit.signin_account_max_failures = 3;
        s.rate_limit.signin_backoff_base_secs = 30;
        s.rate_limit.signin_backoff_max_secs = 120;
    })
    .await;
    app.signup("lucy", "lucy@example.com", PW, None).await;
    for _ in 0..3 {
        expect_error(
            app.signin("lucy", "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Blocked, even with the right password, and without checking it.
    let res = app.signin("lucy", PW).await;
    assert_eq!(retry_after(&res), 30);
    expect_error(res, 429, "too_many_requests").await;
    // Other accounts are not affected.
    app.signup("mark", "mark@example.com", PW, None).await;
    assert_eq!(app.signin("mark", PW).await.status(), 200);

    clock.advance(Duration::seconds(31));
    expect_error(
        app.signin("lucy", "wrong again!!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        retry_after(&app.signin("lucy", PW).await),
        60,
        "the back-off doubles"
    );
    for _ in 0..5 {
        clock.advance(Duration::seconds(121));
        app.signin("lucy", "still wrong!!").await;
    }
    let res = app.signin("lucy", PW).await;
    assert_eq!(retry_after(&res), 120, "and is bounded");
    // After the back-off the real user gets in, and the count starts over.
    clock.advance(Duration::seconds(121));
    assert_eq!(app.signin("lucy", PW).await.status(), 200);
    assert_eq!(app.signin("lucy", "one typo!!").await.status(), 401);
    assert_eq!(app.signin("lucy", PW).await.status(), 200);
}

#[tokio::test]
async fn failed_signins_per_address_block_credential_stuffing() {
    let app = spawn_app_with(|s| s.rate_limit.signin_client_max_failures = 5).await;
    app.signup("nora", "nora@example.com", PW, None).await;
    for i in 0..5 {
        app.signin(&format!("victim{i}"), "guessed password").await;
    }
    let res = app.signin("nora", PW).await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, 429, "too_many_requests").await;
}

#[tokio::test]
async fn signups_and_refreshes_are_limited_per_address() {
    let app = spawn_app_with(|s| {
        s.rate_limit.signup_per_client = 3;
        s.rate_limit.refresh_per_client = 2;
    })
    .await;
    for i in 0..3 {
        let res = app
            .signup(
                &format!("many{i}"),
                &format!("many{i}@example.com"),
                PW,
                None,
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    let res = app.signup("many3", "many3@example.com", PW, None).await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, 429, "too_many_requests").await;

    let (_, mut refresh) = app.session("many0", PW).await;
    for _ in 0..2 {
        let res = app.refresh(&refresh).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        refresh = body["refreshToken"].as_str().unwrap().to_owned();
    }
    expect_error(app.refresh(&refresh).await, 429, "too_many_requests").await;
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let untrusted = spawn_app_with(|s| s.rate_limit.signup_per_client = 2).await;
    for i in 0..3 {
        let res = untrusted
            .client
            .post(untrusted.url("/api/auth/signup"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"username": format!("fwd{i}"), "email": format!("fwd{i}@example.com"), "password": PW}))
            .send()
            .await
            .unwrap();
        let expected = if i < 2 { 201 } else { 429 };
        assert_eq!(res.status(), expected, "a spoofed header changes nothing");
    }

    let proxied = spawn_app_with(|s| {
        s.rate_limit.signup_per_client = 2;
        s.rate_limit.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for i in 0..4 {
        let res = proxied
            .client
            .post(proxied.url("/api/auth/signup"))
            .header("x-forwarded-for", format!("198.51.100.7, 203.0.113.{i}"))
            .json(&json!({"username": format!("via{i}"), "email": format!("via{i}@example.com"), "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            201,
            "each client behind the proxy has its own count"
        );
    }
}

#[tokio::test]
async fn the_database_store_is_shared_by_two_instances() {
    let first = spawn_app_with(|s| {
        s.rate_limit.store = AttemptStoreKind::Database;
        s.rate_limit.signin_account_max_failures = 4;
    })
    .await;
    let second = first.restart_with(|_| {}).await;
    first.signup("olga", "olga@example.com", PW, None).await;
    for app in [&first, &second, &first, &second] {
        expect_error(
            app.signin("olga", "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    expect_error(first.signin("olga", PW).await, 429, "too_many_requests").await;
    expect_error(second.signin("olga", PW).await, 429, "too_many_requests").await;
}

#[tokio::test]
async fn successful_signins_are_limited_per_address_and_per_account() {
    let app = spawn_app_with(|s| {
        trusting_the_test_proxy(s);
        s.rate_limit.signin_per_client = 3;
        s.rate_limit.signin_per_account = 5;
        s.rate_limit.signin_total_window_secs = 60;
    })
    .await;
    app.signup("busy", "busy@example.com", PW, None).await;
    app.signup("calm", "calm@example.com", PW, None).await;
    for _ in 0..3 {
        assert_eq!(
            app.signin_from("203.0.113.1", "busy", PW).await.status(),
            200
        );
    }
    let res = app.signin_from("203.0.113.1", "calm", PW).await;
    assert!((1..=60).contains(&retry_after(&res)));
    expect_error(res, 429, "too_many_requests").await;
    for _ in 0..2 {
        assert_eq!(
            app.signin_from("203.0.113.2", "busy", PW).await.status(),
            200
        );
    }
    expect_error(
        app.signin_from("203.0.113.3", "busy", PW).await,
        429,
        "too_many_requests",
    )
    .await;
    assert_eq!(
        app.signin_from("203.0.113.3", "calm", PW).await.status(),
        200,
        "per account: others are not affected"
    );
}

#[tokio::test]
async fn expired_attempt_counters_are_purged_from_the_database() {
    use rolegate_domain::{AttemptStore, Clock as _, Limit, Reservation, Throttle};
    let db = TestDb::create().await;
    let settings = test_settings(&db.url);
    let database = rolegate::startup::open_database(&settings).await.unwrap();
    let store: Arc<dyn AttemptStore> = Arc::new(database.clone());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let limits = settings.rate_limit.limits();
    let throttle = Throttle::new(store.clone(), clock.clone(), limits);
    let longest = limits.longest_window_secs();
    assert_eq!(longest, 3600, "sign-up's window, the longest by default");
    let limit = Limit {
        max: 10,
        window_secs: 60,
        backoff_base_secs: 60,
        backoff_max_secs: 60,
    };
    for key in ["signin:ip:203.0.113.1", "signin:pair:ann|203.0.113.1"] {
        assert_eq!(
            store.reserve(key, clock.now(), &limit).await.unwrap(),
            Reservation::Reserved
        );
    }
    clock.advance(Duration::seconds(longest - 10));
    store
        .reserve("signin:ip:203.0.113.2", clock.now(), &limit)
        .await
        .unwrap();
    assert_eq!(
        throttle.purge_expired().await.unwrap(),
        0,
        "nothing expired yet"
    );
    clock.advance(Duration::seconds(20));
    assert_eq!(throttle.purge_expired().await.unwrap(), 2);
    assert_eq!(store.get("signin:ip:203.0.113.1").await.unwrap(), None);
    assert!(store.get("signin:ip:203.0.113.2").await.unwrap().is_some());
    database.close().await;
}
