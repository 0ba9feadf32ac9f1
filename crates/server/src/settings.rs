//! Configuration: `config/default.toml` → `config/{ROLEGATE_ENV}.toml` →
//! environment variables `ROLEGATE__SECTION__KEY`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rolegate_auth::HashingConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The base configuration, built into the binary so that it runs from any
/// folder; files in the config folder override it.
const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// The settings that are lists; in the environment they are comma-separated
/// (`ROLEGATE__AUTH__KEY_FILES=new.pem,old.pem`).
const LIST_KEYS: [&str; 3] = [
    "cors.allowed_origins",
    "auth.key_files",
    "rate_limit.trusted_proxies",
];

/// `ROLEGATE__SECTION__KEY` variables as a configuration source.
///
/// Every value is kept as the exact text given: a digits-only secret stays
/// those digits (the `config` crate's own `Environment` with `try_parsing`
/// turned `0123…` into a number, and 40 digits into a rounded float). Typed
/// settings (numbers, booleans) are parsed from the text when deserialized;
/// the [`LIST_KEYS`] are split on commas, items trimmed, empty items dropped.
#[derive(Debug, Clone, Default)]
struct EnvSource {
    /// (dotted lower-case key, value)
    vars: Vec<(String, String)>,
}

impl EnvSource {
    const PREFIX: &'static str = "rolegate__";

    fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for (key, value) in vars {
            let Some(key) = key.to_str() else { continue };
            let lower = key.to_ascii_lowercase();
            let Some(rest) = lower.strip_prefix(Self::PREFIX) else {
                continue;
            };
            // Never echo the value: it may be a secret.
            let Ok(value) = value.into_string() else {
                bail!("the environment variable {key} is not valid UTF-8");
            };
            out.push((rest.replace("__", "."), value));
        }
        Ok(Self { vars: out })
    }
}

