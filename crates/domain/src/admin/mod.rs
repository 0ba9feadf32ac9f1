//! Administration: users' roles and status, roles and their permissions,
//! the audit log, and the first admin.
//!
//! Rules kept here (unit-tested against in-memory ports in [`tests`], and
//! end to end per backend through the API):
//! - every change is made with a [`Granted`](crate::access::Granted) proof
//!   for the permission it needs, and the actor's *current* permissions
//!   (read from the store, not from a possibly stale token) must still allow it;
//! - nobody reaches beyond what they hold: giving a user a role, giving or
//!   taking a role's permissions, deleting a role, and changing, disabling or
//!   deleting a user all need every permission involved (the role's before
//!   and after, the user's current ones);
//! - the built-in roles cannot be deleted, `admin` never loses the
//!   permissions needed to administer, and `user` (every new account's role)
//!   never gets them;
//! - what a decision relied on is re-checked by the store under its lock, in
//!   the change's transaction ([`Precondition`]), so concurrent changes cannot
//!   slip between the check and the write;
//! - at least one active admin remains (the store checks it atomically);
//! - every change writes an audit event in the same transaction, and a log line.

mod checked;
mod import;
mod operators;
mod roles;
mod store;
#[cfg(test)]
mod tests;
mod users;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use import::{ImportLine, ImportOptions, ImportReport, LegacyUser, Outcome as ImportOutcome};
pub use operators::{Bootstrap, CreateUser};
pub use store::{AdminStore, Change, Precondition};
pub use users::MAX_QUERY_LEN;

use crate::clock::Clock;
use crate::error::Error;
use crate::roles::{Permission, RoleInfo, RoleName};
use crate::throttle::AttemptStore;
use crate::users::{PasswordHasher, UserId, UserProfile, UserStore};

/// What administration depends on.
#[derive(Clone)]
pub struct AdminDeps {
    pub admin: Arc<dyn AdminStore>,
    pub users: Arc<dyn UserStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    /// The sign-in counters (the throttle's store), which an unlock clears.
    pub attempts: Arc<dyn AttemptStore>,
}

/// The administration use cases.
#[derive(Clone)]
pub struct AdminService {
    deps: AdminDeps,
}

fn names<T: std::fmt::Display>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

impl AdminService {
    pub fn new(deps: AdminDeps) -> Self {
        Self { deps }
    }

    fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    async fn user(&self, id: UserId) -> Result<UserProfile, Error> {
        self.deps
            .users
            .profile(id)
            .await?
            .ok_or(Error::UserNotFound)
    }

    async fn role(&self, name: &RoleName) -> Result<RoleInfo, Error> {
        self.deps
            .admin
            .list_roles()
            .await?
            .into_iter()
            .find(|r| &r.name == name)
            .ok_or_else(|| Error::RoleNotFound(name.to_string()))
    }

    /// A user and the role catalogue, read so that they agree: the user's
    /// permissions are exactly what the catalogue says their roles grant.
    /// (Otherwise a role changed between the two reads, and a check made on
    /// one could be recorded as preconditions from the other.)
    async fn target(&self, id: UserId) -> Result<(UserProfile, Vec<RoleInfo>), Error> {
        let target = self.user(id).await?;
        let catalogue = self.deps.admin.list_roles().await?;
        let mut granted: BTreeSet<&Permission> = BTreeSet::new();
        for role in &target.user.roles {
            let info = catalogue
                .iter()
                .find(|c| &c.name == role)
                .ok_or(Error::ConcurrentChange)?;
            granted.extend(info.permissions.iter());
        }
        let held: BTreeSet<&Permission> = target.permissions.iter().collect();
        if granted != held {
            return Err(Error::ConcurrentChange);
        }
        Ok((target, catalogue))
    }
}

/// The roles a user holds, as preconditions: their roles and what each grants.
fn target_state(target: &UserProfile, catalogue: &[RoleInfo]) -> Vec<Precondition> {
    let mut pre = vec![Precondition::UserRoles {
        user: target.user.id,
        roles: target.user.roles.clone(),
    }];
    pre.extend(
        catalogue
            .iter()
            .filter(|r| target.user.roles.contains(&r.name))
            .map(|r| Precondition::RolePermissions {
                role: r.name.clone(),
                permissions: r.permissions.clone(),
            }),
    );
    pre
}
