//! Sign-in limits under attack: concurrent guesses check at most the limit's
//! number of passwords; an attacker's address is blocked, not the owner.

use futures_util::future::join_all;
use rolegate::settings::AttemptStoreKind;
use serde_json::Value;

use crate::helpers::{TestApp, expect_error, spawn_app_with, trusting_the_test_proxy};

const PW: &str = "correct horse battery";
const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

async fn app_with(store: AttemptStoreKind) -> TestApp {
    spawn_app_with(|s| {
        trusting_the_test_proxy(s);
        s.rate_limit.store = store;
        s.rate_limit.signin_account_max_failures = 5;
        s.rate_limit.signin_account_max_failures_all = 100;
        s.rate_limit.signin_client_max_failures = 30;
    })
    .await
}

/// Signs up `name`; returns its id.
async fn account(app: &TestApp, name: &str) -> i64 {
    assert_eq!(
        app.signup(name, &format!("{name}@example.com"), PW, None)
            .await
            .status(),
        201
    );
    let body: Value = app
        .signin_from("192.0.2.1", name, PW)
        .await
        .json()
        .await
        .unwrap();
    body["id"].as_i64().unwrap()
}

/// The attacker's address spends the account's budget: 5 × 401, then 429.
async fn blocked_by_the_attacker(app: &TestApp, name: &str) {
    for i in 0..5 {
        let res = app.signin_from(ATTACKER, name, &format!("guess number {i}"));
        expect_error(res.await, 401, "invalid_credentials").await;
    }
    expect_error(
        app.signin_from(ATTACKER, name, PW).await,
        429,
        "too_many_requests",
    )
    .await;
}

async fn concurrent_guesses_check_at_most_the_limit(store: AttemptStoreKind) {
    let app = app_with(store).await;
    account(&app, "target").await;
    let guesses =
        (0..40).map(|i| app.signin_from(ATTACKER, "target", &format!("guess number {i}")));
    let statuses: Vec<u16> = join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (5, 35),
        "five passwords checked, the rest refused unchecked: {statuses:?}"
    );
    // The budget is spent: the right password from there waits too.
    expect_error(
        app.signin_from(ATTACKER, "target", PW).await,
        429,
        "too_many_requests",
    )
    .await;
    // The owner, elsewhere, is not locked out.
    assert_eq!(app.signin_from(OWNER, "target", PW).await.status(), 200);
}

#[tokio::test]
async fn concurrent_guesses_check_at_most_the_limit_in_memory() {
    concurrent_guesses_check_at_most_the_limit(AttemptStoreKind::Memory).await;
}

#[tokio::test]
async fn concurrent_guesses_check_at_most_the_limit_in_the_database() {
    concurrent_guesses_check_at_most_the_limit(AttemptStoreKind::Database).await;
}

#[tokio::test]
async fn the_owner_signs_in_from_another_address_while_the_attacker_is_blocked() {
    let app = app_with(AttemptStoreKind::Memory).await;
    account(&app, "owned").await;
    blocked_by_the_attacker(&app, "owned").await;
    assert_eq!(app.signin_from(OWNER, "owned", PW).await.status(), 200);
    // and the owner's success does not free the attacker's address
    expect_error(
        app.signin_from(ATTACKER, "owned", PW).await,
        429,
        "too_many_requests",
    )
    .await;
}

#[tokio::test]
async fn guessing_from_many_addresses_meets_the_accounts_ceiling() {
    let app = spawn_app_with(|s| {
        trusting_the_test_proxy(s);
        s.rate_limit.signin_account_max_failures = 5;
        s.rate_limit.signin_account_max_failures_all = 12;
    })
    .await;
    account(&app, "popular").await;
    for i in 0..12 {
        let from = format!("203.0.113.{}", i / 4);
        let res = app.signin_from(&from, "popular", "a wrong guess");
        expect_error(res.await, 401, "invalid_credentials").await;
    }
    expect_error(
        app.signin_from("203.0.113.200", "popular", "a wrong guess")
            .await,
        429,
        "too_many_requests",
    )
    .await;
}
