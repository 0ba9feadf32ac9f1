//! Configuration that must say what it means: secrets from the environment
//! byte for byte, production refusing weak settings before it touches the
//! database, and start-up errors that show no database password.

use std::process::{Command, Stdio};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rolegate::settings::{Profile, Settings};
use rolegate::startup::Application;
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestDb, config_dir, unique_name};
use crate::processes::Served;

/// `config` with `try_parsing(true)` read a digits-only secret as a number
/// (40 digits became a rounded float, `000…0123` became `123`).
#[tokio::test]
async fn a_digits_only_secret_from_the_environment_is_used_byte_for_byte() {
    let db = TestDb::create().await;
    let secret = "8405729163049581726354019283746501928374";
    let served = Served::start(&[
        ("ROLEGATE__DATABASE__URL", db.url.as_str()),
        ("ROLEGATE__AUTH__JWT_SECRET", secret),
    ])
    .await;
    let client = reqwest::Client::new();
    let name = unique_name("digits");
    let password = "a good long password";
    let res = client
        .post(served.url("/api/auth/signup"))
        .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = client
        .post(served.url("/api/auth/signin"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let issued = body["accessToken"].as_str().unwrap();

    // The server signs with exactly those bytes…
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["rolegate"]);
    validation.set_issuer(&["rolegate"]);
    jsonwebtoken::decode::<Value>(
        issued,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .expect("the server's token verifies with the digits as given");

    // …and accepts a token another program signed with them.
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "rolegate", "aud": "rolegate", "sub": "987654321", "exp": now + 600,
        "iat": now, "jti": "elsewhere", "name": "ghost", "roles": ["admin"],
    });
    let mut header = Header::new(Algorithm::HS256);
    header.kid = jsonwebtoken::decode_header(issued).unwrap().kid;
    header.typ = Some("at+jwt".into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let res = client
        .get(served.url("/api/test/admin"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    drop(served);
}

/// A production configuration that starts, on `db`.
pub(crate) fn production_on(db: &TestDb) -> Settings {
    let mut s = Settings::load_from(&config_dir(), Profile::Production, false).unwrap();
    s.server.host = "127.0.0.1".into();
    s.server.port = 0;
    s.server.workers = 1;
    s.database.url = db.url.clone();
    s.data.dir = std::env::temp_dir().join(format!("rolegate-data-{}", unique_name("p")));
    s.auth.jwt_secret = SecretString::from(format!("prod-{}", uuid::Uuid::new_v4().simple()));
    s.cors.allowed_origins = vec!["https://app.example.com".into()];
    // Nothing listens there: starting needs no mail server.
    s.mail.transport = rolegate::settings::MailTransport::Smtp;
    s.mail.smtp_url = Some(SecretString::from("smtp://127.0.0.1:9"));
    s.mail.public_url = "https://app.example.com".into();
    s
}

async fn migrated(db: &TestDb) -> bool {
    let conn = Database::connect(db.url.as_str()).await.unwrap();
    let found = conn
        .execute_unprepared("SELECT COUNT(*) FROM seaql_migrations")
        .await
        .is_ok();
    let _ = conn.close().await;
    found
}

#[tokio::test]
async fn production_refuses_weak_settings_before_touching_the_database() {
    let db = TestDb::create().await;
    let dir = std::env::temp_dir().join(format!("rolegate-prod-{}", unique_name("s")));
    std::fs::create_dir_all(&dir).unwrap();
    let readable = dir.join("jwt-secret");
    std::fs::write(&readable, format!("{}\n", uuid::Uuid::new_v4().simple())).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let readable = readable.display().to_string();

    type Spoil = Box<dyn Fn(&mut Settings)>;
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "a placeholder secret (32 × a)",
            Box::new(|s| s.auth.jwt_secret = SecretString::from("a".repeat(32))),
            "distinct bytes",
        ),
        (
            "a secret file readable by others",
            Box::new(move |s| {
                s.auth.jwt_secret = SecretString::from("");
                s.auth.jwt_secret_file = readable.clone();
            }),
            "auth.jwt_secret_file",
        ),
        (
            "a leeway over 5 minutes",
            Box::new(|s| s.auth.leeway_secs = 301),
            "auth.leeway_secs",
        ),
        (
            "access tokens living over 24 h",
            Box::new(|s| s.auth.access_token_ttl = 24 * 3600 + 1),
            "auth.access_token_ttl",
        ),
        (
            "mail written to the log instead of sent",
            Box::new(|s| s.mail.transport = rolegate::settings::MailTransport::Log),
            "mail.transport",
        ),
        (
            "refresh tokens living over 90 days",
            Box::new(|s| s.auth.refresh_token_ttl = 90 * 24 * 3600 + 1),
            "auth.refresh_token_ttl",
        ),
    ];
    for (what, spoil, expected) in cases {
        let mut s = production_on(&db);
        spoil(&mut s);
        let err = match Application::build(s).await {
            Ok(_) => panic!("production started with {what}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.starts_with("production: ") && err.contains(expected),
            "{what}: {err}"
        );
        assert!(!migrated(&db).await, "{what}: refused before migrating");
    }
    std::fs::remove_dir_all(dir).unwrap();

    // The control: the same configuration unspoiled starts and migrates.
    let app = Application::build(production_on(&db)).await.unwrap();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    handle.stop(true).await;
    let _ = running.await;
    assert!(migrated(&db).await);
}

/// The start-up error names the database, without its passwords.
#[tokio::test]
async fn start_up_errors_do_not_show_database_passwords() {
    for url in [
        "postgres://rolegate:hunter2-user@127.0.0.1:9/rg?sslmode=disable&password=hunter3-query",
        "mysql://root:hunter2-user@127.0.0.1:9/rg?PWD=hunter3-query&sslpassword=hunter4-tls",
    ] {
        let url = url.to_owned();
        let (ok, out) = tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_rolegate"))
                .arg("serve")
                .env_remove("RUST_LOG")
                .env("ROLEGATE_ENV", "test")
                .env("ROLEGATE_CONFIG_DIR", config_dir())
                .env("ROLEGATE__DATABASE__URL", &url)
                .env("ROLEGATE__DATABASE__CONNECT_TIMEOUT_MS", "500")
                .env("ROLEGATE__DATABASE__ACQUIRE_TIMEOUT_MS", "500")
                .env("ROLEGATE__LOG__LEVEL", "debug")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        })
        .await
        .unwrap();
        assert!(!ok, "{out}");
        assert!(
            out.contains("connecting to ") && out.contains("127.0.0.1:9/rg"),
            "the error names the database: {out}"
        );
        assert!(!out.contains("hunter"), "a password is shown: {out}");
    }
}

