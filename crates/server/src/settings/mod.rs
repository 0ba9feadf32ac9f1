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
const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");

/// Every profile's file, built into the binary too: the binary behaves the
/// same wherever it runs; files on disk layer on top.
fn built_in_profile(profile: Profile) -> &'static str {
    match profile {
        Profile::Development => include_str!("../../../../config/development.toml"),
        Profile::Test => include_str!("../../../../config/test.toml"),
        Profile::Compat => include_str!("../../../../config/compat.toml"),
        Profile::Production => include_str!("../../../../config/production.toml"),
    }
}

/// Where the configuration comes from, after the built-in files.
#[derive(Debug, Clone)]
pub struct Sources {
    pub profile: Profile,
    /// Files in order (later ones win), each with whether it must exist.
    pub files: Vec<(PathBuf, bool)>,
    /// The environment (only `ROLEGATE__*` variables are read).
    pub vars: Vec<(OsString, OsString)>,
}

impl Sources {
    /// `ROLEGATE_ENV` picks the profile; then `/etc/rolegate/rolegate.toml`
    /// when present, `ROLEGATE_CONFIG_DIR`'s `default.toml` and
    /// `{profile}.toml` when set (the folder must exist), `file`
    /// (`--config`, must exist), and the `ROLEGATE__*` variables.
    pub fn from_env(file: Option<&Path>) -> anyhow::Result<Self> {
        let profile = Profile::parse(&std::env::var("ROLEGATE_ENV").unwrap_or_default())?;
        let mut files = vec![(PathBuf::from(Settings::SYSTEM_FILE), false)];
        if let Some(dir) = std::env::var_os("ROLEGATE_CONFIG_DIR").map(PathBuf::from) {
            if !dir.is_dir() {
                bail!("ROLEGATE_CONFIG_DIR={} is not a folder", dir.display());
            }
            files.push((dir.join("default.toml"), false));
            files.push((dir.join(format!("{}.toml", profile.as_str())), false));
        }
        if let Some(file) = file {
            files.push((file.to_owned(), true));
        }
        Ok(Self {
            profile,
            files,
            vars: std::env::vars_os().collect(),
        })
    }
}

/// Names where an unknown key came from: a `ROLEGATE__…` variable, or a file.
fn explain_unknown(
    e: config::ConfigError,
    env_keys: &[(String, String)],
    files: &[(PathBuf, bool)],
) -> anyhow::Error {
    let text = e.to_string();
    if let Some(field) = text
        .split("unknown field `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
    {
        if let Some((_, var)) = env_keys
            .iter()
            .find(|(key, _)| key.split('.').any(|segment| segment == field))
        {
            return anyhow::anyhow!(
                "the environment variable {var} names no setting ({text}); see the configuration table in the README"
            );
        }
        let present: Vec<String> = files
            .iter()
            .filter(|(p, _)| p.is_file())
            .map(|(p, _)| p.display().to_string())
            .collect();
        return anyhow::anyhow!(
            "invalid configuration: {text} — a key that names no setting, in {} (typo?)",
            if present.is_empty() {
                "the built-in files".to_owned()
            } else {
                present.join(" or ")
            }
        );
    }
    anyhow::Error::new(e).context("invalid configuration")
}

mod env;
mod rate_limit;
mod secrets;
#[cfg(test)]
mod tests;
mod validate;
mod webauthn;

use env::*;
pub use rate_limit::*;
pub use secrets::*;
pub use webauthn::WebauthnSettings;

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
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub cors: CorsSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub data: DataSettings,
    pub rate_limit: RateLimitSettings,
    pub mail: MailSettings,
    pub webauthn: WebauthnSettings,
    #[serde(default)]
    pub bootstrap: BootstrapSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub audit: AuditSettings,
    #[serde(skip, default = "default_profile")]
    pub profile: Profile,
}

