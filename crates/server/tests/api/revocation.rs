//! Revocation within seconds, everywhere: two instances on one database,
//! each polling revocations every second. A session ended or a user
//! disabled on instance A is refused by instance B's guards within the
//! bound; introspection answers from the database at once.

use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, claims_of, expect_error, spawn_app_with, unique_name};

const PW: &str = "correct horse battery";
const INTROSPECTION_SECRET: &str = "introspection-secret-introspection-secret";
/// The poll interval of these tests (1 s) plus plenty for a loaded machine.
const BOUND: Duration = Duration::from_secs(5);

/// Instances A and B on one database, polling revocations every second.
async fn two_instances() -> (TestApp, TestApp) {
    let a = spawn_app_with(|s| {
        s.auth.revocation_poll_secs = 1;
        s.auth.introspection_secret = SecretString::from(INTROSPECTION_SECRET);
    })
    .await;
    let b = a.restart_with(|_| {}).await;
    (a, b)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// A new user (role `user`) signed in on `app`: (id, access, refresh).
async fn user(app: &TestApp, prefix: &str) -> (String, String, String) {
    let name = unique_name(prefix);
    let res = app
        .signup(&name, &format!("{name}@example.com"), PW, None)
        .await;
    assert_eq!(res.status(), 201);
    let (access, refresh) = app.session(&name, PW).await;
    let id = claims_of(&access)["sub"].as_str().unwrap().to_owned();
    (id, access, refresh)
}

/// Whether `token` is accepted on a token-only route of `app`.
async fn accepted(app: &TestApp, token: &str) -> bool {
    let res = app.get_with_token("/api/test/user", token).await;
    match res.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected {other}: {}", res.text().await.unwrap()),
    }
}