impl config::Source for EnvSource {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        let origin = "the environment".to_owned();
        let text = |s: &str| config::Value::new(Some(&origin), config::ValueKind::String(s.into()));
        Ok(self
            .vars
            .iter()
            .map(|(key, value)| {
                let value = if LIST_KEYS.contains(&key.as_str()) {
                    let items = value
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(text)
                        .collect();
                    config::Value::new(Some(&origin), config::ValueKind::Array(items))
                } else {
                    text(value)
                };
                (key.clone(), value)
            })
            .collect())
    }
}

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
    /// Seconds a request body may take to arrive, counted from its head;
    /// past it, 408 `request_timeout` and the connection is closed.
    pub body_timeout_secs: u64,
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
        let vars: Vec<(OsString, OsString)> = if with_env {
            std::env::vars_os().collect()
        } else {
            Vec::new()
        };
        Self::load_with_vars(dir, profile, vars)
    }

    /// Loads a profile from a config folder, then applies the `ROLEGATE__*`
    /// variables among `vars` (as the process environment would).
    pub fn load_with_vars(
        dir: &Path,
        profile: Profile,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> anyhow::Result<Self> {
        let builder = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(
                config::File::from(dir.join(format!("{}.toml", profile.as_str()))).required(false),
            )
            .add_source(EnvSource::from_vars(vars)?);
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

    /// Checks what the profile demands, before anything touches the
    /// database. Production also refuses CORS wildcards, lifetimes and
    /// leeway beyond [`PRODUCTION_LIMITS`], and signing keys that are
    /// missing, weak (see [`check_secret_strength`]) or readable by others.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.auth.access_token_ttl == 0 || self.auth.refresh_token_ttl == 0 {
            bail!("auth.access_token_ttl and auth.refresh_token_ttl must be positive");
        }
        if self.auth.refresh_token_ttl > 365 * 24 * 3600 || self.auth.refresh_grace_secs > 300 {
            bail!(
                "auth.refresh_token_ttl is at most a year and auth.refresh_grace_secs at most 300"
            );
        }
        if self.server.body_timeout_secs == 0 {
            bail!("server.body_timeout_secs must be positive");
        }
        self.rate_limit.validate()?;
        if self.profile == Profile::Production {
            if self.cors.allowed_origins.iter().any(|o| o.contains('*')) {
                bail!(
                    "production: cors.allowed_origins must list origins explicitly, without wildcards"
                );
            }
            let limits = &PRODUCTION_LIMITS;
            for (key, value, max, unit) in [
                (
                    "auth.leeway_secs",
                    self.auth.leeway_secs,
                    limits.leeway_secs,
                    "5 minutes",
                ),
                (
                    "auth.access_token_ttl",
                    self.auth.access_token_ttl,
                    limits.access_token_ttl,
                    "24 hours",
                ),
                (
                    "auth.refresh_token_ttl",
                    self.auth.refresh_token_ttl,
                    limits.refresh_token_ttl,
                    "90 days",
                ),
            ] {
                if value > max {
                    bail!(
                        "production: {key} is {value} seconds; at most {max} ({unit}) is allowed"
                    );
                }
            }
            if self.auth.open_role_signup {
                tracing::warn!(
                    "auth.open_role_signup is on in production: anyone can sign up as admin"
                );
            }
            // Reads and checks the secret or the key files (their modes too).
            self.key_set()?;
        }
        Ok(())
    }

    /// The HS256 secret: from `auth.jwt_secret`, else `auth.jwt_secret_file`
    /// (which, like a key file, must be readable by its owner only); else,
    /// outside production, generated once under `data.dir`.
    pub fn resolve_jwt_secret(&self) -> anyhow::Result<SecretString> {
        if !self.auth.jwt_secret.expose_secret().is_empty() {
            return Ok(self.auth.jwt_secret.clone());
        }
        if !self.auth.jwt_secret_file.is_empty() {
            let path = Path::new(&self.auth.jwt_secret_file);
            check_private(
                "auth.jwt_secret_file",
                path,
                self.profile == Profile::Production,
            )?;
            let raw = std::fs::read_to_string(path).with_context(|| {
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

/// The largest values production accepts.
#[derive(Debug, Clone, Copy)]
pub struct ProductionLimits {
    pub leeway_secs: u64,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
}

pub const PRODUCTION_LIMITS: ProductionLimits = ProductionLimits {
    leeway_secs: 300,
    access_token_ttl: 24 * 3600,
    refresh_token_ttl: 90 * 24 * 3600,
};

/// Fewest distinct bytes a production HS256 secret may have: 32 × `a` or a
/// repeated short word is a placeholder, not a secret.
pub const MIN_SECRET_DISTINCT_BYTES: usize = 8;

/// Refuses (in production; warns otherwise) a secret with fewer than
/// [`MIN_SECRET_DISTINCT_BYTES`] distinct bytes. The length (at least 32
/// bytes) is checked for every profile by `KeySet::hs256`.
fn check_secret_strength(secret: &SecretString, strict: bool) -> anyhow::Result<()> {
    let distinct = secret
        .expose_secret()
        .bytes()
        .collect::<HashSet<u8>>()
        .len();
    if distinct < MIN_SECRET_DISTINCT_BYTES {
        let msg = format!(
            "the JWT secret has only {distinct} distinct bytes (at least \
             {MIN_SECRET_DISTINCT_BYTES}): it looks like a placeholder; use 32 or more random \
             bytes, e.g. `openssl rand -base64 48`"
        );
        if strict {
            bail!("production: {msg}");
        }
        tracing::warn!("{msg}");
    }
    Ok(())
}

impl Settings {
    /// The signing and verification keys: the key files when configured
    /// (asymmetric), else the HS256 secret.
    pub fn key_set(&self) -> anyhow::Result<rolegate_auth::KeySet> {
        let production = self.profile == Profile::Production;
        if self.auth.key_files.is_empty() {
            let secret = self.resolve_jwt_secret()?;
            check_secret_strength(&secret, production)?;
            return Ok(rolegate_auth::KeySet::hs256(&secret)?);
        }
        let mut pems = Vec::with_capacity(self.auth.key_files.len());
        for path in &self.auth.key_files {
            check_private("key file", path, production)?;
            let pem = std::fs::read(path)
                .with_context(|| format!("reading key file {}", path.display()))?;
            pems.push((path.display().to_string(), pem));
        }
        Ok(rolegate_auth::KeySet::from_private_pems(&pems)?)
    }
}

/// A private key or secret file must be readable by its owner only:
/// production refuses one that its group or others can read; other profiles
/// warn. `what` names it in the message (`key file`, `auth.jwt_secret_file`).
fn check_private(what: &str, path: &Path, strict: bool) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading {what} {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            let msg = format!(
                "{what} {} is readable by others (mode {:o}); run chmod 600 on it",
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
    let _ = (what, path, strict);
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

    const STRONG: &str = "kq3V9x-Lr7uZ2pW8sN4fB6yT1mH5cJ0a";

    /// A production configuration that passes, for the tests to spoil.
    fn production() -> Settings {
        let mut p = Settings::load_from(&config_dir(), Profile::Production, false).unwrap();
        p.auth.jwt_secret = SecretString::from(STRONG);
        p.cors.allowed_origins = vec!["https://app.example.com".into()];
        p.validate().unwrap();
        p
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
