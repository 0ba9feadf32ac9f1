//! `rolegate user create|grant|list` against a fresh database, and the
//! first-admin bootstrap from `[bootstrap]`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestDb, captured_logs, cli, expect_error, spawn_app_with, spawn_on, test_settings,
};

const STRONG: &str = "correct horse battery staple";
const SEED_PASSWORD: &str = rolegate::cli::SEED_PASSWORD;

fn temp_file(contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rolegate-pw-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test]
async fn user_commands_create_the_first_admin_grant_and_list() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    let create = [
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--role",
        "admin",
    ];

    // weak passwords are refused, and nothing is created
    for weak in [
        "password1234\n",
        "short\n",
        "rootrootroot99\n",
        "aaaaaaaaaaaaaaaa\n",
    ] {
        let (ok, out) = cli(&url, &create, Some(weak)).await;
        assert!(!ok, "{weak:?} accepted: {out}");
        assert!(out.contains("password"), "{out}");
        assert!(
            !out.contains(weak.trim()),
            "the password is not echoed: {out}"
        );
    }
    let (ok, out) = cli(&url, &create, Some(&format!("{STRONG}\n"))).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("created user root (id 1) with roles admin"),
        "{out}"
    );
    let (ok, out) = cli(&url, &create, Some(&format!("{STRONG}\n"))).await;
    assert!(!ok && out.contains("Username is already in use"), "{out}");

    // --password-file, several roles
    let file = temp_file("another quite long passphrase\n");
    let (ok, out) = cli(
        &url,
        &[
            "user",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
            "--role",
            "user",
            "--role",
            "moderator",
            "--password-file",
            file.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = cli(
        &url,
        &[
            "user",
            "create",
            "--username",
            "ghost",
            "--email",
            "g@example.com",
            "--role",
            "wizard",
            "--password-file",
            file.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert!(!ok && out.contains("Role does not exist = wizard"), "{out}");
    let (ok, out) = cli(
        &url,
        &["user", "create", "--username", "x", "--email", "nope"],
        Some("whatever\n"),
    )
    .await;
    assert!(!ok && out.contains("username"), "{out}");

    // grant
    let (ok, out) = cli(&url, &["user", "grant", "ops", "admin"], None).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("ops now has roles user, moderator, admin"),
        "{out}"
    );
    let (ok, out) = cli(&url, &["user", "grant", "nobody", "admin"], None).await;
    assert!(!ok && out.contains("User not found"), "{out}");
    let (ok, out) = cli(&url, &["user", "grant", "ops", "wizard"], None).await;
    assert!(!ok && out.contains("Role does not exist = wizard"), "{out}");

    // list
    let (ok, out) = cli(&url, &["user", "list"], None).await;
    assert!(ok, "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains("@example.com")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].contains("root") && rows[0].contains("active") && rows[0].ends_with("admin"),
        "{out}"
    );
    assert!(
        rows[1].contains("ops") && rows[1].ends_with("user,moderator,admin"),
        "{out}"
    );
    let (_, out) = cli(&url, &["user", "list", "--q", "OPS"], None).await;
    assert_eq!(
        out.lines().filter(|l| l.contains("@example.com")).count(),
        1,
        "{out}"
    );

    // the service accepts the admin the command line made, and audited it
    let settings = test_settings(&db.url);
    let app = spawn_on(db, settings).await;
    let res = app.signin("root", STRONG).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["roles"], json!(["ROLE_ADMIN"]));
    let token = body["accessToken"].as_str().unwrap();
    let res = app
        .client
        .request(Method::GET, app.url("/api/admin/audit"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let log: Value = res.json().await.unwrap();
    let actions: Vec<(String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let root_id = body["id"].as_i64().unwrap();
    let ops_id = root_id + 1;
    let t = |a: &str, b: &str, c: String| (a.to_owned(), b.to_owned(), c);
    assert_eq!(
        actions,
        vec![
            t("cli", "user.roles.set", format!("user:{ops_id}")),
            t("cli", "user.create", format!("user:{ops_id}")),
            t("cli", "user.create", format!("user:{root_id}")),
        ]
    );
    let _ = std::fs::remove_file(file);
}

fn bootstrap(
    settings: &mut rolegate::settings::Settings,
    username: &str,
    password_file: &std::path::Path,
) {
    settings.bootstrap.admin_username = username.into();
    settings.bootstrap.admin_email = format!("{username}@example.com");
    settings.bootstrap.admin_password_file = password_file.display().to_string();
}

#[tokio::test]
async fn bootstrap_creates_the_first_admin_once() {
    let file = temp_file(&format!("{STRONG}\n"));
    let app = spawn_app_with(|s| bootstrap(s, "founder", &file)).await;
    let res = app.signin("founder", STRONG).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["roles"], json!(["ROLE_ADMIN"]));
    let token = body["accessToken"].as_str().unwrap().to_owned();

    let founder_id = body["id"].as_i64().unwrap();

    // later starts do nothing, even with another name configured, and read
    // nothing: the password file (a secret) may be gone
    std::fs::remove_file(&file).unwrap();
    let again = app.restart_with(|_| {}).await;
    let other = app.restart_with(|s| bootstrap(s, "second", &file)).await;
    expect_error(
        other.signin("second", STRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
    let res = again
        .client
        .get(again.url("/api/admin/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let users: Value = res.json().await.unwrap();
    assert_eq!(users["total"], 1, "{users}");
    let res = again
        .client
        .get(again.url("/api/admin/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let log: Value = res.json().await.unwrap();
    assert_eq!(log["total"], 1);
    assert_eq!(log["items"][0]["actor"], "bootstrap");
    assert_eq!(log["items"][0]["action"], "user.create");
    assert_eq!(log["items"][0]["target"], format!("user:{founder_id}"));
}

#[tokio::test]
async fn bootstrap_never_promotes_an_existing_account() {
    let file = temp_file(STRONG);
    let app = spawn_app_with(|_| {}).await;
    let res = app
        .signup("squatter", "squatter@example.com", "my own password", None)
        .await;
    assert_eq!(res.status(), 201);
    let booted = app.restart_with(|s| bootstrap(s, "squatter", &file)).await;
    let res = booted.signin("squatter", "my own password").await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["roles"], json!(["ROLE_USER"]));
    assert!(
        captured_logs()
            .lines()
            .any(|l| l.contains("it is not promoted") && l.contains("username=squatter")),
        "the refusal is logged"
    );
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn bootstrap_with_a_taken_email_starts_without_promoting_anyone() {
    let file = temp_file(STRONG);
    let app = spawn_app_with(|_| {}).await;
    let res = app
        .signup("someone", "founder@example.com", "my own password", None)
        .await;
    assert_eq!(res.status(), 201);
    // the configured e-mail belongs to "someone": the start goes on, nobody is promoted
    let booted = app.restart_with(|s| bootstrap(s, "founder", &file)).await;
    assert_eq!(
        booted.signin("someone", "my own password").await.status(),
        200
    );
    expect_error(
        booted.signin("founder", STRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
    let body: Value = booted
        .signin("someone", "my own password")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["roles"], json!(["ROLE_USER"]));
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn bootstrap_refuses_weak_or_missing_passwords() {
    for (contents, expected) in [
        (Some("password1234\n"), "too weak"),
        (None, "reading the password file"),
    ] {
        let db = TestDb::create().await;
        let mut settings = test_settings(&db.url);
        let file = match contents {
            Some(c) => temp_file(c),
            None => std::env::temp_dir().join("rolegate-no-such-password-file"),
        };
        bootstrap(&mut settings, "founder", &file);
        let database = rolegate::startup::open_database(&settings).await.unwrap();
        let err = rolegate::startup::Application::build_with_database(settings, database)
            .await
            .expect_err("a weak or missing bootstrap password stops the start");
        let message = format!("{err:#}");
        assert!(message.contains(expected), "{message}");
        assert!(!message.contains("password1234"), "not echoed: {message}");
        let _ = std::fs::remove_file(file);
    }
}

/// `rolegate dev seed`: refused under the production profile (nothing
/// written); elsewhere bulk users the service accepts — they sign in with
/// the documented password, are found by the search, hold `user` — with
/// their sessions and audit events; a second run continues after them, and
/// `user list` walks past its first page.
#[tokio::test]
async fn dev_seed_is_refused_in_production_and_seeds_users_that_sign_in() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    let production = [("ROLEGATE_ENV".to_owned(), "production".to_owned())];
    let refused = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            crate::helpers::run_cli_with(&url, &production, &["dev", "seed", "--users", "5"], None)
        })
        .await
        .unwrap()
    };
    assert!(!refused.0, "{}", refused.1);
    assert!(
        refused.1.contains("refused under the production profile"),
        "{}",
        refused.1
    );

    let (ok, out) = cli(
        &url,
        &["dev", "seed", "--users", "500", "--batch", "150"],
        None,
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains("seeded 500 users, user1 to user500")
            && out.contains(&format!("password \"{SEED_PASSWORD}\""))
            && out.contains("50 sessions")
            && out.contains("500 audit events"),
        "{out}"
    );
    let (ok, out) = cli(&url, &["dev", "seed", "--users", "3"], None).await;
    assert!(ok && out.contains("user501 to user503"), "{out}");
    let (ok, out) = cli(&url, &["user", "list", "--q", "user50"], None).await;
    assert!(ok, "{out}");
    let listed: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        listed.len(),
        5,
        "user50, user500 and the second run's user501–503: {out}"
    );
    let (ok, out) = cli(&url, &["user", "list"], None).await;
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().count(),
        1 + 503,
        "every user, past the first page of 100"
    );

    let settings = test_settings(&db.url);
    let app = spawn_on(db, settings).await;
    let res = app.signin("user250", SEED_PASSWORD).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], 250);
    assert_eq!(body["email"], "user250@example.com");
    assert_eq!(body["roles"], json!(["ROLE_USER"]));
    expect_error(
        app.signin("user250", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    // the id sequence continues after the seeded ids
    let res = app
        .signup("after_seed", "after_seed@example.com", STRONG, None)
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let token = app.user_token("seed_admin", &["admin"]).await;
    let found: Value = app
        .get_with_token("/api/admin/users?q=USER25&per_page=100", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 11, "{found}");
    let log: Value = app
        .get_with_token("/api/admin/audit?per_page=100", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(log["total"].as_u64().unwrap() >= 503, "{log}");
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "seed" && e["action"] == "user.create"),
        "{log}"
    );
}
