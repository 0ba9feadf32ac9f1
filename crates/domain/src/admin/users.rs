//! Administering users: reading them, their roles, their status.

use serde_json::json;
use unicode_normalization::UnicodeNormalization as _;

use super::checked::Checked;
use super::{AdminService, Precondition, names, target_state};
use crate::access::Granted;
use crate::access::permissions::{UsersRead, UsersWrite};
use crate::dedup;
use crate::error::{Error, Escalation};
use crate::page::{Page, PageRequest};
use crate::roles::{RoleInfo, RoleName};
use crate::users::{User, UserId, UserProfile};

/// Longest search text accepted.
pub const MAX_QUERY_LEN: usize = 64;

/// Nobody acts on an account that holds a permission they do not hold.
pub(super) fn require_outranks(actor: &mut Checked, target: &UserProfile) -> Result<(), Error> {
    let username = target.user.username.clone();
    actor.require_all(&target.permissions, |missing| Escalation::ActOnUser {
        username,
        missing,
    })
}

impl AdminService {
    /// A change to user `id` by an actor who must outrank them: the checked
    /// actor, the user as read now, and the audited change `action` with
    /// `detail` (from the user) and the preconditions it relies on.
    async fn change_of_user(
        &self,
        granted: Granted<UsersWrite>,
        id: UserId,
        action: &str,
        detail: impl FnOnce(&UserProfile) -> serde_json::Value,
    ) -> Result<(Checked, UserProfile, super::Change), Error> {
        let mut actor = self.check(granted).await?;
        let (target, catalogue) = self.target(id).await?;
        require_outranks(&mut actor, &target)?;
        let change = actor.change(
            self.now(),
            action,
            format!("user:{id}"),
            detail(&target),
            target_state(&target, &catalogue),
        );
        Ok((actor, target, change))
    }

    /// The signed-in user's own profile: `ActorGone` when the account no
    /// longer exists, `AccountDisabled` when it is disabled.
    pub async fn me(&self, id: UserId) -> Result<UserProfile, Error> {
        match self.deps.users.profile(id).await? {
            None => Err(Error::ActorGone),
            Some(p) if p.user.disabled => Err(Error::AccountDisabled),
            Some(p) => Ok(p),
        }
    }

