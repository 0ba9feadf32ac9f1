//! Configuration: `config/default.toml` → `config/{ROLEGATE_ENV}.toml` →
//! environment variables `ROLEGATE__SECTION__KEY`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rolegate_auth::HashingConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The base configuration, built into the binary so that it runs from any
/// folder; files in the config folder override it.
const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// The deployment profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Development,
    Test,
    Compat,
    Production,
}

impl Profile {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "development" | "dev" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "compat" => Ok(Self::Compat),
            "production" | "prod" => Ok(Self::Production),
            other => {
                bail!("unknown ROLEGATE_ENV {other:?}: use development, test, compat or production")
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Compat => "compat",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub cors: CorsSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub data: DataSettings,
    pub rate_limit: RateLimitSettings,
    #[serde(default)]
    pub bootstrap: BootstrapSettings,
    #[serde(skip, default = "default_profile")]
    pub profile: Profile,
}

fn default_profile() -> Profile {
    Profile::Development
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    pub idle_timeout_secs: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub run_migrations: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub jwt_secret_file: String,
    pub key_files: Vec<PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub refresh_grace_secs: u64,
    pub max_sessions_per_user: u32,
    pub purge_interval_secs: u64,
    pub leeway_secs: u64,
    pub verify_cache_size: usize,
    pub open_role_signup: bool,
    pub hashing: HashingConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStoreKind {
    Memory,
    Database,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub store: AttemptStoreKind,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Failed sign-ins per account from one client address (the strict limit).
    pub signin_account_max_failures: u32,
    /// Failed sign-ins per account from all addresses together (a ceiling).
    pub signin_account_max_failures_all: u32,
    pub signin_client_max_failures: u32,
    pub signin_window_secs: i64,
    pub signin_backoff_base_secs: i64,
    pub signin_backoff_max_secs: i64,
    /// Sign-ins, successful or not, per client address and per account.
    pub signin_per_client: u32,
    pub signin_per_account: u32,
    pub signin_total_window_secs: i64,
    pub signup_per_client: u32,
    pub signup_window_secs: i64,
    pub refresh_per_client: u32,
    pub refresh_window_secs: i64,
}

impl RateLimitSettings {
    pub fn limits(&self) -> rolegate_domain::Limits {
        use rolegate_domain::Limit;
        let signin = |max| Limit {
            max,
            window_secs: self.signin_window_secs,
            backoff_base_secs: self.signin_backoff_base_secs,
            backoff_max_secs: self.signin_backoff_max_secs,
        };
        let count = |max, window_secs: i64| Limit {
            max,
            window_secs,
            backoff_base_secs: window_secs.min(60),
            backoff_max_secs: window_secs,
        };
        rolegate_domain::Limits {
            signin_failures_per_pair: signin(self.signin_account_max_failures),
            signin_failures_per_account: signin(self.signin_account_max_failures_all),
            signin_failures_per_client: signin(self.signin_client_max_failures),
            signin_per_client: count(self.signin_per_client, self.signin_total_window_secs),
            signin_per_account: count(self.signin_per_account, self.signin_total_window_secs),
            signup_per_client: count(self.signup_per_client, self.signup_window_secs),
            refresh_per_client: count(self.refresh_per_client, self.refresh_window_secs),
        }
    }
}

impl RateLimitSettings {
    /// Every limit admits at least one attempt per positive window.
    pub fn validate(&self) -> anyhow::Result<()> {
        let maxima = [
            (
                "signin_account_max_failures",
                self.signin_account_max_failures,
            ),
            (
                "signin_account_max_failures_all",
                self.signin_account_max_failures_all,
            ),
            (
                "signin_client_max_failures",
                self.signin_client_max_failures,
            ),
            ("signin_per_client", self.signin_per_client),
            ("signin_per_account", self.signin_per_account),
            ("signup_per_client", self.signup_per_client),
            ("refresh_per_client", self.refresh_per_client),
        ];
        if let Some((name, _)) = maxima.iter().find(|(_, max)| *max == 0) {
            bail!("rate_limit.{name} must be at least 1");
        }
        let windows = [
            ("signin_window_secs", self.signin_window_secs),
            ("signin_total_window_secs", self.signin_total_window_secs),
            ("signup_window_secs", self.signup_window_secs),
            ("refresh_window_secs", self.refresh_window_secs),
        ];
        if let Some((name, _)) = windows.iter().find(|(_, secs)| *secs <= 0) {
            bail!("rate_limit.{name} must be positive");
        }
        if self.signin_backoff_base_secs < 0 || self.signin_backoff_max_secs < 0 {
            bail!("rate_limit.signin_backoff_base_secs and _max_secs must not be negative");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub hsts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// The first admin, created at start when no active admin exists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BootstrapSettings {
    /// Empty: no bootstrap.
    pub admin_username: String,
    pub admin_email: String,
    /// A file holding the password (one line; a trailing newline is ignored).
    pub admin_password_file: String,
}

impl BootstrapSettings {
    pub fn enabled(&self) -> bool {
        !self.admin_username.trim().is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DataSettings {
    pub dir: PathBuf,
}

impl Settings {
    /// Loads the profile named by `ROLEGATE_ENV` from `ROLEGATE_CONFIG_DIR`
    /// (default `config`), then applies `ROLEGATE__*` environment variables.
    pub fn load() -> anyhow::Result<Self> {
        let profile = Profile::parse(&std::env::var("ROLEGATE_ENV").unwrap_or_default())?;
        let dir = std::env::var_os("ROLEGATE_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&dir, profile, true)
    }

    /// Loads a profile from a config folder; `with_env` applies `ROLEGATE__*`.
    pub fn load_from(dir: &Path, profile: Profile, with_env: bool) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", profile.as_str()))).required(false),
            );
        if with_env {
            builder = builder.add_source(
                config::Environment::with_prefix("ROLEGATE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("cors.allowed_origins")
                    .with_list_parse_key("auth.key_files")
                    .with_list_parse_key("rate_limit.trusted_proxies"),
            );
        }
        let mut settings: Settings = builder
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        settings.profile = profile;
        Ok(settings)
    }

    pub fn db_config(&self) -> rolegate_persistence::DbConfig {
        let d = &self.database;
        rolegate_persistence::DbConfig {
            url: d.url.clone(),
            max_connections: d.max_connections.max(1),
            min_connections: d.min_connections,
            acquire_timeout: Duration::from_millis(d.acquire_timeout_ms),
            connect_timeout: Duration::from_millis(d.connect_timeout_ms),
            idle_timeout: Duration::from_secs(d.idle_timeout_secs),
            sqlite_busy_timeout: Duration::from_millis(d.sqlite_busy_timeout_ms),
        }
    }

    /// Checks what the profile demands. Production refuses a missing or short
    /// secret (checked where the secret is resolved) and CORS wildcards.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.auth.access_token_ttl == 0 || self.auth.refresh_token_ttl == 0 {
            bail!("auth.access_token_ttl and auth.refresh_token_ttl must be positive");
        }
        if self.auth.refresh_token_ttl > 365 * 24 * 3600 || self.auth.refresh_grace_secs > 300 {
            bail!(
                "auth.refresh_token_ttl is at most a year and auth.refresh_grace_secs at most 300"
            );
        }
        self.rate_limit.validate()?;
        if self.profile == Profile::Production {
            if self.cors.allowed_origins.iter().any(|o| o.contains('*')) {
                bail!(
                    "production: cors.allowed_origins must list origins explicitly, without wildcards"
                );
            }
            if self.auth.open_role_signup {
                tracing::warn!(
                    "auth.open_role_signup is on in production: anyone can sign up as admin"
                );
            }
        }
        Ok(())
    }

    /// The HS256 secret: from `auth.jwt_secret`, else `auth.jwt_secret_file`;
    /// else, outside production, generated once under `data.dir`.
    pub fn resolve_jwt_secret(&self) -> anyhow::Result<SecretString> {
        if !self.auth.jwt_secret.expose_secret().is_empty() {
            return Ok(self.auth.jwt_secret.clone());
        }
        if !self.auth.jwt_secret_file.is_empty() {
            let raw = std::fs::read_to_string(&self.auth.jwt_secret_file).with_context(|| {
                format!("reading auth.jwt_secret_file {}", self.auth.jwt_secret_file)
            })?;
            return Ok(SecretString::from(raw.trim().to_owned()));
        }
        if self.profile == Profile::Production {
            bail!(
                "production: no JWT secret configured; set ROLEGATE__AUTH__JWT_SECRET or \
                 ROLEGATE__AUTH__JWT_SECRET_FILE (at least 32 random bytes)"
            );
        }
        dev_secret(&self.data.dir)
    }
}

impl Settings {
    /// The signing and verification keys: the key files when configured
    /// (asymmetric), else the HS256 secret.
    pub fn key_set(&self) -> anyhow::Result<rolegate_auth::KeySet> {
        if self.auth.key_files.is_empty() {
            return Ok(rolegate_auth::KeySet::hs256(&self.resolve_jwt_secret()?)?);
        }
        let mut pems = Vec::with_capacity(self.auth.key_files.len());
        for path in &self.auth.key_files {
            check_private(path, self.profile == Profile::Production)?;
            let pem = std::fs::read(path)
                .with_context(|| format!("reading key file {}", path.display()))?;
            pems.push((path.display().to_string(), pem));
        }
        Ok(rolegate_auth::KeySet::from_private_pems(&pems)?)
    }
}

/// A private key file must be readable by its owner only: production refuses
/// one that others can read; other profiles warn.
fn check_private(path: &Path, strict: bool) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            let msg = format!(
                "key file {} is readable by others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
            if strict {
                bail!("production: {msg}");
            }
            tracing::warn!("{msg}");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, strict);
    Ok(())
}

/// Reads or creates `<data>/jwt-secret` (mode 0600) for development.
fn dev_secret(data_dir: &Path) -> anyhow::Result<SecretString> {
    use base64::Engine as _;
    let path = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            tracing::info!(path = %path.display(), "using the development JWT secret");
            return Ok(SecretString::from(existing));
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let mut bytes = [0u8; 48];
    rand::fill(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(&path, secret.as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "no JWT secret configured: generated a development secret (production requires ROLEGATE__AUTH__JWT_SECRET or _FILE)"
    );
    Ok(SecretString::from(secret))
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn production_refuses_cors_wildcards() {
        let mut p = Settings::load_from(&config_dir(), Profile::Production, false).unwrap();
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
}
