//! The account lifecycle over real mail: every link is read from what the
//! SMTP server (the `aiosmtpd` sink the test starts) received.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rolegate_domain::ManualClock;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, spawn_app_with, spawn_app_with_clock, unique_name};
use crate::smtp::{Mail, SmtpSink};

const PASSWORD: &str = "a good long password";
const WAIT: Duration = Duration::from_secs(20);

/// Points the app's mail at `sink`, links at `https://app.example.test`.
fn mail_to(sink: &SmtpSink) -> impl FnOnce(&mut rolegate::settings::Settings) + use<> {
    let url = sink.url();
    move |s| {
        s.mail.transport = rolegate::settings::MailTransport::Smtp;
        s.mail.smtp_url = Some(url.into());
        s.mail.public_url = "https://app.example.test".into();
        s.mail.poll_interval_ms = 50;
    }
}

async fn app_with_mail(
    tweak: impl FnOnce(&mut rolegate::settings::Settings),
) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let to_sink = mail_to(&sink);
    let app = spawn_app_with(|s| {
        to_sink(s);
        tweak(s);
    })
    .await;
    (app, sink)
}

/// The token of the link in `mail` whose path is `path`, after checking
/// that the link is built from the configured public URL.
fn link_token(mail: &Mail, path: &str) -> String {
    let prefix = format!("https://app.example.test{path}?token=");
    for body in [&mail.text, &mail.html] {
        assert!(body.contains(&prefix), "link {prefix}… in {body}");
    }
    let start = mail.text.find(&prefix).unwrap() + prefix.len();
    let token: String = mail.text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 22, "≥ 128 bits: {token}");
    token
}

async fn mail_for(sink: &SmtpSink, to: &str, subject_has: &str) -> Mail {
    let to = to.to_owned();
    let subject_has = subject_has.to_lowercase();
    sink.wait_for(
        move |m| {
            m.rcpt_tos.iter().any(|r| r == &to) && m.subject.to_lowercase().contains(&subject_has)
        },
        WAIT,
    )
    .await
}

/// Signs up a fresh user; returns (name, email).
async fn new_user(app: &TestApp) -> (String, String) {
    let name = unique_name("acct");
    let email = format!("{name}@example.com");
    let res = app.signup(&name, &email, PASSWORD, None).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    (name, email)
}