fn default_profile() -> Profile {
    Profile::Development
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    /// Seconds a request body may take to arrive, counted from its head;
    /// past it, 408 `request_timeout` and the connection is closed.
    pub body_timeout_secs: u64,
    /// At SIGTERM/SIGINT: seconds `/readyz` answers 503 while requests are
    /// still served, before the listener closes (so load balancers notice).
    #[serde(default = "default_shutdown_drain_secs")]
    pub shutdown_drain_secs: u64,
    /// Then: seconds requests in flight get to finish before their
    /// connections are closed.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
}

fn default_shutdown_drain_secs() -> u64 {
    5
}

fn default_shutdown_timeout_secs() -> u64 {
    30
}

/// The audit log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Days an event is kept; older ones are deleted by the purge, in
    /// batches. 0: kept forever.
    pub retention_days: u32,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention_days: 365,
        }
    }
}

/// Prometheus metrics, served on a listener of their own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// `host:port` to serve `/metrics` on (e.g. `127.0.0.1:9090`); empty:
    /// no metrics.
    pub bind: String,
}

impl MetricsSettings {
    pub fn enabled(&self) -> bool {
        !self.bind.trim().is_empty()
    }

    /// The bind address must parse; production warns when it is neither
    /// loopback nor a private address (the metrics reveal traffic).
    pub fn check(&self, profile: Profile) -> anyhow::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let bind = self.bind.trim();
        let ip = match bind.parse::<std::net::SocketAddr>() {
            Ok(addr) => Some(addr.ip()),
            Err(_) => match bind.rsplit_once(':') {
                Some((host, port)) if port.parse::<u16>().is_ok() && !host.is_empty() => {
                    (host == "localhost").then_some(std::net::IpAddr::from([127, 0, 0, 1]))
                }
                _ => bail!("metrics.bind {bind:?} is not host:port (e.g. 127.0.0.1:9090)"),
            },
        };
        if profile == Profile::Production && !ip.is_some_and(is_internal) {
            tracing::warn!(
                bind,
                "metrics.bind is not a loopback or private address: /metrics would be reachable                  from outside; bind it to 127.0.0.1 or an internal network"
            );
        }
        Ok(())
    }
}

/// Loopback, RFC 1918 / unique-local, or link-local.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private() || v4.is_link_local())
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
    /// Serve `/.well-known/openid-configuration`; `issuer` must then be the
    /// URL rolegate is reached at.
    pub openid_discovery: bool,
    /// Lifetime of a password-reset link, in seconds.
    pub reset_token_ttl: u64,
    /// Lifetime of an e-mail verification or change link, in seconds.
    pub email_token_ttl: u64,
    /// Refuse sign-in of accounts whose e-mail address is not verified.
    pub require_verified_email: bool,
    /// Refuse new passwords from the common-password list or containing
    /// the username or e-mail (off in the compat profile).
    pub screen_passwords: bool,
    /// Seals TOTP secrets and keys recovery-code hashes: 32 bytes, Base64.
    pub mfa_encryption_key: SecretString,
    pub mfa_encryption_key_file: String,
    /// The name authenticator apps show next to the account.
    pub mfa_issuer: String,
    /// Refuse `/api/admin` to tokens without a second factor (403 `mfa_required`).
    pub admin_requires_mfa: bool,
    /// How often each instance reads new revocations (signed-out sessions,
    /// disabled users), in seconds: the bound on how long a revoked access
    /// token still works on rolegate's own routes. 1..=300.
    #[serde(default = "default_revocation_poll_secs")]
    pub revocation_poll_secs: u64,
    /// The shared secret of token introspection (`POST /api/auth/introspect`,
    /// the password of `Authorization: Basic`), at least 32 bytes; empty:
    /// only access tokens granting `tokens:introspect` may introspect.
    #[serde(default = "empty_secret")]
    pub introspection_secret: SecretString,
    #[serde(default)]
    pub introspection_secret_file: String,
    pub hashing: HashingConfig,
}

