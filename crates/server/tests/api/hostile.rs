//! Hostile input: control characters that would reach a query, e-mail
//! addresses that only look like another.

use rolegate::settings::AttemptStoreKind;
use serde_json::json;

use crate::helpers::{expect_error, spawn_app, spawn_app_with, unique_name};

const PW: &str = "a good long password";

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

/// Each variant displays like `alice.<id>@example.com` (or is another
/// spelling of it): it is refused, or it is the same address (409).
#[tokio::test]
async fn look_alike_email_addresses_are_refused_or_collide() {
    let app = spawn_app().await;
    let id = &unique_name("x")[2..];
    let local = format!("jos\u{e9}{id}");
    let email = format!("{local}@b\u{fc}cher.example");
    let res = app.signup(&unique_name("orig"), &email, PW, None).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    let full_width: String = format!("jos\u{e9}{id}")
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap(),
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap(),
            other => other,
        })
        .collect();
    let collide = [
        ("NFD", format!("jose\u{301}{id}@bu\u{308}cher.example")),
        (
            "upper case",
            format!("JOS\u{c9}{}@B\u{dc}CHER.EXAMPLE", id.to_uppercase()),
        ),
        (
            "full-width",
            format!("{full_width}\u{ff20}b\u{fc}cher.example"),
        ),
        ("punycode domain", format!("{local}@xn--bcher-kva.example")),
        ("spaces around", format!("  {email} ")),
    ];
    let refuse = [
        (
            "zero-width space",
            format!("jos\u{e9}\u{200b}{id}@b\u{fc}cher.example"),
        ),
        (
            "zero-width joiner",
            format!("{local}\u{200d}@b\u{fc}cher.example"),
        ),
        ("soft hyphen", format!("{local}@b\u{fc}\u{ad}cher.example")),
        (
            "right-to-left override",
            format!("\u{202e}{local}@b\u{fc}cher.example"),
        ),
        ("BOM", format!("\u{feff}{email}")),
        (
            "Cyrillic o",
            format!("j\u{43e}s\u{e9}{id}@b\u{fc}cher.example"),
        ),
        (
            "Greek o",
            format!("j\u{3bf}s\u{e9}{id}@b\u{fc}cher.example"),
        ),
    ];
    let outcomes = collide
        .iter()
        .map(|(what, variant)| (what, variant, 409, "email_taken"))
        .chain(
            refuse
                .iter()
                .map(|(what, variant)| (what, variant, 400, "validation_failed")),
        );
    for (i, (what, variant, status, code)) in outcomes.enumerate() {
        let res = app
            .signup(&unique_name(&format!("v{i}")), variant, PW, None)
            .await;
        let got = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
    }
    // The address is shown in its one stored form.
    let token = app.user_token(&unique_name("root"), &["admin"]).await;
    // (searched by a prefix of the address, in another spelling)
    let res = app
        .get_with_token(&format!("/api/admin/users?q=JOSE%CC%81{id}"), &token)
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(
        body["items"][0]["email"],
        format!("{local}@xn--bcher-kva.example")
    );
}