async fn me(app: &TestApp, token: &str) -> Value {
    let res = app.get_with_token("/api/auth/me", token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn post_auth(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn delete_auth(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = app.client.delete(app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn sign_up_mails_a_verification_link_that_works_once() {
    let (app, sink) = app_with_mail(|_| {}).await;
    let (name, email) = new_user(&app).await;
    let mail = mail_for(&sink, &email, "verify").await;
    assert!(mail.text.contains(&name), "greets the user: {}", mail.text);
    let token = link_token(&mail, "/verify-email");

    let (access, _) = app.session(&name, PASSWORD).await;
    assert_eq!(me(&app, &access).await["emailVerified"], false);

    let res = app
        .post_json("/api/auth/email/verify", &json!({"token": token}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(me(&app, &access).await["emailVerified"], true);

    let again = app
        .post_json("/api/auth/email/verify", &json!({"token": token}))
        .await;
    expect_error(again, 400, "invalid_token").await;
    let forged = app
        .post_json(
            "/api/auth/email/verify",
            &json!({"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        )
        .await;
    expect_error(forged, 400, "invalid_token").await;

    // The mail's body is gone from the outbox once it was sent.
    let resend = post_auth(&app, "/api/auth/email/verify/resend", &access, &json!({})).await;
    expect_error(resend, 409, "already_verified").await;
}

#[tokio::test]
async fn a_resent_verification_link_voids_the_first() {
    let (app, sink) = app_with_mail(|_| {}).await;
    let (name, email) = new_user(&app).await;
    let first = link_token(&mail_for(&sink, &email, "verify").await, "/verify-email");
    let (access, _) = app.session(&name, PASSWORD).await;
    let res = post_auth(&app, "/api/auth/email/verify/resend", &access, &json!({})).await;
    assert_eq!(res.status(), 202);
    let second = sink
        .wait_for(
            {
                let email = email.clone();
                let first = first.clone();
                move |m| m.rcpt_tos.contains(&email) && !m.text.contains(&first)
            },
            WAIT,
        )
        .await;
    let second = link_token(&second, "/verify-email");
    let old = app
        .post_json("/api/auth/email/verify", &json!({"token": first}))
        .await;
    expect_error(old, 400, "invalid_token").await;
    let new = app
        .post_json("/api/auth/email/verify", &json!({"token": second}))
        .await;
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn unverified_accounts_cannot_sign_in_when_verification_is_required() {
    let (app, sink) = app_with_mail(|s| s.auth.require_verified_email = true).await;
    let (name, email) = new_user(&app).await;
    expect_error(app.signin(&name, PASSWORD).await, 403, "email_not_verified").await;
    // A wrong password still gets the plain 401: the password is checked first.
    expect_error(
        app.signin(&name, "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let token = link_token(&mail_for(&sink, &email, "verify").await, "/verify-email");
    let res = app
        .post_json("/api/auth/email/verify", &json!({"token": token}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.signin(&name, PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let (app, sink) = app_with_mail(|_| {}).await;
    let (name, email) = new_user(&app).await;
    let (access, _) = app.session(&name, PASSWORD).await;
    let (_, other_refresh) = app.session(&name, PASSWORD).await;

    let change = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});
    let wrong = post_auth(
        &app,
        "/api/auth/password",
        &access,
        &change("not it at all", "brand new passphrase"),
    )
    .await;
    expect_error(wrong, 401, "invalid_credentials").await;
    let same = post_auth(
        &app,
        "/api/auth/password",
        &access,
        &change(PASSWORD, PASSWORD),
    )
    .await;
    let body = expect_error(same, 400, "validation_failed").await;
    assert!(body["fields"]["newPassword"].is_string(), "{body}");
    let common = post_auth(
        &app,
        "/api/auth/password",
        &access,
        &change(PASSWORD, "iloveyou"),
    )
    .await;
    let body = expect_error(common, 400, "validation_failed").await;
    assert!(
        body["fields"]["newPassword"]
            .as_str()
            .unwrap()
            .contains("common"),
        "{body}"
    );
    let personal = post_auth(
        &app,
        "/api/auth/password",
        &access,
        &change(PASSWORD, &format!("my {name} pw")),
    )
    .await;
    expect_error(personal, 400, "validation_failed").await;

    let res = post_auth(
        &app,
        "/api/auth/password",
        &access,
        &change(PASSWORD, "brand new passphrase"),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(fresh["username"], name.as_str());
    assert_eq!(fresh["roles"], json!(["ROLE_USER"]));
    let fresh_refresh = fresh["refreshToken"].as_str().unwrap();

    expect_error(
        app.refresh(&other_refresh).await,
        401,
        "refresh_token_revoked",
    )
    .await;
    assert_eq!(
        app.refresh(fresh_refresh).await.status(),
        200,
        "the new session lives"
    );
    expect_error(
        app.signin(&name, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.signin(&name, "brand new passphrase").await.status(),
        200
    );

    let notice = mail_for(&sink, &email, "password").await;
    assert!(
        !notice.text.contains("token="),
        "a notice carries no link: {}",
        notice.text
    );
}

#[tokio::test]
async fn a_wrong_current_password_counts_toward_the_sign_in_limits() {
    let (app, _sink) = app_with_mail(|s| s.rate_limit.signin_account_max_failures = 2).await;
    let (name, _) = new_user(&app).await;
    let (access, _) = app.session(&name, PASSWORD).await;
    let body = json!({"currentPassword": "wrong password!", "newPassword": "brand new passphrase"});
    for _ in 0..2 {
        expect_error(
            post_auth(&app, "/api/auth/password", &access, &body).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    expect_error(
        post_auth(&app, "/api/auth/password", &access, &body).await,
        429,
        "too_many_requests",
    )
    .await;
    expect_error(app.signin(&name, PASSWORD).await, 429, "too_many_requests").await;
}

#[tokio::test]
async fn forgot_password_answers_alike_for_known_and_unknown_addresses() {
    let (app, sink) = app_with_mail(|_| {}).await;
    let (name, email) = new_user(&app).await;
    let (_, old_refresh) = app.session(&name, PASSWORD).await;

    let known = app
        .post_json("/api/auth/password/forgot", &json!({"email": email}))
        .await;
    let unknown_addr = format!("nobody-{name}@example.com");
    let unknown = app
        .post_json("/api/auth/password/forgot", &json!({"email": unknown_addr}))
        .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    let (known, unknown) = (known.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(known, unknown, "the same body");

    let mail = mail_for(&sink, &email, "reset").await;
    let token = link_token(&mail, "/reset-password");
    assert!(
        sink.all()
            .iter()
            .all(|m| !m.rcpt_tos.contains(&unknown_addr)),
        "nothing goes to an unknown address"
    );

    let weak = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "newPassword": "password"}),
        )
        .await;
    expect_error(weak, 400, "validation_failed").await;
    let res = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "newPassword": "reset passphrase ok"}),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let again = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "newPassword": "another passphrase"}),
        )
        .await;
    expect_error(again, 400, "invalid_token").await;

    expect_error(
        app.refresh(&old_refresh).await,
        401,
        "refresh_token_revoked",
    )
    .await;
    assert_eq!(app.signin(&name, "reset passphrase ok").await.status(), 200);
    let bad = app
        .post_json(
            "/api/auth/password/forgot",
            &json!({"email": "not an address"}),
        )
        .await;
    expect_error(bad, 400, "validation_failed").await;
}

#[tokio::test]
async fn a_newer_reset_link_or_a_password_change_voids_the_older_link() {
    let (app, sink) = app_with_mail(|_| {}).await;
    let (name, email) = new_user(&app).await;
    let body = json!({"email": email});
    let forgot = || app.post_json("/api/auth/password/forgot", &body);
    assert_eq!(forgot().await.status(), 202);
    let first = link_token(&mail_for(&sink, &email, "reset").await, "/reset-password");
    assert_eq!(forgot().await.status(), 202);
    let second_mail = sink
        .wait_for(
            {
                let (email, first) = (email.clone(), first.clone());
                move |m| {
                    m.rcpt_tos.contains(&email)
                        && m.text.contains("/reset-password?token=")
                        && !m.text.contains(&first)
                }
            },
            WAIT,
        )
        .await;
    let second = link_token(&second_mail, "/reset-password");
    let res = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": first, "newPassword": "reset passphrase ok"}),
        )
        .await;
    expect_error(res, 400, "invalid_token").await;

    // A password change voids the live link too.
    let (access, _) = app.session(&name, PASSWORD).await;
    let res = post_auth(
        &app,
        "/api/auth/password",
        &access,
        &json!({"currentPassword": PASSWORD, "newPassword": "changed passphrase"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": second, "newPassword": "reset passphrase ok"}),
        )
        .await;
    expect_error(res, 400, "invalid_token").await;
}

#[tokio::test]
async fn reset_links_expire() {
    let sink = SmtpSink::start().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_with_clock(clock.clone(), mail_to(&sink)).await;
    let (_, email) = new_user(&app).await;
    app.post_json("/api/auth/password/forgot", &json!({"email": email}))
        .await;
    let token = link_token(&mail_for(&sink, &email, "reset").await, "/reset-password");
    clock.advance(chrono::Duration::minutes(31));
    let res = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "newPassword": "reset passphrase ok"}),
        )
        .await;
    expect_error(res, 400, "invalid_token").await;
}

#[tokio::test]
async fn a_reset_lifts_the_sign_in_lockout() {
    let (app, sink) = app_with_mail(|s| s.rate_limit.signin_account_max_failures = 2).await;
    let (name, email) = new_user(&app).await;
    for _ in 0..2 {
        app.signin(&name, "a wrong guess").await;
    }
    expect_error(app.signin(&name, PASSWORD).await, 429, "too_many_requests").await;
    app.post_json("/api/auth/password/forgot", &json!({"email": email}))
        .await;
    let token = link_token(&mail_for(&sink, &email, "reset").await, "/reset-password");
    let res = app
        .post_json(
            "/api/auth/password/reset",
            &json!({"token": token, "newPassword": "reset passphrase ok"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.signin(&name, "reset passphrase ok").await.status(), 200);
}

#[tokio::test]
async fn an_email_change_is_confirmed_from_the_new_address() {
    let (app, sink) = app_with_mail(|_| {}).await;
    let (name, email) = new_user(&app).await;
    let (other, other_email) = new_user(&app).await;
    let (access, _) = app.session(&name, PASSWORD).await;
    let new_email = format!("new-{name}@example.org");
    let ask = |addr: &str, pw: &str| json!({"newEmail": addr, "currentPassword": pw});

    expect_error(
        post_auth(
            &app,
            "/api/auth/email",
            &access,
            &ask(&new_email, "not my password"),
        )
        .await,
        401,
        "invalid_credentials",
    )
    .await;
    expect_error(
        post_auth(
            &app,
            "/api/auth/email",
            &access,
            &ask(&other_email, PASSWORD),
        )
        .await,
        409,
        "email_taken",
    )
    .await;
    expect_error(
        post_auth(&app, "/api/auth/email", &access, &ask("nope", PASSWORD)).await,
        400,
        "validation_failed",
    )
    .await;

    let res = post_auth(&app, "/api/auth/email", &access, &ask(&new_email, PASSWORD)).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let confirm = mail_for(&sink, &new_email, "confirm").await;
    let token = link_token(&confirm, "/confirm-email-change");
    let notice = mail_for(&sink, &email, "change").await;
    assert!(
        notice.text.contains(&new_email),
        "the old address hears of it: {}",
        notice.text
    );
    assert!(!notice.text.contains(&token), "but gets no link");
    assert_eq!(
        me(&app, &access).await["email"],
        email.as_str(),
        "nothing changed yet"
    );

    let res = app
        .post_json("/api/auth/email/confirm", &json!({"token": token}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let profile = me(&app, &access).await;
    assert_eq!(profile["email"], new_email.as_str());
    assert_eq!(profile["emailVerified"], true);
    expect_error(
        app.post_json("/api/auth/email/confirm", &json!({"token": token}))
            .await,
        400,
        "invalid_token",
    )
    .await;

    // Taken meanwhile: the confirmation answers 409 and changes nothing.
    let (other_access, _) = app.session(&other, PASSWORD).await;
    let wanted = format!("wanted-{name}@example.org");
    let res = post_auth(
        &app,
        "/api/auth/email",
        &other_access,
        &ask(&wanted, PASSWORD),
    )
    .await;
    assert_eq!(res.status(), 202);
    let token = link_token(
        &mail_for(&sink, &wanted, "confirm").await,
        "/confirm-email-change",
    );
    let res = app
        .signup(&unique_name("taker"), &wanted, PASSWORD, None)
        .await;
    assert_eq!(res.status(), 201);
    expect_error(
        app.post_json("/api/auth/email/confirm", &json!({"token": token}))
            .await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(me(&app, &other_access).await["email"], other_email.as_str());
}

#[tokio::test]
async fn users_see_their_sessions_and_end_one() {
    let (app, _sink) = app_with_mail(|_| {}).await;
    let (name, _) = new_user(&app).await;
    let signin_as = |ua: &'static str| {
        app.client
            .post(app.url("/api/auth/signin"))
            .header("user-agent", ua)
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
    };
    let phone: Value = signin_as("Phone/1.0").await.unwrap().json().await.unwrap();
    let laptop: Value = signin_as("Laptop/2.0").await.unwrap().json().await.unwrap();
    let access = laptop["accessToken"].as_str().unwrap();

    let res = app.get_with_token("/api/auth/sessions", access).await;
    assert_eq!(res.status(), 200);
    let sessions: Vec<Value> = res.json().await.unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["userAgent"], "Laptop/2.0");
    assert_eq!(current[0]["clientAddress"], "127.0.0.1");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["userAgent"], "Phone/1.0");
    let other_id = other["id"].as_str().unwrap();

    // Another user cannot end it.
    let stranger = app.user_token(&unique_name("stranger"), &["user"]).await;
    let res = delete_auth(
        &app,
        &format!("/api/auth/sessions/{other_id}"),
        &stranger,
        None,
    )
    .await;
    expect_error(res, 404, "not_found").await;

    let res = delete_auth(
        &app,
        &format!("/api/auth/sessions/{other_id}"),
        access,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    expect_error(
        app.refresh(phone["refreshToken"].as_str().unwrap()).await,
        401,
        "refresh_token_revoked",
    )
    .await;
    assert_eq!(
        app.refresh(laptop["refreshToken"].as_str().unwrap())
            .await
            .status(),
        200
    );
    let res = delete_auth(
        &app,
        &format!("/api/auth/sessions/{other_id}"),
        access,
        None,
    )
    .await;
    expect_error(res, 404, "not_found").await;
    let sessions: Vec<Value> = app
        .get_with_token("/api/auth/sessions", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
}

#[tokio::test]
async fn users_delete_their_account_but_the_last_admin_stays() {
    let (app, _sink) = app_with_mail(|_| {}).await;
    let (name, _) = new_user(&app).await;
    let (access, refresh) = app.session(&name, PASSWORD).await;
    let wrong = delete_auth(
        &app,
        "/api/auth/me",
        &access,
        Some(&json!({"password": "not my password"})),
    )
    .await;
    expect_error(wrong, 401, "invalid_credentials").await;
    let res = delete_auth(
        &app,
        "/api/auth/me",
        &access,
        Some(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    expect_error(
        app.signin(&name, PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    expect_error(app.refresh(&refresh).await, 401, "invalid_refresh_token").await;

    let admin = unique_name("onlyadmin");
    let res = app
        .signup(
            &admin,
            &format!("{admin}@example.com"),
            PASSWORD,
            Some(&["admin"]),
        )
        .await;
    assert_eq!(res.status(), 201);
    let (admin_access, _) = app.session(&admin, PASSWORD).await;
    let res = delete_auth(
        &app,
        "/api/auth/me",
        &admin_access,
        Some(&json!({"password": PASSWORD})),
    )
    .await;
    expect_error(res, 409, "last_admin").await;

    let audit = app
        .get_with_token("/api/admin/audit?per_page=100", &admin_access)
        .await;
    let audit: Value = audit.json().await.unwrap();
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "user.delete.self"),
        "{audit}"
    );
    assert!(
        !audit.to_string().contains(PASSWORD),
        "no secret in the audit log"
    );
}

#[tokio::test]
async fn outdated_hashes_are_replaced_at_the_next_sign_in() {
    use argon2::password_hash::PasswordHasher as _;
    let (app, _sink) = app_with_mail(|_| {}).await;
    let (name, _) = new_user(&app).await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    assert!(weak.contains("m=8192,t=1,p=1"));
    app.sql(&format!(
        "UPDATE users SET password_hash = '{weak}' WHERE username = '{name}'"
    ))
    .await;
    assert_eq!(
        app.signin(&name, PASSWORD).await.status(),
        200,
        "the old hash still verifies"
    );
    let stored = app
        .scalar(&format!(
            "SELECT password_hash FROM users WHERE username = '{name}'"
        ))
        .await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        app.signin(&name, PASSWORD).await.status(),
        200,
        "the new hash verifies"
    );
}

#[tokio::test]
async fn a_sign_up_while_the_mail_server_is_down_loses_no_mail() {
    let (app, mut sink) = app_with_mail(|_| {}).await;
    sink.stop().await;
    let (_, email) = new_user(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.start_again().await;
    let mail = mail_for(&sink, &email, "verify").await;
    link_token(&mail, "/verify-email");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let copies = sink
        .all()
        .iter()
        .filter(|m| m.rcpt_tos.contains(&email))
        .count();
    assert_eq!(copies, 1, "sent once");
}

#[tokio::test]
async fn two_instances_on_one_database_send_each_mail_once() {
    let (a, sink) = app_with_mail(|_| {}).await;
    let b = a.restart_with(|_| {}).await;
    let mut emails = Vec::new();
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (_, email) = new_user(app).await;
        emails.push(email);
    }
    for email in &emails {
        mail_for(&sink, email, "verify").await;
    }
    // Both postmen had time to send anything twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let all = sink.all();
    for email in &emails {
        let copies = all.iter().filter(|m| m.rcpt_tos.contains(email)).count();
        assert_eq!(copies, 1, "{email} got {copies} mails");
    }
    // What stays of a sent link mail is its metadata, not its link.
    let bodies = a
        .scalar(&format!(
            "SELECT COALESCE(MAX(body_text), 'none') FROM mail_outbox WHERE recipient = '{}'",
            emails[0]
        ))
        .await;
    assert_eq!(bodies, "none", "the body of a sent link mail is dropped");
    let sent = a
        .scalar("SELECT CAST(COUNT(*) AS CHAR(20)) FROM mail_outbox WHERE sent_at IS NOT NULL")
        .await;
    assert_eq!(sent.trim(), "12");
}

#[tokio::test]
async fn accounts_created_by_an_operator_are_verified() {
    let (app, _sink) = app_with_mail(|_| {}).await;
    let admin = unique_name("ops");
    let (ok, out) = crate::helpers::cli(
        &app.db.url,
        &[
            "user",
            "create",
            "--username",
            &admin,
            "--email",
            &format!("{admin}@example.com"),
            "--role",
            "admin",
        ],
        Some("a strong operator passphrase\n"),
    )
    .await;
    assert!(ok, "{out}");
    let (access, _) = app.session(&admin, "a strong operator passphrase").await;
    assert_eq!(me(&app, &access).await["emailVerified"], true);
    let (name, _) = new_user(&app).await;
    let users: Value = app
        .get_with_token(&format!("/api/admin/users?q={name}"), &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["items"][0]["emailVerified"], false, "{users}");
}

#[tokio::test]
async fn used_links_and_old_mail_records_are_purged() {
    let (app, sink) = app_with_mail(|s| s.auth.purge_interval_secs = 1).await;
    let (_, email) = new_user(&app).await;
    let token = link_token(&mail_for(&sink, &email, "verify").await, "/verify-email");
    let res = app
        .post_json("/api/auth/email/verify", &json!({"token": token}))
        .await;
    assert_eq!(res.status(), 200);
    let app = &app;
    let count = |sql: &'static str| async move { app.scalar(sql).await.trim().to_owned() };
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS CHAR(20)) FROM account_tokens").await,
        "1"
    );
    // As if it was used two days ago, and the mail sent eight days ago.
    let past = |days: i64| {
        (Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    app.sql(&format!(
        "UPDATE account_tokens SET used_at = '{}'",
        past(2)
    ))
    .await;
    app.sql(&format!("UPDATE mail_outbox SET sent_at = '{}'", past(8)))
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS CHAR(20)) FROM account_tokens").await,
        "0"
    );
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS CHAR(20)) FROM mail_outbox").await,
        "0"
    );
}
