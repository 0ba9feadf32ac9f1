//! What only operators do: create accounts with any role, act on users by
//! name (grant, revoke, disable, enable, delete, set a password), and
//! bootstrap the first admin. Operators (the command line, the bootstrap,
//! the import) hold every permission; these are not offered over HTTP. The
//! rules of the admin API hold here too: the last active admin stays, and
//! every change is audited with the operator as its actor.

use serde_json::json;

use super::users::require_outranks;
use super::{AdminService, names, target_state};
use crate::access::permissions::UsersWrite;
use crate::access::{Granted, Operator};
use crate::accounts::{AccountStore, PasswordChange};
use crate::dedup;
use crate::error::{Error, StoreError};
use crate::roles::RoleName;
use crate::users::register::{Registration, register};
use crate::users::{Email, Password, UserId, UserProfile, Username};

/// What the first-admin bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    Created(UserId),
    /// An active admin exists: nothing to do.
    AdminExists,
    /// No admin exists, but the username or e-mail belongs to an account
    /// (perhaps created a moment ago by another instance): no one is
    /// promoted (someone else may have registered it).
    Taken,
}

/// A user created by an operator.
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub roles: Vec<RoleName>,
}

impl AdminService {
    /// Creates a user with the given roles. The password must not be weak.
    /// The audit event is stored with the user.
    pub async fn create_user(&self, operator: Operator, user: CreateUser) -> Result<UserId, Error> {
        let actor = self
            .check(Granted::<UsersWrite>::operator(operator))
            .await?;
        if let Err(e) = user.password.check_strength(&user.username, &user.email) {
            return Err(Error::invalid("password", e));
        }
        let roles = dedup(&user.roles);
        let change = actor.change(
            self.now(),
            "user.create",
            // The store sets `user:<new id>`.
            String::new(),
            json!({"username": user.username.as_str(), "roles": names(&roles)}),
            Vec::new(),
        );
        let id = register(
            self.deps.users.as_ref(),
            self.deps.hasher.as_ref(),
            self.deps.clock.as_ref(),
            Registration {
                username: user.username,
                email: user.email,
                password: user.password,
                roles: roles.clone(),
                email_verified: true,
                welcome: None,
            },
            Some(change.audit),
        )
        .await?;
        tracing::info!(actor = %actor.name, user_id = %id, roles = ?names(&roles), "audit: user created");
        Ok(id)
    }

    /// Adds one role to a user's roles.
    pub async fn grant(
        &self,
        operator: Operator,
        username: &Username,
        role: RoleName,
    ) -> Result<UserProfile, Error> {
        let actor = self
            .check(Granted::<UsersWrite>::operator(operator))
            .await?;
        let id = self.id_of(username).await?;
        let (target, catalogue) = self.target(id).await?;
        let mut roles = target.user.roles.clone();
        if !roles.contains(&role) {
            roles.push(role);
        }
        self.apply_roles(actor, target, &catalogue, &roles).await
    }

    /// Takes one role from a user's roles. A role the user does not hold
    /// changes nothing; a role that does not exist is `RoleNotFound`; the
    /// last active admin keeps `admin` (`LastAdmin`).
    pub async fn revoke(
        &self,
        operator: Operator,
        username: &Username,
        role: &RoleName,
    ) -> Result<UserProfile, Error> {
        let actor = self
            .check(Granted::<UsersWrite>::operator(operator))
            .await?;
        self.role(role).await?;
        let id = self.id_of(username).await?;
        let (target, catalogue) = self.target(id).await?;
        let roles: Vec<RoleName> = target
            .user
            .roles
            .iter()
            .filter(|r| *r != role)
            .cloned()
            .collect();
        self.apply_roles(actor, target, &catalogue, &roles).await
    }

    /// Disables (and ends the sessions of) or enables a user, by name
    /// ([`AdminService::set_user_disabled`]).
    pub async fn set_disabled(
        &self,
        operator: Operator,
        username: &Username,
        disabled: bool,
    ) -> Result<UserProfile, Error> {
        let id = self.id_of(username).await?;
        self.set_user_disabled(Granted::<UsersWrite>::operator(operator), id, disabled)
            .await
    }

