//! Refresh tokens: rotation, reuse detection, the grace window, the session
//! cap, expiry,
//! sign-out, and fresh roles at refresh.

use std::sync::Arc;

use chrono::{Duration, Utc};
use futures_util::future::join_all;
use rolegate_domain::ManualClock;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, spawn_app, spawn_app_with_clock};

const PW: &str = "correct horse battery";

async fn signed_up(app: &TestApp, name: &str) -> (String, String) {
    assert_eq!(
        app.signup(name, &format!("{name}@example.com"), PW, None)
            .await
            .status(),
        201
    );
    app.session(name, PW).await
}

async fn refreshed(app: &TestApp, token: &str) -> Value {
    let res = app.refresh(token).await;
    assert_eq!(res.status(), 200, "refresh");
    res.json().await.unwrap()
}

/// Refused with the tutorial's message and the code that says why.
async fn refused(app: &TestApp, token: &str, code: &str) {
    let body = expect_error(app.refresh(token).await, 401, code).await;
    assert_eq!(
        body["message"],
        "Refresh token was expired. Please make a new signin request"
    );
}

#[tokio::test]
async fn signin_returns_a_refresh_token() {
    let app = spawn_app().await;
    app.signup("sam", "sam@example.com", PW, None).await;
    let body: Value = app.signin("sam", PW).await.json().await.unwrap();
    let refresh = body["refreshToken"].as_str().unwrap();
    assert!(refresh.len() >= 43, "≥ 256 bits, base64url");
    assert!(
        refresh
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(body["refreshExpiresIn"], 604800);
}

#[tokio::test]
async fn every_refresh_rotates_and_reuse_revokes_the_family() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |s| s.auth.refresh_grace_secs = 0).await;
    let (_, first) = signed_up(&app, "tara").await;
    let body = refreshed(&app, &first).await;
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["refreshExpiresIn"], 604800);
    let second = body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let access = body["accessToken"].as_str().unwrap();
    assert_eq!(
        app.get_with_token("/api/test/user", access).await.status(),
        200
    );

    let third = refreshed(&app, &second).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first token, already rotated, comes back: the whole family is revoked,
    // including the newest token.
    clock.advance(Duration::seconds(1)); // past a zero-second grace
    refused(&app, &first, "refresh_token_reused").await;
    refused(&app, &third, "refresh_token_revoked").await;
    // Another session of the same user is untouched.
    let (_, other) = app.session("tara", PW).await;
    refreshed(&app, &other).await;
}

#[tokio::test]
async fn grace_window_five_tabs_get_the_same_successor_and_a_late_replay_revokes() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |s| s.auth.refresh_grace_secs = 5).await;
    let (_, first) = signed_up(&app, "uma").await;
    let tabs = join_all((0..5).map(|_| app.refresh(&first))).await;
    let mut successors = Vec::new();
    for tab in tabs {
        assert_eq!(tab.status(), 200, "every tab gets through");
        let body: Value = tab.json().await.unwrap();
        successors.push(body["refreshToken"].as_str().unwrap().to_owned());
    }
    assert!(
        successors.iter().all(|s| *s == successors[0]),
        "the same successor, not branches: {successors:?}"
    );
    let successor = successors[0].clone();
    // later presentations within the window too, however many
    clock.advance(Duration::seconds(3));
    for _ in 0..3 {
        assert_eq!(
            refreshed(&app, &first).await["refreshToken"],
            successor.as_str()
        );
    }
    // the successor works
    let body = refreshed(&app, &successor).await;
    let next = body["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_with_token("/api/test/user", body["accessToken"].as_str().unwrap())
            .await
            .status(),
        200
    );
    clock.advance(Duration::seconds(10));
    refused(&app, &first, "refresh_token_reused").await; // late: reuse
    refused(&app, &next, "refresh_token_revoked").await; // the family is revoked
}

#[tokio::test]
async fn grace_ends_with_its_window() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, first) = signed_up(&app, "vic").await;
    let successor = refreshed(&app, &first).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // (MariaDB keeps whole seconds: stay a second clear of the boundary)
    clock.advance(Duration::seconds(4));
    assert_eq!(
        refreshed(&app, &first).await["refreshToken"],
        successor.as_str()
    );
    clock.advance(Duration::seconds(2));
    refused(&app, &first, "refresh_token_reused").await; // past the window: reuse
    refused(&app, &successor, "refresh_token_revoked").await;
}