fn default_revocation_poll_secs() -> u64 {
    5
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// The longest `auth.revocation_poll_secs`.
pub const MAX_REVOCATION_POLL_SECS: u64 = 300;

/// The shortest introspection secret, in bytes.
pub const MIN_INTROSPECTION_SECRET_LEN: usize = 32;

/// How mail leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Development: the whole mail goes to the log.
    Log,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    /// `smtps://user:pass@host:465`, `smtp://host:587?tls=required`, … (may
    /// hold a password: a secret).
    #[serde(default)]
    pub smtp_url: Option<SecretString>,
    pub from: String,
    /// The base of every link in a mail (never taken from a request).
    pub public_url: String,
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    pub reset_path: String,
    pub verify_path: String,
    pub confirm_email_change_path: String,
    /// How often the outbox is looked at, in milliseconds.
    pub poll_interval_ms: u64,
    /// Each SMTP command's timeout (connecting included), in seconds.
    pub timeout_secs: u64,
    /// First retry delay in seconds; doubles per attempt up to `max_backoff_secs`.
    pub backoff_secs: i64,
    pub max_backoff_secs: i64,
    /// Attempts before a mail is given up (logged as an error).
    pub max_attempts: u32,
    /// Production refuses the log transport unless this is set.
    pub allow_log_transport: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub hsts: bool,
    /// The Node tutorial's exact answers (the `compat` profile).
    pub tutorial_answers: bool,
    /// Swagger UI and the OpenAPI document over HTTP (off in production).
    pub swagger_ui: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    pub dir: PathBuf,
}

impl Settings {
    /// Where `/etc/rolegate/rolegate.toml` is, when present (the Debian package's).
    pub const SYSTEM_FILE: &'static str = "/etc/rolegate/rolegate.toml";

    /// Loads the profile named by `ROLEGATE_ENV` and the files and
    /// variables that layer on top of it (see [`Sources`]).
    pub fn load() -> anyhow::Result<Self> {
        Self::load_sources(&Sources::from_env(None)?)
    }

    /// As [`Settings::load`], with `--config FILE` on top of the files.
    pub fn load_with_file(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_sources(&Sources::from_env(file)?)
    }

    /// Loads a profile with a config folder (its `default.toml` and
    /// `{profile}.toml`, when present) over the built-in files; `with_env`
    /// applies `ROLEGATE__*`.
    pub fn load_from(dir: &Path, profile: Profile, with_env: bool) -> anyhow::Result<Self> {
        let vars: Vec<(OsString, OsString)> = if with_env {
            std::env::vars_os().collect()
        } else {
            Vec::new()
        };
        Self::load_with_vars(dir, profile, vars)
    }

    /// Loads a profile with a config folder, then applies the `ROLEGATE__*`
    /// variables among `vars` (as the process environment would).
    pub fn load_with_vars(
        dir: &Path,
        profile: Profile,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> anyhow::Result<Self> {
        Self::load_sources(&Sources {
            profile,
            files: vec![
                (dir.join("default.toml"), false),
                (dir.join(format!("{}.toml", profile.as_str())), false),
            ],
            vars: vars.into_iter().collect(),
        })
    }

    /// Built-in `default` and profile, then each file, then the variables.
    /// A key that names no setting — in a file or a `ROLEGATE__…` variable —
    /// stops the load with a message naming it.
    pub fn load_sources(sources: &Sources) -> anyhow::Result<Self> {
        let profile = sources.profile;
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .add_source(config::File::from_str(
                built_in_profile(profile),
                config::FileFormat::Toml,
            ));
        for (path, required) in &sources.files {
            if *required && !path.is_file() {
                bail!("the configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(config::File::from(path.clone()).required(false));
        }
        let env = EnvSource::from_vars(sources.vars.iter().cloned())?;
        let env_keys = env.keys();
        builder = builder.add_source(env);
        let mut settings: Settings = builder
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .map_err(|e| explain_unknown(e, &env_keys, &sources.files))?;
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