    /// Deletes a user with their roles and sessions, by name
    /// ([`AdminService::delete_user`]); the id it had.
    pub async fn delete(&self, operator: Operator, username: &Username) -> Result<UserId, Error> {
        let id = self.id_of(username).await?;
        self.delete_user(Granted::<UsersWrite>::operator(operator), id)
            .await?;
        Ok(id)
    }

    /// Sets a user's password, as an operator does for someone locked out
    /// of their mail: the password must not be weak (the rule of
    /// operator-made accounts); every session of the user is revoked, their
    /// unused reset links are voided, and their sign-in counters cleared.
    /// Audited as `user.password.set`. No mail is sent.
    pub async fn set_password(
        &self,
        operator: Operator,
        accounts: &dyn AccountStore,
        username: &Username,
        password: Password,
    ) -> Result<UserProfile, Error> {
        let mut actor = self
            .check(Granted::<UsersWrite>::operator(operator))
            .await?;
        let id = self.id_of(username).await?;
        let (target, catalogue) = self.target(id).await?;
        require_outranks(&mut actor, &target)?;
        let account = accounts.account(id).await?.ok_or(Error::UserNotFound)?;
        let name = Username::parse(&account.username).map_err(|e| Error::Internal(e.into()))?;
        let email = Email::parse(&account.email).map_err(|e| Error::Internal(e.into()))?;
        if let Err(e) = password.check_strength(&name, &email) {
            return Err(Error::invalid("password", e));
        }
        let new_hash = self.deps.hasher.hash(&password).await?;
        let now = self.now();
        let change = actor.change(
            now,
            "user.password.set",
            format!("user:{id}"),
            json!({"username": target.user.username}),
            target_state(&target, &catalogue),
        );
        accounts
            .set_password(PasswordChange {
                user: id,
                expected: account.password_hash,
                new_hash,
                consumes: None,
                keep_session: None,
                at: now,
                audit: change.audit,
                mails: Vec::new(),
            })
            .await
            .map_err(|e| match e {
                // The hash changed meanwhile (a sign-in re-hashed it, or a reset).
                StoreError::Stale => Error::ConcurrentChange,
                other => other.into(),
            })?;
        let cleared =
            crate::throttle::clear_account(self.deps.attempts.as_ref(), &target.user.username)
                .await?;
        tracing::info!(actor = %actor.name, user_id = %id, cleared, "audit: password set; every session revoked");
        Ok(target)
    }

    /// Clears a user's sign-in counters, by name ([`AdminService::unlock_user`]).
    pub async fn unlock(
        &self,
        operator: Operator,
        username: &Username,
    ) -> Result<UserProfile, Error> {
        let id = self.id_of(username).await?;
        self.unlock_user(Granted::<UsersWrite>::operator(operator), id)
            .await
    }

    /// The id of the user with this name.
    async fn id_of(&self, username: &Username) -> Result<UserId, Error> {
        Ok(self
            .deps
            .users
            .find_login(username)
            .await?
            .ok_or(Error::UserNotFound)?
            .id)
    }

    /// Whether some user holds `admin` and is not disabled.
    pub async fn has_active_admin(&self) -> Result<bool, Error> {
        Ok(self.deps.admin.count_active_admins().await? > 0)
    }

    /// Creates the first admin when no active admin exists; does nothing
    /// otherwise (so it can run at every start, on several instances at once).
    pub async fn bootstrap_admin(
        &self,
        username: Username,
        email: Email,
        password: Password,
    ) -> Result<Bootstrap, Error> {
        if self.has_active_admin().await? {
            return Ok(Bootstrap::AdminExists);
        }
        let created = self
            .create_user(
                Operator::Bootstrap,
                CreateUser {
                    username,
                    email,
                    password,
                    roles: vec![RoleName::admin()],
                },
            )
            .await;
        match created {
            Ok(id) => Ok(Bootstrap::Created(id)),
            // Someone holds the name or address: perhaps another instance
            // bootstrapping at the same moment, perhaps a stranger.
            Err(Error::UsernameTaken | Error::EmailTaken) => {
                if self.has_active_admin().await? {
                    Ok(Bootstrap::AdminExists)
                } else {
                    Ok(Bootstrap::Taken)
                }
            }
            Err(e) => Err(e),
        }
    }
}
