//! Creating an account: one path for sign-up and for operators (command
//! line, bootstrap). Cheap checks (roles, duplicates) run before the
//! expensive hash; the store's unique indexes still decide races.

use crate::accounts::TokenMail;
use crate::audit::NewAuditEvent;
use crate::clock::Clock;
use crate::error::{Error, UniqueField};
use crate::roles::RoleName;
use crate::users::{Email, NewUser, Password, PasswordHasher, UserId, UserStore, Username};

/// An account to create.
#[derive(Debug, Clone)]
pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    /// De-duplicated, allowed by whoever asks.
    pub roles: Vec<RoleName>,
    /// Operators vouch for the address; sign-ups verify it by mail.
    pub email_verified: bool,
    /// The verification token and its mail, for an unverified address.
    pub welcome: Option<TokenMail>,
}

/// Creates the account (with its audit event, when given).
pub(crate) async fn register(
    users: &dyn UserStore,
    hasher: &dyn PasswordHasher,
    clock: &dyn Clock,
    account: Registration,
    audit: Option<NewAuditEvent>,
) -> Result<UserId, Error> {
    if let Some(missing) = users
        .missing_roles(&account.roles)
        .await?
        .into_iter()
        .next()
    {
        return Err(Error::UnknownRole(missing.to_string()));
    }
    match users
        .find_conflict(&account.username, &account.email)
        .await?
    {
        Some(UniqueField::Email) => return Err(Error::EmailTaken),
        Some(_) => return Err(Error::UsernameTaken),
        None => {}
    }
    let password_hash = hasher.hash(&account.password).await?;
    let id = users
        .create_user(
            NewUser {
                username: account.username,
                email: account.email,
                password_hash,
                roles: account.roles,
                created_at: clock.now(),
                email_verified: account.email_verified,
                welcome: account.welcome,
            },
            audit,
        )
        .await?;
    Ok(id)
}
