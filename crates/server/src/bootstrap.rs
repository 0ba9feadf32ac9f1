//! The first admin from `[bootstrap]`, and password files.

use anyhow::Context;
use rolegate_domain::{AdminService, Bootstrap, Email, Password, Username};

use crate::settings::Settings;

/// Reads a password file: one line, a trailing newline ignored.
pub fn read_password_file(path: &std::path::Path) -> anyhow::Result<Password> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("reading the password file {}", path.display()))?;
    let line = raw.strip_suffix('\n').unwrap_or(&raw);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Password::parse(line).map_err(|e| anyhow::anyhow!("the password in {} {e}", path.display()))
}

/// Creates the first admin from `[bootstrap]` when no active admin exists.
/// Once an admin exists nothing is read, so the password file (a secret)
/// may be removed after the first start.
pub(crate) async fn bootstrap_admin(
    settings: &Settings,
    admin: &AdminService,
) -> anyhow::Result<()> {
    if admin
        .has_active_admin()
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap admin: {}", rolegate_api::error::describe(e)))?
    {
        tracing::debug!("bootstrap: an active admin exists; nothing to do");
        return Ok(());
    }
    let b = &settings.bootstrap;
    let username = Username::parse(&b.admin_username)
        .map_err(|e| anyhow::anyhow!("bootstrap.admin_username {e}"))?;
    let email =
        Email::parse(&b.admin_email).map_err(|e| anyhow::anyhow!("bootstrap.admin_email {e}"))?;
    if b.admin_password_file.trim().is_empty() {
        anyhow::bail!(
            "bootstrap.admin_password_file must name a file holding the admin's password"
        );
    }
    let password = read_password_file(std::path::Path::new(&b.admin_password_file))?;
    match admin
        .bootstrap_admin(username.clone(), email, password)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap admin: {}", rolegate_api::error::describe(e)))?
    {
        Bootstrap::Created(id) => {
            tracing::info!(user_id = %id, username = %username, "bootstrap: first admin created");
        }
        Bootstrap::AdminExists => {
            tracing::debug!("bootstrap: an active admin exists; nothing to do");
        }
        Bootstrap::Taken => tracing::warn!(
            username = %username,
            "bootstrap: no active admin exists, but this username or e-mail belongs to an account \
             that is not an admin; it is not promoted. Use `rolegate user grant <username> admin` \
             if it is yours."
        ),
    }
    Ok(())
}