/// Runs `rolegate` from a folder without `config/`, with these variables
/// only (besides PATH): (success, stdout + stderr).
fn rolegate_elsewhere(args: &[&str], vars: &[(&str, &str)]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("rolegate-nocfg-{}", unique_name("d")));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rolegate"));
    cmd.args(args).current_dir(&dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_profile_is_built_into_the_binary() {
    let (ok, out) = rolegate_elsewhere(&["config", "check"], &[("ROLEGATE_ENV", "compat")]);
    assert!(ok, "{out}");
    assert!(out.contains("profile: compat"), "{out}");
    assert!(
        out.contains("open_role_signup: true"),
        "the compat profile's own setting: {out}"
    );
    let (ok, out) = rolegate_elsewhere(&["config", "check"], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("open_role_signup: false"), "{out}");
    let (ok, out) = rolegate_elsewhere(&["config", "check"], &[("ROLEGATE_ENV", "staging")]);
    assert!(!ok);
    assert!(out.contains("unknown ROLEGATE_ENV \"staging\""), "{out}");
}

#[test]
fn typos_in_variables_and_files_stop_the_start_naming_them() {
    let (ok, out) = rolegate_elsewhere(
        &["config", "check"],
        &[(
            "ROLEGATE__AUTH__JWT_SECRTE",
            "kq3V9x-Lr7uZ2pW8sN4fB6yT1mH5cJ0a",
        )],
    );
    assert!(!ok);
    assert!(
        out.contains("ROLEGATE__AUTH__JWT_SECRTE names no setting"),
        "{out}"
    );
    assert!(!out.contains("kq3V9x"), "the value is never echoed: {out}");
    let (ok, out) = rolegate_elsewhere(&["serve"], &[("ROLEGATE__SERVR__PORT", "9")]);
    assert!(!ok, "serve refuses it too: {out}");
    assert!(out.contains("ROLEGATE__SERVR__PORT"), "{out}");

    let file = std::env::temp_dir().join(format!("{}.toml", unique_name("cfg")));
    std::fs::write(&file, "[auth]\nleway_secs = 3\n").unwrap();
    let (ok, out) = rolegate_elsewhere(
        &["--config", file.to_str().unwrap(), "config", "check"],
        &[],
    );
    std::fs::remove_file(&file).unwrap();
    assert!(!ok);
    assert!(out.contains("leway_secs") && out.contains(".toml"), "{out}");
    let (ok, out) = rolegate_elsewhere(
        &["--config", "/nonexistent/rolegate.toml", "config", "check"],
        &[],
    );
    assert!(!ok);
    assert!(out.contains("does not exist"), "{out}");
}

#[test]
fn config_check_lists_every_problem_and_redacts_secrets() {
    let (ok, out) = rolegate_elsewhere(&["config", "check"], &[("ROLEGATE_ENV", "production")]);
    assert!(!ok);
    let problems = out.lines().filter(|l| l.starts_with("problem: ")).count();
    assert!(
        problems >= 2,
        "no secret and mail to the log, both listed: {out}"
    );
    let (ok, out) = rolegate_elsewhere(
        &["config", "check"],
        &[
            ("ROLEGATE_ENV", "production"),
            (
                "ROLEGATE__AUTH__JWT_SECRET",
                "kq3V9x-Lr7uZ2pW8sN4fB6yT1mH5cJ0a",
            ),
            ("ROLEGATE__MAIL__TRANSPORT", "smtp"),
            (
                "ROLEGATE__MAIL__SMTP_URL",
                "smtps://mailer:hunter2@smtp.example.com:465",
            ),
            (
                "ROLEGATE__DATABASE__URL",
                "postgres://rolegate:dbpass99@db.example.com/rolegate",
            ),
            ("ROLEGATE__CORS__ALLOWED_ORIGINS", "https://app.example.com"),
            ("ROLEGATE__RATE_LIMIT__STORE", "redis"),
            (
                "ROLEGATE__RATE_LIMIT__REDIS_URL",
                "rediss://:redispw77@cache.example.com:6380",
            ),
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("configuration OK"), "{out}");
    for secret in ["kq3V9x", "hunter2", "dbpass99", "redispw77"] {
        assert!(!out.contains(secret), "{secret} printed: {out}");
    }
    assert!(
        out.contains("db.example.com"),
        "the rest of the URL is shown: {out}"
    );
}
