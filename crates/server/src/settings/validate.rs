//! Checking the effective settings before anything touches the database:
//! every problem found, each a sentence naming the setting (what `serve`
//! refuses to start with and `rolegate config check` lists).

use anyhow::bail;

use super::*;

impl Settings {
    /// Checks what the profile demands, before anything touches the
    /// database. Production also refuses CORS wildcards, lifetimes and
    /// leeway beyond [`PRODUCTION_LIMITS`], and signing keys that are
    /// missing, weak (see [`check_secret_strength`]) or readable by others.
    pub fn validate(&self) -> anyhow::Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}", problems.join("\n"))
        }
    }

    /// Every problem [`Settings::validate`] finds, each a sentence naming the setting.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = Vec::new();
        if self.auth.access_token_ttl == 0 || self.auth.refresh_token_ttl == 0 {
            problems.push(
                "auth.access_token_ttl and auth.refresh_token_ttl must be positive".to_owned(),
            );
        }
        if self.auth.refresh_token_ttl > 365 * 24 * 3600 || self.auth.refresh_grace_secs > 300 {
            problems.push(
                "auth.refresh_token_ttl is at most a year and auth.refresh_grace_secs at most 300"
                    .to_owned(),
            );
        }
        if self.auth.openid_discovery {
            match url::Url::parse(&self.auth.issuer) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.query().is_none() => {}
                _ => problems.push(format!(
                    "auth.openid_discovery needs auth.issuer to be the URL rolegate is reached at (e.g. https://auth.example.com), not {:?}",
                    self.auth.issuer
                )),
            }
        }
        if !(1..=MAX_REVOCATION_POLL_SECS).contains(&self.auth.revocation_poll_secs) {
            problems.push(format!(
                "auth.revocation_poll_secs must be between 1 and {MAX_REVOCATION_POLL_SECS} (it is {})",
                self.auth.revocation_poll_secs
            ));
        }
        if let Err(e) = self.introspection_secret() {
            problems.push(format!("{e:#}"));
        }
        if self.server.body_timeout_secs == 0 {
            problems.push("server.body_timeout_secs must be positive".to_owned());
        }
        if let Err(e) = self.rate_limit.validate() {
            problems.push(e.to_string());
        }
        if self.server.shutdown_timeout_secs == 0 {
            problems.push("server.shutdown_timeout_secs must be positive".to_owned());
        }
        if let Err(e) = self.metrics.check(self.profile) {
            problems.push(e.to_string());
        }
        problems.extend(self.webauthn.problems(self.profile));
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp_url.is_none() {
            problems.push(
                "mail.transport = \"smtp\" needs mail.smtp_url (ROLEGATE__MAIL__SMTP_URL)"
                    .to_owned(),
            );
        }
        if self.mail.poll_interval_ms == 0
            || self.mail.backoff_secs <= 0
            || self.mail.max_attempts == 0
        {
            problems.push(
                "mail.poll_interval_ms, mail.backoff_secs and mail.max_attempts must be positive"
                    .to_owned(),
            );
        }
        if self.profile == Profile::Production
            && self.mail.transport == MailTransport::Log
            && !self.mail.allow_log_transport
        {
            problems.push("production: mail.transport = \"log\" would write reset links to the log instead of mailing them; set mail.transport = \"smtp\" and mail.smtp_url (or mail.allow_log_transport = true if this instance must send no mail)".to_owned());
        }
        if self.profile == Profile::Production {
            if self.cors.allowed_origins.iter().any(|o| o.contains('*')) {
                problems.push("production: cors.allowed_origins must list origins explicitly, without wildcards".to_owned());
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
                    problems.push(format!(
                        "production: {key} is {value} seconds; at most {max} ({unit}) is allowed"
                    ));
                }
            }
            if self.auth.open_role_signup {
                tracing::warn!(
                    "auth.open_role_signup is on in production: anyone can sign up as admin"
                );
            }
            // Reads and checks the secret or the key files (their modes too).
            if let Err(e) = self.key_set() {
                problems.push(format!("{e:#}"));
            }
        }
        problems
    }
}
