//! Settings: layering, environment parsing, validation.

use super::*;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

#[test]
fn defaults_are_the_tutorials_port_and_sqlite() {
    let s = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.server.host, "127.0.0.1");
    assert!(s.database.url.starts_with("sqlite://data/"));
    assert!(!s.auth.open_role_signup, "secure by default");
    assert_eq!(s.auth.access_token_ttl, 900);
    assert_eq!(s.auth.hashing, HashingConfig::FLOOR);
    assert_eq!(
        (s.server.shutdown_drain_secs, s.server.shutdown_timeout_secs),
        (5, 30)
    );
    assert!(!s.metrics.enabled(), "metrics are off by default");
}

#[test]
fn metrics_bind_must_be_host_and_port() {
    let mut s = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
    for ok in [
        "127.0.0.1:9090",
        "[::1]:9090",
        "localhost:9090",
        "10.1.2.3:0",
    ] {
        s.metrics.bind = ok.into();
        assert!(s.metrics.check(Profile::Production).is_ok(), "{ok}");
    }
    for bad in ["9090", "127.0.0.1", ":9090", "host:port"] {
        s.metrics.bind = bad.into();
        assert!(s.metrics.check(Profile::Development).is_err(), "{bad}");
    }
    for (ip, internal) in [
        ("127.0.0.1", true),
        ("10.0.0.5", true),
        ("192.168.1.1", true),
        ("fd00::1", true),
        ("::1", true),
        ("0.0.0.0", false),
        ("8.8.8.8", false),
        ("2001:db8::1", false),
    ] {
        assert_eq!(is_internal(ip.parse().unwrap()), internal, "{ip}");
    }
}

#[test]
fn profiles_layer_over_the_defaults() {
    let t = Settings::load_from(&config_dir(), Profile::Test, false).unwrap();
    assert!(t.auth.open_role_signup);
    assert_eq!(t.server.port, 8080, "unchanged keys keep the default");
    let p = Settings::load_from(&config_dir(), Profile::Production, false).unwrap();
    assert_eq!(p.log.format, LogFormat::Json);
    assert!(
        p.resolve_jwt_secret().is_err(),
        "production refuses to run without a secret"
    );
}

const STRONG: &str = "kq3V9x-Lr7uZ2pW8sN4fB6yT1mH5cJ0a";

/// A production configuration that passes, for the tests to spoil.
fn production() -> Settings {
    let mut p = Settings::load_from(&config_dir(), Profile::Production, false).unwrap();
    p.auth.jwt_secret = SecretString::from(STRONG);
    p.cors.allowed_origins = vec!["https://app.example.com".into()];
    p.mail.transport = MailTransport::Smtp;
    p.mail.smtp_url = Some(SecretString::from("smtps://u:p@smtp.example.com:465"));
    p.validate().unwrap();
    p
}

#[test]
fn production_mails_over_smtp_unless_the_log_is_allowed() {
    let mut p = production();
    p.mail.transport = MailTransport::Log;
    let err = p.validate().unwrap_err().to_string();
    assert!(err.contains("mail.transport"), "{err}");
    p.mail.allow_log_transport = true;
    p.validate().unwrap();
    p.mail.transport = MailTransport::Smtp;
    p.mail.smtp_url = None;
    assert!(
        p.validate()
            .unwrap_err()
            .to_string()
            .contains("mail.smtp_url")
    );
}

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn with_env(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
    Settings::load_with_vars(&config_dir(), Profile::Development, env(pairs))
}

#[test]
fn environment_strings_keep_their_exact_text() {
    for secret in [
        "8405729163049581726354019283746501928374",
        "0000000000000000000000000000000000000123",
        "1e400",
        "true",
        "12.50",
    ] {
        let s = with_env(&[("ROLEGATE__AUTH__JWT_SECRET", secret)]).unwrap();
        assert_eq!(s.auth.jwt_secret.expose_secret(), secret);
    }
    let s = with_env(&[
        ("ROLEGATE__AUTH__ISSUER", "007"),
        ("ROLEGATE__BOOTSTRAP__ADMIN_USERNAME", "false"),
        ("ROLEGATE__DATABASE__URL", "sqlite://1.db"),
    ])
    .unwrap();
    assert_eq!(s.auth.issuer, "007");
    assert_eq!(s.bootstrap.admin_username, "false");
    assert_eq!(s.database.url, "sqlite://1.db");
}

