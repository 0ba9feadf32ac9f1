//! Passkey ceremonies across time and instances: expiry, the purge, one
//! finish between two instances, and the limit on refused passkeys.

use std::sync::Arc;

use chrono::Utc;
use rolegate_domain::ManualClock;
use serde_json::json;

use crate::helpers::{expect_error, spawn_app_with, spawn_app_with_clock, unique_name};
use crate::passkeys::{SoftAuthenticator, finish_signin, passkey_signin, register, start_signin};

#[tokio::test]
async fn a_ceremony_expires_after_five_minutes_and_is_purged() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |s| s.auth.purge_interval_secs = 1).await;
    let token = app.user_token(&unique_name("pkexp"), &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;

    let (ceremony, options) = start_signin(&app, None).await;
    let credential = key.get(&options).await;
    clock.advance(chrono::Duration::seconds(301));
    expect_error(
        finish_signin(&app, &ceremony, &credential).await,
        401,
        "invalid_passkey",
    )
    .await;

    start_signin(&app, None).await;
    clock.advance(chrono::Duration::seconds(301));
    let mut left = String::new();
    for _ in 0..50 {
        left = app
            .scalar("SELECT CAST(COUNT(*) AS CHAR(20)) FROM webauthn_challenges")
            .await
            .trim()
            .to_owned();
        if left == "0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, "0", "expired ceremonies are purged");
}

#[tokio::test]
async fn two_instances_cannot_both_finish_one_ceremony() {
    let first = spawn_app_with(|_| {}).await;
    let second = first.restart_with(|_| {}).await;
    let token = first.user_token(&unique_name("pktwo"), &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&first, &token, &key, "Key").await;
    for _ in 0..5 {
        // Started on one instance, finished on both at once.
        let (ceremony, options) = start_signin(&first, None).await;
        let credential = key.get(&options).await;
        let (a, b) = tokio::join!(
            finish_signin(&first, &ceremony, &credential),
            finish_signin(&second, &ceremony, &credential)
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "exactly one finish wins");
    }
}

#[tokio::test]
async fn refused_passkeys_count_toward_the_clients_failed_sign_ins() {
    let app = spawn_app_with(|s| s.rate_limit.signin_client_max_failures = 3).await;
    let token = app.user_token(&unique_name("pklimit"), &["user"]).await;
    let key = SoftAuthenticator::new();
    register(&app, &token, &key, "Key").await;
    // Successes do not count.
    for _ in 0..4 {
        assert_eq!(passkey_signin(&app, &key, None).await.status(), 200);
    }
    let stranger = SoftAuthenticator::new();
    let (_, options) = crate::passkeys::start_registration(&app, &token).await;
    stranger.create(&options).await;
    for _ in 0..3 {
        expect_error(
            passkey_signin(&app, &stranger, None).await,
            401,
            "invalid_passkey",
        )
        .await;
    }
    let (ceremony, options) = start_signin(&app, None).await;
    let credential = key.get(&options).await;
    let res = app
        .post_json(
            "/api/auth/passkeys/login/finish",
            &json!({"ceremonyId": ceremony, "credential": credential}),
        )
        .await;
    let res = expect_error(res, 429, "too_many_requests").await;
    drop(res);
}

#[tokio::test]
async fn starting_sign_ins_is_limited_per_address() {
    let app = spawn_app_with(|s| s.rate_limit.signin_per_client = 3).await;
    for _ in 0..3 {
        start_signin(&app, None).await;
    }
    let res = app
        .post_json("/api/auth/passkeys/login/start", &json!({}))
        .await;
    expect_error(res, 429, "too_many_requests").await;
}
