//! Second factors over HTTP: TOTP enrolment and the two-step sign-in,
//! code replay and the time window, recovery codes, the `mfaToken`'s
//! lifetime and attempt cap, `amr` in access and refreshed tokens, the
//! admin API's MFA requirement and the administrators' reset.

use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};
use reqwest::Method;
use rolegate_domain::ManualClock;
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::*;

const PASSWORD: &str = "a good long password";

/// A clock 10 s into a 30-second step, so that steps are easy to name.
fn step_clock() -> Arc<ManualClock> {
    let now = Utc::now().timestamp();
    let start = now - now % 30 + 10;
    Arc::new(ManualClock::new(
        Utc.timestamp_opt(start, 0).single().unwrap(),
    ))
}

/// The app's code for `secret` (Base32) at `at`.
fn code_at(secret: &str, at: DateTime<Utc>) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes, None, String::new())
        .generate(u64::try_from(at.timestamp()).unwrap())
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn ok(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Signs up `name` with `roles` and returns (id, access token).
async fn member(app: &TestApp, name: &str, roles: &[&str]) -> (i64, String) {
    let res = app
        .signup(name, &format!("{name}@example.com"), PASSWORD, Some(roles))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let body = ok(app.signin(name, PASSWORD).await, 200).await;
    (
        body["id"].as_i64().unwrap(),
        body["accessToken"].as_str().unwrap().to_owned(),
    )
}

/// Enrols TOTP for the holder of `token` at the clock's time; returns the
/// secret and the recovery codes.
async fn enrol(app: &TestApp, token: &str, clock: &ManualClock) -> (String, Vec<String>) {
    let body = ok(
        send(
            app,
            Method::POST,
            "/api/auth/mfa/totp",
            Some(token),
            json!({"password": PASSWORD}),
        )
        .await,
        200,
    )
    .await;
    let secret = body["secret"].as_str().unwrap().to_owned();
    let code = code_at(&secret, clock.now_utc());
    let body = ok(
        send(
            app,
            Method::POST,
            "/api/auth/mfa/totp/confirm",
            Some(token),
            json!({"code": code}),
        )
        .await,
        200,
    )
    .await;
    let codes = body["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// The first step of a sign-in of a user with a second factor: its `mfaToken`.
async fn first_step(app: &TestApp, name: &str) -> String {
    let body = ok(app.signin(name, PASSWORD).await, 200).await;
    assert_eq!(body["mfaRequired"], true, "{body}");
    assert!(body.get("accessToken").is_none(), "no session yet: {body}");
    body["mfaToken"].as_str().unwrap().to_owned()
}

async fn second_step(app: &TestApp, mfa_token: &str, field: &str, code: &str) -> reqwest::Response {
    app.post_json(
        "/api/auth/signin/mfa",
        &json!({"mfaToken": mfa_token, field: code}),
    )
    .await
}

trait NowUtc {
    fn now_utc(&self) -> DateTime<Utc>;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        rolegate_domain::Clock::now(self)
    }
}

#[tokio::test]
async fn totp_sign_in_takes_two_steps_and_tokens_say_so() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = member(&app, "alice", &["user"]).await;
    assert_eq!(claims_of(&token)["amr"], json!(["pwd"]));

    // enrolment: not active until confirmed
    let body = ok(
        send(
            &app,
            Method::POST,
            "/api/auth/mfa/totp",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await,
        200,
    )
    .await;
    let secret = body["secret"].as_str().unwrap();
    assert!(
        body["otpauthUrl"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/rolegate:alice?"),
        "{body}"
    );
    assert!(
        body["qrPng"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR")
    );
    let direct = ok(app.signin("alice", PASSWORD).await, 200).await;
    assert!(direct["accessToken"].is_string(), "unconfirmed: {direct}");
    // the secret is not readable from the database
    let stored = app.scalar("SELECT secret_sealed FROM user_totp").await;
    assert!(
        !stored.contains(secret) && stored.starts_with("v1."),
        "{stored}"
    );

    let res = send(
        &app,
        Method::POST,
        "/api/auth/mfa/totp/confirm",
        Some(&token),
        json!({"code": "000000"}),
    )
    .await;
    expect_error(res, 401, "invalid_mfa_code").await;
    let code = code_at(secret, clock.now_utc());
    let body = ok(
        send(
            &app,
            Method::POST,
            "/api/auth/mfa/totp/confirm",
            Some(&token),
            json!({"code": code}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["recoveryCodes"].as_array().unwrap().len(), 10);
    let body = ok(app.get_with_token("/api/auth/mfa", &token).await, 200).await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));

    // sign-in: the first step gives no session
    let body = ok(app.signin("alice", PASSWORD).await, 200).await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(body["expiresIn"], 300);
    let mfa_token = body["mfaToken"].as_str().unwrap().to_owned();
    // the code that confirmed the enrolment is spent
    expect_error(
        second_step(&app, &mfa_token, "code", &code).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    clock.advance(chrono::Duration::seconds(30));
    let code = code_at(secret, clock.now_utc());
    let body = ok(second_step(&app, &mfa_token, "code", &code).await, 200).await;
    assert_eq!(body["roles"], json!(["ROLE_USER"]));
    let access = body["accessToken"].as_str().unwrap();
    assert_eq!(claims_of(access)["amr"], json!(["pwd", "otp"]));
    ok(app.get_with_token("/api/auth/me", access).await, 200).await;
    // the mfaToken is single-use
    expect_error(
        second_step(&app, &mfa_token, "code", &code).await,
        401,
        "invalid_mfa_token",
    )
    .await;
    // a refreshed token keeps the session's methods
    let refreshed = ok(
        app.refresh(body["refreshToken"].as_str().unwrap()).await,
        200,
    )
    .await;
    assert_eq!(
        claims_of(refreshed["accessToken"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    // a wrong password still gives no mfaToken
    let res = app.signin("alice", "not the password at all").await;
    expect_error(res, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn a_code_is_accepted_one_step_either_side_and_never_twice() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = member(&app, "bob", &["user"]).await;
    let (secret, _) = enrol(&app, &token, &clock).await;
    let now = clock.now_utc();
    let step = chrono::Duration::seconds(30);
    clock.advance(step * 3);
    let now3 = clock.now_utc();

    let mfa = first_step(&app, "bob").await;
    // two steps away either side: refused
    for at in [now3 - step * 2, now3 + step * 2] {
        expect_error(
            second_step(&app, &mfa, "code", &code_at(&secret, at)).await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    // one step behind: accepted
    ok(
        second_step(&app, &mfa, "code", &code_at(&secret, now3 - step)).await,
        200,
    )
    .await;
    // the same code again, on a new sign-in: a replay
    let mfa = first_step(&app, "bob").await;
    expect_error(
        second_step(&app, &mfa, "code", &code_at(&secret, now3 - step)).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    // an older step than the last accepted one: refused too
    expect_error(
        second_step(&app, &mfa, "code", &code_at(&secret, now)).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    // one step ahead: accepted, then the current one is older than it
    ok(
        second_step(&app, &mfa, "code", &code_at(&secret, now3 + step)).await,
        200,
    )
    .await;
    let mfa = first_step(&app, "bob").await;
    expect_error(
        second_step(&app, &mfa, "code", &code_at(&secret, now3)).await,
        401,
        "invalid_mfa_code",
    )
    .await;
}

#[tokio::test]
async fn recovery_codes_work_once_and_a_new_set_voids_the_old() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = member(&app, "carol", &["user"]).await;
    let (_, codes) = enrol(&app, &token, &clock).await;

    let mfa = first_step(&app, "carol").await;
    // case, spaces and dashes do not matter
    let typed = codes[0].to_uppercase().replace('-', " ");
    let body = ok(second_step(&app, &mfa, "recoveryCode", &typed).await, 200).await;
    assert_eq!(
        claims_of(body["accessToken"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
    let mfa = first_step(&app, "carol").await;
    expect_error(
        second_step(&app, &mfa, "recoveryCode", &codes[0]).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    // neither or both fields: 400
    let res = app
        .post_json("/api/auth/signin/mfa", &json!({"mfaToken": mfa}))
        .await;
    expect_error(res, 400, "validation_failed").await;
    let res = app
        .post_json(
            "/api/auth/signin/mfa",
            &json!({"mfaToken": mfa, "code": "123456", "recoveryCode": codes[1]}),
        )
        .await;
    expect_error(res, 400, "validation_failed").await;

    // a fresh set: the password is re-checked; old codes stop working
    let res = send(
        &app,
        Method::POST,
        "/api/auth/mfa/recovery-codes",
        Some(&token),
        json!({"password": "wrong password here"}),
    )
    .await;
    expect_error(res, 401, "invalid_credentials").await;
    let body = ok(
        send(
            &app,
            Method::POST,
            "/api/auth/mfa/recovery-codes",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await,
        200,
    )
    .await;
    let fresh = body["recoveryCodes"][0].as_str().unwrap().to_owned();
    expect_error(
        second_step(&app, &mfa, "recoveryCode", &codes[1]).await,
        401,
        "invalid_mfa_code",
    )
    .await;
    ok(second_step(&app, &mfa, "recoveryCode", &fresh).await, 200).await;
    // the codes are stored as keyed hashes only
    let stored = app
        .scalar("SELECT code_hash FROM recovery_codes WHERE used_at IS NULL ORDER BY id LIMIT 1")
        .await;
    assert_eq!(stored.len(), 64);
    assert!(!codes.iter().any(|c| stored.contains(&c.replace('-', ""))));
}

#[tokio::test]
async fn an_mfa_token_expires_after_five_minutes_and_dies_after_five_wrong_codes() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = member(&app, "dave", &["user"]).await;
    let (secret, _) = enrol(&app, &token, &clock).await;
    clock.advance(chrono::Duration::seconds(30));

    let mfa = first_step(&app, "dave").await;
    clock.advance(chrono::Duration::seconds(301));
    let code = code_at(&secret, clock.now_utc());
    expect_error(
        second_step(&app, &mfa, "code", &code).await,
        401,
        "invalid_mfa_token",
    )
    .await;

    let mfa = first_step(&app, "dave").await;
    for _ in 0..5 {
        expect_error(
            second_step(&app, &mfa, "code", "000000").await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    // the right code no longer helps: sign in again
    expect_error(
        second_step(&app, &mfa, "code", &code).await,
        401,
        "invalid_mfa_token",
    )
    .await;
    let mfa = first_step(&app, "dave").await;
    ok(second_step(&app, &mfa, "code", &code).await, 200).await;
    // garbage tokens
    expect_error(
        second_step(&app, "nope", "code", &code).await,
        401,
        "invalid_mfa_token",
    )
    .await;
    expect_error(
        second_step(&app, &"x".repeat(5000), "code", &code).await,
        401,
        "invalid_mfa_token",
    )
    .await;
}

#[tokio::test]
async fn wrong_codes_count_toward_the_sign_in_limits() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |s| {
        s.rate_limit.signin_account_max_failures = 3;
    })
    .await;
    let (_, token) = member(&app, "erin", &["user"]).await;
    let (secret, _) = enrol(&app, &token, &clock).await;
    clock.advance(chrono::Duration::seconds(30));
    // Three wrong codes from this address: the account is locked here
    // (429 before any check), though each first step had the password right.
    for _ in 0..3 {
        let mfa = first_step(&app, "erin").await;
        expect_error(
            second_step(&app, &mfa, "code", "000000").await,
            401,
            "invalid_mfa_code",
        )
        .await;
    }
    expect_error(app.signin("erin", PASSWORD).await, 429, "too_many_requests").await;
    let _ = secret;
}

#[tokio::test]
async fn removing_totp_needs_the_password_and_restores_the_one_step_sign_in() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = member(&app, "frank", &["user"]).await;
    let res = send(
        &app,
        Method::POST,
        "/api/auth/mfa/totp",
        Some(&token),
        json!({"password": "wrong password here"}),
    )
    .await;
    expect_error(res, 401, "invalid_credentials").await;
    let res = send(
        &app,
        Method::POST,
        "/api/auth/mfa/totp/confirm",
        Some(&token),
        json!({"code": "123456"}),
    )
    .await;
    expect_error(res, 409, "mfa_not_pending").await;
    let res = send(
        &app,
        Method::DELETE,
        "/api/auth/mfa/totp",
        Some(&token),
        json!({"password": PASSWORD}),
    )
    .await;
    expect_error(res, 409, "mfa_not_enabled").await;
    enrol(&app, &token, &clock).await;
    let res = send(
        &app,
        Method::POST,
        "/api/auth/mfa/totp",
        Some(&token),
        json!({"password": PASSWORD}),
    )
    .await;
    expect_error(res, 409, "mfa_already_enabled").await;

    let res = send(
        &app,
        Method::DELETE,
        "/api/auth/mfa/totp",
        Some(&token),
        json!({"password": "wrong password here"}),
    )
    .await;
    expect_error(res, 401, "invalid_credentials").await;
    let res = send(
        &app,
        Method::DELETE,
        "/api/auth/mfa/totp",
        Some(&token),
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let body = ok(app.signin("frank", PASSWORD).await, 200).await;
    assert!(body["accessToken"].is_string(), "{body}");
    assert_eq!(
        app.scalar("SELECT CAST(COUNT(*) AS CHAR(20)) FROM recovery_codes")
            .await
            .trim(),
        "0"
    );
    let actions = app
        .scalar(
            "SELECT CAST(COUNT(*) AS CHAR(20)) FROM audit_events WHERE action LIKE 'user.mfa.%'",
        )
        .await;
    assert_eq!(actions.trim(), "2");
}

#[tokio::test]
async fn the_admin_api_can_require_a_second_factor() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |s| s.auth.admin_requires_mfa = true).await;
    let (_, token) = member(&app, "root", &["admin"]).await;
    let res = app.get_with_token("/api/admin/users", &token).await;
    let body = expect_error(res, 403, "mfa_required").await;
    assert!(body["message"].as_str().unwrap().contains("second factor"));
    // no token is still a 401, and other routes do not care
    let res = app
        .client
        .get(app.url("/api/admin/users"))
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "no_token").await;
    ok(app.get_with_token("/api/test/admin", &token).await, 200).await;

    let (secret, _) = enrol(&app, &token, &clock).await;
    clock.advance(chrono::Duration::seconds(30));
    let mfa = first_step(&app, "root").await;
    let body = ok(
        second_step(&app, &mfa, "code", &code_at(&secret, clock.now_utc())).await,
        200,
    )
    .await;
    let strong = body["accessToken"].as_str().unwrap();
    ok(app.get_with_token("/api/admin/users", strong).await, 200).await;
    // a password change keeps the session's methods
    let body = ok(
        send(
            &app,
            Method::POST,
            "/api/auth/password",
            Some(strong),
            json!({"currentPassword": PASSWORD, "newPassword": "another long passphrase"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        claims_of(body["accessToken"].as_str().unwrap())["amr"],
        json!(["pwd", "otp"])
    );
}

#[tokio::test]
async fn admins_reset_second_factors_within_their_permissions() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, admin) = member(&app, "root", &["admin"]).await;
    let (grace_id, grace) = member(&app, "grace", &["user"]).await;
    enrol(&app, &grace, &clock).await;
    let (root_id, _) = (
        ok(app.get_with_token("/api/auth/me", &admin).await, 200).await["id"]
            .as_i64()
            .unwrap(),
        (),
    );

    // a helpdesk role that may write users but holds less than an admin
    ok(
        send(
            &app,
            Method::POST,
            "/api/admin/roles",
            Some(&admin),
            json!({"name": "helpdesk", "permissions": ["users:read", "users:write"]}),
        )
        .await,
        201,
    )
    .await;
    let (_, _) = member(&app, "heidi", &["user"]).await;
    let heidi_id = ok(app.signin("heidi", PASSWORD).await, 200).await["id"]
        .as_i64()
        .unwrap();
    ok(
        send(
            &app,
            Method::PUT,
            &format!("/api/admin/users/{heidi_id}/roles"),
            Some(&admin),
            json!({"roles": ["user", "helpdesk"]}),
        )
        .await,
        200,
    )
    .await;
    let heidi = ok(app.signin("heidi", PASSWORD).await, 200).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // heidi cannot reset the admin's factors; a plain user cannot reset anyone's
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{root_id}/mfa"),
        Some(&heidi),
        json!({}),
    )
    .await;
    expect_error(res, 403, "escalation").await;
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{root_id}/mfa"),
        Some(&grace),
        json!({}),
    )
    .await;
    expect_error(res, 403, "missing_permission").await;
    let res = send(
        &app,
        Method::DELETE,
        "/api/admin/users/999999/mfa",
        Some(&admin),
        json!({}),
    )
    .await;
    expect_error(res, 404, "not_found").await;

    // heidi may reset grace's
    first_step(&app, "grace").await;
    let body = ok(
        send(
            &app,
            Method::DELETE,
            &format!("/api/admin/users/{grace_id}/mfa"),
            Some(&heidi),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["username"], "grace");
    let body = ok(app.signin("grace", PASSWORD).await, 200).await;
    assert!(body["accessToken"].is_string(), "{body}");
    let audited = app
        .scalar(&format!("SELECT CAST(COUNT(*) AS CHAR(20)) FROM audit_events WHERE action = 'user.mfa.reset' AND target = 'user:{grace_id}'"))
        .await;
    assert_eq!(audited.trim(), "1");
}

#[tokio::test]
async fn production_refuses_to_start_without_the_key_once_anyone_enrolled() {
    let clock = step_clock();
    let app = spawn_app_with_clock(clock.clone(), |_| {}).await;
    let (_, token) = member(&app, "ivan", &["user"]).await;
    let with_key = |s: &mut rolegate::settings::Settings| {
        s.auth.mfa_encryption_key =
            secrecy::SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned());
    };
    // production without a key starts while nobody has a second factor
    // (a database of its own: a built instance runs its workers until dropped) …
    let fresh = crate::helpers::TestDb::create().await;
    assert!(
        rolegate::startup::Application::build(crate::config::production_on(&fresh))
            .await
            .is_ok(),
        "no key needed yet"
    );
    enrol(&app, &token, &clock).await;
    let mut prod = crate::config::production_on(&app.db);
    // … and refuses once someone has, naming the setting
    let err = match rolegate::startup::Application::build(prod.clone()).await {
        Ok(_) => panic!("production started without the key of enrolled secrets"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("auth.mfa_encryption_key") || err.contains("MFA_ENCRYPTION_KEY"),
        "{err}"
    );
    with_key(&mut prod);
    assert!(rolegate::startup::Application::build(prod).await.is_ok());
}
