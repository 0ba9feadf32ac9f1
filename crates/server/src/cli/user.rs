//! `rolegate user …`: what operators do to accounts when the admin API is
//! not at hand. Each command goes through the domain's operator use cases
//! (the admin API's rules: the last active admin stays; audited with the
//! actor `cli`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use rolegate_domain::access::permissions::UsersRead;
use rolegate_domain::{
    AdminService, CreateUser, Email, Granted, Operator, PageRequest, Password, RoleName,
    UserProfile, Username,
};

use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user. The password is read from --password-file, or from
    /// standard input (a prompt without echo on a terminal, else one line).
    /// Weak passwords are refused.
    Create {
        /// The new user's name (3–32 of a-z, A-Z, 0-9, _ . -).
        #[arg(long)]
        username: String,
        /// The new user's e-mail address (marked verified: the operator vouches for it).
        #[arg(long)]
        email: String,
        /// A role to grant; repeat for several (default: user).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A file holding the password (one line; a trailing newline is ignored).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Add a role to a user.
    Grant {
        /// The user's name.
        username: String,
        /// The role to add (user, moderator, admin or a custom role).
        role: String,
    },
    /// Take a role from a user. The last active admin keeps `admin`.
    Revoke {
        /// The user's name.
        username: String,
        /// The role to take away.
        role: String,
    },
    /// Disable a user: they can no longer sign in, and their sessions end.
    /// The last active admin cannot be disabled.
    Disable {
        /// The user's name.
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user's name.
        username: String,
    },
    /// Delete a user with their roles and sessions (the audit log keeps
    /// their name). The last active admin cannot be deleted.
    Delete {
        /// The user's name.
        username: String,
    },
    /// Set a user's password: read from --password-file, or from standard
    /// input (a prompt without echo on a terminal, else one line). Weak
    /// passwords are refused. Every session of the user ends, their unused
    /// reset links stop working and their failed sign-in counters are
    /// cleared (in the database store); no mail is sent.
    SetPassword {
        /// The user's name.
        username: String,
        /// A file holding the password (one line; a trailing newline is ignored).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Clear a user's failed sign-in counters (from every address), so that
    /// a locked-out owner may sign in at once. Needs `rate_limit.store =
    /// "database"` or `"redis"`: with the in-memory store the counters live
    /// in the running server; use POST /api/admin/users/{id}/unlock there instead.
    Unlock {
        /// The user's name.
        username: String,
    },
    /// List users, one per line under a header, by id. Columns: id,
    /// username, email, status (active or disabled), roles (comma-separated).
    List {
        /// Only users whose username or e-mail starts with this (case-insensitively).
        #[arg(long)]
        q: Option<String>,
    },
}

/// A domain error as the command line prints it: the API's message
/// (field errors read `Invalid input: password is too weak: …`).
pub(crate) fn field_errors(e: rolegate_domain::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", rolegate_api::error::describe(e))
}

fn read_password(file: Option<&Path>) -> anyhow::Result<Password> {
    use std::io::IsTerminal as _;
    if let Some(path) = file {
        return crate::bootstrap::read_password_file(path);
    }
    let line = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            anyhow::bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    Password::parse(&line).map_err(|e| anyhow::anyhow!("the password {e}"))
}

fn parse_username(raw: &str) -> anyhow::Result<Username> {
    Username::parse(raw).map_err(|e| anyhow::anyhow!("username {e}"))
}

fn parse_role(raw: &str) -> anyhow::Result<RoleName> {
    RoleName::parse(raw).map_err(|e| anyhow::anyhow!("role {raw:?}: {e}"))
}

fn role_list(profile: &UserProfile) -> String {
    let names: Vec<&str> = profile.user.roles.iter().map(RoleName::as_str).collect();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// The administration use cases as the command line runs them.
pub(crate) fn admin_service(
    settings: &Settings,
    db: &rolegate_persistence::Database,
) -> anyhow::Result<AdminService> {
    let hasher = rolegate_auth::Argon2Hasher::new(settings.auth.hashing)?;
    // The shared counters; with the in-memory store they are the server's own.
    let attempts: Arc<dyn rolegate_domain::AttemptStore> = match settings.rate_limit.store {
        crate::settings::AttemptStoreKind::Redis => {
            Arc::new(crate::startup::redis_attempts(settings)?)
        }
        _ => Arc::new(db.clone()),
    };
    Ok(crate::startup::admin_service(
        db,
        Arc::new(hasher),
        Arc::new(rolegate_domain::SystemClock),
        attempts,
    ))
}

pub(crate) async fn run(
    settings: &Settings,
    db: &rolegate_persistence::Database,
    action: UserAction,
) -> anyhow::Result<()> {
    let admin = admin_service(settings, db)?;
    match action {
        UserAction::Create {
            username,
            email,
            roles,
            password_file,
        } => {
            let username = parse_username(&username)?;
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("email {e}"))?;
            let roles = if roles.is_empty() {
                vec![RoleName::user()]
            } else {
                roles
                    .iter()
                    .map(|r| parse_role(r))
                    .collect::<anyhow::Result<_>>()?
            };
            let password = read_password(password_file.as_deref())?;
            let id = admin
                .create_user(
                    Operator::Cli,
                    CreateUser {
                        username: username.clone(),
                        email,
                        password,
                        roles: roles.clone(),
                    },
                )
                .await
                .map_err(field_errors)?;
            let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
            println!(
                "created user {username} (id {id}) with roles {}",
                names.join(", ")
            );
        }
        UserAction::Grant { username, role } => {
            let username = parse_username(&username)?;
            let role = parse_role(&role)?;
            let profile = admin
                .grant(Operator::Cli, &username, role)
                .await
                .map_err(field_errors)?;
            println!("{username} now has roles {}", role_list(&profile));
        }
        UserAction::Revoke { username, role } => {
            let username = parse_username(&username)?;
            let role = parse_role(&role)?;
            let profile = admin
                .revoke(Operator::Cli, &username, &role)
                .await
                .map_err(field_errors)?;
            println!("{username} now has roles {}", role_list(&profile));
        }
        UserAction::Disable { username } => {
            let username = parse_username(&username)?;
            let profile = admin
                .set_disabled(Operator::Cli, &username, true)
                .await
                .map_err(field_errors)?;
            println!(
                "{username} (id {}) disabled: it cannot sign in, and its sessions are ended",
                profile.user.id
            );
        }
        UserAction::Enable { username } => {
            let username = parse_username(&username)?;
            let profile = admin
                .set_disabled(Operator::Cli, &username, false)
                .await
                .map_err(field_errors)?;
            println!("{username} (id {}) enabled", profile.user.id);
        }
        UserAction::Delete { username } => {
            let username = parse_username(&username)?;
            let id = admin
                .delete(Operator::Cli, &username)
                .await
                .map_err(field_errors)?;
            println!("{username} (id {id}) deleted, with its roles and sessions");
        }
        UserAction::SetPassword {
            username,
            password_file,
        } => {
            let username = parse_username(&username)?;
            let password = read_password(password_file.as_deref())?;
            let profile = admin
                .set_password(Operator::Cli, db, &username, password)
                .await
                .map_err(field_errors)?;
            println!(
                "{username} (id {}) has a new password; its sessions are ended",
                profile.user.id
            );
        }
        UserAction::Unlock { username } => {
            let username = parse_username(&username)?;
            let profile = admin
                .unlock(Operator::Cli, &username)
                .await
                .map_err(field_errors)?;
            println!(
                "{} (id {}) unlocked: its sign-in counters are cleared",
                profile.user.username, profile.user.id
            );
            if settings.rate_limit.store == crate::settings::AttemptStoreKind::Memory {
                eprintln!(
                    "warning: rate_limit.store is \"memory\": the running server keeps its own \
                     counters, which this command cannot reach; unlock through the API \
                     (POST /api/admin/users/{}/unlock) or set rate_limit.store = \"database\"",
                    profile.user.id
                );
            }
        }
        UserAction::List { q } => list(&admin, q.as_deref()).await?,
    }
    Ok(())
}

async fn list(admin: &AdminService, q: Option<&str>) -> anyhow::Result<()> {
    let mut after = None;
    println!(
        "{:>6}  {:<32} {:<40} {:<9} roles",
        "id", "username", "email", "status"
    );
    loop {
        let found = admin
            .list_users(
                Granted::<UsersRead>::operator(Operator::Cli),
                q,
                match after {
                    None => PageRequest::parse(None, Some(PageRequest::MAX_PER_PAGE)),
                    Some(id) => PageRequest::after(id, Some(PageRequest::MAX_PER_PAGE)),
                }
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            )
            .await
            .map_err(field_errors)?;
        for u in &found.items {
            let roles: Vec<&str> = u.roles.iter().map(RoleName::as_str).collect();
            println!(
                "{:>6}  {:<32} {:<40} {:<9} {}",
                u.id,
                u.username,
                u.email,
                if u.disabled { "disabled" } else { "active" },
                roles.join(",")
            );
        }
        match found.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(())
}
