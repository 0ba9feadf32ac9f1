//! `rolegate user revoke|disable|enable|delete|set-password`: the admin
//! API's rules from the command line (the last admin stays, weak passwords
//! are refused, unknown users are named), audited as `cli`; and `-v`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, cli, expect_error, spawn_on, test_settings};

const ROOT_PW: &str = "correct horse battery staple";
const OPS_PW: &str = "another quite long passphrase";
const NEW_PW: &str = "a brand new passphrase today";

async fn create(url: &str, name: &str, roles: &[&str], password: &str) {
    let email = format!("{name}@example.com");
    let mut args = vec!["user", "create", "--username", name, "--email", &email];
    for role in roles {
        args.extend(["--role", role]);
    }
    let (ok, out) = cli(url, &args, Some(&format!("{password}\n"))).await;
    assert!(ok, "{out}");
}

async fn audit(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let res = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let log: Value = res.json().await.unwrap();
    log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn operator_commands_keep_the_admin_rules() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    create(&url, "root", &["admin"], ROOT_PW).await;
    create(&url, "ops", &["user", "moderator"], OPS_PW).await;
    let app = spawn_on(db, test_settings(&url)).await;

    // the last active admin stays: no revoke, disable or delete
    for args in [
        &["user", "revoke", "root", "admin"][..],
        &["user", "disable", "root"],
        &["user", "delete", "root"],
    ] {
        let (ok, out) = cli(&url, args, None).await;
        assert!(!ok, "{args:?}: {out}");
        assert!(
            out.contains("The last active admin cannot be removed"),
            "{args:?}: {out}"
        );
    }
    // unknown users and roles are named
    for args in [
        &["user", "revoke", "nobody", "user"][..],
        &["user", "disable", "nobody"],
        &["user", "enable", "nobody"],
        &["user", "delete", "nobody"],
        &["user", "set-password", "nobody"],
    ] {
        let (ok, out) = cli(&url, args, Some(&format!("{NEW_PW}\n"))).await;
        assert!(!ok && out.contains("User not found"), "{args:?}: {out}");
    }
    let (ok, out) = cli(&url, &["user", "revoke", "ops", "wizard"], None).await;
    assert!(!ok && out.contains("Role not found: wizard"), "{out}");

    // revoke
    let (ok, out) = cli(&url, &["user", "revoke", "ops", "moderator"], None).await;
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "ops now has roles user",
        "only the result, no log lines"
    );
    let body: Value = app.signin("ops", OPS_PW).await.json().await.unwrap();
    assert_eq!(body["roles"], json!(["ROLE_USER"]));

    // disable ends the sessions and refuses sign-in; enable lets them back
    let (_, refresh) = app.session("ops", OPS_PW).await;
    let (ok, out) = cli(&url, &["user", "disable", "ops"], None).await;
    assert!(ok && out.contains("ops (id 2) disabled"), "{out}");
    expect_error(app.signin("ops", OPS_PW).await, 403, "account_disabled").await;
    let status = app.refresh(&refresh).await.status().as_u16();
    assert!(matches!(status, 401 | 403), "{status}");
    let (ok, out) = cli(&url, &["user", "enable", "ops"], None).await;
    assert!(ok && out.contains("ops (id 2) enabled"), "{out}");
    assert_eq!(app.signin("ops", OPS_PW).await.status(), 200);

    // set-password: weak ones are refused (and not echoed); a strong one
    // ends every session, and only the new password works
    for weak in ["password1234", "short", "ops-ops-ops-ops"] {
        let (ok, out) = cli(
            &url,
            &["user", "set-password", "ops"],
            Some(&format!("{weak}\n")),
        )
        .await;
        assert!(!ok && out.contains("password"), "{weak}: {out}");
        assert!(!out.contains(weak), "not echoed: {out}");
    }
    assert_eq!(app.signin("ops", OPS_PW).await.status(), 200, "unchanged");
    let (_, refresh) = app.session("ops", OPS_PW).await;
    let (ok, out) = cli(
        &url,
        &["user", "set-password", "ops"],
        Some(&format!("{NEW_PW}\n")),
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("ops (id 2) has a new password"), "{out}");
    assert_eq!(app.refresh(&refresh).await.status(), 401, "sessions ended");
    expect_error(app.signin("ops", OPS_PW).await, 401, "invalid_credentials").await;
    assert_eq!(app.signin("ops", NEW_PW).await.status(), 200);
    // from a file
    let file = std::env::temp_dir().join(format!("rolegate-pw-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, format!("{OPS_PW}\n")).unwrap();
    let (ok, out) = cli(
        &url,
        &[
            "user",
            "set-password",
            "ops",
            "--password-file",
            file.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(app.signin("ops", OPS_PW).await.status(), 200);
    let _ = std::fs::remove_file(file);

    // the admin can be revoked, disabled and deleted once another admin exists
    let (ok, out) = cli(&url, &["user", "grant", "ops", "admin"], None).await;
    assert!(ok, "{out}");
    let (ok, out) = cli(&url, &["user", "delete", "root"], None).await;
    assert!(ok && out.contains("root (id 1) deleted"), "{out}");
    expect_error(
        app.signin("root", ROOT_PW).await,
        401,
        "invalid_credentials",
    )
    .await;

    // every change audited with the actor `cli`
    let body: Value = app.signin("ops", OPS_PW).await.json().await.unwrap();
    let token = body["accessToken"].as_str().unwrap();
    let log = audit(&app, token).await;
    let cli_actions: Vec<&str> = log
        .iter()
        .filter(|(actor, _)| actor == "cli")
        .map(|(_, action)| action.as_str())
        .collect();
    assert_eq!(
        cli_actions,
        vec![
            "user.delete",
            "user.roles.set",
            "user.password.set",
            "user.password.set",
            "user.enable",
            "user.disable",
            "user.roles.set",
            "user.create",
            "user.create",
        ],
        "{log:?}"
    );
}

#[tokio::test]
async fn commands_log_warnings_only_unless_verbose() {
    // Each on a fresh database, so that both apply the migrations (logged at info).
    async fn run(verbose: bool) -> (String, String) {
        let db = TestDb::create().await;
        let url = db.url.clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rolegate"));
            if verbose {
                cmd.arg("-v");
            }
            cmd.args(["user", "list"])
                .env("ROLEGATE_ENV", "test")
                .env("ROLEGATE_CONFIG_DIR", crate::helpers::config_dir())
                .env("ROLEGATE__DATABASE__URL", &url)
                .env("ROLEGATE__LOG__LEVEL", "info")
                .env_remove("RUST_LOG")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        drop(db);
        assert!(out.status.success());
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    let (stdout, stderr) = run(false).await;
    assert!(stdout.starts_with("    id  username"), "{stdout}");
    assert_eq!(stderr, "", "no info lines without -v");
    let (loud_stdout, loud_stderr) = run(true).await;
    assert_eq!(loud_stdout, stdout, "the same results");
    assert!(loud_stderr.contains("INFO"), "{loud_stderr}");
}