    /// Users by id, optionally those whose username or e-mail *starts with*
    /// `query` (case-insensitively, after the e-mail's normalisation): a
    /// prefix is what an index serves at any size; a substring is not.
    pub async fn list_users(
        &self,
        granted: Granted<UsersRead>,
        query: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<User>, Error> {
        self.check(granted).await?;
        // A NUL gave 500 on PostgreSQL, every user on SQLite and none on
        // MariaDB: refuse control characters the same way everywhere.
        if query.is_some_and(|q| q.chars().any(char::is_control)) {
            return Err(Error::invalid("q", "must not contain control characters"));
        }
        let query = query.map(str::trim).filter(|q| !q.is_empty());
        if query.is_some_and(|q| q.chars().count() > MAX_QUERY_LEN) {
            return Err(Error::invalid(
                "q",
                format!("must be at most {MAX_QUERY_LEN} characters long"),
            ));
        }
        // Stored e-mails are NFKC and lower case: search in the same form.
        let lowered = query.map(|q| q.nfkc().collect::<String>().to_lowercase());
        Ok(self.deps.admin.list_users(lowered.as_deref(), page).await?)
    }

    pub async fn get_user(
        &self,
        granted: Granted<UsersRead>,
        id: UserId,
    ) -> Result<UserProfile, Error> {
        self.check(granted).await?;
        self.user(id).await
    }

    /// Replaces a user's roles. The actor must hold every permission the
    /// user holds now, and every permission of each role being added.
    pub async fn set_user_roles(
        &self,
        granted: Granted<UsersWrite>,
        id: UserId,
        roles: &[RoleName],
    ) -> Result<UserProfile, Error> {
        let actor = self.check(granted).await?;
        let (target, catalogue) = self.target(id).await?;
        self.apply_roles(actor, target, &catalogue, roles).await
    }

    /// Sets `roles` on `target` as read with `catalogue` (one read feeds
    /// both the decision and its preconditions).
    pub(super) async fn apply_roles(
        &self,
        mut actor: Checked,
        target: UserProfile,
        catalogue: &[RoleInfo],
        roles: &[RoleName],
    ) -> Result<UserProfile, Error> {
        let id = target.user.id;
        let roles = dedup(roles);
        if let Some(unknown) = roles
            .iter()
            .find(|r| !catalogue.iter().any(|c| &c.name == *r))
        {
            return Err(Error::UnknownRole(unknown.to_string()));
        }
        require_outranks(&mut actor, &target)?;
        let mut pre = target_state(&target, catalogue);
        for info in catalogue
            .iter()
            .filter(|c| roles.contains(&c.name) && !target.user.roles.contains(&c.name))
        {
            let role = info.name.clone();
            actor.require_all(&info.permissions, |missing| Escalation::GrantRole {
                role,
                missing,
            })?;
            pre.push(Precondition::RolePermissions {
                role: info.name.clone(),
                permissions: info.permissions.clone(),
            });
        }
        let before = names(&target.user.roles);
        let after = names(&roles);
        let change = actor.change(
            self.now(),
            "user.roles.set",
            format!("user:{id}"),
            json!({"username": target.user.username, "before": before, "after": after}),
            pre,
        );
        self.deps.admin.set_user_roles(id, &roles, change).await?;
        tracing::info!(actor = %actor.name, user_id = %id, ?before, ?after, "audit: user roles set");
        self.user(id).await
    }

    /// Disables or enables a user. Disabling also ends their sessions.
    pub async fn set_user_disabled(
        &self,
        granted: Granted<UsersWrite>,
        id: UserId,
        disabled: bool,
    ) -> Result<UserProfile, Error> {
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        let (actor, _, change) = self
            .change_of_user(
                granted,
                id,
                action,
                |t| json!({"username": t.user.username, "disabled": disabled}),
            )
            .await?;
        self.deps
            .admin
            .set_user_disabled(id, disabled, change)
            .await?;
        tracing::info!(actor = %actor.name, user_id = %id, disabled, "audit: user status set");
        self.user(id).await
    }

    /// Clears a user's sign-in counters, from every address, so that they
    /// (and anyone else) may try again at once. Audited as `user.unlock`.
    /// The actor must hold every permission the user holds.
    pub async fn unlock_user(
        &self,
        granted: Granted<UsersWrite>,
        id: UserId,
    ) -> Result<UserProfile, Error> {
        let (actor, target, change) = self
            .change_of_user(
                granted,
                id,
                "user.unlock",
                |t| json!({"username": t.user.username}),
            )
            .await?;
        // Audited first: a change refused as stale clears nothing.
        self.deps.admin.record_change(change).await?;
        let cleared =
            crate::throttle::clear_account(self.deps.attempts.as_ref(), &target.user.username)
                .await?;
        tracing::info!(actor = %actor.name, user_id = %id, cleared, "audit: user unlocked");
        Ok(target)
    }

    /// Resets a user's second factors (a lost device): TOTP, recovery codes
    /// and passkeys go; the user signs in with the password alone until
    /// they enrol again. Audited as `user.mfa.reset`; the actor must hold
    /// every permission the user holds.
    pub async fn reset_user_mfa(
        &self,
        granted: Granted<UsersWrite>,
        id: UserId,
    ) -> Result<UserProfile, Error> {
        let (actor, target, change) = self
            .change_of_user(
                granted,
                id,
                "user.mfa.reset",
                |t| json!({"username": t.user.username}),
            )
            .await?;
        self.deps.admin.reset_second_factors(id, change).await?;
        tracing::info!(actor = %actor.name, user_id = %id, "audit: second factors reset");
        Ok(target)
    }

    /// Deletes a user with their roles and sessions.
    pub async fn delete_user(&self, granted: Granted<UsersWrite>, id: UserId) -> Result<(), Error> {
        let (actor, _, change) = self
            .change_of_user(
                granted,
                id,
                "user.delete",
                |t| json!({"username": t.user.username, "roles": names(&t.user.roles)}),
            )
            .await?;
        self.deps.admin.delete_user(id, change).await?;
        tracing::info!(actor = %actor.name, user_id = %id, "audit: user deleted");
        Ok(())
    }
}