#[test]
fn environment_numbers_booleans_and_lists_still_parse() {
    let s = with_env(&[
        ("ROLEGATE__SERVER__PORT", "9000"),
        ("ROLEGATE__SERVER__WORKERS", "2"),
        ("ROLEGATE__SERVER__BODY_TIMEOUT_SECS", "3"),
        ("ROLEGATE__DATABASE__RUN_MIGRATIONS", "false"),
        ("ROLEGATE__AUTH__OPEN_ROLE_SIGNUP", "TRUE"),
        ("ROLEGATE__AUTH__HASHING__MEMORY_KIB", "20000"),
        ("ROLEGATE__AUTH__ACCESS_TOKEN_TTL", "600"),
        ("ROLEGATE__HTTP__HSTS", "true"),
        ("ROLEGATE__LOG__FORMAT", "json"),
        ("ROLEGATE__RATE_LIMIT__STORE", "database"),
        ("ROLEGATE__RATE_LIMIT__SIGNIN_WINDOW_SECS", "60"),
        ("ROLEGATE__AUTH__KEY_FILES", "new.pem, old.pem"),
        (
            "ROLEGATE__RATE_LIMIT__TRUSTED_PROXIES",
            "10.0.0.1,::ffff:10.0.0.2",
        ),
        (
            "ROLEGATE__CORS__ALLOWED_ORIGINS",
            "https://a.example,https://b.example",
        ),
        ("OTHER__SERVER__PORT", "1"),
    ])
    .unwrap();
    assert_eq!(s.server.port, 9000);
    assert_eq!(s.server.workers, 2);
    assert_eq!(s.server.body_timeout_secs, 3);
    assert!(!s.database.run_migrations);
    assert!(s.auth.open_role_signup);
    assert_eq!(s.auth.hashing.memory_kib, 20000);
    assert_eq!(s.auth.access_token_ttl, 600);
    assert!(s.http.hsts);
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.rate_limit.store, AttemptStoreKind::Database);
    assert_eq!(s.rate_limit.signin_window_secs, 60);
    assert_eq!(
        s.auth.key_files,
        vec![PathBuf::from("new.pem"), PathBuf::from("old.pem")]
    );
    assert_eq!(
        s.rate_limit.trusted_proxies,
        vec![
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            "::ffff:10.0.0.2".parse().unwrap()
        ]
    );
    assert_eq!(
        s.cors.allowed_origins,
        vec!["https://a.example", "https://b.example"]
    );
}

#[test]
fn environment_lists_of_one_and_of_none() {
    let s = with_env(&[
        ("ROLEGATE__RATE_LIMIT__TRUSTED_PROXIES", "10.0.0.1"),
        ("ROLEGATE__AUTH__KEY_FILES", ""),
    ])
    .unwrap();
    assert_eq!(s.rate_limit.trusted_proxies.len(), 1);
    assert!(s.auth.key_files.is_empty());
}

#[test]
fn environment_values_of_the_wrong_type_are_errors() {
    for (key, value) in [
        ("ROLEGATE__SERVER__PORT", "80a"),
        ("ROLEGATE__SERVER__PORT", "70000"),
        ("ROLEGATE__HTTP__HSTS", "maybe"),
        ("ROLEGATE__RATE_LIMIT__TRUSTED_PROXIES", "10.0.0.1,proxy"),
    ] {
        let err = format!("{:#}", with_env(&[(key, value)]).unwrap_err());
        assert!(err.contains("invalid configuration"), "{key}: {err}");
    }
}

#[test]
fn production_refuses_placeholder_secrets() {
    let mut p = production();
    for weak in ["a".repeat(32), "ab".repeat(24), "1234567".repeat(5)] {
        p.auth.jwt_secret = SecretString::from(weak.clone());
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("distinct bytes"), "{weak}: {err}");
    }
    p.auth.jwt_secret = SecretString::from("12345678".repeat(4));
    assert!(p.validate().is_ok(), "8 distinct bytes pass");
    let mut d = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
    d.auth.jwt_secret = SecretString::from("a".repeat(32));
    assert!(d.key_set().is_ok(), "development only warns");
}

