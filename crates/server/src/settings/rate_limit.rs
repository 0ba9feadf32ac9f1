//! `[rate_limit]`: where the counters live, what a failing store means, and
//! the limits themselves.

use std::time::Duration;

use anyhow::bail;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

fn default_redis_prefix() -> String {
    "rolegate:rl:".to_owned()
}

fn default_redis_timeout_ms() -> u64 {
    500
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStoreKind {
    /// This instance's memory.
    Memory,
    /// The `auth_attempts` table, shared by every instance on the database.
    Database,
    /// Redis (`redis_url`), shared by every instance using it.
    Redis,
}

/// What a rate-limited request does when the counters' store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreErrorPolicy {
    /// 503 `rate_limit_unavailable` with Retry-After: nothing goes uncounted.
    #[default]
    Deny,
    /// The request goes on, uncounted.
    Allow,
}

impl StoreErrorPolicy {
    pub fn policy(self) -> rolegate_domain::OnStoreError {
        match self {
            Self::Deny => rolegate_domain::OnStoreError::Deny,
            Self::Allow => rolegate_domain::OnStoreError::Allow,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub store: AttemptStoreKind,
    /// `redis://[user:password@]host:6379[/db]` or `rediss://…` (TLS), for
    /// `store = "redis"`. A secret: logged only with its password hidden.
    #[serde(default)]
    pub redis_url: Option<SecretString>,
    /// Put before every Redis key, so deployments can share one Redis.
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
    /// Connecting to Redis, and each command's answer, give up after this long.
    #[serde(default = "default_redis_timeout_ms")]
    pub redis_timeout_ms: u64,
    /// For `rediss://` with a private CA: a PEM file of the CA's certificate
    /// (empty: the system's roots).
    #[serde(default)]
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// When the store (Redis or the database) fails: `deny` (503) or `allow`.
    #[serde(default)]
    pub on_store_error: StoreErrorPolicy,
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
    /// Requests that send mail (password reset, verification resend,
    /// e-mail change) per client address and per recipient, per window.
    pub mail_per_client: u32,
    pub mail_per_recipient: u32,
    pub mail_window_secs: i64,
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
            mail_per_client: count(self.mail_per_client, self.mail_window_secs),
            mail_per_recipient: count(self.mail_per_recipient, self.mail_window_secs),
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
            ("mail_per_client", self.mail_per_client),
            ("mail_per_recipient", self.mail_per_recipient),
        ];
        if let Some((name, _)) = maxima.iter().find(|(_, max)| *max == 0) {
            bail!("rate_limit.{name} must be at least 1");
        }
        let windows = [
            ("signin_window_secs", self.signin_window_secs),
            ("signin_total_window_secs", self.signin_total_window_secs),
            ("signup_window_secs", self.signup_window_secs),
            ("refresh_window_secs", self.refresh_window_secs),
            ("mail_window_secs", self.mail_window_secs),
        ];
        if let Some((name, _)) = windows.iter().find(|(_, secs)| *secs <= 0) {
            bail!("rate_limit.{name} must be positive");
        }
        if self.signin_backoff_base_secs < 0 || self.signin_backoff_max_secs < 0 {
            bail!("rate_limit.signin_backoff_base_secs and _max_secs must not be negative");
        }
        if self.store == AttemptStoreKind::Redis {
            self.redis_config()?;
        }
        Ok(())
    }

    /// How to reach Redis (`store = "redis"`): the URL must be set and be a
    /// `redis://` or `rediss://` URL; the timeout positive.
    pub fn redis_config(&self) -> anyhow::Result<rolegate_persistence::RedisConfig> {
        let url = self
            .redis_url
            .as_ref()
            .map(|u| u.expose_secret().trim().to_owned())
            .filter(|u| !u.is_empty());
        let Some(url) = url else {
            bail!(
                "rate_limit.store = \"redis\" needs rate_limit.redis_url (ROLEGATE__RATE_LIMIT__REDIS_URL), e.g. redis://127.0.0.1:6379"
            );
        };
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some() => {}
            _ => bail!(
                "rate_limit.redis_url {} is not a redis:// or rediss:// URL",
                rolegate_persistence::redact_url(&url)
            ),
        }
        if self.redis_timeout_ms == 0 {
            bail!("rate_limit.redis_timeout_ms must be positive");
        }
        Ok(rolegate_persistence::RedisConfig {
            url,
            prefix: self.redis_prefix.clone(),
            timeout: Duration::from_millis(self.redis_timeout_ms),
            ca_file: self
                .redis_ca_file
                .clone()
                .filter(|p| !p.as_os_str().is_empty()),
        })
    }
}
