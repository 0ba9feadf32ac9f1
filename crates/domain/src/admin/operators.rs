//! What only operators do: create accounts with any role, grant by name,
//! and bootstrap the first admin. Operators (the command line, the
//! bootstrap) hold every permission; these are not offered over HTTP.

use serde_json::json;

use super::{AdminService, names};
use crate::access::permissions::UsersWrite;
use crate::access::{Granted, Operator};
use crate::dedup;
use crate::error::Error;
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