#[test]
fn production_caps_lifetimes_and_leeway() {
    let base = production();
    type Knob = fn(&mut AuthSettings) -> &mut u64;
    let knobs: [(&str, Knob, u64); 3] = [
        ("auth.leeway_secs", |a| &mut a.leeway_secs, 300),
        ("auth.access_token_ttl", |a| &mut a.access_token_ttl, 86_400),
        (
            "auth.refresh_token_ttl",
            |a| &mut a.refresh_token_ttl,
            7_776_000,
        ),
    ];
    for (key, knob, max) in knobs {
        let mut p = base.clone();
        *knob(&mut p.auth) = max;
        assert!(p.validate().is_ok(), "{key} = {max} is allowed");
        *knob(&mut p.auth) = max + 1;
        let err = p.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("production: ") && err.contains(key),
            "{err}"
        );
        let mut d = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
        *knob(&mut d.auth) = max + 1;
        assert!(d.validate().is_ok(), "{key}: only production caps it");
    }
}

#[test]
fn production_refuses_a_secret_file_others_can_read() {
    let dir = std::env::temp_dir().join(format!("rolegate-sf-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwt-secret");
    write_private(&file, format!("{STRONG}\n").as_bytes()).unwrap();
    let mut p = production();
    p.auth.jwt_secret = SecretString::from("");
    p.auth.jwt_secret_file = file.display().to_string();
    assert!(p.validate().is_ok(), "0600 is fine");
    assert_eq!(p.resolve_jwt_secret().unwrap().expose_secret(), STRONG);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for mode in [0o640, 0o604] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = p.validate().unwrap_err().to_string();
            assert!(
                err.contains("auth.jwt_secret_file") && err.contains("readable by others"),
                "{err}"
            );
        }
        let mut d = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
        d.auth.jwt_secret_file = file.display().to_string();
        assert!(d.resolve_jwt_secret().is_ok(), "development only warns");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

#[test]
fn production_refuses_cors_wildcards() {
    let mut p = production();
    p.cors.allowed_origins = vec!["http://localhost:*".into()];
    assert!(p.validate().is_err());
    p.cors.allowed_origins = vec!["https://app.example.com".into()];
    assert!(p.validate().is_ok());
}

#[test]
fn dev_secret_is_generated_once_and_private() {
    let dir = std::env::temp_dir().join(format!("rolegate-secret-{}", std::process::id()));
    let a = dev_secret(&dir).unwrap();
    let b = dev_secret(&dir).unwrap();
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert!(a.expose_secret().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "secret file must not be readable by others"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn key_files_must_be_private_in_production() {
    let dir = std::env::temp_dir().join(format!("rolegate-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("k.pem");
    let pem = rolegate_auth::generate_private_pem(rolegate_auth::KeyKind::Ed25519).unwrap();
    write_private(&key, pem.as_bytes()).unwrap();
    let mut p = Settings::load_from(&config_dir(), Profile::Production, false).unwrap();
    p.auth.key_files = vec![key.clone()];
    assert!(p.key_set().is_ok(), "0600 is fine");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = p.key_set().unwrap_err().to_string();
        assert!(err.contains("readable by others"), "{err}");
        let mut d = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
        d.auth.key_files = vec![key];
        assert!(d.key_set().is_ok(), "development only warns");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rate_limits_have_generous_defaults_and_are_validated() {
    let mut s = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
    let r = &s.rate_limit;
    assert_eq!(
        (
            r.signin_account_max_failures,
            r.signin_account_max_failures_all,
            r.signin_client_max_failures,
            r.signin_per_client,
            r.signin_per_account,
            r.signin_total_window_secs,
        ),
        (5, 100, 30, 60, 30, 60)
    );
    assert_eq!(s.auth.max_sessions_per_user, 50);
    assert_eq!(s.audit.retention_days, 365);
    assert!(s.validate().is_ok());
    s.rate_limit.signin_per_account = 0;
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("rate_limit.signin_per_account"), "{err}");
    s.rate_limit.signin_per_account = 30;
    s.rate_limit.signin_total_window_secs = 0;
    assert!(s.validate().is_err());
}

#[test]
fn unknown_profile_is_an_error() {
    assert!(Profile::parse("staging").is_err());
    assert_eq!(Profile::parse("").unwrap(), Profile::Development);
}

#[test]
fn openid_discovery_needs_an_issuer_url() {
    let mut s = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
    s.auth.openid_discovery = true;
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("auth.issuer"), "{err}");
    s.auth.issuer = "https://auth.example.com".into();
    s.validate().unwrap();
}

#[test]
fn the_redis_store_needs_a_redis_url_and_denies_on_store_errors_by_default() {
    let s = with_env(&[("ROLEGATE__RATE_LIMIT__STORE", "redis")]).unwrap();
    assert_eq!(s.rate_limit.store, AttemptStoreKind::Redis);
    assert_eq!(s.rate_limit.on_store_error, StoreErrorPolicy::Deny);
    assert_eq!(s.rate_limit.redis_prefix, "rolegate:rl:");
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("rate_limit.redis_url"), "{err}");

    let s = with_env(&[
        ("ROLEGATE__RATE_LIMIT__STORE", "redis"),
        (
            "ROLEGATE__RATE_LIMIT__REDIS_URL",
            "http://u:hunter2@cache:6379",
        ),
    ])
    .unwrap();
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("not a redis:// or rediss:// URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let s = with_env(&[
        ("ROLEGATE__RATE_LIMIT__STORE", "redis"),
        (
            "ROLEGATE__RATE_LIMIT__REDIS_URL",
            "rediss://:hunter2@cache:6380/2",
        ),
        ("ROLEGATE__RATE_LIMIT__REDIS_PREFIX", "blue:"),
        ("ROLEGATE__RATE_LIMIT__ON_STORE_ERROR", "allow"),
    ])
    .unwrap();
    assert!(s.validate().is_ok(), "{:?}", s.validate());
    assert_eq!(s.rate_limit.on_store_error, StoreErrorPolicy::Allow);
    let config = s.rate_limit.redis_config().unwrap();
    assert_eq!(config.prefix, "blue:");
    assert_eq!(config.ca_file, None);
    assert!(!format!("{s:?} {config:?}").contains("hunter2"));

    assert!(with_env(&[("ROLEGATE__RATE_LIMIT__ON_STORE_ERROR", "maybe")]).is_err());
}

#[test]
fn revocation_polling_and_the_introspection_secret_are_validated() {
    let mut s = Settings::load_from(&config_dir(), Profile::Development, false).unwrap();
    assert_eq!(s.auth.revocation_poll_secs, 5);
    assert!(
        s.introspection_secret().unwrap().is_none(),
        "none by default"
    );
    for bad in [0, MAX_REVOCATION_POLL_SECS + 1] {
        s.auth.revocation_poll_secs = bad;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("auth.revocation_poll_secs"), "{err}");
    }
    s.auth.revocation_poll_secs = 1;
    s.validate().unwrap();

    s.auth.introspection_secret = SecretString::from("short-hunter2");
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("auth.introspection_secret"), "{err}");
    assert!(!err.contains("hunter2"), "never shown: {err}");
    let long = "x".repeat(MIN_INTROSPECTION_SECRET_LEN);
    s.auth.introspection_secret = SecretString::from(format!(" {long}\n"));
    assert_eq!(
        s.introspection_secret().unwrap().unwrap().expose_secret(),
        long
    );
    assert!(
        !format!("{s:?}").contains(&long),
        "redacted in config check"
    );

    let s = with_env(&[
        ("ROLEGATE__AUTH__REVOCATION_POLL_SECS", "2"),
        ("ROLEGATE__AUTH__INTROSPECTION_SECRET", &long),
    ])
    .unwrap();
    assert_eq!(s.auth.revocation_poll_secs, 2);
    assert!(s.introspection_secret().unwrap().is_some());
    assert!(with_env(&[("ROLEGATE__AUTH__REVOCATION_POLL_SEC", "2")]).is_err());
}
