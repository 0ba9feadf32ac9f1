//! The `compat` profile answers exactly as the Node tutorial does where that
//! costs no security; the other profiles keep rolegate's own answers.

use rolegate::settings::{Profile, Settings};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestDb, claims_of, config_dir, expect_error, spawn_app, spawn_on, unique_name,
};

/// The app with the compat profile's own settings (its file, as shipped).
async fn compat_app() -> TestApp {
    let db = TestDb::create().await;
    let mut s = Settings::load_from(&config_dir(), Profile::Compat, false).unwrap();
    let test = crate::helpers::test_settings(&db.url);
    s.server = test.server;
    s.database = test.database;
    s.auth.jwt_secret = test.auth.jwt_secret;
    s.data = test.data;
    s.log = test.log;
    // The suite signs up many users from one address.
    s.rate_limit = test.rate_limit;
    spawn_on(db, s).await
}

#[tokio::test]
async fn compat_answers_as_the_tutorial_does() {
    let app = compat_app().await;
    let name = unique_name("tut");
    let email = format!("{name}@example.com");

    let res = app
        .signup(&name, &email, "password1", Some(&["moderator"]))
        .await;
    assert_eq!(res.status(), 200, "the tutorial's sign-up status");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"message": "User registered successfully!"}));

    let dup = app
        .signup(&name, &format!("other-{email}"), "password1", None)
        .await;
    let body = expect_error(dup, 400, "username_taken").await;
    assert_eq!(body["message"], "Failed! Username is already in use!");
    let dup = app
        .signup(&unique_name("tut"), &email, "password1", None)
        .await;
    let body = expect_error(dup, 400, "email_taken").await;
    assert_eq!(body["message"], "Failed! Email is already in use!");

    // No token: 403, as the tutorial's verifyToken answers.
    let res = app
        .client
        .get(app.url("/api/test/user"))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 403, "no_token").await;
    assert_eq!(body["message"], "No token provided!");

    // A wrong password and an unknown user: the same 401 "Invalid Password!".
    for (user, password) in [(name.as_str(), "wrong one!"), ("nobody_here", "password1")] {
        let body = expect_error(app.signin(user, password).await, 401, "invalid_credentials").await;
        assert_eq!(body["message"], "Invalid Password!");
    }

    // The tutorial's 24 h access tokens; the tutorial's roles were granted.
    let res = app.signin(&name, "password1").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["roles"],
        json!(["ROLE_MODERATOR"]),
        "the roles asked for, as the tutorial gives"
    );
    assert_eq!(body["expiresIn"], 86400);
    let claims = claims_of(body["accessToken"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86400
    );
    let token = body["accessToken"].as_str().unwrap();
    let res = app
        .client
        .get(app.url("/api/test/mod"))
        .header("x-access-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "Moderator Content.");
}

#[tokio::test]
async fn other_profiles_keep_rolegate_s_answers() {
    let app = spawn_app().await;
    let name = unique_name("own");
    let email = format!("{name}@example.com");
    assert_eq!(
        app.signup(&name, &email, "a good long password", None)
            .await
            .status(),
        201
    );
    expect_error(
        app.signup(&name, &format!("x{email}"), "a good long password", None)
            .await,
        409,
        "username_taken",
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/test/user"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    expect_error(res, 401, "no_token").await;
    let body = expect_error(
        app.signin(&name, "wrong one!").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(body["message"], "Invalid username or password.");
    let res = app.signin(&name, "a good long password").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expiresIn"], 900);
}
