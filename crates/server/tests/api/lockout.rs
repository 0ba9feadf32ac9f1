//! Sign-in limits under attack: concurrent guesses check at most the limit's
//! number of passwords; an attacker's address is blocked, not the owner; an
//! admin (API or command line) clears an account's counters.

use futures_util::future::join_all;
use rolegate::settings::AttemptStoreKind;
use serde_json::Value;

use secrecy::ExposeSecret as _;

use crate::helpers::{
    TestApp, cli, expect_error, run_cli_with, spawn_app_with, trusting_the_test_proxy,
};

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

/// Signs up `name` with `roles`: (id, access token).
async fn account_with_roles(app: &TestApp, name: &str, roles: &[&str]) -> (i64, String) {
    let res = app
        .signup(name, &format!("{name}@example.com"), PW, Some(roles))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = app.signin(name, PW).await.json().await.unwrap();
    (
        body["id"].as_i64().unwrap(),
        body["accessToken"].as_str().unwrap().to_owned(),
    )
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
async fn concurrent_guesses_check_at_most_the_limit_in_redis() {
    concurrent_guesses_check_at_most_the_limit(AttemptStoreKind::Redis).await;
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

async fn unlock(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/admin/users/{id}/unlock")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_unlock_frees_the_account_from_every_address() {
    let app = app_with(AttemptStoreKind::Memory).await;
    let id = account(&app, "locked").await;
    blocked_by_the_attacker(&app, "locked").await;
    let helper = app.user_token("helper", &["moderator"]).await;
    let root = app.user_token("root", &["admin"]).await;

    expect_error(
        unlock(&app, &helper, &id.to_string()).await,
        403,
        "missing_permission",
    )
    .await;
    expect_error(unlock(&app, &root, "999999").await, 404, "not_found").await;
    expect_error(unlock(&app, &root, "abc").await, 400, "invalid_path").await;
    let res = unlock(&app, &root, &id.to_string()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "locked");

    // the attacker's address may try again: checked (401), not refused
    expect_error(
        app.signin_from(ATTACKER, "locked", "another guess").await,
        401,
        "invalid_credentials",
    )
    .await;
    let audit: Value = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"][0]["action"], "user.unlock");
    assert_eq!(audit["items"][0]["target"], format!("user:{id}"));
}

#[tokio::test]
async fn an_admin_cannot_unlock_an_account_that_outranks_them() {
    let app = app_with(AttemptStoreKind::Memory).await;
    let (root_id, root) = account_with_roles(&app, "topdog", &["admin"]).await;
    let res = app
        .client
        .post(app.url("/api/admin/roles"))
        .bearer_auth(&root)
        .json(
            &serde_json::json!({"name": "helpdesk", "permissions": ["users:read", "users:write"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (_, desk) = account_with_roles(&app, "desk", &["helpdesk"]).await;
    expect_error(
        unlock(&app, &desk, &root_id.to_string()).await,
        403,
        "escalation",
    )
    .await;
}

#[tokio::test]
async fn the_command_line_unlocks_an_account() {
    let app = app_with(AttemptStoreKind::Database).await;
    account(&app, "cliuser").await;
    blocked_by_the_attacker(&app, "cliuser").await;
    let (ok, out) = cli(&app.db.url, &["user", "unlock", "CliUser"], None).await;
    assert!(ok, "{out}");
    assert!(out.contains("cliuser (id "), "{out}");
    assert!(out.contains("unlocked"), "{out}");
    expect_error(
        app.signin_from(ATTACKER, "cliuser", "another guess").await,
        401,
        "invalid_credentials",
    )
    .await;
    let (ok, out) = cli(&app.db.url, &["user", "unlock", "nobody_here"], None).await;
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn the_command_line_unlocks_an_account_in_redis() {
    let app = app_with(AttemptStoreKind::Redis).await;
    account(&app, "redisuser").await;
    blocked_by_the_attacker(&app, "redisuser").await;
    let r = &app.settings.rate_limit;
    let vars = [
        ("ROLEGATE__RATE_LIMIT__STORE", "redis".to_owned()),
        (
            "ROLEGATE__RATE_LIMIT__REDIS_URL",
            r.redis_url.as_ref().unwrap().expose_secret().to_owned(),
        ),
        ("ROLEGATE__RATE_LIMIT__REDIS_PREFIX", r.redis_prefix.clone()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let url = app.db.url.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run_cli_with(&url, &vars, &["user", "unlock", "redisuser"], None)
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(!out.contains("warning"), "{out}");
    expect_error(
        app.signin_from(ATTACKER, "redisuser", "another guess")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
}
