use serde_json::{Value, json};

use crate::helpers::{expect_error, spawn_app, spawn_app_with, unique_name};

#[tokio::test]
async fn signup_without_roles_gets_user() {
    let app = spawn_app().await;
    let res = app
        .signup("alice", "alice@example.com", "correct horse battery", None)
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"message": "User registered successfully!"})
    );
    let body: Value = app
        .signin("alice", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["roles"], json!(["ROLE_USER"]));
}

#[tokio::test]
async fn requested_roles_are_granted_when_open_and_ordered_user_moderator_admin() {
    let app = spawn_app().await; // the test profile turns open_role_signup on
    let res = app
        .signup(
            "boss",
            "boss@example.com",
            "correct horse battery",
            Some(&["admin", "user", "moderator", "admin"]),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = app
        .signin("boss", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["roles"],
        json!(["ROLE_USER", "ROLE_MODERATOR", "ROLE_ADMIN"])
    );
}

#[tokio::test]
async fn secure_by_default_elevated_roles_are_refused_and_nothing_is_created() {
    let app = spawn_app_with(|s| s.auth.open_role_signup = false).await;
    for roles in [&["admin"][..], &["user", "moderator"][..]] {
        let res = app
            .signup(
                "mallory",
                "mallory@example.com",
                "correct horse battery",
                Some(roles),
            )
            .await;
        let body = expect_error(res, 403, "role_not_allowed").await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(roles.last().unwrap())
        );
    }
    // nothing was created: the same username can still sign up, as a user
    expect_error(
        app.signin("mallory", "correct horse battery").await,
        401,
        "invalid_credentials",
    )
    .await;
    let res = app
        .signup(
            "mallory",
            "mallory@example.com",
            "correct horse battery",
            Some(&["user"]),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = app
        .signin("mallory", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["roles"], json!(["ROLE_USER"]));
}

#[tokio::test]
async fn duplicate_username_and_email_are_409_case_insensitively() {
    let app = spawn_app().await;
    assert_eq!(
        app.signup("Carol", "carol@example.com", "correct horse battery", None)
            .await
            .status(),
        201
    );

    let body = expect_error(
        app.signup("cAROL", "other@example.com", "correct horse battery", None)
            .await,
        409,
        "username_taken",
    )
    .await;
    assert_eq!(body["message"], "Failed! Username is already in use!");

    let body = expect_error(
        app.signup("carol2", "CAROL@Example.COM", "correct horse battery", None)
            .await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(body["message"], "Failed! Email is already in use!");
}

#[tokio::test]
async fn unknown_role_is_400_and_creates_nothing() {
    let app = spawn_app().await;
    let body = expect_error(
        app.signup(
            "dave",
            "dave@example.com",
            "correct horse battery",
            Some(&["user", "superuser"]),
        )
        .await,
        400,
        "unknown_role",
    )
    .await;
    assert_eq!(body["message"], "Failed! Role does not exist = superuser");
    let body = expect_error(
        app.signup(
            "dave",
            "dave@example.com",
            "correct horse battery",
            Some(&["not a role!"]),
        )
        .await,
        400,
        "unknown_role",
    )
    .await;
    assert_eq!(body["message"], "Failed! Role does not exist = not a role!");
    expect_error(
        app.signin("dave", "correct horse battery").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn invalid_fields_are_listed() {
    let app = spawn_app().await;
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "ab",
            "ok@example.com",
            "correct horse battery",
            &["username"],
        ),
        (
            &"x".repeat(33),
            "ok@example.com",
            "correct horse battery",
            &["username"],
        ),
        (
            "bad name",
            "ok@example.com",
            "correct horse battery",
            &["username"],
        ),
        (
            "r\u{0}ot",
            "ok@example.com",
            "correct horse battery",
            &["username"],
        ),
        (
            "\u{0430}dmin",
            "ok@example.com",
            "correct horse battery",
            &["username"],
        ),
        (
            "okname",
            "not-an-email",
            "correct horse battery",
            &["email"],
        ),
        ("okname", "ok@example.com", "short", &["password"]),
        ("okname", "ok@example.com", &"p".repeat(129), &["password"]),
        ("x", "y", "z", &["email", "password", "username"]),
    ];
    for (username, email, password, fields) in cases {
        let body = expect_error(
            app.signup(username, email, password, None).await,
            400,
            "validation_failed",
        )
        .await;
        let got: Vec<&String> = body["fields"].as_object().unwrap().keys().collect();
        assert_eq!(got, fields.to_vec(), "fields for {username:?}/{email:?}");
    }
}

#[tokio::test]
async fn email_is_stored_lowercased_and_fullwidth_usernames_are_normalised() {
    let app = spawn_app().await;
    assert_eq!(
        app.signup(
            "ｅｍｍａ",
            "Emma@Example.ORG",
            "correct horse battery",
            None
        )
        .await
        .status(),
        201
    );
    let body: Value = app
        .signin("emma", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["email"], "emma@example.org");
    assert_eq!(body["username"], "emma");
}

#[tokio::test]
async fn sql_looking_input_is_data() {
    let app = spawn_app().await;
    let email = "o'brien+x@example.com";
    let password = "'; DROP TABLE users; --";
    let name = unique_name("obrien");
    assert_eq!(app.signup(&name, email, password, None).await.status(), 201);
    let body: Value = app.signin(&name, password).await.json().await.unwrap();
    assert_eq!(body["email"], email);
    // the table is still there
    assert_eq!(
        app.signup(
            &unique_name("next"),
            "next@example.com",
            "correct horse battery",
            None
        )
        .await
        .status(),
        201
    );
}
