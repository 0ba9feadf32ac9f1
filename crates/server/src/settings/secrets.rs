//! Secrets and keys: production's limits, file permissions, the development secret.

use super::*;

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
pub(super) fn check_secret_strength(secret: &SecretString, strict: bool) -> anyhow::Result<()> {
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
pub(super) fn check_private(what: &str, path: &Path, strict: bool) -> anyhow::Result<()> {
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
pub(super) fn dev_secret(data_dir: &Path) -> anyhow::Result<SecretString> {
    generated_once(
        data_dir,
        "jwt-secret",
        48,
        "no JWT secret configured: generated a development secret (production requires \
         ROLEGATE__AUTH__JWT_SECRET or _FILE)",
    )
    .map(SecretString::from)
}

/// `<data>/<file>` (mode 0600), made once of `bytes` random bytes in
/// Base64 (URL-safe, no padding) for development; `made` is logged then.
fn generated_once(data_dir: &Path, file: &str, bytes: usize, made: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    let path = data_dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            tracing::info!(path = %path.display(), "using the development {file}");
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let mut random = vec![0u8; bytes];
    rand::fill(random.as_mut_slice());
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    write_private(&path, value.as_bytes())?;
    tracing::warn!(path = %path.display(), "{made}");
    Ok(value)
}

impl Settings {
    /// The key of second factors: `auth.mfa_encryption_key` or its file;
    /// outside production, a key generated once under `data.dir`; in
    /// production without one, `None` (enrolment then answers 503, and the
    /// server refuses to start once a user has a second factor).
    pub fn mfa_key(&self) -> anyhow::Result<Option<rolegate_auth::MfaKey>> {
        let production = self.profile == Profile::Production;
        let configured = if !self.auth.mfa_encryption_key.expose_secret().is_empty() {
            Some(self.auth.mfa_encryption_key.expose_secret().to_owned())
        } else if !self.auth.mfa_encryption_key_file.is_empty() {
            let path = Path::new(&self.auth.mfa_encryption_key_file);
            check_private("auth.mfa_encryption_key_file", path, production)?;
            Some(std::fs::read_to_string(path).with_context(|| {
                format!(
                    "reading auth.mfa_encryption_key_file {}",
                    self.auth.mfa_encryption_key_file
                )
            })?)
        } else {
            None
        };
        let encoded = match configured {
            Some(encoded) => encoded,
            None if production => return Ok(None),
            None => dev_mfa_key(&self.data.dir)?,
        };
        rolegate_auth::MfaKey::from_base64(&encoded)
            .map(Some)
            .map_err(|m| anyhow::anyhow!("auth.mfa_encryption_key {m}"))
    }
}

impl Settings {
    /// The introspection secret: `auth.introspection_secret`, else the
    /// content of `auth.introspection_secret_file` (readable by its owner
    /// only; production refuses others), trimmed; `None` when neither is set.
    /// At least [`MIN_INTROSPECTION_SECRET_LEN`] bytes. Errors never show it.
    pub fn introspection_secret(&self) -> anyhow::Result<Option<SecretString>> {
        let production = self.profile == Profile::Production;
        let secret = if !self.auth.introspection_secret.expose_secret().is_empty() {
            self.auth
                .introspection_secret
                .expose_secret()
                .trim()
                .to_owned()
        } else if !self.auth.introspection_secret_file.is_empty() {
            let path = Path::new(&self.auth.introspection_secret_file);
            check_private("auth.introspection_secret_file", path, production)?;
            std::fs::read_to_string(path)
                .with_context(|| {
                    format!(
                        "reading auth.introspection_secret_file {}",
                        self.auth.introspection_secret_file
                    )
                })?
                .trim()
                .to_owned()
        } else {
            return Ok(None);
        };
        if secret.len() < MIN_INTROSPECTION_SECRET_LEN {
            bail!(
                "auth.introspection_secret must be at least {MIN_INTROSPECTION_SECRET_LEN} bytes \
                 (got {}); e.g. `openssl rand -hex 32`",
                secret.len()
            );
        }
        Ok(Some(SecretString::from(secret)))
    }
}

/// The development key of second factors under `data_dir`, made once.
fn dev_mfa_key(data_dir: &Path) -> anyhow::Result<String> {
    generated_once(
        data_dir,
        "mfa-key",
        32,
        "no auth.mfa_encryption_key configured: generated a development key",
    )
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
