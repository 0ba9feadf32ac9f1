//! Hostile input: control characters that would reach a query.

use rolegate::settings::AttemptStoreKind;
use serde_json::json;

use crate::helpers::{expect_error, spawn_app, spawn_app_with, unique_name};

/// A NUL gave 500 on PostgreSQL, every user on SQLite and none on MariaDB.
#[tokio::test]
async fn control_characters_in_a_user_search_are_refused() {
    let app = spawn_app().await;
    let token = app.user_token(&unique_name("root"), &["admin"]).await;
    for q in ["a%00b", "%00", "ad%0Amin", "%1B%5B31m", "x%7F"] {
        let res = app
            .get_with_token(&format!("/api/admin/users?q={q}"), &token)
            .await;
        let body = expect_error(res, 400, "validation_failed").await;
        assert!(body["fields"]["q"].is_string(), "{q}: {body}");
    }
    let res = app.get_with_token("/api/admin/users?q=root", &token).await;
    assert_eq!(res.status(), 200, "a plain search still works");
}

/// With the database rate-limit store the name is a key in a query: a NUL
/// gave an unauthenticated 500 on PostgreSQL and an ERROR per request.
#[tokio::test]
async fn a_control_character_in_a_sign_in_username_is_400_before_anything_else() {
    let app = spawn_app_with(|s| s.rate_limit.store = AttemptStoreKind::Database).await;
    let marker = unique_name("nul");
    for name in [
        format!("{marker}\u{0}"),
        format!("ad\u{0}{marker}"),
        format!("{marker}\n"),
    ] {
        for _ in 0..3 {
            let res = app
                .post_json(
                    "/api/auth/signin",
                    &json!({"username": name, "password": "whatever it is"}),
                )
                .await;
            let body = expect_error(res, 400, "validation_failed").await;
            assert!(body["fields"]["username"].is_string(), "{body}");
        }
    }
    // An ordinary unknown name is still an ordinary 401.
    expect_error(
        app.signin(&marker, "whatever it is").await,
        401,
        "invalid_credentials",
    )
    .await;
}