/// Waits (up to [`BOUND`]) until `app` refuses `token` with 401
/// `token_revoked`; fails if it does not.
async fn refused_within_the_bound(app: &TestApp, token: &str, what: &str) {
    let start = Instant::now();
    while accepted(app, token).await {
        assert!(
            start.elapsed() < BOUND,
            "{what}: still accepted after {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = expect_error(
        app.get_with_token("/api/test/user", token).await,
        401,
        "token_revoked",
    )
    .await;
    assert_eq!(
        body["message"], "Unauthorized! The session has ended; please sign in again.",
        "{what}"
    );
    // every guarded route, rolegate's own profile included
    expect_error(
        app.get_with_token("/api/auth/me", token).await,
        401,
        "token_revoked",
    )
    .await;
}

async fn admin(app: &TestApp) -> String {
    app.user_token(&unique_name("root"), &["user", "admin"])
        .await
}

async fn set_disabled(app: &TestApp, admin: &str, id: &str, disabled: bool) {
    let res = call(
        app,
        Method::PATCH,
        &format!("/api/admin/users/{id}"),
        admin,
        Some(json!({"disabled": disabled})),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

fn basic(secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("articles:{secret}"))
    )
}

/// Introspects `token` on `app` with the shared secret, as a form.
async fn introspect(app: &TestApp, token: &str) -> Value {
    let res = app
        .client
        .post(app.url("/api/auth/introspect"))
        .header("Authorization", basic(INTROSPECTION_SECRET))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

#[tokio::test]
async fn disabling_a_user_on_one_instance_refuses_their_token_on_the_other_within_the_bound() {
    let (a, b) = two_instances().await;
    let root = admin(&a).await;
    let (id, access, _) = user(&a, "ann").await;
    assert!(accepted(&b, &access).await, "accepted on B before");
    assert_eq!(introspect(&b, &access).await["active"], true);

    set_disabled(&a, &root, &id, true).await;
    // introspection is authoritative: at once, on either instance
    assert_eq!(introspect(&b, &access).await, json!({"active": false}));
    refused_within_the_bound(&b, &access, "disabled user on B").await;
    refused_within_the_bound(&a, &access, "disabled user on A").await;

    // enabled again: a new sign-in works on B; the old session stays ended
    set_disabled(&a, &root, &id, false).await;
    let name = username_of(&a, &root, &id).await;
    let (fresh, _) = b.session(&name, PW).await;
    let start = Instant::now();
    while !accepted(&b, &fresh).await {
        assert!(
            start.elapsed() < BOUND,
            "a re-enabled user's new token is accepted on B"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(introspect(&b, &fresh).await["active"], true);
    assert!(!accepted(&b, &access).await, "the old token stays refused");
    assert_eq!(introspect(&a, &access).await["active"], false);
}

/// The username of user `id` (from the admin API).
async fn username_of(app: &TestApp, admin: &str, id: &str) -> String {
    let res = call(
        app,
        Method::GET,
        &format!("/api/admin/users/{id}"),
        admin,
        None,
    )
    .await;
    let body: Value = res.json().await.unwrap();
    body["username"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn signing_out_one_session_refuses_its_token_everywhere_but_not_the_others() {
    let (a, b) = two_instances().await;
    let name = unique_name("bob");
    assert_eq!(
        a.signup(&name, &format!("{name}@example.com"), PW, None)
            .await
            .status(),
        201
    );
    let (first, first_refresh) = a.session(&name, PW).await;
    let (second, _) = a.session(&name, PW).await;
    assert!(accepted(&b, &first).await && accepted(&b, &second).await);

    let res = a
        .post_json("/api/auth/signout", &json!({"refreshToken": first_refresh}))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(&b, &first).await, json!({"active": false}));
    refused_within_the_bound(&b, &first, "signed-out session on B").await;
    assert!(accepted(&b, &second).await, "the other session still works");
    let active = introspect(&b, &second).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["token_type"], "access_token");
    assert_eq!(active["username"], name.as_str());
    assert_eq!(active["sid"], claims_of(&second)["sid"]);
    assert_eq!(active["sub"], claims_of(&second)["sub"]);
    assert_eq!(active["scope"], "content:read");
    assert_eq!(active["roles"], json!(["user"]));
    assert_eq!(active["iss"], "rolegate");
    assert!(active["exp"].as_i64().unwrap() > active["iat"].as_i64().unwrap());
}

/// Every other way a session or user ends is refused on B too.
#[tokio::test]
async fn every_path_that_ends_access_is_refused_on_the_other_instance() {
    let (a, b) = two_instances().await;
    let root = admin(&a).await;

    // DELETE /api/auth/sessions/{id}: ended by its owner from another session
    let (_, victim, _) = user(&a, "ses").await;
    let name = claims_of(&victim)["name"].as_str().unwrap().to_owned();
    let (other, _) = a.session(&name, PW).await;
    let sid = claims_of(&victim)["sid"].as_str().unwrap().to_owned();
    let res = call(
        &a,
        Method::DELETE,
        &format!("/api/auth/sessions/{sid}"),
        &other,
        None,
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    refused_within_the_bound(&b, &victim, "session ended by its owner").await;
    assert!(accepted(&b, &other).await);

    // sign-out of all sessions
    let res = call(&a, Method::POST, "/api/auth/signout-all", &other, None).await;
    assert_eq!(res.status(), 200);
    refused_within_the_bound(&b, &other, "signout-all").await;

    // a password change ends every session but the fresh one it answers with
    let (_, old, _) = user(&a, "pwd").await;
    let name = claims_of(&old)["name"].as_str().unwrap().to_owned();
    let (current, _) = a.session(&name, PW).await;
    let res = call(
        &a,
        Method::POST,
        "/api/auth/password",
        &current,
        Some(json!({"currentPassword": PW, "newPassword": "another long passphrase"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    let fresh = fresh["accessToken"].as_str().unwrap().to_owned();
    refused_within_the_bound(&b, &old, "another session after a password change").await;
    refused_within_the_bound(&b, &current, "the changing session after a password change").await;
    assert!(accepted(&b, &fresh).await, "the new session works");

    // refresh-token reuse ends the family
    let (_, stolen, r0) = user(&a, "reuse").await;
    let r1: Value = a.refresh(&r0).await.json().await.unwrap();
    let r1 = r1["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(a.refresh(&r1).await.status(), 200);
    expect_error(a.refresh(&r0).await, 401, "refresh_token_reused").await;
    refused_within_the_bound(&b, &stolen, "refresh-token reuse").await;

    // an admin deletes a user
    let (id, deleted, _) = user(&a, "gone").await;
    let res = call(
        &a,
        Method::DELETE,
        &format!("/api/admin/users/{id}"),
        &root,
        None,
    )
    .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    refused_within_the_bound(&b, &deleted, "deleted by an admin").await;
    assert_eq!(introspect(&b, &deleted).await, json!({"active": false}));

    // a user deletes their account
    let (_, leaving, _) = user(&a, "leave").await;
    let res = call(
        &a,
        Method::DELETE,
        "/api/auth/me",
        &leaving,
        Some(json!({"password": PW})),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    refused_within_the_bound(&b, &leaving, "account deleted by its owner").await;
}

#[tokio::test]
async fn introspection_needs_the_secret_or_the_permission() {
    let (a, _b) = two_instances().await;
    let (_, token, refresh) = user(&a, "intro").await;
    let url = a.url("/api/auth/introspect");
    let form = [("token", token.as_str())];

    // nobody, a wrong secret, a secret in the wrong place
    let res = a.client.post(&url).form(&form).send().await.unwrap();
    let body = expect_error(res, 401, "invalid_client").await;
    assert!(!body.to_string().contains(INTROSPECTION_SECRET));
    for auth in [
        basic("not-the-secret"),
        basic(""),
        "Basic %%%".to_owned(),
        format!("Bearer {INTROSPECTION_SECRET}"),
    ] {
        let res = a
            .client
            .post(&url)
            .header("Authorization", &auth)
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, 401, "{auth}: {body}");
        assert!(
            ["invalid_client", "invalid_token"].contains(&body["error"].as_str().unwrap()),
            "{body}"
        );
    }
    // an access token without tokens:introspect
    let res = a
        .client
        .post(&url)
        .bearer_auth(&token)
        .form(&form)
        .send()
        .await
        .unwrap();
    let body = expect_error(res, 403, "missing_permission").await;
    assert_eq!(body["message"], "Require permission tokens:introspect!");

    // an admin's token grants it (admin holds tokens:introspect); JSON works too
    let root = admin(&a).await;
    let res = a
        .client
        .post(&url)
        .bearer_auth(&root)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");

    // inactive: junk, a refresh token, a token signed by someone else
    for junk in [refresh.as_str(), "garbage", &format!("{token}x")] {
        assert_eq!(introspect(&a, junk).await, json!({"active": false}));
    }
    // bad requests
    let res = a
        .client
        .post(&url)
        .header("Authorization", basic(INTROSPECTION_SECRET))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_request").await;
    let res = a
        .client
        .post(&url)
        .header("Authorization", basic(INTROSPECTION_SECRET))
        .header("Content-Type", "text/plain")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "unsupported_content_type").await;
    let res = a
        .client
        .post(&url)
        .header("Authorization", basic(INTROSPECTION_SECRET))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "a".repeat(20_000)))
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "payload_too_large").await;
    assert!(
        !crate::helpers::captured_logs().contains(INTROSPECTION_SECRET),
        "the secret is never logged"
    );
}

#[tokio::test]
async fn without_a_secret_only_the_permission_introspects() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token, _) = user(&app, "nosecret").await;
    let res = app
        .client
        .post(app.url("/api/auth/introspect"))
        .header("Authorization", basic(INTROSPECTION_SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "invalid_client").await;
}