#[tokio::test]
async fn sessions_beyond_the_cap_end_the_least_recently_used() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |s| s.auth.max_sessions_per_user = 3).await;
    let (_, mut one) = signed_up(&app, "cap").await;
    let (_, two) = app.session("cap", PW).await;
    let (_, three) = app.session("cap", PW).await;
    // the first session is used again: the second is now the least recently used
    one = refreshed(&app, &one).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(Duration::seconds(10));
    let (_, four) = app.session("cap", PW).await;
    refused(&app, &two, "refresh_token_revoked").await;
    for token in [&one, &three, &four] {
        refreshed(&app, token).await;
    }
    // another user's sessions are theirs
    let (_, other) = signed_up(&app, "cap2").await;
    refreshed(&app, &other).await;
}

#[tokio::test]
async fn grace_does_not_apply_once_the_successor_was_used() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, first) = signed_up(&app, "walt").await;
    let second = refreshed(&app, &first).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = refreshed(&app, &second).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    refused(&app, &first, "refresh_token_reused").await; // within the window, but its successor moved on
    refused(&app, &third, "refresh_token_revoked").await;
}

#[tokio::test]
async fn refresh_tokens_expire_by_the_clock() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = signed_up(&app, "xena").await;
    clock.advance(Duration::days(6));
    let next = refreshed(&app, &token).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(Duration::days(6)); // the rotated token got a fresh 7 days
    let last = refreshed(&app, &next).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(Duration::days(7) + Duration::seconds(1));
    refused(&app, &last, "refresh_token_expired").await;
}

#[tokio::test]
async fn signout_ends_the_session_and_is_idempotent() {
    let app = spawn_app().await;
    let (_, token) = signed_up(&app, "yuri").await;
    let (_, other) = app.session("yuri", PW).await;
    let res = app
        .post_json("/api/auth/signout", &json!({"refreshToken": token}))
        .await;
    assert_eq!(res.status(), 200);
    refused(&app, &token, "refresh_token_revoked").await;
    refreshed(&app, &other).await; // only that session
    let res = app
        .post_json("/api/auth/signout", &json!({"refreshToken": token}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post_json("/api/auth/signout", &json!({"refreshToken": "unknown"}))
        .await;
    assert_eq!(res.status(), 200);
    expect_error(
        app.post_json("/api/auth/signout", &json!({})).await,
        400,
        "invalid_field",
    )
    .await;
}

#[tokio::test]
async fn signout_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let (access, one) = signed_up(&app, "zoe").await;
    let (_, two) = app.session("zoe", PW).await;
    let (_, someone_else) = signed_up(&app, "zack").await;
    expect_error(
        app.client
            .post(app.url("/api/auth/signout-all"))
            .send()
            .await
            .unwrap(),
        401,
        "no_token",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/auth/signout-all"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    refused(&app, &one, "refresh_token_revoked").await;
    refused(&app, &two, "refresh_token_revoked").await;
    refreshed(&app, &someone_else).await;
}

#[tokio::test]
async fn role_changes_show_at_the_next_refresh() {
    let app = spawn_app().await;
    let (access, refresh) = signed_up(&app, "amy").await;
    expect_error(
        app.get_with_token("/api/test/admin", &access).await,
        403,
        "missing_role",
    )
    .await;
    app.sql("INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r WHERE u.username_key = 'amy' AND r.name = 'admin'").await;
    let body = refreshed(&app, &refresh).await;
    let access = body["accessToken"].as_str().unwrap();
    assert_eq!(
        app.get_with_token("/api/test/admin", access).await.status(),
        200
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_refresh_or_sign_in() {
    let app = spawn_app().await;
    let (_, refresh) = signed_up(&app, "ben").await;
    app.sql("UPDATE users SET disabled = TRUE WHERE username_key = 'ben'")
        .await;
    expect_error(app.refresh(&refresh).await, 403, "account_disabled").await;
    expect_error(app.signin("ben", PW).await, 403, "account_disabled").await;
    app.sql("UPDATE users SET disabled = FALSE WHERE username_key = 'ben'")
        .await;
    refused(&app, &refresh, "refresh_token_revoked").await; // the session was revoked when refused
}

#[tokio::test]
async fn tokens_are_not_interchangeable_and_junk_is_refused() {
    let app = spawn_app().await;
    let (access, refresh) = signed_up(&app, "cleo").await;
    refused(&app, &access, "invalid_refresh_token").await; // an access token is not a refresh token
    expect_error(
        app.get_with_token("/api/test/user", &refresh).await,
        401,
        "invalid_token",
    )
    .await; // nor the reverse
    refused(&app, "", "invalid_refresh_token").await;
    refused(&app, &"x".repeat(5000), "invalid_refresh_token").await;
    refused(
        &app,
        "'; DELETE FROM refresh_tokens; --",
        "invalid_refresh_token",
    )
    .await;
    refreshed(&app, &refresh).await; // still fine
}
